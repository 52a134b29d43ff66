//! Parsed documents, kept by their text, and the document limits checked on them. A
//! client app sends the same few operations over and over (with other variables);
//! parsing one costs a tenth of a read by id's instructions, so each is parsed and
//! checked once and the parsed form reused. What is kept is the document the engine would
//! have parsed itself, and it still validates it on every request.

use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::ServerError;
use async_graphql::parser::types::ExecutableDocument;

use crate::graphql::limits;

/// Distinct documents kept at most; past it the cache starts afresh (an app's operations
/// number in the tens, so only a client sending ever-new texts empties it, and then it
/// only parses as it would without the cache).
const CAPACITY: usize = 512;

#[derive(Default)]
pub struct Documents {
    parsed: Mutex<HashMap<String, ExecutableDocument>>,
}

impl Documents {
    /// `query` parsed and within the limits, or `None` when it does not parse (the engine
    /// then refuses it with its own error).
    ///
    /// # Errors
    /// The first limit it exceeds (see [`limits`]): the parser never sees a document past
    /// the token limit.
    pub fn parse(&self, query: &str) -> Result<Option<ExecutableDocument>, ServerError> {
        if let Some(document) = self.lock().get(query) {
            return Ok(Some(document.clone()));
        }
        limits::check_text(query)?;
        let Ok(document) = async_graphql::parser::parse_query(query) else {
            return Ok(None);
        };
        limits::check(&document)?;
        let mut parsed = self.lock();
        if parsed.len() >= CAPACITY {
            parsed.clear();
        }
        parsed.insert(query.to_owned(), document.clone());
        Ok(Some(document))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecutableDocument>> {
        // Only whole entries go in or out: a panicking holder left it consistent.
        self.parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_parsed_once_and_one_past_the_limits_is_refused_unparsed() {
        let documents = Documents::default();
        let query = "{ contacts(first: 2) { nodes { id } } }";
        let first = documents.parse(query).unwrap().expect("parses");
        let again = documents.parse(query).unwrap().expect("kept");
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        assert_eq!(documents.lock().len(), 1);
        assert!(documents.parse("{ contacts(").unwrap().is_none());
        let huge = format!("{{ {} }}", "__typename ".repeat(limits::MAX_TOKENS + 1));
        let refused = documents.parse(&huge).unwrap_err();
        assert!(refused.message.contains("tokens"), "{}", refused.message);
        let deep = format!("{}{}", "{ a ".repeat(40), "}".repeat(40));
        let refused = documents.parse(&deep).unwrap_err();
        assert!(
            refused.message.contains("deeper than"),
            "{}",
            refused.message
        );
        assert_eq!(documents.lock().len(), 1, "refusals are not kept");
        let braces_in_a_string = format!(
            "{{ contacts(filter: {{text: \"{}\"}}) {{ nodes {{ id }} }} }}",
            "{".repeat(40)
        );
        assert!(documents.parse(&braces_in_a_string).unwrap().is_some());
    }
}

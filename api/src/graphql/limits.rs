//! Limits on a document, checked after it parses and before anything validates or runs
//! (by the HTTP layer, which parses each document once: see `http::documents`; the
//! engine's own limits are renamed like these by [`refine`]).
//!
//! Depth is counted in two budgets: data fields, and the introspection meta-fields
//! (`__schema`, `__type` and everything under them). The standard introspection query of
//! graphql-js nests `ofType` nine levels below a field's type, deeper than any data
//! query needs, and it reads no tenant's rows; one budget for both would either refuse
//! the tooling every client uses or allow data queries far deeper than the schema's
//! shape calls for. Fragments count where they are spread; a fragment that spreads
//! itself, directly or not, is refused here, before its depth could be unbounded.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Positioned, ServerError, ServerResult};

use crate::error::code;

/// Deepest nesting of data fields.
pub const MAX_DEPTH: usize = 12;
/// Deepest nesting under `__schema` or `__type` (graphql-js's full query needs 13).
pub const MAX_INTROSPECTION_DEPTH: usize = 16;
/// The engine's own bound on nesting while it parses (async-graphql's default).
pub const RECURSION_DEPTH: usize = 32;
/// Most directives on one field (the engine counts them).
pub const MAX_DIRECTIVES: usize = 16;
/// The engine's complexity bound (aliases count as fields).
pub const MAX_COMPLEXITY: usize = 5_000;
/// Most aliased fields in one document, counted where their fragments are spread: an
/// alias is how a query repeats an expensive field under many names.
pub const MAX_ALIASES: usize = 30;
/// Most lexical tokens in one document, counted before it is parsed (graphql-js's full
/// introspection query is about 300).
pub const MAX_TOKENS: usize = 3_000;

/// Checks a document's text before it is parsed: at most [`MAX_TOKENS`] tokens, so the
/// parser never sees a document past the limit, nesting brackets (selection sets,
/// argument lists, lists and input objects) at most [`RECURSION_DEPTH`] deep, so walking
/// the parsed document stays bounded.
///
/// # Errors
/// `BAD_USER_INPUT` naming the `tokens` or the `recursion` limit.
pub fn check_text(query: &str) -> ServerResult<()> {
    let scan = scan(query, MAX_TOKENS + 1);
    if scan.tokens > MAX_TOKENS {
        return Err(exceeded(
            "tokens",
            MAX_TOKENS,
            format!("the document has more than {MAX_TOKENS} tokens"),
        ));
    }
    if scan.deepest > RECURSION_DEPTH {
        return Err(recursion());
    }
    Ok(())
}

fn recursion() -> ServerError {
    exceeded(
        "recursion",
        RECURSION_DEPTH,
        format!(
            "the document nests, fragments followed, deeper than {RECURSION_DEPTH} \
             levels (a fragment that spreads itself?)"
        ),
    )
}

/// The engine's own refusals of a limit (nesting while it parses, directives on a field,
/// complexity), named like ours: `BAD_USER_INPUT` with the limit and its bound.
pub fn refine(error: &mut ServerError) {
    let renamed = if error
        .message
        .starts_with("The recursion depth of the query")
    {
        recursion()
    } else if error
        .message
        .starts_with("The number of directives on the field")
    {
        exceeded("directives", MAX_DIRECTIVES, error.message.clone())
    } else if error.message.starts_with("Query is too complex") {
        exceeded(
            "complexity",
            MAX_COMPLEXITY,
            format!("the query is too complex; at most {MAX_COMPLEXITY} is allowed"),
        )
    } else {
        return;
    };
    error.message = renamed.message;
    error.extensions = renamed.extensions;
}

/// How deep a selection set reaches, per budget, and how many aliases it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub data: usize,
    pub introspection: usize,
    pub aliases: usize,
}

impl Depth {
    /// Siblings: the deeper reach, and the aliases of both.
    fn beside(self, other: Self) -> Self {
        Self {
            data: self.data.max(other.data),
            introspection: self.introspection.max(other.introspection),
            aliases: self.aliases.saturating_add(other.aliases),
        }
    }
}

/// The lexical tokens of a GraphQL document (names, numbers, strings, punctuators;
/// whitespace, commas and comments are not tokens), counting no further than `stop`.
pub fn count_tokens(text: &str, stop: usize) -> usize {
    scan(text, stop).tokens
}

/// What one pass of the lexer over a document's text finds.
struct Scan {
    /// Tokens, up to the `stop` given.
    tokens: usize,
    /// The deepest nesting of `{`, `[` and `(` among them.
    deepest: usize,
}

fn scan(text: &str, stop: usize) -> Scan {
    let b = text.as_bytes();
    let (mut i, mut n, mut depth, mut deepest) = (0, 0, 0usize, 0);
    while i < b.len() && n < stop {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    i += if b[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
                n += 1;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                n += 1;
            }
            b'.' if b[i..].starts_with(b"...") => {
                i += 3;
                n += 1;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b"_-+.".contains(&b[i])) {
                    i += 1;
                }
                n += 1;
            }
            c => {
                // A punctuator, or a byte the parser will refuse: one token either way.
                match c {
                    b'{' | b'[' | b'(' => {
                        depth += 1;
                        deepest = deepest.max(depth);
                    }
                    b'}' | b']' | b')' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                i += text[i..].chars().next().map_or(1, char::len_utf8);
                n += 1;
            }
        }
    }
    Scan { tokens: n, deepest }
}

/// Checks `document` against every limit.
///
/// # Errors
/// `BAD_USER_INPUT`, naming the limit, for the first one exceeded.
pub fn check(document: &ExecutableDocument) -> ServerResult<()> {
    let depth = depth_of(document)?;
    if depth.data > MAX_DEPTH {
        return Err(exceeded(
            "depth",
            MAX_DEPTH,
            format!(
                "the query is nested {} levels deep; at most {MAX_DEPTH} are allowed",
                depth.data
            ),
        ));
    }
    if depth.aliases > MAX_ALIASES {
        return Err(exceeded(
            "aliases",
            MAX_ALIASES,
            format!(
                "the query uses {} aliases; at most {MAX_ALIASES} are allowed",
                depth.aliases
            ),
        ));
    }
    if depth.introspection > MAX_INTROSPECTION_DEPTH {
        return Err(exceeded(
            "introspectionDepth",
            MAX_INTROSPECTION_DEPTH,
            format!(
                "the introspection query is nested {} levels deep; at most \
                 {MAX_INTROSPECTION_DEPTH} are allowed",
                depth.introspection
            ),
        ));
    }
    Ok(())
}

fn exceeded(limit: &str, max: usize, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code::BAD_USER_INPUT);
    extensions.set("limit", limit);
    extensions.set("max", max as u64);
    error.extensions = Some(extensions);
    error
}

/// The deepest operation of `document`.
///
/// # Errors
/// When a fragment spreads itself, or one that is not defined.
pub fn depth_of(document: &ExecutableDocument) -> ServerResult<Depth> {
    let mut walk = Walk {
        document,
        known: HashMap::new(),
        path: Vec::new(),
    };
    let mut deepest = Depth::default();
    for (_, operation) in document.operations.iter() {
        deepest = deepest.beside(walk.selection_set(&operation.node.selection_set.node)?);
    }
    Ok(deepest)
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    /// Each fragment's depth, once known: a fragment spread many times is walked once,
    /// so a document cannot make this check exponential.
    known: HashMap<&'a Name, Depth>,
    /// The fragments being walked, outermost first.
    path: Vec<&'a Name>,
}

impl<'a> Walk<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> ServerResult<Depth> {
        let mut deepest = Depth::default();
        for item in &set.items {
            let depth = match &item.node {
                Selection::Field(field) => {
                    let below = self.selection_set(&field.node.selection_set.node)?;
                    let aliases = below
                        .aliases
                        .saturating_add(usize::from(field.node.alias.is_some()));
                    if matches!(field.node.name.node.as_str(), "__schema" | "__type") {
                        Depth {
                            data: 0,
                            introspection: 1 + below.data.max(below.introspection),
                            aliases,
                        }
                    } else {
                        Depth {
                            data: 1 + below.data,
                            introspection: if below.introspection > 0 {
                                1 + below.introspection
                            } else {
                                0
                            },
                            aliases,
                        }
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set.node)?
                }
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name)?,
            };
            deepest = deepest.beside(depth);
        }
        Ok(deepest)
    }

    fn fragment(&mut self, name: &'a Positioned<Name>) -> ServerResult<Depth> {
        if let Some(depth) = self.known.get(&name.node) {
            return Ok(*depth);
        }
        if self.path.contains(&&name.node) {
            // Followed, it would nest without end: the recursion bound's refusal.
            let mut error = recursion();
            error.locations = vec![name.pos];
            return Err(error);
        }
        let Some(definition) = self.document.fragments.get(&name.node) else {
            // Validation reports the unknown fragment with its own message.
            return Ok(Depth::default());
        };
        self.path.push(&name.node);
        let depth = self.selection_set(&definition.node.selection_set.node);
        self.path.pop();
        let depth = depth?;
        self.known.insert(&name.node, depth);
        Ok(depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_counted_as_the_lexer_sees_them() {
        assert_eq!(count_tokens("{ a b }", 100), 4);
        assert_eq!(
            count_tokens(
                "query Q($x: Int = -1.5e3) { a(x: $x) @skip(if: true) }",
                100
            ),
            26
        );
        assert_eq!(count_tokens("# only a comment\n, , ,", 100), 0);
        assert_eq!(
            count_tokens(r#"{ a(s: "x \" y", t: """ a "" b """) ...F }"#, 100),
            13
        );
        assert_eq!(count_tokens(&"a ".repeat(1_000_000), 10), 10, "stops early");
    }

    #[test]
    fn aliases_count_where_fragments_are_spread() {
        let d = depth("{ x: a y: a ...F ...F } fragment F on Q { z: b { w: c } }").expect("ok");
        assert_eq!(d.aliases, 6);
    }

    fn depth(query: &str) -> ServerResult<Depth> {
        depth_of(&async_graphql::parser::parse_query(query).expect("parses"))
    }

    #[test]
    fn data_and_introspection_are_counted_apart() {
        let d = depth("{ contacts { nodes { id } } __schema { types { name } } }").expect("ok");
        assert_eq!(
            d,
            Depth {
                data: 3,
                introspection: 3,
                aliases: 0
            }
        );
        let d = depth("query { a { ...F } } fragment F on A { b { c } }").expect("ok");
        assert_eq!(d.data, 3);
    }

    #[test]
    fn a_fragment_cycle_is_refused_and_a_wide_fan_out_is_walked_once() {
        let err = depth("{ a { ...F } } fragment F on A { b { ...G } } fragment G on B { ...F }")
            .expect_err("cycle");
        assert!(err.message.contains("spreads itself"), "{}", err.message);
        // 40 fragments each spreading the next twice: 2^40 paths, one walk each.
        let mut doc = String::from("{ ...F0 }");
        for i in 0..40 {
            doc.push_str(&format!(
                " fragment F{i} on Q {{ a {{ ...F{n} }} b {{ ...F{n} }} }}",
                n = i + 1
            ));
        }
        doc.push_str(" fragment F40 on Q { leaf }");
        assert_eq!(depth(&doc).expect("ok").data, 41);
    }
}

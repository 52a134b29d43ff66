//! Persisted operations, in the shape of Apollo's persisted-query extension: a request may
//! send `extensions.persistedQuery.sha256Hash` instead of (or beside) its `query`. With a
//! manifest (`--persisted-queries`, Apollo's `apollo-persisted-query-manifest` JSON, or a
//! plain `{ "<sha256>": "<document>" }` object) a hash alone runs the listed document;
//! with `--require-persisted-queries` only listed documents run at all, for every caller
//! but platform admins (whose playground sends whatever they type).

use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The listed documents, by the SHA-256 (hex) of their text.
#[derive(Debug, Default)]
pub struct PersistedQueries {
    by_hash: HashMap<String, String>,
    required: bool,
}

/// Why a request was refused, as `extensions.reason` says it (Apollo's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A hash this server does not list.
    NotFound,
    /// `query` and its hash disagree.
    HashMismatch,
    /// Only listed operations may run here.
    NotListed,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::HashMismatch => "PERSISTED_QUERY_HASH_MISMATCH",
            Self::NotListed => "PERSISTED_QUERY_REQUIRED",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::NotFound => "no persisted operation has this hash",
            Self::HashMismatch => "the query's SHA-256 is not the hash sent with it",
            Self::NotListed => "this server runs only its persisted operations",
        }
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl PersistedQueries {
    /// Reads a manifest.
    ///
    /// # Errors
    /// A file that cannot be read, is not one of the two shapes, or lists a document
    /// under a hash that is not its own.
    pub fn load(path: Option<&Path>, required: bool) -> anyhow::Result<Self> {
        let Some(path) = path else {
            anyhow::ensure!(
                !required,
                "--require-persisted-queries needs --persisted-queries <manifest>"
            );
            return Ok(Self::default());
        };
        let what = |e: &dyn std::fmt::Display| {
            anyhow::anyhow!("--persisted-queries {}: {e}", path.display())
        };
        let text = std::fs::read_to_string(path).map_err(|e| what(&e))?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| what(&e))?;
        let mut by_hash = HashMap::new();
        if let Some(operations) = json.get("operations").and_then(|o| o.as_array()) {
            for op in operations {
                let (Some(id), Some(body)) = (
                    op.get("id").and_then(|v| v.as_str()),
                    op.get("body").and_then(|v| v.as_str()),
                ) else {
                    return Err(what(&"every operation needs an `id` and a `body`"));
                };
                by_hash.insert(id.to_ascii_lowercase(), body.to_owned());
            }
        } else if let Some(map) = json.as_object() {
            for (hash, body) in map {
                let body = body
                    .as_str()
                    .ok_or_else(|| what(&format!("`{hash}` is not a document")))?;
                by_hash.insert(hash.to_ascii_lowercase(), body.to_owned());
            }
        } else {
            return Err(what(&"not a persisted-query manifest"));
        }
        for (hash, body) in &by_hash {
            if sha256_hex(body) != *hash {
                return Err(what(&format!(
                    "`{hash}` is not the SHA-256 of its document"
                )));
            }
        }
        Ok(Self { by_hash, required })
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Fills in a hash-only request's document and checks a sent hash against its
    /// query (done again by [`Self::resolve`]: a filled request passes unchanged).
    ///
    /// # Errors
    /// `NotFound`, `HashMismatch`.
    pub fn fill(&self, request: &mut async_graphql::Request) -> Result<(), Refusal> {
        let sent = request
            .extensions
            .get("persistedQuery")
            .and_then(|p| match p {
                async_graphql::Value::Object(map) => map.get("sha256Hash").cloned(),
                _ => None,
            })
            .and_then(|h| match h {
                async_graphql::Value::String(h) => Some(h.to_ascii_lowercase()),
                _ => None,
            });
        match (&sent, request.query.trim().is_empty()) {
            (Some(hash), true) => {
                let body = self.by_hash.get(hash).ok_or(Refusal::NotFound)?;
                request.query = body.clone();
            }
            (Some(hash), false) if sha256_hex(&request.query) != *hash => {
                return Err(Refusal::HashMismatch);
            }
            _ => {}
        }
        Ok(())
    }

    /// [`Self::fill`], then the list enforced when it is required.
    ///
    /// # Errors
    /// The [`Refusal`].
    pub fn resolve(
        &self,
        request: &mut async_graphql::Request,
        privileged: bool,
    ) -> Result<(), Refusal> {
        self.fill(request)?;
        if self.required && !privileged && !self.by_hash.contains_key(&sha256_hex(&request.query)) {
            return Err(Refusal::NotListed);
        }
        Ok(())
    }
}

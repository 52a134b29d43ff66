//! Cross-origin calls from browser apps served on their own origin. None is allowed
//! until the operator names the origins; `*` allows any origin, without credentials —
//! which the API never takes: its tokens go in the `Authorization` header, not cookies.
//! A preflight is answered with exactly the methods and headers `/graphql` takes.

use actix_cors::Cors;
use actix_web::http::{Method, header};

/// The configured origins, checked at start.
#[derive(Debug, Clone)]
pub enum Origins {
    None,
    Any,
    These(Vec<String>),
}

impl Origins {
    /// # Errors
    /// An origin that is not `http(s)://host[:port]`, or `*` beside others.
    pub fn parse(configured: &[String]) -> anyhow::Result<Self> {
        let listed: Vec<&str> = configured
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
            .collect();
        if listed.is_empty() {
            return Ok(Self::None);
        }
        if listed.contains(&"*") {
            anyhow::ensure!(
                listed.len() == 1,
                "--cors-allowed-origins: `*` allows every origin and cannot be listed with others"
            );
            return Ok(Self::Any);
        }
        let mut out = Vec::new();
        for origin in listed {
            let (scheme, rest) = origin.split_once("://").unwrap_or(("", origin));
            let host_ok = !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
            anyhow::ensure!(
                matches!(scheme, "http" | "https") && host_ok,
                "--cors-allowed-origins: `{origin}` is not an origin (scheme://host[:port], \
                 no path)"
            );
            out.push(origin.to_ascii_lowercase());
        }
        Ok(Self::These(out))
    }

    pub fn middleware(&self) -> Cors {
        let cors = Cors::default()
            .allowed_methods([Method::GET, Method::POST])
            .allowed_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                super::context::REQUEST_ID,
            ])
            .expose_headers([super::context::REQUEST_ID, header::RETRY_AFTER])
            .max_age(600);
        match self {
            Self::None => cors,
            Self::Any => cors.allow_any_origin().send_wildcard(),
            Self::These(origins) => origins
                .iter()
                .fold(cors, |cors, origin| cors.allowed_origin(origin)),
        }
    }
}

//! The GraphiQL playground, served whole from the binary: its scripts and styles are
//! embedded at build time from the pinned packages in `api/assets/graphiql` (see
//! `update.sh` there), so it works on a network with no way out, and the page's
//! Content-Security-Policy lets it load nothing else.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

/// Where the assets are served.
pub const ASSETS: &str = "/graphql/assets";

/// Everything the page may load: its own assets, its own API, inline fonts (GraphiQL's
/// stylesheet carries them as `data:` URLs) and the style attributes its editor sets.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const FILES: &[Asset] = &[
    Asset {
        name: "react.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    },
    Asset {
        name: "graphiql.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "custodian.js",
        content_type: "text/javascript; charset=utf-8",
        body: MOUNT.as_bytes(),
    },
];

/// Mounts GraphiQL on the page; a file of its own, since the policy runs no inline
/// script. Headers the admin types (the `Authorization` bearer) are kept in the
/// browser's storage between visits, never sent anywhere but this server.
const MOUNT: &str = r#"(function () {
  var fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    shouldPersistHeaders: true,
    defaultEditorToolsVisibility: 'headers'
  }));
})();
"#;

pub fn page() -> HttpResponse {
    let body = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Custodian</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{ASSETS}/graphiql.min.css">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Loading the playground…</div>
<script src="{ASSETS}/react.production.min.js"></script>
<script src="{ASSETS}/react-dom.production.min.js"></script>
<script src="{ASSETS}/graphiql.min.js"></script>
<script src="{ASSETS}/custodian.js"></script>
</body>
</html>
"#
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        ))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// `GET /graphql/assets/{name}`, when the playground is on.
pub async fn asset(name: web::Path<String>, state: web::Data<super::AppState>) -> HttpResponse {
    let found = FILES.iter().find(|a| a.name == name.as_str());
    match found {
        Some(asset) if state.playground => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_POLICY),
            ))
            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
            .body(asset.body),
        _ => HttpResponse::NotFound().finish(),
    }
}

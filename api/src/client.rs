//! Custodian as a client of a Custodian server: the command-line tools that talk to one
//! over GraphQL (`import`, `dsr export`, `ledger watch`) post through here.

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// POSTs one operation to the server at `url` (its base, without `/graphql`); the `data`
/// on success, the errors (code, and every invalid row of a batch) on failure.
///
/// # Errors
/// When the server cannot be reached, answers no JSON, or answers errors.
pub async fn graphql(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let endpoint = format!("{}/graphql", url.trim_end_matches('/'));
    let response = client
        .post(&endpoint)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let body: Value = response
        .json()
        .await
        .context("the server's answer is not JSON")?;
    if let Some(errors) = body["errors"].as_array() {
        let mut lines = Vec::new();
        for e in errors {
            lines.push(format!(
                "{} ({})",
                e["message"].as_str().unwrap_or("error"),
                e["extensions"]["code"].as_str().unwrap_or("?")
            ));
            for r in e["extensions"]["rows"].as_array().into_iter().flatten() {
                let row = r["row"].as_u64().unwrap_or(0) + 1;
                lines.push(format!(
                    "  batch row {row}: {}: {}",
                    r["field"].as_str().unwrap_or("?"),
                    r["message"].as_str().unwrap_or("")
                ));
            }
        }
        bail!("{}", lines.join("\n"));
    }
    Ok(body["data"].clone())
}

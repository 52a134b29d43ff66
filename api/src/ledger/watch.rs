//! A controller's witness (`custodian ledger watch`): keeps the last checkpoint it
//! accepted, fetches the server's latest, and accepts it only if its signature holds and
//! the server proves it extends the kept one. A rolled-back, forked or rewritten log is
//! refused, and the kept checkpoint stays as it was.

use std::path::Path;

use serde_json::json;

use super::checkpoint::{self, Opened, ProofError};
use crate::client::graphql;
use crate::domain::TenantId;

/// What a watch run decided.
#[derive(Debug)]
pub enum Watched {
    /// The first checkpoint seen: kept, nothing to compare it with.
    First(Opened),
    /// A checkpoint proven to extend the kept one: kept instead.
    Extended { old: u64, new: Opened },
}

/// One watch run against the server at `url`: see the module's description. `issue` asks
/// the server to sign a fresh checkpoint first; `tenant`, when given, is the only log
/// accepted.
///
/// # Errors
/// A refusal ([`ProofError`] inside) or a failure to reach the server or the state file;
/// either way the kept checkpoint is unchanged.
pub async fn watch(
    url: &str,
    token: &str,
    vkey: &str,
    state: &Path,
    issue: bool,
    tenant: Option<TenantId>,
) -> anyhow::Result<Watched> {
    let kept = match std::fs::read_to_string(state) {
        Ok(note) => Some(
            checkpoint::open(&note, vkey)
                .map_err(|e| anyhow::anyhow!("the kept checkpoint {}: {e}", state.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => anyhow::bail!("{}: {e}", state.display()),
    };
    let client = reqwest::Client::new();
    let (query, field) = if issue {
        (
            "mutation { issueLedgerCheckpoint { note } }",
            "issueLedgerCheckpoint",
        )
    } else {
        ("{ ledgerCheckpoint { note } }", "ledgerCheckpoint")
    };
    let data = graphql(&client, url, token, query, json!({})).await?;
    let note = data[field]["note"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the server has issued no checkpoint yet (try --issue)"))?
        .to_owned();
    let latest = checkpoint::open(&note, vkey).map_err(refused)?;
    if tenant.is_some_and(|t| t != latest.tenant) {
        return Err(refused(ProofError::OtherTenant));
    }
    let watched = match kept {
        None => Watched::First(latest),
        Some(old) => {
            if latest.tenant != old.tenant {
                return Err(refused(ProofError::OtherTenant));
            }
            if latest.size < old.size {
                return Err(refused(ProofError::RolledBack));
            }
            let hashes: Vec<String> = if latest.size > old.size && old.size > 0 {
                let data = graphql(
                    &client,
                    url,
                    token,
                    "query($from: Int!, $to: Int!) { ledgerConsistencyProof(fromSize: $from, toSize: $to) { hashes } }",
                    json!({"from": old.size, "to": latest.size}),
                )
                .await?;
                serde_json::from_value(data["ledgerConsistencyProof"]["hashes"].clone())?
            } else {
                Vec::new()
            };
            // Against the kept checkpoint, never the copy of it the server sends back.
            checkpoint::verify_consistency(&old, &note, &hashes, vkey).map_err(refused)?;
            Watched::Extended {
                old: old.size,
                new: latest,
            }
        }
    };
    let temporary = state.with_extension("tmp");
    std::fs::write(&temporary, &note)?;
    std::fs::rename(&temporary, state)?;
    Ok(watched)
}

fn refused(e: ProofError) -> anyhow::Error {
    anyhow::anyhow!("refused: {e}")
}

//! `custodian ledger`: the operator's export, verification and checkpoints of a tenant's
//! ledger, and the proofs and witness a controller runs without trusting the server.

use std::path::PathBuf;

use clap::Subcommand;

use crate::config::StorageSettings;
use crate::domain::TenantId;
use crate::domain::instruction::Purpose;
use crate::{db, ledger};

#[derive(Debug, Subcommand)]
pub(super) enum LedgerCommand {
    /// Write a tenant's access records as JSON Lines, oldest first: each line is the
    /// record's canonical JSON plus its `hash`.
    Export {
        /// The tenant (controller) id.
        #[arg(long)]
        tenant: String,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        storage: StorageSettings,
    },
    /// Recompute a tenant's hash chain and report whether it holds.
    Verify {
        /// The tenant (controller) id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        storage: StorageSettings,
    },
    /// Sign a checkpoint of a tenant's ledger now and print it (servers also issue them
    /// on a schedule, --checkpoint-every-seconds).
    Checkpoint {
        /// The tenant (controller) id.
        #[arg(long)]
        tenant: String,
        /// The ledger's name, as the servers use it (--ledger-name).
        #[arg(long, env = "CUSTODIAN_LEDGER_NAME", default_value = "custodian.local")]
        ledger_name: String,
        /// The deployment's signing key; default `<data-dir>/signing-ed25519.key`.
        #[arg(long, env = "CUSTODIAN_SIGNING_KEY_FILE")]
        signing_key_file: Option<PathBuf>,
        #[command(flatten)]
        storage: StorageSettings,
    },
    /// Print a proof bundle: that record --seq is in a checkpoint (default the latest,
    /// or --tree-size), or with --from that a checkpoint extends the one of --from records.
    Prove {
        /// The tenant (controller) id.
        #[arg(long)]
        tenant: String,
        /// The record (its `seq`) whose inclusion to prove.
        #[arg(long, conflicts_with = "from", required_unless_present = "from")]
        seq: Option<i64>,
        /// Prove instead that a checkpoint extends the one of this many records.
        #[arg(long)]
        from: Option<u64>,
        /// The checkpoint to prove against (its size); default: the latest.
        #[arg(long)]
        tree_size: Option<u64>,
        #[command(flatten)]
        storage: StorageSettings,
    },
    /// Check a proof bundle offline, with only the ledger's verifier key; exits non-zero,
    /// saying why, when it does not hold.
    VerifyProof {
        /// The bundle (`bundle` of accessRecordProof or ledgerConsistencyProof, as a file).
        file: PathBuf,
        /// The verifier key (`name+id+key`, from /.well-known/custodian/ledger-key), or a
        /// file holding it.
        #[arg(long)]
        key: String,
        /// Accept only a proof of this tenant's log.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// A controller's witness: fetch the latest checkpoint and accept it only if it
    /// extends the one kept in --state (run it daily; it exits non-zero on a rolled-back,
    /// forked or rewritten log and keeps the old checkpoint).
    Watch {
        /// The kept checkpoint; created on the first run.
        #[arg(long)]
        state: PathBuf,
        /// The verifier key, or a file holding it (see verify-proof).
        #[arg(long)]
        key: String,
        /// Ask the server to sign a fresh checkpoint first.
        #[arg(long)]
        issue: bool,
        /// Accept only this tenant's log.
        #[arg(long)]
        tenant: Option<String>,
        /// The server.
        #[arg(long, env = "CUSTODIAN_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The controller admin's token.
        #[arg(long, env = "CUSTODIAN_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Benchmark only: append `count` synthetic read records to a tenant's chain.
    #[command(hide = true)]
    BenchFill {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        count: u64,
        #[command(flatten)]
        storage: StorageSettings,
    },
}

/// A verifier key given inline (`name+id+key`) or as a file holding it.
fn verifier_key(given: &str) -> anyhow::Result<String> {
    if given.contains('+') {
        return Ok(given.trim().to_owned());
    }
    Ok(std::fs::read_to_string(given)
        .map_err(|e| {
            anyhow::anyhow!("--key {given}: neither a verifier key nor a readable file ({e})")
        })?
        .trim()
        .to_owned())
}

fn tenant_arg(tenant: Option<&str>) -> anyhow::Result<Option<TenantId>> {
    tenant
        .map(|t| TenantId::parse(t).map_err(|_| anyhow::anyhow!("--tenant must be a UUID")))
        .transpose()
}

pub(super) async fn run(command: LedgerCommand) -> anyhow::Result<()> {
    let (tenant, storage) = match &command {
        LedgerCommand::VerifyProof { file, key, tenant } => {
            let bundle = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let proved = ledger::checkpoint::verify_bundle(
                &bundle,
                &verifier_key(key)?,
                tenant_arg(tenant.as_deref())?,
            )
            .map_err(|e| anyhow::anyhow!("the proof does not hold: {e}"))?;
            let out = match proved {
                ledger::checkpoint::Proved::Included { tenant, seq, size } => serde_json::json!({
                    "valid": true, "proves": "inclusion", "tenant": tenant, "seq": seq, "treeSize": size,
                }),
                ledger::checkpoint::Proved::Consistent { tenant, old, new } => serde_json::json!({
                    "valid": true, "proves": "consistency", "tenant": tenant, "fromSize": old, "toSize": new,
                }),
            };
            println!("{out}");
            return Ok(());
        }
        LedgerCommand::Watch {
            state,
            key,
            issue,
            tenant,
            url,
            token,
        } => {
            let watched = ledger::watch::watch(
                url,
                token,
                &verifier_key(key)?,
                state,
                *issue,
                tenant_arg(tenant.as_deref())?,
            )
            .await?;
            let out = match watched {
                ledger::watch::Watched::First(c) => serde_json::json!({
                    "accepted": true, "tenant": c.tenant, "treeSize": c.size, "previousSize": null,
                }),
                ledger::watch::Watched::Extended { old, new } => serde_json::json!({
                    "accepted": true, "tenant": new.tenant, "treeSize": new.size, "previousSize": old,
                }),
            };
            println!("{out}");
            return Ok(());
        }
        LedgerCommand::Export {
            tenant, storage, ..
        }
        | LedgerCommand::Verify { tenant, storage }
        | LedgerCommand::Checkpoint {
            tenant, storage, ..
        }
        | LedgerCommand::Prove {
            tenant, storage, ..
        }
        | LedgerCommand::BenchFill {
            tenant, storage, ..
        } => (tenant, storage),
    };
    let tenant = TenantId::parse(tenant).map_err(|_| anyhow::anyhow!("--tenant must be a UUID"))?;
    let db = db::connect(storage).await?;
    if let LedgerCommand::BenchFill { count, .. } = command {
        return bench_fill(&db, tenant, count).await;
    }
    match command {
        LedgerCommand::Export { output, .. } => {
            let written = match output {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
                    let n = ledger::queries::export_tenant(&db, tenant, &mut file).await?;
                    std::io::Write::flush(&mut file)?;
                    n
                }
                None => {
                    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                    let n = ledger::queries::export_tenant(&db, tenant, &mut out).await?;
                    std::io::Write::flush(&mut out)?;
                    n
                }
            };
            eprintln!("exported {written} access records");
        }
        LedgerCommand::BenchFill { .. }
        | LedgerCommand::VerifyProof { .. }
        | LedgerCommand::Watch { .. } => {}
        LedgerCommand::Checkpoint {
            ledger_name,
            signing_key_file,
            storage,
            ..
        } => {
            let key =
                signing_key_file.unwrap_or_else(|| storage.data_dir.join(crate::signing::KEY_FILE));
            let key =
                ledger::checkpoint::LogKey::new(&ledger_name, crate::signing::Signer::load(&key)?)?;
            let issued = ledger::tree::issue(&db, &key, tenant, chrono::Utc::now()).await?;
            print!("{}", issued.note);
        }
        LedgerCommand::Prove {
            seq,
            from,
            tree_size,
            ..
        } => {
            let bundle =
                ledger::tree::bundle_for_operator(&db, tenant, seq, from, tree_size).await?;
            println!("{bundle}");
        }
        LedgerCommand::Verify { .. } => {
            let v = ledger::queries::verify_tenant(&db, tenant).await?;
            println!(
                "{}",
                serde_json::json!({
                    "valid": v.valid, "checked": v.checked, "firstBrokenAt": v.first_broken_at,
                    "reason": v.reason, "headSeq": v.head_seq, "headHash": v.head_hash,
                    "unsealed": v.unsealed,
                })
            );
            if !v.valid {
                anyhow::bail!("the ledger of tenant {tenant} does not verify");
            }
        }
    }
    Ok(())
}

async fn bench_fill(
    db: &sea_orm::DatabaseConnection,
    tenant: TenantId,
    count: u64,
) -> anyhow::Result<()> {
    let mut left = count;
    while left > 0 {
        let n = left.min(10_000);
        let by = ledger::Attribution {
            tenant,
            at: chrono::Utc::now(),
            actor_kind: crate::auth::ActorKind::Controller,
            actor_id: "bench".into(),
            subprocessor_id: None,
            purpose: Some(Purpose::ServiceDelivery),
            instruction_id: Some(crate::policy::standing_instruction_id(tenant)),
            request_id: None,
        };
        let reach = ledger::Reach {
            operation: crate::domain::instruction::AccessOperation::Read,
            resource: ledger::ResourceType::Contact,
            fields: vec!["firstName".into()],
        };
        let records: Vec<ledger::NewRecord> = (0..n)
            .map(|_| {
                ledger::NewRecord::allowed(by.clone(), reach.clone(), vec![uuid::Uuid::now_v7()], 1)
            })
            .collect();
        ledger::committer::append(db, tenant, &records).await?;
        left -= n;
    }
    eprintln!("appended {count} records");
    Ok(())
}

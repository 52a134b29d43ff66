//! The `custodian` command line.

mod ledger;

use ledger::LedgerCommand;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::auth::{Role, TokenAuthority, TokenRequest};
use crate::clock::SystemClock;
use crate::config::{AuthSettings, LogFormat, ServeSettings, StorageSettings};
use crate::domain::TenantId;
use crate::domain::instruction::Purpose;
use crate::startup::Application;
use crate::{db, graphql, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "custodian",
    version,
    about = "GraphQL gateway for a data processor's contact records"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, env = "CUSTODIAN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    log_format: LogFormat,
    /// Export traces over OTLP/HTTP (JSON) to this collector, e.g.
    /// `http://127.0.0.1:4318`; off when unset.
    #[arg(long, env = "CUSTODIAN_OTLP_ENDPOINT", global = true)]
    otlp_endpoint: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(ServeSettings),
    /// Apply pending migrations (on PostgreSQL, connect as the owner role) and grant the
    /// application role what serving needs.
    Migrate {
        #[command(flatten)]
        storage: StorageSettings,
        /// PostgreSQL role the server connects as.
        #[arg(long, env = "CUSTODIAN_APP_ROLE", default_value = "custodian_app")]
        app_role: String,
        /// On a Citus coordinator, then lay the database out for it: every tenant table
        /// distributed by `tenant_id` into one colocation group, the registry tables made
        /// reference tables, empty or populated, and checked; safe to run again.
        #[arg(long)]
        citus: bool,
    },
    /// Print the GraphQL schema (SDL).
    Schema {
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Mint a signed token for local use; the token is the last word printed.
    Token(TokenArgs),
    /// Import contacts from a CSV or JSON Lines file into a tenant, through a running
    /// server; re-running after a failure resumes without duplicates.
    Import(ImportArgs),
    /// Work with a tenant's access ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Remove what the tenants' retention policies say has expired and no legal hold
    /// keeps, across every tenant, in bounded batches; prints what it removed (or, with
    /// `--dry-run`, what it would) as JSON. Safe to interrupt and run again.
    Purge(PurgeArgs),
    /// Complete a tenant's offboarding (as the database owner on PostgreSQL: the server's
    /// own role cannot erase a ledger): delete every row of the tenant once it confirmed
    /// receipt of its return export or the deadline passed, and print the signed deletion
    /// certificate.
    Offboard(OffboardArgs),
    /// Data-subject requests: download an export, check a receipt offline.
    Dsr {
        #[command(subcommand)]
        command: DsrCommand,
    },
}

#[derive(Debug, clap::Args)]
struct OffboardArgs {
    /// The tenant whose offboarding to complete.
    #[arg(long)]
    tenant: String,
    #[command(flatten)]
    storage: StorageSettings,
    /// The deployment's signing key; default `<data-dir>/signing-ed25519.key`.
    #[arg(long, env = "CUSTODIAN_SIGNING_KEY_FILE")]
    signing_key_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct PurgeArgs {
    #[command(flatten)]
    storage: StorageSettings,
    /// Report what a real run would remove, and remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Rows removed per transaction.
    #[arg(long, default_value_t = 500)]
    batch_size: u64,
    /// Longest a statement may run, in milliseconds (PostgreSQL).
    #[arg(long, default_value_t = 5_000)]
    statement_timeout_ms: u64,
    /// Purge as of this time (RFC 3339) instead of now, e.g. to preview what next month's
    /// run will remove.
    #[arg(long)]
    at: Option<String>,
    /// Purge only this tenant (refused while it is being offboarded).
    #[arg(long)]
    tenant: Option<TenantId>,
    /// The share of its time the purge works, in percent: after each batch it rests in
    /// proportion (at 50, as long again as the batch took), leaving the rest of the machine
    /// to the requests; 100 for a maintenance window.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(1..=100))]
    duty_cycle: u8,
}

#[derive(Debug, Subcommand)]
enum DsrCommand {
    /// Download a completed access or portability request's export through a running
    /// server (the same document every time; the download is recorded).
    Export {
        /// The request's id.
        #[arg(long)]
        request: String,
        /// `json`, or `csv` for a portability request.
        #[arg(long, default_value = "json")]
        format: String,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        /// The server.
        #[arg(long, env = "CUSTODIAN_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The controller admin's token.
        #[arg(long, env = "CUSTODIAN_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Check a receipt (or a deletion certificate) offline against the deployment's public
    /// key; exits non-zero, saying why, when it does not verify.
    VerifyReceipt {
        /// The receipt (the `receipt` field of a completed request, as a file).
        file: PathBuf,
        /// The deployment's public key (base64), as published at
        /// `/.well-known/custodian/signing-key`.
        #[arg(long, conflicts_with = "data_dir")]
        public_key: Option<String>,
        /// Read the public key from this deployment's data directory instead.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The tenant (controller) to import into.
    #[arg(long)]
    tenant: String,
    /// A `.csv` (header row; see README) or `.jsonl` file (one ContactInput per line).
    file: PathBuf,
    /// The file's format; default: from its extension.
    #[arg(long, value_enum)]
    format: Option<crate::import::Format>,
    /// The server.
    #[arg(long, env = "CUSTODIAN_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A controller token for the tenant; default: one minted with the local key.
    #[arg(long, env = "CUSTODIAN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Contacts per call (at most 1,000).
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Names the import for resuming; default: the file's SHA-256.
    #[arg(long)]
    import_key: Option<String>,
    /// Where the local signing key is, to mint a token when none is given.
    #[arg(long, env = "CUSTODIAN_DATA_DIR", default_value = "custodian-data")]
    data_dir: PathBuf,
    #[command(flatten)]
    auth: AuthSettings,
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// `controller_admin`, `controller_user`, `processor_staff` or `platform_admin`.
    #[arg(long)]
    role: String,
    /// Subject (user id).
    #[arg(long)]
    sub: String,
    /// Tenant id, required for every role but `platform_admin`.
    #[arg(long)]
    tenant: Option<String>,
    /// Purpose of processing, for processor staff and platform admins: service_delivery,
    /// support, email_marketing, import, security or legal_compliance.
    #[arg(long)]
    purpose: Option<String>,
    /// Restrict the token to one processing instruction (its id).
    #[arg(long)]
    instruction: Option<String>,
    /// Scopes, space-separated or repeated.
    #[arg(long)]
    scope: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: i64,
    /// Where the signing key is (the server's data directory).
    #[arg(long, env = "CUSTODIAN_DATA_DIR", default_value = "custodian-data")]
    data_dir: PathBuf,
    #[command(flatten)]
    auth: AuthSettings,
}

/// Parses the command line and runs it.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = match telemetry::init(cli.log_format, cli.otlp_endpoint.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = dispatch(cli.command).await;
    // The exporter's client blocks when it shuts down: off the runtime's threads.
    let _ = std::thread::spawn(move || drop(telemetry)).join();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(settings) => serve(settings).await,
        Command::Migrate {
            storage,
            app_role,
            citus,
        } => {
            let db = db::connect(&storage).await?;
            db::migrate(&db).await?;
            db::grant_app_role(&db, &app_role).await?;
            println!("migrations applied");
            if citus {
                let done = crate::citus::distribute(&db).await?;
                println!("laid out for Citus: {}", serde_json::to_string(&done)?);
            }
            Ok(())
        }
        Command::Schema { output } => {
            let sdl = graphql::schema::sdl();
            match output {
                Some(path) => std::fs::write(path, sdl)?,
                None => print!("{sdl}"),
            }
            Ok(())
        }
        Command::Ledger { command } => ledger::run(command).await,
        Command::Dsr { command } => dsr(command).await,
        Command::Purge(args) => purge(args).await,
        Command::Offboard(args) => offboard(args).await,
        Command::Import(args) => import(args).await,
        Command::Token(args) => {
            let role = Role::parse(&args.role).ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown role {:?}: use controller_admin, controller_user, processor_staff or platform_admin",
                    args.role
                )
            })?;
            let tenant = args
                .tenant
                .as_deref()
                .map(TenantId::parse)
                .transpose()
                .map_err(|_| anyhow::anyhow!("--tenant must be a UUID"))?;
            if role == Role::Subprocessor {
                anyhow::bail!(
                    "partner tokens are minted by a platform admin with the mintPartnerToken mutation, which records them"
                );
            }
            if role.needs_tenant() && tenant.is_none() {
                anyhow::bail!("--tenant is required for role {}", args.role);
            }
            let purpose = args
                .purpose
                .as_deref()
                .map(|p| Purpose::parse(p).ok_or_else(|| anyhow::anyhow!("unknown purpose {p:?}")))
                .transpose()?;
            let instruction = args
                .instruction
                .as_deref()
                .map(crate::domain::InstructionId::parse)
                .transpose()
                .map_err(|_| anyhow::anyhow!("--instruction must be a UUID"))?;
            let authority =
                TokenAuthority::from_settings(&args.auth, &args.data_dir, Arc::new(SystemClock))?;
            let token = authority.mint(&TokenRequest {
                subject: args.sub,
                role,
                tenant,
                purpose,
                instruction,
                scopes: args
                    .scope
                    .iter()
                    .flat_map(|s| s.split_whitespace().map(str::to_owned))
                    .collect(),
                ttl_seconds: args.ttl,
                token_id: None,
            })?;
            println!("{token}");
            Ok(())
        }
    }
}

async fn serve(settings: ServeSettings) -> anyhow::Result<()> {
    let data_dir = settings.storage.data_dir.display().to_string();
    let backend = if settings.storage.is_postgres() {
        "PostgreSQL"
    } else {
        "embedded SQLite"
    };
    let app = Application::build(settings).await?;
    tracing::info!(
        port = app.port(),
        backend,
        "custodian listening: GraphQL at /graphql (GraphiQL in a browser), /healthz, /readyz"
    );
    tracing::info!(
        "mint a token with: custodian token --data-dir {data_dir} --role platform_admin --sub <you>"
    );
    app.run_until_stopped().await?;
    Ok(())
}

async fn offboard(args: OffboardArgs) -> anyhow::Result<()> {
    let tenant =
        TenantId::parse(&args.tenant).map_err(|_| anyhow::anyhow!("--tenant must be a UUID"))?;
    let key = args
        .signing_key_file
        .unwrap_or_else(|| args.storage.data_dir.join(crate::signing::KEY_FILE));
    let signer = crate::signing::Signer::load(&key)?;
    let db = db::connect(&args.storage).await?;
    let ledger = crate::ledger::Ledger::for_jobs();
    let ctx =
        crate::policy::RequestCtx::for_job(&db, &ledger, "custodian-offboard", chrono::Utc::now());
    let done = crate::service::offboarding::complete(&ctx, &signer, tenant).await?;
    println!("{}", done.certificate.unwrap_or_default());
    Ok(())
}

async fn purge(args: PurgeArgs) -> anyhow::Result<()> {
    if !(1..=10_000).contains(&args.batch_size) {
        anyhow::bail!("--batch-size must be between 1 and 10000");
    }
    let at = match &args.at {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map_err(|e| anyhow::anyhow!("--at must be an RFC 3339 time: {e}"))?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let db = db::connect(&args.storage).await?;
    let ledger = crate::ledger::Ledger::for_jobs();
    let ctx =
        crate::policy::RequestCtx::for_job(&db, &ledger, crate::service::retention::PURGE_JOB, at);
    let summary = crate::service::retention::purge(
        &ctx,
        crate::service::retention::PurgeOptions {
            dry_run: args.dry_run,
            batch_size: args.batch_size,
            statement_timeout_ms: args.statement_timeout_ms,
            tenant: args.tenant,
            duty_cycle_percent: args.duty_cycle,
        },
    )
    .await?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

async fn dsr(command: DsrCommand) -> anyhow::Result<()> {
    match command {
        DsrCommand::VerifyReceipt {
            file,
            public_key,
            data_dir,
        } => {
            let trusted = match (public_key, data_dir) {
                (Some(key), _) => key,
                (None, Some(dir)) => {
                    crate::signing::Signer::load(&dir.join(crate::signing::KEY_FILE))?.public_key()
                }
                (None, None) => anyhow::bail!(
                    "give the deployment's public key (--public-key, from /.well-known/custodian/signing-key) or its --data-dir"
                ),
            };
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let (kind, body) = crate::signing::verify(&text, &trusted)?;
            let known = [
                crate::service::privacy_requests::execute::RECEIPT_TYPE,
                crate::service::offboarding::CERTIFICATE_TYPE,
            ];
            if !known.contains(&kind.as_str()) {
                anyhow::bail!("a signed {kind}, neither a receipt nor a deletion certificate");
            }
            println!(
                "{}",
                serde_json::json!({"valid": true, "type": kind, "body": body})
            );
            Ok(())
        }
        DsrCommand::Export {
            request,
            format,
            output,
            url,
            token,
        } => {
            let format = format.to_ascii_uppercase();
            if !matches!(format.as_str(), "JSON" | "CSV") {
                anyhow::bail!("--format must be json or csv");
            }
            let query = format!(
                "query($id: ID!) {{ privacyRequest(id: $id) {{ export(format: {format}) {{ sha256 content }} }} }}"
            );
            let data = crate::client::graphql(
                &reqwest::Client::new(),
                &url,
                &token,
                &query,
                serde_json::json!({"id": request}),
            )
            .await?;
            let export = &data["privacyRequest"]["export"];
            let content = export["content"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("the request has no export"))?;
            match output {
                Some(path) => std::fs::write(path, content)?,
                None => print!("{content}"),
            }
            eprintln!("sha256 {}", export["sha256"].as_str().unwrap_or(""));
            Ok(())
        }
    }
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let tenant =
        TenantId::parse(&args.tenant).map_err(|_| anyhow::anyhow!("--tenant must be a UUID"))?;
    if !(1..=1000).contains(&args.batch_size) {
        anyhow::bail!("--batch-size must be between 1 and 1000");
    }
    let token = match args.token {
        Some(t) => t,
        None => TokenAuthority::from_settings(&args.auth, &args.data_dir, Arc::new(SystemClock))?
            .mint(&TokenRequest {
            subject: "custodian-import".into(),
            role: Role::ControllerAdmin,
            tenant: Some(tenant),
            purpose: None,
            instruction: None,
            scopes: Vec::new(),
            ttl_seconds: 12 * 3600,
            token_id: None,
        })?,
    };
    let (imported, skipped) = crate::import::run(crate::import::ImportJob {
        file: args.file,
        format: args.format,
        url: args.url,
        token,
        batch_size: args.batch_size,
        import_key: args.import_key,
    })
    .await?;
    println!("imported {imported} contacts ({skipped} rows were already imported)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand says what it does and every flag what it means, in `--help`.
    #[test]
    fn every_subcommand_and_flag_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && !path.is_empty() {
                missing.push(format!("{here}: no description"));
            }
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                    missing.push(format!("{here} --{}: no help", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
        super::Cli::command().debug_assert();
    }

    /// The purge's duty cycle is a percentage: out of range is refused before anything
    /// runs, naming the flag.
    #[test]
    fn the_purge_duty_cycle_is_a_percentage() {
        use clap::Parser;
        for bad in ["0", "101", "-5", "half"] {
            let flag = format!("--duty-cycle={bad}");
            let refused = super::Cli::try_parse_from(["custodian", "purge", flag.as_str()])
                .expect_err(bad)
                .to_string();
            assert!(refused.contains("--duty-cycle"), "{bad}: {refused}");
        }
        for good in ["1", "50", "100"] {
            super::Cli::try_parse_from(["custodian", "purge", "--duty-cycle", good]).expect(good);
        }
    }
}

//! Connecting to and migrating the database.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    Statement,
};
use secrecy::ExposeSecret;

use crate::config::StorageSettings;

/// How long a pooled connection may sit idle before its next checkout pings it first.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(5);

/// Opens the pool. For the embedded SQLite default the data directory is created and the
/// database switched to WAL so readers never block the writer.
///
/// # Errors
/// When the directory cannot be created or the database cannot be reached.
pub async fn connect(settings: &StorageSettings) -> anyhow::Result<DatabaseConnection> {
    connect_sized(settings, |_| settings.db_pool_size).await
}

/// Connections of a server's own pool on PostgreSQL at most: its background work (the
/// sealer, webhooks, the purge, checkpoints, gauges, readiness) runs there, while
/// requests have the HTTP workers' pools (see `http::WorkerPools`).
pub const BACKGROUND_CONNECTIONS: u32 = 4;

/// [`connect`] for `serve`: on PostgreSQL the pool of its background work, of at most
/// [`BACKGROUND_CONNECTIONS`] (`--db-pool-size` goes to the HTTP workers' pools); on
/// SQLite the one pool, which serves requests too.
///
/// # Errors
/// As [`connect`].
pub async fn connect_server(settings: &StorageSettings) -> anyhow::Result<DatabaseConnection> {
    connect_sized(settings, |target| match target {
        Target::Postgres { .. } => settings.db_pool_size.min(BACKGROUND_CONNECTIONS),
        Target::Sqlite => settings.db_pool_size,
    })
    .await
}

/// Opens the pool with `size(target)` connections at most.
async fn connect_sized(
    settings: &StorageSettings,
    size: impl FnOnce(&Target) -> u32,
) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url();
    let target = Target::parse(url.expose_secret())?;
    let max_connections = size(&target);
    if let Target::Sqlite = target {
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the data directory {}: {e}",
                settings.data_dir.display()
            )
        })?;
    }
    if let Target::Postgres { host, port, .. } = &target {
        // A server that is not there makes the pool retry until it times out, and say
        // only that; asking the socket first says why.
        let address = format!("{host}:{port}");
        let reach = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(&address),
        )
        .await;
        match reach {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => anyhow::bail!("cannot reach {target}: {e}"),
            Err(_) => anyhow::bail!("cannot reach {target}: no answer within 5 s"),
        }
    }
    let mut options = ConnectOptions::new(url.expose_secret().to_owned());
    options
        .max_connections(max_connections.max(1))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_millis(settings.db_acquire_timeout_ms.max(1)))
        // sqlx pings a pooled connection on every checkout by default: one more round
        // trip per transaction (a sixth on a read: ping, begin, pin, select, commit, and
        // the ping sqlx always sends on release). A connection that has just been used
        // is known alive; one idle for a while may have been dropped (a database
        // restart, a proxy) and is still pinged. A connection lost under load fails its
        // statement as `RATE_LIMITED` (retryable) and is closed on release.
        .test_before_acquire_if_idle_for(PING_AFTER_IDLE)
        .sqlx_logging(false)
        // Deleted content is overwritten, not merely unlinked: an erased subject's
        // strings do not linger in free pages of the file (see `reclaim_erased`).
        .map_sqlx_sqlite_opts(|o| o.pragma("secure_delete", "ON"));
    let statement_timeout = settings.db_statement_timeout_ms.to_string();
    let plaintext = target.plaintext_loopback();
    options.map_sqlx_postgres_opts(move |o| {
        let o = o.options([("statement_timeout", statement_timeout.as_str())]);
        if plaintext {
            o.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable)
        } else {
            o
        }
    });
    let db = Database::connect(options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {target}: {}", plain(&e)))?;
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(db)
}

/// A pool of the runtime that calls this (an HTTP worker's), opened as `db`'s is, with
/// at most `size` connections; `None` on SQLite, whose connections answer any runtime.
/// A pooled connection's socket belongs to the runtime that opened it: a request served
/// on the worker that read it, with connections of that worker, never wakes another
/// thread to reach the database.
pub fn pool_of_this_runtime(
    db: &DatabaseConnection,
    size: u32,
    metrics: &std::sync::Arc<crate::metrics::Metrics>,
) -> Option<DatabaseConnection> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return None;
    }
    let pool = db.get_postgres_connection_pool();
    let connect = (*pool.connect_options()).clone();
    let pool = pool
        .options()
        .clone()
        .max_connections(size.max(1))
        .min_connections(0)
        .connect_lazy_with(connect);
    let mut db = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
    metrics.observe_statements(&mut db);
    Some(db)
}

/// Where `--database-url` points, for messages: never its password.
enum Target {
    Sqlite,
    Postgres {
        host: String,
        port: u16,
        database: String,
        user: String,
        /// The URL says how to use TLS (`sslmode=…`).
        sslmode_given: bool,
    },
}

impl Target {
    /// A PostgreSQL on this machine, reached over loopback, with no `sslmode` in the URL:
    /// plaintext. TLS there protects against nothing that could not read the server's
    /// memory anyway, and costs about half of what the database serves per core (sqlx's
    /// default, `prefer`, negotiates it whenever the server offers it). Any `sslmode` given
    /// is obeyed.
    fn plaintext_loopback(&self) -> bool {
        match self {
            Self::Postgres {
                host,
                sslmode_given,
                ..
            } => {
                !sslmode_given
                    && (host == "localhost"
                        || host
                            .trim_matches(|c| c == '[' || c == ']')
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback()))
            }
            Self::Sqlite => false,
        }
    }
}

impl Target {
    fn parse(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            return Ok(Self::Sqlite);
        }
        let parsed = url::Url::parse(url).map_err(|_| {
            anyhow::anyhow!(
                "--database-url is not a URL: expected postgres://user@host:port/database or \
                 sqlite://path"
            )
        })?;
        match parsed.scheme() {
            "postgres" | "postgresql" => Ok(Self::Postgres {
                host: parsed.host_str().unwrap_or("localhost").to_owned(),
                port: parsed.port().unwrap_or(5432),
                database: parsed.path().trim_start_matches('/').to_owned(),
                user: parsed.username().to_owned(),
                sslmode_given: parsed
                    .query_pairs()
                    .any(|(k, _)| k == "sslmode" || k == "ssl-mode"),
            }),
            other => anyhow::bail!(
                "--database-url: `{other}` databases are not supported; use postgres://… or \
                 sqlite://…"
            ),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite => f.write_str("the SQLite database"),
            Self::Postgres {
                host,
                port,
                database,
                user,
                ..
            } => write!(
                f,
                "PostgreSQL at {host}:{port} (database {database:?}, role {user:?})"
            ),
        }
    }
}

/// A database error's own words, once (sea-orm repeats them) and without the URL.
fn plain(e: &DbErr) -> String {
    let text = match e {
        DbErr::Conn(inner) => inner.to_string(),
        other => other.to_string(),
    };
    let text = text
        .strip_prefix("Connection Error: ")
        .unwrap_or(&text)
        .to_owned();
    match text.split_once(": ") {
        Some((a, b)) if a == b => a.to_owned(),
        _ => text,
    }
}

/// Refuses a database that lacks migrations this build knows.
///
/// # Errors
/// Naming how many migrations are pending and what to run.
pub async fn check_migrated(db: &DatabaseConnection) -> anyhow::Result<()> {
    let applied = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations",
        ))
        .await;
    let applied: Vec<String> = match applied {
        Ok(rows) => rows
            .iter()
            .filter_map(|r| r.try_get::<String>("", "version").ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    let pending = Migrator::migrations()
        .iter()
        .filter(|m| !applied.iter().any(|a| a == m.name()))
        .count();
    if pending > 0 {
        anyhow::bail!(
            "the database is not migrated ({pending} of {} migrations pending): run \
             `custodian migrate --database-url …` as the owner role first (or start with \
             --migrate-on-start)",
            Migrator::migrations().len()
        );
    }
    Ok(())
}

/// After an erasure: on SQLite, checkpoints the write-ahead log into the database file and
/// truncates it, so the overwritten pages are the only copy left. On PostgreSQL the
/// erased rows' old versions are reclaimed by autovacuum (the migration sets the
/// contact tables to vacuum after any deleted row).
///
/// # Errors
/// `DbErr` when the checkpoint fails.
pub async fn reclaim_erased(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(());
    }
    // A checkpoint cannot finish while another connection writes (the sealer, say):
    // retry for a moment rather than leave the erased pages in the log.
    for _ in 0..50 {
        let busy = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "PRAGMA wal_checkpoint(TRUNCATE)",
            ))
            .await?
            .map(|row| row.try_get_by_index::<i32>(0))
            .transpose()?
            .unwrap_or(0);
        if busy == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(DbErr::Custom(
        "the write-ahead log could not be checkpointed after an erasure".into(),
    ))
}

/// Applies every pending migration.
///
/// # Errors
/// The first migration that fails.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Tables the application role reads and changes. Every one but `tenants` is tenant-owned
/// and under row-level security.
pub const APPLICATION_TABLES: [&str; 28] = [
    "tenants",
    "ledger_trees",
    "contacts",
    "appointments",
    "processing_instructions",
    "ledger_heads",
    "subprocessors",
    "transfer_records",
    "subprocessor_objections",
    "partner_tokens",
    "import_runs",
    "privacy_requests",
    "privacy_request_events",
    "privacy_request_exports",
    "legal_holds",
    "privacy_request_forwards",
    "retention_policies",
    "purge_reports",
    "breach_incidents",
    "breach_notices",
    "terms_versions",
    "terms_responses",
    "offboardings",
    "offboarding_exports",
    "disclosures",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
];
/// Tables the application role may only read and append to.
pub const APPEND_ONLY_TABLES: [&str; 3] =
    ["access_records", "ledger_tree_hashes", "ledger_checkpoints"];
/// Tables whose rows the application role may insert, and delete only as a trigger
/// allows (pending access records, when sealed), never update.
pub const MOVE_ONLY_TABLES: [&str; 1] = ["access_pending"];

/// Grants the application role what serving needs and nothing more: no DDL, no
/// `TRUNCATE` (which row-level security does not filter), the ledger append-only, the
/// migration history read-only.
/// PostgreSQL only; a no-op on SQLite.
///
/// # Errors
/// When the role name is not a plain identifier (nothing is granted), or a grant fails.
pub async fn grant_app_role(db: &DatabaseConnection, role: &str) -> anyhow::Result<()> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let plain = !role.is_empty()
        && role.len() <= 63
        && role.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !plain {
        anyhow::bail!("application role {role:?} must be a lower-case SQL identifier");
    }
    let tables = APPLICATION_TABLES.join(", ");
    db.execute_unprepared(&format!("GRANT USAGE ON SCHEMA public TO {role}"))
        .await?;
    db.execute_unprepared(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {role}"
    ))
    .await?;
    let append_only = APPEND_ONLY_TABLES.join(", ");
    db.execute_unprepared(&format!("GRANT SELECT, INSERT ON {append_only} TO {role}"))
        .await?;
    db.execute_unprepared(&format!(
        "REVOKE UPDATE, DELETE, TRUNCATE ON {append_only} FROM {role}"
    ))
    .await?;
    let move_only = MOVE_ONLY_TABLES.join(", ");
    db.execute_unprepared(&format!(
        "GRANT SELECT, INSERT, DELETE ON {move_only} TO {role}"
    ))
    .await?;
    db.execute_unprepared(&format!(
        "REVOKE UPDATE, TRUNCATE ON {move_only} FROM {role}"
    ))
    .await?;
    db.execute_unprepared(&format!("REVOKE TRUNCATE ON {tables} FROM {role}"))
        .await?;
    // The role may read, never write, the table that opens a ledger to erasure (the
    // ledger's triggers read it): only the owner completes an offboarding.
    db.execute_unprepared(&format!("GRANT SELECT ON ledger_erasures TO {role}"))
        .await?;
    db.execute_unprepared(&format!("GRANT SELECT ON seaql_migrations TO {role}"))
        .await?;
    Ok(())
}

/// Refuses to serve on PostgreSQL as a role that row-level security would not bind: a
/// superuser, a role with `BYPASSRLS`, or the owner of a tenant table.
///
/// # Errors
/// A message naming what is wrong and how to fix it.
pub async fn check_role_is_bound_by_rls(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT r.rolname::text AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypass, \
             (SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname = 'public' AND c.relkind = 'r' \
              AND pg_has_role(current_user, c.relowner, 'USAGE'))::bigint AS owned \
             FROM pg_roles r WHERE r.rolname = current_user",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("cannot read the current role"))?;
    let name: String = row.try_get("", "name")?;
    let superuser: bool = row.try_get("", "superuser")?;
    let bypass: bool = row.try_get("", "bypass")?;
    let owned: i64 = row.try_get("", "owned")?;
    if superuser || bypass || owned > 0 {
        anyhow::bail!(
            "refusing to serve as PostgreSQL role {name:?}: it {} and would bypass row-level \
             security. Connect as the application role (see README, \"PostgreSQL in \
             production\"); run migrations with `custodian migrate` as the owner role.",
            if superuser {
                "is a superuser"
            } else if bypass {
                "has BYPASSRLS"
            } else {
                "owns tables (or is a member of their owner)"
            }
        );
    }
    Ok(())
}

/// `column` (a JSON array of strings) contains `value`.
pub fn json_array_contains(
    backend: sea_orm::DatabaseBackend,
    column: &str,
    value: String,
) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::Expr;
    match backend {
        sea_orm::DatabaseBackend::Postgres => Expr::cust_with_values(
            format!("{column} @> $1"),
            [sea_orm::Value::from(serde_json::json!([value]))],
        ),
        // SQLite reads `$1` as a named parameter shared by every `$1` in the statement;
        // `?` is positional.
        _ => Expr::cust_with_values(
            format!("EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = ?)"),
            [value],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn loopback_without_an_sslmode_is_plaintext_and_anything_else_as_configured() {
        let plain = |url: &str| Target::parse(url).unwrap().plaintext_loopback();
        assert!(plain("postgres://app@127.0.0.1:5432/custodian"));
        assert!(plain("postgres://app@localhost/custodian"));
        assert!(plain("postgres://app@[::1]:5432/custodian"));
        assert!(!plain("postgres://app@127.0.0.1/custodian?sslmode=require"));
        assert!(!plain("postgres://app@127.0.0.1/custodian?sslmode=prefer"));
        assert!(!plain("postgres://app@db.internal:5432/custodian"));
        assert!(!plain("postgres://app@10.0.0.5/custodian"));
        assert!(!plain("sqlite://custodian.db"));
    }
}

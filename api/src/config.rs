//! Typed configuration: defaults, then `CUSTODIAN_…` environment variables, then flags
//! (clap layers the last two). Modules receive these structs; nothing else reads the
//! environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyAlgorithm {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// Where the data lives. Shared by every subcommand that touches the database or keys.
#[derive(Debug, Clone, Args)]
pub struct StorageSettings {
    /// Directory for the embedded SQLite database and the development signing key.
    #[arg(long, env = "CUSTODIAN_DATA_DIR", default_value = "custodian-data")]
    pub data_dir: PathBuf,
    /// `postgres://…` for production, `sqlite://…` for a specific file; default: a SQLite
    /// file in the data directory.
    #[arg(long, env = "CUSTODIAN_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// Connections that serve requests, shared out between the HTTP workers (on
    /// PostgreSQL each worker opens its own; background work has up to 4 more).
    #[arg(long, env = "CUSTODIAN_DB_POOL_SIZE", default_value_t = 10)]
    pub db_pool_size: u32,
    /// Longest a request waits for a pooled connection, in milliseconds; past it the
    /// request fails with the retryable `RATE_LIMITED` instead of queueing on.
    #[arg(long, env = "CUSTODIAN_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5_000)]
    pub db_acquire_timeout_ms: u64,
    /// Longest one SQL statement may run on PostgreSQL, in milliseconds (its
    /// `statement_timeout`); past it the request fails with the retryable `RATE_LIMITED`.
    #[arg(
        long,
        env = "CUSTODIAN_DB_STATEMENT_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub db_statement_timeout_ms: u64,
}

impl StorageSettings {
    pub fn for_data_dir(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            database_url: None,
            db_pool_size: 10,
            db_acquire_timeout_ms: 5_000,
            db_statement_timeout_ms: 10_000,
        }
    }

    /// The configured URL, or the embedded default in the data directory.
    pub fn database_url(&self) -> SecretString {
        match &self.database_url {
            Some(url) => url.clone(),
            None => SecretString::from(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("custodian.db").display()
            )),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url().expose_secret().starts_with("postgres")
    }
}

/// How bearer tokens are verified.
#[derive(Debug, Clone, Args)]
pub struct AuthSettings {
    /// HMAC (HS256) secret, at least 32 bytes. Default: a random key kept in the data
    /// directory.
    #[arg(long, env = "CUSTODIAN_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,
    /// PEM public key of the identity provider (RS256, ES256 or EdDSA; see
    /// --jwt-algorithm). Takes effect when no HMAC secret is set.
    #[arg(long, env = "CUSTODIAN_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// The algorithm of --jwt-public-key-file (the only one its tokens may use).
    #[arg(long, env = "CUSTODIAN_JWT_ALGORITHM", default_value = "RS256")]
    pub jwt_algorithm: KeyAlgorithm,
    /// Required `iss` claim.
    #[arg(long, env = "CUSTODIAN_JWT_ISSUER", default_value = "custodian")]
    pub issuer: String,
    /// Required `aud` claim.
    #[arg(long, env = "CUSTODIAN_JWT_AUDIENCE", default_value = "custodian")]
    pub audience: String,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwt_public_key_file: None,
            jwt_algorithm: KeyAlgorithm::Rs256,
            issuer: "custodian".into(),
            audience: "custodian".into(),
        }
    }
}

/// Everything `custodian serve` needs.
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "CUSTODIAN_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    #[command(flatten)]
    pub storage: StorageSettings,
    #[command(flatten)]
    pub auth: AuthSettings,
    /// HTTP worker threads. GraphQL execution and all database I/O run on the main
    /// runtime; these only parse and write HTTP.
    #[arg(long, env = "CUSTODIAN_HTTP_WORKERS", default_value_t = 2)]
    pub http_workers: usize,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "CUSTODIAN_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Apply pending migrations at start (always on for the embedded SQLite default).
    #[arg(long, env = "CUSTODIAN_MIGRATE_ON_START", default_value_t = false)]
    pub migrate_on_start: bool,
    /// Serve the GraphiQL playground on `GET /graphql`.
    #[arg(long, env = "CUSTODIAN_PLAYGROUND", default_value_t = true, action = clap::ArgAction::Set)]
    pub playground: bool,
    /// The processor's name, as records of processing state it.
    #[arg(
        long,
        env = "CUSTODIAN_PROCESSOR_NAME",
        default_value = "Custodian operator"
    )]
    pub processor_name: String,
    /// The processor's privacy contact, as records of processing state it.
    #[arg(long, env = "CUSTODIAN_PROCESSOR_CONTACT")]
    pub processor_contact: Option<String>,
    /// Run the retention purge every this many seconds inside the server (0: never;
    /// run `custodian purge` from a scheduler instead).
    #[arg(long, env = "CUSTODIAN_PURGE_EVERY_SECONDS", default_value_t = 0)]
    pub purge_every_seconds: u64,
    /// Issue a signed checkpoint of every tenant's ledger that grew, every this many
    /// seconds (0: only on demand, `issueLedgerCheckpoint` or `custodian ledger checkpoint`).
    #[arg(
        long,
        env = "CUSTODIAN_CHECKPOINT_EVERY_SECONDS",
        default_value_t = 3600
    )]
    pub checkpoint_every_seconds: u64,
    /// The ledger's name: the signed-note key name of its checkpoints and the prefix of
    /// each tenant's log origin (`<name>/<tenant id>`). Use the deployment's host name.
    #[arg(long, env = "CUSTODIAN_LEDGER_NAME", default_value = "custodian.local")]
    pub ledger_name: String,
    /// Deliver webhooks from this server (every second, from the outbox in the
    /// database; several servers may, each delivery is claimed by one).
    #[arg(
        long,
        env = "CUSTODIAN_DELIVER_WEBHOOKS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub deliver_webhooks: bool,
    /// The deployment's Ed25519 signing key (hex seed) for receipts; default
    /// `<data-dir>/signing-ed25519.key`, created on first start.
    #[arg(long, env = "CUSTODIAN_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// Origins (`https://app.example.com`) whose browser apps may call the API, comma
    /// separated; none by default. Credentials (cookies) are never allowed: tokens go in
    /// the `Authorization` header.
    #[arg(
        long,
        env = "CUSTODIAN_CORS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        num_args = 0..
    )]
    pub cors_allowed_origins: Vec<String>,
    /// Read the database gauges of `/metrics` (requests due, unsealed records, breach
    /// notices) at most every this many seconds, however often it is scraped.
    #[arg(long, env = "CUSTODIAN_GAUGES_EVERY_SECONDS", default_value_t = 15)]
    pub gauges_every_seconds: u64,
    /// Production mode: introspection and field suggestions only for platform admins,
    /// and no playground (unless --playground-in-production).
    #[arg(long, env = "CUSTODIAN_PRODUCTION", default_value_t = false)]
    pub production: bool,
    /// Serve the playground in production mode too (only platform admins can introspect
    /// from it).
    #[arg(
        long,
        env = "CUSTODIAN_PLAYGROUND_IN_PRODUCTION",
        default_value_t = false
    )]
    pub playground_in_production: bool,
    /// A manifest of persisted operations (Apollo's `apollo-persisted-query-manifest`
    /// JSON, or `{"<sha256>": "<document>"}`): requests may send only the hash.
    #[arg(long, env = "CUSTODIAN_PERSISTED_QUERIES")]
    pub persisted_queries: Option<PathBuf>,
    /// Run only the manifest's operations (platform admins excepted).
    #[arg(
        long,
        env = "CUSTODIAN_REQUIRE_PERSISTED_QUERIES",
        default_value_t = false
    )]
    pub require_persisted_queries: bool,
    /// Requests a second one token may send (bursts of twice that); 0: no limit.
    #[arg(long, env = "CUSTODIAN_RATE_LIMIT_PER_TOKEN", default_value_t = 50)]
    pub rate_limit_per_token: u32,
    /// Requests a second all of one tenant's callers together may send (bursts of twice
    /// that); 0: no limit.
    #[arg(long, env = "CUSTODIAN_RATE_LIMIT_PER_TENANT", default_value_t = 500)]
    pub rate_limit_per_tenant: u32,
    /// Benchmark only: do not record accesses (measures what the ledger costs). Never in
    /// production: it breaks the promise the ledger exists for.
    #[arg(
        long,
        env = "CUSTODIAN_BENCH_LEDGER_OFF",
        hide = true,
        default_value_t = false
    )]
    pub bench_ledger_off: bool,
    /// Benchmark only: serve as a role that bypasses row-level security (measures what
    /// RLS costs).
    #[arg(
        long,
        env = "CUSTODIAN_BENCH_ALLOW_RLS_BYPASS",
        hide = true,
        default_value_t = false
    )]
    pub bench_allow_rls_bypass: bool,
}

impl ServeSettings {
    /// Where the signing key lives.
    pub fn signing_key_path(&self) -> PathBuf {
        self.signing_key_file
            .clone()
            .unwrap_or_else(|| self.storage.data_dir.join(crate::signing::KEY_FILE))
    }

    /// Settings for a server on a free local port with the embedded default in
    /// `data_dir`: what tests and local tools start from.
    pub fn local(data_dir: &Path) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            storage: StorageSettings::for_data_dir(data_dir),
            auth: AuthSettings::default(),
            http_workers: 2,
            max_body_bytes: 1024 * 1024,
            migrate_on_start: false,
            playground: true,
            processor_name: "Custodian operator".into(),
            processor_contact: None,
            signing_key_file: None,
            purge_every_seconds: 0,
            checkpoint_every_seconds: 0,
            ledger_name: "custodian.local".into(),
            deliver_webhooks: true,
            cors_allowed_origins: Vec::new(),
            gauges_every_seconds: 0,
            production: false,
            persisted_queries: None,
            require_persisted_queries: false,
            playground_in_production: false,
            rate_limit_per_token: 0,
            rate_limit_per_tenant: 0,
            bench_ledger_off: false,
            bench_allow_rls_bypass: false,
        }
    }
}

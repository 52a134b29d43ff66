//! Spawning a real server per test, on SQLite or on PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use custodian_api::auth::{Role, TokenAuthority, TokenRequest};
use custodian_api::clock::{Clock, SharedClock};
use custodian_api::config::ServeSettings;
use custodian_api::domain::TenantId;
use custodian_api::startup::Application;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

/// Lifetime of test tokens: long enough for tests that move the clock by weeks.
pub const TEST_TOKEN_TTL: i64 = 365 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// A Citus coordinator and its workers, when `CUSTODIAN_CITUS_URL` names one.
    Citus,
}

/// A clock tests can move.
pub struct TestClock(AtomicU64);

impl TestClock {
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds * 1_000_000, Ordering::SeqCst);
    }
}

impl TestClock {
    pub fn now_secs(&self) -> i64 {
        self.now().timestamp()
    }

    pub fn now_chrono(&self) -> chrono::DateTime<chrono::Utc> {
        self.now()
    }
}

impl Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let micros = self.0.load(Ordering::SeqCst);
        chrono::DateTime::from_timestamp_micros(micros as i64).unwrap()
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub authority: TokenAuthority,
    pub clock: Arc<TestClock>,
    /// The server's own pool (the application role on PostgreSQL).
    pub db: DatabaseConnection,
    /// On PostgreSQL: this test's database as its owner, as the application role, and as
    /// a superuser (which RLS does not bind: for counting what is really stored).
    pub owner_url: Option<String>,
    pub app_url: Option<String>,
    pub superuser_url: Option<String>,
    /// The database is a Citus coordinator.
    pub citus: bool,
    pub _data_dir: tempfile::TempDir,
}

/// Where the tests find a PostgreSQL superuser; the local cluster by default.
pub fn postgres_admin_url() -> String {
    std::env::var("CUSTODIAN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn postgres_required() -> bool {
    std::env::var("CUSTODIAN_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::start(None).await),
            Backend::Postgres => {
                let urls = match crate::pg::fresh_database().await {
                    Ok(urls) => urls,
                    Err(e) if postgres_required() => {
                        panic!(
                            "PostgreSQL is required (CUSTODIAN_REQUIRE_POSTGRES=1) but unusable: {e}"
                        )
                    }
                    Err(e) => {
                        eprintln!(
                            "SKIPPED: PostgreSQL suite not run, PostgreSQL unreachable ({e})"
                        );
                        return None;
                    }
                };
                Some(Self::start(Some(urls)).await)
            }
            Backend::Citus => {
                let Some(admin) = crate::pg::citus_admin_url() else {
                    eprintln!(
                        "SKIPPED: Citus suite not run: set CUSTODIAN_CITUS_URL to a coordinator's superuser URL (see the README)"
                    );
                    return None;
                };
                let urls = crate::pg::fresh_citus_database(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("CUSTODIAN_CITUS_URL is set but unusable: {e}"));
                Some(Self::start(Some(urls)).await)
            }
        }
    }

    /// A Citus-backed server with `configure` applied to its settings; `None` (saying so)
    /// when `CUSTODIAN_CITUS_URL` is unset.
    pub async fn spawn_citus_configured(
        configure: impl FnOnce(&mut ServeSettings),
    ) -> Option<Self> {
        let Some(admin) = crate::pg::citus_admin_url() else {
            eprintln!("SKIPPED: Citus suite not run: set CUSTODIAN_CITUS_URL (see the README)");
            return None;
        };
        let urls = crate::pg::fresh_citus_database(&admin)
            .await
            .unwrap_or_else(|e| panic!("CUSTODIAN_CITUS_URL is set but unusable: {e}"));
        Some(Self::start_with(Some(urls), configure).await)
    }

    /// A SQLite-backed server with `configure` applied to its settings.
    pub async fn spawn_configured(configure: impl FnOnce(&mut ServeSettings)) -> Self {
        Self::start_with(None, configure).await
    }

    async fn start(pg: Option<crate::pg::TestDatabase>) -> Self {
        Self::start_with(pg, |_| {}).await
    }

    async fn start_with(
        pg: Option<crate::pg::TestDatabase>,
        configure: impl FnOnce(&mut ServeSettings),
    ) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let mut settings = ServeSettings::local(data_dir.path());
        configure(&mut settings);
        if let Some(pg) = &pg {
            settings.storage.database_url = Some(pg.app_url.clone().into());
            settings.storage.db_pool_size = 4;
        }
        let start = chrono::Utc::now().timestamp_micros() as u64;
        let clock = Arc::new(TestClock(AtomicU64::new(start)));
        let shared: SharedClock = clock.clone();
        let app = Application::build_with_clock(settings.clone(), shared.clone())
            .await
            .expect("the server starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let db = app.db().clone();
        let citus = custodian_api::citus::is_citus(&db).await.unwrap();
        tokio::spawn(app.run_until_stopped());
        let authority =
            TokenAuthority::from_settings(&settings.auth, data_dir.path(), shared).unwrap();
        Self {
            address,
            client: reqwest::Client::new(),
            authority,
            clock,
            db,
            owner_url: pg.as_ref().map(|p| p.owner_url.clone()),
            app_url: pg.as_ref().map(|p| p.app_url.clone()),
            superuser_url: pg.as_ref().map(|p| p.superuser_url.clone()),
            citus,
            _data_dir: data_dir,
        }
    }

    pub fn token(&self, role: Role, tenant: Option<&str>, sub: &str) -> String {
        self.authority
            .mint(&TokenRequest {
                subject: sub.to_owned(),
                role,
                tenant: tenant.map(|t| TenantId::parse(t).unwrap()),
                purpose: None,
                instruction: None,
                scopes: vec![],
                ttl_seconds: TEST_TOKEN_TTL,
                token_id: None,
            })
            .unwrap()
    }

    /// The test clock's time, as GraphQL `DateTime` text.
    pub fn clock_now(&self) -> String {
        self.clock.now().to_rfc3339()
    }

    /// A processor-staff (or other instructed role's) token for `tenant` with a purpose.
    pub fn instructed_token(
        &self,
        role: Role,
        tenant: &str,
        purpose: &str,
        instruction: Option<&str>,
    ) -> String {
        self.authority
            .mint(&TokenRequest {
                subject: "sam".to_owned(),
                role,
                tenant: Some(TenantId::parse(tenant).unwrap()),
                purpose: Some(custodian_api::domain::instruction::Purpose::parse(purpose).unwrap()),
                instruction: instruction.map(|i| i.parse().unwrap()),
                scopes: vec![],
                ttl_seconds: TEST_TOKEN_TTL,
                token_id: None,
            })
            .unwrap()
    }

    /// Issues an instruction as the controller admin `token`; returns its id.
    pub async fn issue_instruction(&self, token: &str, input: Value) -> String {
        let data = self
            .gql_ok(
                token,
                "mutation($input: IssueInstructionInput!) { issueInstruction(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        data["issueInstruction"]["id"].as_str().unwrap().to_owned()
    }

    /// The tenant's whole ledger, oldest first, as the controller admin `token` sees it.
    pub async fn access_log(&self, token: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data = self
                .gql_ok(
                    token,
                    "query($after: String) { accessLog(first: 100, after: $after) { nodes { seq operation outcome actorKind actorId subprocessorId purpose resourceType resourceIds resourceCount fields instructionId reason requestId } pageInfo { hasNextPage endCursor } } }",
                    json!({ "after": after }),
                )
                .await;
            out.extend(
                data["accessLog"]["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .cloned(),
            );
            if data["accessLog"]["pageInfo"]["hasNextPage"] != true {
                return out;
            }
            after = data["accessLog"]["pageInfo"]["endCursor"]
                .as_str()
                .map(str::to_owned);
        }
    }

    pub async fn verify_log(&self, token: &str) -> Value {
        self.gql_ok(
            token,
            "{ verifyAccessLog { valid checked firstBrokenAt reason headSeq headHash unsealed } }",
            json!({}),
        )
        .await["verifyAccessLog"]
            .clone()
    }

    /// A transaction as the server's own database role would open it for `tenant`: as
    /// the application role with the tenant pinned (PostgreSQL), or on the server's
    /// database (SQLite). For proving what that role cannot do.
    pub async fn app_role_tx(
        &self,
        tenant: uuid::Uuid,
    ) -> (sea_orm::DatabaseTransaction, sea_orm::DbBackend) {
        use sea_orm::TransactionTrait;
        let Some(url) = &self.app_url else {
            return (self.db.begin().await.unwrap(), sea_orm::DbBackend::Sqlite);
        };
        let backend = sea_orm::DbBackend::Postgres;
        let tx = Database::connect(url).await.unwrap().begin().await.unwrap();
        custodian_api::tenancy::pin(&tx, tenant.into())
            .await
            .unwrap();
        (tx, backend)
    }

    /// Runs statements directly against the stored data as an attacker with database
    /// access would: as a superuser with triggers off (PostgreSQL), or with the
    /// append-only triggers dropped (SQLite).
    pub async fn tamper(&self, statements: &[(&str, Vec<sea_orm::Value>)]) {
        use sea_orm::TransactionTrait;
        let (conn, backend) = match &self.superuser_url {
            Some(url) => (
                Database::connect(url).await.unwrap(),
                sea_orm::DbBackend::Postgres,
            ),
            None => (self.db.clone(), sea_orm::DbBackend::Sqlite),
        };
        let tx = conn.begin().await.unwrap();
        match backend {
            sea_orm::DbBackend::Postgres => {
                // On Citus the coordinator passes the setting on to the workers.
                tx.execute_unprepared("SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL session_replication_role = replica")
                    .await
                    .unwrap();
            }
            _ => {
                tx.execute_unprepared("DROP TRIGGER IF EXISTS access_records_no_update")
                    .await
                    .unwrap();
                tx.execute_unprepared("DROP TRIGGER IF EXISTS access_records_no_delete")
                    .await
                    .unwrap();
                for trigger in [
                    "access_records_delete_only_erased",
                    "ledger_tree_hashes_no_update",
                    "ledger_tree_hashes_delete_only_erased",
                    "ledger_trees_only_grow",
                    "ledger_trees_delete_only_erased",
                    "ledger_checkpoints_no_update",
                    "ledger_checkpoints_delete_only_erased",
                ] {
                    tx.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {trigger}"))
                        .await
                        .unwrap();
                }
            }
        }
        for (sql, values) in statements {
            tx.execute_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                *sql,
                values.clone(),
            ))
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }

    /// Registers and announces a subprocessor, then moves the clock past its notice
    /// period so it is active; returns its id.
    pub async fn active_subprocessor(
        &self,
        name: &str,
        categories: Value,
        locations: Value,
    ) -> String {
        let admin = self.admin_token();
        let id = self
            .gql_ok(
                &admin,
                "mutation($input: RegisterSubprocessorInput!) { registerSubprocessor(input: $input) { id } }",
                json!({"input": {"name": name, "service": format!("{name} service"), "dataCategories": categories, "locations": locations}}),
            )
            .await["registerSubprocessor"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.gql_ok(
            &admin,
            "mutation($id: ID!) { announceSubprocessor(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
        self.clock.advance(30 * 86_400);
        id
    }

    /// Mints a partner token as the platform admin; returns `(token, token id)`.
    pub async fn partner_token(
        &self,
        tenant: &str,
        subprocessor: &str,
        purpose: &str,
        scopes: Value,
    ) -> (String, String) {
        let data = self
            .gql_ok(
                &self.admin_token(),
                "mutation($input: MintPartnerTokenInput!) { mintPartnerToken(input: $input) { token partnerToken { id } } }",
                json!({"input": {"tenantId": tenant, "subprocessorId": subprocessor, "purpose": purpose, "scopes": scopes, "ttlSeconds": 86_400}}),
            )
            .await;
        (
            data["mintPartnerToken"]["token"]
                .as_str()
                .unwrap()
                .to_owned(),
            data["mintPartnerToken"]["partnerToken"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }

    pub fn admin_token(&self) -> String {
        self.token(Role::PlatformAdmin, None, "alice")
    }

    pub fn controller_token(&self, tenant: &str) -> String {
        self.token(Role::ControllerAdmin, Some(tenant), "bob")
    }

    /// POSTs an operation and returns the response body (any status).
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    /// Like [`TestApp::gql`], but the request must succeed without errors.
    /// Sends a GraphQL request (`{"query": …, "variables": …}`) from a task of its own,
    /// for tests of concurrent requests; the task panics on any GraphQL error.
    pub fn spawn_gql_ok(&self, token: &str, body: Value) -> tokio::task::JoinHandle<()> {
        let request = self
            .client
            .post(format!("{}/graphql", self.address))
            .bearer_auth(token)
            .json(&body);
        tokio::spawn(async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            assert!(body.get("errors").is_none(), "{body}");
        })
    }

    /// The deployment's published signing key document.
    pub async fn signing_key(&self) -> Value {
        self.client
            .get(format!(
                "{}/.well-known/custodian/signing-key",
                self.address
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn gql_ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(Some(token), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// The body of `GET path` on the server, as text.
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// An unlabelled metric's value, as `/metrics` shows it now.
    pub async fn gauge(&self, name: &str) -> u64 {
        let text = self.get_text("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not in /metrics"))
            .parse()
            .unwrap()
    }

    /// Until the ledger's background work (sealer passes that earlier writes scheduled)
    /// has stopped sending statements: its statement count, settled.
    pub async fn settled_ledger_statements(&self) -> u64 {
        let mut before = self.gauge("custodian_ledger_statements_total").await;
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let now = self.gauge("custodian_ledger_statements_total").await;
            if now == before {
                return now;
            }
            before = now;
        }
    }

    pub async fn create_tenant(&self, name: &str) -> String {
        let data = self
            .gql_ok(
                &self.admin_token(),
                "mutation($name: String!) { createTenant(input: {name: $name, jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }",
                json!({ "name": name }),
            )
            .await;
        data["createTenant"]["id"].as_str().unwrap().to_owned()
    }

    /// A tenant and a controller token for it.
    pub async fn tenant_with_token(&self, name: &str) -> (String, String) {
        let tenant = self.create_tenant(name).await;
        let token = self.controller_token(&tenant);
        (tenant, token)
    }

    pub async fn create_contact(&self, token: &str, input: Value) -> Value {
        let data = self
            .gql_ok(
                token,
                "mutation($input: ContactInput!) { createContact(input: $input) { id version } }",
                json!({ "input": input }),
            )
            .await;
        data["createContact"].clone()
    }

    /// Rows really stored in `table`, whatever any policy would show.
    pub async fn count_rows(&self, table: &str) -> i64 {
        let conn = match &self.superuser_url {
            Some(url) => Database::connect(url).await.unwrap(),
            None => self.db.clone(),
        };
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

/// Runs each named `async fn name(app: TestApp)` on SQLite, on PostgreSQL and on Citus
/// (which skips, saying so, unless `CUSTODIAN_CITUS_URL` is set).
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!($($name),*);
        mod citus {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Citus).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

/// Runs each named `async fn name(app: TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await.unwrap();
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

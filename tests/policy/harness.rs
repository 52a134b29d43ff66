//! The real schema on a real, migrated SQLite database in a temp dir, executed directly:
//! no HTTP, no JWT. Callers are typed [`Caller`]s, built by the functions below exactly
//! as the HTTP edge would build them from a verified token.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use async_graphql::{Request, Variables};
use chrono::{DateTime, Duration, Utc};
use custodian_api::auth::{Caller, Role, TokenAuthority};
use custodian_api::clock::{Clock, SharedClock};
use custodian_api::config::ServeSettings;
use custodian_api::db;
use custodian_api::domain::instruction::Purpose;
use custodian_api::domain::{
    AppointmentId, ContactId, InstructionId, PartnerTokenId, SubprocessorId, TenantId,
};
use custodian_api::graphql::RequestMeta;
use custodian_api::graphql::schema::{self, CustodianSchema, SchemaData};
use custodian_api::graphql::types::subprocessor::ProcessorDetails;
use custodian_api::ledger::Ledger;
use custodian_api::metrics::Metrics;
use serde_json::{Value, json};

/// A clock the tests move instead of sleeping.
pub struct TestClock(AtomicU64);

impl TestClock {
    fn starting_now() -> Self {
        Self(AtomicU64::new(Utc::now().timestamp_micros() as u64))
    }

    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds * 1_000_000, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0.load(Ordering::SeqCst) as i64).unwrap()
    }
}

pub struct Harness {
    pub schema: CustodianSchema,
    pub clock: Arc<TestClock>,
    requests: AtomicU64,
    dir: tempfile::TempDir,
}

impl Harness {
    /// A temp dir, the embedded SQLite database in it (connected and migrated as the
    /// server does), the ledger running, and the schema over them with a test clock.
    pub async fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("custodian-policy-")
            .tempdir()
            .unwrap();
        let settings = ServeSettings::local(dir.path());
        let clock = Arc::new(TestClock::starting_now());
        let shared: SharedClock = clock.clone();
        let db = db::connect(&settings.storage).await.unwrap();
        db::migrate(&db).await.unwrap();
        let metrics = Arc::new(Metrics::default());
        let ledger = Ledger::start(db.clone(), metrics.clone(), false).await;
        let auth =
            TokenAuthority::from_settings(&settings.auth, dir.path(), shared.clone()).unwrap();
        let schema = schema::build(SchemaData {
            db,
            clock: shared,
            ledger,
            auth,
            signer: custodian_api::signing::Signer::from_seed([42; 32]),
            ledger_key: custodian_api::ledger::checkpoint::LogKey::new(
                "custodian.local",
                custodian_api::signing::Signer::from_seed([42; 32]),
            )
            .unwrap(),
            offboarded: custodian_api::service::offboarding::Offboarded::default(),
            processor: ProcessorDetails {
                name: settings.processor_name.clone(),
                contact_email: None,
            },
            metrics,
        });
        Self {
            schema,
            clock,
            requests: AtomicU64::new(0),
            dir,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn advance(&self, seconds: u64) {
        self.clock.advance(seconds);
    }

    /// Runs one operation as `caller` and returns the response as JSON (`data`, and
    /// `errors` with their `extensions.code`).
    pub async fn exec(&self, caller: Option<Caller>, query: &str, variables: Value) -> Value {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        self.exec_tagged(caller, query, variables, &format!("req-{n}"))
            .await
    }

    /// [`Harness::exec`] with the request id its ledger records will carry.
    pub async fn exec_tagged(
        &self,
        caller: Option<Caller>,
        query: &str,
        variables: Value,
        request_id: &str,
    ) -> Value {
        let mut request = Request::new(query)
            .variables(Variables::from_json(variables))
            .data(RequestMeta {
                request_id: request_id.to_owned(),
            });
        if let Some(caller) = caller {
            request = request.data(caller);
        }
        serde_json::to_value(self.schema.execute(request).await).unwrap()
    }

    /// Like [`Harness::exec`], but the operation must succeed; returns its `data`.
    pub async fn ok(&self, caller: &Caller, query: &str, variables: Value) -> Value {
        let body = self.exec(Some(caller.clone()), query, variables).await;
        assert!(body.get("errors").is_none(), "{query}: {body}");
        body["data"].clone()
    }

    pub async fn create_tenant(&self, name: &str) -> TenantId {
        let data = self
            .ok(
                &platform_admin(),
                "mutation($name: String!) { createTenant(input: {name: $name, jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }",
                json!({ "name": name }),
            )
            .await;
        id(&data["createTenant"]["id"])
    }

    pub async fn create_contact(&self, tenant: TenantId, input: Value) -> ContactId {
        let data = self
            .ok(
                &controller_admin(tenant),
                "mutation($input: ContactInput!) { createContact(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        id(&data["createContact"]["id"])
    }

    pub async fn create_appointment(
        &self,
        tenant: TenantId,
        contact: ContactId,
        input: Value,
    ) -> AppointmentId {
        let mut input = input;
        input["contactId"] = json!(contact.to_string());
        let data = self
            .ok(
                &controller_admin(tenant),
                "mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        id(&data["createAppointment"]["id"])
    }

    pub async fn issue_instruction(&self, tenant: TenantId, input: Value) -> InstructionId {
        let data = self
            .ok(
                &controller_admin(tenant),
                "mutation($input: IssueInstructionInput!) { issueInstruction(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        id(&data["issueInstruction"]["id"])
    }

    pub async fn revoke_instruction(&self, tenant: TenantId, instruction: InstructionId) {
        self.ok(
            &controller_admin(tenant),
            "mutation($id: ID!) { revokeInstruction(id: $id, reason: \"withdrawn\") { revokedAt } }",
            json!({ "id": instruction.to_string() }),
        )
        .await;
    }

    pub async fn register_subprocessor(&self, name: &str) -> SubprocessorId {
        let data = self
            .ok(
                &platform_admin(),
                "mutation($input: RegisterSubprocessorInput!) { registerSubprocessor(input: $input) { id } }",
                json!({"input": {
                    "name": name,
                    "service": format!("{name} service"),
                    "dataCategories": ["IDENTITY", "CONTACT_DETAILS", "EMPLOYMENT", "APPOINTMENTS", "CUSTOM_FIELDS", "PREFERENCES"],
                    "locations": ["IE"],
                }}),
            )
            .await;
        id(&data["registerSubprocessor"]["id"])
    }

    /// Announces to every controller; effective after the notice period unless `at`.
    pub async fn announce_subprocessor(&self, sp: SubprocessorId, at: Option<DateTime<Utc>>) {
        self.ok(
            &platform_admin(),
            "mutation($id: ID!, $at: DateTime) { announceSubprocessor(id: $id, effectiveAt: $at) { id } }",
            json!({ "id": sp.to_string(), "at": at.map(|a| a.to_rfc3339()) }),
        )
        .await;
    }

    /// Registers and announces each, then moves the clock 31 days on so all are ACTIVE.
    pub async fn active_subprocessors<const N: usize>(
        &self,
        names: [&str; N],
    ) -> [SubprocessorId; N] {
        let mut ids = [SubprocessorId(uuid::Uuid::nil()); N];
        for (slot, name) in ids.iter_mut().zip(names) {
            *slot = self.register_subprocessor(name).await;
            self.announce_subprocessor(*slot, None).await;
        }
        self.advance(31 * 86_400);
        ids
    }

    pub async fn retire_subprocessor(&self, sp: SubprocessorId) {
        self.ok(
            &platform_admin(),
            "mutation($id: ID!) { retireSubprocessor(id: $id) { status } }",
            json!({ "id": sp.to_string() }),
        )
        .await;
    }

    pub async fn object_to_subprocessor(&self, tenant: TenantId, sp: SubprocessorId) {
        self.ok(
            &controller_admin(tenant),
            "mutation($id: ID!) { objectToSubprocessor(id: $id, reason: \"no\") { objectedAt } }",
            json!({ "id": sp.to_string() }),
        )
        .await;
    }

    /// Mints (and so records) a partner token as the platform admin; returns its id, the
    /// `jti` a partner caller carries. The signed token itself is not needed below HTTP.
    pub async fn mint_partner_token(
        &self,
        tenant: TenantId,
        sp: SubprocessorId,
        purpose: &str,
        scopes: &[&str],
        ttl_seconds: i64,
    ) -> PartnerTokenId {
        let data = self
            .ok(
                &platform_admin(),
                "mutation($input: MintPartnerTokenInput!) { mintPartnerToken(input: $input) { partnerToken { id } } }",
                json!({"input": {
                    "tenantId": tenant.to_string(),
                    "subprocessorId": sp.to_string(),
                    "purpose": purpose,
                    "scopes": scopes,
                    "ttlSeconds": ttl_seconds,
                }}),
            )
            .await;
        id(&data["mintPartnerToken"]["partnerToken"]["id"])
    }

    pub async fn revoke_partner_token(&self, tenant: TenantId, token: PartnerTokenId) {
        self.ok(
            &platform_admin(),
            "mutation($t: ID!, $id: ID!) { revokePartnerToken(tenantId: $t, id: $id) { revokedAt } }",
            json!({ "t": tenant.to_string(), "id": token.to_string() }),
        )
        .await;
    }

    /// The tenant's whole ledger, oldest first, as its controller admin reads it.
    pub async fn access_log(&self, tenant: TenantId) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data = self
                .ok(
                    &controller_admin(tenant),
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

    pub async fn log_is_intact(&self, tenant: TenantId) -> bool {
        self.ok(
            &controller_admin(tenant),
            "{ verifyAccessLog { valid } }",
            json!({}),
        )
        .await["verifyAccessLog"]["valid"]
            == true
    }
}

/// An id out of a response.
pub fn id<T: std::str::FromStr>(value: &Value) -> T
where
    T::Err: std::fmt::Debug,
{
    value.as_str().unwrap().parse().unwrap()
}

/// The `extensions.code` of the first error, or `<none>`.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

fn caller(subject: &str, role: Role, tenant: Option<TenantId>) -> Caller {
    Caller {
        subject: subject.to_owned(),
        role,
        tenant,
        purpose: None,
        instruction: None,
        scopes: Vec::new(),
        token_id: None,
        subprocessor: None,
    }
}

/// The platform operator, as its tokens carry it: no tenant.
pub fn platform_admin() -> Caller {
    caller("alice", Role::PlatformAdmin, None)
}

/// The platform operator acting inside one tenant for a purpose.
pub fn platform_admin_in(tenant: TenantId, purpose: Option<Purpose>) -> Caller {
    Caller {
        purpose,
        ..caller("alice", Role::PlatformAdmin, Some(tenant))
    }
}

pub fn controller_admin(tenant: TenantId) -> Caller {
    caller("bob", Role::ControllerAdmin, Some(tenant))
}

pub fn controller_user(tenant: TenantId) -> Caller {
    caller("carol", Role::ControllerUser, Some(tenant))
}

/// The processor's support staff, for a purpose, optionally bound to one instruction.
pub fn staff(
    tenant: TenantId,
    purpose: Option<Purpose>,
    instruction: Option<InstructionId>,
) -> Caller {
    Caller {
        purpose,
        instruction,
        ..caller("sam", Role::ProcessorStaff, Some(tenant))
    }
}

/// A partner subprocessor as its minted token makes it: subject and `subprocessor` its
/// id, `token_id` the recorded token's id.
pub fn partner(
    tenant: TenantId,
    sp: SubprocessorId,
    token: PartnerTokenId,
    purpose: Option<Purpose>,
    scopes: &[&str],
) -> Caller {
    Caller {
        purpose,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        token_id: Some(token),
        subprocessor: Some(sp),
        ..caller(&sp.to_string(), Role::Subprocessor, Some(tenant))
    }
}

/// What every row shares: one harness, and the subprocessors partner rows act as (made
/// active once, so no row has to move the clock by a month).
pub struct World {
    pub h: Harness,
    /// Active; most partner rows act as it.
    pub helpdesk: SubprocessorId,
    /// Active, and never named by a row's instruction.
    pub other: SubprocessorId,
    /// Announced, effective only in a year: PROPOSED throughout.
    pub pending: SubprocessorId,
    /// Active until the one row that retires it.
    pub retiring: SubprocessorId,
}

impl World {
    async fn new() -> Self {
        let h = Harness::new().await;
        remove_at_exit(h.dir.path().to_path_buf());
        let [helpdesk, other, retiring] = h
            .active_subprocessors(["Helpdesk", "Other", "Retiring"])
            .await;
        let pending = h.register_subprocessor("Pending").await;
        h.announce_subprocessor(pending, Some(h.now() + Duration::days(365)))
            .await;
        Self {
            h,
            helpdesk,
            other,
            pending,
            retiring,
        }
    }
}

/// Runs `test` on the shared runtime against the shared world. Every test of the target
/// goes through here, so they share one database (and its ledger's background tasks,
/// which live on this runtime).
pub fn run<F, Fut>(test: F)
where
    F: FnOnce(&'static World) -> Fut,
    Fut: Future<Output = ()>,
{
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    static WORLD: tokio::sync::OnceCell<World> = tokio::sync::OnceCell::const_new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    });
    runtime.block_on(async {
        let world = WORLD.get_or_init(World::new).await;
        test(world).await;
    });
}

/// The shared world lives in a static, which is never dropped: its temp dir is removed
/// when the test process exits instead.
fn remove_at_exit(dir: PathBuf) {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn remove() {
        if let Some(dir) = DIR.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    unsafe extern "C" {
        fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
    }
    if DIR.set(dir).is_ok() {
        // SAFETY: `remove` is a plain function that only touches a static set before.
        unsafe {
            atexit(remove);
        }
    }
}

//! Real clients from other ecosystems against a real server: graphql-js's introspection
//! rebuilding `schema.graphql`, the playground and cross-origin calls in headless
//! Chromium (playwright-core), and a controller's and a partner's day in Python with
//! `gql`. Each installs what it needs (npm packages pinned in `tests/js`, Debian's
//! `chromium`, a virtualenv from `examples/python/requirements.txt`); where that is not
//! possible it is skipped, loudly — except under `CUSTODIAN_REQUIRE_TOOLS=1` (CI), where
//! it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use custodian_api::auth::{Role, TokenAuthority, TokenRequest};
use custodian_api::clock::{Clock, SharedClock};
use custodian_api::config::ServeSettings;
use custodian_api::domain::TenantId;
use custodian_api::startup::Application;
use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The tool is missing and cannot be installed: a failure in CI, a loud skip elsewhere.
fn unavailable(what: &str, why: &str) {
    if std::env::var("CUSTODIAN_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("{what} is required (CUSTODIAN_REQUIRE_TOOLS=1) but unavailable: {why}");
    }
    eprintln!("SKIPPED: {what} unavailable ({why})");
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// One installation at a time (the tests of this file run in parallel).
static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `tests/js/node_modules`, from the lockfile.
fn node_packages() -> Result<PathBuf, String> {
    let _one = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let dir = repo().join("tests/js");
    let installed = dir.join("node_modules/.package-lock.json");
    let stale = match (
        installed.metadata(),
        dir.join("package-lock.json").metadata(),
    ) {
        (Ok(i), Ok(l)) => i.modified().ok() < l.modified().ok(),
        _ => true,
    };
    if stale {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir))?;
    }
    Ok(dir)
}

/// Debian's Chromium, installed if it is not there.
fn chromium() -> Result<PathBuf, String> {
    let _one = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let path = PathBuf::from("/usr/bin/chromium");
    if !path.exists() {
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    Ok(path)
}

/// A virtualenv named `name` under `target/` with the pinned `requirements` (a path in
/// the repository) installed; returns its `bin/`.
fn virtualenv(name: &str, requirements: &str) -> Result<PathBuf, String> {
    let _one = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let wanted = std::fs::read_to_string(repo().join(requirements)).map_err(|e| e.to_string())?;
    let marker = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        run(Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv))?;
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(repo().join(requirements)))?;
        std::fs::write(&marker, &wanted).map_err(|e| e.to_string())?;
    }
    Ok(venv.join("bin"))
}

/// The virtualenv of `examples/python`.
fn python() -> Result<PathBuf, String> {
    virtualenv("py-venv", "examples/python/requirements.txt").map(|bin| bin.join("python"))
}

/// A clock the test moves (a partner's subprocessor takes effect 30 days after it is
/// announced).
struct MovableClock(AtomicI64);

impl Clock for MovableClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_micros(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

/// `custodian serve` in this process (so the test moves its clock), on a free port,
/// with the embedded default.
struct Server {
    base: String,
    clock: Arc<MovableClock>,
    authority: TokenAuthority,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(cors_allowed_origins: Vec<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = ServeSettings::local(dir.path());
        settings.cors_allowed_origins = cors_allowed_origins;
        let clock = Arc::new(MovableClock(AtomicI64::new(
            chrono::Utc::now().timestamp_micros(),
        )));
        let shared: SharedClock = clock.clone();
        let app = Application::build_with_clock(settings.clone(), shared.clone())
            .await
            .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let authority = TokenAuthority::from_settings(&settings.auth, dir.path(), shared).unwrap();
        Self {
            base,
            clock,
            authority,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    fn advance_days(&self, days: i64) {
        self.clock
            .0
            .fetch_add(days * 86_400 * 1_000_000, Ordering::SeqCst);
    }

    fn token(&self, role: Role, tenant: Option<&str>, sub: &str) -> String {
        self.authority
            .mint(&TokenRequest {
                subject: sub.to_owned(),
                role,
                tenant: tenant.map(|t| TenantId::parse(t).unwrap()),
                purpose: None,
                instruction: None,
                scopes: vec![],
                ttl_seconds: 365 * 86_400,
                token_id: None,
            })
            .unwrap()
    }

    fn admin(&self) -> String {
        self.token(Role::PlatformAdmin, None, "alice")
    }

    async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        let body: Value = self
            .client
            .post(format!("{}/graphql", self.base))
            .bearer_auth(token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }

    async fn tenant(&self, name: &str) -> String {
        let data = self
            .gql(
                &self.admin(),
                "mutation($name: String!) { createTenant(input: {name: $name, jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }",
                json!({"name": name}),
            )
            .await;
        data["createTenant"]["id"].as_str().unwrap().to_owned()
    }
}

/// Runs a blocking command off the runtime's threads (the server runs on them).
async fn blocking(mut cmd: Command) -> Result<String, String> {
    tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_js_rebuilds_schema_graphql_from_its_full_introspection_query() {
    let js = match node_packages() {
        Ok(dir) => dir,
        Err(e) => return unavailable("npm (graphql-js)", &e),
    };
    let server = Server::start(vec![]).await;
    let mut cmd = Command::new("node");
    cmd.arg(js.join("introspect.mjs"))
        .arg(&server.base)
        .arg(server.admin())
        .arg(repo().join("schema.graphql"));
    let out = blocking(cmd).await.unwrap();
    let summary: Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    assert!(summary["types"].as_u64().unwrap() > 100, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_works_offline_and_browser_apps_call_only_from_allowed_origins() {
    let js = match node_packages() {
        Ok(dir) => dir,
        Err(e) => return unavailable("npm (playwright-core)", &e),
    };
    let chromium = match chromium() {
        Ok(path) => path,
        Err(e) => return unavailable("chromium", &e),
    };
    let app_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server::start(vec![format!("http://127.0.0.1:{app_port}")]).await;
    server.tenant("Playground Test Tenant").await;
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let mut cmd = Command::new("node");
    cmd.arg(js.join("browser.mjs"))
        .arg(&server.base)
        .arg(server.admin())
        .arg("Playground Test Tenant")
        .arg(app_port.to_string())
        .arg(&artifacts)
        .env("CHROMIUM", chromium);
    let out = blocking(cmd).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.contains("ok: nothing was fetched from outside the server"),
        "{out}"
    );
    assert!(artifacts.join("playground.png").exists());

    // The preflight a browser sends first, answered as the API takes requests.
    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", server.base))
        .header("origin", format!("http://127.0.0.1:{app_port}"))
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    let h = preflight.headers();
    assert_eq!(
        h["access-control-allow-origin"],
        format!("http://127.0.0.1:{app_port}").as_str()
    );
    assert!(h.get("access-control-allow-credentials").is_none());
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"));
    // Another origin's preflight is refused and names no origin.
    let other = server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", server.base))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_gql_client_runs_a_controllers_day_and_a_partners_day() {
    let python = match python() {
        Ok(p) => p,
        Err(e) => return unavailable("python gql", &e),
    };
    let server = Server::start(vec![]).await;
    let tenant = server.tenant("Acme").await;
    let admin = server.admin();
    let sp = server
        .gql(
            &admin,
            "mutation { registerSubprocessor(input: {name: \"Helpdesk\", service: \"support desk\", dataCategories: [IDENTITY, CONTACT_DETAILS], locations: [\"DE\"]}) { id } }",
            json!({}),
        )
        .await["registerSubprocessor"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .gql(
            &admin,
            "mutation($id: ID!) { announceSubprocessor(id: $id) { id } }",
            json!({"id": sp}),
        )
        .await;
    server.advance_days(31);
    let controller = server.token(Role::ControllerAdmin, Some(&tenant), "bob");
    let state = tempfile::NamedTempFile::new().unwrap();
    let day = |which: &str| {
        let mut cmd = Command::new(&python);
        cmd.arg(repo().join("examples/python/day.py"))
            .arg(which)
            .env("CUSTODIAN_URL", &server.base)
            .env("CUSTODIAN_TENANT", &tenant)
            .env("CUSTODIAN_CONTROLLER_TOKEN", &controller)
            .env("CUSTODIAN_ADMIN_TOKEN", &admin)
            .env("CUSTODIAN_SUBPROCESSOR", &sp)
            .env("CUSTODIAN_BIN", support::BIN)
            .env("CUSTODIAN_STATE", state.path());
        cmd
    };
    let out = blocking(day("controller"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let summary: Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    assert_eq!(summary["contacts"], 26, "{out}");
    assert_eq!(summary["pages"], 3, "{out}");
    let out = blocking(day("partner"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let summary: Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    assert!(summary["partnerRecords"].as_u64().unwrap() >= 3, "{out}");
}

/// schemathesis's GraphQL mode against the live schema, as a controller's admin and as a
/// platform admin: every generated operation may be refused, none may answer `INTERNAL`
/// or crash the server (`tests/fuzz/hooks.py` holds the check). Cases per operation:
/// `CUSTODIAN_FUZZ_EXAMPLES` (8 by default: about 1,250 cases in all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_graphql_finds_no_internal_error_and_no_crash() {
    let bin = match virtualenv("fuzz-venv", "tests/fuzz/requirements.txt") {
        Ok(bin) => bin,
        Err(e) => return unavailable("schemathesis", &e),
    };
    let server = Server::start(vec![]).await;
    let tenant = server.tenant("Fuzz").await;
    let examples = std::env::var("CUSTODIAN_FUZZ_EXAMPLES").unwrap_or_else(|_| "8".into());
    let fuzz = |token: &str, examples: &str, selftest: bool| {
        let mut cmd = Command::new(bin.join("st"));
        cmd.args(["run", &format!("{}/graphql", server.base)])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args([
                "-n",
                examples,
                "--phases",
                "fuzzing",
                "-c",
                "no_internal_errors",
            ])
            .args(["--no-color", "-w", "2"])
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .env("PYTHONPATH", repo().join("tests/fuzz"))
            .current_dir(repo().join("tests/fuzz"));
        if selftest {
            cmd.env("CUSTODIAN_FUZZ_SELFTEST", "1");
        }
        cmd
    };
    let controller = server.token(Role::ControllerAdmin, Some(&tenant), "bob");
    assert!(
        blocking(fuzz(&controller, "1", true)).await.is_err(),
        "the check must be able to fail"
    );
    let mut cases = 0;
    for token in [controller, server.admin()] {
        let out = blocking(fuzz(&token, &examples, false))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let generated: u64 = out
            .lines()
            .find(|l| l.contains(" generated, "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no summary in:\n{out}"));
        cases += generated;
    }
    eprintln!("schemathesis: {cases} generated cases, none INTERNAL");
    if examples == "8" {
        assert!(cases >= 1_000, "{cases} cases");
    }
    let health = server
        .client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the server is still up");
}

//! A fresh PostgreSQL database per test, laid out as in production: migrated by an owner
//! role, served by an application role that owns nothing and cannot bypass RLS.

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use tokio::sync::OnceCell;

pub const OWNER_ROLE: &str = "custodian_owner";
pub const APP_ROLE: &str = "custodian_app";

pub struct TestDatabase {
    pub owner_url: String,
    pub app_url: String,
    pub superuser_url: String,
}

fn url_for(admin_url: &str, user: Option<&str>, database: &str) -> String {
    // postgres://user@host:port/db?query → swap user and database, keep the query.
    let rest = admin_url.split_once("://").map_or(admin_url, |(_, r)| r);
    let (rest, query) = rest
        .split_once('?')
        .map_or((rest, String::new()), |(r, q)| (r, format!("?{q}")));
    let (userinfo, hostpath) = rest.split_once('@').unwrap_or(("postgres", rest));
    let host = hostpath.split('/').next().unwrap_or(hostpath);
    let user = user.unwrap_or(userinfo);
    format!("postgres://{user}@{host}/{database}{query}")
}

async fn connect(url: &str) -> Result<DatabaseConnection, String> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(std::time::Duration::from_secs(3))
        .max_connections(2)
        .sqlx_logging(false);
    Database::connect(options).await.map_err(|e| e.to_string())
}

static ROLES: OnceCell<()> = OnceCell::const_new();

/// Drops the test databases named `<prefix>_<unix time>_…` created over `max_age`
/// seconds ago (by earlier runs).
async fn drop_stale(db: &DatabaseConnection, prefix: &str, max_age: i64) -> Result<(), String> {
    let cutoff = chrono::Utc::now().timestamp() - max_age;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT datname::text AS name FROM pg_database WHERE datname LIKE '{}\\_%'",
                prefix.replace('_', "\\_")
            ),
        ))
        .await
        .map_err(|e| e.to_string())?;
    for row in rows {
        let name: String = row.try_get("", "name").map_err(|e| e.to_string())?;
        let stamp = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('_').nth(1))
            .and_then(|s| s.parse::<i64>().ok());
        if stamp.is_some_and(|s| s < cutoff) {
            let _ = db
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
    Ok(())
}

/// A fresh test database's name: `<prefix>_<unix time>_<random>`.
fn database_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        chrono::Utc::now().timestamp(),
        uuid::Uuid::new_v4().simple()
    )
}

async fn create_roles(admin: &DatabaseConnection) -> Result<(), String> {
    for sql in [
        format!("CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS"),
        format!("CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"),
    ] {
        let block = format!(
            "DO $$ BEGIN {sql}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        );
        admin
            .execute_unprepared(&block)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn ensure_roles(admin: &DatabaseConnection) -> Result<(), String> {
    ROLES
        .get_or_try_init(|| async {
            create_roles(admin).await?;
            // Test databases left by runs over an hour ago.
            drop_stale(admin, "custodian_t", 3600).await?;
            Ok::<(), String>(())
        })
        .await
        .map(|_| ())
}

pub async fn fresh_database() -> Result<TestDatabase, String> {
    let admin_url = crate::helpers::postgres_admin_url();
    let admin = connect(&admin_url).await?;
    ensure_roles(&admin).await?;
    let name = database_name("custodian_t");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name} OWNER {OWNER_ROLE}"))
        .await
        .map_err(|e| e.to_string())?;
    admin.close().await.ok();
    let owner_url = url_for(&admin_url, Some(OWNER_ROLE), &name);
    let owner = connect(&owner_url).await?;
    custodian_api::db::migrate(&owner)
        .await
        .map_err(|e| e.to_string())?;
    custodian_api::db::grant_app_role(&owner, APP_ROLE)
        .await
        .map_err(|e| e.to_string())?;
    owner.close().await.ok();
    Ok(TestDatabase {
        app_url: url_for(&admin_url, Some(APP_ROLE), &name),
        superuser_url: url_for(&admin_url, None, &name),
        owner_url,
    })
}

/// Where the Citus suite finds its coordinator (a superuser URL), if anywhere.
pub fn citus_admin_url() -> Option<String> {
    std::env::var("CUSTODIAN_CITUS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), String> {
    db.execute_unprepared(sql)
        .await
        .map(|_| ())
        .map_err(|e| format!("{sql}: {e}"))
}

/// A fresh database on a Citus cluster, laid out as `custodian migrate --citus` does: the
/// database and the extension on the coordinator and on every worker it lists (Citus does
/// not propagate `CREATE DATABASE`), the workers registered, then migrated, granted and
/// distributed by the owner.
pub async fn fresh_citus_database(admin_url: &str) -> Result<TestDatabase, String> {
    // One at a time: adding nodes to several new databases at once races on the
    // workers' shared catalogs ("tuple concurrently updated").
    static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = CREATING.lock().await;
    let admin = connect(admin_url).await?;
    let workers: Vec<(String, i32)> = admin
        .query_all_raw(sea_orm::Statement::from_string(
            admin.get_database_backend(),
            "SELECT node_name::text AS host, node_port::int AS port FROM citus_get_active_worker_nodes() ORDER BY 2",
        ))
        .await
        .map_err(|e| format!("CUSTODIAN_CITUS_URL is not a Citus coordinator with workers: {e}"))?
        .iter()
        .map(|r| Ok((r.try_get("", "host")?, r.try_get("", "port")?)))
        .collect::<Result<_, sea_orm::DbErr>>()
        .map_err(|e| e.to_string())?;
    if workers.is_empty() {
        return Err("the Citus coordinator lists no active workers".into());
    }
    let (coordinator_host, coordinator_port) = {
        let rest = admin_url.split_once('@').map_or(admin_url, |(_, r)| r);
        let hostport = rest.split('/').next().unwrap_or(rest);
        let (h, p) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
        (h.to_owned(), p.parse::<i32>().unwrap_or(5432))
    };
    let name = database_name("custodian_c");
    let user = {
        let rest = admin_url.split_once("://").map_or(admin_url, |(_, r)| r);
        rest.split_once('@')
            .map_or("postgres", |(u, _)| u)
            .to_owned()
    };
    let query = admin_url
        .split_once('?')
        .map_or(String::new(), |(_, q)| format!("?{q}"));
    let mut nodes = vec![admin_url.to_owned()];
    nodes.extend(
        workers
            .iter()
            .map(|(h, p)| format!("postgres://{user}@{h}:{p}/postgres{query}")),
    );
    // Every database on a Citus node keeps a maintenance worker: the ones earlier runs
    // left (over ten minutes old) go first, or the nodes run out of worker processes.
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    let sweep = SWEPT.get().is_none();
    for node in &nodes {
        let db = if node == admin_url {
            admin.clone()
        } else {
            connect(node).await?
        };
        if sweep {
            drop_stale(&db, "custodian_c", 600).await?;
        }
        create_roles(&db).await?;
        exec(&db, &format!("CREATE DATABASE {name} OWNER {OWNER_ROLE}")).await?;
        let fresh = connect(&url_for(node, None, &name)).await?;
        exec(&fresh, "CREATE EXTENSION citus").await?;
        fresh.close().await.ok();
    }
    let _ = SWEPT.set(());
    let coordinator = connect(&url_for(admin_url, None, &name)).await?;
    exec(
        &coordinator,
        &format!("SELECT citus_set_coordinator_host('{coordinator_host}', {coordinator_port})"),
    )
    .await?;
    for (host, port) in &workers {
        exec(
            &coordinator,
            &format!("SELECT citus_add_node('{host}', {port})"),
        )
        .await?;
    }
    // Citus counts the server's single- and multi-shard statements (the routing test
    // reads `citus_stat_counters`).
    exec(
        &coordinator,
        &format!("ALTER DATABASE {name} SET citus.enable_stat_counters = on"),
    )
    .await?;
    coordinator.close().await.ok();
    let owner_url = url_for(admin_url, Some(OWNER_ROLE), &name);
    let owner = connect(&owner_url).await?;
    custodian_api::db::migrate(&owner)
        .await
        .map_err(|e| e.to_string())?;
    custodian_api::db::grant_app_role(&owner, APP_ROLE)
        .await
        .map_err(|e| e.to_string())?;
    custodian_api::citus::distribute(&owner)
        .await
        .map_err(|e| e.to_string())?;
    owner.close().await.ok();
    Ok(TestDatabase {
        app_url: url_for(admin_url, Some(APP_ROLE), &name),
        superuser_url: url_for(admin_url, None, &name),
        owner_url,
    })
}

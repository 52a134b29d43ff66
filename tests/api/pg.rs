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
    // postgres://user@host:port/db → swap user and database.
    let rest = admin_url.split_once("://").map_or(admin_url, |(_, r)| r);
    let (userinfo, hostpath) = rest.split_once('@').unwrap_or(("postgres", rest));
    let host = hostpath.split('/').next().unwrap_or(hostpath);
    let user = user.unwrap_or(userinfo);
    format!("postgres://{user}@{host}/{database}")
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

async fn ensure_roles(admin: &DatabaseConnection) -> Result<(), String> {
    ROLES
        .get_or_try_init(|| async {
            for sql in [
                format!("CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS"),
                format!("CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"),
            ] {
                let block = format!(
                    "DO $$ BEGIN {sql}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
                );
                admin.execute_unprepared(&block).await.map_err(|e| e.to_string())?;
            }
            // Test databases left by runs over an hour ago.
            let cutoff = chrono::Utc::now().timestamp() - 3600;
            let rows = admin
                .query_all_raw(sea_orm::Statement::from_string(
                    admin.get_database_backend(),
                    "SELECT datname FROM pg_database WHERE datname LIKE 'custodian\\_t\\_%'",
                ))
                .await
                .map_err(|e| e.to_string())?;
            for row in rows {
                let name: String = row.try_get("", "datname").map_err(|e| e.to_string())?;
                let stamp = name.split('_').nth(2).and_then(|s| s.parse::<i64>().ok());
                if stamp.is_some_and(|s| s < cutoff) {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            }
            Ok::<(), String>(())
        })
        .await
        .map(|_| ())
}

pub async fn fresh_database() -> Result<TestDatabase, String> {
    let admin_url = crate::helpers::postgres_admin_url();
    let admin = connect(&admin_url).await?;
    ensure_roles(&admin).await?;
    let name = format!(
        "custodian_t_{}_{}",
        chrono::Utc::now().timestamp(),
        uuid::Uuid::new_v4().simple()
    );
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

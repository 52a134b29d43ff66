//! Layer 2 of isolation (PostgreSQL): row-level security holds even where the application
//! layer is bypassed. These tests talk SQL directly as the application role.

use custodian_api::config::ServeSettings;
use custodian_api::domain::TenantId;
use custodian_api::startup::Application;
use entities::contact;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait, Statement};
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::pg::{APP_ROLE, OWNER_ROLE};

macro_rules! postgres_only {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                if let Some(app) = TestApp::spawn(Backend::Postgres).await {
                    tests::$name(app).await;
                }
            }
        )*
    };
}

postgres_only!(
    the_catalog_shows_every_tenant_table_forced_under_a_policy,
    the_application_role_sees_nothing_without_a_tenant_and_only_its_tenant_with_one,
    a_pool_of_one_connection_never_carries_a_tenant_into_the_next_request,
    an_unscoped_orm_query_still_returns_only_the_current_tenants_rows,
    a_reading_transaction_writes_nothing_and_ends_without_leaving_its_connection_in_it,
    the_server_refuses_roles_that_bypass_row_level_security,
);

async fn sql(
    db: &DatabaseConnection,
    q: &str,
) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, q.to_owned()))
        .await
}

async fn one_i64(db: &DatabaseConnection, q: &str) -> i64 {
    let rows = sql(db, q).await.unwrap();
    rows[0].try_get_by_index::<i64>(0).unwrap()
}

/// Two tenants with two and three contacts, created through the API.
async fn two_tenants(app: &TestApp) -> (String, String) {
    let (a, a_token) = app.tenant_with_token("A").await;
    let (b, b_token) = app.tenant_with_token("B").await;
    for i in 0..2 {
        app.create_contact(&a_token, json!({"firstName": format!("a{i}")}))
            .await;
    }
    for i in 0..3 {
        app.create_contact(&b_token, json!({"firstName": format!("b{i}")}))
            .await;
    }
    (a, b)
}

mod tests {
    use super::*;

    pub async fn the_catalog_shows_every_tenant_table_forced_under_a_policy(app: TestApp) {
        let su = Database::connect(app.superuser_url.as_deref().unwrap())
            .await
            .unwrap();
        let tables = sql(
            &su,
            "SELECT c.relname::text AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced, \
             (SELECT COUNT(*) FROM pg_policy p WHERE p.polrelid = c.oid)::bigint AS policies, \
             pg_get_userbyid(c.relowner)::text AS owner \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped \
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')",
        )
        .await
        .unwrap();
        assert!(tables.len() >= 2, "contacts and appointments at least");
        for t in &tables {
            let name: String = t.try_get("", "name").unwrap();
            assert!(t.try_get::<bool>("", "rls").unwrap(), "{name}: RLS enabled");
            assert!(
                t.try_get::<bool>("", "forced").unwrap(),
                "{name}: RLS forced"
            );
            assert!(
                t.try_get::<i64>("", "policies").unwrap() >= 1,
                "{name}: has a policy"
            );
            assert_eq!(
                t.try_get::<String>("", "owner").unwrap(),
                OWNER_ROLE,
                "{name}: owned by the owner role"
            );
            // The policy covers reads and writes.
            let policy = sql(&su, &format!(
                "SELECT pg_get_expr(polqual, polrelid) AS q, pg_get_expr(polwithcheck, polrelid) AS w, polcmd::text AS cmd \
                 FROM pg_policy WHERE polrelid = 'public.{name}'::regclass AND polname = 'tenant_isolation'"
            )).await.unwrap();
            // Any other policy only widens reads (the platform's view of objections).
            let others = sql(&su, &format!(
                "SELECT polcmd::text AS cmd FROM pg_policy WHERE polrelid = 'public.{name}'::regclass AND polname <> 'tenant_isolation'"
            )).await.unwrap();
            for o in &others {
                assert_eq!(
                    o.try_get::<String>("", "cmd").unwrap(),
                    "r",
                    "{name}: extra policies are SELECT-only"
                );
            }
            let p = &policy[0];
            assert_eq!(
                p.try_get::<String>("", "cmd").unwrap(),
                "*",
                "{name}: one policy for every command"
            );
            assert!(
                p.try_get::<String>("", "q")
                    .unwrap()
                    .contains("app.tenant_id")
            );
            assert!(
                p.try_get::<String>("", "w")
                    .unwrap()
                    .contains("app.tenant_id")
            );
        }
        let role = sql(
            &su,
            &format!("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = '{APP_ROLE}'"),
        )
        .await
        .unwrap();
        assert!(!role[0].try_get::<bool>("", "rolsuper").unwrap());
        assert!(!role[0].try_get::<bool>("", "rolbypassrls").unwrap());
        let owned = one_i64(&su, &format!(
            "SELECT COUNT(*)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = '{APP_ROLE}'"
        )).await;
        assert_eq!(owned, 0, "the application role owns nothing");
        let definer = one_i64(
            &su,
            "SELECT COUNT(*)::bigint FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'public' AND p.prosecdef",
        )
        .await;
        assert_eq!(
            definer, 0,
            "no SECURITY DEFINER function can read past the policies"
        );
        let owner_rights_views = one_i64(
            &su,
            "SELECT COUNT(*)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm') \
             AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), false)",
        )
        .await;
        assert_eq!(
            owner_rights_views, 0,
            "no view runs with its owner's rights"
        );
        let truncate = one_i64(
            &su,
            &format!(
                "SELECT COUNT(*)::bigint FROM unnest(ARRAY['contacts','appointments','tenants']) t \
             WHERE has_table_privilege('{APP_ROLE}', 'public.' || t, 'TRUNCATE')"
            ),
        )
        .await;
        assert_eq!(truncate, 0, "TRUNCATE ignores RLS and is not granted");
    }

    pub async fn the_application_role_sees_nothing_without_a_tenant_and_only_its_tenant_with_one(
        app: TestApp,
    ) {
        let (a, b) = two_tenants(&app).await;
        let db = Database::connect(app.app_url.as_deref().unwrap())
            .await
            .unwrap();
        assert_eq!(
            one_i64(&db, "SELECT COUNT(*) FROM contacts").await,
            0,
            "no tenant, no rows"
        );
        assert_eq!(
            db.execute_unprepared("UPDATE contacts SET first_name = 'x'")
                .await
                .unwrap()
                .rows_affected(),
            0
        );
        assert_eq!(
            db.execute_unprepared("DELETE FROM contacts")
                .await
                .unwrap()
                .rows_affected(),
            0
        );
        assert!(db.execute_unprepared("TRUNCATE contacts").await.is_err());
        // Runs `stmt` in a transaction with the tenant set; rolls back either way.
        let attempt = |tenant: String, stmt: String| {
            let db = db.clone();
            async move {
                let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
                custodian_api::tenancy::pin(&txn, tenant.parse().unwrap())
                    .await
                    .unwrap();
                let result = txn
                    .execute_unprepared(&stmt)
                    .await
                    .map(|r| r.rows_affected());
                txn.rollback().await.unwrap();
                result
            }
        };
        let tx_count = |tenant: String| {
            let db = db.clone();
            async move {
                let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
                if tenant.is_empty() {
                    // Set, but empty: what a reset local setting reads as.
                    txn.execute_unprepared("SET LOCAL app.tenant_id = ''")
                        .await
                        .unwrap();
                } else {
                    custodian_api::tenancy::pin(&txn, tenant.parse().unwrap())
                        .await
                        .unwrap();
                }
                let row = txn
                    .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE tenant_id <> current_setting('app.tenant_id')::uuid) AS foreign FROM contacts"))
                    .await
                    .unwrap()
                    .unwrap();
                txn.commit().await.unwrap();
                (
                    row.try_get::<i64>("", "n").unwrap(),
                    row.try_get::<i64>("", "foreign").unwrap(),
                )
            }
        };
        assert_eq!(tx_count(a.clone()).await, (2, 0));
        assert_eq!(tx_count(b.clone()).await, (3, 0));
        // Writing a row for B while A is set is refused by WITH CHECK.
        let insert_for_b = attempt(
            a.clone(),
            format!(
                "INSERT INTO contacts (tenant_id, id, first_name, last_name, emails, phones, addresses, custom_fields, tags, source, \
             marketing_email, marketing_sms, marketing_phone, opt_out_sale, opt_out_sharing, search_text, version, created_at, updated_at) \
             VALUES ('{b}', gen_random_uuid(), 'x', 'y', '[]', '[]', '[]', '{{}}', '[]', 'DIRECT', 'UNKNOWN', 'UNKNOWN', 'UNKNOWN', false, false, '', 1, now(), now())"
            ),
        );
        let err = insert_for_b.await.unwrap_err().to_string();
        assert!(err.contains("row-level security"), "{err}");
        // Moving A's row to B is refused as well; B's rows cannot even be addressed.
        let steal = attempt(a.clone(), format!("UPDATE contacts SET tenant_id = '{b}'")).await;
        assert!(
            steal
                .unwrap_err()
                .to_string()
                .contains("row-level security")
        );
        let touch_b = attempt(
            a.clone(),
            format!("UPDATE contacts SET first_name = 'x' WHERE tenant_id = '{b}'"),
        )
        .await;
        assert_eq!(touch_b.unwrap(), 0);
        // Set but empty (what a reset local setting reads as) fails closed, without error.
        assert_eq!(tx_count(String::new()).await, (0, 0));
        assert_eq!(
            app.count_rows("contacts").await,
            5,
            "nothing was written or moved"
        );
    }

    pub async fn a_pool_of_one_connection_never_carries_a_tenant_into_the_next_request(
        app: TestApp,
    ) {
        let (a, b) = two_tenants(&app).await;
        // A second server on the same database whose requests have exactly one pooled
        // connection (one HTTP worker, whose pool serves them).
        let dir = tempfile::tempdir().unwrap();
        let mut settings = ServeSettings::local(dir.path());
        settings.storage.database_url = Some(app.app_url.clone().unwrap().into());
        settings.storage.db_pool_size = 1;
        settings.http_workers = 1;
        let server = Application::build(settings.clone()).await.unwrap();
        let base = format!("http://127.0.0.1:{}", server.port());
        let pools = server.worker_pools();
        tokio::spawn(server.run_until_stopped());
        let authority = custodian_api::auth::TokenAuthority::from_settings(
            &settings.auth,
            dir.path(),
            std::sync::Arc::new(custodian_api::clock::SystemClock),
        )
        .unwrap();
        let token = |tenant: &str| {
            authority
                .mint(&custodian_api::auth::TokenRequest {
                    subject: "bob".into(),
                    role: custodian_api::auth::Role::ControllerUser,
                    tenant: Some(TenantId::parse(tenant).unwrap()),
                    purpose: None,
                    instruction: None,
                    scopes: vec![],
                    ttl_seconds: 600,
                    token_id: None,
                })
                .unwrap()
        };
        let (ta, tb) = (token(&a), token(&b));
        let client = reqwest::Client::new();
        for round in 0..10 {
            for (t, prefix, n) in [(&ta, "a", 2), (&tb, "b", 3)] {
                let body: serde_json::Value = client
                    .post(format!("{base}/graphql"))
                    .bearer_auth(t)
                    .json(&json!({"query": "{ contacts { totalCount nodes { firstName } } }"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(
                    body["data"]["contacts"]["totalCount"], n,
                    "round {round}: {body}"
                );
                for node in body["data"]["contacts"]["nodes"].as_array().unwrap() {
                    assert!(
                        node["firstName"].as_str().unwrap().starts_with(prefix),
                        "round {round}: a row crossed tenants"
                    );
                }
            }
            // A tenantless use of the very same connection sees nothing.
            let serving = pools.serving();
            assert_eq!(serving.len(), 1, "one worker, one pool");
            let pool = &serving[0];
            let opened = pool.get_postgres_connection_pool();
            assert_eq!(opened.options().get_max_connections(), 1);
            // Before this test's own statements below: the requests opened it.
            assert_eq!(opened.size(), 1, "round {round}: no request used this pool");
            assert_eq!(
                one_i64(pool, "SELECT COUNT(*) FROM contacts").await,
                0,
                "round {round}"
            );
            let setting = sql(
                pool,
                "SELECT coalesce(current_setting('app.tenant_id', true), '') AS s",
            )
            .await
            .unwrap();
            assert_eq!(
                setting[0].try_get::<String>("", "s").unwrap(),
                "",
                "round {round}"
            );
        }
    }

    pub async fn an_unscoped_orm_query_still_returns_only_the_current_tenants_rows(app: TestApp) {
        let (a, _b) = two_tenants(&app).await;
        let tx = custodian_api::tenancy::begin_pinned(
            &app.db,
            TenantId::parse(&a).unwrap(),
            custodian_api::tenancy::Mode::Read,
        )
        .await
        .unwrap();
        // Deliberately no tenant filter: what a buggy resolver would write.
        let rows = contact::Entity::find().all(&tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.tenant_id.to_string() == a));
        // And with no tenant at all, the same query returns nothing.
        assert!(
            contact::Entity::find()
                .all(&app.db)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn a_reading_transaction_writes_nothing_and_ends_without_leaving_its_connection_in_it(
        app: TestApp,
    ) {
        use custodian_api::domain::instruction::AccessOperation;
        use custodian_api::ledger::{Ledger, ResourceType};
        use custodian_api::policy::{self, Access, RequestCtx};
        let (a, _b) = two_tenants(&app).await;
        let caller = custodian_api::auth::Caller {
            subject: "bob".into(),
            role: custodian_api::auth::Role::ControllerAdmin,
            tenant: Some(TenantId::parse(&a).unwrap()),
            purpose: None,
            instruction: None,
            scopes: Vec::new(),
            token_id: None,
            subprocessor: None,
        };
        let ledger = Ledger::disabled();
        let ctx = RequestCtx::new(&app.db, &ledger, Some(&caller), None, chrono::Utc::now());
        let access =
            |operation| Access::new(operation, ResourceType::Contact, vec!["firstName".into()]);
        let write = "UPDATE contacts SET first_name = 'changed'";
        // The gate begins an access that only reads read-only: whatever a buggy service
        // tries in it cannot write. A write access's transaction can (rolled back here).
        let tx = policy::begin(&ctx, access(AccessOperation::Read))
            .await
            .unwrap();
        let err = tx.execute_unprepared(write).await.unwrap_err().to_string();
        assert!(err.contains("read-only transaction"), "{err}");
        drop(tx);
        let tx = policy::begin(&ctx, access(AccessOperation::Write))
            .await
            .unwrap();
        assert_eq!(
            tx.execute_unprepared(write).await.unwrap().rows_affected(),
            2
        );
        drop(tx);
        // A read ends without waiting for a commit: the rollback follows the connection
        // back to the pool, and no connection stays inside the transaction.
        let tx = policy::begin(&ctx, access(AccessOperation::Read))
            .await
            .unwrap();
        assert_eq!(contact::Entity::find().all(&*tx).await.unwrap().len(), 2);
        tx.commit().await.unwrap();
        let admin = Database::connect(app.superuser_url.clone().unwrap())
            .await
            .unwrap();
        let stuck = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND state LIKE 'idle in transaction%'";
        let mut left = i64::MAX;
        for _ in 0..50 {
            left = one_i64(&admin, stuck).await;
            if left == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            left, 0,
            "a connection was left inside the read's transaction"
        );
        assert_eq!(
            one_i64(
                &admin,
                "SELECT COUNT(*) FROM contacts WHERE first_name = 'changed'"
            )
            .await,
            0
        );
    }

    pub async fn the_server_refuses_roles_that_bypass_row_level_security(app: TestApp) {
        for url in [
            app.superuser_url.clone().unwrap(),
            app.owner_url.clone().unwrap(),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut settings = ServeSettings::local(dir.path());
            settings.storage.database_url = Some(url.into());
            let err = Application::build(settings)
                .await
                .err()
                .expect("refused")
                .to_string();
            assert!(err.contains("refusing to serve"), "{err}");
        }
    }
}

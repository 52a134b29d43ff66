//! Offboarding, on SQLite and PostgreSQL: the return export, confirmation or deadline,
//! the deletion of every row, the signed certificate, and the tokens refused after.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    offboarding_returns_everything_then_leaves_no_row_and_a_certificate_that_verifies,
);

/// Completes the offboarding as `custodian offboard complete` does, connected as `url`
/// (PostgreSQL) or on the server's own SQLite file, signing with the server's key.
async fn complete_as(
    app: &TestApp,
    url: Option<&str>,
    tenant: &str,
) -> Result<entities::offboarding::Model, custodian_api::error::ServiceError> {
    let db = match url {
        Some(url) => sea_orm::Database::connect(url).await.unwrap(),
        None => app.db.clone(),
    };
    let signer = custodian_api::signing::Signer::load(
        &app._data_dir.path().join(custodian_api::signing::KEY_FILE),
    )
    .unwrap();
    let ledger = custodian_api::ledger::Ledger::for_jobs();
    let ctx = custodian_api::policy::RequestCtx::for_job(
        &db,
        &ledger,
        "custodian-offboard",
        app.clock.now_chrono(),
    );
    let tenant = custodian_api::domain::TenantId::parse(tenant).unwrap();
    custodian_api::service::offboarding::complete(&ctx, &signer, tenant).await
}

/// Rows of `tenant` in every table that holds tenants' rows, as stored.
async fn rows_of(app: &TestApp, tenant: &str) -> Vec<(String, i64)> {
    let (db, postgres) = match &app.superuser_url {
        Some(url) => (sea_orm::Database::connect(url).await.unwrap(), true),
        None => (app.db.clone(), false),
    };
    let backend = db.get_database_backend();
    let tables: Vec<String> = db
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            if postgres {
                "SELECT table_name::text AS t FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'tenant_id'"
            } else {
                "SELECT m.name AS t FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = 'tenant_id'"
            },
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("", "t").unwrap())
        .collect();
    assert!(tables.len() >= 19, "{tables:?}");
    let id = uuid::Uuid::parse_str(tenant).unwrap();
    let mut out = Vec::new();
    for table in tables.iter().map(String::as_str).chain(["tenants"]) {
        let column = if table == "tenants" {
            "id"
        } else {
            "tenant_id"
        };
        let n: i64 = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = $1"),
                [id.into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "n")
            .unwrap();
        out.push((table.to_owned(), n));
    }
    out
}

async fn offboarding_returns_everything_then_leaves_no_row_and_a_certificate_that_verifies(
    app: TestApp,
) {
    let admin = app.admin_token();
    let (acme, bob) = app.tenant_with_token("Acme").await;
    let (_, carol) = app.tenant_with_token("Beta").await;
    let ada = app
        .create_contact(
            &bob,
            json!({"firstName": "Ada", "emails": [{"address": "ada@example.com"}]}),
        )
        .await["id"]
        .clone();
    app.gql_ok(&bob, "mutation($c: ID!) { createAppointment(input: {contactId: $c, startsAt: \"2026-12-01T10:00:00Z\", endsAt: \"2026-12-01T11:00:00Z\", title: \"T\"}) { id } }", json!({"c": ada})).await;
    app.gql_ok(
        &bob,
        "mutation($c: ID!) { placeLegalHold(input: {contactId: $c, reason: CONTRACT}) { id } }",
        json!({"c": ada}),
    )
    .await;
    app.gql_ok(
        &bob,
        "mutation { setRetentionPolicy(rule: CONTACTS_AFTER_LAST_UPDATE, months: 36) { id } }",
        json!({}),
    )
    .await;
    app.gql_ok(&bob, "mutation($c: ID!) { openPrivacyRequest(input: {kind: ACCESS, regime: GDPR, subject: {contactIds: [$c]}}) { id } }", json!({"c": ada})).await;
    let theirs = app.create_contact(&carol, json!({"firstName": "Cy"})).await["id"].clone();
    let before = rows_of(&app, &acme).await;
    assert!(before.iter().any(|(t, n)| t == "contacts" && *n == 1));
    // Only the platform admin starts it, within sane bounds.
    let start = "mutation($t: ID!, $d: Int) { startOffboarding(tenantId: $t, confirmationDays: $d) { status exportSha256 deadlineAt } }";
    assert_eq!(
        error_code(
            &app.gql(Some(&bob), start, json!({"t": acme, "d": 30}))
                .await
        ),
        "FORBIDDEN"
    );
    let zero = app
        .gql(Some(&admin), start, json!({"t": acme, "d": 0}))
        .await;
    assert_eq!(zero["errors"][0]["extensions"]["field"], "confirmationDays");
    let unknown = app
        .gql(
            Some(&admin),
            start,
            json!({"t": uuid::Uuid::now_v7().to_string(), "d": 30}),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    let started =
        app.gql_ok(&admin, start, json!({"t": acme, "d": 30})).await["startOffboarding"].clone();
    assert_eq!(started["status"], "STARTED");
    assert_eq!(
        error_code(
            &app.gql(Some(&admin), start, json!({"t": acme, "d": 30}))
                .await
        ),
        "CONFLICT"
    );
    // Nothing new is added meanwhile.
    let added = app
        .gql(
            Some(&bob),
            "mutation { createContact(input: {firstName: \"Late\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&added), "FORBIDDEN");
    assert_eq!(
        added["errors"][0]["message"],
        "the tenant is being offboarded: nothing new is added"
    );
    // Not before the controller confirms or the deadline passes.
    assert!(
        complete_as(&app, app.owner_url.as_deref(), &acme)
            .await
            .is_err_and(|e| matches!(e, custodian_api::error::ServiceError::Conflict(_))),
        "not before confirmation or deadline"
    );
    // The controller downloads everything back, recorded, and confirms receipt.
    let export = app
        .gql_ok(
            &bob,
            "query($t: ID!) { returnExport(tenantId: $t) { sha256 content } }",
            json!({"t": acme}),
        )
        .await["returnExport"]
        .clone();
    assert_eq!(export["sha256"], started["exportSha256"]);
    let doc: Value = serde_json::from_str(export["content"].as_str().unwrap()).unwrap();
    assert_eq!(doc["tables"]["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(doc["tables"]["appointments"].as_array().unwrap().len(), 1);
    assert_eq!(
        doc["tables"]["privacy_requests"].as_array().unwrap().len(),
        1
    );
    assert!(
        doc["tables"]["processing_instructions"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    );
    assert!(
        doc["ledger"].as_str().unwrap().lines().count() >= 2,
        "the ledger comes back too"
    );
    assert!(
        export["content"]
            .as_str()
            .unwrap()
            .contains("ada@example.com")
    );
    let other = app
        .gql(
            Some(&carol),
            "query($t: ID!) { returnExport(tenantId: $t) { sha256 } }",
            json!({"t": acme}),
        )
        .await;
    assert!(
        other["errors"].is_array(),
        "another controller gets nothing: {other}"
    );
    app.gql_ok(
        &bob,
        "mutation { confirmOffboardingReceipt { status confirmedAt } }",
        json!({}),
    )
    .await;
    // The server's own role cannot erase a ledger (PostgreSQL); the operator completes
    // it as the owner, as `custodian offboard complete` does.
    if app.app_url.is_some() {
        let refused = complete_as(&app, app.app_url.as_deref(), &acme).await;
        assert!(refused.is_err(), "the application role erased a ledger");
        assert!(
            rows_of(&app, &acme)
                .await
                .iter()
                .any(|(t, n)| t == "contacts" && *n > 0),
            "and nothing was deleted"
        );
    }
    let done = complete_as(&app, app.owner_url.as_deref(), &acme)
        .await
        .unwrap();
    assert_eq!(done.status, "COMPLETED");
    let done = json!({"status": done.status, "certificate": done.certificate});
    // Zero rows of the tenant in every table, on both backends.
    for (table, n) in rows_of(&app, &acme).await {
        assert_eq!(n, 0, "{table} still holds {n} of the tenant's rows");
    }
    // An appender that reaches the tenant only now (a sealer pass scheduled before the
    // erasure) finds no head and leaves none behind.
    let gone = custodian_api::domain::TenantId::parse(&acme).unwrap();
    custodian_api::ledger::committer::append(&app.db, gone, &[])
        .await
        .unwrap();
    for (table, n) in rows_of(&app, &acme).await {
        assert_eq!(
            n, 0,
            "{table} holds {n} rows of the erased tenant after a late append"
        );
    }
    // The certificate says what was deleted, and verifies offline; altered, it does not.
    let certificate = done["certificate"].as_str().unwrap();
    let key = app.signing_key().await;
    let key = key["publicKey"].as_str().unwrap();
    let (kind, body) = custodian_api::signing::verify(certificate, key).unwrap();
    assert_eq!(kind, "custodian.deletion-certificate.v1");
    assert_eq!(body["tenantId"], acme);
    assert_eq!(body["rowsDeleted"]["contacts"], 1);
    assert_eq!(body["rowsDeleted"]["appointments"], 1);
    assert!(
        body["rowsDeleted"]["access_records"].as_i64().unwrap()
            + body["rowsDeleted"]["access_pending"].as_i64().unwrap()
            >= 3
    );
    assert!(body["ledgerHeadBeforeDeletion"]["seq"].as_i64().unwrap() >= 1);
    assert_eq!(body["returnExportSha256"], started["exportSha256"]);
    let altered = certificate.replace("\"contacts\":1", "\"contacts\":0");
    assert!(custodian_api::signing::verify(&altered, key).is_err());
    // Its tokens are refused (every server reads who was offboarded within a minute);
    // the other tenant is untouched.
    app.clock.advance(61);
    let refused = app
        .gql(Some(&bob), "{ contacts { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");
    app.gql_ok(
        &carol,
        "query($id: ID!) { contact(id: $id) { id } }",
        json!({"id": theirs}),
    )
    .await;
    assert_eq!(app.verify_log(&carol).await["valid"], true);
    let status = app
        .gql_ok(
            &admin,
            "query($t: ID!) { offboarding(tenantId: $t) { status completedAt } }",
            json!({"t": acme}),
        )
        .await;
    assert_eq!(status["offboarding"]["status"], "COMPLETED");
}

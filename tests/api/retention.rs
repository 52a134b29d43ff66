//! Retention policies and the purge, on SQLite and PostgreSQL: exact expiry, holds,
//! dry runs equal to runs, and what the ledger says of it.

use chrono::{DateTime, Duration, Months, Utc};
use custodian_api::ledger::Ledger;
use custodian_api::policy::RequestCtx;
use custodian_api::service::retention::{PURGE_JOB, PurgeOptions, PurgeSummary, purge};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    expiry_is_exact_at_the_boundary_and_holds_override_retention,
    a_dry_run_reports_exactly_what_the_run_removes,
    bad_retention_periods_are_refused_and_change_nothing,
    a_tenant_under_offboarding_is_not_purged_in_parts,
);

async fn run(app: &TestApp, at: DateTime<Utc>, options: PurgeOptions) -> PurgeSummary {
    let ledger = Ledger::for_jobs();
    let ctx = RequestCtx::for_job(&app.db, &ledger, PURGE_JOB, at);
    purge(&ctx, options).await.unwrap()
}

fn removed(summary: &PurgeSummary, rule: &str) -> Vec<String> {
    let mut ids: Vec<String> = summary
        .outcomes
        .iter()
        .filter(|o| o.rule == rule)
        .flat_map(|o| o.ids.iter().map(|i| i.to_string()))
        .collect();
    ids.sort();
    ids
}

async fn set(app: &TestApp, token: &str, rule: &str, months: i32) -> Value {
    app.gql(
        Some(token),
        "mutation($r: RetentionRule!, $m: Int!) { setRetentionPolicy(rule: $r, months: $m) { id rule months } }",
        json!({"r": rule, "m": months}),
    )
    .await
}

async fn id_of(app: &TestApp, token: &str, input: Value) -> String {
    app.create_contact(token, input).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn expiry_is_exact_at_the_boundary_and_holds_override_retention(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let policy =
        set(&app, &bob, "CONTACTS_AFTER_LAST_UPDATE", 36).await["data"]["setRetentionPolicy"]
            .clone();
    let t0 = app.clock.now_chrono();
    let old = id_of(&app, &bob, json!({"firstName": "Old"})).await;
    let held = id_of(&app, &bob, json!({"firstName": "Held"})).await;
    app.gql_ok(&bob, "mutation($c: ID!) { placeLegalHold(input: {contactId: $c, reason: LEGAL_OBLIGATION}) { id } }", json!({"c": held})).await;
    app.clock.advance(400 * 86_400);
    // A fresh token: a year on, the first has expired.
    let bob = app.controller_token(&tenant);
    let recent = id_of(&app, &bob, json!({"firstName": "Recent"})).await;
    let boundary = t0.checked_add_months(Months::new(36)).unwrap();
    // Exactly 36 months after the last update: not yet expired.
    let at_boundary = run(&app, boundary, PurgeOptions::default()).await;
    assert!(removed(&at_boundary, "CONTACTS_AFTER_LAST_UPDATE").is_empty());
    // A moment later it is; the held contact stays, and so does the recent one.
    let after = run(
        &app,
        boundary + Duration::seconds(1),
        PurgeOptions::default(),
    )
    .await;
    assert_eq!(
        removed(&after, "CONTACTS_AFTER_LAST_UPDATE"),
        vec![old.clone()]
    );
    assert_eq!(after.outcomes[0].kept_by_holds, 1);
    for (id, there) in [(&old, false), (&held, true), (&recent, true)] {
        let body = app
            .gql(
                Some(&bob),
                "query($id: ID!) { contact(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(body["data"]["contact"].is_object(), there, "{id}: {body}");
    }
    // The ledger says who removed what, under which instruction: ids only.
    let log = app.access_log(&bob).await;
    let purged: Vec<&Value> = log.iter().filter(|r| r["actorKind"] == "SYSTEM").collect();
    assert_eq!(purged.len(), 1, "{log:?}");
    assert_eq!(purged[0]["operation"], "ERASE");
    assert_eq!(purged[0]["actorId"], PURGE_JOB);
    assert_eq!(purged[0]["purpose"], "RETENTION");
    assert_eq!(purged[0]["instructionId"], policy["id"]);
    assert_eq!(purged[0]["resourceIds"], json!([old]));
    assert_eq!(app.verify_log(&bob).await["valid"], true);
    let reports = app
        .gql_ok(
            &bob,
            "{ purgeReports { rule removed keptByHolds cutoff } retentionPolicies { id months } }",
            json!({}),
        )
        .await;
    let removed_counts: Vec<i64> = reports["purgeReports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["removed"].as_i64().unwrap())
        .collect();
    assert_eq!(removed_counts.iter().sum::<i64>(), 1);
    assert_eq!(reports["retentionPolicies"][0]["months"], 36);
    // Released, the hold no longer keeps it.
    let hold = app
        .gql_ok(
            &bob,
            "query($c: ID) { legalHolds(contactId: $c) { id } }",
            json!({"c": held}),
        )
        .await["legalHolds"][0]["id"]
        .clone();
    app.gql_ok(
        &bob,
        "mutation($id: ID!) { releaseLegalHold(id: $id) { id } }",
        json!({"id": hold}),
    )
    .await;
    let later = run(&app, boundary + Duration::days(1), PurgeOptions::default()).await;
    assert_eq!(removed(&later, "CONTACTS_AFTER_LAST_UPDATE"), vec![held]);
    // A removed policy's instruction is revoked: the purge no longer acts for it.
    app.gql_ok(
        &bob,
        "mutation($id: ID!) { removeRetentionPolicy(id: $id) }",
        json!({"id": policy["id"]}),
    )
    .await;
    let none = run(
        &app,
        boundary + Duration::days(3000),
        PurgeOptions::default(),
    )
    .await;
    assert!(none.outcomes.is_empty());
    let instruction = app
        .gql_ok(
            &bob,
            "query($id: ID!) { instruction(id: $id) { purpose actorKinds revokedAt } }",
            json!({"id": policy["id"]}),
        )
        .await;
    assert_eq!(instruction["instruction"]["purpose"], "RETENTION");
    assert_eq!(instruction["instruction"]["actorKinds"], json!(["SYSTEM"]));
    assert!(instruction["instruction"]["revokedAt"].is_string());
}

async fn a_dry_run_reports_exactly_what_the_run_removes(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let (_, carol) = app.tenant_with_token("Other").await;
    for (token, rule, months) in [
        (&bob, "CONTACTS_AFTER_LAST_UPDATE", 36),
        (&bob, "IMPORTED_NEVER_USED", 12),
        (&bob, "APPOINTMENTS_AFTER_END", 24),
        (&carol, "CONTACTS_AFTER_LAST_UPDATE", 60),
    ] {
        let body = set(&app, token, rule, months).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let imported = app
        .gql_ok(&bob, "mutation { importContacts(contacts: [{firstName: \"I1\"}, {firstName: \"I2\"}, {firstName: \"I3\"}, {firstName: \"I4\"}]) { ids } }", json!({}))
        .await["importContacts"]["ids"]
        .clone();
    let i = |n: usize| imported[n].as_str().unwrap().to_owned();
    // I2 was used since (updated), I3 has an appointment: only I1 and I4 are unused.
    app.gql_ok(&bob, "mutation($id: ID!) { updateContact(id: $id, input: {lastName: \"U\"}, expectedVersion: 1) { id } }", json!({"id": i(1)})).await;
    let direct = id_of(&app, &bob, json!({"firstName": "Direct"})).await;
    let mut appointments = Vec::new();
    for c in [i(2), direct.clone()] {
        let id = app
            .gql_ok(&bob, "mutation($c: ID!) { createAppointment(input: {contactId: $c, startsAt: \"2026-01-01T10:00:00Z\", endsAt: \"2026-01-01T11:00:00Z\", title: \"Old\"}) { id } }", json!({"c": c}))
            .await["createAppointment"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        appointments.push(id);
    }
    let foreign = id_of(&app, &carol, json!({"firstName": "Theirs"})).await;
    let at = app.clock.now_chrono() + Duration::days(400);
    let dry = run(
        &app,
        at,
        PurgeOptions {
            dry_run: true,
            ..PurgeOptions::default()
        },
    )
    .await;
    assert!(dry.dry_run);
    assert_eq!((dry.worked_seconds, dry.rested_seconds), (0.0, 0.0));
    let mut unused = vec![i(0), i(3)];
    unused.sort();
    assert_eq!(removed(&dry, "IMPORTED_NEVER_USED"), unused);
    let mut old_appointments = appointments.clone();
    old_appointments.sort();
    assert_eq!(removed(&dry, "APPOINTMENTS_AFTER_END"), old_appointments);
    assert!(removed(&dry, "CONTACTS_AFTER_LAST_UPDATE").is_empty());
    // A dry run removed nothing, and recorded nothing.
    assert_eq!(
        app.gql_ok(&bob, "{ contacts { totalCount } }", json!({}))
            .await["contacts"]["totalCount"],
        5
    );
    assert!(
        app.access_log(&bob)
            .await
            .iter()
            .all(|r| r["actorKind"] != "SYSTEM")
    );
    // The run, in batches of one, removes exactly that. Working a tenth of its time, it
    // rested nine times as long as its batches took, and really waited that long (the
    // rest of the run, planning and reports, takes far less than that).
    let started = std::time::Instant::now();
    let real = run(
        &app,
        at,
        PurgeOptions {
            batch_size: 1,
            duty_cycle_percent: 10,
            ..PurgeOptions::default()
        },
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(real.worked_seconds > 0.0);
    assert!(
        (real.rested_seconds - 9.0 * real.worked_seconds).abs() < 1e-6,
        "{real:?}"
    );
    assert!(
        elapsed >= real.worked_seconds + real.rested_seconds,
        "{elapsed} {real:?}"
    );
    for rule in [
        "IMPORTED_NEVER_USED",
        "APPOINTMENTS_AFTER_END",
        "CONTACTS_AFTER_LAST_UPDATE",
    ] {
        assert_eq!(removed(&real, rule), removed(&dry, rule), "{rule}");
    }
    let records: Vec<Value> = app
        .access_log(&bob)
        .await
        .into_iter()
        .filter(|r| r["actorKind"] == "SYSTEM")
        .collect();
    assert_eq!(records.len(), 4, "one record a batch: {records:?}");
    // Nothing more of that is left. I3 lost its only appointment to the appointments rule,
    // so it now counts as an imported contact never used: the next run takes it.
    let again = run(
        &app,
        at,
        PurgeOptions {
            dry_run: true,
            ..PurgeOptions::default()
        },
    )
    .await;
    assert_eq!(removed(&again, "IMPORTED_NEVER_USED"), vec![i(2)]);
    assert!(removed(&again, "APPOINTMENTS_AFTER_END").is_empty());
    app.gql_ok(
        &carol,
        "query($id: ID!) { contact(id: $id) { id } }",
        json!({"id": foreign}),
    )
    .await;
    // Five years on, the rules take the rest of Acme's contacts, each once (and the other
    // tenant's, whose own 60-month policy has run out too).
    // Never resting, as for a maintenance window.
    let later = run(
        &app,
        at + Duration::days(5 * 365),
        PurgeOptions {
            duty_cycle_percent: 100,
            ..PurgeOptions::default()
        },
    )
    .await;
    assert!(later.worked_seconds > 0.0);
    assert_eq!(later.rested_seconds, 0.0);
    let mut all: Vec<String> = ["IMPORTED_NEVER_USED", "CONTACTS_AFTER_LAST_UPDATE"]
        .iter()
        .flat_map(|r| removed(&later, r))
        .collect();
    all.sort();
    let mut rest = vec![i(1), i(2), direct.clone(), foreign.clone()];
    rest.sort();
    assert_eq!(all, rest);
    assert_eq!(
        app.gql_ok(&bob, "{ contacts { totalCount } }", json!({}))
            .await["contacts"]["totalCount"],
        0
    );
    assert_eq!(app.verify_log(&bob).await["valid"], true);
}

async fn bad_retention_periods_are_refused_and_change_nothing(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    for months in [0, -12, 1_201] {
        let body = set(&app, &bob, "CONTACTS_AFTER_LAST_UPDATE", months).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{months}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "months");
    }
    assert!(
        set(&app, &bob, "CONTACTS_AFTER_LAST_UPDATE", 24)
            .await
            .get("errors")
            .is_none()
    );
    let overlap = set(&app, &bob, "IMPORTED_NEVER_USED", 24).await;
    assert_eq!(
        overlap["errors"][0]["extensions"]["field"], "months",
        "{overlap}"
    );
    let twice = set(&app, &bob, "CONTACTS_AFTER_LAST_UPDATE", 12).await;
    assert_eq!(error_code(&twice), "CONFLICT");
    let user = app.token(
        custodian_api::auth::Role::ControllerUser,
        Some(&tenant),
        "u",
    );
    assert_eq!(
        error_code(&set(&app, &user, "APPOINTMENTS_AFTER_END", 12).await),
        "FORBIDDEN"
    );
    let policies = app
        .gql_ok(&bob, "{ retentionPolicies { rule months } }", json!({}))
        .await;
    assert_eq!(
        policies["retentionPolicies"],
        json!([{"rule": "CONTACTS_AFTER_LAST_UPDATE", "months": 24}])
    );
    let (_, carol) = app.tenant_with_token("Other").await;
    let id = app
        .gql_ok(&bob, "{ retentionPolicies { id } }", json!({}))
        .await["retentionPolicies"][0]["id"]
        .clone();
    let theirs = app
        .gql(
            Some(&carol),
            "mutation($id: ID!) { removeRetentionPolicy(id: $id) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        error_code(&theirs),
        "NOT_FOUND",
        "another tenant's policy is no policy"
    );
}

async fn a_tenant_under_offboarding_is_not_purged_in_parts(app: TestApp) {
    let admin = app.admin_token();
    let (acme, bob) = app.tenant_with_token("Acme").await;
    let (_, carol) = app.tenant_with_token("Beta").await;
    let ada = id_of(&app, &bob, json!({"firstName": "Ada"})).await;
    let cy = id_of(&app, &carol, json!({"firstName": "Cy"})).await;
    for token in [&bob, &carol] {
        assert!(
            set(&app, token, "CONTACTS_AFTER_LAST_UPDATE", 12)
                .await
                .get("errors")
                .is_none()
        );
    }
    app.gql_ok(
        &admin,
        "mutation($t: ID!) { startOffboarding(tenantId: $t, confirmationDays: 30) { status } }",
        json!({"t": acme}),
    )
    .await;
    // No new policy for a tenant whose data is being returned whole.
    let late = set(&app, &bob, "APPOINTMENTS_AFTER_END", 12).await;
    assert_eq!(error_code(&late), "CONFLICT", "{late}");
    let later = app.clock.now_chrono() + Duration::days(2 * 365);
    // A purge of every tenant leaves it alone and says so.
    let all = run(&app, later, PurgeOptions::default()).await;
    assert_eq!(removed(&all, "CONTACTS_AFTER_LAST_UPDATE"), vec![cy]);
    assert_eq!(
        all.skipped_offboarding
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec![acme.clone()]
    );
    // A purge of that tenant alone is refused, and removes nothing.
    let ledger = Ledger::for_jobs();
    let ctx = RequestCtx::for_job(&app.db, &ledger, PURGE_JOB, later);
    let only = PurgeOptions {
        tenant: Some(custodian_api::domain::TenantId::parse(&acme).unwrap()),
        ..PurgeOptions::default()
    };
    let refused = purge(&ctx, only).await.unwrap_err();
    assert!(
        matches!(refused, custodian_api::error::ServiceError::Conflict(_)),
        "{refused:?}"
    );
    let still = app
        .gql_ok(
            &bob,
            "query($id: ID!) { contact(id: $id) { id } }",
            json!({"id": ada}),
        )
        .await;
    assert_eq!(still["contact"]["id"], ada);
}

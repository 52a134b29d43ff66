//! Data-subject requests: deadlines, exports, erasure under legal holds, restriction,
//! opt-outs, receipts and forwards — each on SQLite and PostgreSQL.

use chrono::{DateTime, Duration, Months, Utc};
use custodian_api::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    each_regimes_deadline_moves_with_pauses_and_one_extension,
    requests_coming_due_and_overdue_show_on_metrics,
    listings_show_what_is_due_soon_overdue_and_late_for_the_processor,
    an_export_holds_everything_about_its_subject_and_nothing_of_anyone_else,
    an_erasure_leaves_none_of_the_subject_in_any_table_or_file_except_what_a_hold_keeps,
    a_restricted_contact_is_refused_to_staff_and_partners_and_frozen_for_the_controller,
    opt_outs_and_objections_hide_contacts_under_instructions_that_sell_share_or_market,
    a_receipt_verifies_against_the_published_key_and_a_tampered_one_does_not,
    forwards_reach_active_subprocessors_and_are_confirmed_by_the_partner,
    bad_input_is_refused_with_its_field_and_changes_nothing,
    a_referral_waits_in_the_controllers_queue_until_the_controller_opens_it,
    every_request_step_is_recorded_under_the_requests_instruction,
);

/// Root fields of the privacy API, each exercised by a test of this suite (the ledger
/// suite's coverage check counts on it).
pub const ROOT_FIELDS: [&str; 19] = [
    "privacyRequests",
    "privacyRequest",
    "legalHolds",
    "requestForwards",
    "referPrivacyRequest",
    "openPrivacyRequest",
    "confirmPrivacyRequestSubject",
    "pausePrivacyRequest",
    "resumePrivacyRequest",
    "extendPrivacyRequest",
    "denyPrivacyRequest",
    "withdrawPrivacyRequest",
    "rectifyContact",
    "completePrivacyRequest",
    "liftContactRestriction",
    "placeLegalHold",
    "releaseLegalHold",
    "confirmRequestForward",
    "setRequestAssistanceWindow",
];

const REQUEST: &str = "id kind regime status receivedAt openedAt statutoryDueAt processorDueAt dueSoon overdue processorOverdue extendedAt pausedAt pausedSeconds subjectContactIds candidateContactIds result resultSha256 receipt";

fn at(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

async fn open(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql_ok(
        token,
        &format!("mutation($i: OpenPrivacyRequestInput!) {{ openPrivacyRequest(input: $i) {{ {REQUEST} }} }}"),
        json!({ "i": input }),
    )
    .await["openPrivacyRequest"]
        .clone()
}

async fn step(app: &TestApp, token: &str, mutation: &str, args: Value) -> Value {
    let params: Vec<String> = args
        .as_object()
        .unwrap()
        .keys()
        .map(|k| format!("{k}: ${k}"))
        .collect();
    let decls: Vec<String> = args
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let ty = match (k.as_str(), v) {
                ("id", _) => "ID!",
                ("reason", _) if mutation == "pausePrivacyRequest" => "PauseReason!",
                ("reason", _)
                    if mutation == "extendPrivacyRequest" || mutation == "denyPrivacyRequest" =>
                {
                    "String!"
                }
                ("contactIds", _) => "[ID!]!",
                _ => "String",
            };
            format!("${k}: {ty}")
        })
        .collect();
    app.gql(
        Some(token),
        &format!(
            "mutation({}) {{ {mutation}({}) {{ {REQUEST} }} }}",
            decls.join(", "),
            params.join(", ")
        ),
        args,
    )
    .await
}

async fn complete(app: &TestApp, token: &str, id: &Value) -> Value {
    app.gql_ok(
        token,
        &format!("mutation($id: ID!) {{ completePrivacyRequest(id: $id) {{ {REQUEST} }} }}"),
        json!({ "id": id }),
    )
    .await["completePrivacyRequest"]
        .clone()
}

async fn contact(app: &TestApp, token: &str, input: Value) -> String {
    app.create_contact(token, input).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn extended(regime: &str, due: DateTime<Utc>) -> DateTime<Utc> {
    match regime {
        "CCPA" => due + Duration::days(45),
        "NEVADA" => due + Duration::days(30),
        _ => due.checked_add_months(Months::new(2)).unwrap(),
    }
}

async fn requests_coming_due_and_overdue_show_on_metrics(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let (_, other) = app.tenant_with_token("Globex").await;
    let ada = contact(&app, &bob, json!({"firstName": "Ada"})).await;
    let zed = contact(&app, &other, json!({"firstName": "Zed"})).await;
    let counts = async || {
        (
            app.gauge("custodian_privacy_requests_due").await,
            app.gauge("custodian_privacy_requests_overdue").await,
        )
    };
    open(
        &app,
        &bob,
        json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"contactIds": [ada]}}),
    )
    .await;
    open(
        &app,
        &other,
        json!({"kind": "ERASURE", "regime": "GDPR", "subject": {"contactIds": [zed]}}),
    )
    .await;
    assert_eq!(counts().await, (0, 0), "a month to go");
    // Within three days of the statutory deadline, across tenants.
    app.clock.advance(28 * 86_400);
    assert_eq!(counts().await, (2, 0));
    app.clock.advance(3 * 86_400);
    assert_eq!(counts().await, (0, 2), "past it");
}

async fn each_regimes_deadline_moves_with_pauses_and_one_extension(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let ada = contact(&app, &bob, json!({"firstName": "Ada"})).await;
    for (regime, days) in [
        ("GDPR", 30),
        ("UK_GDPR", 30),
        ("SWISS_FADP", 30),
        ("CCPA", 45),
        ("NEVADA", 60),
    ] {
        let received = app.clock.now_chrono() - Duration::days(2);
        let r = open(
            &app,
            &bob,
            json!({"kind": "ACCESS", "regime": regime, "subject": {"contactIds": [ada]}, "receivedAt": received.to_rfc3339()}),
        )
        .await;
        assert_eq!(r["status"], "RECEIVED");
        let due = at(&r["statutoryDueAt"]);
        assert_eq!(due, received + Duration::days(days), "{regime}");
        let opened = at(&r["openedAt"]);
        assert_eq!(
            at(&r["processorDueAt"]),
            opened + Duration::days(10),
            "{regime}"
        );
        // Paused for five days: the clock stops, and both due dates move by that much.
        let paused = step(
            &app,
            &bob,
            "pausePrivacyRequest",
            json!({"id": r["id"], "reason": "AWAITING_IDENTITY_VERIFICATION"}),
        )
        .await;
        assert_eq!(
            paused["data"]["pausePrivacyRequest"]["status"], "PAUSED",
            "{paused}"
        );
        app.clock.advance(5 * 86_400);
        let again = step(
            &app,
            &bob,
            "pausePrivacyRequest",
            json!({"id": r["id"], "reason": "AWAITING_CLARIFICATION"}),
        )
        .await;
        assert_eq!(
            error_code(&again),
            "CONFLICT",
            "a paused request cannot be paused again"
        );
        let resumed = step(&app, &bob, "resumePrivacyRequest", json!({"id": r["id"]})).await["data"]["resumePrivacyRequest"].clone();
        assert_eq!(resumed["status"], "RECEIVED", "back to where it was");
        assert_eq!(resumed["pausedSeconds"], 5 * 86_400);
        let due = at(&resumed["statutoryDueAt"]);
        assert_eq!(due, received + Duration::days(days + 5), "{regime}");
        assert_eq!(
            at(&resumed["processorDueAt"]),
            opened + Duration::days(15),
            "{regime}"
        );
        let not_paused = step(&app, &bob, "resumePrivacyRequest", json!({"id": r["id"]})).await;
        assert_eq!(error_code(&not_paused), "CONFLICT");
        // One extension, as the regime allows; a second is refused and changes nothing.
        let ext = step(
            &app,
            &bob,
            "extendPrivacyRequest",
            json!({"id": r["id"], "reason": "complex request"}),
        )
        .await["data"]["extendPrivacyRequest"]
            .clone();
        assert_eq!(
            at(&ext["statutoryDueAt"]),
            extended(regime, due),
            "{regime}"
        );
        let second = step(
            &app,
            &bob,
            "extendPrivacyRequest",
            json!({"id": r["id"], "reason": "again"}),
        )
        .await;
        assert_eq!(error_code(&second), "CONFLICT", "{regime}");
        let now = app
            .gql_ok(
                &bob,
                &format!("query($id: ID!) {{ privacyRequest(id: $id) {{ {REQUEST} }} }}"),
                json!({"id": r["id"]}),
            )
            .await["privacyRequest"]
            .clone();
        assert_eq!(now["statutoryDueAt"], ext["statutoryDueAt"]);
    }
}

async fn listings_show_what_is_due_soon_overdue_and_late_for_the_processor(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let ada = contact(&app, &bob, json!({"firstName": "Ada"})).await;
    let received = app.clock.now_chrono() - Duration::days(25);
    let soon = open(&app, &bob, json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"contactIds": [ada]}, "receivedAt": received.to_rfc3339()})).await;
    assert_eq!(soon["dueSoon"], true);
    assert_eq!(soon["overdue"], false);
    let later = open(
        &app,
        &bob,
        json!({"kind": "ACCESS", "regime": "NEVADA", "subject": {"contactIds": [ada]}}),
    )
    .await;
    assert_eq!(later["dueSoon"], false);
    let list = |filter: Value| {
        let app = &app;
        let bob = bob.clone();
        async move {
            app.gql_ok(
                &bob,
                "query($f: PrivacyRequestFilterInput) { privacyRequests(filter: $f) { totalCount nodes { id overdue dueSoon processorOverdue } } }",
                json!({ "f": filter }),
            )
            .await["privacyRequests"]
                .clone()
        }
    };
    assert_eq!(list(json!({"dueWithinDays": 7})).await["totalCount"], 1);
    // Eleven days on: the GDPR one is overdue, both are past the processor's own date.
    app.clock.advance(11 * 86_400);
    let overdue = list(json!({"overdue": true})).await;
    assert_eq!(overdue["totalCount"], 1);
    assert_eq!(overdue["nodes"][0]["id"], soon["id"]);
    assert_eq!(
        list(json!({"processorOverdue": true})).await["totalCount"],
        2
    );
    // Too late to extend: the extension is decided within the original period.
    let late = step(
        &app,
        &bob,
        "extendPrivacyRequest",
        json!({"id": soon["id"], "reason": "complex"}),
    )
    .await;
    assert_eq!(error_code(&late), "CONFLICT");
    // A paused request is neither overdue nor late while its clock is stopped.
    step(
        &app,
        &bob,
        "pausePrivacyRequest",
        json!({"id": soon["id"], "reason": "AWAITING_CLARIFICATION"}),
    )
    .await;
    assert_eq!(list(json!({"overdue": true})).await["totalCount"], 0);
    assert_eq!(list(json!({"statuses": ["PAUSED"]})).await["totalCount"], 1);
    // The contract's assistance window sets the processor's own date of new requests.
    let tenant = app.gql_ok(&bob, "{ tenant { id } }", json!({})).await["tenant"]["id"].clone();
    let set = app
        .gql_ok(&app.admin_token(), "mutation($t: ID!) { setRequestAssistanceWindow(tenantId: $t, days: 5) { requestAssistanceDays } }", json!({"t": tenant}))
        .await;
    assert_eq!(
        set["setRequestAssistanceWindow"]["requestAssistanceDays"],
        5
    );
    let bad = app
        .gql(
            Some(&app.admin_token()),
            "mutation($t: ID!) { setRequestAssistanceWindow(tenantId: $t, days: 0) { id } }",
            json!({"t": tenant}),
        )
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "days");
    let refused = app
        .gql(
            Some(&bob),
            "mutation($t: ID!) { setRequestAssistanceWindow(tenantId: $t, days: 9) { id } }",
            json!({"t": tenant}),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let third = open(
        &app,
        &bob,
        json!({"kind": "ERASURE", "regime": "CCPA", "subject": {"contactIds": [ada]}}),
    )
    .await;
    assert_eq!(
        at(&third["processorDueAt"]),
        at(&third["openedAt"]) + Duration::days(5)
    );
}

async fn an_export_holds_everything_about_its_subject_and_nothing_of_anyone_else(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let subject = contact(&app, &bob, json!({"firstName": "Ada", "lastName": "Lovelace", "emails": [{"address": "ada@example.com"}], "phones": [{"number": "+442071234567"}], "employer": "Engines", "customFields": {"tier": "gold"}, "tags": ["vip"]})).await;
    let namesake = contact(&app, &bob, json!({"firstName": "Ada", "lastName": "Lovelace", "emails": [{"address": "ada.l@example.com"}]})).await;
    let cousin = contact(&app, &bob, json!({"firstName": "Adam", "lastName": "Lovelace", "emails": [{"address": "adam@example.com"}]})).await;
    for c in [&subject, &namesake] {
        app.gql_ok(&bob, "mutation($c: ID!) { createAppointment(input: {contactId: $c, startsAt: \"2026-12-01T10:00:00Z\", endsAt: \"2026-12-01T11:00:00Z\", title: \"Review\", notes: \"notes\"}) { id } }", json!({"c": c})).await;
    }
    let (_, carol) = app.tenant_with_token("Other").await;
    let foreign = contact(&app, &carol, json!({"firstName": "Ada", "lastName": "Lovelace", "emails": [{"address": "ada@example.com"}]})).await;
    // Support staff read the subject once: that access belongs in the export.
    app.issue_instruction(&bob, json!({"purpose": "SUPPORT", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": ["IDENTITY"], "operations": ["READ"]})).await;
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    app.gql_ok(
        &sam,
        "query($id: ID!) { contact(id: $id) { firstName } }",
        json!({"id": subject}),
    )
    .await;
    // Named by email (any case): the match is listed for confirmation, namesakes are not.
    let r = open(&app, &bob, json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"email": "ADA@example.com"}, "externalReference": "T-1"})).await;
    assert_eq!(r["candidateContactIds"], json!([subject]));
    let matched = app
        .access_log(&bob)
        .await
        .into_iter()
        .find(|rec| rec["instructionId"] == r["id"])
        .unwrap();
    assert_eq!(
        (
            matched["operation"].clone(),
            matched["resourceIds"].clone(),
            matched["fields"].clone()
        ),
        (json!("READ"), json!([subject]), json!(["emails", "phones"])),
        "matching the identifier is recorded against the request"
    );
    assert_eq!(r["subjectContactIds"], json!([]));
    let unconfirmed = app
        .gql(
            Some(&bob),
            "mutation($id: ID!) { completePrivacyRequest(id: $id) { id } }",
            json!({"id": r["id"]}),
        )
        .await;
    assert_eq!(
        unconfirmed["errors"][0]["extensions"]["field"],
        "subjectContactIds"
    );
    step(
        &app,
        &bob,
        "confirmPrivacyRequestSubject",
        json!({"id": r["id"], "contactIds": [subject]}),
    )
    .await;
    let done = complete(&app, &bob, &r["id"]).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["result"]["contacts"], 1);
    assert_eq!(done["result"]["appointments"], 1);
    let download = || async {
        app.gql_ok(
            &bob,
            "query($id: ID!) { privacyRequest(id: $id) { export { format sha256 content } } }",
            json!({"id": r["id"]}),
        )
        .await["privacyRequest"]["export"]
            .clone()
    };
    let first = download().await;
    let second = download().await;
    assert_eq!(first, second, "identical on every download");
    assert_eq!(first["sha256"], done["resultSha256"]);
    let content = first["content"].as_str().unwrap();
    let doc: Value = serde_json::from_str(content).unwrap();
    assert_eq!(doc["subjects"].as_array().unwrap().len(), 1);
    let me = &doc["subjects"][0];
    assert_eq!(me["id"], subject);
    assert_eq!(me["emails"][0]["address"], "ada@example.com");
    assert_eq!(me["customFields"]["tier"], "gold");
    assert_eq!(me["appointments"][0]["title"], "Review");
    assert!(
        me["accessRecords"]
            .as_array()
            .unwrap()
            .iter()
            .any(|rec| rec["actorKind"] == "PROCESSOR_STAFF" && rec["operation"] == "READ"),
        "who accessed the data: {me}"
    );
    assert!(doc["recipients"]["subprocessors"].is_array());
    assert_eq!(doc["controller"]["id"], tenant);
    for other in [&namesake, &cousin, &foreign] {
        assert!(
            !content.contains(other.as_str()),
            "another subject's id in the export"
        );
    }
    for other in ["ada.l@example.com", "adam@example.com", "Adam"] {
        assert!(!content.contains(other), "{other} in the export");
    }
    // Portability adds a CSV of the same data.
    let p = open(
        &app,
        &bob,
        json!({"kind": "PORTABILITY", "regime": "UK_GDPR", "subject": {"contactIds": [subject]}}),
    )
    .await;
    complete(&app, &bob, &p["id"]).await;
    let csv = app
        .gql_ok(
            &bob,
            "query($id: ID!) { privacyRequest(id: $id) { export(format: CSV) { content } } }",
            json!({"id": p["id"]}),
        )
        .await["privacyRequest"]["export"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(csv.starts_with("recordType,id,contactId,firstName"));
    assert!(csv.contains("ada@example.com") && csv.contains("Review"));
    assert!(!csv.contains(namesake.as_str()));
    // Staff under a narrower instruction cannot produce an export of everything: refused
    // whole, recorded, and the request is left as it was.
    app.issue_instruction(&bob, json!({"purpose": "DATA_SUBJECT_REQUESTS", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": ["IDENTITY"], "operations": ["READ", "EXPORT"]})).await;
    let dsr = app.instructed_token(Role::ProcessorStaff, &tenant, "data_subject_requests", None);
    let narrow = open(
        &app,
        &dsr,
        json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"contactIds": [subject]}}),
    )
    .await;
    let refused = app
        .gql(
            Some(&dsr),
            "mutation($id: ID!) { completePrivacyRequest(id: $id) { id } }",
            json!({"id": narrow["id"]}),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let still = app
        .gql_ok(
            &bob,
            "query($id: ID!) { privacyRequest(id: $id) { status } }",
            json!({"id": narrow["id"]}),
        )
        .await;
    assert_eq!(still["privacyRequest"]["status"], "RECEIVED");
    assert!(
        app.access_log(&bob)
            .await
            .iter()
            .any(|rec| rec["instructionId"] == narrow["id"] && rec["outcome"] == "DENIED")
    );
    // Another tenant's request, and its export, answer like missing ones.
    let theirs = app
        .gql(
            Some(&carol),
            "query($id: ID!) { privacyRequest(id: $id) { export { content } } }",
            json!({"id": r["id"]}),
        )
        .await;
    assert_eq!(error_code(&theirs), "NOT_FOUND");
    let missing = app
        .gql(
            Some(&carol),
            "query($id: ID!) { privacyRequest(id: $id) { id } }",
            json!({"id": uuid::Uuid::now_v7().to_string()}),
        )
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
}

/// Every table's rows as text, as the database really stores them.
async fn every_row(app: &TestApp) -> Vec<(String, String)> {
    use sea_orm::ConnectionTrait;
    let mut out = Vec::new();
    if let Some(url) = &app.superuser_url {
        let db = sea_orm::Database::connect(url).await.unwrap();
        let tables = db
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT tablename::text AS t FROM pg_tables WHERE schemaname = 'public'",
            ))
            .await
            .unwrap();
        assert!(tables.len() > 15, "every table scanned");
        for t in tables {
            let table: String = t.try_get("", "t").unwrap();
            for row in db
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    format!("SELECT r::text AS row FROM {table} r"),
                ))
                .await
                .unwrap()
            {
                out.push((table.clone(), row.try_get("", "row").unwrap()));
            }
        }
    } else {
        let db = &app.db;
        let tables = db
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "SELECT name FROM sqlite_master WHERE type = 'table'",
            ))
            .await
            .unwrap();
        assert!(tables.len() > 15, "every table scanned");
        for t in tables {
            let table: String = t.try_get("", "name").unwrap();
            let columns = db
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    format!("SELECT name FROM pragma_table_info('{table}')"),
                ))
                .await
                .unwrap();
            let cells: Vec<String> = columns
                .iter()
                .map(|c| {
                    let name: String = c.try_get("", "name").unwrap();
                    // Ids are blobs: hex, so every cell reads as text.
                    format!(
                        "COALESCE(CASE WHEN typeof(\"{name}\") = 'blob' THEN hex(\"{name}\") \
                         ELSE CAST(\"{name}\" AS TEXT) END, '')"
                    )
                })
                .collect();
            for row in db
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    format!(
                        "SELECT {} AS row FROM \"{table}\"",
                        cells.join(" || '|' || ")
                    ),
                ))
                .await
                .unwrap()
            {
                out.push((table.clone(), row.try_get("", "row").unwrap()));
            }
        }
    }
    out
}

async fn an_erasure_leaves_none_of_the_subject_in_any_table_or_file_except_what_a_hold_keeps(
    app: TestApp,
) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let gone = contact(&app, &bob, json!({"firstName": "Zenobia", "lastName": "Quaxfield", "emails": [{"address": "zq-erase@example.test"}], "phones": [{"number": "+442071999000"}], "employer": "Quaxfield Works", "customFields": {"note": "Zenobia prefers mornings"}})).await;
    let held = contact(&app, &bob, json!({"firstName": "Hildegard", "lastName": "Holdsworth", "emails": [{"address": "hh-hold@example.test"}]})).await;
    let other = contact(
        &app,
        &bob,
        json!({"firstName": "Otto", "lastName": "Other"}),
    )
    .await;
    app.gql_ok(&bob, "mutation($c: ID!) { createAppointment(input: {contactId: $c, startsAt: \"2026-12-01T10:00:00Z\", endsAt: \"2026-12-01T11:00:00Z\", title: \"Quaxfield visit\", notes: \"bring Zenobia's file\"}) { id } }", json!({"c": gone})).await;
    app.issue_instruction(&bob, json!({"purpose": "SUPPORT", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": ["IDENTITY"], "operations": ["READ"]})).await;
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    app.gql_ok(
        &sam,
        "query($id: ID!) { contact(id: $id) { firstName } }",
        json!({"id": gone}),
    )
    .await;
    // An earlier access request left an export holding the subject's data.
    let access = open(
        &app,
        &bob,
        json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"contactIds": [gone]}}),
    )
    .await;
    complete(&app, &bob, &access["id"]).await;
    // A legal hold keeps the second subject.
    let hold = app
        .gql_ok(&bob, "mutation($c: ID!) { placeLegalHold(input: {contactId: $c, reason: LEGAL_CLAIMS, note: \"litigation 2026-17\"}) { id reason inForce } }", json!({"c": held}))
        .await["placeLegalHold"]
        .clone();
    assert_eq!(hold["inForce"], true);
    let holds = app
        .gql_ok(
            &bob,
            "query($c: ID) { legalHolds(contactId: $c) { id reason } }",
            json!({"c": held}),
        )
        .await;
    assert_eq!(holds["legalHolds"][0]["id"], hold["id"]);
    let refused = app
        .gql(
            Some(&bob),
            "mutation($id: ID!) { deleteContact(id: $id) }",
            json!({"id": held}),
        )
        .await;
    assert_eq!(
        error_code(&refused),
        "FORBIDDEN",
        "a held contact cannot be deleted"
    );
    let r = open(
        &app,
        &bob,
        json!({"kind": "ERASURE", "regime": "GDPR", "subject": {"contactIds": [gone, held]}, "externalReference": "Quaxfield complaint"}),
    )
    .await;
    app.gql_ok(&bob, "mutation($id: ID!) { pausePrivacyRequest(id: $id, reason: AWAITING_IDENTITY_VERIFICATION, note: \"call Zenobia back\") { id } }", json!({"id": r["id"]})).await;
    step(&app, &bob, "resumePrivacyRequest", json!({"id": r["id"]})).await;
    let done = complete(&app, &bob, &r["id"]).await;
    let report = &done["result"];
    assert_eq!(report["erased"]["contacts"], json!([gone]));
    assert_eq!(
        report["erased"]["appointments"].as_array().unwrap().len(),
        1
    );
    assert_eq!(report["erased"]["exports"], json!([access["id"]]));
    assert_eq!(report["exceptions"][0]["contactId"], held);
    assert_eq!(report["exceptions"][0]["reason"], "LEGAL_CLAIMS");
    assert_eq!(report["exceptions"][0]["holdId"], hold["id"]);
    // Gone from query results, and the old export with it.
    let read = app
        .gql(
            Some(&bob),
            "query($id: ID!) { contact(id: $id) { id } }",
            json!({"id": gone}),
        )
        .await;
    assert_eq!(error_code(&read), "NOT_FOUND");
    let old = app
        .gql(
            Some(&bob),
            "query($id: ID!) { privacyRequest(id: $id) { export { content } } }",
            json!({"id": access["id"]}),
        )
        .await;
    assert_eq!(error_code(&old), "NOT_FOUND");
    let kept = app
        .gql_ok(
            &bob,
            "query($id: ID!) { contact(id: $id) { lastName } }",
            json!({"id": held}),
        )
        .await;
    assert_eq!(kept["contact"]["lastName"], "Holdsworth");
    app.gql_ok(
        &bob,
        "query($id: ID!) { contact(id: $id) { id } }",
        json!({"id": other}),
    )
    .await;
    // The ledger keeps its records (ids only) and still verifies.
    let v = app.verify_log(&bob).await;
    assert_eq!(v["valid"], true, "{v}");
    assert!(
        app.access_log(&bob)
            .await
            .iter()
            .any(|rec| rec["operation"] == "ERASE" && rec["resourceIds"] == json!([gone]))
    );
    // Not a trace in any table: names, emails, phone numbers, the appointment's text.
    let needles = [
        "Zenobia",
        "Quaxfield",
        "quaxfield",
        "zq-erase@example.test",
        "+442071999000",
        "442071999000",
    ];
    let rows = every_row(&app).await;
    for (table, row) in &rows {
        for n in needles {
            assert!(!row.contains(n), "{n:?} left in {table}: {row}");
        }
    }
    assert!(
        rows.iter()
            .any(|(t, r)| t == "contacts" && r.contains("Holdsworth")),
        "the held contact stays"
    );
    // On SQLite, not in the bytes of the database and its write-ahead log either.
    if app.superuser_url.is_none() {
        let dir = app._data_dir.path();
        for file in ["custodian.db", "custodian.db-wal"] {
            let Ok(bytes) = std::fs::read(dir.join(file)) else {
                continue;
            };
            for n in needles {
                assert!(
                    !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                    "{n:?} left in the bytes of {file}"
                );
            }
        }
    }
    // Releasing the hold is recorded; a second release is refused.
    let released = app
        .gql_ok(
            &bob,
            "mutation($id: ID!) { releaseLegalHold(id: $id) { releasedAt inForce } }",
            json!({"id": hold["id"]}),
        )
        .await;
    assert_eq!(released["releaseLegalHold"]["inForce"], false);
    let twice = app
        .gql(
            Some(&bob),
            "mutation($id: ID!) { releaseLegalHold(id: $id) { id } }",
            json!({"id": hold["id"]}),
        )
        .await;
    assert_eq!(error_code(&twice), "CONFLICT");
    app.gql_ok(
        &bob,
        "mutation($id: ID!) { deleteContact(id: $id) }",
        json!({"id": held}),
    )
    .await;
}

async fn a_restricted_contact_is_refused_to_staff_and_partners_and_frozen_for_the_controller(
    app: TestApp,
) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let sp = app
        .active_subprocessor("Helpdesk", json!(["IDENTITY"]), json!(["IE"]))
        .await;
    let ada = contact(&app, &bob, json!({"firstName": "Ada"})).await;
    let bea = contact(&app, &bob, json!({"firstName": "Bea"})).await;
    app.issue_instruction(&bob, json!({"purpose": "SUPPORT", "actorKinds": ["PROCESSOR_STAFF", "SUBPROCESSOR"], "subprocessorIds": [sp], "dataCategories": ["IDENTITY"], "operations": ["READ", "WRITE"]})).await;
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    let (partner, _) = app
        .partner_token(&tenant, &sp, "SUPPORT", json!(["contacts:read"]))
        .await;
    let r = open(
        &app,
        &bob,
        json!({"kind": "RESTRICTION", "regime": "GDPR", "subject": {"contactIds": [ada]}}),
    )
    .await;
    let done = complete(&app, &bob, &r["id"]).await;
    assert_eq!(done["result"]["restricted"], json!([ada]));
    let read = "query($id: ID!) { contact(id: $id) { firstName } }";
    for token in [&sam, &partner] {
        let body = app.gql(Some(token), read, json!({"id": ada})).await;
        assert_eq!(
            error_code(&body),
            "NOT_FOUND",
            "answers like a missing contact"
        );
        let list = app
            .gql_ok(token, "{ contacts { nodes { id } } }", json!({}))
            .await;
        assert_eq!(
            list["contacts"]["nodes"],
            json!([{"id": bea}]),
            "listings skip it"
        );
    }
    let log = app.access_log(&bob).await;
    let refusals: Vec<&Value> = log
        .iter()
        .filter(|rec| {
            rec["outcome"] == "DENIED"
                && rec["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("restricted"))
        })
        .collect();
    assert!(
        refusals
            .iter()
            .filter(|rec| rec["resourceIds"] == json!([ada]))
            .count()
            >= 2,
        "each refusal by id recorded: {refusals:?}"
    );
    assert!(
        refusals
            .iter()
            .any(|rec| rec["resourceCount"] == 1 && rec["resourceIds"] == json!([])),
        "each skipping listing recorded"
    );
    let staff_write = app.gql(Some(&sam), "mutation($id: ID!) { updateContact(id: $id, input: {firstName: \"X\"}, expectedVersion: 2) { id } }", json!({"id": ada})).await;
    assert_eq!(error_code(&staff_write), "NOT_FOUND");
    // The controller still sees it, flagged, and may not change it until it lifts it.
    let mine = app
        .gql_ok(
            &bob,
            "query($id: ID!) { contact(id: $id) { firstName restricted version } }",
            json!({"id": ada}),
        )
        .await;
    assert_eq!(mine["contact"]["restricted"], true);
    let version = mine["contact"]["version"].clone();
    let write = app.gql(Some(&bob), "mutation($id: ID!, $v: Int!) { updateContact(id: $id, input: {firstName: \"Ada2\"}, expectedVersion: $v) { id } }", json!({"id": ada, "v": version})).await;
    assert_eq!(error_code(&write), "FORBIDDEN");
    let appt = app.gql(Some(&bob), "mutation($c: ID!) { createAppointment(input: {contactId: $c, startsAt: \"2026-12-01T10:00:00Z\", endsAt: \"2026-12-01T11:00:00Z\", title: \"T\"}) { id } }", json!({"c": ada})).await;
    assert_eq!(error_code(&appt), "FORBIDDEN");
    let delete = app
        .gql(
            Some(&bob),
            "mutation($id: ID!) { deleteContact(id: $id) }",
            json!({"id": ada}),
        )
        .await;
    assert_eq!(error_code(&delete), "FORBIDDEN");
    let user = app.token(Role::ControllerUser, Some(&tenant), "u");
    let by_user = app
        .gql(
            Some(&user),
            "mutation($id: ID!) { liftContactRestriction(id: $id) { restricted } }",
            json!({"id": ada}),
        )
        .await;
    assert_eq!(
        error_code(&by_user),
        "FORBIDDEN",
        "only the controller's admin lifts it"
    );
    let lifted = app
        .gql_ok(
            &bob,
            "mutation($id: ID!) { liftContactRestriction(id: $id) { restricted version } }",
            json!({"id": ada}),
        )
        .await;
    assert_eq!(lifted["liftContactRestriction"]["restricted"], false);
    let history = app.gql_ok(&bob, "query($id: ID!) { privacyRequest(id: $id) { events { action } forwards { action contactIds } } }", json!({"id": r["id"]})).await["privacyRequest"].clone();
    assert!(
        history["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "RESTRICTION_LIFTED")
    );
    let actions: Vec<&str> = history["forwards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["RESTRICT", "LIFT_RESTRICTION"],
        "the lifting reaches the subprocessors too"
    );
    let again = app
        .gql(
            Some(&bob),
            "mutation($id: ID!) { liftContactRestriction(id: $id) { restricted } }",
            json!({"id": ada}),
        )
        .await;
    assert_eq!(error_code(&again), "CONFLICT");
    let body = app.gql_ok(&sam, read, json!({"id": ada})).await;
    assert_eq!(body["contact"]["firstName"], "Ada", "processed again");
}

async fn opt_outs_and_objections_hide_contacts_under_instructions_that_sell_share_or_market(
    app: TestApp,
) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let ada = contact(
        &app,
        &bob,
        json!({"firstName": "Ada", "marketingPreferences": {"email": "OPTED_IN"}}),
    )
    .await;
    let bea = contact(
        &app,
        &bob,
        json!({"firstName": "Bea", "marketingPreferences": {"email": "OPTED_IN"}}),
    )
    .await;
    app.issue_instruction(&bob, json!({"purpose": "SUPPORT", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": ["IDENTITY"], "operations": ["READ"]})).await;
    app.issue_instruction(&bob, json!({"purpose": "EMAIL_MARKETING", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": ["IDENTITY", "CONTACT_DETAILS"], "operations": ["READ"], "involvesSale": true})).await;
    let support = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    let marketing = app.instructed_token(Role::ProcessorStaff, &tenant, "email_marketing", None);
    for kind in ["OPT_OUT_OF_SALE", "OBJECTION"] {
        let subject = if kind == "OPT_OUT_OF_SALE" {
            &ada
        } else {
            &bea
        };
        let r = open(
            &app,
            &bob,
            json!({"kind": kind, "regime": "CCPA", "subject": {"contactIds": [subject]}}),
        )
        .await;
        complete(&app, &bob, &r["id"]).await;
    }
    let flags = app.gql_ok(&bob, "query($a: ID!, $b: ID!) { a: contact(id: $a) { optOutOfSale } b: contact(id: $b) { marketingPreferences { email sms phone } } }", json!({"a": ada, "b": bea})).await;
    assert_eq!(flags["a"]["optOutOfSale"], true);
    assert_eq!(
        flags["b"]["marketingPreferences"],
        json!({"email": "OPTED_OUT", "sms": "OPTED_OUT", "phone": "OPTED_OUT"})
    );
    let read = "query($id: ID!) { contact(id: $id) { firstName } }";
    // Under the marketing instruction (which sells): neither is reachable.
    for c in [&ada, &bea] {
        let body = app.gql(Some(&marketing), read, json!({"id": c})).await;
        assert_eq!(error_code(&body), "NOT_FOUND");
    }
    let list = app
        .gql_ok(
            &marketing,
            "{ contacts { nodes { id } } totalContacts: contacts { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(list["contacts"]["nodes"], json!([]));
    assert_eq!(list["totalContacts"]["totalCount"], 0);
    // Under support, which neither sells nor markets, both are.
    for c in [&ada, &bea] {
        app.gql_ok(&support, read, json!({"id": c})).await;
    }
    let log = app.access_log(&bob).await;
    for reason in ["opted out of sale", "objected to email marketing"] {
        assert!(
            log.iter().any(|r| r["outcome"] == "DENIED"
                && r["reason"].as_str().is_some_and(|x| x.contains(reason))),
            "refusal recorded: {reason}"
        );
    }
    // Sharing: an instruction that shares hides those who opted out of sharing.
    let r = open(
        &app,
        &bob,
        json!({"kind": "OPT_OUT_OF_SHARING", "regime": "CCPA", "subject": {"contactIds": [bea]}}),
    )
    .await;
    complete(&app, &bob, &r["id"]).await;
    app.issue_instruction(&bob, json!({"purpose": "SECURITY", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": ["IDENTITY"], "operations": ["READ"], "involvesSharing": true})).await;
    let security = app.instructed_token(Role::ProcessorStaff, &tenant, "security", None);
    let nodes = app
        .gql_ok(&security, "{ contacts { nodes { id } } }", json!({}))
        .await;
    assert_eq!(nodes["contacts"]["nodes"], json!([{"id": ada}]));
}

async fn a_receipt_verifies_against_the_published_key_and_a_tampered_one_does_not(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let ada = contact(&app, &bob, json!({"firstName": "Ada"})).await;
    let r = open(
        &app,
        &bob,
        json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"contactIds": [ada]}}),
    )
    .await;
    let done = complete(&app, &bob, &r["id"]).await;
    let receipt = done["receipt"].as_str().unwrap();
    let published = app.signing_key().await;
    assert_eq!(published["algorithm"], "Ed25519");
    let key = published["publicKey"].as_str().unwrap();
    let (kind, body) = custodian_api::signing::verify(receipt, key).unwrap();
    assert_eq!(kind, "custodian.privacy-request-receipt.v1");
    assert_eq!(body["requestId"], r["id"]);
    assert_eq!(body["tenantId"], tenant);
    assert_eq!(body["subjectContactIds"], json!([ada]));
    assert_eq!(body["resultSha256"], done["resultSha256"]);
    // The head it names already holds the completion's own record.
    let record = app
        .access_log(&bob)
        .await
        .into_iter()
        .find(|rec| rec["instructionId"] == r["id"] && rec["operation"] == "EXPORT")
        .unwrap();
    assert_eq!(body["ledgerHead"]["seq"], record["seq"]);
    // Any change to what it says, or another key, and it does not verify.
    let tampered = receipt.replace(ada.as_str(), &uuid::Uuid::now_v7().to_string());
    assert_eq!(
        custodian_api::signing::verify(&tampered, key),
        Err(custodian_api::signing::VerifyError::BadSignature)
    );
    let stranger = custodian_api::signing::Signer::from_seed([9; 32]).public_key();
    assert_eq!(
        custodian_api::signing::verify(receipt, &stranger),
        Err(custodian_api::signing::VerifyError::UntrustedKey)
    );
}

async fn forwards_reach_active_subprocessors_and_are_confirmed_by_the_partner(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let mailer = app
        .active_subprocessor("Mailer", json!(["CONTACT_DETAILS"]), json!(["IE"]))
        .await;
    let crm = app
        .active_subprocessor("Crm", json!(["IDENTITY"]), json!(["IE"]))
        .await;
    let objected = app
        .active_subprocessor("Objected", json!(["IDENTITY"]), json!(["IE"]))
        .await;
    app.gql_ok(
        &bob,
        "mutation($id: ID!) { objectToSubprocessor(id: $id) { subprocessorId } }",
        json!({"id": objected}),
    )
    .await;
    let ada = contact(&app, &bob, json!({"firstName": "Ada"})).await;
    let kept = contact(&app, &bob, json!({"firstName": "Kept"})).await;
    app.gql_ok(&bob, "mutation($c: ID!) { placeLegalHold(input: {contactId: $c, reason: FINANCIAL_RECORDS}) { id } }", json!({"c": kept})).await;
    let r = open(
        &app,
        &bob,
        json!({"kind": "ERASURE", "regime": "GDPR", "subject": {"contactIds": [ada, kept]}}),
    )
    .await;
    complete(&app, &bob, &r["id"]).await;
    let forwards = |token: String| {
        let app = &app;
        let id = r["id"].clone();
        async move {
            app.gql_ok(&token, "query($id: ID!) { privacyRequest(id: $id) { forwards { id subprocessorId action contactIds confirmedAt } } }", json!({"id": id}))
                .await["privacyRequest"]["forwards"]
                .clone()
        }
    };
    let sent = forwards(bob.clone()).await;
    let targets: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["subprocessorId"].as_str().unwrap())
        .collect();
    assert_eq!(targets.len(), 2, "{sent}");
    assert!(targets.contains(&mailer.as_str()) && targets.contains(&crm.as_str()));
    assert!(
        sent.as_array()
            .unwrap()
            .iter()
            .all(|f| f["action"] == "ERASE"
                && f["contactIds"] == json!([ada])
                && f["confirmedAt"].is_null()),
        "only what was erased is forwarded, never a held contact: {sent}"
    );
    let (mail_token, _) = app
        .partner_token(&tenant, &mailer, "SUPPORT", json!(["contacts:read"]))
        .await;
    let (crm_token, _) = app
        .partner_token(&tenant, &crm, "SUPPORT", json!(["contacts:read"]))
        .await;
    let inbox = app
        .gql_ok(
            &mail_token,
            "{ requestForwards(outstanding: true) { id action requestId } }",
            json!({}),
        )
        .await["requestForwards"]
        .clone();
    assert_eq!(inbox.as_array().unwrap().len(), 1);
    let mine = inbox[0]["id"].clone();
    // Another partner cannot confirm it; it answers like a missing forward.
    let theirs = app
        .gql(
            Some(&crm_token),
            "mutation($id: ID!) { confirmRequestForward(id: $id) { id } }",
            json!({"id": mine}),
        )
        .await;
    assert_eq!(error_code(&theirs), "NOT_FOUND");
    let staff = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    let not_partner = app
        .gql(Some(&staff), "{ requestForwards { id } }", json!({}))
        .await;
    assert_eq!(error_code(&not_partner), "FORBIDDEN");
    let confirmed = app
        .gql_ok(
            &mail_token,
            "mutation($id: ID!) { confirmRequestForward(id: $id) { confirmedAt confirmedBy } }",
            json!({"id": mine}),
        )
        .await;
    assert!(confirmed["confirmRequestForward"]["confirmedAt"].is_string());
    let twice = app
        .gql(
            Some(&mail_token),
            "mutation($id: ID!) { confirmRequestForward(id: $id) { id } }",
            json!({"id": mine}),
        )
        .await;
    assert_eq!(error_code(&twice), "CONFLICT");
    assert_eq!(
        app.gql_ok(
            &mail_token,
            "{ requestForwards(outstanding: true) { id } }",
            json!({})
        )
        .await["requestForwards"],
        json!([])
    );
    let after = forwards(bob.clone()).await;
    let outstanding = after
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["confirmedAt"].is_null())
        .count();
    assert_eq!(
        outstanding, 1,
        "the controller sees which confirmation is outstanding"
    );
}

async fn bad_input_is_refused_with_its_field_and_changes_nothing(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let (_, carol) = app.tenant_with_token("Other").await;
    let ada = contact(
        &app,
        &bob,
        json!({"firstName": "Ada", "emails": [{"address": "ada@example.com"}]}),
    )
    .await;
    let foreign = contact(&app, &carol, json!({"firstName": "Cy"})).await;
    let count = || async { app.count_rows("privacy_requests").await };
    let before = count().await;
    let attempt = |input: Value| {
        let app = &app;
        let bob = bob.clone();
        async move {
            app.gql(
                Some(&bob),
                "mutation($i: OpenPrivacyRequestInput!) { openPrivacyRequest(input: $i) { id } }",
                json!({"i": input}),
            )
            .await
        }
    };
    let cases = [
        (
            json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"contactIds": [uuid::Uuid::now_v7().to_string()]}}),
            "subject.contactIds[0]",
        ),
        (
            json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"contactIds": [ada, foreign]}}),
            "subject.contactIds[1]",
        ),
        (
            json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"email": "nobody@example.com"}}),
            "subject.email",
        ),
        (
            json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"phone": "+442079460000"}}),
            "subject.phone",
        ),
        (
            json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"email": "not an email"}}),
            "subject.email",
        ),
        (
            json!({"kind": "ACCESS", "regime": "GDPR", "subject": {}}),
            "subject",
        ),
        (
            json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"contactIds": [ada]}, "receivedAt": (app.clock.now_chrono() + Duration::days(1)).to_rfc3339()}),
            "receivedAt",
        ),
        (
            json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"contactIds": ["nope"]}}),
            "subject.contactIds[0]",
        ),
    ];
    for (input, field) in cases {
        let body = attempt(input.clone()).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{input}");
    }
    assert_eq!(count().await, before, "nothing was opened");
    // A request whose instruction the controller revoked is not carried out.
    let revoked = open(
        &app,
        &bob,
        json!({"kind": "OPT_OUT_OF_SALE", "regime": "CCPA", "subject": {"contactIds": [ada]}}),
    )
    .await;
    app.gql_ok(
        &bob,
        "mutation($id: ID!) { revokeInstruction(id: $id) { id } }",
        json!({"id": revoked["id"]}),
    )
    .await;
    let body = app
        .gql(
            Some(&bob),
            "mutation($id: ID!) { completePrivacyRequest(id: $id) { id } }",
            json!({"id": revoked["id"]}),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT");
    let flag = app
        .gql_ok(
            &bob,
            "query($id: ID!) { contact(id: $id) { optOutOfSale } }",
            json!({"id": ada}),
        )
        .await;
    assert_eq!(flag["contact"]["optOutOfSale"], false);
    // Steps out of turn: each refused with its code, the request unchanged.
    let r = open(
        &app,
        &bob,
        json!({"kind": "ERASURE", "regime": "GDPR", "subject": {"contactIds": [ada]}}),
    )
    .await;
    let no_reason = step(
        &app,
        &bob,
        "denyPrivacyRequest",
        json!({"id": r["id"], "reason": " "}),
    )
    .await;
    assert_eq!(no_reason["errors"][0]["extensions"]["field"], "reason");
    let denied = step(
        &app,
        &bob,
        "denyPrivacyRequest",
        json!({"id": r["id"], "reason": "manifestly unfounded"}),
    )
    .await;
    assert_eq!(denied["data"]["denyPrivacyRequest"]["status"], "DENIED");
    for (mutation, args) in [
        ("completePrivacyRequest", json!({"id": r["id"]})),
        ("resumePrivacyRequest", json!({"id": r["id"]})),
        (
            "extendPrivacyRequest",
            json!({"id": r["id"], "reason": "late"}),
        ),
        ("withdrawPrivacyRequest", json!({"id": r["id"]})),
    ] {
        let body = if mutation == "completePrivacyRequest" {
            app.gql(
                Some(&bob),
                "mutation($id: ID!) { completePrivacyRequest(id: $id) { id } }",
                args,
            )
            .await
        } else {
            step(&app, &bob, mutation, args).await
        };
        assert_eq!(error_code(&body), "CONFLICT", "{mutation}: {body}");
    }
    let c = app
        .gql_ok(
            &bob,
            "query($id: ID!) { contact(id: $id) { id } }",
            json!({"id": ada}),
        )
        .await;
    assert_eq!(c["contact"]["id"], ada, "a denied erasure erased nothing");
    // Another tenant's request: every step answers like a missing request.
    let w = open(
        &app,
        &bob,
        json!({"kind": "ACCESS", "regime": "GDPR", "subject": {"contactIds": [ada]}}),
    )
    .await;
    for (mutation, args) in [
        (
            "pausePrivacyRequest",
            json!({"id": w["id"], "reason": "AWAITING_CLARIFICATION"}),
        ),
        ("withdrawPrivacyRequest", json!({"id": w["id"]})),
    ] {
        let body = step(&app, &carol, mutation, args).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{mutation}: {body}");
    }
    let erase = app
        .gql(
            Some(&carol),
            "mutation($id: ID!) { completePrivacyRequest(id: $id) { id } }",
            json!({"id": w["id"]}),
        )
        .await;
    assert_eq!(error_code(&erase), "NOT_FOUND");
    let hold = app
        .gql(
            Some(&carol),
            "mutation($c: ID!) { placeLegalHold(input: {contactId: $c, reason: CONTRACT}) { id } }",
            json!({"c": ada}),
        )
        .await;
    assert_eq!(
        hold["errors"][0]["extensions"]["field"], "contactId",
        "another tenant's contact is no contact"
    );
    let past = app.gql(Some(&bob), "mutation($c: ID!, $e: DateTime) { placeLegalHold(input: {contactId: $c, reason: CONTRACT, endsAt: $e}) { id } }", json!({"c": ada, "e": "2001-01-01T00:00:00Z"})).await;
    assert_eq!(past["errors"][0]["extensions"]["field"], "endsAt");
    let withdrawn = step(
        &app,
        &bob,
        "withdrawPrivacyRequest",
        json!({"id": w["id"], "reason": "the subject withdrew"}),
    )
    .await;
    assert_eq!(
        withdrawn["data"]["withdrawPrivacyRequest"]["status"],
        "WITHDRAWN"
    );
    // A plain user of the controller does not handle requests.
    let tenant = app.gql_ok(&bob, "{ tenant { id } }", json!({})).await["tenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = app.token(Role::ControllerUser, Some(&tenant), "u");
    let body = app
        .gql(Some(&user), "{ privacyRequests { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

async fn a_referral_waits_in_the_controllers_queue_until_the_controller_opens_it(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let admin = app.admin_token();
    let refer = "mutation($i: ReferPrivacyRequestInput!) { referPrivacyRequest(input: $i) { id status kind channel regime } }";
    let referral = app.gql_ok(&admin, refer, json!({"i": {"tenantId": tenant, "kind": "ERASURE", "channel": "EMAIL", "externalReference": "SUP-9"}})).await["referPrivacyRequest"].clone();
    assert_eq!(referral["status"], "REFERRED");
    assert!(referral["regime"].is_null());
    let unknown = app.gql(Some(&admin), refer, json!({"i": {"tenantId": uuid::Uuid::now_v7().to_string(), "kind": "ERASURE", "channel": "EMAIL"}})).await;
    assert_eq!(unknown["errors"][0]["extensions"]["field"], "tenantId");
    let by_controller = app
        .gql(
            Some(&bob),
            refer,
            json!({"i": {"tenantId": tenant, "kind": "ERASURE", "channel": "EMAIL"}}),
        )
        .await;
    assert_eq!(error_code(&by_controller), "FORBIDDEN");
    // The platform admin touched no contact data: nothing in the tenant's ledger.
    assert!(app.access_log(&bob).await.is_empty());
    let queue = app
        .gql_ok(
            &bob,
            "{ privacyRequests(filter: {statuses: [REFERRED]}) { nodes { id status } } }",
            json!({}),
        )
        .await;
    assert_eq!(queue["privacyRequests"]["nodes"][0]["id"], referral["id"]);
    let cannot = app
        .gql(
            Some(&bob),
            "mutation($id: ID!) { completePrivacyRequest(id: $id) { id } }",
            json!({"id": referral["id"]}),
        )
        .await;
    assert_eq!(
        error_code(&cannot),
        "CONFLICT",
        "nothing is executed before the controller opens it"
    );
    let ada = contact(&app, &bob, json!({"firstName": "Ada"})).await;
    let opened = open(&app, &bob, json!({"kind": "ERASURE", "regime": "GDPR", "subject": {"contactIds": [ada]}, "referralId": referral["id"]})).await;
    assert_eq!(opened["id"], referral["id"]);
    assert_eq!(opened["status"], "RECEIVED");
    let twice = app.gql(Some(&bob), "mutation($i: OpenPrivacyRequestInput!) { openPrivacyRequest(input: $i) { id } }", json!({"i": {"kind": "ERASURE", "regime": "GDPR", "subject": {"contactIds": [ada]}, "referralId": referral["id"]}})).await;
    assert_eq!(error_code(&twice), "CONFLICT");
    // A referral the controller will not take up is closed with a reason.
    let bogus = app
        .gql_ok(
            &admin,
            refer,
            json!({"i": {"tenantId": tenant, "kind": "ACCESS", "channel": "PHONE"}}),
        )
        .await["referPrivacyRequest"]
        .clone();
    let denied = step(
        &app,
        &bob,
        "denyPrivacyRequest",
        json!({"id": bogus["id"], "reason": "not our customer"}),
    )
    .await;
    assert_eq!(
        denied["data"]["denyPrivacyRequest"]["status"], "DENIED",
        "{denied}"
    );
    let events = app
        .gql_ok(
            &bob,
            "query($id: ID!) { privacyRequest(id: $id) { events { action status actorKind } } }",
            json!({"id": referral["id"]}),
        )
        .await;
    assert_eq!(
        events["privacyRequest"]["events"],
        json!([
            {"action": "REFERRED", "status": "REFERRED", "actorKind": "PLATFORM_ADMIN"},
            {"action": "OPENED_FROM_REFERRAL", "status": "RECEIVED", "actorKind": "CONTROLLER"},
        ])
    );
}

async fn every_request_step_is_recorded_under_the_requests_instruction(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let ada = contact(
        &app,
        &bob,
        json!({"firstName": "Ada", "lastName": "Lovelace"}),
    )
    .await;
    // Staff handle requests only under an instruction for DATA_SUBJECT_REQUESTS.
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "data_subject_requests", None);
    let before = app
        .gql(Some(&sam), "{ privacyRequests { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&before), "FORBIDDEN");
    app.issue_instruction(&bob, json!({"purpose": "DATA_SUBJECT_REQUESTS", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": ["IDENTITY", "CONTACT_DETAILS", "EMPLOYMENT", "APPOINTMENTS", "CUSTOM_FIELDS", "PREFERENCES"], "operations": ["READ", "WRITE", "EXPORT", "ERASE"]})).await;
    let r = open(
        &app,
        &sam,
        json!({"kind": "RECTIFICATION", "regime": "GDPR", "subject": {"contactIds": [ada]}}),
    )
    .await;
    let rectify = "mutation($r: ID!, $c: ID!, $v: Int!) { rectifyContact(requestId: $r, contactId: $c, input: {lastName: \"Byron\"}, expectedVersion: $v) { lastName version } }";
    let fixed = app
        .gql_ok(&sam, rectify, json!({"r": r["id"], "c": ada, "v": 1}))
        .await;
    assert_eq!(fixed["rectifyContact"]["lastName"], "Byron");
    let invalid = app.gql(Some(&bob), "mutation($r: ID!, $c: ID!) { rectifyContact(requestId: $r, contactId: $c, input: {emails: [{address: \"nope\"}]}, expectedVersion: 2) { id } }", json!({"r": r["id"], "c": ada})).await;
    assert_eq!(
        error_code(&invalid),
        "BAD_USER_INPUT",
        "the normal validation"
    );
    let stale = app
        .gql(Some(&bob), rectify, json!({"r": r["id"], "c": ada, "v": 1}))
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    let done = complete(&app, &bob, &r["id"]).await;
    assert_eq!(done["result"]["rectified"], json!([ada]));
    // Each step that reached the subject names the request's own instruction.
    let steps: Vec<Value> = app
        .access_log(&bob)
        .await
        .into_iter()
        .filter(|rec| rec["instructionId"] == r["id"])
        .collect();
    let kinds: Vec<(String, String, String)> = steps
        .iter()
        .map(|s| {
            (
                s["actorKind"].as_str().unwrap().to_owned(),
                s["operation"].as_str().unwrap().to_owned(),
                s["purpose"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                "PROCESSOR_STAFF".into(),
                "WRITE".into(),
                "DATA_SUBJECT_REQUESTS".into()
            ),
            (
                "CONTROLLER".into(),
                "WRITE".into(),
                "DATA_SUBJECT_REQUESTS".into()
            ),
        ],
        "{steps:?}"
    );
    // The request's instruction is documented, and revoked once the request is closed.
    let instruction = app
        .gql_ok(
            &bob,
            "query($id: ID!) { instruction(id: $id) { purpose description revokedAt } }",
            json!({"id": r["id"]}),
        )
        .await;
    assert_eq!(
        instruction["instruction"]["purpose"],
        "DATA_SUBJECT_REQUESTS"
    );
    assert!(instruction["instruction"]["revokedAt"].is_string());
    // An export step records EXPORT, an erasure ERASE.
    for (kind, op) in [("ACCESS", "EXPORT"), ("ERASURE", "ERASE")] {
        let q = open(
            &app,
            &bob,
            json!({"kind": kind, "regime": "GDPR", "subject": {"contactIds": [ada]}}),
        )
        .await;
        complete(&app, &bob, &q["id"]).await;
        let rec = app
            .access_log(&bob)
            .await
            .into_iter()
            .rev()
            .find(|rec| rec["instructionId"] == q["id"])
            .unwrap();
        assert_eq!(rec["operation"], op);
        assert_eq!(rec["resourceIds"], json!([ada]));
    }
    assert_eq!(app.verify_log(&bob).await["valid"], true);
}

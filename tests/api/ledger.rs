//! Every access to personal data is recorded against the instruction that allowed it;
//! the record is hash-chained per tenant and tampering is detected.

use custodian_api::auth::Role;
use custodian_api::clock::Clock;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

crate::on_every_backend!(
    the_acceptance_example_lists_and_verifies_the_ledger,
    staff_need_an_active_instruction_for_the_purpose_and_are_recorded_either_way,
    fields_outside_the_instructions_categories_are_refused_alone,
    a_write_outside_the_instructions_categories_is_refused_whole_and_changes_nothing,
    an_expired_revoked_or_future_instruction_covers_nothing,
    a_token_naming_an_instruction_acts_only_under_it,
    a_platform_admin_reaches_contact_data_only_under_an_instruction,
    every_operation_touching_personal_data_writes_exactly_its_records,
    a_failed_write_leaves_no_allowed_record,
    concurrent_writers_produce_one_verifiable_chain,
    tampering_with_the_ledger_is_detected,
    the_ledger_is_append_only_for_the_server,
    a_pending_record_leaves_only_into_the_chain_unchanged,
    the_group_committer_notices_a_head_moved_by_another_appender,
    concurrent_accesses_and_verifications_record_each_access_once,
    the_ledger_filters_by_actor_operation_outcome_contact_and_time,
    instructions_are_issued_listed_and_revoked_with_validation,
    a_verification_that_cannot_see_the_chain_is_invalid,
    many_tenants_reading_at_once_share_commits_and_keep_their_chains,
    a_write_precedes_in_the_chain_every_read_submitted_after_it,
    a_chain_of_many_pages_verifies_whole_and_breaks_where_it_was_tampered,
);

fn staff_instruction(categories: &[&str], operations: &[&str]) -> Value {
    json!({"purpose": "SUPPORT", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": categories, "operations": operations, "externalReference": "TICKET-42"})
}

async fn the_acceptance_example_lists_and_verifies_the_ledger(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let c = app.create_contact(&bob, json!({"firstName": "Ada"})).await;
    app.issue_instruction(&bob, staff_instruction(&["IDENTITY"], &["READ"]))
        .await;
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    app.gql_ok(
        &sam,
        "query($id: ID!) { contact(id: $id) { firstName } }",
        json!({"id": c["id"]}),
    )
    .await;
    let other = app.instructed_token(Role::ProcessorStaff, &tenant, "security", None);
    let denied = app
        .gql(
            Some(&other),
            "query($id: ID!) { contact(id: $id) { firstName } }",
            json!({"id": c["id"]}),
        )
        .await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
    let log = app
        .gql_ok(&bob, "query { accessLog(first: 100) { totalCount edges { node { operation outcome actorKind purpose } } } }", json!({}))
        .await;
    assert_eq!(log["accessLog"]["totalCount"], 3);
    let nodes: Vec<Value> = log["accessLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(
        nodes,
        vec![
            json!({"operation": "WRITE", "outcome": "ALLOWED", "actorKind": "CONTROLLER", "purpose": "SERVICE_DELIVERY"}),
            json!({"operation": "READ", "outcome": "ALLOWED", "actorKind": "PROCESSOR_STAFF", "purpose": "SUPPORT"}),
            json!({"operation": "READ", "outcome": "DENIED", "actorKind": "PROCESSOR_STAFF", "purpose": "SECURITY"}),
        ]
    );
    let v = app
        .gql_ok(
            &bob,
            "query { verifyAccessLog { valid checked firstBrokenAt } }",
            json!({}),
        )
        .await;
    assert_eq!(
        v["verifyAccessLog"],
        json!({"valid": true, "checked": 3, "firstBrokenAt": null})
    );
}

async fn staff_need_an_active_instruction_for_the_purpose_and_are_recorded_either_way(
    app: TestApp,
) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let c = app
        .create_contact(
            &bob,
            json!({"firstName": "Ada", "emails": [{"address": "ada@example.com"}]}),
        )
        .await;
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    let read = "query($id: ID!) { contact(id: $id) { firstName emails { address } } }";
    let denied = app.gql(Some(&sam), read, json!({"id": c["id"]})).await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
    let list = app
        .gql(
            Some(&sam),
            "{ contacts { nodes { firstName } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&list), "FORBIDDEN");
    let instruction = app
        .issue_instruction(
            &bob,
            staff_instruction(&["IDENTITY", "CONTACT_DETAILS"], &["READ"]),
        )
        .await;
    let allowed = app.gql_ok(&sam, read, json!({"id": c["id"]})).await;
    assert_eq!(
        allowed["contact"],
        json!({"firstName": "Ada", "emails": [{"address": "ada@example.com"}]})
    );
    // The instruction covers reading, not writing.
    let write = app
        .gql(Some(&sam), "mutation($id: ID!) { updateContact(id: $id, input: {firstName: \"X\"}, expectedVersion: 1) { id } }", json!({"id": c["id"]}))
        .await;
    assert_eq!(error_code(&write), "FORBIDDEN");
    let log = app.access_log(&bob).await;
    let staff: Vec<(&str, &str)> = log
        .iter()
        .filter(|r| r["actorKind"] == "PROCESSOR_STAFF")
        .map(|r| {
            (
                r["operation"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        staff,
        [
            ("READ", "DENIED"),
            ("READ", "DENIED"),
            ("READ", "ALLOWED"),
            ("WRITE", "DENIED")
        ]
    );
    let allowed_record = log
        .iter()
        .find(|r| r["actorKind"] == "PROCESSOR_STAFF" && r["outcome"] == "ALLOWED")
        .unwrap();
    assert_eq!(allowed_record["instructionId"], instruction.as_str());
    assert_eq!(allowed_record["resourceIds"], json!([c["id"]]));
    assert_eq!(allowed_record["fields"], json!(["firstName", "emails"]));
    assert_eq!(allowed_record["actorId"], "sam");
    assert!(
        allowed_record["requestId"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    assert_eq!(app.verify_log(&bob).await["valid"], true);
}

async fn fields_outside_the_instructions_categories_are_refused_alone(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let c = app.create_contact(&bob, json!({"firstName": "Ada", "employer": "Engines", "emails": [{"address": "ada@example.com"}]})).await;
    app.issue_instruction(&bob, staff_instruction(&["IDENTITY"], &["READ"]))
        .await;
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    let body = app
        .gql(
            Some(&sam),
            "query($id: ID!) { contact(id: $id) { id firstName employer emails { address } } }",
            json!({"id": c["id"]}),
        )
        .await;
    assert_eq!(
        body["data"]["contact"]["firstName"], "Ada",
        "the covered field is answered: {body}"
    );
    assert_eq!(body["data"]["contact"]["id"], c["id"]);
    // Refused fields are there, as null (GraphQL 6.4.4), not left out.
    let answered = body["data"]["contact"].as_object().unwrap();
    assert_eq!(answered.get("employer"), Some(&Value::Null), "{body}");
    assert_eq!(answered.get("emails"), Some(&Value::Null), "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    for e in errors {
        assert_eq!(e["extensions"]["code"], "FORBIDDEN");
    }
    let log = app.access_log(&bob).await;
    let staff: Vec<&Value> = log
        .iter()
        .filter(|r| r["actorKind"] == "PROCESSOR_STAFF")
        .collect();
    assert_eq!(staff.len(), 2);
    assert_eq!(
        (staff[0]["outcome"].as_str(), &staff[0]["fields"]),
        (Some("ALLOWED"), &json!(["id", "firstName"]))
    );
    assert_eq!(
        (staff[1]["outcome"].as_str(), &staff[1]["fields"]),
        (Some("DENIED"), &json!(["employer", "emails"]))
    );
    // Asking only for what is not covered is refused whole.
    let only = app
        .gql(
            Some(&sam),
            "query($id: ID!) { contact(id: $id) { employer } }",
            json!({"id": c["id"]}),
        )
        .await;
    assert_eq!(error_code(&only), "FORBIDDEN");
    assert_eq!(only["data"]["contact"], Value::Null);
}

async fn a_write_outside_the_instructions_categories_is_refused_whole_and_changes_nothing(
    app: TestApp,
) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let c = app.create_contact(&bob, json!({"firstName": "Ada"})).await;
    app.issue_instruction(&bob, staff_instruction(&["IDENTITY"], &["READ", "WRITE"]))
        .await;
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    let update = "mutation($id: ID!, $input: ContactInput!) { updateContact(id: $id, input: $input, expectedVersion: 1) { firstName version } }";
    let refused = app
        .gql(
            Some(&sam),
            update,
            json!({"id": c["id"], "input": {"firstName": "Augusta", "employer": "X"}}),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let read = app
        .gql_ok(
            &bob,
            "query($id: ID!) { contact(id: $id) { firstName employer version } }",
            json!({"id": c["id"]}),
        )
        .await;
    assert_eq!(
        read["contact"],
        json!({"firstName": "Ada", "employer": null, "version": 1})
    );
    let ok = app
        .gql_ok(
            &sam,
            update,
            json!({"id": c["id"], "input": {"firstName": "Augusta"}}),
        )
        .await;
    assert_eq!(
        ok["updateContact"],
        json!({"firstName": "Augusta", "version": 2})
    );
    let log = app.access_log(&bob).await;
    let staff: Vec<(&str, &str)> = log
        .iter()
        .filter(|r| r["actorKind"] == "PROCESSOR_STAFF")
        .map(|r| {
            (
                r["operation"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(staff, [("WRITE", "DENIED"), ("WRITE", "ALLOWED")]);
}

async fn an_expired_revoked_or_future_instruction_covers_nothing(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let c = app.create_contact(&bob, json!({"firstName": "Ada"})).await;
    let read = "query($id: ID!) { contact(id: $id) { firstName } }";
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    let now = app.clock.now();
    let in_an_hour = (now + chrono::Duration::hours(1)).to_rfc3339();
    // Not yet valid.
    let mut future = staff_instruction(&["IDENTITY"], &["READ"]);
    future["validFrom"] = json!(in_an_hour);
    app.issue_instruction(&bob, future).await;
    assert_eq!(
        error_code(&app.gql(Some(&sam), read, json!({"id": c["id"]})).await),
        "FORBIDDEN"
    );
    // Valid once the clock reaches it, until it expires.
    app.clock.advance(3600);
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    let revocable = {
        let mut i = staff_instruction(&["IDENTITY"], &["READ"]);
        i["validUntil"] = json!((app.clock.now() + chrono::Duration::hours(2)).to_rfc3339());
        app.issue_instruction(&bob, i).await
    };
    app.gql_ok(&sam, read, json!({"id": c["id"]})).await;
    // Revoking the one that was in force leaves the future one, now in force.
    let instructions = app
        .gql_ok(
            &bob,
            "{ instructions(activeOnly: true) { edges { node { id standing } } } }",
            json!({}),
        )
        .await;
    let active: Vec<&Value> = instructions["instructions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["standing"] == false)
        .collect();
    assert_eq!(active.len(), 2);
    for e in active {
        app.gql_ok(
            &bob,
            "mutation($id: ID!) { revokeInstruction(id: $id, reason: \"done\") { revokedAt } }",
            json!({"id": e["node"]["id"]}),
        )
        .await;
    }
    assert_eq!(
        error_code(&app.gql(Some(&sam), read, json!({"id": c["id"]})).await),
        "FORBIDDEN",
        "revoked"
    );
    let again = app
        .gql(
            Some(&bob),
            "mutation($id: ID!) { revokeInstruction(id: $id) { id } }",
            json!({"id": revocable}),
        )
        .await;
    assert_eq!(error_code(&again), "CONFLICT");
    // An expired instruction.
    let expiring = {
        let mut i = staff_instruction(&["IDENTITY"], &["READ"]);
        i["validUntil"] = json!((app.clock.now() + chrono::Duration::minutes(10)).to_rfc3339());
        app.issue_instruction(&bob, i).await
    };
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    app.gql_ok(&sam, read, json!({"id": c["id"]})).await;
    app.clock.advance(601);
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    let expired = app.gql(Some(&sam), read, json!({"id": c["id"]})).await;
    assert_eq!(error_code(&expired), "FORBIDDEN", "expired {expiring}");
    let log = app.access_log(&bob).await;
    let outcomes: Vec<&str> = log
        .iter()
        .filter(|r| r["actorKind"] == "PROCESSOR_STAFF")
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["DENIED", "ALLOWED", "DENIED", "ALLOWED", "DENIED"]
    );
}

async fn a_token_naming_an_instruction_acts_only_under_it(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let c = app.create_contact(&bob, json!({"firstName": "Ada"})).await;
    let narrow = app
        .issue_instruction(&bob, staff_instruction(&["EMPLOYMENT"], &["READ"]))
        .await;
    let broad = app
        .issue_instruction(&bob, staff_instruction(&["IDENTITY"], &["READ"]))
        .await;
    let pinned = app.instructed_token(Role::ProcessorStaff, &tenant, "support", Some(&narrow));
    let body = app
        .gql(
            Some(&pinned),
            "query($id: ID!) { contact(id: $id) { firstName } }",
            json!({"id": c["id"]}),
        )
        .await;
    assert_eq!(
        error_code(&body),
        "FORBIDDEN",
        "the broad instruction is not the token's"
    );
    let free = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    app.gql_ok(
        &free,
        "query($id: ID!) { contact(id: $id) { firstName } }",
        json!({"id": c["id"]}),
    )
    .await;
    let log = app.access_log(&bob).await;
    let allowed = log
        .iter()
        .find(|r| r["actorKind"] == "PROCESSOR_STAFF" && r["outcome"] == "ALLOWED")
        .unwrap();
    assert_eq!(
        allowed["instructionId"],
        broad.as_str(),
        "recorded against the instruction that allowed it"
    );
    let viewer = app
        .gql_ok(
            &pinned,
            "{ viewer { actorKind purpose instructionId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        viewer["viewer"],
        json!({"actorKind": "PROCESSOR_STAFF", "purpose": "SUPPORT", "instructionId": narrow})
    );
}

async fn a_platform_admin_reaches_contact_data_only_under_an_instruction(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let c = app.create_contact(&bob, json!({"firstName": "Ada"})).await;
    let read = "query($id: ID!) { contact(id: $id) { firstName } }";
    assert_eq!(
        error_code(
            &app.gql(Some(&app.admin_token()), read, json!({"id": c["id"]}))
                .await
        ),
        "FORBIDDEN"
    );
    let alice = app.instructed_token(Role::PlatformAdmin, &tenant, "security", None);
    assert_eq!(
        error_code(&app.gql(Some(&alice), read, json!({"id": c["id"]})).await),
        "FORBIDDEN"
    );
    app.issue_instruction(&bob, json!({"purpose": "SECURITY", "actorKinds": ["PLATFORM_ADMIN"], "dataCategories": ["IDENTITY"], "operations": ["READ"]})).await;
    let data = app.gql_ok(&alice, read, json!({"id": c["id"]})).await;
    assert_eq!(data["contact"]["firstName"], "Ada");
    let kinds: Vec<(String, String)> = app
        .access_log(&bob)
        .await
        .iter()
        .filter(|r| r["actorKind"] == "PLATFORM_ADMIN")
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_owned(),
                r["purpose"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("DENIED".into(), "SECURITY".into()),
            ("ALLOWED".into(), "SECURITY".into())
        ]
    );
}

/// `(operation, resource type)` pairs, in the order recorded.
type Records = Vec<(&'static str, &'static str)>;

/// What each root field records: `(operation, resource type)`, or `None` when it touches
/// no personal data. A new root field must be added here, or this test fails.
fn expected_record(field: &str) -> Option<Option<(&'static str, &'static str)>> {
    Some(match field {
        "viewer"
        | "tenant"
        | "tenants"
        | "createTenant"
        | "instructions"
        | "instruction"
        | "issueInstruction"
        | "revokeInstruction"
        | "accessLog"
        | "verifyAccessLog"
        | "ledgerCheckpoint"
        | "accessRecordProof"
        | "ledgerConsistencyProof"
        | "issueLedgerCheckpoint"
        | "subprocessors"
        | "subprocessor"
        | "subprocessorNotices"
        | "transfers"
        | "recordOfProcessing"
        | "partnerTokens"
        | "registerSubprocessor"
        | "announceSubprocessor"
        | "retireSubprocessor"
        | "objectToSubprocessor"
        | "withdrawSubprocessorObjection"
        | "recordTransfer"
        | "mintPartnerToken"
        | "revokePartnerToken"
        | "importProgress"
        | "privacyRequests"
        | "privacyRequest"
        | "legalHolds"
        | "requestForwards"
        | "referPrivacyRequest"
        | "openPrivacyRequest"
        | "confirmPrivacyRequestSubject"
        | "pausePrivacyRequest"
        | "resumePrivacyRequest"
        | "extendPrivacyRequest"
        | "denyPrivacyRequest"
        | "withdrawPrivacyRequest"
        | "placeLegalHold"
        | "releaseLegalHold"
        | "confirmRequestForward"
        | "setRequestAssistanceWindow"
        | "retentionPolicies"
        | "purgeReports"
        | "setRetentionPolicy"
        | "removeRetentionPolicy"
        | "breachNotices"
        | "recordBreachIncident"
        | "updateBreachIncident"
        | "acknowledgeBreachNotice"
        | "setBreachNoticeWindow"
        | "termsVersions"
        | "announceTerms"
        | "respondToTerms"
        | "offboarding"
        | "startOffboarding"
        | "confirmOffboardingReceipt"
        | "disclosures"
        | "transparencyReport"
        | "recordDisclosure"
        | "webhookEndpoints"
        | "webhookDeliveries"
        | "registerWebhook" => None,
        "produceDisclosure" => Some(("EXPORT", "CONTACT")),
        // The whole tenant's data, recorded with its count (the offboarding suite).
        "returnExport" => Some(("EXPORT", "CONTACT")),
        // The step's operation depends on the request's kind (EXPORT, ERASE or WRITE on
        // CONTACT): the privacy suite checks each.
        "completePrivacyRequest" | "rectifyContact" | "liftContactRestriction" => {
            Some(("WRITE", "CONTACT"))
        }
        "contact" | "contacts" => Some(("READ", "CONTACT")),
        "appointment" | "appointments" => Some(("READ", "APPOINTMENT")),
        "createContact" | "updateContact" | "importContacts" => Some(("WRITE", "CONTACT")),
        "deleteContact" => Some(("ERASE", "CONTACT")),
        "createAppointment" | "updateAppointment" => Some(("WRITE", "APPOINTMENT")),
        "deleteAppointment" => Some(("ERASE", "APPOINTMENT")),
        _ => return None,
    })
}

async fn every_operation_touching_personal_data_writes_exactly_its_records(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    // Every root field of the schema is classified.
    let intro = app
        .gql_ok(&bob, "{ q: __type(name: \"Query\") { fields { name } } m: __type(name: \"Mutation\") { fields { name } } }", json!({}))
        .await;
    let mut roots: Vec<String> = Vec::new();
    for t in ["q", "m"] {
        for f in intro[t]["fields"].as_array().unwrap() {
            roots.push(f["name"].as_str().unwrap().to_owned());
        }
    }
    for r in &roots {
        assert!(
            expected_record(r).is_some(),
            "root field {r} is not classified for the ledger"
        );
    }
    let c = app.create_contact(&bob, json!({"firstName": "Ada"})).await;
    let cid = c["id"].as_str().unwrap().to_owned();
    let appt = app
        .gql_ok(&bob, "mutation($c: ID!) { createAppointment(input: {contactId: $c, startsAt: \"2026-12-01T10:00:00Z\", endsAt: \"2026-12-01T11:00:00Z\", title: \"T\"}) { id } }", json!({"c": cid}))
        .await["createAppointment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenant_id = app.gql_ok(&bob, "{ tenant { id } }", json!({})).await["tenant"]["id"].clone();
    let _ = tenant_id;
    let instruction = app
        .issue_instruction(&bob, staff_instruction(&["IDENTITY"], &["READ"]))
        .await;
    let cases: Vec<(&str, String, Records)> = vec![
        ("viewer", "{ viewer { subject } }".into(), vec![]),
        ("tenant", "{ tenant { name } }".into(), vec![]),
        ("contact", format!("{{ contact(id: \"{cid}\") {{ firstName }} }}"), vec![("READ", "CONTACT")]),
        ("contacts", "{ contacts { nodes { firstName } } }".into(), vec![("READ", "CONTACT")]),
        ("contacts+appointments", "{ contacts { nodes { firstName appointments { nodes { title } } } } }".into(), vec![("READ", "CONTACT"), ("READ", "APPOINTMENT")]),
        ("appointment", format!("{{ appointment(id: \"{appt}\") {{ title }} }}"), vec![("READ", "APPOINTMENT")]),
        ("appointment+contact", format!("{{ appointment(id: \"{appt}\") {{ title contact {{ lastName }} }} }}"), vec![("READ", "APPOINTMENT"), ("READ", "CONTACT")]),
        ("appointments", "{ appointments { nodes { title } } }".into(), vec![("READ", "APPOINTMENT")]),
        ("instructions", "{ instructions { edges { node { id } } } }".into(), vec![]),
        ("instruction", format!("{{ instruction(id: \"{instruction}\") {{ purpose }} }}"), vec![]),
        ("accessLog", "{ accessLog { totalCount } }".into(), vec![]),
        ("verifyAccessLog", "{ verifyAccessLog { valid } }".into(), vec![]),
        ("createContact", "mutation { createContact(input: {firstName: \"B\"}) { id } }".into(), vec![("WRITE", "CONTACT")]),
        ("importContacts", "mutation { importContacts(contacts: [{firstName: \"I1\"}, {firstName: \"I2\"}], importKey: \"k\") { imported } }".into(), vec![("WRITE", "CONTACT")]),
        ("importProgress", "{ importProgress(importKey: \"k\") }".into(), vec![]),
        ("updateContact", format!("mutation {{ updateContact(id: \"{cid}\", input: {{lastName: \"L\"}}, expectedVersion: 1) {{ version }} }}"), vec![("WRITE", "CONTACT")]),
        ("createAppointment", format!("mutation {{ createAppointment(input: {{contactId: \"{cid}\", startsAt: \"2026-12-02T10:00:00Z\", endsAt: \"2026-12-02T11:00:00Z\", title: \"T2\"}}) {{ id }} }}"), vec![("WRITE", "APPOINTMENT")]),
        ("updateAppointment", format!("mutation {{ updateAppointment(id: \"{appt}\", input: {{title: \"T3\"}}, expectedVersion: 1) {{ version }} }}"), vec![("WRITE", "APPOINTMENT")]),
        ("issueInstruction", "mutation { issueInstruction(input: {purpose: IMPORT, actorKinds: [PROCESSOR_STAFF], dataCategories: [IDENTITY], operations: [WRITE]}) { id } }".into(), vec![]),
        ("revokeInstruction", format!("mutation {{ revokeInstruction(id: \"{instruction}\") {{ id }} }}"), vec![]),
        ("deleteAppointment", format!("mutation {{ deleteAppointment(id: \"{appt}\") }}"), vec![("ERASE", "APPOINTMENT")]),
        ("deleteContact", format!("mutation {{ deleteContact(id: \"{cid}\") }}"), vec![("ERASE", "CONTACT")]),
    ];
    let mut covered: Vec<&str> = Vec::new();
    for (name, op, expected) in cases {
        let before = app.access_log(&bob).await.len();
        app.gql_ok(&bob, &op, json!({})).await;
        let log = app.access_log(&bob).await;
        let new: Vec<(&str, &str)> = log[before..]
            .iter()
            .map(|r| {
                assert_eq!(r["outcome"], "ALLOWED");
                assert_eq!(r["actorKind"], "CONTROLLER");
                (
                    r["operation"].as_str().unwrap(),
                    r["resourceType"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(new, expected, "{name} recorded {new:?}");
        let root = name.split('+').next().unwrap();
        if let Some(Some(kind)) = expected_record(root) {
            assert_eq!(expected.first(), Some(&kind), "{name}");
        }
        covered.push(root);
    }
    let create_tenant = app.gql_ok(&app.admin_token(), "mutation { createTenant(input: {name: \"Other\", jurisdictions: [UK], ownerAttestsAdult: true}) { id } }", json!({})).await;
    assert!(create_tenant["createTenant"]["id"].is_string());
    let tenants = app
        .gql_ok(
            &app.admin_token(),
            "{ tenants { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert!(tenants["tenants"]["edges"].is_array());
    covered.extend(["createTenant", "tenants"]);
    // The registry, transfers and partner tokens hold no personal data: nothing recorded.
    let before = app.access_log(&bob).await.len();
    let admin = app.admin_token();
    let tenant = app.gql_ok(&bob, "{ tenant { id } }", json!({})).await["tenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sp = app
        .gql_ok(&admin, "mutation { registerSubprocessor(input: {name: \"Mailer\", service: \"email\", dataCategories: [CONTACT_DETAILS], locations: [\"US\"]}) { id } }", json!({}))
        .await["registerSubprocessor"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token_id = {
        app.gql_ok(
            &admin,
            &format!("mutation {{ announceSubprocessor(id: \"{sp}\") {{ id }} }}"),
            json!({}),
        )
        .await;
        app.gql_ok(&admin, &format!("mutation {{ recordTransfer(input: {{subprocessorId: \"{sp}\", originRegion: EEA, destinationCountry: \"US\", dataCategories: [CONTACT_DETAILS], safeguard: STANDARD_CONTRACTUAL_CLAUSES, sccModule: PROCESSOR_TO_PROCESSOR, reviewDueAt: \"2030-01-01T00:00:00Z\"}}) {{ id }} }}"), json!({})).await;
        let minted = app.gql_ok(&admin, &format!("mutation {{ mintPartnerToken(input: {{tenantId: \"{tenant}\", subprocessorId: \"{sp}\", purpose: SUPPORT, scopes: [\"contacts:read\"]}}) {{ partnerToken {{ id }} }} }}"), json!({})).await;
        minted["mintPartnerToken"]["partnerToken"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    app.gql_ok(
        &admin,
        &format!("{{ partnerTokens(tenantId: \"{tenant}\") {{ id }} }}"),
        json!({}),
    )
    .await;
    app.gql_ok(
        &admin,
        &format!(
            "mutation {{ revokePartnerToken(tenantId: \"{tenant}\", id: \"{token_id}\") {{ id }} }}"
        ),
        json!({}),
    )
    .await;
    app.gql_ok(&bob, "{ subprocessors { id } subprocessorNotices { id } transfers { id } recordOfProcessing { generatedAt } }", json!({})).await;
    app.gql_ok(
        &bob,
        &format!("{{ subprocessor(id: \"{sp}\") {{ name }} }}"),
        json!({}),
    )
    .await;
    app.gql_ok(
        &bob,
        &format!("mutation {{ objectToSubprocessor(id: \"{sp}\") {{ objectedAt }} }}"),
        json!({}),
    )
    .await;
    app.gql_ok(
        &bob,
        &format!("mutation {{ withdrawSubprocessorObjection(id: \"{sp}\") }}"),
        json!({}),
    )
    .await;
    app.gql_ok(
        &admin,
        &format!("mutation {{ retireSubprocessor(id: \"{sp}\") {{ id }} }}"),
        json!({}),
    )
    .await;
    assert_eq!(app.access_log(&bob).await.len(), before);
    covered.extend([
        "subprocessors",
        "subprocessor",
        "subprocessorNotices",
        "transfers",
        "recordOfProcessing",
        "partnerTokens",
        "registerSubprocessor",
        "announceSubprocessor",
        "retireSubprocessor",
        "objectToSubprocessor",
        "withdrawSubprocessorObjection",
        "recordTransfer",
        "mintPartnerToken",
        "revokePartnerToken",
    ]);
    // Data-subject requests, retention and breaches: exercised, with what they record,
    // by their own suites (privacy.rs, retention.rs, breaches.rs, terms.rs, offboarding.rs, disclosures.rs, webhooks.rs).
    covered.extend(crate::privacy::ROOT_FIELDS);
    covered.extend([
        "retentionPolicies",
        "purgeReports",
        "setRetentionPolicy",
        "removeRetentionPolicy",
        "breachNotices",
        "recordBreachIncident",
        "updateBreachIncident",
        "acknowledgeBreachNotice",
        "setBreachNoticeWindow",
        "termsVersions",
        "announceTerms",
        "respondToTerms",
        "offboarding",
        "returnExport",
        "startOffboarding",
        "confirmOffboardingReceipt",
        "disclosures",
        "transparencyReport",
        "recordDisclosure",
        "produceDisclosure",
        "webhookEndpoints",
        "webhookDeliveries",
        "registerWebhook",
        // proofs.rs: proofs and checkpoints record nothing (a second checkpoint after
        // them is the first one again).
        "ledgerCheckpoint",
        "accessRecordProof",
        "ledgerConsistencyProof",
        "issueLedgerCheckpoint",
    ]);
    for r in &roots {
        assert!(
            covered.contains(&r.as_str()),
            "root field {r} is not exercised"
        );
    }
    // Every allowed record of a controller names the standing instruction.
    let standing = app
        .gql_ok(
            &bob,
            "{ instructions { edges { node { id standing } } } }",
            json!({}),
        )
        .await["instructions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["standing"] == true)
        .unwrap()["node"]["id"]
        .clone();
    for r in app.access_log(&bob).await {
        assert_eq!(r["instructionId"], standing);
        assert_eq!(r["purpose"], "SERVICE_DELIVERY");
    }
    assert_eq!(app.verify_log(&bob).await["valid"], true);
}

async fn a_failed_write_leaves_no_allowed_record(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let c = app.create_contact(&bob, json!({"firstName": "Ada"})).await;
    let before = app.access_log(&bob).await.len();
    let stale = app
        .gql(Some(&bob), "mutation($id: ID!) { updateContact(id: $id, input: {firstName: \"X\"}, expectedVersion: 7) { id } }", json!({"id": c["id"]}))
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    let invalid = app
        .gql(
            Some(&bob),
            "mutation { createContact(input: {emails: [{address: \"nope\"}]}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&invalid), "BAD_USER_INPUT");
    assert_eq!(
        app.access_log(&bob).await.len(),
        before,
        "nothing happened, nothing recorded"
    );
}

async fn concurrent_writers_produce_one_verifiable_chain(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let (_, eve) = app.tenant_with_token("Other").await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let token = if i % 4 == 3 { &eve } else { &bob };
        let query = if i % 2 == 0 {
            format!("mutation {{ createContact(input: {{firstName: \"C{i}\"}}) {{ id }} }}")
        } else {
            "{ contacts(first: 5) { nodes { firstName } } }".to_owned()
        };
        tasks.push(app.spawn_gql_ok(token, json!({ "query": query })));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for token in [&bob, &eve] {
        let log = app.access_log(token).await;
        let seqs: Vec<i64> = log.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=log.len() as i64).collect::<Vec<_>>(),
            "one gapless chain"
        );
        let v = app.verify_log(token).await;
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["checked"], log.len());
        assert_eq!(v["headSeq"], log.len());
    }
    assert_eq!(
        app.access_log(&bob).await.len() + app.access_log(&eve).await.len(),
        24
    );
}

async fn tampering_with_the_ledger_is_detected(app: TestApp) {
    use sea_orm::Value as V;
    // One tenant per kind of tampering, each with a chain of 6 records.
    let mut tenants = Vec::new();
    for name in [
        "edit",
        "delete",
        "delete-last",
        "reorder",
        "insert",
        "well-formed-append",
    ] {
        let (tenant, token) = app.tenant_with_token(name).await;
        for i in 0..3 {
            let c = app
                .create_contact(&token, json!({"firstName": format!("C{i}")}))
                .await;
            app.gql_ok(
                &token,
                "query($id: ID!) { contact(id: $id) { firstName } }",
                json!({"id": c["id"]}),
            )
            .await;
        }
        let v = app.verify_log(&token).await;
        assert_eq!(
            (v["valid"].as_bool(), v["checked"].as_i64()),
            (Some(true), Some(6))
        );
        tenants.push((uuid::Uuid::parse_str(&tenant).unwrap(), token));
    }
    let t = |i: usize| V::from(tenants[i].0);
    app.tamper(&[(
        "UPDATE access_records SET actor_id = 'mallory' WHERE tenant_id = $1 AND seq = 3",
        vec![t(0)],
    )])
    .await;
    app.tamper(&[(
        "DELETE FROM access_records WHERE tenant_id = $1 AND seq = 2",
        vec![t(1)],
    )])
    .await;
    app.tamper(&[(
        "DELETE FROM access_records WHERE tenant_id = $1 AND seq = 6",
        vec![t(2)],
    )])
    .await;
    app.tamper(&[
        (
            "UPDATE access_records SET seq = 100 WHERE tenant_id = $1 AND seq = 4",
            vec![t(3)],
        ),
        (
            "UPDATE access_records SET seq = 4 WHERE tenant_id = $1 AND seq = 5",
            vec![t(3)],
        ),
        (
            "UPDATE access_records SET seq = 5 WHERE tenant_id = $1 AND seq = 100",
            vec![t(3)],
        ),
    ])
    .await;
    let forged_id = uuid::Uuid::now_v7();
    app.tamper(&[(
        "INSERT INTO access_records (tenant_id, seq, id, recorded_at, actor_kind, actor_id, subprocessor_id, operation, resource_type, resource_ids, resource_count, fields, purpose, instruction_id, outcome, reason, request_id, prev_hash, hash) \
         SELECT tenant_id, 7, $1, recorded_at, actor_kind, actor_id, subprocessor_id, operation, resource_type, resource_ids, resource_count, fields, purpose, instruction_id, outcome, reason, request_id, hash, hash FROM access_records WHERE tenant_id = $2 AND seq = 6",
        vec![V::from(forged_id), t(4)],
    )])
    .await;
    // A forger who knows the hash rule appends a well-formed record: caught at the head.
    {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let conn = match &app.superuser_url {
            Some(url) => sea_orm::Database::connect(url).await.unwrap(),
            None => app.db.clone(),
        };
        let mut forged = entities::access_record::Entity::find()
            .filter(entities::access_record::Column::TenantId.eq(tenants[5].0))
            .filter(entities::access_record::Column::Seq.eq(6))
            .one(&conn)
            .await
            .unwrap()
            .unwrap();
        forged.prev_hash = forged.hash.clone();
        forged.seq = 7;
        forged.id = custodian_api::domain::AccessRecordId::new();
        forged.actor_id = "mallory".into();
        forged.hash = custodian_api::ledger::hash_of(&forged);
        entities::access_record::Entity::insert(entities::access_record::ActiveModel::from(forged))
            .exec(&conn)
            .await
            .unwrap();
    }
    let expected = [
        (3, "content"),
        (2, "missing"),
        (6, "head"),
        (4, "predecessor"),
        (7, "content"),
        (7, "head"),
    ];
    for (i, (at, why)) in expected.iter().enumerate() {
        let v = app.verify_log(&tenants[i].1).await;
        assert_eq!(v["valid"], false, "tampering {i} undetected: {v}");
        assert_eq!(v["firstBrokenAt"], *at, "{v}");
        assert!(v["reason"].as_str().unwrap().contains(why), "{v}");
    }
}

async fn the_ledger_is_append_only_for_the_server(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    app.create_contact(&bob, json!({"firstName": "Ada"})).await;
    // Verifying seals the record, so the statements below meet it in the chain.
    assert_eq!(app.verify_log(&bob).await["checked"], 1);
    let tenant = uuid::Uuid::parse_str(&tenant).unwrap();
    for sql in [
        "UPDATE access_records SET actor_id = 'x' WHERE tenant_id = $1",
        "DELETE FROM access_records WHERE tenant_id = $1",
    ] {
        use sea_orm::ConnectionTrait;
        // As the application role, with the tenant set: the grant refuses first.
        let (tx, backend) = app.app_role_tx(tenant).await;
        let err = tx
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                sql,
                [tenant.into()],
            ))
            .await
            .expect_err(sql)
            .to_string();
        assert!(
            err.contains("permission denied") || err.contains("append-only"),
            "{sql}: {err}"
        );
        tx.rollback().await.unwrap();
    }
    if let Some(url) = &app.owner_url {
        // Even the owner, who may UPDATE, is stopped by the trigger.
        use sea_orm::ConnectionTrait;
        let owner = sea_orm::Database::connect(url).await.unwrap();
        let err = owner
            .execute_unprepared("TRUNCATE access_records")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("append-only"), "{err}");
        // With its tenant set the owner sees the rows; the trigger still refuses.
        use sea_orm::TransactionTrait;
        let tx = owner.begin().await.unwrap();
        custodian_api::tenancy::pin(&tx, tenant.into())
            .await
            .unwrap();
        let err = tx
            .execute_unprepared("DELETE FROM access_records")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("append-only"), "{err}");
        tx.rollback().await.unwrap();
        let app_conn = sea_orm::Database::connect(app.app_url.as_deref().unwrap())
            .await
            .unwrap();
        let err = app_conn
            .execute_unprepared("TRUNCATE access_records")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("permission denied"), "{err}");
    }
    assert_eq!(app.verify_log(&bob).await["valid"], true);
}

async fn the_ledger_filters_by_actor_operation_outcome_contact_and_time(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let a = app.create_contact(&bob, json!({"firstName": "A"})).await;
    let b = app.create_contact(&bob, json!({"firstName": "B"})).await;
    app.clock.advance(60);
    let since = app.clock.now().to_rfc3339();
    app.gql_ok(
        &bob,
        "query($id: ID!) { contact(id: $id) { firstName } }",
        json!({"id": a["id"]}),
    )
    .await;
    let sam = app.instructed_token(Role::ProcessorStaff, &tenant, "support", None);
    app.gql(
        Some(&sam),
        "{ contacts { nodes { firstName } } }",
        json!({}),
    )
    .await;
    let count = |filter: Value| {
        let app = &app;
        let bob = bob.clone();
        async move {
            app.gql_ok(&bob, "query($f: AccessLogFilterInput) { accessLog(filter: $f) { totalCount nodes { seq } } }", json!({"f": filter}))
                .await["accessLog"]["totalCount"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(count(json!({})).await, 4);
    assert_eq!(count(json!({"actorKind": "PROCESSOR_STAFF"})).await, 1);
    assert_eq!(count(json!({"outcome": "DENIED"})).await, 1);
    assert_eq!(count(json!({"operation": "WRITE"})).await, 2);
    assert_eq!(count(json!({"contactId": a["id"]})).await, 2);
    assert_eq!(count(json!({"contactId": b["id"]})).await, 1);
    assert_eq!(count(json!({"since": since})).await, 2);
    assert_eq!(count(json!({"until": since})).await, 2);
    assert_eq!(
        count(json!({"instructionId": tenant})).await,
        3,
        "the standing instruction has the tenant's id"
    );
    // Only the controller's admin reads the ledger.
    let user = app.token(Role::ControllerUser, Some(&tenant), "carol");
    assert_eq!(
        error_code(
            &app.gql(Some(&user), "{ accessLog { totalCount } }", json!({}))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(
            &app.gql(Some(&sam), "{ verifyAccessLog { valid } }", json!({}))
                .await
        ),
        "FORBIDDEN"
    );
}

async fn instructions_are_issued_listed_and_revoked_with_validation(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let listed = app.gql_ok(&bob, "{ instructions { edges { node { id purpose actorKinds dataCategories operations standing active externalReference } } } }", json!({})).await;
    let standing = &listed["instructions"]["edges"][0]["node"];
    assert_eq!(standing["id"], tenant.as_str());
    assert_eq!(standing["standing"], true);
    assert_eq!(standing["active"], true);
    assert_eq!(standing["actorKinds"], json!(["CONTROLLER"]));
    assert_eq!(
        standing["operations"],
        json!(["READ", "WRITE", "EXPORT", "ERASE"])
    );
    let refused = app
        .gql(
            Some(&bob),
            "mutation($id: ID!) { revokeInstruction(id: $id) { id } }",
            json!({"id": tenant}),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    let issue =
        "mutation($input: IssueInstructionInput!) { issueInstruction(input: $input) { id } }";
    for (input, field) in [
        (
            json!({"purpose": "SUPPORT", "actorKinds": [], "dataCategories": ["IDENTITY"], "operations": ["READ"]}),
            "actorKinds",
        ),
        (
            json!({"purpose": "SUPPORT", "actorKinds": ["CONTROLLER"], "dataCategories": ["IDENTITY"], "operations": ["READ"]}),
            "actorKinds",
        ),
        (
            json!({"purpose": "SUPPORT", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": [], "operations": ["READ"]}),
            "dataCategories",
        ),
        (
            json!({"purpose": "SUPPORT", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": ["IDENTITY"], "operations": []}),
            "operations",
        ),
        (
            json!({"purpose": "SUPPORT", "actorKinds": ["SUBPROCESSOR"], "dataCategories": ["IDENTITY"], "operations": ["READ"]}),
            "subprocessorIds",
        ),
        (
            json!({"purpose": "SUPPORT", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": ["IDENTITY"], "operations": ["READ"], "validFrom": "2030-01-02T00:00:00Z", "validUntil": "2030-01-01T00:00:00Z"}),
            "validUntil",
        ),
    ] {
        let body = app.gql(Some(&bob), issue, json!({"input": input})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    let user = app.token(Role::ControllerUser, Some(&tenant), "carol");
    let body = app
        .gql(
            Some(&user),
            issue,
            json!({"input": staff_instruction(&["IDENTITY"], &["READ"])}),
        )
        .await;
    assert_eq!(
        error_code(&body),
        "FORBIDDEN",
        "only the controller's admin issues instructions"
    );
    let listed = app
        .gql_ok(
            &bob,
            "{ instructions { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["instructions"]["edges"].as_array().unwrap().len(),
        1,
        "nothing was issued"
    );
    // Another tenant's instruction is not found.
    let (_, eve) = app.tenant_with_token("Other").await;
    let mine = app
        .issue_instruction(&bob, staff_instruction(&["IDENTITY"], &["READ"]))
        .await;
    let theirs = app
        .gql(
            Some(&eve),
            "query($id: ID!) { instruction(id: $id) { id } }",
            json!({"id": mine}),
        )
        .await;
    assert_eq!(error_code(&theirs), "NOT_FOUND");
    let revoke = app
        .gql(
            Some(&eve),
            "mutation($id: ID!) { revokeInstruction(id: $id) { id } }",
            json!({"id": mine}),
        )
        .await;
    assert_eq!(error_code(&revoke), "NOT_FOUND");
}

/// The one way out of the pending table is into the chain, unchanged: the application
/// role cannot alter or drop a record before it is sealed, nor swap in a forged copy.
async fn a_pending_record_leaves_only_into_the_chain_unchanged(app: TestApp) {
    use sea_orm::ConnectionTrait;
    // A tenant nobody has accessed yet: the sealer has no reason to visit it until its
    // admin verifies, so the record below stays pending while it is attacked.
    let (tenant, bob) = app.tenant_with_token("Quiet").await;
    let tenant = uuid::Uuid::parse_str(&tenant).unwrap();
    const COLUMNS: &str = "tenant_id, id, recorded_at, actor_kind, actor_id, subprocessor_id, operation, resource_type, resource_ids, resource_count, fields, purpose, instruction_id, outcome, reason, request_id";
    let pending = uuid::Uuid::now_v7();
    // A record written but not yet sealed, as a request's transaction writes it.
    let (tx, backend) = app.app_role_tx(tenant).await;
    tx.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend,
        format!("INSERT INTO access_pending ({COLUMNS}) VALUES ($1, $2, $3, 'CONTROLLER', 'bob', NULL, 'READ', 'CONTACT', $4, 0, $4, NULL, NULL, 'ALLOWED', NULL, NULL)"),
        [
            tenant.into(),
            pending.into(),
            app.clock.now_chrono().into(),
            sea_orm::Value::Json(Some(Box::new(json!([])))),
        ],
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let forged_copy = format!(
        "INSERT INTO access_records ({COLUMNS}, seq, prev_hash, hash) SELECT tenant_id, id, recorded_at, actor_kind, 'mallory', subprocessor_id, operation, resource_type, resource_ids, resource_count, fields, purpose, instruction_id, outcome, reason, request_id, 99, 'x', 'x' FROM access_pending WHERE tenant_id = $1 AND id = $2"
    );
    const DELETE: &str = "DELETE FROM access_pending WHERE tenant_id = $1 AND id = $2";
    // Each attempt: a statement to prepare the ground (if any), then the ones that must fail.
    for (ground, attempt) in [
        (
            None,
            vec!["UPDATE access_pending SET actor_id = 'mallory' WHERE tenant_id = $1 AND id = $2"],
        ),
        (None, vec![DELETE]),
        (None, vec![forged_copy.as_str(), DELETE]),
        // A temporary table named like the chain must not pass for it.
        (
            Some("CREATE TEMP TABLE access_records AS SELECT * FROM access_pending"),
            vec![DELETE],
        ),
    ] {
        assert_eq!(
            app.count_rows("access_pending").await,
            1,
            "the record is still pending"
        );
        let (tx, backend) = app.app_role_tx(tenant).await;
        if let Some(sql) = ground {
            tx.execute_unprepared(sql).await.unwrap();
        }
        let mut refused = None;
        for sql in &attempt {
            if let Err(e) = tx
                .execute_raw(sea_orm::Statement::from_sql_and_values(
                    backend,
                    *sql,
                    [tenant.into(), pending.into()],
                ))
                .await
            {
                refused = Some(e.to_string());
                break;
            }
        }
        let err = refused.unwrap_or_else(|| panic!("{attempt:?} was allowed"));
        assert!(
            err.contains("leaves only into the sealed chain") || err.contains("permission denied"),
            "{attempt:?}: {err}"
        );
        tx.rollback().await.unwrap();
    }
    // The sealer moves it, unchanged, and the chain holds.
    let v = app.verify_log(&bob).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["checked"], 1, "{v}");
    assert_eq!(v["unsealed"], 0, "{v}");
    assert_eq!(app.count_rows("access_pending").await, 0);
}

/// Reads' records are group-committed and chained, writes' go pending and are swept into
/// the chain by whoever locks the head next, while verifications seal and read the chain:
/// every access has exactly one record in the chain, none twice, none lost, and a
/// verification running among appenders sees a chain consistent with its head.
async fn concurrent_accesses_and_verifications_record_each_access_once(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let id = app.create_contact(&bob, json!({"firstName": "Ada"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let body = if i % 3 == 0 {
            json!({"query": format!("mutation {{ createContact(input: {{firstName: \"C{i}\"}}) {{ id }} }}")})
        } else {
            json!({"query": "query($id: ID!) { contact(id: $id) { firstName } }", "variables": {"id": id}})
        };
        tasks.push(app.spawn_gql_ok(&bob, body));
        if i % 15 == 7 {
            // Sealing and verifying interleaved with the accesses.
            assert_eq!(app.verify_log(&bob).await["valid"], true);
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = app.verify_log(&bob).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["unsealed"], 0, "{v}");
    let log = app.access_log(&bob).await;
    let count = |op: &str| log.iter().filter(|r| r["operation"] == op).count();
    assert_eq!(
        (count("WRITE"), count("READ")),
        (21, 40),
        "one record per access"
    );
    let seqs: Vec<i64> = log.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=61).collect::<Vec<_>>(), "gapless, each once");
    let requests: std::collections::BTreeSet<&str> = log
        .iter()
        .map(|r| r["requestId"].as_str().unwrap())
        .collect();
    assert_eq!(requests.len(), 61, "no access recorded twice");
}

/// The group committer appends after the head it last wrote, in one statement that moves
/// the head only if it is still there. Another appender (a second server, the CLI) moving
/// the head in between must send it back to the locking path, never fork the chain.
async fn the_group_committer_notices_a_head_moved_by_another_appender(app: TestApp) {
    use custodian_api::ledger;
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let id = app.create_contact(&bob, json!({"firstName": "Ada"})).await["id"].clone();
    let read = || {
        app.gql_ok(
            &bob,
            "query($id: ID!) { contact(id: $id) { firstName } }",
            json!({"id": id}),
        )
    };
    read().await;
    read().await;
    // Known head, nothing to sweep: each sequential read's batch is one statement on
    // PostgreSQL, and one counted statement (two trips, see `append_after_sqlite`) on
    // SQLite; the locking path takes three on PostgreSQL and four on SQLite, so fifteen
    // or twenty for five. The sealer passes the tenant's creation and the contact's
    // write scheduled are let finish first; should one still overlap, it costs at most
    // six. (Citus has no one-statement path: a tenant's records commit in its own
    // transaction on its worker.)
    let before = app.settled_ledger_statements().await;
    for _ in 0..5 {
        read().await;
    }
    if !app.citus {
        let spent = app.gauge("custodian_ledger_statements_total").await - before;
        assert!(spent <= 5 + 6, "five reads cost {spent} ledger statements");
    }
    let tenant = custodian_api::domain::TenantId::parse(&tenant).unwrap();
    let outsider = outsider_record(&app, tenant);
    ledger::committer::append(&app.db, tenant, &[outsider])
        .await
        .unwrap();
    read().await;
    read().await;
    let v = app.verify_log(&bob).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(
        v["checked"],
        2 + 9,
        "a write, the reads and the outsider's record: {v}"
    );
    let log = app.access_log(&bob).await;
    let outsiders = log
        .iter()
        .filter(|r| r["actorId"] == "another-server")
        .count();
    assert_eq!(outsiders, 1);
}

/// A verification that cannot see the tenant's chain says so; it never passes on nothing.
/// Every tenant's head exists from its creation, so an empty log still shows its head.
async fn a_verification_that_cannot_see_the_chain_is_invalid(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let v = app.verify_log(&bob).await;
    assert_eq!(
        (
            v["valid"].as_bool(),
            v["checked"].as_i64(),
            v["headSeq"].as_i64()
        ),
        (Some(true), Some(0), Some(0)),
        "a new tenant's empty chain, its head there: {v}"
    );
    let c = app.create_contact(&bob, json!({"firstName": "Ada"})).await;
    app.gql_ok(
        &bob,
        "query($id: ID!) { contact(id: $id) { id } }",
        json!({"id": c["id"]}),
    )
    .await;
    let tenant = custodian_api::domain::TenantId::parse(&tenant).unwrap();
    // Pinned to another tenant (PostgreSQL: row-level security hides the chain and its
    // head), or asked about a tenant that has none (SQLite).
    let (tx, _) = app.app_role_tx(uuid::Uuid::now_v7()).await;
    let asked = if app.app_url.is_some() {
        tenant
    } else {
        custodian_api::domain::TenantId::new()
    };
    let v = custodian_api::ledger::queries::verify(&tx, asked)
        .await
        .unwrap();
    assert!(!v.valid, "{v:?}");
    assert_eq!(v.checked, 0);
    assert_eq!(v.reason.as_deref(), Some("the chain's head cannot be seen"));
}

/// Reads of many tenants at once share group commits, and each commit appends every
/// tenant's records in one statement; a tenant whose head another appender moved in
/// between falls back alone, and no chain forks or skips.
async fn many_tenants_reading_at_once_share_commits_and_keep_their_chains(app: TestApp) {
    use custodian_api::ledger;
    let mut tenants = Vec::new();
    for i in 0..6 {
        let (tenant, token) = app.tenant_with_token(&format!("T{i}")).await;
        let c = app
            .create_contact(&token, json!({"firstName": "Ada"}))
            .await["id"]
            .clone();
        tenants.push((tenant, token, c));
    }
    let burst = |round: usize| {
        let mut tasks = Vec::new();
        for _ in 0..round {
            for (_, token, c) in &tenants {
                tasks.push(app.spawn_gql_ok(
                    token,
                    json!({"query": "query($id: ID!) { contact(id: $id) { firstName } }", "variables": {"id": c}}),
                ));
            }
        }
        tasks
    };
    for t in burst(3) {
        t.await.unwrap();
    }
    // Another appender moves one tenant's head between the committer's batches.
    let moved = custodian_api::domain::TenantId::parse(&tenants[2].0).unwrap();
    let outsider = outsider_record(&app, moved);
    ledger::committer::append(&app.db, moved, &[outsider])
        .await
        .unwrap();
    for t in burst(4) {
        t.await.unwrap();
    }
    // On PostgreSQL a batch holding all six tenants is one statement: a second server's
    // committer (here, in the test) learns the heads on its first batch, through the
    // locking path, and appends its second in one.
    let extra = if app.app_url.is_some() {
        let metrics = std::sync::Arc::new(custodian_api::metrics::Metrics::default());
        let second = ledger::Ledger::start(app.db.clone(), metrics.clone(), app.citus).await;
        let batch = || {
            tenants
                .iter()
                .map(|(t, _, _)| {
                    outsider_record(&app, custodian_api::domain::TenantId::parse(t).unwrap())
                })
                .collect::<Vec<_>>()
        };
        second.record(batch()).await.unwrap();
        // The second committer's statements, counted by its own metrics.
        let before = metrics.ledger_statements.get();
        second.record(batch()).await.unwrap();
        let spent = metrics.ledger_statements.get() - before;
        if !app.citus {
            assert_eq!(spent, 1, "six tenants' records in one statement");
        }
        2
    } else {
        0
    };
    for (i, (_, token, _)) in tenants.iter().enumerate() {
        let v = app.verify_log(token).await;
        assert_eq!(v["valid"], true, "{v}");
        let expected = 1 + 3 + 4 + usize::from(i == 2) + extra;
        assert_eq!(
            v["checked"],
            expected,
            "tenant {i}: the write, seven reads, {extra} of the second committer{}: {v}",
            if i == 2 {
                ", the outsider's record"
            } else {
                ""
            }
        );
        let seqs: Vec<i64> = app
            .access_log(token)
            .await
            .iter()
            .map(|r| r["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(
            seqs,
            (1..=expected as i64).collect::<Vec<_>>(),
            "gapless, each once"
        );
    }
}

/// A read submitted after a write committed follows it in the chain, however many of the
/// tenant's batches are in flight when the read is recorded: the write's pending record
/// is swept by whichever batch locks the head first, and no batch appends after a head
/// predicted before the sweep.
async fn a_write_precedes_in_the_chain_every_read_submitted_after_it(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let base = app.create_contact(&bob, json!({"firstName": "Ada"})).await["id"].clone();
    let read = json!({"query": "query($id: ID!) { contact(id: $id) { firstName } }", "variables": {"id": base}});
    let mut written = Vec::new();
    for i in 0..12 {
        // Reads of the tenant in flight around each write and the read after it.
        let before: Vec<_> = (0..6)
            .map(|_| app.spawn_gql_ok(&bob, read.clone()))
            .collect();
        let c = app
            .create_contact(&bob, json!({"firstName": format!("C{i}")}))
            .await["id"]
            .clone();
        let around: Vec<_> = (0..6)
            .map(|_| app.spawn_gql_ok(&bob, read.clone()))
            .collect();
        app.gql_ok(
            &bob,
            "query($id: ID!) { contact(id: $id) { firstName } }",
            json!({"id": c}),
        )
        .await;
        for t in before.into_iter().chain(around) {
            t.await.unwrap();
        }
        written.push(c);
    }
    let v = app.verify_log(&bob).await;
    assert_eq!(v["valid"], true, "{v}");
    let log = app.access_log(&bob).await;
    let seqs: Vec<i64> = log.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=log.len() as i64).collect::<Vec<_>>(), "gapless");
    assert_eq!(log.len(), 1 + 12 * 14, "one record per access");
    let seq_of = |operation: &str, id: &Value| {
        let found: Vec<i64> = log
            .iter()
            .filter(|r| r["operation"] == operation && r["resourceIds"] == json!([id]))
            .map(|r| r["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(found.len(), 1, "{operation} of {id}: {found:?}");
        found[0]
    };
    for c in &written {
        assert!(
            seq_of("WRITE", c) < seq_of("READ", c),
            "the write of {c} precedes the read after it"
        );
    }
}

/// Verification reads a chain a page at a time (so no statement outlives the statement
/// timeout on a long chain), by ranges of positions up to the head: a chain of three
/// pages is checked whole, records a tampered chain holds beyond its head are still read,
/// a head far beyond the records does not walk range by range, and tampering on a later
/// page, or a whole page of positions missing, is found where it is.
async fn a_chain_of_many_pages_verifies_whole_and_breaks_where_it_was_tampered(app: TestApp) {
    let (tenant, bob) = app.tenant_with_token("Long").await;
    let id = custodian_api::domain::TenantId::parse(&tenant).unwrap();
    for _ in 0..11 {
        let records: Vec<_> = (0..1_000).map(|_| outsider_record(&app, id)).collect();
        custodian_api::ledger::committer::append(&app.db, id, &records)
            .await
            .unwrap();
    }
    let v = app.verify_log(&bob).await;
    assert_eq!(
        (v["valid"].as_bool(), v["checked"].as_i64()),
        (Some(true), Some(11_000)),
        "{v}"
    );
    let t = sea_orm::Value::from(uuid::Uuid::parse_str(&tenant).unwrap());
    // Each tampering on top of the last: (statement, first broken at, checked, why).
    for (sql, at, checked, reason) in [
        // The head moved back: 5,000 well-linked records lie beyond it.
        (
            "UPDATE ledger_heads SET seq = 6000, hash = (SELECT hash FROM access_records \
             WHERE tenant_id = $1 AND seq = 6000) WHERE tenant_id = $1",
            6_001,
            11_000,
            "the chain does not end at its head",
        ),
        // A head far beyond the last record: the walk ends where the records do, not at
        // the head range by range (without that it would not end).
        (
            "UPDATE ledger_heads SET seq = 1000000000000 WHERE tenant_id = $1",
            11_001,
            11_000,
            "the chain does not end at its head",
        ),
        (
            "UPDATE access_records SET actor_id = 'mallory' WHERE tenant_id = $1 AND seq = 7500",
            7_500,
            7_499,
            "the record's content does not match its hash",
        ),
        // The whole second range of positions gone, records after it left.
        (
            "DELETE FROM access_records WHERE tenant_id = $1 AND seq BETWEEN 5001 AND 10000",
            5_001,
            5_000,
            "a record is missing",
        ),
    ] {
        app.tamper(&[(sql, vec![t.clone()])]).await;
        let v = app.verify_log(&bob).await;
        assert_eq!(
            (v["valid"].as_bool(), v["firstBrokenAt"].as_i64()),
            (Some(false), Some(at)),
            "{v}"
        );
        assert_eq!(
            (v["checked"].as_i64(), &v["reason"]),
            (Some(checked), &json!(reason)),
            "{v}"
        );
    }
}

/// A read record as another appender (a second server, the CLI) would append it.
fn outsider_record(
    app: &TestApp,
    tenant: custodian_api::domain::TenantId,
) -> custodian_api::ledger::NewRecord {
    use custodian_api::ledger;
    ledger::NewRecord::allowed(
        ledger::Attribution {
            tenant,
            at: app.clock.now_chrono(),
            actor_kind: custodian_api::auth::ActorKind::Controller,
            actor_id: "another-server".into(),
            subprocessor_id: None,
            purpose: None,
            instruction_id: None,
            request_id: None,
        },
        ledger::Reach {
            operation: custodian_api::domain::instruction::AccessOperation::Read,
            resource: ledger::ResourceType::Contact,
            fields: Vec::new(),
        },
        Vec::new(),
        0,
    )
}

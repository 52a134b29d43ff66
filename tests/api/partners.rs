//! Subprocessors, transfers, the record of processing, and scoped partner tokens.

use custodian_api::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

crate::on_every_backend!(
    a_subprocessor_takes_effect_no_earlier_than_thirty_days_after_its_announcement,
    an_objection_blocks_and_is_visible_to_the_platform_admin_only_beside_the_tenant,
    transfers_without_a_fitting_safeguard_are_refused_with_a_reason,
    a_partner_reaches_exactly_what_its_scopes_and_the_instruction_both_cover,
    each_partner_condition_failing_alone_denies_and_is_recorded,
    a_partner_never_sees_another_tenant_the_registry_or_other_partners,
    the_record_of_processing_matches_what_was_registered,
);

const READ: &str =
    "query($id: ID!) { contact(id: $id) { id firstName emails { address } employer } }";

async fn a_subprocessor_takes_effect_no_earlier_than_thirty_days_after_its_announcement(
    app: TestApp,
) {
    let admin = app.admin_token();
    let (_, bob) = app.tenant_with_token("Acme").await;
    let register = "mutation($input: RegisterSubprocessorInput!) { registerSubprocessor(input: $input) { id status announcedAt } }";
    let input = json!({"input": {"name": "Mailer", "service": "transactional email", "dataCategories": ["CONTACT_DETAILS"], "locations": ["us", "IE"], "contactEmail": "dpo@mailer.example"}});
    assert_eq!(
        error_code(&app.gql(Some(&bob), register, input.clone()).await),
        "FORBIDDEN"
    );
    let sp = app.gql_ok(&admin, register, input.clone()).await["registerSubprocessor"].clone();
    assert_eq!(sp["status"], "PROPOSED");
    assert_eq!(
        error_code(&app.gql(Some(&admin), register, input).await),
        "CONFLICT",
        "names are unique"
    );
    let bad = app.gql(Some(&admin), register, json!({"input": {"name": "X", "service": "y", "dataCategories": ["IDENTITY"], "locations": ["ZZ"]}})).await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "locations[0]");
    // Controllers do not see it before it is announced.
    let seen = app
        .gql_ok(
            &bob,
            "{ subprocessors { id } subprocessorNotices { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        seen,
        json!({"subprocessors": [], "subprocessorNotices": []})
    );
    let announce = "mutation($id: ID!, $at: DateTime) { announceSubprocessor(id: $id, effectiveAt: $at) { status announcedAt effectiveAt } }";
    let too_soon = (app.clock.now_chrono() + chrono::Duration::days(29)).to_rfc3339();
    let body = app
        .gql(
            Some(&admin),
            announce,
            json!({"id": sp["id"], "at": too_soon}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "effectiveAt");
    let announced = app
        .gql_ok(&admin, announce, json!({"id": sp["id"], "at": null}))
        .await["announceSubprocessor"]
        .clone();
    assert_eq!(announced["status"], "PROPOSED");
    let at =
        |k: &str| chrono::DateTime::parse_from_rfc3339(announced[k].as_str().unwrap()).unwrap();
    assert_eq!(
        at("effectiveAt") - at("announcedAt"),
        chrono::Duration::days(30)
    );
    assert_eq!(
        error_code(
            &app.gql(Some(&admin), announce, json!({"id": sp["id"], "at": null}))
                .await
        ),
        "CONFLICT"
    );
    let notices = app
        .gql_ok(
            &bob,
            "{ subprocessorNotices { id status effectiveAt } }",
            json!({}),
        )
        .await;
    assert_eq!(
        notices["subprocessorNotices"][0]["id"], sp["id"],
        "every controller sees the notice"
    );
    let status = || {
        let admin = admin.clone();
        let id = sp["id"].clone();
        let app = &app;
        async move {
            app.gql_ok(
                &admin,
                "query($id: ID!) { subprocessor(id: $id) { status } }",
                json!({"id": id}),
            )
            .await["subprocessor"]["status"]
                .clone()
        }
    };
    app.clock.advance(30 * 86_400 - 1);
    assert_eq!(status().await, "PROPOSED");
    app.clock.advance(1);
    assert_eq!(status().await, "ACTIVE");
    assert_eq!(
        app.gql_ok(&bob, "{ subprocessorNotices { id } }", json!({}))
            .await["subprocessorNotices"],
        json!([])
    );
    app.gql_ok(
        &admin,
        "mutation($id: ID!) { retireSubprocessor(id: $id) { status } }",
        json!({"id": sp["id"]}),
    )
    .await;
    assert_eq!(status().await, "RETIRED");
    assert_eq!(
        error_code(
            &app.gql(
                Some(&admin),
                "mutation($id: ID!) { retireSubprocessor(id: $id) { status } }",
                json!({"id": sp["id"]})
            )
            .await
        ),
        "CONFLICT"
    );
}

async fn an_objection_blocks_and_is_visible_to_the_platform_admin_only_beside_the_tenant(
    app: TestApp,
) {
    let (acme, acme_token) = app.tenant_with_token("Acme").await;
    let (_, globex_token) = app.tenant_with_token("Globex").await;
    let sp = app
        .active_subprocessor("Mailer", json!(["CONTACT_DETAILS"]), json!(["US"]))
        .await;
    let object = "mutation($id: ID!) { objectToSubprocessor(id: $id, reason: \"US transfer\") { tenantId reason } }";
    let user = app.token(Role::ControllerUser, Some(&acme), "carol");
    assert_eq!(
        error_code(&app.gql(Some(&user), object, json!({"id": sp})).await),
        "FORBIDDEN",
        "the controller's admin objects"
    );
    let made = app.gql_ok(&acme_token, object, json!({"id": sp})).await;
    assert_eq!(
        made["objectToSubprocessor"],
        json!({"tenantId": acme, "reason": "US transfer"})
    );
    assert_eq!(
        error_code(&app.gql(Some(&acme_token), object, json!({"id": sp})).await),
        "CONFLICT"
    );
    let objections = "query($id: ID!) { subprocessor(id: $id) { objections { tenantId reason } } }";
    let admin_view = app
        .gql_ok(&app.admin_token(), objections, json!({"id": sp}))
        .await;
    assert_eq!(
        admin_view["subprocessor"]["objections"],
        json!([{"tenantId": acme, "reason": "US transfer"}])
    );
    let globex_view = app
        .gql_ok(&globex_token, objections, json!({"id": sp}))
        .await;
    assert_eq!(
        globex_view["subprocessor"]["objections"],
        json!([]),
        "one tenant never sees another's objection"
    );
    let acme_view = app.gql_ok(&acme_token, objections, json!({"id": sp})).await;
    assert_eq!(
        acme_view["subprocessor"]["objections"][0]["tenantId"],
        acme.as_str()
    );
    app.gql_ok(
        &acme_token,
        "mutation($id: ID!) { withdrawSubprocessorObjection(id: $id) }",
        json!({"id": sp}),
    )
    .await;
    let after = app
        .gql_ok(&app.admin_token(), objections, json!({"id": sp}))
        .await;
    assert_eq!(after["subprocessor"]["objections"], json!([]));
}

async fn transfers_without_a_fitting_safeguard_are_refused_with_a_reason(app: TestApp) {
    let admin = app.admin_token();
    let sp = app
        .active_subprocessor(
            "Cloud",
            json!(["IDENTITY", "CONTACT_DETAILS"]),
            json!(["US", "IN", "DE", "GB"]),
        )
        .await;
    let record = "mutation($input: RecordTransferInput!) { recordTransfer(input: $input) { id safeguard sccModule reviewDue destinationCountry } }";
    let later = (app.clock.now_chrono() + chrono::Duration::days(365)).to_rfc3339();
    let base = json!({"subprocessorId": sp, "originRegion": "EEA", "destinationCountry": "US", "dataCategories": ["CONTACT_DETAILS"], "safeguard": "STANDARD_CONTRACTUAL_CLAUSES", "sccModule": "PROCESSOR_TO_PROCESSOR", "reviewDueAt": later});
    let with = |changes: Value| {
        let mut input = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            input[k] = v.clone();
        }
        json!({"input": input})
    };
    let yesterday = (app.clock.now_chrono() - chrono::Duration::days(1)).to_rfc3339();
    let cases = [
        (
            json!({"safeguard": null, "sccModule": null}),
            "safeguard",
            "needs a safeguard",
        ),
        (
            json!({"destinationCountry": "IN", "safeguard": "ADEQUACY_DECISION", "sccModule": null}),
            "safeguard",
            "no adequacy decision",
        ),
        (json!({"sccModule": null}), "sccModule", "module"),
        (json!({"reviewDueAt": yesterday}), "reviewDueAt", "past"),
        (
            json!({"destinationCountry": "DE"}),
            "destinationCountry",
            "not an international transfer",
        ),
        (
            json!({"safeguard": "BINDING_CORPORATE_RULES", "sccModule": null}),
            "instrumentReference",
            "instrument",
        ),
        (
            json!({"destinationCountry": "BR"}),
            "destinationCountry",
            "does not process in BR",
        ),
        (
            json!({"dataCategories": ["EMPLOYMENT"]}),
            "dataCategories",
            "does not process",
        ),
        (
            json!({"originRegion": "UK", "destinationCountry": "GB"}),
            "destinationCountry",
            "not an international transfer",
        ),
    ];
    for (changes, field, reason) in cases {
        let body = app.gql(Some(&admin), record, with(changes.clone())).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{changes}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{changes}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(reason),
            "{changes}: {body}"
        );
    }
    assert_eq!(
        app.gql_ok(&admin, "{ transfers { id } }", json!({})).await["transfers"],
        json!([]),
        "nothing stored"
    );
    let ok = app.gql_ok(&admin, record, with(json!({}))).await;
    assert_eq!(ok["recordTransfer"]["reviewDue"], false);
    let soon = (app.clock.now_chrono() + chrono::Duration::days(10)).to_rfc3339();
    let due = app.gql_ok(&admin, record, with(json!({"destinationCountry": "GB", "safeguard": "ADEQUACY_DECISION", "sccModule": null, "reviewDueAt": soon}))).await;
    assert_eq!(
        due["recordTransfer"]["reviewDue"], true,
        "a review due within 30 days is flagged"
    );
    assert_eq!(
        error_code(
            &app.gql(
                Some(&app.controller_token(&app.create_tenant("A").await)),
                record,
                with(json!({}))
            )
            .await
        ),
        "FORBIDDEN"
    );
}

/// A tenant with one contact, an active subprocessor and an instruction naming it for
/// SUPPORT reads of IDENTITY and CONTACT_DETAILS.
async fn partner_setup(app: &TestApp) -> (String, String, String, String, String) {
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    let sp = app
        .active_subprocessor(
            "Helpdesk",
            json!(["IDENTITY", "CONTACT_DETAILS", "EMPLOYMENT"]),
            json!(["IE"]),
        )
        .await;
    let contact = app
        .create_contact(&bob, json!({"firstName": "Ada", "employer": "Engines", "emails": [{"address": "ada@example.com"}]}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let instruction = app
        .issue_instruction(&bob, json!({"purpose": "SUPPORT", "actorKinds": ["SUBPROCESSOR"], "subprocessorIds": [sp], "dataCategories": ["IDENTITY", "CONTACT_DETAILS"], "operations": ["READ"]}))
        .await;
    (tenant, bob, sp, contact, instruction)
}

async fn a_partner_reaches_exactly_what_its_scopes_and_the_instruction_both_cover(app: TestApp) {
    let (tenant, bob, sp, contact, instruction) = partner_setup(&app).await;
    let (token, _) = app
        .partner_token(&tenant, &sp, "SUPPORT", json!(["contacts:read"]))
        .await;
    let body = app.gql(Some(&token), READ, json!({"id": contact})).await;
    assert_eq!(body["data"]["contact"]["firstName"], "Ada");
    assert_eq!(
        body["data"]["contact"]["emails"],
        json!([{"address": "ada@example.com"}])
    );
    assert_eq!(
        body["data"]["contact"]["employer"],
        Value::Null,
        "outside the instruction"
    );
    assert_eq!(error_code(&body), "FORBIDDEN");
    let (narrow, _) = app
        .partner_token(&tenant, &sp, "SUPPORT", json!(["contacts.identity:read"]))
        .await;
    let body = app.gql(Some(&narrow), READ, json!({"id": contact})).await;
    assert_eq!(body["data"]["contact"]["firstName"], "Ada");
    assert_eq!(
        body["data"]["contact"]["emails"],
        Value::Null,
        "outside the token's scopes"
    );
    let viewer = app
        .gql_ok(
            &narrow,
            "{ viewer { actorKind subject tenantId scopes purpose } }",
            json!({}),
        )
        .await;
    assert_eq!(
        viewer["viewer"],
        json!({"actorKind": "SUBPROCESSOR", "subject": sp, "tenantId": tenant, "scopes": ["contacts.identity:read"], "purpose": "SUPPORT"})
    );
    let log = app.access_log(&bob).await;
    let partner: Vec<&Value> = log
        .iter()
        .filter(|r| r["actorKind"] == "SUBPROCESSOR")
        .collect();
    assert_eq!(
        partner.len(),
        4,
        "two reads, each with the refused fields beside it"
    );
    for r in &partner {
        assert_eq!(r["subprocessorId"], sp.as_str());
        assert_eq!(r["instructionId"], instruction.as_str());
    }
    assert_eq!(
        (partner[0]["outcome"].as_str(), &partner[0]["fields"]),
        (Some("ALLOWED"), &json!(["id", "firstName", "emails"]))
    );
    assert_eq!(
        (partner[1]["outcome"].as_str(), &partner[1]["fields"]),
        (Some("DENIED"), &json!(["employer"]))
    );
    assert_eq!(
        (partner[2]["outcome"].as_str(), &partner[2]["fields"]),
        (Some("ALLOWED"), &json!(["id", "firstName"]))
    );
}

async fn each_partner_condition_failing_alone_denies_and_is_recorded(app: TestApp) {
    let (tenant, bob, sp, contact, _) = partner_setup(&app).await;
    // Registered first: making it active moves the clock a month on.
    let other = app
        .active_subprocessor("Other", json!(["IDENTITY"]), json!(["IE"]))
        .await;
    let admin = app.admin_token();
    let read = "query($id: ID!) { contact(id: $id) { firstName } }";
    let allowed = |token: String| {
        let app = &app;
        let contact = contact.clone();
        async move { app.gql(Some(&token), read, json!({"id": contact})).await }
    };
    let (token, token_id) = app
        .partner_token(&tenant, &sp, "SUPPORT", json!(["contacts:read"]))
        .await;
    assert_eq!(
        allowed(token.clone()).await["data"]["contact"]["firstName"],
        "Ada",
        "all conditions hold"
    );
    // Wrong purpose.
    let (security, _) = app
        .partner_token(&tenant, &sp, "SECURITY", json!(["contacts:read"]))
        .await;
    assert_eq!(error_code(&allowed(security).await), "FORBIDDEN");
    // Scopes do not cover the operation.
    let (appointments_only, _) = app
        .partner_token(&tenant, &sp, "SUPPORT", json!(["appointments:read"]))
        .await;
    assert_eq!(error_code(&allowed(appointments_only).await), "FORBIDDEN");
    let write = app.gql(Some(&token), "mutation($id: ID!) { updateContact(id: $id, input: {firstName: \"X\"}, expectedVersion: 1) { id } }", json!({"id": contact})).await;
    assert_eq!(
        error_code(&write),
        "FORBIDDEN",
        "contacts:read does not write"
    );
    // No instruction names this subprocessor.
    let (unnamed, _) = app
        .partner_token(&tenant, &other, "SUPPORT", json!(["contacts:read"]))
        .await;
    assert_eq!(error_code(&allowed(unnamed).await), "FORBIDDEN");
    // Objection takes effect at once, and withdrawing it restores access.
    app.gql_ok(
        &bob,
        "mutation($id: ID!) { objectToSubprocessor(id: $id) { objectedAt } }",
        json!({"id": sp}),
    )
    .await;
    assert_eq!(error_code(&allowed(token.clone()).await), "FORBIDDEN");
    app.gql_ok(
        &bob,
        "mutation($id: ID!) { withdrawSubprocessorObjection(id: $id) }",
        json!({"id": sp}),
    )
    .await;
    assert_eq!(
        allowed(token.clone()).await["data"]["contact"]["firstName"],
        "Ada"
    );
    // Revocation takes effect on the next request.
    app.gql_ok(
        &admin,
        "mutation($t: ID!, $id: ID!) { revokePartnerToken(tenantId: $t, id: $id) { revokedAt } }",
        json!({"t": tenant, "id": token_id}),
    )
    .await;
    assert_eq!(error_code(&allowed(token).await), "FORBIDDEN");
    // A subprocessor in its notice period is not active yet.
    let pending = app
        .gql_ok(&admin, "mutation { registerSubprocessor(input: {name: \"Pending\", service: \"s\", dataCategories: [IDENTITY], locations: [\"IE\"]}) { id } }", json!({}))
        .await["registerSubprocessor"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql_ok(
        &admin,
        "mutation($id: ID!) { announceSubprocessor(id: $id) { id } }",
        json!({"id": pending}),
    )
    .await;
    app.issue_instruction(&bob, json!({"purpose": "SUPPORT", "actorKinds": ["SUBPROCESSOR"], "subprocessorIds": [pending], "dataCategories": ["IDENTITY"], "operations": ["READ"]})).await;
    let (early, _) = app
        .partner_token(&tenant, &pending, "SUPPORT", json!(["contacts:read"]))
        .await;
    assert_eq!(error_code(&allowed(early).await), "FORBIDDEN");
    // A retired subprocessor's tokens stop at once.
    let (fresh, _) = app
        .partner_token(&tenant, &sp, "SUPPORT", json!(["contacts:read"]))
        .await;
    assert_eq!(
        allowed(fresh.clone()).await["data"]["contact"]["firstName"],
        "Ada"
    );
    app.gql_ok(
        &admin,
        "mutation($id: ID!) { retireSubprocessor(id: $id) { id } }",
        json!({"id": sp}),
    )
    .await;
    assert_eq!(error_code(&allowed(fresh).await), "FORBIDDEN");
    // Every partner call is in the ledger with its subprocessor.
    let log = app.access_log(&bob).await;
    let partner: Vec<(&str, &str)> = log
        .iter()
        .filter(|r| r["actorKind"] == "SUBPROCESSOR")
        .map(|r| {
            (
                r["outcome"].as_str().unwrap(),
                r["subprocessorId"].as_str().unwrap(),
            )
        })
        .collect();
    let (s, o, p) = (sp.as_str(), other.as_str(), pending.as_str());
    assert_eq!(
        partner,
        [
            ("ALLOWED", s),
            ("DENIED", s),
            ("DENIED", s),
            ("DENIED", s),
            ("DENIED", o),
            ("DENIED", s),
            ("ALLOWED", s),
            ("DENIED", s),
            ("DENIED", p),
            ("ALLOWED", s),
            ("DENIED", s)
        ]
    );
    assert_eq!(app.verify_log(&bob).await["valid"], true);
}

async fn a_partner_never_sees_another_tenant_the_registry_or_other_partners(app: TestApp) {
    let (tenant, _, sp, _, _) = partner_setup(&app).await;
    let (other_tenant, other_bob) = app.tenant_with_token("Globex").await;
    let theirs = app
        .create_contact(&other_bob, json!({"firstName": "Secret"}))
        .await;
    app.issue_instruction(&other_bob, json!({"purpose": "SUPPORT", "actorKinds": ["SUBPROCESSOR"], "subprocessorIds": [sp], "dataCategories": ["IDENTITY"], "operations": ["READ"]})).await;
    let (token, _) = app
        .partner_token(&tenant, &sp, "SUPPORT", json!(["contacts:read"]))
        .await;
    let missing = app
        .gql(
            Some(&token),
            READ,
            json!({"id": uuid::Uuid::now_v7().to_string()}),
        )
        .await;
    let foreign = app
        .gql(Some(&token), READ, json!({"id": theirs["id"]}))
        .await;
    assert_eq!(error_code(&foreign), "NOT_FOUND");
    assert_eq!(
        foreign["errors"][0]["message"],
        missing["errors"][0]["message"]
    );
    let list = app
        .gql_ok(&token, "{ contacts { nodes { firstName } } }", json!({}))
        .await;
    assert_eq!(list["contacts"]["nodes"], json!([{"firstName": "Ada"}]));
    for q in [
        "{ subprocessors { id } }".to_owned(),
        "{ transfers { id } }".to_owned(),
        format!("{{ partnerTokens(tenantId: \"{tenant}\") {{ id }} }}"),
        format!("{{ partnerTokens(tenantId: \"{other_tenant}\") {{ id }} }}"),
        "{ tenants { edges { node { id } } } }".to_owned(),
        "{ accessLog { totalCount } }".to_owned(),
        "{ instructions { edges { node { id } } } }".to_owned(),
        "{ recordOfProcessing { generatedAt } }".to_owned(),
    ] {
        let body = app.gql(Some(&token), &q, json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{q}: {body}");
    }
}

async fn the_record_of_processing_matches_what_was_registered(app: TestApp) {
    let admin = app.admin_token();
    let (_, bob) = app.tenant_with_token("Acme").await;
    let mailer = app
        .active_subprocessor(
            "Mailer",
            json!(["IDENTITY", "CONTACT_DETAILS"]),
            json!(["US", "IE"]),
        )
        .await;
    let hosting = app
        .active_subprocessor(
            "Hosting",
            json!(["IDENTITY", "CONTACT_DETAILS", "APPOINTMENTS"]),
            json!(["DE", "IN", "GB"]),
        )
        .await;
    let record = "mutation($input: RecordTransferInput!) { recordTransfer(input: $input) { id } }";
    let later = (app.clock.now_chrono() + chrono::Duration::days(365)).to_rfc3339();
    let mut transfer_ids = Vec::new();
    for input in [
        json!({"subprocessorId": mailer, "originRegion": "EEA", "destinationCountry": "US", "dataCategories": ["CONTACT_DETAILS"], "safeguard": "STANDARD_CONTRACTUAL_CLAUSES", "sccModule": "PROCESSOR_TO_PROCESSOR", "supplementaryMeasures": "encryption at rest with EU-held keys", "reviewDueAt": later}),
        json!({"subprocessorId": hosting, "originRegion": "EEA", "destinationCountry": "IN", "dataCategories": ["IDENTITY"], "safeguard": "BINDING_CORPORATE_RULES", "instrumentReference": "BCR-P approved 2024", "reviewDueAt": later}),
        json!({"subprocessorId": hosting, "originRegion": "EEA", "destinationCountry": "GB", "dataCategories": ["APPOINTMENTS"], "safeguard": "ADEQUACY_DECISION", "reviewDueAt": later}),
    ] {
        transfer_ids.push(
            app.gql_ok(&admin, record, json!({"input": input})).await["recordTransfer"]["id"]
                .clone(),
        );
    }
    // A subprocessor never announced is not in the record.
    app.gql_ok(&admin, "mutation { registerSubprocessor(input: {name: \"Draft\", service: \"s\", dataCategories: [IDENTITY], locations: [\"IE\"]}) { id } }", json!({})).await;
    let support = app.issue_instruction(&bob, json!({"purpose": "SUPPORT", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": ["IDENTITY"], "operations": ["READ"]})).await;
    let rop = app
        .gql_ok(&bob, "{ recordOfProcessing { controller { name jurisdictions } processor { name } processingActivities { id purpose standing } subprocessors { objected subprocessor { id name locations } } transfers { id subprocessorId destinationCountry safeguard sccModule instrumentReference supplementaryMeasures } securityMeasures } }", json!({}))
        .await["recordOfProcessing"]
        .clone();
    assert_eq!(
        rop["controller"],
        json!({"name": "Acme", "jurisdictions": ["EEA"]})
    );
    assert_eq!(rop["processor"]["name"], "Custodian operator");
    let activities: Vec<&str> = rop["processingActivities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["purpose"].as_str().unwrap())
        .collect();
    assert_eq!(activities, ["SERVICE_DELIVERY", "SUPPORT"]);
    assert_eq!(rop["processingActivities"][1]["id"], support.as_str());
    let names: Vec<&str> = rop["subprocessors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subprocessor"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Mailer", "Hosting"]);
    assert_eq!(
        rop["subprocessors"][0]["subprocessor"]["locations"],
        json!(["US", "IE"])
    );
    let transfers = rop["transfers"].as_array().unwrap();
    assert_eq!(
        transfers
            .iter()
            .map(|t| t["id"].clone())
            .collect::<Vec<_>>(),
        transfer_ids
    );
    assert_eq!(transfers[0]["sccModule"], "PROCESSOR_TO_PROCESSOR");
    assert_eq!(
        transfers[0]["supplementaryMeasures"],
        "encryption at rest with EU-held keys"
    );
    assert_eq!(transfers[1]["instrumentReference"], "BCR-P approved 2024");
    assert_eq!(transfers[2]["safeguard"], "ADEQUACY_DECISION");
    assert!(rop["securityMeasures"].as_array().unwrap().len() >= 5);
    // An objection shows in the record.
    app.gql_ok(
        &bob,
        "mutation($id: ID!) { objectToSubprocessor(id: $id) { objectedAt } }",
        json!({"id": mailer}),
    )
    .await;
    let rop = app
        .gql_ok(
            &bob,
            "{ recordOfProcessing { subprocessors { objected } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        rop["recordOfProcessing"]["subprocessors"],
        json!([{"objected": true}, {"objected": false}])
    );
}

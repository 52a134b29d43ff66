//! Another tenant's contact answers exactly like one that does not exist.

use custodian_api::domain::ContactId;
use custodian_api::domain::instruction::Purpose;
use serde_json::json;

use crate::harness::{self, code, controller_admin};
use crate::matrix::seed_contact;
use crate::staff::EVERY_CATEGORY;

/// NOTE: neither tenant's ledger records these attempts: the lookup fails inside the
/// gate's transaction, which is dropped without a record. A controller reviewing its
/// log cannot see that one of its users (or the processor's staff) probed ids that are
/// not its own; one might expect the attempt recorded in the caller's tenant.
#[test]
fn another_tenants_contact_answers_exactly_like_a_missing_one_and_is_left_untouched() {
    harness::run(|w| async move {
        let h = &w.h;
        let acme = h.create_tenant("Acme (isolation)").await;
        let globex = h.create_tenant("Globex (isolation)").await;
        let theirs = h.create_contact(globex, seed_contact()).await;
        h.issue_instruction(
            acme,
            json!({"purpose": "SUPPORT", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": EVERY_CATEGORY, "operations": ["READ", "WRITE", "ERASE"]}),
        )
        .await;
        let missing = ContactId::new();
        let acme_before = h.access_log(acme).await.len();
        let globex_before = h.access_log(globex).await.len();
        let operations = [
            "query($id: ID!) { contact(id: $id) { id firstName emails { address } } }",
            "mutation($id: ID!) { updateContact(id: $id, input: {firstName: \"Pwned\"}, expectedVersion: 1) { id } }",
            "mutation($id: ID!) { deleteContact(id: $id) }",
        ];
        let callers = [
            controller_admin(acme),
            harness::controller_user(acme),
            harness::staff(acme, Some(Purpose::Support), None),
        ];
        for caller in &callers {
            for op in operations {
                let foreign = h
                    .exec(Some(caller.clone()), op, json!({"id": theirs.to_string()}))
                    .await;
                let nobody = h
                    .exec(Some(caller.clone()), op, json!({"id": missing.to_string()}))
                    .await;
                assert_eq!(
                    code(&foreign),
                    "NOT_FOUND",
                    "{:?} {op}: {foreign}",
                    caller.role
                );
                assert_eq!(foreign, nobody, "{:?} {op}", caller.role);
            }
        }
        assert_eq!(h.access_log(acme).await.len(), acme_before);
        assert_eq!(h.access_log(globex).await.len(), globex_before);
        let still = h
            .ok(
                &controller_admin(globex),
                "query($id: ID!) { contact(id: $id) { firstName version } }",
                json!({"id": theirs.to_string()}),
            )
            .await;
        assert_eq!(still["contact"], json!({"firstName": "Ada", "version": 1}));
    });
}

//! The gates for a tenant's records that are not personal data: instructions,
//! objections, partner tokens, its ledger. None of these is an access to be recorded.

use custodian_api::auth::Caller;
use custodian_api::domain::PartnerTokenId;
use custodian_api::domain::instruction::Purpose;
use serde_json::{Value, json};

use crate::harness::{self, World, code, controller_admin};

#[derive(Debug, Clone, Copy)]
enum Who {
    Anonymous,
    ControllerAdmin,
    ControllerUser,
    Staff,
    Partner,
    PlatformAdmin,
    /// The controller admin of another tenant.
    OtherTenantsAdmin,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    ReadAccessLog,
    VerifyAccessLog,
    ListInstructions,
    IssueInstruction,
    RevokeInstruction,
    RevokeStandingInstruction,
    MintPartnerToken,
    ObjectToSubprocessor,
}

async fn gate(w: &'static World, name: &str, who: Who, action: Action, wanted: Option<&str>) {
    let h = &w.h;
    let tenant = h.create_tenant(name).await;
    let instruction = h
        .issue_instruction(
            tenant,
            json!({"purpose": "SUPPORT", "actorKinds": ["PROCESSOR_STAFF"], "dataCategories": ["IDENTITY"], "operations": ["READ"]}),
        )
        .await;
    let caller: Option<Caller> = match who {
        Who::Anonymous => None,
        Who::ControllerAdmin => Some(controller_admin(tenant)),
        Who::ControllerUser => Some(harness::controller_user(tenant)),
        Who::Staff => Some(harness::staff(tenant, Some(Purpose::Support), None)),
        Who::Partner => Some(harness::partner(
            tenant,
            w.helpdesk,
            PartnerTokenId::new(),
            Some(Purpose::Support),
            &["contacts:read"],
        )),
        Who::PlatformAdmin => Some(harness::platform_admin_in(tenant, Some(Purpose::Support))),
        Who::OtherTenantsAdmin => Some(controller_admin(
            h.create_tenant(&format!("{name} (other)")).await,
        )),
    };
    let (query, variables): (&str, Value) = match action {
        Action::ReadAccessLog => ("{ accessLog { totalCount } }", json!({})),
        Action::VerifyAccessLog => ("{ verifyAccessLog { valid } }", json!({})),
        Action::ListInstructions => ("{ instructions { edges { node { id } } } }", json!({})),
        Action::IssueInstruction => (
            "mutation { issueInstruction(input: {purpose: SUPPORT, actorKinds: [PROCESSOR_STAFF], dataCategories: [IDENTITY], operations: [READ]}) { id } }",
            json!({}),
        ),
        Action::RevokeInstruction => (
            "mutation($id: ID!) { revokeInstruction(id: $id) { id } }",
            json!({"id": instruction.to_string()}),
        ),
        Action::RevokeStandingInstruction => (
            "mutation($id: ID!) { revokeInstruction(id: $id) { id } }",
            json!({"id": tenant.to_string()}),
        ),
        Action::MintPartnerToken => (
            "mutation($input: MintPartnerTokenInput!) { mintPartnerToken(input: $input) { token } }",
            json!({"input": {"tenantId": tenant.to_string(), "subprocessorId": w.helpdesk.to_string(), "purpose": "SUPPORT", "scopes": ["contacts:read"]}}),
        ),
        Action::ObjectToSubprocessor => (
            "mutation($id: ID!) { objectToSubprocessor(id: $id) { objectedAt } }",
            json!({"id": w.helpdesk.to_string()}),
        ),
    };
    let before = h.access_log(tenant).await.len();
    let body = h.exec(caller, query, variables).await;
    match wanted {
        Some(wanted) => assert_eq!(code(&body), wanted, "{name}: {body}"),
        None => assert!(body.get("errors").is_none(), "{name}: {body}"),
    }
    assert_eq!(
        h.access_log(tenant).await.len(),
        before,
        "{name}: nothing recorded"
    );
}

macro_rules! gates {
    ($($name:ident: $who:ident, $action:ident, $code:expr;)*) => {
        $(
            #[test]
            fn $name() {
                harness::run(|w| gate(w, stringify!($name), Who::$who, Action::$action, $code));
            }
        )*
    };
}

gates! {
    controller_admin_reads_and_verifies_its_access_log:
        ControllerAdmin, VerifyAccessLog, None;
    controller_user_cannot_read_the_access_log: ControllerUser, ReadAccessLog, Some("FORBIDDEN");
    processor_staff_cannot_read_the_access_log: Staff, ReadAccessLog, Some("FORBIDDEN");
    partner_cannot_read_the_access_log: Partner, ReadAccessLog, Some("FORBIDDEN");
    platform_admin_cannot_read_a_tenants_access_log: PlatformAdmin, ReadAccessLog, Some("FORBIDDEN");
    anonymous_caller_cannot_read_the_access_log: Anonymous, ReadAccessLog, Some("UNAUTHENTICATED");
    controller_user_lists_the_tenants_instructions: ControllerUser, ListInstructions, None;
    processor_staff_cannot_list_the_tenants_instructions: Staff, ListInstructions, Some("FORBIDDEN");
    controller_user_cannot_issue_an_instruction: ControllerUser, IssueInstruction, Some("FORBIDDEN");
    processor_staff_cannot_issue_an_instruction: Staff, IssueInstruction, Some("FORBIDDEN");
    platform_admin_cannot_issue_an_instruction_for_a_controller:
        PlatformAdmin, IssueInstruction, Some("FORBIDDEN");
    controller_admin_revokes_its_instruction: ControllerAdmin, RevokeInstruction, None;
    controller_admin_cannot_revoke_another_tenants_instruction_which_looks_missing:
        OtherTenantsAdmin, RevokeInstruction, Some("NOT_FOUND");
    controller_admin_cannot_revoke_the_standing_instruction:
        ControllerAdmin, RevokeStandingInstruction, Some("BAD_USER_INPUT");
    controller_admin_cannot_mint_a_partner_token: ControllerAdmin, MintPartnerToken, Some("FORBIDDEN");
    controller_user_cannot_object_to_a_subprocessor:
        ControllerUser, ObjectToSubprocessor, Some("FORBIDDEN");
}

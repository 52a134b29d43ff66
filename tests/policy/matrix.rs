//! The decision matrix: each row one case (who asks, under which instruction, with which
//! token, for what) and its expected outcome (the data, the error code, the ledger
//! records). [`check`] sets a fresh tenant up for the row through the schema, runs the
//! operation, and asserts all three.

use custodian_api::auth::Caller;
use custodian_api::domain::instruction::Purpose;
use custodian_api::domain::{
    AppointmentId, ContactId, InstructionId, PartnerTokenId, SubprocessorId, TenantId,
};
use serde_json::{Value, json};

use crate::harness::{self, World, code, controller_admin, id};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Anonymous,
    ControllerAdmin,
    ControllerUser,
    Staff,
    /// With the tenant (and purpose) in its token.
    PlatformAdmin,
    /// As its tokens usually are: no tenant.
    PlatformAdminWithoutTenant,
    Partner(PartnerCondition),
}

/// The state of a partner's token and subprocessor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerCondition {
    /// Recorded for this tenant, unexpired; the subprocessor active; no objection.
    Recorded,
    /// A `jti` no token was minted under.
    UnknownJti,
    Revoked,
    /// Minted for 60 s, and the clock moved past it.
    Expired,
    /// The subprocessor is announced but still in its notice period.
    Proposed,
    Retired,
    /// The controller objected to the subprocessor.
    Objected,
    /// The tenant's instruction names another subprocessor.
    NotNamed,
    /// The `jti` of a token recorded for another tenant.
    OtherTenantsToken,
    /// The `jti` of a token recorded for another subprocessor.
    OtherSubprocessorsToken,
}

/// The purpose in the caller's token, against the instructions' `SUPPORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    Matching,
    Other,
    Absent,
}

/// The one instruction a staff or admin token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    No,
    First,
    Second,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Active,
    Revoked,
    /// Valid until yesterday.
    Expired,
    /// Valid from next month.
    NotYetValid,
}

/// An instruction the row's tenant issues.
#[derive(Debug, Clone, Copy)]
pub struct Instr {
    pub state: State,
    pub purpose: &'static str,
    pub kinds: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub operations: &'static [&'static str],
}

/// An active `SUPPORT` instruction for staff, platform admins and the row's partner.
pub fn instr(categories: &'static [&'static str], operations: &'static [&'static str]) -> Instr {
    Instr {
        state: State::Active,
        purpose: "SUPPORT",
        kinds: &["PROCESSOR_STAFF", "PLATFORM_ADMIN", "SUBPROCESSOR"],
        categories,
        operations,
    }
}

impl Instr {
    pub fn state(self, state: State) -> Self {
        Self { state, ..self }
    }

    pub fn purpose(self, purpose: &'static str) -> Self {
        Self { purpose, ..self }
    }

    pub fn kinds(self, kinds: &'static [&'static str]) -> Self {
        Self { kinds, ..self }
    }
}

/// What the row asks for.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// `contact(id)` selecting `id` and these fields.
    Read(&'static [&'static str]),
    /// `contacts { nodes { … } }` selecting `id` and these fields.
    List(&'static [&'static str]),
    /// `createContact` setting these fields, returning `id`.
    Create(&'static [&'static str]),
    /// `updateContact` setting these fields, returning `id version`.
    Update(&'static [&'static str]),
    /// `deleteContact`.
    Erase,
    /// `appointment(id)` selecting `id` and these fields.
    ReadAppointment(&'static [&'static str]),
    /// `updateAppointment` setting the title, returning `id version`.
    UpdateAppointment,
    /// `deleteAppointment`.
    EraseAppointment,
}

/// Which instruction a record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Under {
    /// The tenant's standing direct-request instruction.
    Standing,
    First,
    Second,
    /// None.
    Nothing,
}

/// A ledger record the row must leave, in order.
#[derive(Debug, Clone, Copy)]
pub enum Rec {
    /// ALLOWED: the fields asked for but not refused.
    Allowed(Under),
    /// DENIED: the refused fields (outside the grant's categories).
    Refused(Under),
    /// DENIED: everything asked for.
    Denied(Under),
    /// ALLOWED: the nested read of the contact's appointments (`title`).
    AppointmentsAllowed(Under),
}

#[derive(Debug, Clone)]
pub struct Expect {
    /// The error the whole operation fails with; `None` when it answers.
    pub code: Option<&'static str>,
    /// Fields refused for their category: `null` with a `FORBIDDEN` error each when the
    /// operation answers; those on the `Refused` record either way.
    pub refused: &'static [&'static str],
    pub records: Vec<Rec>,
    /// A part of the refusal's reason (the error message and the DENIED record's).
    pub why: Option<&'static str>,
}

/// Answers in full, one ALLOWED record.
pub fn allowed(under: Under) -> Expect {
    Expect {
        code: None,
        refused: &[],
        records: vec![Rec::Allowed(under)],
        why: None,
    }
}

/// Answers with `refused` null; an ALLOWED record beside a DENIED one for them.
pub fn partial(refused: &'static [&'static str], under: Under) -> Expect {
    Expect {
        code: None,
        refused,
        records: vec![Rec::Allowed(under), Rec::Refused(under)],
        why: None,
    }
}

/// Refused whole for `refused` (outside the grant's categories), recorded so.
pub fn refused_whole(refused: &'static [&'static str], under: Under) -> Expect {
    Expect {
        code: Some("FORBIDDEN"),
        refused,
        records: vec![Rec::Refused(under)],
        why: Some("does not cover these data categories"),
    }
}

/// Refused before any instruction grants anything, recorded with `why`.
pub fn denied(why: &'static str) -> Expect {
    Expect {
        code: Some("FORBIDDEN"),
        refused: &[],
        records: vec![Rec::Denied(Under::Nothing)],
        why: Some(why),
    }
}

/// Fails with `code` and leaves no record in the tenant's ledger.
pub fn unrecorded(code: &'static str) -> Expect {
    Expect {
        code: Some(code),
        refused: &[],
        records: Vec::new(),
        why: None,
    }
}

pub struct Case {
    pub actor: Actor,
    pub purpose: TokenPurpose,
    pub named: Named,
    pub first: Option<Instr>,
    pub second: Option<Instr>,
    /// A partner token's scopes.
    pub scopes: &'static [&'static str],
    pub op: Op,
    pub expect: Expect,
}

impl Case {
    pub fn new(actor: Actor, op: Op) -> Self {
        Self {
            actor,
            purpose: TokenPurpose::Matching,
            named: Named::No,
            first: None,
            second: None,
            scopes: &["contacts:read"],
            op,
            expect: allowed(Under::Standing),
        }
    }

    pub fn under(self, first: Instr) -> Self {
        Self {
            first: Some(first),
            ..self
        }
    }

    pub fn and(self, second: Instr) -> Self {
        Self {
            second: Some(second),
            ..self
        }
    }

    pub fn purpose(self, purpose: TokenPurpose) -> Self {
        Self { purpose, ..self }
    }

    pub fn naming(self, named: Named) -> Self {
        Self { named, ..self }
    }

    pub fn scopes(self, scopes: &'static [&'static str]) -> Self {
        Self { scopes, ..self }
    }

    pub fn expect(self, expect: Expect) -> Self {
        Self { expect, ..self }
    }
}

/// One row per test, named by the sentence it proves, all on the shared world.
macro_rules! matrix {
    ($($name:ident: $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                $crate::harness::run(|w| $crate::matrix::check(w, stringify!($name), $case));
            }
        )*
    };
}
pub(crate) use matrix;

// --- The seeded contact, and what each field reads and writes as. ---

/// A contact with data in every category.
pub fn seed_contact() -> Value {
    json!({
        "firstName": "Ada",
        "lastName": "Lovelace",
        "tags": ["vip"],
        "source": "THIRD_PARTY",
        "emails": [{"address": "ada@example.com"}],
        "phones": [{"number": "+442071234567"}],
        "addresses": [{"country": "GB", "city": "London", "lines": ["12 St James's Square"]}],
        "employer": "Analytical Engines",
        "jobTitle": "Programmer",
        "customFields": {"tier": "gold"},
        "marketingPreferences": {"email": "OPTED_IN"},
        "optOutOfSale": true,
        "optOutOfSharing": false,
    })
}

pub fn seed_appointment() -> Value {
    json!({
        "startsAt": "2030-01-02T10:00:00Z",
        "endsAt": "2030-01-02T11:00:00Z",
        "title": "Kickoff",
        "location": "Room 1",
        "notes": "bring the engine",
    })
}

/// How a field is selected.
fn selection(field: &str) -> String {
    match field {
        "emails" => "emails { address }".into(),
        "phones" => "phones { number }".into(),
        "addresses" => "addresses { country city }".into(),
        "marketingPreferences" => "marketingPreferences { email }".into(),
        "appointments" => "appointments { nodes { title } }".into(),
        other => other.into(),
    }
}

/// What the seeded contact (or appointment) answers for a field.
fn seeded(field: &str) -> Value {
    match field {
        "addresses" => json!([{"country": "GB", "city": "London"}]),
        "appointments" => json!({"nodes": [{"title": "Kickoff"}]}),
        "title" | "location" | "notes" => seed_appointment()[field].clone(),
        other => seed_contact()[other].clone(),
    }
}

/// A new value for a field: written as is, and read back the same.
fn changed(field: &str) -> Value {
    match field {
        "firstName" => json!("Grace"),
        "lastName" => json!("Hopper"),
        "tags" => json!(["navy"]),
        "source" => json!("DIRECT"),
        "emails" => json!([{"address": "grace@example.com"}]),
        "phones" => json!([{"number": "+14155550100"}]),
        "addresses" => json!([{"country": "US", "city": "Arlington"}]),
        "employer" => json!("US Navy"),
        "jobTitle" => json!("Rear admiral"),
        "customFields" => json!({"tier": "platinum"}),
        "marketingPreferences" => json!({"email": "OPTED_OUT"}),
        "optOutOfSale" => json!(false),
        "optOutOfSharing" => json!(true),
        other => panic!("no new value for {other}"),
    }
}

fn input_of(fields: &[&str]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|f| ((*f).to_owned(), changed(f)))
            .collect(),
    )
}

fn selections(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| selection(f))
        .collect::<Vec<_>>()
        .join(" ")
}

// --- Running a row. ---

/// What a row's setup made.
struct Scene {
    tenant: TenantId,
    contact: ContactId,
    appointment: AppointmentId,
    first: Option<InstructionId>,
    second: Option<InstructionId>,
    caller: Option<Caller>,
    /// The subprocessor a partner acts as.
    subprocessor: Option<SubprocessorId>,
}

fn token_purpose(p: TokenPurpose) -> Option<Purpose> {
    match p {
        TokenPurpose::Matching => Some(Purpose::Support),
        TokenPurpose::Other => Some(Purpose::Security),
        TokenPurpose::Absent => None,
    }
}

async fn issue(
    w: &World,
    tenant: TenantId,
    instruction: Instr,
    names: SubprocessorId,
) -> InstructionId {
    let now = w.h.now();
    let day = chrono::Duration::days(1);
    let (from, until) = match instruction.state {
        State::Expired => (Some(now - day * 2), Some(now - day)),
        State::NotYetValid => (Some(now + day * 30), None),
        State::Active | State::Revoked => (None, None),
    };
    let subprocessors = if instruction.kinds.contains(&"SUBPROCESSOR") {
        vec![names.to_string()]
    } else {
        Vec::new()
    };
    let id =
        w.h.issue_instruction(
            tenant,
            json!({
                "purpose": instruction.purpose,
                "actorKinds": instruction.kinds,
                "subprocessorIds": subprocessors,
                "dataCategories": instruction.categories,
                "operations": instruction.operations,
                "validFrom": from.map(|t| t.to_rfc3339()),
                "validUntil": until.map(|t| t.to_rfc3339()),
            }),
        )
        .await;
    if instruction.state == State::Revoked {
        w.h.revoke_instruction(tenant, id).await;
    }
    id
}

async fn set_up(w: &'static World, name: &str, case: &Case) -> Scene {
    let h = &w.h;
    let tenant = h.create_tenant(name).await;
    let contact = h.create_contact(tenant, seed_contact()).await;
    let appointment = h
        .create_appointment(tenant, contact, seed_appointment())
        .await;
    let partner_sp = match case.actor {
        Actor::Partner(PartnerCondition::Proposed) => Some(w.pending),
        Actor::Partner(PartnerCondition::Retired) => Some(w.retiring),
        Actor::Partner(_) => Some(w.helpdesk),
        _ => None,
    };
    // The subprocessor the tenant's instructions name.
    let named_sp = match case.actor {
        Actor::Partner(PartnerCondition::NotNamed) => w.other,
        _ => partner_sp.unwrap_or(w.helpdesk),
    };
    let mut first = None;
    if let Some(i) = case.first {
        first = Some(issue(w, tenant, i, named_sp).await);
    }
    let mut second = None;
    if let Some(i) = case.second {
        second = Some(issue(w, tenant, i, named_sp).await);
    }
    let purpose = token_purpose(case.purpose);
    let named = match case.named {
        Named::No => None,
        Named::First => first,
        Named::Second => second,
        Named::Unknown => Some(InstructionId::new()),
    };
    let caller = match case.actor {
        Actor::Anonymous => None,
        Actor::ControllerAdmin => Some(Caller {
            purpose,
            ..controller_admin(tenant)
        }),
        Actor::ControllerUser => Some(Caller {
            purpose,
            ..harness::controller_user(tenant)
        }),
        Actor::Staff => Some(harness::staff(tenant, purpose, named)),
        Actor::PlatformAdmin => Some(Caller {
            instruction: named,
            ..harness::platform_admin_in(tenant, purpose)
        }),
        Actor::PlatformAdminWithoutTenant => Some(Caller {
            purpose,
            instruction: named,
            ..harness::platform_admin()
        }),
        Actor::Partner(condition) => {
            let sp = partner_sp.unwrap();
            let minted = purpose.unwrap_or(Purpose::Support).as_str();
            let mint = |tenant, sp, ttl| h.mint_partner_token(tenant, sp, minted, case.scopes, ttl);
            let token: PartnerTokenId = match condition {
                PartnerCondition::UnknownJti => PartnerTokenId::new(),
                PartnerCondition::Expired => {
                    let token = mint(tenant, sp, 60).await;
                    h.advance(61);
                    token
                }
                PartnerCondition::OtherTenantsToken => {
                    let elsewhere = h.create_tenant(&format!("{name} (elsewhere)")).await;
                    mint(elsewhere, sp, 86_400).await
                }
                PartnerCondition::OtherSubprocessorsToken => mint(tenant, w.other, 86_400).await,
                _ => mint(tenant, sp, 86_400).await,
            };
            match condition {
                PartnerCondition::Revoked => h.revoke_partner_token(tenant, token).await,
                PartnerCondition::Retired => h.retire_subprocessor(sp).await,
                PartnerCondition::Objected => h.object_to_subprocessor(tenant, sp).await,
                _ => {}
            }
            Some(harness::partner(tenant, sp, token, purpose, case.scopes))
        }
    };
    Scene {
        tenant,
        contact,
        appointment,
        first,
        second,
        caller,
        subprocessor: partner_sp,
    }
}

/// The operation's document, variables, and the fields it touches as the ledger names
/// them (selected for reads; set, then returned, for writes).
fn document(op: Op, scene: &Scene) -> (String, Value, Vec<String>) {
    let contact = json!(scene.contact.to_string());
    let with_id = |fields: &[&str]| {
        std::iter::once("id")
            .chain(fields.iter().copied())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let then = |fields: &[&str], returned: &[&str]| {
        fields
            .iter()
            .chain(returned)
            .map(|f| (*f).to_owned())
            .collect::<Vec<_>>()
    };
    match op {
        Op::Read(fields) => (
            format!(
                "query($id: ID!) {{ contact(id: $id) {{ id {} }} }}",
                selections(fields)
            ),
            json!({ "id": contact }),
            with_id(fields),
        ),
        Op::List(fields) => (
            format!("{{ contacts {{ nodes {{ id {} }} }} }}", selections(fields)),
            json!({}),
            with_id(fields),
        ),
        Op::Create(fields) => (
            "mutation($input: ContactInput!) { createContact(input: $input) { id } }".into(),
            json!({ "input": input_of(fields) }),
            then(fields, &["id"]),
        ),
        Op::Update(fields) => (
            "mutation($id: ID!, $input: ContactInput!) { updateContact(id: $id, input: $input, expectedVersion: 1) { id version } }".into(),
            json!({ "id": contact, "input": input_of(fields) }),
            then(fields, &["id", "version"]),
        ),
        // Deleting a contact reaches every category of its data.
        Op::Erase => (
            "mutation($id: ID!) { deleteContact(id: $id) }".into(),
            json!({ "id": contact }),
            [
                "firstName", "lastName", "tags", "source", "emails", "phones", "addresses",
                "employer", "jobTitle", "appointments", "customFields", "marketingPreferences",
                "optOutOfSale", "optOutOfSharing",
            ]
            .map(String::from)
            .to_vec(),
        ),
        Op::ReadAppointment(fields) => (
            format!(
                "query($id: ID!) {{ appointment(id: $id) {{ id {} }} }}",
                selections(fields)
            ),
            json!({ "id": scene.appointment.to_string() }),
            with_id(fields),
        ),
        Op::UpdateAppointment => (
            "mutation($id: ID!) { updateAppointment(id: $id, input: {title: \"Review\"}, expectedVersion: 1) { id version } }".into(),
            json!({ "id": scene.appointment.to_string() }),
            then(&["title"], &["id", "version"]),
        ),
        // Deleting an appointment reaches all of it.
        Op::EraseAppointment => (
            "mutation($id: ID!) { deleteAppointment(id: $id) }".into(),
            json!({ "id": scene.appointment.to_string() }),
            ["startsAt", "endsAt", "title", "location", "notes"]
                .map(String::from)
                .to_vec(),
        ),
    }
}

fn operation(op: Op) -> &'static str {
    match op {
        Op::Read(_) | Op::List(_) | Op::ReadAppointment(_) => "READ",
        Op::Create(_) | Op::Update(_) | Op::UpdateAppointment => "WRITE",
        Op::Erase | Op::EraseAppointment => "ERASE",
    }
}

fn resource(op: Op) -> &'static str {
    match op {
        Op::ReadAppointment(_) | Op::UpdateAppointment | Op::EraseAppointment => "APPOINTMENT",
        _ => "CONTACT",
    }
}

fn sorted(mut fields: Vec<String>) -> Vec<String> {
    fields.sort();
    fields
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Runs one row: sets up its tenant, performs the operation, and checks the answer, the
/// ledger and what was stored.
pub async fn check(w: &'static World, name: &'static str, case: Case) {
    let h = &w.h;
    let scene = set_up(w, name, &case).await;
    let before = h.access_log(scene.tenant).await.len();
    let (query, variables, touched) = document(case.op, &scene);
    let body = h
        .exec_tagged(scene.caller.clone(), &query, variables, name)
        .await;
    let log = h.access_log(scene.tenant).await;
    let expect = &case.expect;

    // The answer.
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    let root = match case.op {
        Op::Read(_) => "contact",
        Op::List(_) => "contacts",
        Op::Create(_) => "createContact",
        Op::Update(_) => "updateContact",
        Op::Erase => "deleteContact",
        Op::ReadAppointment(_) => "appointment",
        Op::UpdateAppointment => "updateAppointment",
        Op::EraseAppointment => "deleteAppointment",
    };
    let mut created: Option<ContactId> = None;
    match expect.code {
        Some(wanted) => {
            assert_eq!(errors.len(), 1, "{name}: one error: {body}");
            assert_eq!(code(&body), wanted, "{name}: {body}");
            assert_eq!(errors[0]["path"], json!([root]), "{name}: {body}");
            assert!(body["data"].is_null(), "{name}: nothing answered: {body}");
            if let Some(why) = expect.why {
                let message = errors[0]["message"].as_str().unwrap();
                assert!(message.contains(why), "{name}: {message:?} lacks {why:?}");
            }
        }
        None => {
            let (object, path): (&Value, Vec<Value>) = match case.op {
                Op::List(_) => {
                    let nodes = body["data"]["contacts"]["nodes"].as_array().unwrap();
                    assert_eq!(nodes.len(), 1, "{name}: {body}");
                    (&nodes[0], vec![json!("contacts"), json!("nodes"), json!(0)])
                }
                _ => (&body["data"][root], vec![json!(root)]),
            };
            let mut refused_paths = Vec::new();
            match case.op {
                Op::Read(fields) | Op::List(fields) | Op::ReadAppointment(fields) => {
                    for f in fields {
                        if expect.refused.contains(f) {
                            assert_eq!(object[*f], Value::Null, "{name}: {f} refused: {body}");
                            let mut p = path.clone();
                            p.push(json!(f));
                            refused_paths.push(Value::Array(p));
                        } else {
                            assert_eq!(object[*f], seeded(f), "{name}: {f}: {body}");
                        }
                    }
                }
                Op::Create(_) => created = Some(id(&object["id"])),
                Op::Update(_) => assert_eq!(
                    *object,
                    json!({"id": scene.contact.to_string(), "version": 2}),
                    "{name}"
                ),
                Op::Erase => assert_eq!(*object, json!(scene.contact.to_string()), "{name}"),
                Op::UpdateAppointment => assert_eq!(
                    *object,
                    json!({"id": scene.appointment.to_string(), "version": 2}),
                    "{name}"
                ),
                Op::EraseAppointment => {
                    assert_eq!(*object, json!(scene.appointment.to_string()), "{name}")
                }
            }
            // Exactly the refused fields fail, each alone, each FORBIDDEN.
            let paths: Vec<Value> = errors.iter().map(|e| e["path"].clone()).collect();
            assert_eq!(paths, refused_paths, "{name}: errors: {body}");
            for e in &errors {
                assert_eq!(e["extensions"]["code"], "FORBIDDEN", "{name}: {body}");
            }
        }
    }

    // The ledger: exactly the row's records, in order, after what setup left.
    let new = &log[before.min(log.len())..];
    assert_eq!(
        new.len(),
        expect.records.len(),
        "{name}: records: {}",
        serde_json::to_string_pretty(new).unwrap()
    );
    let instruction = |under: Under| match under {
        Under::Standing => json!(scene.tenant.to_string()),
        Under::First => json!(scene.first.unwrap().to_string()),
        Under::Second => json!(scene.second.unwrap().to_string()),
        Under::Nothing => Value::Null,
    };
    let caller = scene.caller.as_ref();
    let controller = matches!(case.actor, Actor::ControllerAdmin | Actor::ControllerUser);
    let (kind, actor_id) = match case.actor {
        Actor::ControllerAdmin | Actor::ControllerUser => {
            ("CONTROLLER", caller.unwrap().subject.clone())
        }
        Actor::Staff => ("PROCESSOR_STAFF", "sam".into()),
        Actor::PlatformAdmin | Actor::PlatformAdminWithoutTenant => {
            ("PLATFORM_ADMIN", "alice".into())
        }
        Actor::Partner(_) => ("SUBPROCESSOR", scene.subprocessor.unwrap().to_string()),
        Actor::Anonymous => ("<none>", String::new()),
    };
    let purpose = if controller {
        json!("SERVICE_DELIVERY")
    } else {
        json!(token_purpose(case.purpose).map(Purpose::as_str))
    };
    let target: Vec<String> = match case.op {
        Op::ReadAppointment(_) | Op::UpdateAppointment | Op::EraseAppointment => {
            vec![scene.appointment.to_string()]
        }
        Op::Create(_) => created.map(|c| c.to_string()).into_iter().collect(),
        _ => vec![scene.contact.to_string()],
    };
    let refused: Vec<String> = expect.refused.iter().map(|f| (*f).to_owned()).collect();
    for (record, wanted) in new.iter().zip(&expect.records) {
        let (outcome, op, res, fields, under, ids) = match *wanted {
            Rec::Allowed(u) => (
                "ALLOWED",
                operation(case.op),
                resource(case.op),
                touched
                    .iter()
                    .filter(|f| !refused.contains(f))
                    .cloned()
                    .collect(),
                u,
                target.clone(),
            ),
            Rec::Refused(u) => (
                "DENIED",
                operation(case.op),
                resource(case.op),
                refused.clone(),
                u,
                Vec::new(),
            ),
            Rec::Denied(u) => (
                "DENIED",
                operation(case.op),
                resource(case.op),
                touched.clone(),
                u,
                Vec::new(),
            ),
            Rec::AppointmentsAllowed(u) => (
                "ALLOWED",
                "READ",
                "APPOINTMENT",
                vec!["title".to_owned()],
                u,
                vec![scene.appointment.to_string()],
            ),
        };
        let context = format!("{name}: {wanted:?}: {record}");
        assert_eq!(record["outcome"], outcome, "{context}");
        assert_eq!(record["operation"], op, "{context}");
        assert_eq!(record["resourceType"], res, "{context}");
        assert_eq!(
            sorted(strings(&record["fields"])),
            sorted(fields),
            "{context}"
        );
        assert_eq!(record["instructionId"], instruction(under), "{context}");
        assert_eq!(record["actorKind"], kind, "{context}");
        assert_eq!(record["actorId"], actor_id.as_str(), "{context}");
        assert_eq!(
            record["subprocessorId"],
            json!(scene.subprocessor.map(|s| s.to_string())),
            "{context}"
        );
        assert_eq!(record["purpose"], purpose, "{context}");
        assert_eq!(record["requestId"], name, "{context}");
        assert_eq!(strings(&record["resourceIds"]), ids, "{context}");
        assert_eq!(record["resourceCount"], ids.len(), "{context}");
        let reason = record["reason"].as_str();
        match (outcome, wanted) {
            ("ALLOWED", _) => assert_eq!(reason, None, "{context}"),
            (_, Rec::Refused(_)) => {
                assert!(reason.unwrap().contains("data categories"), "{context}")
            }
            _ => {
                if let Some(why) = expect.why {
                    assert!(reason.unwrap().contains(why), "{context}");
                }
            }
        }
    }
    assert!(h.log_is_intact(scene.tenant).await, "{name}: chain intact");

    // What is stored now, as the controller reads it (after the ledger was read).
    stored(w, name, &case, &scene, created).await;
}

/// A write took effect exactly when it was allowed.
async fn stored(w: &World, name: &str, case: &Case, scene: &Scene, created: Option<ContactId>) {
    let h = &w.h;
    let admin = controller_admin(scene.tenant);
    let applied = case.expect.code.is_none();
    match case.op {
        Op::Update(fields) => {
            let data = h
                .ok(
                    &admin,
                    &format!(
                        "query($id: ID!) {{ contact(id: $id) {{ version {} }} }}",
                        selections(fields)
                    ),
                    json!({"id": scene.contact.to_string()}),
                )
                .await;
            let contact = &data["contact"];
            assert_eq!(contact["version"], if applied { 2 } else { 1 }, "{name}");
            for f in fields {
                let wanted = if applied { changed(f) } else { seeded(f) };
                assert_eq!(contact[*f], wanted, "{name}: stored {f}");
            }
        }
        Op::Create(fields) => {
            let data = h
                .ok(
                    &admin,
                    &format!(
                        "{{ contacts {{ totalCount nodes {{ id {} }} }} }}",
                        selections(fields)
                    ),
                    json!({}),
                )
                .await;
            let nodes = data["contacts"]["nodes"].as_array().unwrap();
            assert_eq!(nodes.len(), if applied { 2 } else { 1 }, "{name}: {data}");
            if let Some(created) = created {
                let node = nodes
                    .iter()
                    .find(|n| n["id"] == created.to_string())
                    .unwrap();
                for f in fields {
                    assert_eq!(node[*f], changed(f), "{name}: stored {f}");
                }
            }
        }
        Op::Erase => {
            let body = h
                .exec(
                    Some(admin),
                    "query($id: ID!) { contact(id: $id) { id } }",
                    json!({"id": scene.contact.to_string()}),
                )
                .await;
            if applied {
                assert_eq!(code(&body), "NOT_FOUND", "{name}: erased: {body}");
            } else {
                assert_eq!(
                    body["data"]["contact"]["id"],
                    scene.contact.to_string(),
                    "{name}"
                );
            }
        }
        Op::UpdateAppointment => {
            let data = h
                .ok(
                    &admin,
                    "query($id: ID!) { appointment(id: $id) { title version } }",
                    json!({"id": scene.appointment.to_string()}),
                )
                .await;
            let wanted = if applied {
                json!({"title": "Review", "version": 2})
            } else {
                json!({"title": "Kickoff", "version": 1})
            };
            assert_eq!(data["appointment"], wanted, "{name}");
        }
        Op::EraseAppointment => {
            let body = h
                .exec(
                    Some(admin.clone()),
                    "query($id: ID!) { appointment(id: $id) { id } }",
                    json!({"id": scene.appointment.to_string()}),
                )
                .await;
            if applied {
                assert_eq!(code(&body), "NOT_FOUND", "{name}: erased: {body}");
            } else {
                assert_eq!(
                    body["data"]["appointment"]["id"],
                    scene.appointment.to_string(),
                    "{name}"
                );
            }
        }
        Op::Read(_) | Op::List(_) | Op::ReadAppointment(_) => {}
    }
}

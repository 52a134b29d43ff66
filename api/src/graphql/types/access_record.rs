use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::access_record;

use super::page::PageInfo;
use crate::auth::ActorKind;
use crate::domain::instruction::{AccessOperation, Purpose};
use crate::error::{GqlResult, IntoGql};
use crate::graphql::{request_ctx, to_id};
use crate::ledger::{self, Outcome, RecordFilter, ResourceType, Verification};
use crate::pagination::Page;

/// One access to personal data, allowed or denied.
pub struct AccessRecord(pub access_record::Model);

#[Object]
impl AccessRecord {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    /// Position in the tenant's chain, from 1.
    async fn seq(&self) -> i64 {
        self.0.seq
    }
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
    async fn actor_kind(&self) -> Option<ActorKind> {
        ActorKind::from_db(&self.0.actor_kind)
    }
    /// The token subject who acted.
    async fn actor_id(&self) -> &str {
        &self.0.actor_id
    }
    async fn subprocessor_id(&self) -> Option<ID> {
        self.0.subprocessor_id.map(to_id)
    }
    async fn operation(&self) -> Option<AccessOperation> {
        serde_json::from_value(serde_json::json!(self.0.operation)).ok()
    }
    async fn resource_type(&self) -> Option<ResourceType> {
        match self.0.resource_type.as_str() {
            "CONTACT" => Some(ResourceType::Contact),
            "APPOINTMENT" => Some(ResourceType::Appointment),
            _ => None,
        }
    }
    async fn resource_ids(&self) -> Vec<ID> {
        serde_json::from_value::<Vec<uuid::Uuid>>(self.0.resource_ids.clone())
            .unwrap_or_default()
            .into_iter()
            .map(to_id)
            .collect()
    }
    /// Rows reached (a listing's size).
    async fn resource_count(&self) -> i32 {
        self.0.resource_count
    }
    /// The fields read or written, as GraphQL names them.
    async fn fields(&self) -> Vec<String> {
        serde_json::from_value(self.0.fields.clone()).unwrap_or_default()
    }
    async fn purpose(&self) -> Option<Purpose> {
        self.0.purpose.as_deref().and_then(Purpose::parse)
    }
    /// The instruction that allowed it (or that was found wanting).
    async fn instruction_id(&self) -> Option<ID> {
        self.0.instruction_id.map(to_id)
    }
    async fn outcome(&self) -> Outcome {
        if self.0.outcome == "ALLOWED" {
            Outcome::Allowed
        } else {
            Outcome::Denied
        }
    }
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    async fn prev_hash(&self) -> &str {
        &self.0.prev_hash
    }
    async fn hash(&self) -> &str {
        &self.0.hash
    }
}

#[derive(SimpleObject)]
pub struct AccessRecordEdge {
    pub cursor: String,
    pub node: AccessRecord,
}

/// A page of the ledger.
pub struct AccessRecordConnection {
    page: Page<access_record::Model>,
    filter: RecordFilter,
}

impl AccessRecordConnection {
    pub fn new(page: Page<access_record::Model>, filter: RecordFilter) -> Self {
        Self { page, filter }
    }
}

#[Object]
impl AccessRecordConnection {
    async fn edges(&self) -> Vec<AccessRecordEdge> {
        self.page
            .items
            .iter()
            .map(|r| AccessRecordEdge {
                cursor: ledger::cursor(r),
                node: AccessRecord(r.clone()),
            })
            .collect()
    }
    async fn nodes(&self) -> Vec<AccessRecord> {
        self.page.items.iter().cloned().map(AccessRecord).collect()
    }
    async fn page_info(&self) -> PageInfo {
        PageInfo::of(&self.page, ledger::cursor)
    }
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        crate::service::access_log::count(&request_ctx(ctx), &self.filter)
            .await
            .gql()
    }
}

/// Whether the tenant's ledger is intact.
#[derive(SimpleObject)]
pub struct AccessLogVerification {
    /// Every record is present once, in order, unaltered, and the chain ends at its head.
    pub valid: bool,
    /// Records checked, from the first.
    pub checked: u64,
    /// The chain position (`seq`) of the first record that does not hold.
    pub first_broken_at: Option<i64>,
    pub reason: Option<String>,
    /// Keep these: a later verification whose chain still passes through this head proves
    /// the log was only appended to since.
    pub head_seq: i64,
    pub head_hash: String,
    /// Records written (durably) but not yet sealed into the chain: accesses that
    /// committed while this verification ran. They are sealed within moments.
    pub unsealed: u64,
    /// The latest signed checkpoint, whose root this verification recomputed from the
    /// records (a mismatch makes it invalid); none before the first is issued.
    pub checkpoint: Option<LedgerCheckpoint>,
}

/// A signed tree head of the tenant's ledger: the Merkle tree of its first `treeSize`
/// records, signed with the deployment's Ed25519 key as a C2SP checkpoint. Keep the
/// `note`: later ones must be consistent with it (`custodian ledger watch`).
#[derive(SimpleObject)]
pub struct LedgerCheckpoint {
    pub tree_size: u64,
    /// The tree's root (RFC 9162), base64.
    pub root_hash: String,
    pub issued_at: DateTime<Utc>,
    /// The signed note, exactly as issued (C2SP tlog-checkpoint in signed-note form).
    pub note: String,
}

impl From<ledger::tree::CheckpointRow> for LedgerCheckpoint {
    fn from(c: ledger::tree::CheckpointRow) -> Self {
        use base64::Engine;
        Self {
            tree_size: c.tree_size,
            root_hash: base64::engine::general_purpose::STANDARD.encode(c.root_hash),
            issued_at: c.issued_at,
            note: c.note,
        }
    }
}

/// The proof that one record is in a checkpoint's tree.
#[derive(SimpleObject)]
pub struct InclusionProof {
    pub seq: u64,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The audit path, leaf to root, base64.
    pub hashes: Vec<String>,
    /// The signed checkpoint the path leads to.
    pub checkpoint: String,
    /// The record's canonical object plus `hash`, as JSON text.
    pub record: String,
    /// All of the above as one JSON document: save it and check it offline with
    /// `custodian ledger verify-proof` or `examples/python/verify_proof.py`.
    pub bundle: String,
}

impl From<ledger::checkpoint::InclusionBundle> for InclusionProof {
    fn from(b: ledger::checkpoint::InclusionBundle) -> Self {
        Self {
            seq: b.leaf_index + 1,
            leaf_index: b.leaf_index,
            tree_size: b.tree_size,
            hashes: b.hashes.clone(),
            checkpoint: b.checkpoint.clone(),
            record: b.record.to_string(),
            bundle: serde_json::to_string(&b).unwrap_or_default(),
        }
    }
}

/// The proof that a later checkpoint's tree extends an earlier one's: the log was only
/// appended to in between.
#[derive(SimpleObject)]
pub struct ConsistencyProof {
    pub from_size: u64,
    pub to_size: u64,
    /// RFC 9162's consistency path, base64.
    pub hashes: Vec<String>,
    /// The two signed checkpoints.
    pub old: String,
    pub new: String,
    /// All of the above as one JSON document (see `InclusionProof.bundle`).
    pub bundle: String,
}

impl ConsistencyProof {
    pub fn of(b: ledger::checkpoint::ConsistencyBundle, from: u64, to: u64) -> Self {
        Self {
            from_size: from,
            to_size: to,
            hashes: b.hashes.clone(),
            old: b.old.clone(),
            new: b.new.clone(),
            bundle: serde_json::to_string(&b).unwrap_or_default(),
        }
    }
}

impl From<Verification> for AccessLogVerification {
    fn from(v: Verification) -> Self {
        Self {
            valid: v.valid,
            checked: v.checked,
            first_broken_at: v.first_broken_at,
            reason: v.reason,
            head_seq: v.head_seq,
            head_hash: v.head_hash,
            unsealed: v.unsealed,
            checkpoint: v.checkpoint.map(LedgerCheckpoint::from),
        }
    }
}

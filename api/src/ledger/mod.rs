//! The access ledger: one record per access to personal data, allowed or denied,
//! hash-chained per tenant so the controller can verify nobody rewrote it.
//!
//! A record is durable before the access it records is answered. A write's record goes
//! into `access_pending` inside the write's own transaction (both commit or neither, and
//! the write never waits on the tenant's chain); a background sealer chains those in
//! batches. Reads' and denials' records go through a group committer that chains the
//! records of concurrent requests in one transaction: one flush for many (on PostgreSQL
//! one statement for all the tenants of a batch), and the reads' own transactions write
//! nothing. All chaining happens under the tenant's head lock, so
//! the chain never forks or skips; a pending record can leave only into the chain,
//! unchanged.
//!
//! The parts: [`chain`] (the canonical form, hashing, linking and the statements that
//! append), [`committer`] (the group committer and the sealer), [`queries`] (listing,
//! counting, verifying, exporting), [`tree`] (each tenant's Merkle tree, its checkpoints
//! and proofs) and [`checkpoint`] (their signed format, checked offline). The ledger decides nothing about access: it records
//! what [`crate::policy`] decided, and depends on nothing of it.

pub mod chain;
pub mod checkpoint;
pub mod committer;
pub mod queries;
mod sqlite_append;
pub mod tree;
pub mod watch;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::ActorKind;
use crate::domain::instruction::{AccessOperation, Purpose};
use crate::domain::{InstructionId, SubprocessorId, TenantId};

pub use chain::{Head, canonical, hash_of};
pub use committer::{Ledger, seal};
pub use queries::{RecordFilter, Verification, cursor};

/// The `prev_hash` of a tenant's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "ALLOWED",
            Self::Denied => "DENIED",
        }
    }
}

#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Contact,
    Appointment,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contact => "CONTACT",
            Self::Appointment => "APPOINTMENT",
        }
    }
}

/// Who accessed a tenant's data, when, in which request, and under what: the part every
/// record of one request shares.
#[derive(Debug, Clone)]
pub struct Attribution {
    pub tenant: TenantId,
    pub at: DateTime<Utc>,
    pub actor_kind: ActorKind,
    pub actor_id: String,
    pub subprocessor_id: Option<SubprocessorId>,
    pub purpose: Option<Purpose>,
    /// The instruction that allowed the access; for a refusal, the one that came
    /// closest, if any.
    pub instruction_id: Option<InstructionId>,
    pub request_id: Option<String>,
}

/// What was reached (or asked for): an operation on a resource type, which fields.
#[derive(Debug, Clone)]
pub struct Reach {
    pub operation: AccessOperation,
    pub resource: ResourceType,
    pub fields: Vec<String>,
}

/// A record before it is placed in its tenant's chain. Built by [`NewRecord::allowed`]
/// or [`NewRecord::denied`].
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub by: Attribution,
    pub reach: Reach,
    pub resource_ids: Vec<Uuid>,
    /// For a listing, how many rows it returned; otherwise the number of ids.
    pub resource_count: usize,
    pub outcome: Outcome,
    pub reason: Option<String>,
}

impl NewRecord {
    /// An access that happened: `ids` reached (`count` rows for a listing).
    pub fn allowed(by: Attribution, reach: Reach, ids: Vec<Uuid>, count: usize) -> Self {
        Self {
            by,
            reach,
            resource_ids: ids,
            resource_count: count,
            outcome: Outcome::Allowed,
            reason: None,
        }
    }

    /// An access refused, and why; nothing was reached.
    pub fn denied(by: Attribution, reach: Reach, reason: impl Into<String>) -> Self {
        Self {
            by,
            reach,
            resource_ids: Vec::new(),
            resource_count: 0,
            outcome: Outcome::Denied,
            reason: Some(reason.into()),
        }
    }

    pub fn tenant(&self) -> TenantId {
        self.by.tenant
    }
}

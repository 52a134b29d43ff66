//! The one gate: every transaction on tenant data or on the platform registry is opened
//! here, after the caller's right to it is decided, with the tenant pinned for row-level
//! security — and, for personal data, the access recorded.
//!
//! Nothing else reads the [`Caller`] or opens such a transaction: [`RequestCtx`] keeps
//! both to itself, and `gates_are_the_only_way_in` (a test below) fails when a module
//! outside the policy, the ledger and [`crate::tenancy`] begins a transaction or pins a
//! tenant by hand.
//!
//! - [`begin`] ([`personal`]): personal data (contacts, appointments), decided against the
//!   controller's processing instructions and a partner's scopes ([`partner`]); the
//!   returned [`TenantTx`] records the access when it commits.
//! - [`begin_job`], [`begin_processor_step`] ([`jobs`]): the processor's own work on
//!   personal data, under the controller's instructions or its own.
//! - [`controller`], [`controller_admin`], [`platform_admin_on`], [`access_log`] ([`admin`]):
//!   a tenant's own records that are not personal data (instructions, objections,
//!   partner tokens, import progress, its ledger), as a [`PinnedTx`].
//! - [`registry`], [`registry_view`], [`account`]: the platform registry (tenants,
//!   subprocessors, transfers), as a [`RegistryTx`].

pub mod admin;
pub mod exclusions;
pub mod jobs;
pub mod partner;
pub mod personal;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseBackend, DatabaseConnection};

use crate::auth::{ActorKind, Caller};
use crate::ledger::Ledger;

pub use crate::tenancy::Mode;
pub use admin::{
    Allowed, PinnedTx, RegistryTx, Viewer, access_log, account, check_platform_admin, controller,
    controller_admin, partner_inbox, platform_admin_on, registry, registry_view, requests,
};
pub use admin::{job_platform_read, job_registry, job_tenant};
pub use exclusions::Exclusions;
pub use jobs::{begin_job, begin_processor_step};
pub use personal::{Access, Grant, TenantTx, begin, begin_request_step, standing_instruction_id};

/// What a service call needs to know about the request it serves. The database, the
/// ledger and the caller are private: a service reaches them only through a gate.
pub struct RequestCtx<'a> {
    db: &'a DatabaseConnection,
    ledger: &'a Ledger,
    caller: Option<&'a Caller>,
    /// A scheduled job's name, when no request but a job of the processor's acts.
    job: Option<&'static str>,
    pub request_id: Option<&'a str>,
    pub now: DateTime<Utc>,
    /// Counts the statements of the transactions the gates open themselves (see
    /// [`crate::tenancy::PgTx`]); `None` counts none.
    metrics: Option<&'a std::sync::Arc<crate::metrics::Metrics>>,
}

impl<'a> RequestCtx<'a> {
    pub fn new(
        db: &'a DatabaseConnection,
        ledger: &'a Ledger,
        caller: Option<&'a Caller>,
        request_id: Option<&'a str>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            db,
            ledger,
            caller,
            job: None,
            request_id,
            now,
            metrics: None,
        }
    }

    /// The context of one of the processor's scheduled jobs (`name` is its actor id in
    /// the ledger): no caller; it reaches tenant data only through [`begin_job`], under a
    /// controller's instruction for the `SYSTEM` actor kind.
    pub fn for_job(
        db: &'a DatabaseConnection,
        ledger: &'a Ledger,
        name: &'static str,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            db,
            ledger,
            caller: None,
            job: Some(name),
            request_id: None,
            now,
            metrics: None,
        }
    }

    /// The same context, its gates' statements counted in `metrics`.
    #[must_use]
    pub fn counted(self, metrics: Option<&'a std::sync::Arc<crate::metrics::Metrics>>) -> Self {
        Self { metrics, ..self }
    }

    /// Who the caller is, as the caller may see it (`viewer`); `None` without a token.
    pub fn viewer(&self) -> Option<crate::auth::Viewer> {
        self.caller.map(crate::auth::Viewer::from)
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    /// After an erasure has committed, removes what the storage still holds of the erased
    /// rows (see [`crate::db::reclaim_erased`]).
    ///
    /// # Errors
    /// `Db`.
    pub async fn reclaim_erased(&self) -> Result<(), crate::error::ServiceError> {
        Ok(crate::db::reclaim_erased(self.db).await?)
    }
}

/// Who acts, as the gate established it from the verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// The token's subject: a user id, or a partner's subprocessor id.
    pub id: String,
}

impl Actor {
    fn of(caller: &Caller) -> Self {
        Self {
            kind: caller.actor_kind(),
            id: caller.subject.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every module but the gate's own, the ledger's and the pin's reaches the database
    /// through a gate. Scanning the source is crude, but it fails the moment someone
    /// adds a side door, which is what it is for; [`super::RequestCtx`]'s private fields
    /// close the obvious one at compile time.
    #[test]
    fn gates_are_the_only_way_in() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        // `citus.rs` lays the database out as its owner, in its own transaction.
        let allowed = ["policy", "ledger", "tenancy.rs", "citus.rs"];
        let forbidden = [
            ".begin(",
            "begin_with_options",
            ".transaction(",
            "set_config",
            "SET LOCAL app.",
            "tenancy::begin",
            "tenancy::pin",
            "begin_pinned",
        ];
        let mut offenders = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if allowed
                    .iter()
                    .any(|a| rel == *a || rel.starts_with(&format!("{a}/")))
                {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    if let Some(f) = forbidden.iter().find(|f| line.contains(**f)) {
                        offenders.push(format!("src/{rel}:{}: {f}", n + 1));
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "transactions opened outside the policy's gates:\n{}",
            offenders.join("\n")
        );
    }
}

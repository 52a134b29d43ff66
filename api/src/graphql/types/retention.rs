//! Retention policies and purge reports as clients see them.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use entities::{purge_report, retention_policy};

use crate::domain::retention::RetentionRule;
use crate::graphql::to_id;

/// How long the tenant keeps one kind of data; documented as the instruction (same id)
/// the purge acts under.
pub struct RetentionPolicy(pub retention_policy::Model);

#[Object]
impl RetentionPolicy {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn rule(&self) -> Option<RetentionRule> {
        RetentionRule::from_db(&self.0.rule)
    }
    async fn months(&self) -> i32 {
        self.0.months
    }
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// What one purge run removed for the tenant under one rule (the ledger's `ERASE`
/// records of actor kind `SYSTEM` hold the ids).
pub struct PurgeReport(pub purge_report::Model);

#[Object]
impl PurgeReport {
    async fn run_id(&self) -> ID {
        to_id(self.0.run_id)
    }
    async fn rule(&self) -> Option<RetentionRule> {
        RetentionRule::from_db(&self.0.rule)
    }
    /// What was older than this had expired.
    async fn cutoff(&self) -> DateTime<Utc> {
        self.0.cutoff
    }
    async fn removed(&self) -> i32 {
        self.0.removed
    }
    /// Expired, but kept by a legal hold or a restriction in force.
    async fn kept_by_holds(&self) -> i32 {
        self.0.kept_by_holds
    }
    async fn finished_at(&self) -> DateTime<Utc> {
        self.0.finished_at
    }
}

//! Retention: the controller's policies (each documented as an instruction the purge acts
//! under), and the purge that removes what has expired and no legal hold keeps, in
//! bounded batches, across every tenant, recording per tenant what it removed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entities::{appointment, contact, legal_hold, purge_report, retention_policy, tenant};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, LockBehavior, LockType, Order, Query, SelectStatement,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::ActorKind;
use crate::domain::instruction::{AccessOperation, Purpose};
use crate::domain::retention::{RetentionRule, check, cutoff};
use crate::domain::tenant::TenantStatus;
use crate::domain::{InstructionId, PurgeRunId, RetentionPolicyId, TenantId};
use crate::error::ServiceError;
use crate::ledger::ResourceType;
use crate::policy::{self, Access, Mode, RequestCtx};

/// The job's name, as the ledger records it.
pub const PURGE_JOB: &str = "custodian-purge";

/// The instruction a policy documents has the policy's id.
fn policy_instruction(id: RetentionPolicyId) -> InstructionId {
    InstructionId(id.as_uuid())
}

/// Sets a retention policy for one rule (controller admin), documented as an instruction
/// for the processor's purge (actor kind `SYSTEM`, purpose `RETENTION`, operation `ERASE`).
///
/// # Errors
/// `Validation` (field `months`) for a period out of range or overlapping another
/// policy; `Conflict` when the rule already has one (remove it first) or the tenant is
/// being offboarded; `Db`.
pub async fn set_policy(
    ctx: &RequestCtx<'_>,
    rule: RetentionRule,
    months: i32,
) -> Result<retention_policy::Model, ServiceError> {
    let tx = policy::controller_admin(ctx, Mode::Write).await?;
    let tenant = tx.tenant();
    if tenant::Entity::find_by_id(tenant)
        .one(&*tx)
        .await?
        .is_some_and(|t| t.status == TenantStatus::Offboarding.as_str())
    {
        return Err(ServiceError::Conflict(
            "the tenant is being offboarded: its data is returned and deleted whole, not purged"
                .into(),
        ));
    }
    let existing = retention_policy::Entity::find()
        .filter(retention_policy::Column::TenantId.eq(tenant))
        .all(&*tx)
        .await?;
    let others: Vec<(RetentionRule, i32)> = existing
        .iter()
        .filter_map(|p| RetentionRule::from_db(&p.rule).map(|r| (r, p.months)))
        .collect();
    check(rule, months, &others)?;
    if others.iter().any(|(r, _)| *r == rule) {
        return Err(ServiceError::Conflict(
            "the rule already has a policy: remove it first".into(),
        ));
    }
    let id = RetentionPolicyId::new();
    let instruction = super::instructions::row(
        tenant,
        policy_instruction(id),
        super::instructions::NewInstruction {
            purpose: Purpose::Retention,
            actor_kinds: vec![ActorKind::System],
            subprocessor_ids: Vec::new(),
            data_categories: rule.categories(),
            operations: vec![AccessOperation::Erase],
            valid_from: Some(ctx.now),
            valid_until: None,
            external_reference: None,
            description: Some(rule.describe(months)),
            involves_sale: false,
            involves_sharing: false,
        },
        false,
        &tx.actor().id,
        ctx.now,
    );
    entities::processing_instruction::Entity::insert(instruction)
        .exec(&*tx)
        .await?;
    let created = retention_policy::Entity::insert(retention_policy::ActiveModel {
        tenant_id: Set(tenant),
        id: Set(id),
        rule: Set(rule.as_str().to_owned()),
        months: Set(months),
        created_by: Set(tx.actor().id.clone()),
        created_at: Set(ctx.now),
    })
    .exec_with_returning(&*tx)
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Removes a retention policy (controller admin): its instruction is revoked, so the
/// purge no longer acts under it.
///
/// # Errors
/// `NotFound`; `Db`.
pub async fn remove_policy(
    ctx: &RequestCtx<'_>,
    id: RetentionPolicyId,
) -> Result<RetentionPolicyId, ServiceError> {
    use entities::processing_instruction as pi;
    let tx = policy::controller_admin(ctx, Mode::Write).await?;
    let removed = retention_policy::Entity::delete_many()
        .filter(retention_policy::Column::TenantId.eq(tx.tenant()))
        .filter(retention_policy::Column::Id.eq(id))
        .exec(&*tx)
        .await?;
    if removed.rows_affected == 0 {
        return Err(ServiceError::NotFound);
    }
    pi::Entity::update_many()
        .col_expr(pi::Column::RevokedAt, Expr::value(ctx.now))
        .col_expr(pi::Column::RevokedBy, Expr::value(tx.actor().id.clone()))
        .col_expr(
            pi::Column::RevocationReason,
            Expr::value("the retention policy was removed"),
        )
        .filter(pi::Column::TenantId.eq(tx.tenant()))
        .filter(pi::Column::Id.eq(policy_instruction(id)))
        .exec(&*tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// The tenant's retention policies (the controller's users).
///
/// # Errors
/// `Unauthenticated`/`Forbidden` outside the controller; `Db`.
pub async fn policies(ctx: &RequestCtx<'_>) -> Result<Vec<retention_policy::Model>, ServiceError> {
    let tx = policy::controller(ctx, Mode::Read).await?;
    let rows = retention_policy::Entity::find()
        .filter(retention_policy::Column::TenantId.eq(tx.tenant()))
        .order_by_asc(retention_policy::Column::CreatedAt)
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// What the purge removed for the tenant, newest run first (the controller's users).
///
/// # Errors
/// As [`policies`].
pub async fn reports(ctx: &RequestCtx<'_>) -> Result<Vec<purge_report::Model>, ServiceError> {
    let tx = policy::controller(ctx, Mode::Read).await?;
    let rows = purge_report::Entity::find()
        .filter(purge_report::Column::TenantId.eq(tx.tenant()))
        .order_by_desc(purge_report::Column::FinishedAt)
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// How a purge runs.
#[derive(Debug, Clone, Copy)]
pub struct PurgeOptions {
    /// Report what a real run would remove, and remove nothing.
    pub dry_run: bool,
    /// Rows removed per transaction: a purge never holds many locks at once.
    pub batch_size: u64,
    /// Longest a statement of the purge may run (PostgreSQL), so it never starves
    /// requests.
    pub statement_timeout_ms: u64,
    /// Only this tenant (`Conflict` when it is being offboarded, `NotFound` when it
    /// does not exist); every tenant when `None`.
    pub tenant: Option<TenantId>,
    /// The share of its time the purge works, in percent (1 to 100): after each batch it
    /// rests in proportion to the batch's own time (at 50, as long again), so the
    /// requests beside it keep most of the machine; 100 never rests.
    pub duty_cycle_percent: u8,
}

impl Default for PurgeOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            batch_size: 500,
            statement_timeout_ms: 5_000,
            tenant: None,
            duty_cycle_percent: 50,
        }
    }
}

/// What one tenant's policy removed (or, dry, would remove).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyOutcome {
    pub tenant_id: TenantId,
    pub rule: String,
    pub cutoff: String,
    /// Contacts (or, for the appointments rule, appointments) removed, in removal order.
    pub ids: Vec<Uuid>,
    /// Expired, but kept by a legal hold or a restriction in force.
    pub kept_by_holds: u64,
}

/// What a purge run did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurgeSummary {
    pub run_id: PurgeRunId,
    pub dry_run: bool,
    pub at: String,
    pub outcomes: Vec<PolicyOutcome>,
    /// Tenants under offboarding, left alone: their data is returned and deleted whole.
    pub skipped_offboarding: Vec<TenantId>,
    /// Seconds spent removing batches, and resting between them (see
    /// [`PurgeOptions::duty_cycle_percent`]).
    pub worked_seconds: f64,
    pub rested_seconds: f64,
}

/// Runs the purge across every tenant as of `ctx.now` (a job's context, see
/// [`RequestCtx::for_job`]). Each batch is its own transaction with its ledger record,
/// so an interrupted purge has removed whole batches and nothing else, and the next run
/// takes up what is still expired: nothing is removed twice, nothing is skipped.
///
/// # Errors
/// `Db`; what was committed before the failure stays committed and recorded.
pub async fn purge(
    ctx: &RequestCtx<'_>,
    options: PurgeOptions,
) -> Result<PurgeSummary, ServiceError> {
    let run = PurgeRunId::new();
    let registry = policy::job_registry(ctx).await?;
    // A tenant being offboarded is returned and deleted whole, not purged in parts.
    let mut find = tenant::Entity::find().order_by_asc(tenant::Column::Id);
    if let Some(only) = options.tenant {
        find = find.filter(tenant::Column::Id.eq(only));
    }
    let (offboarding, tenants): (Vec<_>, Vec<_>) = find
        .all(&*registry)
        .await?
        .into_iter()
        .partition(|t| t.status == TenantStatus::Offboarding.as_str());
    registry.commit().await?;
    if options.tenant.is_some() {
        if !offboarding.is_empty() {
            return Err(ServiceError::Conflict(
                "the tenant is being offboarded: its data is returned and deleted whole, not purged"
                    .into(),
            ));
        }
        if tenants.is_empty() {
            return Err(ServiceError::NotFound);
        }
    }
    let skipped = offboarding.into_iter().map(|t| t.id).collect();
    let tenants: Vec<TenantId> = tenants.into_iter().map(|t| t.id).collect();
    let mut outcomes = Vec::new();
    let mut pace = Pace::new(options.duty_cycle_percent);
    for tenant in tenants {
        let tx = policy::job_tenant(ctx, tenant, Mode::Read).await?;
        let rules = retention_policy::Entity::find()
            .filter(retention_policy::Column::TenantId.eq(tenant))
            .order_by_asc(retention_policy::Column::CreatedAt)
            .all(&*tx)
            .await?;
        tx.commit().await?;
        // Every policy's list is made before anything is removed, so what one rule
        // removes cannot change what another finds: a dry run reports exactly this.
        let mut plans = Vec::new();
        for p in rules {
            if let Some(rule) = RetentionRule::from_db(&p.rule) {
                plans.push(plan(ctx, tenant, &p, rule).await?);
            }
        }
        for plan in plans {
            let outcome = if options.dry_run {
                plan.outcome
            } else {
                let outcome = execute(ctx, tenant, plan, options, &mut pace).await?;
                report(ctx, run, &outcome).await?;
                outcome
            };
            outcomes.push(outcome);
        }
    }
    Ok(PurgeSummary {
        run_id: run,
        dry_run: options.dry_run,
        at: ctx.now.to_rfc3339(),
        outcomes,
        skipped_offboarding: skipped,
        worked_seconds: pace.worked.as_secs_f64(),
        rested_seconds: pace.rested.as_secs_f64(),
    })
}

/// The purge's duty cycle: after each batch it rests in proportion to the batch's time,
/// so that it works `duty` percent of its time; what it worked and rested, for the
/// summary.
struct Pace {
    duty: u32,
    worked: Duration,
    rested: Duration,
}

impl Pace {
    /// `duty_percent` taken as 1 to 100.
    fn new(duty_percent: u8) -> Self {
        Self {
            duty: u32::from(duty_percent.clamp(1, 100)),
            worked: Duration::ZERO,
            rested: Duration::ZERO,
        }
    }

    /// How long to rest after a batch that took `busy`.
    fn rest_after(&self, busy: Duration) -> Duration {
        busy * (100 - self.duty) / self.duty
    }

    /// Counts a batch begun at `started`, and rests after it.
    async fn batch_done(&mut self, started: std::time::Instant) {
        let busy = started.elapsed();
        let rest = self.rest_after(busy);
        self.worked += busy;
        self.rested += rest;
        tokio::time::sleep(rest).await;
    }
}

/// One policy's part of a run: what it found expired, and how to remove it.
struct Plan {
    rule: RetentionRule,
    before: DateTime<Utc>,
    instruction: InstructionId,
    access: Access,
    outcome: PolicyOutcome,
}

/// Lists what `policy` finds expired at `ctx.now`, and how much of it holds keep.
async fn plan(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
    policy: &retention_policy::Model,
    rule: RetentionRule,
) -> Result<Plan, ServiceError> {
    let before = cutoff(ctx.now, policy.months);
    let (resource, fields) = match rule {
        RetentionRule::AppointmentsAfterEnd => (
            ResourceType::Appointment,
            super::appointments::personal_fields(),
        ),
        _ => (ResourceType::Contact, super::contacts::personal_fields()),
    };
    let access = Access::new(AccessOperation::Erase, resource, fields);
    let instruction = policy_instruction(policy.id);
    // Read under the same instruction the removal needs: a policy whose instruction is
    // gone plans nothing.
    let tx = policy::begin_job(ctx, tenant, instruction, access.clone()).await?;
    let all = count_expired(&tx, expired(rule, tenant, before, ctx.now, false)).await?;
    let ids = ids_of(&tx, rule, tenant, before, ctx.now, None, false).await?;
    drop(tx);
    Ok(Plan {
        rule,
        before,
        instruction,
        access,
        outcome: PolicyOutcome {
            tenant_id: tenant,
            rule: rule.as_str().to_owned(),
            cutoff: before.to_rfc3339(),
            kept_by_holds: all.saturating_sub(ids.len() as u64),
            ids,
        },
    })
}

/// Removes a plan's ids in batches, one transaction and one ledger record each; each
/// batch removes only what still qualifies (a hold placed since keeps its contact).
async fn execute(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
    plan: Plan,
    options: PurgeOptions,
    pace: &mut Pace,
) -> Result<PolicyOutcome, ServiceError> {
    let mut removed = Vec::with_capacity(plan.outcome.ids.len());
    let size = usize::try_from(options.batch_size)
        .unwrap_or(usize::MAX)
        .max(1);
    for chunk in plan.outcome.ids.chunks(size) {
        let started = std::time::Instant::now();
        let mut tx = policy::begin_job(ctx, tenant, plan.instruction, plan.access.clone()).await?;
        if tx.get_database_backend() == DatabaseBackend::Postgres {
            tx.execute_unprepared(&format!(
                "SET LOCAL statement_timeout = {}",
                options.statement_timeout_ms
            ))
            .await?;
        }
        let batch = ids_of(
            &tx,
            plan.rule,
            tenant,
            plan.before,
            ctx.now,
            Some(chunk),
            true,
        )
        .await?;
        if batch.is_empty() {
            continue;
        }
        match plan.access.resource {
            ResourceType::Appointment => {
                appointment::Entity::delete_many()
                    .filter(appointment::Column::TenantId.eq(tenant))
                    .filter(appointment::Column::Id.is_in(batch.iter().copied()))
                    .exec(&*tx)
                    .await?;
            }
            ResourceType::Contact => {
                contact::Entity::delete_many()
                    .filter(contact::Column::TenantId.eq(tenant))
                    .filter(contact::Column::Id.is_in(batch.iter().copied()))
                    .exec(&*tx)
                    .await?;
            }
        }
        tx.touched(batch.iter().copied());
        tx.commit().await?;
        removed.extend(batch);
        pace.batch_done(started).await;
    }
    if plan.access.resource == ResourceType::Contact && !removed.is_empty() {
        ctx.reclaim_erased().await?;
    }
    Ok(PolicyOutcome {
        ids: removed,
        ..plan.outcome
    })
}

/// The ids of what has expired and may go, by id: all of them, or those of `among` that
/// still qualify — locked for removal (`lock`), skipping rows a request holds, on
/// PostgreSQL.
async fn ids_of(
    tx: &policy::TenantTx<'_>,
    rule: RetentionRule,
    tenant: TenantId,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
    among: Option<&[Uuid]>,
    lock: bool,
) -> Result<Vec<Uuid>, ServiceError> {
    let mut select = expired(rule, tenant, before, now, true);
    if let Some(ids) = among {
        let column = match rule {
            RetentionRule::AppointmentsAfterEnd => Expr::col(appointment::Column::Id),
            _ => Expr::col(contact::Column::Id),
        };
        select.and_where(column.is_in(ids.iter().copied()));
    }
    if lock && tx.get_database_backend() == DatabaseBackend::Postgres {
        select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = tx.query_all(&select).await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<Uuid>("", "id"))
        .collect::<Result<_, _>>()?)
}

/// How many rows `rule` finds expired (see [`expired`]).
async fn count_expired(
    tx: &policy::TenantTx<'_>,
    select: SelectStatement,
) -> Result<u64, ServiceError> {
    let count = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from_subquery(select, Alias::new("expired"))
        .to_owned();
    let n: i64 = tx
        .query_one(&count)
        .await?
        .map(|r| r.try_get("", "n"))
        .transpose()?
        .unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The ids (`id`) of what `rule` finds expired at `before`, by id: with `respect_holds`,
/// only what no legal hold (and no restriction) in force at `now` keeps.
fn expired(
    rule: RetentionRule,
    tenant: TenantId,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
    respect_holds: bool,
) -> SelectStatement {
    let held = Query::select()
        .column(legal_hold::Column::ContactId)
        .from(legal_hold::Entity)
        .and_where(legal_hold::Column::TenantId.eq(tenant))
        .cond_where(super::legal_holds::in_force(now))
        .to_owned();
    let mut select = Query::select();
    match rule {
        RetentionRule::AppointmentsAfterEnd => {
            select
                .expr_as(Expr::col(appointment::Column::Id), Alias::new("id"))
                .from(appointment::Entity)
                .and_where(appointment::Column::TenantId.eq(tenant))
                .and_where(appointment::Column::EndsAt.lt(before))
                .order_by(appointment::Column::Id, Order::Asc);
            if respect_holds {
                select.and_where(appointment::Column::ContactId.not_in_subquery(held));
            }
        }
        RetentionRule::ContactsAfterLastUpdate | RetentionRule::ImportedNeverUsed => {
            select
                .expr_as(Expr::col(contact::Column::Id), Alias::new("id"))
                .from(contact::Entity)
                .and_where(contact::Column::TenantId.eq(tenant))
                .order_by(contact::Column::Id, Order::Asc);
            if rule == RetentionRule::ImportedNeverUsed {
                select
                    .and_where(contact::Column::Source.eq("IMPORT"))
                    .and_where(contact::Column::Version.eq(1))
                    .and_where(contact::Column::CreatedAt.lt(before))
                    .and_where(
                        contact::Column::Id.not_in_subquery(
                            Query::select()
                                .column(appointment::Column::ContactId)
                                .from(appointment::Entity)
                                .and_where(appointment::Column::TenantId.eq(tenant))
                                .to_owned(),
                        ),
                    );
            } else {
                select.and_where(contact::Column::UpdatedAt.lt(before));
            }
            if respect_holds {
                select
                    .and_where(contact::Column::RestrictedAt.is_null())
                    .and_where(contact::Column::Id.not_in_subquery(held));
            }
        }
    }
    select
}

/// Records what one policy's purge removed, in counts.
async fn report(
    ctx: &RequestCtx<'_>,
    run: PurgeRunId,
    outcome: &PolicyOutcome,
) -> Result<(), ServiceError> {
    let tx = policy::job_tenant(ctx, outcome.tenant_id, Mode::Write).await?;
    purge_report::Entity::insert(purge_report::ActiveModel {
        tenant_id: Set(outcome.tenant_id),
        run_id: Set(run),
        rule: Set(outcome.rule.clone()),
        cutoff: Set(DateTime::parse_from_rfc3339(&outcome.cutoff)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or(ctx.now)),
        removed: Set(i32::try_from(outcome.ids.len()).unwrap_or(i32::MAX)),
        kept_by_holds: Set(i32::try_from(outcome.kept_by_holds).unwrap_or(i32::MAX)),
        finished_at: Set(ctx.now),
    })
    .exec(&*tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Pace;

    #[test]
    fn the_purge_rests_in_proportion_to_its_work() {
        let batch = Duration::from_millis(40);
        let rest = |duty| Pace::new(duty).rest_after(batch);
        assert_eq!(rest(100), Duration::ZERO);
        assert_eq!(rest(50), batch);
        assert_eq!(rest(25), Duration::from_millis(120));
        assert_eq!(rest(0), Duration::from_millis(3_960));
        assert_eq!(rest(200), Duration::ZERO);
    }
}

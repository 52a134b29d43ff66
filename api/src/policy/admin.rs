//! Gates for work that is not an access to personal data: a tenant's own records
//! (instructions, objections, partner tokens, import progress, its ledger) and the
//! platform registry (tenants, subprocessors, transfers). Each gate decides who may, and
//! returns a transaction that carries the actor and what it was allowed.

use std::ops::Deref;

use sea_orm::DatabaseTransaction;

use super::{Actor, RequestCtx};
use crate::auth::{ActorKind, Caller, Role};
use crate::domain::instruction::Purpose;
use crate::domain::{InstructionId, Invalid, SubprocessorId, TenantId};
use crate::error::ServiceError;
use crate::tenancy::{self, Mode};

/// The authority a [`PinnedTx`] was opened under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Any user of the controller, on its own tenant.
    ControllerUser,
    /// The controller's admin, on its own tenant.
    ControllerAdmin,
    /// The platform admin, on one tenant's registry rows (its account, partner tokens).
    PlatformAdmin,
    /// Processor staff handling the tenant's data-subject requests, under this
    /// instruction of the tenant.
    RequestHandler(InstructionId),
    /// A partner subprocessor reading and confirming what was forwarded to it.
    Partner(SubprocessorId),
}

/// A transaction pinned to one tenant for its records that are not personal data.
/// Dropping it without [`PinnedTx::commit`] rolls back.
pub struct PinnedTx {
    tx: DatabaseTransaction,
    tenant: TenantId,
    actor: Actor,
    allowed: Allowed,
}

impl PinnedTx {
    async fn open(
        ctx: &RequestCtx<'_>,
        tenant: TenantId,
        actor: Actor,
        allowed: Allowed,
        mode: Mode,
    ) -> Result<Self, ServiceError> {
        Ok(Self {
            tx: tenancy::begin_pinned(ctx.db, tenant, mode).await?,
            tenant,
            actor,
            allowed,
        })
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn allowed(&self) -> Allowed {
        self.allowed
    }

    /// # Errors
    /// `Db` when the transaction cannot commit.
    pub async fn commit(self) -> Result<(), ServiceError> {
        Ok(self.tx.commit().await?)
    }
}

impl Deref for PinnedTx {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

/// Who reads the registry, which decides what of it they see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Everything, every tenant's objections included.
    PlatformAdmin,
    /// Someone acting inside one tenant: what is announced to controllers, and this
    /// tenant's own objections.
    Tenant(TenantId),
}

/// A transaction on the platform registry. For a controller's user it is pinned to its
/// tenant (so its own objections show); for a platform admin's view it is open to the
/// platform-read policies. Dropping it without [`RegistryTx::commit`] rolls back.
pub struct RegistryTx {
    tx: DatabaseTransaction,
    actor: Actor,
    viewer: Viewer,
}

impl RegistryTx {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn viewer(&self) -> Viewer {
        self.viewer
    }

    pub fn is_platform_admin(&self) -> bool {
        self.viewer == Viewer::PlatformAdmin
    }

    /// # Errors
    /// `Db` when the transaction cannot commit.
    pub async fn commit(self) -> Result<(), ServiceError> {
        Ok(self.tx.commit().await?)
    }
}

impl Deref for RegistryTx {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

fn authenticated<'a>(ctx: &RequestCtx<'a>) -> Result<&'a Caller, ServiceError> {
    ctx.caller.ok_or(ServiceError::Unauthenticated)
}

fn platform_admin<'a>(ctx: &RequestCtx<'a>) -> Result<&'a Caller, ServiceError> {
    let caller = authenticated(ctx)?;
    if caller.role == Role::PlatformAdmin {
        Ok(caller)
    } else {
        Err(ServiceError::Forbidden(
            "platform admin role required".into(),
        ))
    }
}

fn controller_user<'a>(ctx: &RequestCtx<'a>) -> Result<(&'a Caller, TenantId), ServiceError> {
    let caller = authenticated(ctx)?;
    match (caller.actor_kind(), caller.tenant) {
        (ActorKind::Controller, Some(tenant)) => Ok((caller, tenant)),
        (ActorKind::Controller, None) => Err(ServiceError::Unauthenticated),
        _ => Err(ServiceError::Forbidden(
            "only the controller's own users may do this".into(),
        )),
    }
}

fn controller_admin_user<'a>(ctx: &RequestCtx<'a>) -> Result<(&'a Caller, TenantId), ServiceError> {
    let (caller, tenant) = controller_user(ctx)?;
    if caller.role == Role::ControllerAdmin {
        Ok((caller, tenant))
    } else {
        Err(ServiceError::Forbidden(
            "controller admin role required".into(),
        ))
    }
}

/// Decides only: whether the caller is a platform admin. For a resolver that must refuse
/// an outsider before it looks at the input.
///
/// # Errors
/// `Unauthenticated` without a caller, `Forbidden` for anyone but a platform admin.
pub fn check_platform_admin(ctx: &RequestCtx<'_>) -> Result<(), ServiceError> {
    platform_admin(ctx).map(|_| ())
}

/// A transaction on the caller's own tenant, for any of the controller's users.
///
/// # Errors
/// `Unauthenticated` without a caller (or a controller token without a tenant),
/// `Forbidden` for callers outside a controller; `Db`.
pub async fn controller(ctx: &RequestCtx<'_>, mode: Mode) -> Result<PinnedTx, ServiceError> {
    let (caller, tenant) = controller_user(ctx)?;
    PinnedTx::open(
        ctx,
        tenant,
        Actor::of(caller),
        Allowed::ControllerUser,
        mode,
    )
    .await
}

/// A transaction on the caller's own tenant, for the controller's admin (instructions,
/// objections).
///
/// # Errors
/// As [`controller`], and `Forbidden` for a controller's plain user.
pub async fn controller_admin(ctx: &RequestCtx<'_>, mode: Mode) -> Result<PinnedTx, ServiceError> {
    let (caller, tenant) = controller_admin_user(ctx)?;
    PinnedTx::open(
        ctx,
        tenant,
        Actor::of(caller),
        Allowed::ControllerAdmin,
        mode,
    )
    .await
}

/// A read of the caller's tenant's ledger (controller admin), after the tenant's pending
/// records are sealed: every access committed before the call is on it. `Mode::Snapshot`
/// reads chain and head as of one moment.
///
/// # Errors
/// As [`controller_admin`].
pub async fn access_log(ctx: &RequestCtx<'_>, mode: Mode) -> Result<PinnedTx, ServiceError> {
    let (caller, tenant) = controller_admin_user(ctx)?;
    crate::ledger::seal(ctx.db, tenant).await?;
    PinnedTx::open(
        ctx,
        tenant,
        Actor::of(caller),
        Allowed::ControllerAdmin,
        mode,
    )
    .await
}

/// Issues a signed checkpoint of the caller's tenant's ledger (controller admin): seals
/// what is pending, extends the tenant's tree and signs it (see
/// [`crate::ledger::tree::issue`]).
///
/// # Errors
/// `Unauthenticated`/`Forbidden` for anyone but the tenant's admin; `Db`.
pub async fn issue_checkpoint(
    ctx: &RequestCtx<'_>,
    key: &crate::ledger::checkpoint::LogKey,
) -> Result<crate::ledger::tree::CheckpointRow, ServiceError> {
    let (_, tenant) = controller_admin_user(ctx)?;
    crate::ledger::tree::issue(ctx.db, key, tenant, ctx.now).await
}

/// A transaction on one tenant's registry rows (its account, its partner tokens), for
/// the platform admin: never its personal data, which takes an instruction like anyone's.
///
/// # Errors
/// `Unauthenticated`/`Forbidden` for anyone but a platform admin; `Db`.
pub async fn platform_admin_on(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
    mode: Mode,
) -> Result<PinnedTx, ServiceError> {
    let caller = platform_admin(ctx)?;
    PinnedTx::open(ctx, tenant, Actor::of(caller), Allowed::PlatformAdmin, mode).await
}

/// A transaction on the platform registry for the platform admin (registering,
/// announcing and retiring subprocessors, recording transfers, listing tenants).
///
/// # Errors
/// `Unauthenticated`/`Forbidden` for anyone but a platform admin; `Db`.
pub async fn registry(ctx: &RequestCtx<'_>, mode: Mode) -> Result<RegistryTx, ServiceError> {
    let caller = platform_admin(ctx)?;
    Ok(RegistryTx {
        tx: tenancy::begin(ctx.db, mode).await?,
        actor: Actor::of(caller),
        viewer: Viewer::PlatformAdmin,
    })
}

/// A read of the registry as the caller may see it: everything for a platform admin
/// (every tenant's objections included), what is announced to controllers for a
/// controller's users.
///
/// # Errors
/// `Unauthenticated`; `Forbidden` for staff and partners; `Db`.
pub async fn registry_view(ctx: &RequestCtx<'_>) -> Result<RegistryTx, ServiceError> {
    let caller = authenticated(ctx)?;
    let (tx, viewer) = match caller.actor_kind() {
        ActorKind::PlatformAdmin => {
            let tx = tenancy::begin(ctx.db, Mode::Read).await?;
            tenancy::open_platform_read(&tx).await?;
            (tx, Viewer::PlatformAdmin)
        }
        ActorKind::Controller => {
            let (_, tenant) = controller_user(ctx)?;
            let tx = tenancy::begin_pinned(ctx.db, tenant, Mode::Read).await?;
            (tx, Viewer::Tenant(tenant))
        }
        _ => {
            return Err(ServiceError::Forbidden(
                "the registry is not open to this caller".into(),
            ));
        }
    };
    Ok(RegistryTx {
        tx,
        actor: Actor::of(caller),
        viewer,
    })
}

/// A read of one controller account, and which: a platform admin names any (`id`
/// required); anyone acting inside a tenant sees only its own (`id` absent or its own).
///
/// # Errors
/// `Unauthenticated`; `Validation` for a platform admin without `id`; `NotFound` for any
/// other tenant's id, exactly as for one that does not exist; `Db`.
pub async fn account(
    ctx: &RequestCtx<'_>,
    id: Option<TenantId>,
) -> Result<(RegistryTx, TenantId), ServiceError> {
    let caller = authenticated(ctx)?;
    let (wanted, viewer) = match (caller.actor_kind(), caller.tenant, id) {
        (ActorKind::PlatformAdmin, _, Some(id)) => (id, Viewer::PlatformAdmin),
        (ActorKind::PlatformAdmin, _, None) => {
            return Err(Invalid::new("id", "id is required for a platform admin").into());
        }
        (_, Some(own), None) => (own, Viewer::Tenant(own)),
        (_, Some(own), Some(id)) if id == own => (own, Viewer::Tenant(own)),
        _ => return Err(ServiceError::NotFound),
    };
    let tx = tenancy::begin(ctx.db, Mode::Read).await?;
    Ok((
        RegistryTx {
            tx,
            actor: Actor::of(caller),
            viewer,
        },
        wanted,
    ))
}

/// A transaction on the tenant's data-subject requests (their queue, their lifecycle —
/// not the subject's data, which each step reaches through
/// [`super::begin_request_step`]): for the controller's admin, or for processor staff
/// whose token's purpose is `DATA_SUBJECT_REQUESTS` under an active instruction of the
/// tenant for that purpose.
///
/// # Errors
/// `Unauthenticated`; `Forbidden` for anyone else; `Db`.
pub async fn requests(ctx: &RequestCtx<'_>, mode: Mode) -> Result<PinnedTx, ServiceError> {
    let caller = authenticated(ctx)?;
    if caller.actor_kind() == ActorKind::Controller {
        return controller_admin(ctx, mode).await;
    }
    let refuse = || {
        ServiceError::Forbidden(
            "data-subject requests are handled by the controller's admin, or by processor \
             staff acting for DATA_SUBJECT_REQUESTS under an instruction"
                .into(),
        )
    };
    let (ActorKind::ProcessorStaff, Some(tenant), Some(Purpose::DataSubjectRequests)) =
        (caller.actor_kind(), caller.tenant, caller.purpose)
    else {
        return Err(refuse());
    };
    let tx = PinnedTx::open(
        ctx,
        tenant,
        Actor::of(caller),
        Allowed::ControllerUser,
        mode,
    )
    .await?;
    let instruction = super::personal::active_instructions(
        &*tx,
        tenant,
        Purpose::DataSubjectRequests,
        caller.instruction,
        ctx.now,
    )
    .await?
    .into_iter()
    .find(|i| super::personal::json_has(&i.actor_kinds, ActorKind::ProcessorStaff.as_str()))
    .ok_or_else(refuse)?;
    Ok(PinnedTx {
        allowed: Allowed::RequestHandler(instruction.id),
        ..tx
    })
}

/// A transaction on what was forwarded to a partner subprocessor by its tenant, for the
/// partner's own token while its token, its subprocessor and the controller's objections
/// let it in (see [`super::partner::refusal`]).
///
/// # Errors
/// `Unauthenticated`; `Forbidden` for anyone else, or a partner refused; `Db`.
pub async fn partner_inbox(ctx: &RequestCtx<'_>, mode: Mode) -> Result<PinnedTx, ServiceError> {
    let caller = authenticated(ctx)?;
    let (ActorKind::Subprocessor, Some(tenant), Some(token), Some(sp)) = (
        caller.actor_kind(),
        caller.tenant,
        caller.token_id,
        caller.subprocessor,
    ) else {
        return Err(ServiceError::Forbidden(
            "only a partner's token reads what was forwarded to it".into(),
        ));
    };
    let tx = PinnedTx::open(ctx, tenant, Actor::of(caller), Allowed::Partner(sp), mode).await?;
    if let Some(reason) = super::partner::refusal(&*tx, tenant, token, sp, ctx.now).await? {
        return Err(ServiceError::Forbidden(reason));
    }
    Ok(tx)
}

fn job(ctx: &RequestCtx<'_>) -> Result<&'static str, ServiceError> {
    ctx.job
        .ok_or_else(|| ServiceError::Forbidden("only the processor's own jobs may".into()))
}

/// A read of the tenant registry for one of the processor's jobs (which tenants to visit).
///
/// # Errors
/// `Forbidden` outside a job; `Db`.
pub async fn job_registry(ctx: &RequestCtx<'_>) -> Result<RegistryTx, ServiceError> {
    let name = job(ctx)?;
    Ok(RegistryTx {
        tx: tenancy::begin(ctx.db, Mode::Read).await?,
        actor: Actor {
            kind: ActorKind::System,
            id: name.to_owned(),
        },
        viewer: Viewer::PlatformAdmin,
    })
}

/// A read across every tenant's platform-readable records (breach notices, objections)
/// for one of the processor's jobs: the `/metrics` gauges.
///
/// # Errors
/// `Forbidden` outside a job; `Db`.
pub async fn job_platform_read(ctx: &RequestCtx<'_>) -> Result<RegistryTx, ServiceError> {
    let tx = job_registry(ctx).await?;
    tenancy::open_platform_read(&*tx).await?;
    Ok(tx)
}

/// A transaction on one tenant's records that are not personal data (its retention
/// policies, its purge reports), for one of the processor's jobs.
///
/// # Errors
/// `Forbidden` outside a job; `Db`.
pub async fn job_tenant(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
    mode: Mode,
) -> Result<PinnedTx, ServiceError> {
    let name = job(ctx)?;
    let actor = Actor {
        kind: ActorKind::System,
        id: name.to_owned(),
    };
    PinnedTx::open(ctx, tenant, actor, Allowed::ControllerUser, mode).await
}

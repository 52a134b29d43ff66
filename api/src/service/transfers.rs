//! International transfer records (platform admin) and the record of processing each
//! controller can generate from what is registered.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entities::{processing_instruction, subprocessor, tenant, transfer_record};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::to_json;
use crate::domain::instruction::DataCategory;
use crate::domain::subprocessor::{SubprocessorStatus, status_at};
use crate::domain::transfer::NewTransfer;
use crate::domain::{Invalid, SubprocessorId, TransferId};
use crate::error::ServiceError;
use crate::policy::{self, Mode, RequestCtx, Viewer};

/// Records a transfer to a subprocessor (platform admin). The destination must be one
/// of the subprocessor's processing locations and the categories among those it
/// processes.
///
/// # Errors
/// `NotFound` for an unknown subprocessor; `Validation`; `Db`.
#[tracing::instrument(skip_all, fields(subprocessor_id = %subprocessor_id))]
pub async fn record(
    ctx: &RequestCtx<'_>,
    subprocessor_id: SubprocessorId,
    new: NewTransfer,
) -> Result<transfer_record::Model, ServiceError> {
    let tx = policy::registry(ctx, Mode::Write).await?;
    let sp = super::subprocessors::find(&*tx, subprocessor_id).await?;
    let locations: Vec<String> = serde_json::from_value(sp.locations.clone()).unwrap_or_default();
    if !locations.contains(&new.destination) {
        return Err(Invalid::new(
            "destinationCountry",
            format!("{} does not process in {}", sp.name, new.destination),
        )
        .into());
    }
    let processed: BTreeSet<DataCategory> =
        serde_json::from_value(sp.data_categories.clone()).unwrap_or_default();
    if let Some(c) = new.data_categories.iter().find(|c| !processed.contains(c)) {
        return Err(Invalid::new(
            "dataCategories",
            format!("{} does not process {c:?} data", sp.name),
        )
        .into());
    }
    let model = transfer_record::ActiveModel {
        id: Set(TransferId::new()),
        subprocessor_id: Set(subprocessor_id),
        origin_region: Set(new.origin.as_str().to_owned()),
        destination_country: Set(new.destination),
        data_categories: Set(to_json(&new.data_categories)),
        safeguard: Set(new.safeguard.as_str().to_owned()),
        scc_module: Set(new.scc_module.map(|m| m.as_str().to_owned())),
        instrument_reference: Set(new.instrument_reference),
        impact_assessed_at: Set(new.impact_assessed_at),
        supplementary_measures: Set(new.supplementary_measures),
        valid_from: Set(new.valid_from),
        valid_until: Set(new.valid_until),
        review_due_at: Set(new.review_due_at),
        created_by: Set(tx.actor().id.clone()),
        created_at: Set(ctx.now),
    };
    let created = transfer_record::Entity::insert(model)
        .exec_with_returning(&*tx)
        .await?;
    tx.commit().await?;
    Ok(created)
}

/// Transfer records: all for a platform admin; for a controller's users, those to
/// subprocessors announced to controllers. Optionally of one subprocessor.
///
/// # Errors
/// `Forbidden` for staff and partners; `Db`.
pub async fn list(
    ctx: &RequestCtx<'_>,
    subprocessor_id: Option<SubprocessorId>,
) -> Result<Vec<transfer_record::Model>, ServiceError> {
    let tx = policy::registry_view(ctx).await?;
    let visible: Vec<SubprocessorId> = super::subprocessors::visible(&*tx, tx.viewer())
        .await?
        .into_iter()
        .map(|s| s.id)
        .filter(|id| subprocessor_id.is_none_or(|wanted| wanted == *id))
        .collect();
    let rows = transfer_record::Entity::find()
        .filter(transfer_record::Column::SubprocessorId.is_in(visible))
        .order_by_asc(transfer_record::Column::CreatedAt)
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// A controller's record of the processing carried out on its behalf (GDPR Art. 30(2)).
#[derive(Debug, Clone)]
pub struct RecordOfProcessing {
    pub generated_at: DateTime<Utc>,
    pub controller: tenant::Model,
    /// Active instructions: the categories of processing carried out for the controller.
    pub activities: Vec<processing_instruction::Model>,
    /// Subprocessors engaged for the controller: announced, not retired, with whether the
    /// controller objected.
    pub subprocessors: Vec<(subprocessor::Model, bool)>,
    pub transfers: Vec<transfer_record::Model>,
    /// The processor's terms in force.
    pub terms: Option<entities::terms_version::Model>,
}

/// Generates the caller's tenant's record of processing from what is registered now.
///
/// # Errors
/// `Unauthenticated`/`Forbidden` outside the controller; `Db`.
pub async fn record_of_processing(
    ctx: &RequestCtx<'_>,
) -> Result<RecordOfProcessing, ServiceError> {
    let tx = policy::controller(ctx, Mode::Read).await?;
    let tenant = tx.tenant();
    let controller = tenant::Entity::find_by_id(tenant)
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let activities: Vec<processing_instruction::Model> = processing_instruction::Entity::find()
        .filter(processing_instruction::Column::TenantId.eq(tenant))
        .filter(
            processing_instruction::Column::Id
                .not_in_subquery(super::held::instructions(tenant, ctx.now)),
        )
        .order_by_asc(processing_instruction::Column::IssuedAt)
        .all(&*tx)
        .await?
        .into_iter()
        .filter(|i| super::instructions::is_active(i, ctx.now))
        .collect();
    let objected: Vec<SubprocessorId> = entities::subprocessor_objection::Entity::find()
        .filter(entities::subprocessor_objection::Column::TenantId.eq(tenant))
        .all(&*tx)
        .await?
        .into_iter()
        .map(|o| o.subprocessor_id)
        .collect();
    let subprocessors: Vec<(subprocessor::Model, bool)> =
        super::subprocessors::visible(&*tx, Viewer::Tenant(tenant))
            .await?
            .into_iter()
            .filter(|sp| {
                status_at(sp.effective_at, sp.retired_at, ctx.now) != SubprocessorStatus::Retired
            })
            .map(|sp| {
                let o = objected.contains(&sp.id);
                (sp, o)
            })
            .collect();
    let ids: Vec<SubprocessorId> = subprocessors.iter().map(|(s, _)| s.id).collect();
    let transfers = transfer_record::Entity::find()
        .filter(transfer_record::Column::SubprocessorId.is_in(ids))
        .order_by_asc(transfer_record::Column::CreatedAt)
        .all(&*tx)
        .await?;
    let terms = super::terms::in_force(&*tx, ctx.now).await?;
    tx.commit().await?;
    Ok(RecordOfProcessing {
        generated_at: ctx.now,
        controller,
        activities,
        subprocessors,
        transfers,
        terms,
    })
}

/// The technical and organisational security measures (Art. 32) this deployment takes,
/// as the record of processing states them.
pub fn security_measures(postgres: bool) -> Vec<String> {
    let mut measures = vec![
        "Every query runs through one tenant-scoped service layer".to_owned(),
        "Every access to personal data, allowed or denied, is recorded in a hash-chained, append-only ledger the controller can verify".to_owned(),
        "Processor staff, platform admins and subprocessors reach personal data only under an active instruction of the controller, limited to its data categories".to_owned(),
        "Bearer tokens are verified with a pinned algorithm, issuer and audience; partner tokens are scoped and revocable".to_owned(),
        "Logs carry identifiers only, never personal data".to_owned(),
    ];
    if postgres {
        measures.push(
            "Row-level security, enabled and forced on every tenant table, isolates tenants in the database; the server's role cannot bypass it".to_owned(),
        );
    }
    measures
}

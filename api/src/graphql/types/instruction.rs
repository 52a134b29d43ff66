use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::processing_instruction;

use super::page::PageInfo;
use crate::auth::ActorKind;
use crate::domain::instruction::{AccessOperation, DataCategory, Purpose};
use crate::graphql::{now, to_id};
use crate::pagination::Page;
use crate::service::instructions;

/// A controller's documented instruction to the processor.
pub struct Instruction(pub processing_instruction::Model);

use super::decode_list as decode;

#[Object]
impl Instruction {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn purpose(&self) -> Option<Purpose> {
        Purpose::parse(&self.0.purpose)
    }
    /// Who may act under it.
    async fn actor_kinds(&self) -> Vec<ActorKind> {
        decode::<String>(&self.0.actor_kinds)
            .iter()
            .filter_map(|k| ActorKind::from_db(k))
            .collect()
    }
    /// The subprocessors it covers (with actor kind `SUBPROCESSOR`).
    async fn subprocessor_ids(&self) -> Vec<ID> {
        decode::<uuid::Uuid>(&self.0.subprocessor_ids)
            .into_iter()
            .map(to_id)
            .collect()
    }
    async fn data_categories(&self) -> Vec<DataCategory> {
        decode(&self.0.data_categories)
    }
    async fn operations(&self) -> Vec<AccessOperation> {
        decode(&self.0.operations)
    }
    async fn valid_from(&self) -> DateTime<Utc> {
        self.0.valid_from
    }
    async fn valid_until(&self) -> Option<DateTime<Utc>> {
        self.0.valid_until
    }
    /// A ticket, DPA clause or other reference the controller gave.
    async fn external_reference(&self) -> Option<&str> {
        self.0.external_reference.as_deref()
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The tenant's standing direct-request instruction, covering its own users.
    async fn standing(&self) -> bool {
        self.0.standing
    }
    /// The purpose involves selling the contacts' data: contacts that opted out of sale
    /// are invisible under it.
    async fn involves_sale(&self) -> bool {
        self.0.involves_sale
    }
    /// The purpose involves sharing for cross-context behavioural advertising: contacts
    /// that opted out of sharing are invisible under it.
    async fn involves_sharing(&self) -> bool {
        self.0.involves_sharing
    }
    async fn issued_by(&self) -> &str {
        &self.0.issued_by
    }
    async fn issued_at(&self) -> DateTime<Utc> {
        self.0.issued_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
    async fn revoked_by(&self) -> Option<&str> {
        self.0.revoked_by.as_deref()
    }
    async fn revocation_reason(&self) -> Option<&str> {
        self.0.revocation_reason.as_deref()
    }
    /// In force now: not revoked, inside its validity window.
    async fn active(&self, ctx: &Context<'_>) -> bool {
        instructions::is_active(&self.0, now(ctx))
    }
}

#[derive(SimpleObject)]
pub struct InstructionEdge {
    pub cursor: String,
    pub node: Instruction,
}

#[derive(SimpleObject)]
pub struct InstructionConnection {
    pub edges: Vec<InstructionEdge>,
    pub page_info: PageInfo,
}

impl From<Page<processing_instruction::Model>> for InstructionConnection {
    fn from(page: Page<processing_instruction::Model>) -> Self {
        let page_info = PageInfo::of(&page, instructions::cursor);
        Self {
            edges: page
                .items
                .into_iter()
                .map(|i| InstructionEdge {
                    cursor: instructions::cursor(&i),
                    node: Instruction(i),
                })
                .collect(),
            page_info,
        }
    }
}

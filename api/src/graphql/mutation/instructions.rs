use async_graphql::{Context, ID, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::access_record::LedgerCheckpoint;
use crate::graphql::types::inputs::IssueInstructionInput;
use crate::graphql::types::instruction::Instruction;
use crate::graphql::{parse_id, request_ctx};
use crate::service::instructions;

#[derive(Default)]
pub struct InstructionMutation;

#[Object]
impl InstructionMutation {
    /// Documents an instruction to the processor (controller admin).
    async fn issue_instruction(
        &self,
        ctx: &Context<'_>,
        input: IssueInstructionInput,
    ) -> GqlResult<Instruction> {
        let new = input.parse().gql()?;
        instructions::issue(&request_ctx(ctx), new)
            .await
            .map(Instruction)
            .gql()
    }

    /// Signs a checkpoint of the tenant's ledger now (controller admin): every record
    /// committed before the call is in it. Returns the latest when nothing was added since.
    async fn issue_ledger_checkpoint(&self, ctx: &Context<'_>) -> GqlResult<LedgerCheckpoint> {
        let key = ctx.data_unchecked::<crate::ledger::checkpoint::LogKey>();
        crate::policy::admin::issue_checkpoint(&request_ctx(ctx), key)
            .await
            .map(LedgerCheckpoint::from)
            .gql()
    }

    /// Withdraws an instruction from now on (controller admin).
    async fn revoke_instruction(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> GqlResult<Instruction> {
        let id = parse_id("id", &id).gql()?;
        let reason = crate::domain::optional_text("reason", reason.as_deref(), 500).gql()?;
        instructions::revoke(&request_ctx(ctx), id, reason)
            .await
            .map(Instruction)
            .gql()
    }
}

use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A version of the processor's processing terms, announced before it takes effect.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "terms_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: TermsId,
    pub text: String,
    pub announced_at: DateTimeUtc,
    pub effective_at: DateTimeUtc,
    pub created_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

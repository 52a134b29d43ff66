//! Plain sea-orm models of Custodian's tables. Behaviour lives in `custodian-api`'s
//! `service/`; GraphQL types are written by hand in `graphql/types/`, so nothing here is
//! exposed to clients by accident.

pub mod access_record;
pub mod appointment;
pub mod contact;
pub mod ledger_head;
pub mod processing_instruction;
pub mod tenant;

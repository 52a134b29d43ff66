//! GraphQL output and input types, written by hand so every personal-data field is
//! exposed on purpose.

pub mod access_record;
pub mod appointment;
pub mod contact;
pub mod inputs;
pub mod instruction;
pub mod page;
pub mod subprocessor;
pub mod tenant;

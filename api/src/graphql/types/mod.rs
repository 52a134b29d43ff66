//! GraphQL output and input types, written by hand so every personal-data field is
//! exposed on purpose.

pub mod appointment;
pub mod contact;
pub mod inputs;
pub mod page;
pub mod tenant;

//! The access-policy decision matrix, one tier below HTTP: the real schema on a real,
//! migrated SQLite database, executed directly with typed callers. Each row is one test,
//! named by what it proves; all rows share one database, each with a tenant of its own.
//! The black-box suites in `tests/api/` stay the contract over HTTP.

mod harness;
mod matrix;

mod controller;
mod gates;
mod isolation;
mod partner;
mod platform_admin;
mod staff;

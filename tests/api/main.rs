//! Black-box tests over HTTP. Every suite runs on SQLite and on PostgreSQL.

mod helpers;
mod pg;

mod abuse;
mod appointments;
mod auth;
mod breaches;
mod citus;
mod contacts;
mod disclosures;
mod hostile_tokens;
mod http_spec;
mod import;
mod isolation;
mod ledger;
mod offboarding;
mod partners;
mod privacy;
mod proofs;
mod retention;
mod rls;
mod schema;
mod tenants;
mod terms;
mod validation;
mod webhooks;

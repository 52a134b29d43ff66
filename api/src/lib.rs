//! Custodian: a GraphQL gateway for a data processor's contact records, with per-tenant
//! isolation.

pub mod auth;
pub mod citus;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod import;
pub mod key_file;
pub mod ledger;
pub mod metrics;
pub mod pagination;
pub mod policy;
pub mod service;
pub mod signing;
pub mod startup;
pub mod telemetry;
pub mod tenancy;

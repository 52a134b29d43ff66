//! Plain sea-orm models of Custodian's tables. Behaviour lives in `custodian-api`'s
//! `service/`; GraphQL types are written by hand in `graphql/types/`, so nothing here is
//! exposed to clients by accident.

pub mod access_pending;
pub mod access_record;
pub mod appointment;
pub mod breach_incident;
pub mod breach_notice;
pub mod contact;
pub mod disclosure;
pub mod ids;
pub mod import_run;
pub mod ledger_head;
pub mod legal_hold;
pub mod offboarding;
pub mod offboarding_export;
pub mod partner_token;
pub mod privacy_request;
pub mod privacy_request_event;
pub mod privacy_request_export;
pub mod privacy_request_forward;
pub mod processing_instruction;
pub mod purge_report;
pub mod retention_policy;
pub mod subprocessor;
pub mod subprocessor_objection;
pub mod tenant;
pub mod terms_response;
pub mod terms_version;
pub mod transfer_record;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;

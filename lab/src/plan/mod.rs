//! Plan: a scenario file parsed and validated into what the lab will build and do, and the
//! checklist the scenarios name their rules from. Imports no other stage.

pub mod checklist;
pub mod dirs;
pub mod impairment;
pub mod role_kind;
pub mod scenario;

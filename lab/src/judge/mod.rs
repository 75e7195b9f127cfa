//! Judge: captured frames become a normalized trace, compared with golden files and checked
//! against the checklist's rules.

pub mod golden;
pub mod rules;
pub mod trace;

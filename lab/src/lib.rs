//! The network-boot conformance lab: isolation, topology, capture, scenarios, traces, rules, reports.

pub mod decode;
pub mod golden;
pub mod profile;
pub mod report;

//! The network-boot conformance lab: isolation, topology, capture, scenarios, traces, rules, reports.
pub mod profile;

//! The network-boot conformance lab: isolation, topology, capture, scenarios, traces, rules, reports.

pub mod capture;
pub mod decode;
pub mod demo;
pub mod golden;
pub mod impair;
pub mod isolate;
pub mod matrix;
pub mod netlink;
pub mod peer;
pub mod process;
pub mod profile;
pub mod report;
pub mod rules;
pub mod runner;
pub mod scenario;
pub mod topology;
pub mod trace;
pub mod world;

//! The network-boot conformance lab, in pipeline stages. Each stage imports only the stages
//! listed before it:
//!
//! - [`plan`]: scenario files become validated plans; the checklist's rule catalogue.
//! - [`world`]: isolation, topology over netlink, impairments, capture, processes.
//! - [`roles`]: role kinds, our daemons and third-party profiles.
//! - [`judge`]: traces, golden comparison, rules.
//! - [`report`]: results rendered as text, JSON, JUnit, matrix pages.
//! - [`exec`]: running one scenario, and the batch scheduler every command shares.
//! - [`cmd`]: the `bootlab` commands built on the stages.
//! - [`bench`]: `bootlab bench`, benchmarks built on the stages (worlds, roles, peers).

pub mod bench;
pub mod cmd;
pub mod exec;
pub mod judge;
pub mod plan;
pub mod report;
pub mod roles;
pub mod world;

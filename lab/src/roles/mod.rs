//! Roles: which implementation plays each part of a scenario, ours or a third-party profile, and
//! what each role kind means to the lab.

pub mod check;
pub mod kind;
pub mod ours;
pub mod peer;
pub mod profile;

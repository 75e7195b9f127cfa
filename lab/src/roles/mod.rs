//! Roles: which implementation plays each part of a scenario, ours or a third-party profile.

pub mod peer;
pub mod profile;

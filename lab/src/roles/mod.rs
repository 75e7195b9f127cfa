//! Roles: which implementation plays each part of a scenario, ours or a third-party profile, and
//! what each role kind means to the lab.

pub mod check;
pub mod kind;
pub mod ours;
pub mod peer;
pub mod profile;

/// `start-delay = "own"`: the scenario judges the client's own wait before its first DISCOVER
/// (RFC 2131 §4.4.1, CLI-DELAY-01), so the lab leaves it as the implementation ships it.
pub fn own_start_delay(config: &toml::Table) -> bool {
    config.get("start-delay").and_then(|v| v.as_str()) == Some("own")
}

//! Exec: running one scenario in its own world, and the batch scheduler the commands share.

pub mod batch;
pub mod runner;

/// Loads a scenario file the way every command does: parsed and validated (plan), its roles'
/// configs and step events checked (roles), and no expectation of a rule that has no check yet
/// (judge). Errors are `file:line: field: message`.
pub fn load(
    path: &std::path::Path,
) -> Result<crate::plan::scenario::Scenario, crate::plan::scenario::ScenarioError> {
    let sc = crate::roles::check::load(path)?;
    crate::judge::rules::refuse_unchecked(&sc)?;
    Ok(sc)
}

//! Checks a loaded scenario against what its roles can do, before any namespace is made: each
//! role's config must be one our daemon accepts (typed parse and validation, see
//! [`crate::roles::ours::check_config`]), and each step's event must be one the role's kind can
//! report (ours, or a third-party profile's event rules). Mistakes come back as
//! `file:line: field: message`.

use std::collections::BTreeSet;

use crate::plan::scenario::{Scenario, ScenarioError};
use crate::roles::profile::ProfileSet;

/// Loads a scenario file and checks it (see the module doc).
pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
    let sc = crate::plan::scenario::load(path)?;
    let profiles = ProfileSet::load_default().ok();
    check(&sc, profiles.as_ref())?;
    Ok(sc)
}

/// Checks role configs and step events; `profiles` adds the events third-party profiles report.
pub fn check(sc: &Scenario, profiles: Option<&ProfileSet>) -> Result<(), ScenarioError> {
    for (name, role) in &sc.roles {
        if let Err(p) = crate::roles::ours::check_config(sc, name, role) {
            return Err(sc.role_config_error(name, &p.key, &p.message));
        }
    }
    for (i, step) in sc.steps.iter().enumerate() {
        for (what, w) in [("wait", &step.wait), ("absent", &step.absent)] {
            let Some(w) = w else { continue };
            let Some(role) = sc.roles.get(w.role.get_ref()) else {
                continue;
            };
            let kind = *role.kind.get_ref();
            let mut known: BTreeSet<&str> = kind.our_events().collect();
            if let Some(set) = profiles {
                for p in set.for_role(kind) {
                    known.extend(p.event_names());
                }
            }
            let event = w.event.get_ref();
            let probe_step = kind == crate::plan::role_kind::RoleKind::Probe
                && super::kind::is_probe_step_event(event);
            if !known.contains(event.as_str()) && !probe_step {
                let hint = did_you_mean(event, known.iter().copied())
                    .map(|s| format!("; did you mean {s:?}?"))
                    .unwrap_or_default();
                return Err(sc.step_error(
                    w.event.span(),
                    format!("steps[{i}].{what}.event"),
                    format!(
                        "{event:?} is not an event a {kind} reports{hint} (known: {})",
                        known.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The candidate closest to `word` by edit distance, when close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_word() {
        let words = ["bound", "renewed", "boot-file-received"];
        assert_eq!(did_you_mean("bonud", words.into_iter()), Some("bound"));
        assert_eq!(
            did_you_mean("boot-file-recieved", words.into_iter()),
            Some("boot-file-received")
        );
        assert_eq!(did_you_mean("xyzzy", words.into_iter()), None);
    }
}

//! The conformance checklist: every requirement with its id, source, level and text.
//!
//! `catalogue.tsv` restates `shared/conformance-checklist.md` (id, source, level, requirement)
//! plus the lab's own `LAB-*` outcome rules. Scenarios name rules by id in `[expect.rules]`
//! (checked against this list when a scenario loads); the judge attaches a check to each id.

use std::sync::OnceLock;

/// One requirement of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// `GROUP-TOPIC-NN`.
    pub id: &'static str,
    /// RFC sections or KB articles.
    pub source: &'static str,
    /// MUST / SHOULD / MAY as the source states it.
    pub level: &'static str,
    /// The requirement in one sentence.
    pub requirement: &'static str,
}

const CATALOGUE: &str = include_str!("catalogue.tsv");

/// Every requirement, in checklist order.
pub fn all() -> &'static [Requirement] {
    static ALL: OnceLock<Vec<Requirement>> = OnceLock::new();
    ALL.get_or_init(|| {
        CATALOGUE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some(Requirement {
                    id: f.next()?,
                    source: f.next()?,
                    level: f.next()?,
                    requirement: f.next()?,
                })
            })
            .collect()
    })
}

/// The requirement with this id.
pub fn find(id: &str) -> Option<&'static Requirement> {
    all().iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for r in all() {
            assert!(seen.insert(r.id), "duplicate {}", r.id);
            assert!(r.id.split('-').count() >= 3, "{}", r.id);
        }
        assert!(find("FMT-SIZE-01").is_some());
    }
}

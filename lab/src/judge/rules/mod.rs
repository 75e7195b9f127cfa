//! Rule checks: the requirements of the conformance checklist as code, evaluated on every trace.
//!
//! The requirements come from [`crate::plan::checklist`]. Each group file (`format.rs`, `addressing.rs`, ...) registers
//! the checks written so far; `bootlab rules` shows which are checked and which are not yet.
//! A check sees the decoded frames of every segment and the scenario's names for hosts, and
//! answers pass, fail (with the segment, the frame number in that segment's pcap and what is
//! wrong) or not applicable (the trace has nothing the rule speaks about).

mod addressing;
mod client;
mod format;
mod lab;
mod pxe;
mod query;
mod relay;
mod security;
mod server;
#[cfg(test)]
pub(crate) mod testkit;
mod tftp;

use crate::judge::trace::Trace;
use crate::plan::checklist;
use crate::plan::role_kind::RoleKind;
use std::sync::OnceLock;

/// A requirement from the checklist.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `GROUP-TOPIC-NN`.
    pub id: &'static str,
    /// RFC sections or KB articles.
    pub source: &'static str,
    /// MUST / SHOULD / MAY as the source states it.
    pub level: &'static str,
    /// The requirement in one sentence.
    pub requirement: &'static str,
    /// The check, when written.
    pub check: Option<Check>,
}

/// A rule check over a whole trace.
pub type Check = fn(&Trace) -> Outcome;

/// A rule's outcome on one trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every relevant frame complies.
    Pass,
    /// The trace has nothing this rule speaks about.
    NotApplicable,
    /// A violation, at a frame.
    Fail(Violation),
}

/// Where and how a rule was violated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The segment whose pcap holds the frame.
    pub segment: String,
    /// 1-based frame number in that pcap (Wireshark's `frame.number`); 0 when the violation is an
    /// absence (something that never happened).
    pub frame: usize,
    /// What is wrong.
    pub message: String,
}

impl Outcome {
    /// `pass`, `fail` or `n/a`.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::NotApplicable => "n/a",
            Outcome::Fail(_) => "fail",
        }
    }
}

/// `Pass` when a check saw anything it speaks about and found no violation, else `NotApplicable`.
pub(crate) fn verdict(any: bool) -> Outcome {
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

/// Builds a failure.
pub(crate) fn fail(segment: &str, frame: usize, message: impl Into<String>) -> Outcome {
    Outcome::Fail(Violation {
        segment: segment.to_string(),
        frame,
        message: message.into(),
    })
}

fn registered() -> impl Iterator<Item = (&'static str, Check)> {
    format::CHECKS
        .iter()
        .chain(addressing::CHECKS)
        .chain(relay::CHECKS)
        .chain(client::CHECKS)
        .chain(server::CHECKS)
        .chain(tftp::CHECKS)
        .chain(lab::CHECKS)
        .chain(pxe::CHECKS)
        .chain(security::CHECKS)
        .copied()
}

/// Every rule of the checklist, in checklist order, with its check when written.
pub fn all() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let checks: Vec<(&'static str, Check)> = registered().collect();
        checklist::all()
            .iter()
            .map(|r| Rule {
                id: r.id,
                source: r.source,
                level: r.level,
                requirement: r.requirement,
                check: checks.iter().find(|(cid, _)| *cid == r.id).map(|(_, c)| *c),
            })
            .collect()
    })
}

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    all().iter().find(|r| r.id == id)
}

/// Evaluates every written check on a trace.
///
/// Server rules (SRV-*) judge servers: in a run with no DHCP or BOOTP server role (the lab's
/// probe plays one to question a client) there is none to judge, so they are n/a; beside a
/// server, the probe's own replies are left out by each rule's selection
/// ([`Trace::is_lab_probe`]).
pub fn evaluate(trace: &Trace) -> Vec<(&'static Rule, Outcome)> {
    let has_server = trace
        .roles
        .values()
        .any(|r| matches!(r.kind, RoleKind::DhcpServer | RoleKind::BootpServer));
    all()
        .iter()
        .filter_map(|r| {
            r.check.map(|c| {
                if r.id.starts_with("SRV-") && !has_server {
                    (r, Outcome::NotApplicable)
                } else {
                    (r, c(trace))
                }
            })
        })
        .collect()
}

/// The `bootlab rules` listing: id, status, level, source, the scenarios that exercise the rule,
/// requirement. `exercised` maps a rule id to the scenarios whose `[expect.rules]` enforce an
/// outcome (pass or fail) for it: what the suite proves on every run, read from the scenario
/// files without running anything.
pub fn listing(exercised: &std::collections::BTreeMap<String, Vec<String>>) -> String {
    let mut out = String::new();
    let checked = all().iter().filter(|r| r.check.is_some()).count();
    let mut proven = 0;
    for r in all() {
        let status = if r.check.is_some() {
            "checked"
        } else {
            "not yet"
        };
        let by = exercised.get(r.id).map(Vec::as_slice).unwrap_or_default();
        if r.check.is_some() && !by.is_empty() {
            proven += 1;
        }
        let names = match by {
            [] => "-".to_string(),
            [a] => a.clone(),
            [a, rest @ ..] => format!("{a} +{}", rest.len()),
        };
        out.push_str(&format!(
            "{:<16} {:<8} {:<12} {:<28} {:<34} {}\n",
            r.id,
            status,
            truncate(r.level, 12),
            truncate(r.source, 28),
            truncate(&names, 34),
            r.requirement
        ));
    }
    out.push_str(&format!(
        "\n{checked} of {} rules checked; {proven} checked and exercised (an outcome enforced by a scenario's [expect.rules])\n",
        all().len()
    ));
    out
}

/// Refuses a scenario whose `[expect.rules]` names a rule that has no check yet: the judge
/// evaluates only written checks, so that expectation would be ignored silently. The error
/// names the file and line.
pub fn refuse_unchecked(
    sc: &crate::plan::scenario::Scenario,
) -> Result<(), crate::plan::scenario::ScenarioError> {
    refuse_unchecked_by(sc, |id| find(id).is_some_and(|r| r.check.is_some()))
}

fn refuse_unchecked_by(
    sc: &crate::plan::scenario::Scenario,
    checked: impl Fn(&str) -> bool,
) -> Result<(), crate::plan::scenario::ScenarioError> {
    for (id, outcome) in &sc.expect.rules {
        if !checked(id) {
            return Err(sc.step_error(
                outcome.span(),
                format!("expect.rules.{id}"),
                "this rule has no check yet (see `bootlab rules`), so the outcome would never be judged",
            ));
        }
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_scenario_expecting_an_unchecked_rule_is_refused_with_its_line() {
        let text = "name = \"demo\"\nabout = \"a\"\n[segments.lan]\nsubnet = \"192.0.2.0/24\"\n[hosts.a]\non = { lan = \"192.0.2.1\" }\n[[steps]]\nsleep = \"1s\"\n[expect.rules]\n\"FMT-OP-01\" = \"pass\"\n\"FMT-SIZE-02\" = \"pass\"\n";
        let sc = crate::plan::scenario::parse(std::path::Path::new("scenarios/demo.toml"), text)
            .unwrap_or_else(|e| panic!("{e}"));
        let err = super::refuse_unchecked_by(&sc, |id| id != "FMT-SIZE-02")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("scenarios/demo.toml:11: expect.rules.FMT-SIZE-02:"),
            "{err}"
        );
        assert!(super::refuse_unchecked_by(&sc, |_| true).is_ok());
    }

    #[test]
    fn catalogue_has_all_150_rules_and_checks_name_real_ids() {
        // The checklist's 150, plus the lab's own outcome rules (LAB-*).
        assert_eq!(
            super::all()
                .iter()
                .filter(|r| !r.id.starts_with("LAB-"))
                .count(),
            150
        );
        for (id, _) in super::registered() {
            assert!(
                super::find(id).is_some(),
                "check registered for unknown rule {id}"
            );
        }
    }
}

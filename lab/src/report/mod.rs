//! Reports of a run: the terminal summary, a JSON summary and JUnit XML for CI systems.

pub mod artifacts;
pub mod html;
pub mod junit;
pub mod ladder;
pub mod pcapng;

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// The verdict of one scenario run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Conformant: every step, rule expectation and the golden trace held, and no rule failed
    /// that the scenario does not expect to fail.
    Pass,
    /// A step failed, a rule was violated (at a frame), or a rule expectation did not hold.
    Fail,
    /// Behaviour changed: the trace differs from the implementation's own golden file (ours, or
    /// a third-party implementation's reviewed file), or there is none yet.
    Changed,
    /// A third-party implementation without a golden file of its own behaved differently from
    /// ours; not a failure (its steps and rules held), a difference to review.
    Differs,
    /// The lab itself failed (topology, a process would not start, capture lost frames).
    Error,
    /// Not applicable: an implementation cannot fill a role, with the reason in `failures`.
    NotApplicable,
    /// The implementation is not installed here.
    NotInstalled,
    /// The implementation needs root and the run is rootless.
    NeedsRoot,
    /// A signal stopped the run before it was judged; its captures so far are kept.
    Interrupted,
    /// Not run: a program the scenario `needs` is missing here; `failures` says which and its
    /// Debian package ("needs nft (Debian package nftables)"). Not a failure.
    Skipped,
}

impl Verdict {
    /// Short word for tables.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Changed => "CHANGED",
            Verdict::Differs => "differs",
            Verdict::Error => "ERROR",
            Verdict::NotApplicable => "n/a",
            Verdict::NotInstalled => "not installed",
            Verdict::NeedsRoot => "needs root",
            Verdict::Interrupted => "interrupted",
            Verdict::Skipped => "skipped",
        }
    }

    /// Whether this verdict fails the run.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Verdict::Fail | Verdict::Changed | Verdict::Error | Verdict::Interrupted
        )
    }
}

/// One rule's result on one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleResult {
    /// Rule id from the checklist.
    pub id: String,
    /// `pass`, `fail` or `n/a`.
    pub outcome: String,
    /// What the scenario expected (`pass`/`fail`), if it said.
    pub expected: Option<String>,
    /// Details of the first violation: segment, frame number in its pcap, message.
    pub detail: Option<String>,
    /// The segment of the first violation (reports link it to the frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// The frame of the first violation in its segment's pcap; `None` for an absence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<usize>,
}

/// The result of one scenario run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// Scenario name.
    pub scenario: String,
    /// The implementations used, `ours` or e.g. `dhcp-server=dnsmasq`.
    pub implementation: String,
    /// Repetition number (1-based) when `--repeat` is used.
    pub repetition: u32,
    /// Verdict.
    pub verdict: Verdict,
    /// Wall time.
    #[serde(serialize_with = "ser_secs", deserialize_with = "de_secs")]
    pub duration: Duration,
    /// Why it failed (readable lines; the golden diff is included whole).
    pub failures: Vec<String>,
    /// Rule results.
    pub rules: Vec<RuleResult>,
    /// Where the pcaps, logs and trace are.
    pub artifacts: PathBuf,
}

fn de_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// The closing summary table, plus every failure's details.
pub fn summary(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    let w = results
        .iter()
        .map(|r| r.scenario.len() + r.implementation.len() + 3)
        .max()
        .unwrap_or(10)
        .max(10);
    let _ = writeln!(
        out,
        "\n{:<w$}  {:<13}  {:>7}",
        "scenario", "verdict", "time"
    );
    for r in results {
        let label = if r.implementation == "ours" {
            r.scenario.clone()
        } else {
            format!("{} [{}]", r.scenario, r.implementation)
        };
        let _ = writeln!(
            out,
            "{label:<w$}  {:<13}  {:>6.1}s",
            r.verdict.word(),
            r.duration.as_secs_f64()
        );
    }
    for r in results.iter().filter(|r| r.verdict.is_failure()) {
        let _ = writeln!(
            out,
            "\n== {} [{}] #{}: {} (artifacts: {})",
            r.scenario,
            r.implementation,
            r.repetition,
            r.verdict.word(),
            r.artifacts.display()
        );
        for f in &r.failures {
            let _ = writeln!(out, "{f}");
        }
    }
    for r in results.iter().filter(|r| r.verdict == Verdict::Skipped) {
        let _ = writeln!(
            out,
            "\n== {} [{}] #{}: skipped: {}",
            r.scenario,
            r.implementation,
            r.repetition,
            r.failures.join("; ")
        );
    }
    let passed = results
        .iter()
        .filter(|r| r.verdict == Verdict::Pass)
        .count();
    let failed = results.iter().filter(|r| r.verdict.is_failure()).count();
    let skipped = results.len() - passed - failed;
    let _ = writeln!(out, "\n{passed} passed, {failed} failed, {skipped} skipped");
    out
}

/// JSON summary of all results.
pub fn json(results: &[ScenarioResult]) -> String {
    serde_json::to_string_pretty(results).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// JUnit XML: a test case per scenario run and per failing rule (see [`junit`]).
pub fn junit(results: &[ScenarioResult]) -> String {
    junit::render(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(v: Verdict) -> ScenarioResult {
        ScenarioResult {
            scenario: "arp-less-client".into(),
            implementation: "ours".into(),
            repetition: 1,
            verdict: v,
            duration: Duration::from_millis(1500),
            failures: if v == Verdict::Pass {
                vec![]
            } else {
                vec!["golden <diff>".into()]
            },
            rules: vec![],
            artifacts: PathBuf::from("out/arp-less-client"),
        }
    }

    #[test]
    fn summary_ends_with_counts() {
        let s = summary(&[result(Verdict::Pass), result(Verdict::NotApplicable)]);
        assert!(
            s.trim_end().ends_with("1 passed, 0 failed, 1 skipped"),
            "{s}"
        );
    }
}

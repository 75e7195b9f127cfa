//! JUnit XML for CI systems, written with `quick-junit` (the serializer cargo-nextest uses): one
//! test suite per implementation set, one test case per scenario run, and one per rule that
//! failed or whose expectation did not hold. Failure text goes in the element body, so an XML
//! parser keeps its newlines (the golden diff stays readable in a CI's test view); where the
//! run's pcapng, ladder, trace and logs are goes in `system-out`.

use crate::report::artifacts;
use crate::report::{RuleResult, ScenarioResult, Verdict};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Whether a rule's result fails the run: a violation the scenario does not expect, or an
/// expectation that did not hold.
fn unmet(r: &RuleResult) -> bool {
    match r.expected.as_deref() {
        Some("pass") => r.outcome != "pass",
        Some(_) => r.outcome != "fail",
        None => r.outcome == "fail",
    }
}

/// Where a run's evidence is, one path a line.
fn artifact_lines(r: &ScenarioResult) -> String {
    let mut s = format!("artifacts: {}\n", r.artifacts.display());
    for name in [
        artifacts::PCAPNG,
        artifacts::LADDER_SVG,
        artifacts::LADDER_MERMAID,
        artifacts::TRACE,
        artifacts::GOLDEN,
    ] {
        let p = r.artifacts.join(name);
        if p.exists() {
            let _ = writeln!(s, "{name}: {}", p.display());
        }
    }
    if let Some(out) = r.artifacts.parent() {
        let index = out.join("index.html");
        if index.exists() {
            let _ = writeln!(s, "report: {}", index.display());
        }
    }
    s
}

/// The test case of a scenario run.
fn run_case(r: &ScenarioResult) -> TestCase {
    let status = match r.verdict {
        // `differs`: a peer without a golden file of its own behaved differently from ours; not
        // a failure, the difference is in system-out.
        Verdict::Pass | Verdict::Differs => TestCaseStatus::success(),
        Verdict::Fail | Verdict::Changed | Verdict::Error | Verdict::Interrupted => {
            let kind = if matches!(r.verdict, Verdict::Fail | Verdict::Changed) {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut s = TestCaseStatus::non_success(kind);
            let first = r
                .failures
                .first()
                .and_then(|f| f.lines().next())
                .unwrap_or("failed");
            s.set_message(first);
            s.set_description(r.failures.join("\n"));
            s
        }
        v => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("{}: {}", v.word(), r.failures.join("; ")));
            s
        }
    };
    let mut tc = TestCase::new(format!("{}#{}", r.scenario, r.repetition), status);
    tc.set_classname(format!("bootlab.{}", r.implementation));
    tc.set_time(r.duration);
    let mut out = artifact_lines(r);
    if r.verdict == Verdict::Differs {
        out = format!(
            "differs from ours (to review):\n{}\n{out}",
            r.failures.join("\n")
        );
    }
    tc.set_system_out(out);
    tc
}

/// The test case of one rule on one run: a failure when the rule fails the run (a violation the
/// scenario does not expect, or an expectation that did not hold); a failure the scenario expects
/// (a reproduction) passes, with what was seen in `system-out`.
fn rule_case(r: &ScenarioResult, x: &RuleResult) -> TestCase {
    let seen = x.detail.as_deref().unwrap_or("");
    let status = if unmet(x) {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let what = match x.expected.as_deref() {
            Some(e) => format!("{}: expected {e}, got {}", x.id, x.outcome),
            None => format!("violates {}", x.id),
        };
        s.set_message(what.clone());
        s.set_type("rule");
        s.set_description(format!("{what}\n{seen}"));
        s
    } else {
        TestCaseStatus::success()
    };
    let mut tc = TestCase::new(format!("{}#{}/{}", r.scenario, r.repetition, x.id), status);
    tc.set_classname(format!("bootlab.{}.rules", r.implementation));
    tc.set_time(Duration::ZERO);
    let mut out = format!(
        "outcome: {}{}\n",
        x.outcome,
        match x.expected.as_deref() {
            Some(e) => format!(" (expected {e})"),
            None => String::new(),
        }
    );
    if !seen.is_empty() {
        let _ = writeln!(out, "seen: {seen}");
    }
    out.push_str(&artifact_lines(r));
    tc.set_system_out(out);
    tc
}

/// The JUnit XML of a set of runs.
pub fn render(results: &[ScenarioResult]) -> String {
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for r in results {
        let suite = suites
            .entry(r.implementation.as_str())
            .or_insert_with(|| TestSuite::new(format!("bootlab [{}]", r.implementation)));
        suite.add_test_case(run_case(r));
        for x in r.rules.iter().filter(|x| x.outcome == "fail" || unmet(x)) {
            suite.add_test_case(rule_case(r, x));
        }
    }
    let mut report = Report::new("bootlab");
    report.set_time(results.iter().map(|r| r.duration).sum());
    report.add_test_suites(suites.into_values());
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- JUnit could not be written: {e} -->\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn result(v: Verdict, rules: Vec<RuleResult>) -> ScenarioResult {
        ScenarioResult {
            scenario: "arp-less-client".into(),
            implementation: "ours".into(),
            repetition: 1,
            verdict: v,
            duration: Duration::from_millis(1500),
            failures: if v == Verdict::Pass {
                vec![]
            } else {
                vec!["trace differs from golden/x.snap:\n-lan  a <b>\n+lan  c".into()]
            },
            rules,
            artifacts: PathBuf::from("/nonexistent/arp-less-client"),
        }
    }

    fn rule(outcome: &str, expected: Option<&str>) -> RuleResult {
        RuleResult {
            id: "ADDR-ARP-01".into(),
            outcome: outcome.into(),
            expected: expected.map(str::to_string),
            detail: Some("lan frame 4: no neighbour entry".into()),
            segment: Some("lan".into()),
            frame: Some(4),
        }
    }

    #[test]
    fn failure_text_is_in_the_body_with_its_newlines() {
        let x = render(&[result(Verdict::Fail, vec![])]);
        assert!(
            x.contains("-lan  a &lt;b&gt;\n+lan  c</failure>"),
            "the diff is the element's text, newlines kept: {x}"
        );
        assert!(
            x.contains("message=\"trace differs from golden/x.snap:\""),
            "{x}"
        );
        assert!(
            x.contains("<system-out>artifacts: /nonexistent/arp-less-client"),
            "{x}"
        );
    }

    #[test]
    fn one_case_per_run_and_per_failing_rule() {
        let x = render(&[
            result(Verdict::Pass, vec![rule("pass", Some("pass"))]),
            result(Verdict::Fail, vec![rule("fail", Some("pass"))]),
            result(Verdict::Pass, vec![rule("fail", Some("fail"))]),
        ]);
        assert_eq!(x.matches("<testcase ").count(), 5, "{x}");
        assert_eq!(x.matches("<failure ").count(), 2, "{x}");
        assert!(x.contains("name=\"arp-less-client#1/ADDR-ARP-01\""), "{x}");
        assert!(x.contains("ADDR-ARP-01: expected pass, got fail"), "{x}");
        assert!(x.contains("outcome: fail (expected fail)"), "{x}");
    }

    #[test]
    fn not_applicable_runs_are_skipped() {
        let x = render(&[result(Verdict::NotApplicable, vec![])]);
        assert!(x.contains("<skipped message=\"n/a: "), "{x}");
    }
}

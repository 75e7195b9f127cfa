//! The files a scenario run leaves for people, beside its pcaps, logs and traces: the ladder
//! diagram (`ladder.svg`, `ladder.mmd`, and `ladder.json` from which `index.html` draws it), and
//! `capture.pcapng` (every segment, named, with role names and rule-failure comments). The file
//! names are the contract with [`crate::report::html`].

use crate::judge::rules::{Outcome, Rule};
use crate::judge::trace::Trace;
use crate::plan::scenario::Scenario;
use crate::report::ladder::{self, Context, Ladder};
use crate::report::pcapng::{self, Annotations};
use crate::world::capture::CaptureReport;
use crate::world::topology::Topology;
use std::collections::HashMap;
use std::path::Path;

/// The ladder diagram as SVG.
pub const LADDER_SVG: &str = "ladder.svg";
/// The ladder diagram as Mermaid text.
pub const LADDER_MERMAID: &str = "ladder.mmd";
/// The ladder's data, read back by the HTML report.
pub const LADDER_JSON: &str = "ladder.json";
/// Every segment in one pcapng.
pub const PCAPNG: &str = "capture.pcapng";
/// The golden trace a run was compared with, written when they differ.
pub const GOLDEN: &str = "golden.txt";
/// The run's normalized trace.
pub const TRACE: &str = "trace.txt";

/// Writes the ladder and the pcapng of a judged run into `dir`.
pub fn write(
    sc: &Scenario,
    topo: &Topology,
    trace: &Trace,
    outcomes: &[(&'static Rule, Outcome)],
    capture: &CaptureReport,
    dir: &Path,
) -> std::io::Result<()> {
    let failures: Vec<(&str, &crate::judge::rules::Violation, bool)> = outcomes
        .iter()
        .filter_map(|(r, o)| match o {
            Outcome::Fail(v) => {
                let expected = sc
                    .expect
                    .rules
                    .get(r.id)
                    .is_some_and(|e| e.get_ref().outcome() == "fail");
                Some((r.id, v, expected))
            }
            _ => None,
        })
        .collect();

    let mut comments: HashMap<(String, usize), Vec<String>> = HashMap::new();
    for (id, v, expected) in &failures {
        if v.frame > 0 {
            let as_expected = if *expected {
                " (as the scenario expects)"
            } else {
                ""
            };
            comments
                .entry((v.segment.clone(), v.frame))
                .or_default()
                .push(format!("bootlab: {id} failed{as_expected}: {}", v.message));
        }
    }
    let (ips, macs) = pcapng::names_of(trace);
    let notes = Annotations {
        ips,
        macs,
        comments,
        comment: format!("bootlab scenario {}: {}", sc.name, sc.about),
    };
    let segments: Vec<pcapng::Segment> = capture
        .segments
        .iter()
        .map(|s| {
            let subnet = topo
                .segments
                .iter()
                .find(|t| t.name == s.segment)
                .map(|t| format!(" {}", t.subnet))
                .unwrap_or_default();
            pcapng::Segment {
                name: s.segment.clone(),
                description: format!("bootlab segment {}{subnet}", s.segment),
                pcap: s.pcap.clone(),
            }
        })
        .collect();
    let pcapng_numbers = pcapng::write(&dir.join(PCAPNG), &segments, &notes)
        .map_err(|e| std::io::Error::other(e.to_string()))?;

    let cx = Context {
        segments: topo
            .segments
            .iter()
            .map(|s| {
                let hosts = topo
                    .hosts
                    .iter()
                    .filter(|h| h.interfaces.iter().any(|i| i.segment == s.name))
                    .map(|h| h.name.clone())
                    .collect();
                (s.name.clone(), hosts)
            })
            .collect(),
        failures,
        pcapng_numbers,
    };
    let l = Ladder::build(trace, &cx);
    std::fs::write(dir.join(LADDER_SVG), ladder::svg(&l, ""))?;
    std::fs::write(dir.join(LADDER_MERMAID), ladder::mermaid(&l))?;
    std::fs::write(
        dir.join(LADDER_JSON),
        serde_json::to_string(&l).map_err(std::io::Error::other)?,
    )?;
    Ok(())
}

/// Reads a run's ladder back (`None` when the run left none, e.g. it never got to capture).
pub fn read_ladder(dir: &Path) -> Option<Ladder> {
    let text = std::fs::read_to_string(dir.join(LADDER_JSON)).ok()?;
    serde_json::from_str(&text).ok()
}

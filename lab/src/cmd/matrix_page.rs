//! The interop matrix as one HTML page (`matrix.html`): a legend, filters (role kind, text,
//! failures only), the grid of rules by implementation (which rule each peer passes or fails over
//! the scenarios it ran, every failure linked to the run's evidence), the grid of scenarios by
//! implementation per role kind (each cell linked to its run's page, ladder and pcapng, the whole
//! failure text kept), and the findings.

use super::matrix::{counts, rule_table, Cell, Matrix, Status};
use crate::report::html::{rule_anchor, run_anchor, RUN_PAGE};
use crate::report::ladder::escape;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

const STYLE: &str = r#"
body{font-family:system-ui,sans-serif;margin:1em 2em;color:#111}
table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #bbb;padding:3px 6px;font-size:88%;vertical-align:top}
th.kind{background:#eef}th.rot{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:normal}
.pass{background:#cfc}.fail,.error{background:#fcc}.changed{background:#fdb}.differs{background:#def}.n-a,.untested{background:#eee;color:#666}.not-installed,.needs-root{background:#ffc}
.r-pass{background:#dfd;text-align:center}.r-fail{background:#f99;text-align:center;font-weight:bold}.r-none{background:#fafafa}
.legend span{display:inline-block;padding:2px 8px;margin:2px 6px 2px 0;border:1px solid #bbb;border-radius:3px}
#filters{margin:.5em 0;padding:.4em;background:#f6f6f6;border-radius:4px}
.hidden{display:none}.cell-links a{margin-right:.4em;font-size:85%}small{color:#444}
details{margin:.2em 0}summary{cursor:pointer}pre{white-space:pre-wrap;font-size:85%;max-width:60em}
"#;

const SCRIPT: &str = r#"
(function(){
  var kind=document.getElementById('kind');
  var text=document.getElementById('filter-text');
  var only=document.getElementById('only-failed');
  var params=new URLSearchParams(location.search);
  if(params.get('only')==='failed'){only.checked=true;}
  if(params.get('kind')){kind.value=params.get('kind');}
  if(params.get('q')){text.value=params.get('q');}
  function apply(){
    var q=(text.value||'').toLowerCase();
    document.querySelectorAll('[data-kind],[data-filter]').forEach(function(el){
      var k=el.getAttribute('data-kind');
      var f=el.getAttribute('data-filter');
      var hide=(kind.value&&k&&k!==kind.value)
        ||(f!==null&&q&&f.toLowerCase().indexOf(q)<0)
        ||(f!==null&&only.checked&&el.getAttribute('data-failed')!=='true');
      el.classList.toggle('hidden',!!hide);
    });
  }
  [kind,text,only].forEach(function(e){e.addEventListener('input',apply);e.addEventListener('change',apply);});
  apply();
})();
"#;

/// A link from the page to a file of a run: relative under `out`, else a `file://` URL.
fn href(out: Option<&Path>, p: &Path) -> String {
    let rel = out.and_then(|o| p.strip_prefix(o).ok());
    let (path, prefix) = match rel {
        Some(r) => (r.to_path_buf(), ""),
        None if p.is_absolute() => (p.to_path_buf(), "file://"),
        None => (p.to_path_buf(), ""),
    };
    let encoded: String = path
        .to_string_lossy()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'/'
            | b'='
            | b'@'
            | b',' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{prefix}{encoded}")
}

/// The CSS class of a status.
fn class(s: Status) -> String {
    s.word().replace([' ', '/'], "-")
}

/// The page of a cell's run, at its anchor (when the cell ran).
fn run_link(out: Option<&Path>, c: &Cell, anchor: Option<&str>) -> Option<String> {
    let dir = c.artifacts.as_ref()?;
    let page = dir.join(RUN_PAGE);
    // A page rewritten from an older record (`--from`) may name runs no longer on disk.
    if out.is_some() && !page.exists() {
        return None;
    }
    let run = run_anchor(&c.scenario, &format!("{}={}", c.kind, c.profile), 1);
    Some(format!(
        "{}#{}",
        href(out, &page),
        anchor.map(|a| rule_anchor(&run, a)).unwrap_or(run)
    ))
}

/// The matrix page; `out` is the directory it is written to (links are made relative to it).
pub fn render(m: &Matrix, out: Option<&Path>) -> String {
    let mut o = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>bootlab interop matrix</title><style>{STYLE}</style></head><body>\n<h1>Interop matrix</h1>\n"
    );
    let c = counts(&m.cells);
    let summary: Vec<String> = c.iter().map(|(s, n)| format!("{n} {}", s.word())).collect();
    let _ = writeln!(
        o,
        "<p id=\"counts\">{} cells: {} ({:.0} s{}).</p>",
        m.cells.len(),
        escape(&summary.join(", ")),
        m.seconds,
        if m.rootless { ", rootless" } else { "" }
    );
    legend(&mut o);
    let mut kinds: Vec<&str> = Vec::new();
    for c in &m.cells {
        if !kinds.contains(&c.kind.as_str()) {
            kinds.push(c.kind.as_str());
        }
    }
    o.push_str(
        "<div id=\"filters\"><label>role kind <select id=\"kind\"><option value=\"\">all</option>",
    );
    for k in &kinds {
        let _ = write!(o, "<option value=\"{0}\">{0}</option>", escape(k));
    }
    o.push_str("</select></label> &nbsp; <label>filter <input type=\"search\" id=\"filter-text\" placeholder=\"rule, implementation or scenario\"></label> &nbsp; <label><input type=\"checkbox\" id=\"only-failed\"> only failures</label></div>\n");
    rule_grid(&mut o, m, out);
    for k in &kinds {
        scenario_grid(&mut o, m, out, k);
    }
    o.push_str("<h2>Findings</h2>\n<ul>\n");
    for f in &m.findings {
        let _ = writeln!(
            o,
            "<li data-filter=\"{0}\" data-failed=\"true\">{0}</li>",
            escape(f)
        );
    }
    let _ = writeln!(o, "</ul>\n<script>{SCRIPT}</script>\n</body></html>");
    o
}

fn legend(o: &mut String) {
    o.push_str("<p class=\"legend\" id=\"legend\">Scenario cells: ");
    for (s, what) in [
        (
            Status::Pass,
            "conformant: steps, rules and the golden trace held",
        ),
        (
            Status::Fail,
            "violates a rule at a frame, or a step or rule expectation failed",
        ),
        (
            Status::Changed,
            "the trace differs from the peer's own reviewed golden file",
        ),
        (
            Status::Differs,
            "steps and rules held; the trace differs from ours (to review)",
        ),
        (Status::Error, "the lab could not carry the run out"),
        (
            Status::NotApplicable,
            "proven: the implementation lacks a feature the scenario needs",
        ),
        (
            Status::Untested,
            "not run: the lab cannot yet give a peer what the scenario needs",
        ),
        (Status::NotInstalled, "not installed here"),
        (Status::NeedsRoot, "needs root; the lab ran rootless"),
    ] {
        let _ = write!(
            o,
            "<span class=\"{}\" title=\"{}\">{}</span>",
            class(s),
            escape(what),
            s.word()
        );
    }
    o.push_str("<span class=\"pass\" title=\"passes against its own reviewed golden file\">pass*: own golden file</span><br>Rule cells: <span class=\"r-pass\">✓ N</span> passed in N runs <span class=\"r-fail\">✗ F/N</span> failed in F of N runs (links: the failing runs) <span class=\"r-none\">blank</span> not applicable or not about this role kind</p>\n");
    let _ = writeln!(o, "<p><small>{}</small></p>", escape(super::matrix::LEGEND));
}

/// Rules (rows) by implementation (columns), over the cells that ran.
fn rule_grid(o: &mut String, m: &Matrix, out: Option<&Path>) {
    let table = rule_table(&m.cells);
    if table.is_empty() {
        return;
    }
    let imps: Vec<&String> = table.keys().collect();
    let rules: BTreeSet<&String> = table.values().flat_map(|r| r.keys()).collect();
    o.push_str("<h2 id=\"rules\">Rules by implementation</h2>\n<p>Only rules about the swapped role kind, over the runs that passed or failed.</p>\n<table class=\"rule-grid\"><tr><th>rule</th>");
    for imp in &imps {
        let _ = write!(o, "<th class=\"rot\">{}</th>", escape(imp));
    }
    o.push_str("</tr>\n");
    let cell_of = |imp: &str, scenario: &str| -> Option<&Cell> {
        m.cells
            .iter()
            .find(|c| format!("{}={}", c.kind, c.profile) == imp && c.scenario == scenario)
    };
    for id in rules {
        let failed = imps
            .iter()
            .any(|i| table[*i].get(id).is_some_and(|t| t.fail > 0));
        let requirement = crate::judge::rules::find(id)
            .map(|r| format!("{} ({}): {}", r.level, r.source, r.requirement))
            .unwrap_or_default();
        let _ = write!(
            o,
            "<tr data-filter=\"{} {} {}\" data-failed=\"{failed}\"><td title=\"{}\">{}</td>",
            escape(id),
            escape(
                &imps
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            escape(
                &imps
                    .iter()
                    .filter_map(|i| table[*i].get(id))
                    .flat_map(|t| t.failing.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            escape(&requirement),
            escape(id)
        );
        for imp in &imps {
            match table[*imp].get(id) {
                None => o.push_str("<td class=\"r-none\"></td>"),
                Some(t) if t.fail == 0 => {
                    let _ = write!(
                        o,
                        "<td class=\"r-pass\" title=\"{} passed {id} in {} runs\">✓ {}</td>",
                        escape(imp),
                        t.pass,
                        t.pass
                    );
                }
                Some(t) => {
                    let links: Vec<String> = t
                        .failing
                        .iter()
                        .map(
                            |sc| match cell_of(imp, sc).and_then(|c| run_link(out, c, Some(id))) {
                                Some(h) => format!("<a href=\"{}\">{}</a>", escape(&h), escape(sc)),
                                None => escape(sc),
                            },
                        )
                        .collect();
                    let _ = write!(
                        o,
                        "<td class=\"r-fail\" title=\"{}\">✗ {}/{}<br><small>{}</small></td>",
                        escape(t.first.as_deref().unwrap_or("")),
                        t.fail,
                        t.pass + t.fail,
                        links.join("<br>")
                    );
                }
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n");
}

/// Scenarios (rows) by profile (columns) for one role kind.
fn scenario_grid(o: &mut String, m: &Matrix, out: Option<&Path>, kind: &str) {
    let of: Vec<&Cell> = m.cells.iter().filter(|c| c.kind.as_str() == kind).collect();
    let profiles: BTreeSet<&str> = of.iter().map(|c| c.profile.as_str()).collect();
    let scenarios: BTreeSet<&str> = of.iter().map(|c| c.scenario.as_str()).collect();
    let by: BTreeMap<(&str, &str), &Cell> = of
        .iter()
        .map(|c| ((c.scenario.as_str(), c.profile.as_str()), *c))
        .collect();
    let _ = writeln!(
        o,
        "<h2 id=\"kind-{0}\" data-kind=\"{0}\">{0}: scenarios by implementation</h2>\n<table class=\"scenario-grid\" data-kind=\"{0}\"><tr><th>scenario</th>",
        escape(kind)
    );
    for p in &profiles {
        let _ = write!(o, "<th>{}</th>", escape(p));
    }
    o.push_str("</tr>\n");
    for sc in &scenarios {
        let failed = profiles.iter().any(|p| {
            by.get(&(sc, p))
                .is_some_and(|c| matches!(c.status, Status::Fail | Status::Changed | Status::Error))
        });
        let _ = write!(
            o,
            "<tr data-kind=\"{}\" data-filter=\"{} {}\" data-failed=\"{failed}\"><td>{}</td>",
            escape(kind),
            escape(sc),
            escape(&profiles.iter().copied().collect::<Vec<_>>().join(" ")),
            escape(sc)
        );
        for p in &profiles {
            let Some(c) = by.get(&(sc, p)) else {
                o.push_str("<td></td>");
                continue;
            };
            let star = if c.golden && c.status == Status::Pass {
                "*"
            } else {
                ""
            };
            let _ = write!(
                o,
                "<td class=\"{}\" title=\"{}\"><b>{}{star}</b>",
                class(c.status),
                escape(&c.detail),
                c.status.word()
            );
            if !c.seen.is_empty() {
                let seen: Vec<&str> = c.seen.iter().map(|s| s.word()).collect();
                let _ = write!(
                    o,
                    " <small title=\"every status this cell showed over the recorded runs\">unstable: {}</small>",
                    escape(&seen.join(", "))
                );
            }
            if let Some(dir) = &c.artifacts {
                o.push_str("<div class=\"cell-links\">");
                if let Some(h) = run_link(out, c, None) {
                    let _ = write!(o, "<a href=\"{}\">report</a>", escape(&h));
                }
                for (label, file) in [("ladder", "ladder.svg"), ("pcapng", "capture.pcapng")] {
                    let f = dir.join(file);
                    if out.is_none() || f.exists() {
                        let _ = write!(o, "<a href=\"{}\">{label}</a>", escape(&href(out, &f)));
                    }
                }
                o.push_str("</div>");
            }
            if c.status != Status::Pass && !c.detail.is_empty() {
                let text = if c.failures.is_empty() {
                    c.detail.clone()
                } else {
                    c.failures.join("\n")
                };
                let _ = write!(
                    o,
                    "<details><summary><small>{}</small></summary><pre>{}</pre></details>",
                    escape(&first_line(&c.detail, 80)),
                    escape(&text)
                );
            }
            o.push_str("</td>");
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n");
}

/// The first `n` characters of a text's first line.
fn first_line(s: &str, n: usize) -> String {
    let l = s.lines().next().unwrap_or_default();
    if l.chars().count() <= n {
        l.to_string()
    } else {
        format!("{}…", l.chars().take(n).collect::<String>())
    }
}

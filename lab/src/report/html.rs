//! The HTML report of a run (`index.html` in the output directory): one self-contained page with
//! every scenario run's verdict, why it failed, its ladder diagram (drawn from the run's
//! `ladder.json`), its rule results linked to the frame each failure is about, the golden
//! difference side by side with the changed words marked, and links to the pcapng, the per-segment
//! pcaps, the traces and every role's logs. A failing run can be understood from the page alone:
//! each frame's whole trace line, and the end of every role's output, are on it.

use crate::report::artifacts;
use crate::report::ladder::{self, escape, frame_id, slug};
use crate::report::{RuleResult, ScenarioResult, Verdict};
use similar::{ChangeTag, DiffTag, TextDiff};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Lines of context around each golden difference.
const CONTEXT: usize = 3;
/// Lines of each role log shown on the page for a failed run.
const LOG_TAIL: usize = 40;

/// What the page says about the run as a whole.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The page title.
    pub title: String,
    /// Scenario name -> its `about` line.
    pub about: BTreeMap<String, String>,
}

/// Writes `index.html` into `out` (where the runs' artifact directories are) and returns its path.
pub fn write(out: &Path, results: &[ScenarioResult], page: &Page) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let path = out.join("index.html");
    std::fs::write(&path, render(out, results, page))?;
    Ok(path)
}

/// The page of a single run, `report.html` in its artifact directory (the runner writes it for
/// every run, so each matrix cell has one too).
pub const RUN_PAGE: &str = "report.html";

/// Writes a run's own page into its artifact directory.
pub fn write_run(r: &ScenarioResult, about: &str) -> std::io::Result<PathBuf> {
    let page = Page {
        title: format!("bootlab: {} [{}]", r.scenario, r.implementation),
        about: [(r.scenario.clone(), about.to_string())]
            .into_iter()
            .collect(),
    };
    let path = r.artifacts.join(RUN_PAGE);
    std::fs::write(&path, render(&r.artifacts, std::slice::from_ref(r), &page))?;
    Ok(path)
}

/// A stable element id for one run: `run-SCENARIO[-IMPLEMENTATION][-REPETITION]`.
pub fn run_anchor(scenario: &str, implementation: &str, repetition: u32) -> String {
    let mut id = format!("run-{}", slug(scenario));
    if implementation != "ours" {
        let _ = write!(id, "-{}", slug(implementation));
    }
    if repetition > 1 {
        let _ = write!(id, "-{repetition}");
    }
    id
}

/// The element id of a rule's row in a run's section.
pub fn rule_anchor(run: &str, rule: &str) -> String {
    format!("{run}-rule-{}", slug(rule))
}

fn run_id(r: &ScenarioResult) -> String {
    run_anchor(&r.scenario, &r.implementation, r.repetition)
}

/// The CSS class of a verdict.
fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Changed => "changed",
        Verdict::Differs => "differs",
        Verdict::Error | Verdict::Interrupted => "error",
        Verdict::NotApplicable => "na",
        Verdict::NotInstalled | Verdict::NeedsRoot | Verdict::Skipped => "skip",
    }
}

/// A path relative to the page, as a URL (each component percent-encoded where needed).
fn href(out: &Path, p: &Path) -> String {
    let rel = p.strip_prefix(out).unwrap_or(p);
    rel.components()
        .map(|c| {
            c.as_os_str()
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
                    | b'='
                    | b'@'
                    | b',' => (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

const STYLE: &str = r#"
body{font-family:system-ui,sans-serif;margin:1em 2em;color:#111}
h1{margin-bottom:.2em}h2{margin:0}section.run{border:1px solid #ccc;border-radius:6px;padding:.8em 1em;margin:1.2em 0}
section.run.fail,section.run.error{border-color:#d00000;border-width:2px}
.verdict{display:inline-block;padding:.1em .6em;border-radius:4px;font-weight:bold;margin-right:.5em;font-size:90%}
.verdict.pass{background:#cfc}.verdict.fail,.verdict.error{background:#d00000;color:#fff}.verdict.changed{background:#c55a00;color:#fff}.verdict.differs{background:#ffd966}.verdict.na,.verdict.skip{background:#eee}
section.run.changed{border-color:#c55a00;border-width:2px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%;vertical-align:top;text-align:left}
table.summary td:first-child{white-space:nowrap}
tr.fail td{background:#fee}tr.unexpected td{background:#fcc;font-weight:bold}
.why li{margin:.2em 0}.why{color:#900}
pre,code,.mono{font-family:"DejaVu Sans Mono",monospace;font-size:85%}
.ladder-box{overflow-x:auto;border:1px solid #eee;margin:.5em 0}
g.frame:target line{stroke-width:5}g.frame:target text{text-decoration:underline}
tr:target td{outline:2px solid #f80}
table.diff{width:100%;table-layout:fixed}table.diff td{font-family:"DejaVu Sans Mono",monospace;font-size:80%;white-space:pre-wrap;word-break:break-all}
table.diff td.n{width:3em;color:#888;text-align:right}table.diff td.del{background:#fee}table.diff td.ins{background:#efe}
table.diff del{background:#f99;text-decoration:none}table.diff ins{background:#9e9;text-decoration:none}table.diff tr.skip td{background:#f4f4f4;color:#888;text-align:center}
.links a{margin-right:.8em;display:inline-block}.about{color:#444;margin:.3em 0}
details{margin:.4em 0}summary{cursor:pointer;font-weight:bold}
#filters{margin:.5em 0;padding:.4em;background:#f6f6f6;border-radius:4px}
.hidden{display:none}
"#;

const SCRIPT: &str = r#"
(function(){
  var only=document.getElementById('only-failed');
  var text=document.getElementById('filter-text');
  function apply(){
    var q=(text.value||'').toLowerCase();
    document.querySelectorAll('[data-run]').forEach(function(el){
      var failed=el.getAttribute('data-failed')==='true';
      var hit=!q||el.getAttribute('data-run').toLowerCase().indexOf(q)>=0;
      el.classList.toggle('hidden',(only.checked&&!failed)||!hit);
    });
  }
  var params=new URLSearchParams(location.search);
  if(params.get('only')==='failed'){only.checked=true;}
  if(params.get('q')){text.value=params.get('q');}
  only.addEventListener('change',apply);
  text.addEventListener('input',apply);
  apply();
})();
"#;

/// The whole page.
pub fn render(out: &Path, results: &[ScenarioResult], page: &Page) -> String {
    let mut o = String::new();
    let title = if page.title.is_empty() {
        "bootlab run"
    } else {
        page.title.as_str()
    };
    let _ = writeln!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
    let mut counts: Vec<(Verdict, usize)> = Vec::new();
    for r in results {
        match counts.iter_mut().find(|(v, _)| *v == r.verdict) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.verdict, 1)),
        }
    }
    let failed = results.iter().filter(|r| r.verdict.is_failure()).count();
    let _ = writeln!(
        o,
        "<h1>{}</h1>\n<p id=\"counts\"><b>{failed} of {} runs failed</b>: {}</p>",
        escape(title),
        results.len(),
        counts
            .iter()
            .map(|(v, n)| format!(
                "<span class=\"verdict {}\">{n} {}</span>",
                verdict_class(*v),
                escape(v.word())
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    o.push_str("<div id=\"filters\"><label><input type=\"checkbox\" id=\"only-failed\"> only failed runs</label> &nbsp; <label>scenario: <input type=\"search\" id=\"filter-text\" placeholder=\"name or implementation\"></label></div>\n");
    // Summary table: one row per run.
    o.push_str("<table class=\"summary\" id=\"summary\"><tr><th>scenario</th><th>implementation</th><th>verdict</th><th>time</th><th>first reason</th></tr>\n");
    for r in results {
        let id = run_id(r);
        let _ = writeln!(
            o,
            "<tr data-run=\"{}\" data-failed=\"{}\" class=\"{}\"><td><a href=\"#{id}\">{}</a></td><td>{}</td><td><span class=\"verdict {}\">{}</span></td><td>{:.1} s</td><td>{}</td></tr>",
            escape(&format!("{} {}", r.scenario, r.implementation)),
            r.verdict.is_failure(),
            if r.verdict.is_failure() { "fail" } else { "" },
            escape(&r.scenario),
            escape(&r.implementation),
            verdict_class(r.verdict),
            escape(r.verdict.word()),
            r.duration.as_secs_f64(),
            escape(r.failures.first().and_then(|f| f.lines().next()).unwrap_or(""))
        );
    }
    o.push_str("</table>\n");
    for r in results {
        run_section(&mut o, out, r, page);
    }
    let _ = writeln!(o, "<script>{SCRIPT}</script>\n</body></html>");
    o
}

/// One run's section.
fn run_section(o: &mut String, out: &Path, r: &ScenarioResult, page: &Page) {
    let id = run_id(r);
    let prefix = format!("{id}-");
    let _ = writeln!(
        o,
        "<section class=\"run {}\" id=\"{id}\" data-run=\"{}\" data-failed=\"{}\" data-verdict=\"{}\">",
        verdict_class(r.verdict),
        escape(&format!("{} {}", r.scenario, r.implementation)),
        r.verdict.is_failure(),
        escape(r.verdict.word())
    );
    let rep = if r.repetition > 1 {
        format!(" #{}", r.repetition)
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "<h2><span class=\"verdict {}\">{}</span>{}{} <small>[{}] {:.1} s</small></h2>",
        verdict_class(r.verdict),
        escape(r.verdict.word()),
        escape(&r.scenario),
        escape(&rep),
        escape(&r.implementation),
        r.duration.as_secs_f64()
    );
    if let Some(a) = page.about.get(&r.scenario) {
        let _ = writeln!(o, "<p class=\"about\">{}</p>", escape(a));
    }
    links(o, out, &r.artifacts);
    let golden_differs = r.failures.iter().any(|f| f.starts_with("trace differs"));
    if !r.failures.is_empty() {
        o.push_str("<ul class=\"why\">\n");
        for f in &r.failures {
            // The golden diff is shown side by side below; here only its first line.
            let text = if f.starts_with("trace differs") {
                f.lines().next().unwrap_or_default().to_string()
            } else {
                f.clone()
            };
            let linked = link_frame_mentions(&escape(&text), &prefix);
            let _ = writeln!(o, "<li>{linked}</li>");
        }
        o.push_str("</ul>\n");
    }
    let ladder = artifacts::read_ladder(&r.artifacts);
    match &ladder {
        Some(l) => {
            let _ = writeln!(
                o,
                "<h3>Ladder</h3><div class=\"ladder-box\">{}</div>",
                ladder::svg(l, &prefix)
            );
        }
        None => o.push_str(
            "<p><i>No ladder: the run captured nothing (it ended before capture).</i></p>\n",
        ),
    }
    rules_table(o, r, &prefix);
    if golden_differs {
        golden_diff(o, &r.artifacts, &prefix);
    }
    if let Some(l) = &ladder {
        frame_list(o, l, &prefix, r.verdict.is_failure());
    }
    if r.verdict.is_failure() {
        log_tails(o, out, &r.artifacts);
    }
    o.push_str("</section>\n");
}

/// Turns `SEGMENT frame N` in a (escaped) text into a link to that frame's arrow.
fn link_frame_mentions(text: &str, prefix: &str) -> String {
    let Ok(re) = regex::Regex::new(r"\b([A-Za-z0-9_-]+) frame (\d+)\b") else {
        return text.to_string();
    };
    re.replace_all(text, |c: &regex::Captures<'_>| {
        let n: usize = c[2].parse().unwrap_or(0);
        if n == 0 {
            return c[0].to_string();
        }
        format!(
            "<a href=\"#{}\">{} frame {}</a>",
            escape(&frame_id(prefix, &c[1], n)),
            &c[1],
            n
        )
    })
    .into_owned()
}

/// Links to the run's files: pcapng, pcaps, ladder, traces, rules, result.
fn links(o: &mut String, out: &Path, dir: &Path) {
    let mut files: Vec<PathBuf> = Vec::new();
    for name in [
        artifacts::PCAPNG,
        artifacts::LADDER_SVG,
        artifacts::LADDER_MERMAID,
        artifacts::TRACE,
        "trace-annotated.txt",
        artifacts::GOLDEN,
        "rules.txt",
        "result.json",
    ] {
        let p = dir.join(name);
        if p.exists() {
            files.push(p);
        }
    }
    let mut pcaps: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
                .collect()
        })
        .unwrap_or_default();
    pcaps.sort();
    o.push_str("<p class=\"links\">");
    for p in files
        .iter()
        .take(1)
        .chain(pcaps.iter())
        .chain(files.iter().skip(1))
    {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = write!(o, "<a href=\"{}\">{}</a>", href(out, p), escape(&name));
    }
    for (label, p) in logs(dir) {
        let _ = write!(
            o,
            "<a class=\"log\" href=\"{}\">{}</a>",
            href(out, &p),
            escape(&label)
        );
    }
    o.push_str("</p>\n");
}

/// Role logs: `HOST/ROLE.stdout` and `.stderr`, labelled `HOST/ROLE.stderr`.
fn logs(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(hosts) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut hosts: Vec<PathBuf> = hosts
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "files"))
        .collect();
    hosts.sort();
    for h in hosts {
        let Ok(entries) = std::fs::read_dir(&h) else {
            continue;
        };
        let mut logs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "stdout" || x == "stderr")
            })
            .collect();
        logs.sort();
        for l in logs {
            let host = h
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let file = l
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((format!("{host}/{file}"), l));
        }
    }
    out
}

/// The rule results: every failed rule or unmet expectation in a table, the rest folded.
fn rules_table(o: &mut String, r: &ScenarioResult, prefix: &str) {
    if r.rules.is_empty() {
        return;
    }
    // What fails the run (as the runner judges): a violation the scenario does not expect, or
    // an expectation that did not hold.
    let unmet = |x: &RuleResult| match x.expected.as_deref() {
        Some("pass") => x.outcome != "pass",
        Some(_) => x.outcome != "fail",
        None => x.outcome == "fail",
    };
    let shown: Vec<&RuleResult> = r
        .rules
        .iter()
        .filter(|x| x.outcome == "fail" || unmet(x))
        .collect();
    let passed = r.rules.iter().filter(|x| x.outcome == "pass").count();
    let na = r.rules.iter().filter(|x| x.outcome == "n/a").count();
    let _ = writeln!(
        o,
        "<h3>Rules</h3><p>{} failed, {passed} passed, {na} not applicable. Rows in bold fail the run: a violation the scenario does not expect, or an expectation that did not hold; a failure the scenario expects (a reproduction) is not bold.</p>",
        r.rules.iter().filter(|x| x.outcome == "fail").count()
    );
    if !shown.is_empty() {
        o.push_str("<table class=\"rules\"><tr><th>rule</th><th>outcome</th><th>expected</th><th>at</th><th>what was seen</th></tr>\n");
        for x in shown {
            let class = if unmet(x) { "unexpected" } else { "fail" };
            let at = match (&x.segment, x.frame) {
                (Some(s), Some(n)) => format!(
                    "<a href=\"#{}\">{} frame {n}</a>",
                    escape(&frame_id(prefix, s, n)),
                    escape(s)
                ),
                (Some(_), None) => "never seen".into(),
                _ => String::new(),
            };
            let what = x
                .detail
                .as_deref()
                .map(|d| d.split_once(": ").map(|(_, m)| m).unwrap_or(d))
                .unwrap_or("");
            let _ = writeln!(
                o,
                "<tr class=\"{class}\" id=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{at}</td><td>{}</td></tr>",
                escape(&rule_anchor(prefix.trim_end_matches('-'), &x.id)),
                escape(&x.id),
                escape(&x.outcome),
                escape(x.expected.as_deref().unwrap_or("")),
                escape(what)
            );
        }
        o.push_str("</table>\n");
    }
    let _ = writeln!(
        o,
        "<details><summary>all {} rule results</summary><p class=\"mono\">{}</p></details>",
        r.rules.len(),
        r.rules
            .iter()
            .map(|x| format!("{} {}", escape(&x.id), escape(&x.outcome)))
            .collect::<Vec<_>>()
            .join(" · ")
    );
}

/// The golden trace and this run's, side by side, changed words marked.
fn golden_diff(o: &mut String, dir: &Path, prefix: &str) {
    let (Ok(golden), Ok(actual)) = (
        std::fs::read_to_string(dir.join(artifacts::GOLDEN)),
        std::fs::read_to_string(dir.join(artifacts::TRACE)),
    ) else {
        return;
    };
    // `trace-annotated.txt` has the same lines as `trace.txt`, each led by `SEGMENT #N`.
    let annotated = std::fs::read_to_string(dir.join("trace-annotated.txt")).unwrap_or_default();
    let links: Vec<Option<(String, String)>> = annotated
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace();
            let seg = w.next()?;
            let n: usize = w.next()?.strip_prefix('#')?.parse().ok()?;
            Some((
                format!("#{}", frame_id(prefix, seg, n)),
                format!("{seg} frame {n}"),
            ))
        })
        .collect();
    o.push_str("<h3>Golden difference</h3>\n");
    let diff = TextDiff::from_lines(golden.as_str(), actual.as_str());
    let first = diff.ops().iter().find(|op| op.tag() != DiffTag::Equal);
    if let Some(op) = first {
        let j = op.new_range().start;
        match links.get(j).cloned().flatten() {
            Some((href, label)) if !op.new_range().is_empty() => {
                let _ = writeln!(
                    o,
                    "<p>First difference: line {} of this run's trace, frame <a href=\"{}\">{}</a> on the ladder.</p>",
                    j + 1,
                    escape(&href),
                    escape(&label)
                );
            }
            _ => {
                let _ = writeln!(
                    o,
                    "<p>First difference: golden line {} is missing from this run's trace (after its line {j}).</p>",
                    op.old_range().start + 1
                );
            }
        }
    }
    o.push_str(&side_by_side(&golden, &actual, &links));
}

/// A side-by-side diff table of two texts: golden on the left, actual on the right, three lines of
/// context around each change, changed words in `<del>`/`<ins>`.
/// `links[j]`, when present, links line `j` of `actual` to its frame.
pub fn side_by_side(golden: &str, actual: &str, links: &[Option<(String, String)>]) -> String {
    let diff = TextDiff::from_lines(golden, actual);
    let old: Vec<&str> = diff.old_slices().to_vec();
    let new: Vec<&str> = diff.new_slices().to_vec();
    let mut o = String::from(
        "<table class=\"diff\"><colgroup><col style=\"width:3em\"><col><col style=\"width:3em\"><col></colgroup><tr><th></th><th>golden</th><th></th><th>this run</th></tr>\n",
    );
    let groups = diff.grouped_ops(CONTEXT);
    for (gi, group) in groups.iter().enumerate() {
        if gi > 0 {
            o.push_str("<tr class=\"skip\"><td colspan=\"4\">⋯</td></tr>\n");
        }
        for op in group {
            let (tag, or, nr) = op.as_tag_tuple();
            match tag {
                DiffTag::Equal => {
                    for (i, j) in or.clone().zip(nr.clone()) {
                        row(
                            &mut o,
                            Some((i, esc_line(old[i]))),
                            Some((j, esc_line(new[j]))),
                            "",
                            "",
                            links,
                        );
                    }
                }
                DiffTag::Delete => {
                    for i in or.clone() {
                        row(&mut o, Some((i, esc_line(old[i]))), None, "del", "", links);
                    }
                }
                DiffTag::Insert => {
                    for j in nr.clone() {
                        row(&mut o, None, Some((j, esc_line(new[j]))), "", "ins", links);
                    }
                }
                DiffTag::Replace => {
                    for pair in align(&old, or.clone(), &new, nr.clone()) {
                        match pair {
                            (Some(i), Some(j)) => {
                                let (a, b) = words(old[i], new[j]);
                                row(&mut o, Some((i, a)), Some((j, b)), "del", "ins", links);
                            }
                            (Some(i), None) => {
                                row(&mut o, Some((i, esc_line(old[i]))), None, "del", "", links)
                            }
                            (None, Some(j)) => {
                                row(&mut o, None, Some((j, esc_line(new[j]))), "", "ins", links)
                            }
                            (None, None) => {}
                        }
                    }
                }
            }
        }
    }
    o.push_str("</table>\n");
    o
}

/// Lines of a replaced block paired for display: a golden line faces the most similar of the next
/// few actual lines between the same hosts, if at least half the same; the others stand alone.
fn align(
    old: &[&str],
    or: std::ops::Range<usize>,
    new: &[&str],
    nr: std::ops::Range<usize>,
) -> Vec<(Option<usize>, Option<usize>)> {
    const LOOKAHEAD: usize = 4;
    let mut out = Vec::new();
    let mut j = nr.start;
    for i in or {
        let hit = (j..nr.end.min(j + LOOKAHEAD))
            .filter(|&k| same_ends(old[i], new[k]))
            .map(|k| (k, TextDiff::from_words(old[i], new[k]).ratio()))
            .filter(|(_, r)| *r >= 0.5)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(k, _)| k);
        match hit {
            Some(k) => {
                out.extend((j..k).map(|x| (None, Some(x))));
                out.push((Some(i), Some(k)));
                j = k + 1;
            }
            None => out.push((Some(i), None)),
        }
    }
    out.extend((j..nr.end).map(|x| (None, Some(x))));
    out
}

/// Whether two trace lines are about the same segment, sender and receiver (their first four
/// words: `SEGMENT FROM > TO`), so facing them shows a change of fields, not of message.
fn same_ends(a: &str, b: &str) -> bool {
    let ends = |l: &str| -> Option<Vec<String>> {
        let w: Vec<String> = l.split_whitespace().take(4).map(str::to_string).collect();
        (w.len() == 4 && w[2] == ">").then_some(w)
    };
    match (ends(a), ends(b)) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

fn esc_line(s: &str) -> String {
    escape(s.trim_end_matches('\n'))
}

fn row(
    o: &mut String,
    l: Option<(usize, String)>,
    r: Option<(usize, String)>,
    lc: &str,
    rc: &str,
    links: &[Option<(String, String)>],
) {
    o.push_str("<tr>");
    match l {
        Some((n, t)) => {
            let _ = write!(
                o,
                "<td class=\"n\">{}</td><td class=\"{lc}\">{t}</td>",
                n + 1
            );
        }
        None => o.push_str("<td class=\"n\"></td><td></td>"),
    }
    match r {
        Some((n, t)) => {
            let num = match links.get(n).cloned().flatten() {
                Some((href, label)) => format!(
                    "<a href=\"{}\" title=\"{}\">{}</a>",
                    escape(&href),
                    escape(&label),
                    n + 1
                ),
                None => (n + 1).to_string(),
            };
            let _ = write!(o, "<td class=\"n\">{num}</td><td class=\"{rc}\">{t}</td>");
        }
        None => o.push_str("<td class=\"n\"></td><td></td>"),
    }
    o.push_str("</tr>\n");
}

/// Two changed lines with the words that differ wrapped in `<del>` (left) and `<ins>` (right).
fn words(old: &str, new: &str) -> (String, String) {
    let d = TextDiff::from_words(old.trim_end_matches('\n'), new.trim_end_matches('\n'));
    let (mut a, mut b) = (String::new(), String::new());
    for c in d.iter_all_changes() {
        let v = escape(c.value());
        match c.tag() {
            ChangeTag::Equal => {
                a.push_str(&v);
                b.push_str(&v);
            }
            ChangeTag::Delete => {
                let _ = write!(a, "<del>{v}</del>");
            }
            ChangeTag::Insert => {
                let _ = write!(b, "<ins>{v}</ins>");
            }
        }
    }
    (a, b)
}

/// Every drawn frame's whole trace line, each linked to its arrow (open for failed runs).
fn frame_list(o: &mut String, l: &ladder::Ladder, prefix: &str, open: bool) {
    let _ = writeln!(
        o,
        "<details{}><summary>frames ({})</summary><table class=\"frames\"><tr><th>time</th><th>segment #</th><th>pcapng #</th><th>trace line</th><th>rule failures</th></tr>",
        if open { " open" } else { "" },
        l.arrows.len()
    );
    for a in &l.arrows {
        if a.elided_before > 0 {
            let _ = writeln!(
                o,
                "<tr><td colspan=\"5\"><i>… {} frames not listed: they are in capture.pcapng and trace-annotated.txt …</i></td></tr>",
                a.elided_before
            );
        }
        let fails: Vec<String> = a
            .failures
            .iter()
            .map(|m| format!("<b>{}</b>: {}", escape(&m.rule), escape(&m.message)))
            .collect();
        let _ = writeln!(
            o,
            "<tr class=\"{}\"><td>{:.3}</td><td><a href=\"#{}\">{} #{}</a></td><td>{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
            if fails.is_empty() { "" } else { "fail" },
            a.time,
            escape(&frame_id(prefix, &a.segment, a.frame)),
            escape(&a.segment),
            a.frame,
            a.pcapng_frame.map(|n| n.to_string()).unwrap_or_default(),
            escape(&a.line),
            fails.join("<br>")
        );
    }
    o.push_str("</table></details>\n");
}

/// The last lines of every role's stdout and stderr.
fn log_tails(o: &mut String, out: &Path, dir: &Path) {
    let logs = logs(dir);
    if logs.is_empty() {
        return;
    }
    o.push_str("<h3>Role output</h3>\n");
    for (label, p) in logs {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        if text.trim().is_empty() {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(LOG_TAIL);
        let _ = writeln!(
            o,
            "<details><summary>{} ({} lines{})</summary><pre>{}</pre><a href=\"{}\">whole file</a></details>",
            escape(&label),
            lines.len(),
            if from > 0 { format!(", last {LOG_TAIL} shown") } else { String::new() },
            escape(&lines[from..].join("\n")),
            href(out, &p)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn side_by_side_marks_changed_words() {
        let t = side_by_side("a 1\nb secs=0 x\nc\n", "a 1\nb secs=4 x\nc\n", &[]);
        assert!(t.contains("<del>secs=0</del>"), "{t}");
        assert!(t.contains("<ins>secs=4</ins>"), "{t}");
        assert!(t.contains("<td class=\"n\">2</td>"), "{t}");
    }

    #[test]
    fn replaced_lines_face_their_likeness() {
        let p = align(
            &[
                "lan client > *  BOOTREQUEST DHCPDISCOVER xid#1 secs=0 chaddr=client",
                "lan server > client  BOOTREPLY DHCPOFFER xid#1 yiaddr=192.0.2.100",
            ],
            0..2,
            &[
                "lan server > client  BOOTREPLY DHCPOFFER xid#1 secs=0 chaddr=client",
                "lan server > client  BOOTREPLY DHCPOFFER xid#1 yiaddr=192.0.2.101",
            ],
            0..2,
        );
        // The DISCOVER never faces an OFFER (another sender), however alike the words.
        assert_eq!(p, [(Some(0), None), (None, Some(0)), (Some(1), Some(1))]);
    }

    #[test]
    fn frame_mentions_become_links() {
        let s = link_frame_mentions("rule X: expected pass, got fail at lan frame 4: oops", "p-");
        assert!(s.contains("<a href=\"#p-f-lan-4\">lan frame 4</a>"), "{s}");
    }

    #[test]
    fn page_has_a_section_per_run_with_verdict_and_reason() {
        let r = ScenarioResult {
            scenario: "dhcp-dora".into(),
            implementation: "dhcp-server=kea".into(),
            repetition: 1,
            verdict: Verdict::Fail,
            duration: Duration::from_millis(1200),
            failures: vec!["step 2 failed: client did not report \"bound\" within 5s".into()],
            rules: vec![RuleResult {
                id: "FMT-SIZE-01".into(),
                outcome: "fail".into(),
                expected: Some("pass".into()),
                detail: Some("lan frame 2: reply of 262 octets".into()),
                segment: Some("lan".into()),
                frame: Some(2),
            }],
            artifacts: PathBuf::from("/nonexistent/dhcp-dora@kea"),
        };
        let h = render(Path::new("/nonexistent"), &[r], &Page::default());
        assert!(h.contains("id=\"run-dhcp-dora-dhcp-server_kea\""), "{h}");
        assert!(h.contains("data-verdict=\"FAIL\""), "{h}");
        assert!(h.contains("class=\"unexpected\""), "{h}");
        assert!(
            h.contains("href=\"#run-dhcp-dora-dhcp-server_kea-f-lan-2\""),
            "{h}"
        );
        assert!(h.contains("within 5s"), "{h}");
    }
}

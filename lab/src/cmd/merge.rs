//! `bootlab merge`: joins the results of shards (`bootlab run --shard K/N --json FILE`, and the
//! `matrix.json` of `bootlab matrix --shard K/N`) into one summary, JUnit file and JSON, and for
//! matrices one `matrix.md`/`matrix.html`/`matrix.json` (the matrix's own rendering). A run or a
//! cell found in two inputs is an error: shards never overlap. `--costs FILE` writes the cost
//! table `--shard` balances with (`scenarios/costs.tsv`) from the inputs' durations.

use crate::cmd::matrix::{Cell, Matrix, Status};
use crate::cmd::shard::{cell_key, Costs};
use crate::report::ScenarioResult;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Arguments of `bootlab merge`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Shard results: `--json` files of `bootlab run`, `matrix.json` files, or directories holding
    /// them (every `*.json` under them, recursively, except in one run's artifact directory, the
    /// one holding its `result.json`, and a matrix's `runs/`).
    #[arg(required = true, value_name = "DIR|FILE")]
    pub inputs: Vec<PathBuf>,
    /// Write the joined JUnit XML here (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the joined JSON here (`-`: standard output): the runs' results, as `bootlab run
    /// --json` writes them.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Where the joined matrix's `matrix.md`, `matrix.html` and `matrix.json` go (when the inputs
    /// hold matrix shards).
    #[arg(long, default_value = "out/merged", value_name = "DIR")]
    pub out: PathBuf,
    /// Write the cost table for `--shard` (seconds per scenario and per matrix cell) from the
    /// inputs, e.g. `scenarios/costs.tsv`.
    #[arg(long, value_name = "FILE")]
    pub costs: Option<PathBuf>,
}

/// What the inputs hold, joined.
#[derive(Debug, Default)]
pub struct Merged {
    /// Scenario runs, in input order.
    pub runs: Vec<ScenarioResult>,
    /// Matrix cells, in input order.
    pub cells: Vec<Cell>,
    /// The longest of the matrix shards' wall times.
    pub matrix_seconds: f64,
    /// Whether any matrix shard ran rootless.
    pub rootless: bool,
    /// Whether any input was a matrix.
    pub has_matrix: bool,
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            // A matrix's per-run artifact directories (`runs/` beside its `matrix.json`) hold
            // one `result.json` each: already in matrix.json.
            // One run's artifact directory (it holds its `result.json`, ladders...): its result
            // is in the run's `--json` file.
            let matrix_runs =
                p.file_name().is_some_and(|n| n == "runs") && dir.join("matrix.json").is_file();
            if !matrix_runs && !p.join("result.json").is_file() {
                json_files(&p, out)?;
            }
        } else if p.extension().is_some_and(|e| e == "json")
            && p.file_name().is_some_and(|n| n != "result.json")
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads and joins the inputs; a run or cell in two of them is an error.
pub fn merge(inputs: &[PathBuf]) -> anyhow::Result<Merged> {
    let mut files = Vec::new();
    for i in inputs {
        if i.is_dir() {
            json_files(i, &mut files)?;
        } else {
            files.push(i.clone());
        }
    }
    if files.is_empty() {
        anyhow::bail!(
            "no JSON results in {}",
            inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut m = Merged::default();
    let mut seen_runs = BTreeMap::new();
    let mut seen_cells = BTreeMap::new();
    for f in &files {
        let text =
            std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        if value.is_array() {
            let runs: Vec<ScenarioResult> = serde_json::from_value(value).map_err(|e| {
                anyhow::anyhow!("{}: not `bootlab run --json` output: {e}", f.display())
            })?;
            for r in runs {
                let key = (r.scenario.clone(), r.implementation.clone(), r.repetition);
                if let Some(first) = seen_runs.insert(key, f.clone()) {
                    anyhow::bail!(
                        "{} [{}] #{} is in both {} and {}: shards overlap",
                        r.scenario,
                        r.implementation,
                        r.repetition,
                        first.display(),
                        f.display()
                    );
                }
                m.runs.push(r);
            }
        } else {
            let shard: Matrix = serde_json::from_value(value).map_err(|e| {
                anyhow::anyhow!(
                    "{}: neither run results nor a matrix.json: {e}",
                    f.display()
                )
            })?;
            m.has_matrix = true;
            m.matrix_seconds = m.matrix_seconds.max(shard.seconds);
            m.rootless |= shard.rootless;
            for c in shard.cells {
                let key = cell_key(&c.scenario, c.kind, &c.profile);
                if let Some(first) = seen_cells.insert(key.clone(), f.clone()) {
                    anyhow::bail!(
                        "cell {key} is in both {} and {}: shards overlap",
                        first.display(),
                        f.display()
                    );
                }
                m.cells.push(c);
            }
        }
    }
    Ok(m)
}

/// The cost table of merged results: each scenario's longest run, each cell's seconds.
pub fn costs(m: &Merged) -> Costs {
    let mut c = BTreeMap::new();
    for r in &m.runs {
        let s = (r.duration.as_secs_f64() * 10.0).round() / 10.0;
        let e = c.entry(r.scenario.clone()).or_insert(0.0f64);
        *e = e.max(s);
    }
    for cell in &m.cells {
        let key = cell_key(&cell.scenario, cell.kind, &cell.profile);
        c.insert(key, cell.seconds);
    }
    Costs(c)
}

/// Runs `bootlab merge`: exit status 1 when a joined run or cell failed.
pub fn run(a: Args) -> anyhow::Result<()> {
    let m = merge(&a.inputs)?;
    let to_stdout = crate::cmd::output::any_stdout([a.json.as_ref(), a.junit.as_ref()]);
    let mut failed = m.runs.iter().any(|r| r.verdict.is_failure());
    if !m.runs.is_empty() {
        let summary = crate::report::summary(&m.runs);
        if to_stdout {
            eprint!("{summary}");
        } else {
            print!("{summary}");
        }
    }
    if let Some(p) = &a.junit {
        crate::cmd::output::write(p, &crate::report::junit(&m.runs))?;
    }
    if let Some(p) = &a.json {
        crate::cmd::output::write(p, &crate::report::json(&m.runs))?;
    }
    if let Some(p) = &a.costs {
        crate::cmd::output::write(p, &costs(&m).render())?;
    }
    if m.has_matrix {
        let mut cells = m.cells;
        cells.sort_by(|x, y| {
            (x.kind, &x.profile, &x.scenario).cmp(&(y.kind, &y.profile, &y.scenario))
        });
        let kinds: BTreeSet<_> = cells.iter().map(|c| c.kind).collect();
        failed |= cells
            .iter()
            .any(|c| matches!(c.status, Status::Fail | Status::Error));
        let findings = crate::cmd::matrix::findings(&cells);
        let matrix = Matrix {
            cells,
            seconds: m.matrix_seconds,
            rootless: m.rootless,
            findings,
        };
        let out = &a.out;
        std::fs::create_dir_all(out)?;
        let md = crate::cmd::matrix::markdown(&matrix);
        std::fs::write(out.join("matrix.md"), &md)?;
        std::fs::write(
            out.join("matrix.html"),
            crate::cmd::matrix_page::render(&matrix, Some(out)),
        )?;
        std::fs::write(
            out.join("matrix.json"),
            serde_json::to_string_pretty(&matrix)?,
        )?;
        if to_stdout {
            eprint!("{md}");
        } else {
            print!("{md}");
        }
        eprintln!(
            "bootlab merge: {} cells of {} role kinds into {}",
            matrix.cells.len(),
            kinds.len(),
            out.display()
        );
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

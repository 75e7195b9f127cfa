//! `bootlab run`: scenarios on our implementations (or the ones named with `--impl`), a few at a
//! time, each in its own world; a summary, and JSON and JUnit for CI.

use crate::cmd::shard::{self, Costs, Shard};
use crate::exec::batch::{self, Job};
use crate::exec::runner::Options;
use crate::plan::dirs::{self, Data};
use crate::plan::role_kind::RoleKind;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// How many at once / how many times: a count of at least 1 (clap refuses 0 with exit status 2).
pub fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Arguments of `bootlab run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Scenario names, files or directories (default: every scenario in the scenarios directory).
    pub scenarios: Vec<String>,
    /// Use an implementation for a role kind, e.g. `--impl dhcp-server=dnsmasq` (default: ours).
    #[arg(long = "impl", value_name = "KIND=IMPL")]
    pub impls: Vec<String>,
    /// Scenarios run at once, each in its own world (at least 1; default twice the CPUs: a
    /// scenario mostly waits on protocol timers).
    #[arg(long, short = 'j', default_value_t = default_jobs(), value_parser = positive)]
    pub jobs: usize,
    /// Run each scenario N times (at least 1; their traces must all match the golden file).
    #[arg(long, default_value_t = 1, value_parser = positive)]
    pub repeat: usize,
    /// Run only shard K of N (1-based), split by the recorded costs in `costs.tsv`; `bootlab
    /// merge` joins the shards' `--json` outputs.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Run nothing: print the runs this invocation would do (with `--shard`, this shard's), one
    /// `NAME#REPETITION` per line.
    #[arg(long)]
    pub dry_run: bool,
    /// Where pcaps, logs and traces go.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Write JUnit XML here (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a JSON summary here (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Rewrite the golden files from this run instead of comparing.
    #[arg(long)]
    pub accept: bool,
    /// The scenarios directory (default: found from the working directory, see `plan::dirs`).
    #[arg(long, value_name = "DIR")]
    pub scenario_dir: Option<PathBuf>,
    /// The golden directory (default: found as the scenarios directory is).
    #[arg(long, value_name = "DIR")]
    pub golden_dir: Option<PathBuf>,
}

/// Runs `bootlab run`; exits 1 when a scenario failed, 130 when interrupted.
pub fn run(a: Args) -> anyhow::Result<()> {
    let scenario_dir = dirs::find(Data::Scenarios, a.scenario_dir.as_deref())?;
    let golden_dir = dirs::find(Data::Golden, a.golden_dir.as_deref())?;
    let files = crate::cmd::select::files(&a.scenarios, &scenario_dir)?;
    let scenarios = crate::cmd::select::load(&files)?;
    let about = scenarios
        .iter()
        .map(|s| (s.name.clone(), s.about.clone()))
        .collect();
    let mut impls = BTreeMap::new();
    for i in &a.impls {
        let (k, v) = i
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--impl {i}: expected KIND=IMPL"))?;
        let kind: RoleKind = k.parse().map_err(|e| anyhow::anyhow!("--impl {i}: {e}"))?;
        impls.insert(kind, v.to_string());
    }
    let cwd = std::env::current_dir()?;
    let abs = |p: PathBuf| if p.is_absolute() { p } else { cwd.join(p) };
    let opts = Options {
        out: abs(a.out.clone()),
        golden: abs(golden_dir),
        accept: a.accept,
        impls,
        exe: std::env::current_exe()?,
        rootless: !crate::world::isolate::is_root(),
        interrupt: Default::default(),
    };
    let mut jobs: Vec<Job> = scenarios
        .into_iter()
        .map(Arc::new)
        .flat_map(|sc| {
            let opts = opts.clone();
            (1..=a.repeat).map(move |repetition| Job {
                scenario: sc.clone(),
                options: opts.clone(),
                repetition: u32::try_from(repetition).unwrap_or(u32::MAX),
                tag: String::new(),
            })
        })
        .collect();
    if let Some(s) = a.shard {
        let costs = Costs::load(&scenario_dir.join(shard::COSTS_FILE))?;
        jobs = shard::pick(jobs, s, |j| {
            let name = &j.scenario.name;
            (format!("{name}#{}", j.repetition), costs.of(name))
        });
        eprintln!("bootlab run: shard {s}: {} runs", jobs.len());
    }
    if a.dry_run {
        let lines: String = jobs
            .iter()
            .map(|j| format!("{}#{}\n", j.scenario.name, j.repetition))
            .collect();
        return crate::cmd::output::print(&lines);
    }
    let to_stdout = crate::cmd::output::any_stdout([a.json.as_ref(), a.junit.as_ref()]);
    // Everything from here on happens in the lab's private world (user, network, mount, PID
    // namespaces).
    let outcome = batch::run(jobs, a.jobs)?;
    let results: Vec<_> = outcome.results.into_iter().flatten().collect();
    let summary = crate::report::summary(&results);
    let page = crate::report::html::Page {
        title: "bootlab run".into(),
        about,
    };
    let report = match crate::report::html::write(&opts.out, &results, &page) {
        Ok(p) => format!("report: {}\n", p.display()),
        Err(e) => format!("bootlab: the HTML report could not be written: {e}\n"),
    };
    if to_stdout {
        eprint!("{summary}{report}");
    } else {
        print!("{summary}{report}");
    }
    if let Some(p) = &a.junit {
        crate::cmd::output::write(p, &crate::report::junit(&results))?;
    }
    if let Some(p) = &a.json {
        crate::cmd::output::write(p, &crate::report::json(&results))?;
    }
    if outcome.interrupted {
        std::process::exit(130);
    }
    if results.iter().any(|r| r.verdict.is_failure()) {
        std::process::exit(1);
    }
    Ok(())
}

/// The default of `--jobs`: twice the CPUs this process may use, at least 2. A run is mostly
/// waiting (protocol timers, scaled or not), so two worlds per CPU keep the cores busy without
/// changing what any scenario sends (the determinism-under-load test runs beside a spinning
/// thread per core).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

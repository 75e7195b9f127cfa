//! `bootlab`: the one user-facing command. Lab subcommands isolate themselves first (see
//! `lab::isolate`); daemon subcommands run our implementations as an administrator would.

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// A network-boot conformance lab.
#[derive(Debug, Parser)]
#[command(name = "bootlab", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run our BOOTP/DHCP server daemon.
    Server(bootlab_server::Args),
    /// Run our BOOTP/DHCP relay agent daemon.
    Relay(bootlab_relay::Args),
    /// Run one of our clients (DHCP, BOOTP, boot ROM).
    Client(bootlab_client::Args),
    /// Run our TFTP server daemon.
    Tftpd(bootlab_tftp::ServerArgs),
    /// Run our TFTP client.
    Tftp(bootlab_tftp::ClientArgs),
    /// Run our RARP server daemon.
    Rarpd(bootlab_rarp::ServerArgs),
    /// Run our RARP client.
    RarpClient(bootlab_rarp::ClientArgs),
    /// Run a probe script: hand-built frames sent and replies checked (scenarios' `probe` role).
    Probe(bootlab_probe::Args),
    /// Run scenarios (all of `scenarios/` by default) on our implementations or the ones named.
    Run(RunArgs),
    /// Run every applicable scenario with every installed third-party implementation of some role
    /// kinds (default the servers): the interop matrix (markdown, HTML, JSON).
    Matrix(bootlab_lab::cmd::matrix::Args),
    /// Review pending golden changes (`golden/*.snap.new`): accept or reject each difference.
    Review(bootlab_lab::cmd::review::Args),
    /// List the scenarios: name, then what each proves.
    List(ListArgs),
    /// List the checklist's rules and which are checked.
    Rules,
    /// Decode a pcap/pcapng capture: one line per frame, or JSON with every field.
    Decode(bootlab_lab::cmd::decode::Args),
    /// Step into a scenario's world: build it, start its roles, and open a shell (or run a
    /// command) inside a host while every segment is captured; the world goes when it exits.
    Shell(bootlab_lab::cmd::shell::Args),
    /// Benchmarks inside the lab's namespaces: `server` (perfdhcp DORA/s against ours, the peers
    /// and a canned limit).
    Bench(bootlab_lab::bench::Args),
}

fn main() {
    let result = real_main();
    // Events and logs queued while a reader did not drain them get a last chance.
    bootlab_net::log::flush(std::time::Duration::from_secs(1));
    if let Err(e) = result {
        // Errors a user can act on (a scenario file:line, a config key): no backtrace.
        eprintln!("bootlab: {e:#}");
        std::process::exit(2);
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(a) => bootlab_server::run(a),
        Command::Relay(a) => bootlab_relay::run(a),
        Command::Client(a) => bootlab_client::run(a),
        Command::Tftpd(a) => bootlab_tftp::run_server(a),
        Command::Tftp(a) => bootlab_tftp::run_client(a),
        Command::Rarpd(a) => bootlab_rarp::run_server(a),
        Command::RarpClient(a) => bootlab_rarp::run_client(a),
        Command::Probe(a) => bootlab_probe::run(a),
        Command::Decode(a) => bootlab_lab::cmd::decode::run(a),
        Command::Run(a) => run(a),
        Command::Matrix(a) => bootlab_lab::cmd::matrix::run(a),
        Command::List(a) => list(a),
        Command::Review(a) => {
            let dir = a
                .golden_dir
                .clone()
                .unwrap_or_else(|| project_dir("golden"));
            bootlab_lab::cmd::review::run(a, dir)
        }
        Command::Shell(a) => std::process::exit(bootlab_lab::cmd::shell::run(a)?),
        Command::Rules => {
            // Which scenarios exercise each rule: those whose [expect.rules] enforce an outcome.
            let mut exercised: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            for sc in load_all(&[], &project_dir("scenarios"))? {
                for id in sc.expect.rules.keys() {
                    exercised
                        .entry(id.clone())
                        .or_default()
                        .push(sc.name.clone());
                }
            }
            print!("{}", bootlab_lab::judge::rules::listing(&exercised));
            Ok(())
        }
        Command::Bench(a) => {
            if a.needs_isolation() {
                bootlab_lab::world::isolate::enter()?;
            }
            bootlab_lab::bench::run(a)
        }
    }
}

/// Arguments of `bootlab run`.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Scenario names, files or directories (default: every scenario in `scenarios/`).
    scenarios: Vec<String>,
    /// Use an implementation for a role kind, e.g. `--impl dhcp-server=dnsmasq` (default: ours).
    #[arg(long = "impl", value_name = "KIND=IMPL")]
    impls: Vec<String>,
    /// Scenarios run at once, each in its own world.
    #[arg(long, short = 'j', default_value_t = 2)]
    jobs: usize,
    /// Run each scenario N times (their traces must all match the golden file).
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Where pcaps, logs and traces go.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Write JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write a JSON summary here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Rewrite the golden files from this run instead of comparing.
    #[arg(long)]
    accept: bool,
    /// The scenarios directory (default: `scenarios/` of the checkout).
    #[arg(long)]
    scenario_dir: Option<PathBuf>,
    /// The golden directory (default: `golden/` of the checkout).
    #[arg(long)]
    golden_dir: Option<PathBuf>,
}

/// Arguments of `bootlab list`.
#[derive(Debug, clap::Args)]
struct ListArgs {
    /// The scenarios directory (default: `scenarios/` of the checkout).
    #[arg(long)]
    scenario_dir: Option<PathBuf>,
}

/// `scenarios/`, `golden/`...: next to the working directory when there, else in the checkout.
fn project_dir(name: &str) -> PathBuf {
    let here = PathBuf::from(name);
    if here.is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

fn load_all(
    args: &[String],
    dir: &Path,
) -> anyhow::Result<Vec<bootlab_lab::plan::scenario::Scenario>> {
    let files = bootlab_lab::plan::scenario::resolve(args, dir)?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match bootlab_lab::exec::load(&f) {
            Ok(s) => out.push(s),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    Ok(out)
}

fn list(a: ListArgs) -> anyhow::Result<()> {
    let dir = a.scenario_dir.unwrap_or_else(|| project_dir("scenarios"));
    for s in load_all(&[], &dir)? {
        println!("{:<34} {}", s.name, s.about);
    }
    Ok(())
}

fn run(a: RunArgs) -> anyhow::Result<()> {
    use bootlab_lab::exec::batch::{self, Job};
    use bootlab_lab::exec::runner::Options;
    let scenario_dir = a
        .scenario_dir
        .clone()
        .unwrap_or_else(|| project_dir("scenarios"));
    let scenarios = load_all(&a.scenarios, &scenario_dir)?;
    let about = scenarios
        .iter()
        .map(|s| (s.name.clone(), s.about.clone()))
        .collect();
    let mut impls = std::collections::BTreeMap::new();
    for i in &a.impls {
        let (k, v) = i
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--impl {i}: expected KIND=IMPL"))?;
        let kind: bootlab_lab::plan::role_kind::RoleKind =
            k.parse().map_err(|e| anyhow::anyhow!("--impl {i}: {e}"))?;
        impls.insert(kind, v.to_string());
    }
    let rootless = !nix::unistd::geteuid().is_root();
    let exe = std::env::current_exe()?;
    let cwd = std::env::current_dir()?;
    let abs = |p: PathBuf| if p.is_absolute() { p } else { cwd.join(p) };
    let opts = Options {
        out: abs(a.out.clone()),
        golden: abs(a
            .golden_dir
            .clone()
            .unwrap_or_else(|| project_dir("golden"))),
        accept: a.accept,
        impls,
        exe,
        rootless,
        interrupt: Default::default(),
    };
    let jobs = scenarios
        .into_iter()
        .map(std::sync::Arc::new)
        .flat_map(|sc| {
            let opts = opts.clone();
            (1..=a.repeat.max(1)).map(move |repetition| Job {
                scenario: sc.clone(),
                options: opts.clone(),
                repetition,
                tag: String::new(),
            })
        })
        .collect();
    // Everything from here on happens in the lab's private world (user, network, mount, PID
    // namespaces).
    let outcome = batch::run(jobs, a.jobs)?;
    let results: Vec<_> = outcome.results.into_iter().flatten().collect();
    print!("{}", bootlab_lab::report::summary(&results));
    let page = bootlab_lab::report::html::Page {
        title: "bootlab run".into(),
        about,
    };
    match bootlab_lab::report::html::write(&opts.out, &results, &page) {
        Ok(p) => println!("report: {}", p.display()),
        Err(e) => eprintln!("bootlab: the HTML report could not be written: {e}"),
    }
    if let Some(p) = &a.junit {
        std::fs::write(p, bootlab_lab::report::junit(&results))?;
    }
    if let Some(p) = &a.json {
        std::fs::write(p, bootlab_lab::report::json(&results))?;
    }
    if outcome.interrupted {
        std::process::exit(130);
    }
    if results.iter().any(|r| r.verdict.is_failure()) {
        std::process::exit(1);
    }
    Ok(())
}

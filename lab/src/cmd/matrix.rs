//! The interop matrix (`bootlab matrix`): every scenario that has a role of a given kind, run with
//! every installed third-party implementation of that kind (`--impl KIND=PROFILE`), in parallel.
//! Each cell is pass, fail (with the first failed step, rule or golden difference), error, n/a
//! (with the profile's reason, see [`crate::roles::peer::unsupported`]), not installed, or needs root.
//! Written as `matrix.md`, `matrix.html` and `matrix.json`, with findings derived from the rule
//! results (which servers ARP before replying, which clients keep `secs` at 0, ...).
//!
//! A scenario runs against a peer as written, with three adaptations ([`for_peer`]): a step's
//! expectation of a specific *pool* address is dropped (which free address a server picks is its
//! choice; the per-implementation golden file pins it), an emulated boot ROM gets 4x the step
//! bounds, and our relay in front of a peer server relays replies shorter than 300 octets (its
//! `min-message-size` tolerance; FMT-SIZE-01 still reports the sender). Where a peer legitimately differs from ours, `--accept` records
//! `golden/<scenario>@<kind>=<profile>.snap` from a run whose steps and rules all held (review it
//! before committing); cells with such a file are `pass*`.

use crate::exec::batch::{self, Job};
use crate::exec::runner::Options;
use crate::plan::role_kind::RoleKind;
use crate::plan::scenario::Scenario;
use crate::report::{RuleResult, ScenarioResult, Verdict};
use crate::roles::profile::{Installation, Profile, ProfileSet};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The server kinds: the matrix's default `--roles`.
pub const SERVER_KINDS: &[RoleKind] = &[RoleKind::DhcpServer, RoleKind::BootpServer];

/// Every role kind a third-party profile can fill: a run over all of them (and every scenario
/// and profile) is a full matrix.
pub const PEER_KINDS: &[RoleKind] = &[
    RoleKind::DhcpServer,
    RoleKind::BootpServer,
    RoleKind::Relay,
    RoleKind::DhcpClient,
    RoleKind::BootpClient,
    RoleKind::RomClient,
    RoleKind::TftpServer,
    RoleKind::TftpClient,
];

/// Arguments of `bootlab matrix`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Role kinds to swap for third-party implementations (comma-separated; default the server
    /// kinds dhcp-server,bootp-server; also relay, dhcp-client, bootp-client, rom-client,
    /// tftp-server, tftp-client).
    #[arg(long, value_delimiter = ',')]
    pub roles: Vec<RoleKind>,
    /// Scenario names (comma-separated; default every scenario with a role of those kinds).
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Only these profiles (comma-separated; default every profile filling the kind).
    #[arg(long, value_delimiter = ',')]
    pub profiles: Vec<String>,
    /// Where matrix.md, matrix.html, matrix.json and the runs' artifacts (`runs/`) go.
    #[arg(long, default_value = "out/matrix")]
    pub out: PathBuf,
    /// Runs at once, each in its own world (at least 1).
    #[arg(long, short = 'j', default_value_t = 2, value_parser = crate::cmd::run::positive)]
    pub jobs: usize,
    /// Run only shard K of N (1-based) of the cells, split by the recorded costs in
    /// `costs.tsv`; `bootlab merge` joins the shards' `matrix.json`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::cmd::shard::Shard>,
    /// Rewrite per-implementation golden files from runs whose steps and rules pass (review the
    /// traces before committing them).
    #[arg(long)]
    pub accept: bool,
    /// The scenarios directory (default: `scenarios/` of the checkout).
    #[arg(long)]
    pub scenario_dir: Option<PathBuf>,
    /// The golden directory (default: `golden/` of the checkout).
    #[arg(long)]
    pub golden_dir: Option<PathBuf>,
    /// Run nothing: print the cells this invocation would have (with `--shard`, this shard's),
    /// one `SCENARIO@KIND=PROFILE` per line.
    #[arg(long)]
    pub dry_run: bool,
    /// Run nothing: rewrite the reports (and findings) of an earlier run's `matrix.json` into `--out`.
    #[arg(long, value_name = "MATRIX_JSON")]
    pub from: Option<PathBuf>,
    /// Also write the matrix's record (every cell's status, detail and rule outcomes, without
    /// machine paths or golden diffs) here: the file the README's findings are generated from.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// With `--record`: the cells run replace their recorded verdicts outright, without adding
    /// the old verdict to `seen` (a meant change: a fixed peer, a new rule, a new golden file).
    #[arg(long, requires = "record")]
    pub meant: bool,
    /// With `--from`: print the README's interop findings table generated from that matrix and
    /// nothing else.
    #[arg(long, requires = "from")]
    pub readme: bool,
}

/// A cell's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Conformant: every step, rule expectation and the golden trace held.
    Pass,
    /// Violates a rule (at a frame), or a step or a rule expectation failed.
    Fail,
    /// Behaviour changed against the implementation's own reviewed golden file.
    Changed,
    /// Steps and rules held; the trace differs from ours and no golden file of its own exists.
    Differs,
    /// The lab failed to carry the run out (timeout, a process would not start).
    Error,
    /// Proven not applicable: the profile says it cannot do a feature the scenario needs, the
    /// cell was tried anyway and failed; the detail and artifacts are the evidence.
    NotApplicable,
    /// Not run: the lab cannot yet give a third-party profile what the scenario needs (or the
    /// scenario is about a quirk only our daemons have). Says nothing about the implementation.
    Untested,
    /// The program is not installed here.
    NotInstalled,
    /// The program needs root and the lab runs rootless.
    NeedsRoot,
}

impl Status {
    /// The word in tables.
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Changed => "changed",
            Status::Differs => "differs",
            Status::Error => "error",
            Status::NotApplicable => "n/a",
            Status::Untested => "untested",
            Status::NotInstalled => "not installed",
            Status::NeedsRoot => "needs root",
        }
    }
    fn from_verdict(v: Verdict) -> Status {
        match v {
            Verdict::Pass => Status::Pass,
            Verdict::Fail => Status::Fail,
            Verdict::Changed => Status::Changed,
            Verdict::Differs => Status::Differs,
            Verdict::Error => Status::Error,
            Verdict::NotApplicable => Status::NotApplicable,
            Verdict::NotInstalled => Status::NotInstalled,
            Verdict::NeedsRoot => Status::NeedsRoot,
            Verdict::Interrupted => Status::Error,
            Verdict::Skipped => Status::NotInstalled,
        }
    }
}

/// One scenario run with one implementation of one role kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    /// The role kind swapped.
    pub kind: RoleKind,
    /// The profile used for it.
    pub profile: String,
    /// The scenario.
    pub scenario: String,
    /// The outcome.
    pub status: Status,
    /// One line: the first failure, the n/a reason, the missing package.
    pub detail: String,
    /// Every failure line of the run (golden diffs whole).
    #[serde(default)]
    pub failures: Vec<String>,
    /// Wall time of the run, seconds (0 when not run).
    pub seconds: f64,
    /// Rule outcomes of the run: id -> `pass`/`fail`/`n/a` (with the first violation).
    #[serde(default)]
    pub rules: BTreeMap<String, String>,
    /// Where the run's pcaps, logs and traces are.
    #[serde(default)]
    pub artifacts: Option<PathBuf>,
    /// Whether a per-implementation golden file exists (`golden/<scenario>@<kind>=<profile>.snap`).
    pub golden: bool,
    /// The clock the peer ran on (`real time`: third-party programs are never time-scaled).
    #[serde(default)]
    pub clock: String,
    /// The profile's claim that it cannot do a feature of the scenario, when it makes one; the
    /// cell was tried anyway (a capability run) and `status` says what the run showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// In a record: every status this cell showed over the recorded runs, when it showed more
    /// than one (an unstable cell: the peer, or the lab, does not behave the same every run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<Status>,
}

/// The whole matrix, as written to `matrix.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Matrix {
    /// Every cell, by kind, profile, scenario.
    pub cells: Vec<Cell>,
    /// Wall time of the whole matrix, seconds.
    pub seconds: f64,
    /// Whether the lab ran rootless.
    pub rootless: bool,
    /// Findings derived from the rule results, one line each.
    pub findings: Vec<String>,
}

/// A planned cell: run it, or a status decided without running.
#[derive(Debug, Clone)]
struct Plan {
    kind: RoleKind,
    profile: String,
    scenario: Arc<Scenario>,
    decided: Option<(Status, String)>,
    /// The profile's own claim of an unsupported feature: the run is a capability run.
    claim: Option<String>,
}

/// `scenarios/`, `golden/`: found as every command finds them ([`crate::plan::dirs`]); when
/// nowhere, the last place looked, so the error that follows names a path.
pub(crate) fn project_dir(name: &str) -> PathBuf {
    let data = if name == "golden" {
        crate::plan::dirs::Data::Golden
    } else {
        crate::plan::dirs::Data::Scenarios
    };
    crate::plan::dirs::find(data, None).unwrap_or_else(|e| {
        e.looked
            .last()
            .cloned()
            .unwrap_or_else(|| PathBuf::from(name))
    })
}

/// The per-implementation golden file of a cell (not the fallback to ours):
/// `golden/<scenario>@<kind>=<profile>.snap` (see [`crate::judge::golden::path_for`]).
pub fn golden_file(golden_dir: &Path, scenario: &str, kind: RoleKind, profile: &str) -> PathBuf {
    let imp = format!("{kind}={profile}");
    golden_dir.join(format!(
        "{}.snap",
        crate::judge::golden::snapshot_name(scenario, Some(&imp))
    ))
}

/// Decides every cell: which profiles fill each kind, which scenarios have it, and what can be
/// known without running (not installed, needs root, n/a).
fn plan(
    kinds: &[RoleKind],
    scenarios: &[Arc<Scenario>],
    set: &ProfileSet,
    only: &[String],
    rootless: bool,
) -> Result<Vec<Plan>, String> {
    let peers = crate::roles::profile::peers_dir();
    let mut out = Vec::new();
    for &kind in kinds {
        let role = kind;
        let profiles: Vec<&Profile> = set
            .for_role(role)
            .filter(|p| only.is_empty() || only.contains(&p.name))
            .collect();
        for p in profiles {
            for sc in scenarios
                .iter()
                .filter(|sc| sc.roles.values().any(|r| *r.kind.get_ref() == kind))
            {
                let decided = if let Installation::NotInstalled { binary, package } =
                    p.installation(&peers)
                {
                    Some((
                        Status::NotInstalled,
                        format!("{} missing (Debian package {package})", binary.display()),
                    ))
                } else if rootless && p.needs_root {
                    Some((
                        Status::NeedsRoot,
                        p.needs_root_reason.clone().unwrap_or_default(),
                    ))
                } else {
                    crate::roles::peer::lab_cannot(sc, kind)
                        .map(|why| (Status::Untested, format!("not run: {why}")))
                };
                out.push(Plan {
                    kind,
                    profile: p.name.clone(),
                    scenario: sc.clone(),
                    decided,
                    claim: crate::roles::peer::claimed_unsupported(p, sc, kind),
                });
            }
        }
    }
    Ok(out)
}

/// The scenario as run against a third-party implementation of `kind`: a step's expectation of a
/// specific *pool* address (`with.address` / `with.yiaddr` inside a dynamic pool of a replaced
/// server) is dropped, because which free address a server picks is its own choice (RFC 2131
/// §4.3.1 only says "an address from the pool"); the per-implementation golden file pins the
/// address it does pick. Static bindings stay checked.
pub fn for_peer(sc: &Scenario, kind: RoleKind) -> Scenario {
    let mut sc = sc.clone();
    if kind == RoleKind::RomClient {
        // A boot ROM peer is firmware in a software-emulated VM (iPXE in qemu/TCG): BIOS, ROM
        // start-up and its DHCP wait take ~20 s before the first TFTP packet. The waits bound
        // how long the lab waits, not what is on the wire: give it 4x (the golden trace and
        // the rules still judge the exchange).
        let stretch = |s: &str| {
            crate::plan::scenario::parse_duration(s).map(|d| format!("{}ms", (d * 4).as_millis()))
        };
        for step in &mut sc.steps {
            if let Some(w) = step.wait.as_mut() {
                if let Some(longer) = stretch(w.within.get_ref()) {
                    w.within = toml::Spanned::new(w.within.span(), longer);
                }
            }
        }
        if let Some(longer) = stretch(sc.timeout.get_ref()) {
            sc.timeout = toml::Spanned::new(sc.timeout.span(), longer);
        }
    }
    if !kind.is_server() {
        return sc;
    }
    tolerate_short_replies_in_our_relays(&mut sc);
    let mut pools: Vec<(u32, u32)> = Vec::new();
    for r in sc.roles.values().filter(|r| *r.kind.get_ref() == kind) {
        for sn in r
            .config
            .get("subnet")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            for range in sn
                .get("pools")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
            {
                let parsed = range
                    .as_str()
                    .and_then(|r| r.split_once('-'))
                    .and_then(|(a, b)| {
                        Some((
                            u32::from(a.trim().parse::<std::net::Ipv4Addr>().ok()?),
                            u32::from(b.trim().parse::<std::net::Ipv4Addr>().ok()?),
                        ))
                    });
                pools.extend(parsed);
            }
        }
    }
    let in_pool = |v: &toml::Value| {
        v.as_str()
            .and_then(|a| a.parse::<std::net::Ipv4Addr>().ok())
            .is_some_and(|a| {
                pools
                    .iter()
                    .any(|(lo, hi)| (*lo..=*hi).contains(&u32::from(a)))
            })
    };
    for step in &mut sc.steps {
        for w in [step.wait.as_mut(), step.absent.as_mut()]
            .into_iter()
            .flatten()
        {
            w.with
                .retain(|k, v| !((k == "address" || k == "yiaddr") && in_pool(v)));
        }
    }
    sc
}

/// A peer server behind our relay: RFC 1542 §2.1 lets the relay discard a reply shorter than 300
/// octets (Kea sends 262), which would hide every other behaviour of the peer in the relay
/// scenarios. Our relays there take the documented tolerance down to the fixed header
/// (`min-message-size = 236`, unless the scenario sets it); FMT-SIZE-01 judges the captured
/// reply all the same, so the sender's deviation is still reported.
fn tolerate_short_replies_in_our_relays(sc: &mut Scenario) {
    for r in sc.roles.values_mut().filter(|r| {
        *r.kind.get_ref() == RoleKind::Relay
            && r.implementation.as_deref().unwrap_or("ours") == "ours"
    }) {
        r.config
            .entry("min-message-size")
            .or_insert(toml::Value::Integer(bootlab_wire::bootp::HEADER_LEN as i64));
    }
}

/// The first line worth showing for a failed run: the failure's first line, plus the first changed
/// line of a golden diff.
fn first_failure(r: &ScenarioResult) -> String {
    let pick = r
        .failures
        .iter()
        .find(|f| f.starts_with("step"))
        .or_else(|| r.failures.iter().find(|f| f.starts_with("rule")))
        .or_else(|| r.failures.first());
    let Some(f) = pick else {
        return String::new();
    };
    let mut lines = f.lines();
    let head = lines.next().unwrap_or_default().to_string();
    if head.starts_with("trace differs") {
        let changed = f.lines().find(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        });
        if let Some(c) = changed {
            return format!("golden differs: {}", c.trim());
        }
    }
    head
}

/// A cell's rule outcomes as the record keeps them: `pass`, `n/a`, `fail (first violation)`, or
/// `expected fail (…)` for a failure the scenario plants on purpose (a probe that plays a
/// misbehaving server or client: its own frame is the first violation the check finds), which
/// the findings do not count against the implementation in the cell.
fn rules_map(rules: &[RuleResult]) -> BTreeMap<String, String> {
    rules
        .iter()
        .map(|r| {
            let planted = r.expected.as_deref() == Some("fail");
            let v = match (&r.outcome[..], &r.detail) {
                ("fail", Some(d)) if planted => format!("expected fail ({d})"),
                ("fail", None) if planted => "expected fail".to_string(),
                ("fail", Some(d)) => format!("fail ({d})"),
                (o, _) => o.to_string(),
            };
            (r.id.clone(), v)
        })
        .collect()
}

/// Runs `bootlab matrix`: plans, enters the lab's isolation, runs the cells, writes the reports
/// and prints the markdown. Exits with status 1 when a cell failed.
pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(from) = &a.from {
        let mut m = load(from).map_err(|e| anyhow::anyhow!(e))?;
        if let Some(path) = &a.record {
            write_record(path, &m, RecordMerge::of(&a))?;
            return Ok(());
        }
        if a.readme {
            print!("{}", readme_findings(&m));
            return Ok(());
        }
        m.findings = findings(&m.cells);
        return write_reports(&m, &a.out);
    }
    let started = Instant::now();
    let kinds: Vec<RoleKind> = if a.roles.is_empty() {
        SERVER_KINDS.to_vec()
    } else {
        a.roles.clone()
    };
    let scenario_dir = crate::plan::dirs::find(
        crate::plan::dirs::Data::Scenarios,
        a.scenario_dir.as_deref(),
    )?;
    let files = crate::cmd::select::files(&a.scenarios, &scenario_dir)?;
    let mut scenarios = Vec::new();
    for f in files {
        scenarios.push(Arc::new(crate::exec::load(&f)?));
    }
    let set = ProfileSet::load_default()?;
    let rootless = !crate::world::isolate::is_root();
    let plans =
        plan(&kinds, &scenarios, &set, &a.profiles, rootless).map_err(|e| anyhow::anyhow!(e))?;
    if plans.is_empty() {
        anyhow::bail!(crate::cmd::select::empty_matrix(&kinds, &a.profiles, &set));
    }
    let plans = match a.shard {
        Some(s) => {
            let costs =
                crate::cmd::shard::Costs::load(&scenario_dir.join(crate::cmd::shard::COSTS_FILE))?;
            let mine = crate::cmd::shard::pick(plans, s, |p| {
                let key = crate::cmd::shard::cell_key(&p.scenario.name, p.kind, &p.profile);
                let cost = if p.decided.is_some() {
                    0.0
                } else {
                    costs.of_cell(&p.scenario.name, &key)
                };
                (key, cost)
            });
            eprintln!("bootlab matrix: shard {s}");
            mine
        }
        None => plans,
    };
    if a.dry_run {
        let lines: String = plans
            .iter()
            .map(|p| crate::cmd::shard::cell_key(&p.scenario.name, p.kind, &p.profile) + "\n")
            .collect();
        return crate::cmd::output::print(&lines);
    }
    let cwd = std::env::current_dir()?;
    let abs = |p: PathBuf| if p.is_absolute() { p } else { cwd.join(p) };
    let out = abs(a.out.clone());
    let golden = abs(crate::plan::dirs::find(
        crate::plan::dirs::Data::Golden,
        a.golden_dir.as_deref(),
    )?);
    std::fs::create_dir_all(&out)?;
    let base = Options {
        out: out.join("runs"),
        golden: golden.clone(),
        accept: a.accept,
        impls: BTreeMap::new(),
        exe: std::env::current_exe()?,
        rootless,
        interrupt: Default::default(),
    };
    let jobs_at_once = a.jobs.max(1);
    let to_run = plans.iter().filter(|p| p.decided.is_none()).count();
    eprintln!(
        "bootlab matrix: {} cells, {to_run} to run, {jobs_at_once} at once",
        plans.len()
    );
    let new_cell = |p: &Plan| Cell {
        kind: p.kind,
        profile: p.profile.clone(),
        scenario: p.scenario.name.clone(),
        status: Status::NotApplicable,
        detail: String::new(),
        failures: vec![],
        seconds: 0.0,
        rules: BTreeMap::new(),
        artifacts: None,
        golden: golden_file(&golden, &p.scenario.name, p.kind, &p.profile).exists(),
        clock: "real time".into(),
        claim: p.claim.clone(),
        seen: vec![],
    };
    let jobs: Vec<Job> = plans
        .iter()
        .filter(|p| p.decided.is_none())
        .map(|p| {
            let mut options = base.clone();
            options.impls.insert(p.kind, p.profile.clone());
            Job {
                scenario: Arc::new(for_peer(&p.scenario, p.kind)),
                options,
                repetition: 1,
                tag: format!("[{}={}]", p.kind, p.profile),
            }
        })
        .collect();
    let accept = a.accept;
    let outcome = batch::run(jobs, jobs_at_once)?;
    let mut ran = outcome.results.into_iter();
    let mut cells = Vec::new();
    for p in &plans {
        let mut cell = new_cell(p);
        if let Some((status, detail)) = &p.decided {
            cell.status = *status;
            cell.detail = detail.clone();
            cells.push(cell);
            continue;
        }
        let Some(r) = ran.next().flatten() else {
            // Not run: the batch was interrupted before it started.
            continue;
        };
        if accept && r.verdict == Verdict::Pass {
            cell.golden = golden_file(&golden, &p.scenario.name, p.kind, &p.profile).exists();
        }
        let unexercised: Vec<String> = r
            .rules
            .iter()
            .filter(|x| {
                x.outcome == "n/a"
                    && x.detail
                        .as_deref()
                        .is_some_and(|d| d.contains("not exercised by this implementation"))
            })
            .map(|x| x.id.clone())
            .collect();
        let (status, detail) = settle(
            p.claim.as_deref(),
            r.verdict,
            &first_failure(&r),
            &r.failures,
            &unexercised,
        );
        cell.status = status;
        cell.detail = detail;
        cell.failures = r.failures.clone();
        cell.seconds = (r.duration.as_secs_f64() * 10.0).round() / 10.0;
        cell.rules = rules_map(&r.rules);
        cell.artifacts = Some(r.artifacts.clone());
        cells.push(cell);
    }
    let mut m = Matrix {
        cells,
        seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        rootless,
        findings: vec![],
    };
    m.findings = findings(&m.cells);
    if let Some(path) = &a.record {
        write_record(path, &m, RecordMerge::of(&a))?;
    }
    if outcome.interrupted {
        // What finished is reported; the cells not run are left out.
        let _ = write_files(&m, &out);
        std::process::exit(130);
    }
    write_reports(&m, &out)
}

/// The rules (id prefixes) whose violation shows that a profile lacks a scenario feature
/// (`lab/profiles/README.md`, `unsupported`): a server without a secs threshold answers below it
/// (SRV-SECS), a relay without a hop limit forwards too far (RELAY-HOPS). An unknown feature is
/// shown by any violation.
fn feature_rules(feature: &str) -> &'static [&'static str] {
    match feature {
        "secs-threshold" => &["SRV-SECS-"],
        "relay" => &["RELAY-", "ADDR-GIADDR-", "ADDR-RELAY-", "SRV-GI", "SRV-82-"],
        "bootp" | "bootp-static-only" => &["SRV-BOOTP", "FMT-BOOTP-", "CLI-BOOTP-"],
        "dhcp" => &["SRV-", "CLI-", "FMT-TYPE-"],
        "dynamic-pool" => &["SRV-ALLOC-", "SRV-POOL"],
        "hop-limit" => &["RELAY-HOPS-"],
        "multiple-servers" => &["RELAY-"],
        "option-82" => &["RELAY-82-", "SRV-82-"],
        "short-lease" => &[
            "SRV-LEASE-",
            "SRV-T12-",
            "CLI-TIMER-",
            "CLI-RENEW-",
            "CLI-REBIND-",
            "CLI-EXPIRE-",
        ],
        "tftp-options" | "tftp-small-blksize" | "tftp-windowsize" => &["TFTP-"],
        _ => &[""],
    }
}

/// Whether a failing capability run proves the claim: a step or an expectation of the scenario
/// failed, or a rule that shows the claimed feature missing ([`feature_rules`]) was violated. A
/// run whose steps and expectations held and that only broke unrelated rules (a server that
/// echoes no client identifier, SRV-CID-02, in a scenario about relaying) disproves the claim:
/// the feature worked, and the violation is the cell's real verdict.
fn proves_claim(claim: &str, failures: &[String]) -> bool {
    let feature = claim.split(':').next().unwrap_or_default().trim();
    let prefixes = feature_rules(feature);
    failures.is_empty()
        || failures.iter().any(|f| {
            let mut words = f.split_whitespace();
            match (words.next(), words.next()) {
                (Some("violates"), Some(id)) => prefixes.iter().any(|p| id.starts_with(p)),
                _ => true,
            }
        })
}

/// A run's cell status and one-line detail. Without a `claim` the run's verdict is the status.
/// With one (the profile says it cannot do a feature of the scenario) the run was a capability
/// run: a failing run proves the n/a when its failure shows the feature missing
/// ([`proves_claim`]), and that failure is the evidence; a run whose steps and rules held, or
/// that failed only rules unrelated to the feature, disproves the claim, and the cell is a real
/// one.
pub fn settle(
    claim: Option<&str>,
    verdict: Verdict,
    first_failure: &str,
    failures: &[String],
    unexercised: &[String],
) -> (Status, String) {
    let status = Status::from_verdict(verdict);
    let Some(claim) = claim else {
        return (status, first_failure.to_string());
    };
    if !unexercised.is_empty() && !matches!(status, Status::Fail | Status::Error) {
        // The rule the scenario is about was never exercised by the peer: the claim stands.
        return (
            Status::NotApplicable,
            format!(
                "{claim} (proven: tried, and {} never exercised)",
                unexercised.join(", ")
            ),
        );
    }
    match status {
        Status::Error => (
            Status::NotApplicable,
            format!("{claim} (proven: tried, and {first_failure})"),
        ),
        Status::Fail if proves_claim(claim, failures) => (
            Status::NotApplicable,
            format!("{claim} (proven: tried, and {first_failure})"),
        ),
        Status::Fail => (
            Status::Fail,
            format!(
                "the profile claims {claim}; tried anyway, the scenario's steps and expectations held, so it is not n/a; {first_failure}"
            ),
        ),
        _ => (
            status,
            format!(
                "the profile claims {claim}; tried anyway, the run's steps and rules held, so it is not n/a{}",
                if first_failure.is_empty() {
                    String::new()
                } else {
                    format!("; {first_failure}")
                }
            ),
        ),
    }
}

/// Writes `matrix.md`, `matrix.html` and `matrix.json` into `out`, prints the markdown, and exits
/// with status 1 when a cell failed.
fn write_reports(m: &Matrix, out: &Path) -> anyhow::Result<()> {
    write_files(m, out)?;
    if m.cells
        .iter()
        .any(|c| matches!(c.status, Status::Fail | Status::Changed | Status::Error))
    {
        std::process::exit(1);
    }
    Ok(())
}

/// Writes `matrix.md`, `matrix.html` and `matrix.json` into `out` and prints the markdown.
fn write_files(m: &Matrix, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let md = markdown(m);
    std::fs::write(out.join("matrix.md"), &md)?;
    std::fs::write(
        out.join("matrix.html"),
        super::matrix_page::render(m, Some(out)),
    )?;
    std::fs::write(out.join("matrix.json"), serde_json::to_string_pretty(m)?)?;
    print!("{md}");
    eprintln!(
        "wrote {}/matrix.{{md,html,json}} ({:.1}s of runs)",
        out.display(),
        m.seconds
    );
    Ok(())
}

/// Counts of each status.
pub fn counts(cells: &[Cell]) -> BTreeMap<Status, usize> {
    let mut m = BTreeMap::new();
    for c in cells {
        *m.entry(c.status).or_insert(0) += 1;
    }
    m
}

// ---------------------------------------------------------------------------------------------
// Findings
// ---------------------------------------------------------------------------------------------

/// The rules whose outcome describes the swapped role (not our roles in the same run).
fn rule_concerns(kind: RoleKind, id: &str) -> bool {
    match kind {
        RoleKind::DhcpServer | RoleKind::BootpServer => {
            id.starts_with("ADDR-")
                || id.starts_with("SRV-")
                || matches!(id, "FMT-BOOTP-01" | "FMT-SIZE-01" | "FMT-COOKIE-03")
        }
        RoleKind::Relay => id.starts_with("RELAY-") || id == "ADDR-RELAY-01",
        RoleKind::DhcpClient | RoleKind::BootpClient | RoleKind::RomClient => {
            id.starts_with("CLI-") || id == "FMT-COOKIE-02"
        }
        // ADDR-ARP-02 is decided by the BOOTP server's delivery on the boot host, not by TFTP.
        RoleKind::TftpServer | RoleKind::TftpClient => id.starts_with("TFTP-"),
        RoleKind::RarpServer | RoleKind::RarpClient | RoleKind::Probe | RoleKind::NfsServer => {
            false
        }
    }
}

/// One rule's tally for one implementation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Runs where it passed.
    pub pass: usize,
    /// Runs where it failed.
    pub fail: usize,
    /// The scenarios where it failed.
    pub failing: Vec<String>,
    /// The first violation (segment, frame, message).
    pub first: Option<String>,
}

/// Per implementation (`kind=profile`) and rule: how many runs passed and failed it, over the
/// cells that ran (pass or fail); rules that were n/a everywhere are left out.
pub fn rule_table(cells: &[Cell]) -> BTreeMap<String, BTreeMap<String, Tally>> {
    let mut t: BTreeMap<String, BTreeMap<String, Tally>> = BTreeMap::new();
    for c in cells.iter().filter(|c| {
        matches!(
            c.status,
            Status::Pass | Status::Fail | Status::Changed | Status::Differs
        )
    }) {
        for (id, o) in &c.rules {
            if !rule_concerns(c.kind, id) {
                continue;
            }
            let e = t
                .entry(format!("{}={}", c.kind, c.profile))
                .or_default()
                .entry(id.clone())
                .or_default();
            if o == "pass" {
                e.pass += 1;
            } else if let Some(detail) = o.strip_prefix("fail") {
                e.fail += 1;
                e.failing.push(c.scenario.clone());
                if e.first.is_none() {
                    let d = detail.trim().trim_start_matches('(').trim_end_matches(')');
                    e.first = Some(format!("{}: {d}", c.scenario));
                }
            }
        }
    }
    for rules in t.values_mut() {
        rules.retain(|_, x| x.pass + x.fail > 0);
    }
    t.retain(|_, rules| !rules.is_empty());
    t
}

/// The first address a server offered in a run (`yiaddr` of its first reply), from the trace.
fn first_offer(cell: &Cell) -> Option<String> {
    let trace = std::fs::read_to_string(cell.artifacts.as_ref()?.join("trace.txt")).ok()?;
    let line = trace.lines().find(|l| l.contains("BOOTREPLY"))?;
    let y = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("yiaddr="))?;
    Some(y.to_string())
}

/// Whether the ROM of a rom-client cell sent an ARP reply or announcement (the trace names the
/// ROM's host `rom` in the lab's scenarios).
fn rom_answers_arp(cell: &Cell) -> bool {
    let Some(dir) = &cell.artifacts else {
        return false;
    };
    std::fs::read_to_string(dir.join("trace.txt")).is_ok_and(|t| {
        t.lines().any(|l| {
            let mut w = l.split_whitespace();
            let (_seg, src) = (w.next(), w.next());
            src == Some("rom") && (l.contains("ARP reply") || l.contains("ARP announce"))
        })
    })
}

/// Findings in words: for the behaviours the issue asks about, which implementations show them
/// (from the rule results of the swapped role, and from the traces).
pub fn findings(cells: &[Cell]) -> Vec<String> {
    let t = rule_table(cells);
    let has = |kinds: &[RoleKind]| cells.iter().any(|c| kinds.contains(&c.kind));
    let mut out = Vec::new();
    let who = |id: &str, failing: bool, detail: bool| -> String {
        let v: Vec<String> = t
            .iter()
            .filter_map(|(imp, rules)| {
                let x = rules.get(id)?;
                let hit = if failing {
                    x.fail > 0
                } else {
                    x.pass > 0 && x.fail == 0
                };
                hit.then(|| match (&x.first, detail && failing) {
                    (Some(d), true) => format!("{imp} ({d})"),
                    _ => imp.clone(),
                })
            })
            .collect();
        if v.is_empty() {
            "none seen".into()
        } else {
            v.join("; ")
        }
    };
    if has(SERVER_KINDS) {
        out.push(format!("Servers that unicast their reply to an address-less client without ARPing first (ADDR-UNI-01 pass in every run): {}", who("ADDR-UNI-01", false, false)));
        out.push(format!(
            "Servers that do not (ADDR-UNI-01 fail): {}",
            who("ADDR-UNI-01", true, true)
        ));
        out.push(format!("Servers that leave no ARP entry for the client they just answered, so the boot host then ARPs for it (ADDR-ARP-01 fail, KB Q164394): {}", who("ADDR-ARP-01", true, false)));
        out.push(format!(
            "Boot hosts that reach an ARP-less client for TFTP (ADDR-ARP-02 pass in every run): {}",
            who("ADDR-ARP-02", false, false)
        ));
        out.push(format!(
            "Boot hosts whose TFTP phase never reaches an ARP-less client (ADDR-ARP-02 fail): {}",
            who("ADDR-ARP-02", true, true)
        ));
        out.push(format!("Servers sending BOOTP/DHCP messages shorter than 300 octets (FMT-SIZE-01 fail, RFC 1542 §2.1): {}", who("FMT-SIZE-01", true, true)));
        out.push(format!(
            "Servers that do not broadcast to a client that set the BROADCAST flag (ADDR-BCAST-01 fail, RFC 2131 §4.1): {}",
            who("ADDR-BCAST-01", true, true)
        ));
        out.push(format!(
            "Servers whose BOOTP replies are not plain BOOTP (FMT-BOOTP-01 fail): {}",
            who("FMT-BOOTP-01", true, true)
        ));
        let offers: Vec<String> = cells
            .iter()
            .filter(|c| {
                c.scenario == "dhcp-dora"
                    && c.kind.is_server()
                    && matches!(c.status, Status::Pass | Status::Fail)
            })
            .filter_map(|c| first_offer(c).map(|y| format!("{} {y}", c.profile)))
            .collect();
        if !offers.is_empty() {
            out.push(format!("First address offered from the pool 192.0.2.100-110 in dhcp-dora (ours: 192.0.2.100, the lowest free): {}", offers.join(", ")));
        }
    }
    if has(&[
        RoleKind::DhcpClient,
        RoleKind::BootpClient,
        RoleKind::RomClient,
    ]) {
        out.push(format!("Clients whose secs is not 0 in the first request or not counting (CLI-SECS-01 fail): {}", who("CLI-SECS-01", true, true)));
        out.push(format!(
            "Clients that keep secs constant across retransmissions (CLI-SECS-02 fail): {}",
            who("CLI-SECS-02", true, true)
        ));
        out.push(format!(
            "Clients that probe (RFC 5227) before binding (CLI-ACD-01 pass): {}",
            who("CLI-ACD-01", false, false)
        ));
        let never: Vec<String> = t
            .iter()
            .filter(|(imp, rules)| {
                imp.starts_with("dhcp-client=") && !rules.contains_key("CLI-ACD-01")
            })
            .map(|(imp, _)| imp.clone())
            .collect();
        out.push(format!(
            "Clients that never probe before binding (CLI-ACD-01 n/a in every run): {}",
            if never.is_empty() {
                "none seen".into()
            } else {
                never.join(", ")
            }
        ));
    }
    if has(&[RoleKind::RomClient]) {
        let answering: BTreeSet<String> = cells
            .iter()
            .filter(|c| {
                c.kind == RoleKind::RomClient && matches!(c.status, Status::Pass | Status::Fail)
            })
            .filter(|c| rom_answers_arp(c))
            .map(|c| c.profile.clone())
            .collect();
        out.push(format!(
            "Boot ROM peers that use ARP themselves (reply/announce), so the ARP-less premise of the KB Q164394 scenarios does not hold for them (their cells show a real ROM booting, not the bug): {}",
            if answering.is_empty() { "none seen".into() } else { answering.into_iter().collect::<Vec<_>>().join(", ") }
        ));
    }
    if has(&[RoleKind::Relay]) {
        out.push(format!(
            "Relays that set giaddr to the receiving interface (RELAY-GI-01 pass in every run): {}",
            who("RELAY-GI-01", false, false)
        ));
        out.push(format!(
            "Relays that do not add exactly one hop (RELAY-HOPS-02 fail): {}",
            who("RELAY-HOPS-02", true, true)
        ));
    }
    if has(&[RoleKind::TftpServer, RoleKind::TftpClient]) {
        let failing: Vec<String> = t
            .iter()
            .filter(|(imp, _)| imp.starts_with("tftp-"))
            .flat_map(|(imp, rules)| {
                rules
                    .iter()
                    .filter(|(_, x)| x.fail > 0)
                    .map(move |(id, x)| {
                        format!("{imp} {id} ({})", x.first.clone().unwrap_or_default())
                    })
            })
            .collect();
        out.push(format!(
            "TFTP rules failed: {}",
            if failing.is_empty() {
                "none seen".into()
            } else {
                failing.join("; ")
            }
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// Kinds in order, then per kind the profiles (columns) and scenarios (rows).
fn layout(cells: &[Cell]) -> Vec<(RoleKind, Vec<String>, Vec<String>)> {
    let mut kinds: Vec<RoleKind> = Vec::new();
    for c in cells {
        if !kinds.contains(&c.kind) {
            kinds.push(c.kind);
        }
    }
    kinds
        .into_iter()
        .map(|k| {
            let of: Vec<&Cell> = cells.iter().filter(|c| c.kind == k).collect();
            let profiles: BTreeSet<String> = of.iter().map(|c| c.profile.clone()).collect();
            let scenarios: BTreeSet<String> = of.iter().map(|c| c.scenario.clone()).collect();
            (
                k,
                profiles.into_iter().collect(),
                scenarios.into_iter().collect(),
            )
        })
        .collect()
}

/// The matrix as markdown: one table per kind (scenarios × profiles), numbered notes with the
/// failure or n/a reason of each cell, the counts, the rule table and the findings.
pub fn markdown(m: &Matrix) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Interop matrix\n");
    let c = counts(&m.cells);
    let summary: Vec<String> = c.iter().map(|(s, n)| format!("{n} {}", s.word())).collect();
    let _ = writeln!(
        o,
        "{} cells: {} ({:.0} s wall time{}).\n",
        m.cells.len(),
        summary.join(", "),
        m.seconds,
        if m.rootless { ", rootless" } else { "" }
    );
    let mut notes: Vec<String> = Vec::new();
    for (kind, profiles, scenarios) in layout(&m.cells) {
        let _ = writeln!(o, "## {kind}\n");
        let _ = writeln!(o, "| scenario | {} |", profiles.join(" | "));
        let _ = writeln!(o, "|---|{}", "---|".repeat(profiles.len()));
        for sc in &scenarios {
            let mut row = format!("| {sc} |");
            for p in &profiles {
                match m
                    .cells
                    .iter()
                    .find(|c| c.kind == kind && &c.profile == p && &c.scenario == sc)
                {
                    None => row.push_str(" |"),
                    Some(cell) => {
                        let mut w = cell.status.word().to_string();
                        if cell.status == Status::Pass && cell.golden {
                            w.push('*');
                        }
                        if cell.status != Status::Pass && !cell.detail.is_empty() {
                            notes.push(format!(
                                "{sc} × {p}: {}",
                                md_escape(&short(&cell.detail, 300))
                            ));
                            w.push_str(&format!(" [{}]", notes.len()));
                        }
                        let _ = write!(row, " {w} |");
                    }
                }
            }
            let _ = writeln!(o, "{row}");
        }
        o.push('\n');
    }
    let _ = writeln!(o, "`pass*`: passes against its own golden file `golden/<scenario>@<kind>=<profile>.snap` (a reviewed, legitimate difference from ours).\n");
    let _ = writeln!(o, "{LEGEND}\n");
    if !notes.is_empty() {
        let _ = writeln!(o, "### Notes\n");
        for (i, n) in notes.iter().enumerate() {
            let _ = writeln!(o, "{}. {n}", i + 1);
        }
        o.push('\n');
    }
    let _ = writeln!(o, "## Findings\n");
    for f in &m.findings {
        let _ = writeln!(o, "- {f}");
    }
    o.push('\n');
    let t = rule_table(&m.cells);
    if !t.is_empty() {
        let _ = writeln!(
            o,
            "### Rule outcomes of the swapped role (runs passed / failed)\n"
        );
        let _ = writeln!(
            o,
            "| implementation | rule | pass | fail | failing scenarios |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|");
        for (imp, rules) in &t {
            for (id, x) in rules {
                let _ = writeln!(
                    o,
                    "| {imp} | {id} | {} | {} | {} |",
                    x.pass,
                    x.fail,
                    x.failing.join(", ")
                );
            }
        }
        o.push('\n');
    }
    o
}

/// What each status means; every peer runs on real time, ours on the scenario's time-scale.
pub const LEGEND: &str = "Statuses: `pass` conformant; `fail` violates a rule at a frame, or a step or rule expectation failed; \
`changed` the trace differs from the peer's own reviewed golden file; `differs` steps and rules held but the trace differs from ours \
(no golden file of its own yet: a difference to review, not a failure); `n/a` proven: the profile says it cannot do a feature the \
scenario needs, the cell was tried and failed (the detail is the evidence); `untested` not run: the lab cannot yet give a peer what \
the scenario needs; `error` the lab failed. Clocks: every peer runs on real time; ours on the scenario's time-scale, and timing \
rules judge each frame in its sender's clock.";

/// The matrix as a standalone HTML page (see [`super::matrix_page`]), links as absolute paths.
pub fn html(m: &Matrix) -> String {
    super::matrix_page::render(m, None)
}

/// How a new record joins the one already in the file.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordMerge {
    /// The run covered only some cells (`--scenarios`, `--profiles`, `--shard`, fewer role
    /// kinds than all): recorded cells it did not run are kept as they were.
    pub partial: bool,
    /// `--meant`: a cell's old verdict is not added to its `seen` list.
    pub meant: bool,
}

impl RecordMerge {
    fn of(a: &Args) -> Self {
        let partial = !a.scenarios.is_empty()
            || !a.profiles.is_empty()
            || a.shard.is_some()
            || (a.from.is_none() && !PEER_KINDS.iter().all(|k| a.roles.contains(k)));
        RecordMerge {
            partial,
            meant: a.meant,
        }
    }
}

/// Writes the record of `m` to `path`, merged with the record already there (see [`merge_record`]).
fn write_record(path: &Path, m: &Matrix, how: RecordMerge) -> anyhow::Result<()> {
    let mut r = record(m);
    if let Ok(previous) = load(path) {
        r = merge_record(&previous, r, how);
    }
    std::fs::write(path, serde_json::to_string_pretty(&r)? + "\n")?;
    let unstable = r.cells.iter().filter(|c| !c.seen.is_empty()).count();
    eprintln!(
        "recorded {} ({} cells, {unstable} unstable)",
        path.display(),
        r.cells.len()
    );
    Ok(())
}

/// A new record merged with the previous one: a cell whose status differs from the one recorded
/// before keeps every status seen (`seen`), so an unstable cell is named, not hidden, unless the
/// change is `meant`. Recorded cells the new run did not cover are kept when the run was
/// `partial`, dropped otherwise (no longer in the matrix).
pub fn merge_record(previous: &Matrix, mut new: Matrix, how: RecordMerge) -> Matrix {
    for c in &mut new.cells {
        let Some(old) = previous
            .cells
            .iter()
            .find(|o| o.kind == c.kind && o.profile == c.profile && o.scenario == c.scenario)
        else {
            continue;
        };
        if how.meant {
            continue;
        }
        let mut seen: Vec<Status> = old.seen.clone();
        seen.push(old.status);
        seen.push(c.status);
        seen.sort();
        seen.dedup();
        if seen.len() > 1 {
            c.seen = seen;
        }
    }
    if how.partial {
        let ran: std::collections::BTreeSet<_> = new
            .cells
            .iter()
            .map(|c| (c.kind, c.profile.clone(), c.scenario.clone()))
            .collect();
        let kept: Vec<Cell> = previous
            .cells
            .iter()
            .filter(|o| !ran.contains(&(o.kind, o.profile.clone(), o.scenario.clone())))
            .cloned()
            .collect();
        new.cells.extend(kept);
        new.cells.sort_by(|a, b| {
            (a.kind, &a.profile, &a.scenario).cmp(&(b.kind, &b.profile, &b.scenario))
        });
        new.findings = findings(&new.cells);
        new.rootless = previous.rootless;
    }
    new
}

/// Whether `status` is a verdict the record allows for this cell: its recorded status, or any
/// status it was seen with when it is unstable.
pub fn allowed(recorded: &Cell, status: Status) -> bool {
    recorded.status == status || recorded.seen.contains(&status)
}

/// The matrix as recorded for the repository: cells sorted, without artifact paths, golden diffs
/// or wall times (they change from run to run and machine to machine).
pub fn record(m: &Matrix) -> Matrix {
    let mut cells: Vec<Cell> = m
        .cells
        .iter()
        .map(|c| Cell {
            failures: vec![],
            seconds: 0.0,
            artifacts: None,
            detail: c.detail.lines().next().unwrap_or_default().to_string(),
            ..c.clone()
        })
        .collect();
    cells.sort_by(|a, b| (a.kind, &a.profile, &a.scenario).cmp(&(b.kind, &b.profile, &b.scenario)));
    Matrix {
        cells,
        seconds: 0.0,
        rootless: m.rootless,
        findings: findings(&m.cells),
    }
}

/// The README's interop findings, generated from a matrix: per implementation, the rules it
/// violated (with how many runs and the scenarios), how many cells changed or differ from ours,
/// and its proven n/a and untested cells. Between the README's `findings` markers; a test keeps
/// them in step with the recorded matrix.
pub fn readme_findings(m: &Matrix) -> String {
    let table = rule_table(&m.cells);
    let mut imps: Vec<(RoleKind, String)> = m
        .cells
        .iter()
        .map(|c| (c.kind, c.profile.clone()))
        .collect();
    imps.sort();
    imps.dedup();
    let mut o = String::new();
    let c = counts(&m.cells);
    let summary: Vec<String> = c.iter().map(|(s, n)| format!("{n} {}", s.word())).collect();
    let _ = writeln!(o, "{} cells: {}.\n", m.cells.len(), summary.join(", "));
    o.push_str("| implementation | violates (rule: runs; scenarios) | pass | differs / changed | proven n/a | untested | unstable (verdicts seen) |\n");
    o.push_str("|---|---|---|---|---|---|---|\n");
    for (kind, profile) in imps {
        let of: Vec<&Cell> = m
            .cells
            .iter()
            .filter(|c| c.kind == kind && c.profile == profile)
            .collect();
        let n = |st: Status| of.iter().filter(|c| c.status == st).count();
        let imp = format!("{kind}={profile}");
        let violated: Vec<String> = table
            .get(&imp)
            .map(|rules| {
                rules
                    .iter()
                    .filter(|(_, t)| t.fail > 0)
                    .map(|(id, t)| format!("{id}: {}; {}", t.fail, t.failing.join(", ")))
                    .collect()
            })
            .unwrap_or_default();
        let names = |st: Status| -> String {
            let v: Vec<&str> = of
                .iter()
                .filter(|c| c.status == st)
                .map(|c| c.scenario.as_str())
                .collect();
            if v.is_empty() {
                "-".into()
            } else {
                v.join(", ")
            }
        };
        let unstable: Vec<String> = of
            .iter()
            .filter(|c| !c.seen.is_empty())
            .map(|c| {
                let seen: Vec<&str> = c.seen.iter().map(|s| s.word()).collect();
                format!("{} ({})", c.scenario, seen.join("/"))
            })
            .collect();
        let _ = writeln!(
            o,
            "| {imp} | {} | {} | {} / {} | {} | {} | {} |",
            if violated.is_empty() {
                "-".to_string()
            } else {
                md_escape(&violated.join("<br>"))
            },
            n(Status::Pass),
            n(Status::Differs),
            n(Status::Changed),
            names(Status::NotApplicable),
            n(Status::Untested),
            if unstable.is_empty() {
                "-".to_string()
            } else {
                unstable.join(", ")
            }
        );
    }
    o
}

/// Reads a `matrix.json` written by [`run`] (or a recorded matrix).
pub fn load(path: &Path) -> Result<Matrix, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(
        kind: &str,
        profile: &str,
        scenario: &str,
        status: Status,
        rules: &[(&str, &str)],
    ) -> Cell {
        Cell {
            kind: kind.parse().expect("a role kind"),
            profile: profile.into(),
            scenario: scenario.into(),
            status,
            detail: if status == Status::Pass {
                String::new()
            } else {
                "why | it".into()
            },
            failures: vec![],
            seconds: 1.0,
            rules: rules
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            artifacts: None,
            golden: false,
            clock: "real time".into(),
            claim: None,
            seen: vec![],
        }
    }

    /// A failure the scenario plants (the probe's own OACK in tftp-oack-unasked) is recorded as
    /// expected and not counted against the client in the cell; the client's own failure is.
    #[test]
    fn planted_failures_are_not_the_peers_violations() {
        let r = |id: &str, outcome: &str, expected: Option<&str>| RuleResult {
            id: id.into(),
            outcome: outcome.into(),
            expected: expected.map(String::from),
            detail: (outcome == "fail").then(|| "lan frame 4 (sent by server): OACK".to_string()),
            segment: None,
            frame: None,
        };
        let map = rules_map(&[
            r("TFTP-OACK-01", "fail", Some("fail")),
            r("TFTP-OACK-03", "fail", None),
            r("TFTP-OACK-02", "pass", Some("pass")),
        ]);
        assert!(map["TFTP-OACK-01"].starts_with("expected fail ("));
        assert!(map["TFTP-OACK-03"].starts_with("fail ("));
        let pairs: Vec<(&str, &str)> = map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let t = rule_table(&[cell(
            "tftp-client",
            "atftp",
            "tftp-oack-unasked",
            Status::Fail,
            &pairs,
        )]);
        let rules = &t["tftp-client=atftp"];
        assert!(!rules.contains_key("TFTP-OACK-01"));
        assert_eq!(rules["TFTP-OACK-03"].fail, 1);
        assert_eq!(rules["TFTP-OACK-02"].pass, 1);
    }

    /// A cell that showed two verdicts over the recorded runs keeps both; the test then allows
    /// either, and the README names it.
    #[test]
    fn records_keep_every_verdict_an_unstable_cell_showed() {
        let m = |st: Status| Matrix {
            cells: vec![cell("dhcp-client", "udhcpc", "relay-option82", st, &[])],
            seconds: 0.0,
            rootless: false,
            findings: vec![],
        };
        let stable = merge_record(
            &m(Status::Pass),
            record(&m(Status::Pass)),
            RecordMerge::default(),
        );
        assert!(stable.cells[0].seen.is_empty());
        let r = merge_record(
            &m(Status::Pass),
            record(&m(Status::Fail)),
            RecordMerge::default(),
        );
        assert_eq!(r.cells[0].seen, vec![Status::Pass, Status::Fail]);
        assert!(allowed(&r.cells[0], Status::Pass) && allowed(&r.cells[0], Status::Fail));
        assert!(!allowed(&r.cells[0], Status::Error));
        // Once unstable, a later stable run does not forget it.
        let again = merge_record(&r, record(&m(Status::Pass)), RecordMerge::default());
        assert_eq!(again.cells[0].seen, vec![Status::Pass, Status::Fail]);
        assert!(readme_findings(&again).contains("relay-option82 (pass/fail)"));
    }

    /// A profile's claim that it cannot do a feature is tried: a failing run proves the n/a
    /// (with the failure as evidence), a run that holds disproves it and is a real cell.
    #[test]
    fn claims_are_settled_by_the_capability_run() {
        let claim = "secs-threshold: dnsmasq has no setting";
        let step = vec!["step 4 failed: answered at secs=0".to_string()];
        let (st, why) = settle(
            Some(claim),
            Verdict::Fail,
            "step 4 failed: answered at secs=0",
            &step,
            &[],
        );
        assert_eq!(st, Status::NotApplicable);
        assert!(why.contains("proven") && why.contains("secs=0"), "{why}");
        let (st, why) = settle(Some(claim), Verdict::Pass, "", &[], &[]);
        assert_eq!(st, Status::Pass, "a claim the run disproves is not n/a");
        assert!(why.contains("not n/a"), "{why}");
        let (st, _) = settle(
            Some(claim),
            Verdict::Differs,
            "trace differs from ours",
            &[],
            &[],
        );
        assert_eq!(st, Status::Differs);
        // A run that held but never exercised the rule the scenario is about proves nothing
        // against the claim.
        let (st, why) = settle(
            Some(claim),
            Verdict::Differs,
            "trace differs from ours",
            &[],
            &["SRV-SECS-01".to_string()],
        );
        assert_eq!(st, Status::NotApplicable);
        assert!(why.contains("SRV-SECS-01 never exercised"), "{why}");
        let (st, why) = settle(None, Verdict::Fail, "violates X", &[], &[]);
        assert_eq!((st, why.as_str()), (Status::Fail, "violates X"));
        // A violation of the rule that shows the feature missing proves the claim ...
        let v = vec!["violates SRV-SECS-01 (RFC 951 s7.1) at lan frame 1".to_string()];
        let (st, _) = settle(Some(claim), Verdict::Fail, &v[0], &v, &[]);
        assert_eq!(st, Status::NotApplicable);
        // ... an unrelated one, with every step held, disproves it: the cell is a real fail.
        let relay = "relay: udhcpd has no per-giaddr subnet selection";
        let v = vec!["violates SRV-CID-02 (RFC 6842 s3) at servers frame 4".to_string()];
        let (st, why) = settle(Some(relay), Verdict::Fail, &v[0], &v, &[]);
        assert_eq!(st, Status::Fail, "{why}");
        assert!(
            why.contains("not n/a") && why.contains("SRV-CID-02"),
            "{why}"
        );
    }

    #[test]
    fn markdown_has_one_table_per_kind_and_numbered_notes() {
        let cells = vec![
            cell(
                "dhcp-server",
                "kea-dhcp4",
                "dhcp-dora",
                Status::Pass,
                &[("ADDR-UNI-01", "pass")],
            ),
            cell(
                "dhcp-server",
                "udhcpd",
                "dhcp-dora",
                Status::Fail,
                &[("ADDR-UNI-01", "fail (lan frame 3: ARP)")],
            ),
            cell(
                "bootp-server",
                "cmu-bootpd",
                "arp-less-client",
                Status::NotApplicable,
                &[],
            ),
        ];
        let m = Matrix {
            findings: findings(&cells),
            cells,
            seconds: 3.0,
            rootless: false,
        };
        let md = markdown(&m);
        assert!(
            md.contains("## dhcp-server") && md.contains("## bootp-server"),
            "{md}"
        );
        assert!(md.contains("| dhcp-dora | pass | fail [1] |"), "{md}");
        assert!(md.contains("1. dhcp-dora × udhcpd: why \\| it"), "{md}");
        assert!(
            md.contains("(ADDR-UNI-01 pass in every run): dhcp-server=kea-dhcp4"),
            "{md}"
        );
        assert!(
            md.contains("(ADDR-UNI-01 fail): dhcp-server=udhcpd (dhcp-dora: lan frame 3: ARP)"),
            "{md}"
        );
        assert!(html(&m).contains("class=\"fail\""));
    }

    #[test]
    fn pool_addresses_are_the_peers_choice_but_static_ones_stay() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let Ok(dora) = crate::plan::scenario::load(&dir.join("dhcp-dora.toml")) else {
            return;
        };
        let w = for_peer(&dora, RoleKind::DhcpServer);
        assert!(w.steps[0]
            .wait
            .as_ref()
            .is_some_and(|w| !w.with.contains_key("address")));
        let same = for_peer(&dora, RoleKind::DhcpClient);
        assert!(same.steps[0]
            .wait
            .as_ref()
            .is_some_and(|w| w.with.contains_key("address")));
        let Ok(bootp) = crate::plan::scenario::load(&dir.join("bootp-static-binding.toml")) else {
            return;
        };
        let w = for_peer(&bootp, RoleKind::BootpServer);
        assert!(w.steps[0]
            .wait
            .as_ref()
            .is_some_and(|w| w.with.contains_key("yiaddr")));
    }

    #[test]
    fn our_relay_tolerates_short_replies_only_in_front_of_a_peer_server() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let Ok(hop) = crate::plan::scenario::load(&dir.join("relay-one-hop.toml")) else {
            return;
        };
        let size = |sc: &Scenario| sc.roles["relay"].config.get("min-message-size").cloned();
        assert_eq!(
            size(&hop),
            None,
            "the scenario as written keeps the default"
        );
        let w = for_peer(&hop, RoleKind::DhcpServer);
        assert_eq!(size(&w), Some(toml::Value::Integer(236)));
        assert_eq!(
            w.expect.rules, hop.expect.rules,
            "rule expectations untouched"
        );
        assert_eq!(
            size(&for_peer(&hop, RoleKind::Relay)),
            None,
            "a peer relay gets no key"
        );
        assert_eq!(size(&for_peer(&hop, RoleKind::DhcpClient)), None);
    }

    #[test]
    fn rules_of_our_roles_are_not_findings_about_the_peer() {
        let cells = vec![cell(
            "dhcp-server",
            "kea-dhcp4",
            "dhcp-dora",
            Status::Pass,
            &[("CLI-SECS-02", "fail (x)"), ("SRV-DECL-01", "n/a")],
        )];
        assert!(rule_table(&cells).is_empty());
    }
}

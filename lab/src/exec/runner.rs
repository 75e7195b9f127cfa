//! The scenario runner: builds a scenario's world, starts its roles (ours or a profile's), runs its
//! steps, then turns the captures into a trace and judges it (golden file, rules, steps).

use crate::judge::golden::{self, Comparison};
use crate::judge::rules::{self, Outcome};
use crate::judge::trace::{Clock, Frame, Names, RoleEvent, RoleInfo, Trace};
use crate::plan::role_kind::RoleKind;
use crate::plan::scenario::{parse_duration, Scenario};
use crate::report::{RuleResult, ScenarioResult, Verdict};
use crate::roles::profile::ProfileSet;
use crate::world::process::{LogLine, Process, ProcessSpec, Stream};
use crate::world::topology::{self, Topology};
use crate::world::World;
use nix::time::ClockId;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How a run is done.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where run artifacts go (`out/`).
    pub out: PathBuf,
    /// The golden directory (`golden/`).
    pub golden: PathBuf,
    /// Rewrite golden files instead of comparing.
    pub accept: bool,
    /// Role kind -> implementation (`--impl dhcp-server=dnsmasq`); `ours` when absent.
    pub impls: BTreeMap<RoleKind, String>,
    /// The `bootlab` executable that runs our daemons.
    pub exe: PathBuf,
    /// Whether the lab runs without root (peers that need root are then "needs root").
    pub rootless: bool,
    /// Set by the batch when a signal asks the run to stop: roles are ended at once and the
    /// captures so far written, nothing is judged.
    pub interrupt: crate::exec::batch::Interrupt,
}

/// Why a run could not be carried out (as opposed to a failed expectation).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Building or tearing down the world failed.
    #[error("lab: {0}")]
    Lab(String),
    /// A role could not be started.
    #[error("role {role}: {why}")]
    Role {
        /// The role.
        role: String,
        /// Why.
        why: String,
    },
    /// Files could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The implementation label of a run: `ours` or `kind=impl,...`.
pub fn label(sc: &Scenario, opts: &Options) -> String {
    let mut parts: Vec<String> = Vec::new();
    for role in sc.roles.values() {
        let imp = implementation(role, opts);
        if imp != "ours" {
            let p = format!("{}={imp}", role.kind.get_ref());
            if !parts.contains(&p) {
                parts.push(p);
            }
        }
    }
    if parts.is_empty() {
        "ours".into()
    } else {
        parts.join(",")
    }
}

fn implementation(role: &crate::plan::scenario::Role, opts: &Options) -> String {
    opts.impls
        .get(role.kind.get_ref())
        .cloned()
        .or_else(|| role.implementation.clone())
        .unwrap_or_else(|| "ours".into())
}

/// The scenario's topology in the lab's terms: interfaces in segment-name order (`eth0`...).
pub fn topology_of(sc: &Scenario) -> Result<Topology, String> {
    let mut t = Topology::default();
    for (name, seg) in &sc.segments {
        let subnet = seg
            .subnet
            .get_ref()
            .parse()
            .map_err(|e: String| format!("segments.{name}.subnet: {e}"))?;
        t.segments.push(topology::Segment {
            name: name.clone(),
            subnet,
        });
    }
    for (name, h) in &sc.hosts {
        let mut interfaces = Vec::new();
        for (seg, addr) in h.on.get_ref() {
            let address = if addr == "none" {
                topology::Address::None
            } else {
                let a: Ipv4Addr = addr
                    .parse()
                    .map_err(|_| format!("hosts.{name}.on.{seg}: bad address"))?;
                topology::Address::Static {
                    address: a,
                    prefix_len: None,
                }
            };
            interfaces.push(topology::Interface {
                segment: seg.clone(),
                address,
                arp: if h.arp {
                    topology::Arp::On
                } else {
                    topology::Arp::Off
                },
                mac: None,
            });
        }
        let mut routes = Vec::new();
        for r in &h.routes {
            routes.push(topology::Route {
                destination: r
                    .to
                    .parse()
                    .map_err(|e: String| format!("hosts.{name}.routes: {e}"))?,
                via: r.via,
            });
        }
        t.hosts.push(topology::Host {
            name: name.clone(),
            interfaces,
            forwarding: h.forwarding,
            routes,
            neighbours: vec![],
            hostname: None,
        });
    }
    t.validate().map_err(|e| e.to_string())?;
    Ok(t)
}

/// The lab's names for addresses: every host interface's MAC and static address.
pub fn names_of(t: &Topology) -> Names {
    let mut n = Names::default();
    for h in &t.hosts {
        for (i, iface) in h.interfaces.iter().enumerate() {
            n.macs.insert(h.mac(i).0, h.name.clone());
            if let topology::Address::Static { address, .. } = iface.address {
                n.ips.insert(address, h.name.clone());
            }
        }
    }
    n
}

/// Deterministic file content for `[files]`: a boot image the TFTP scenarios download.
pub fn file_content(name: &str, size: usize) -> Vec<u8> {
    let mut x = crate::roles::ours::fnv(name) | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A started role.
struct Running {
    kind: RoleKind,
    /// The clock it runs on: ours scaled by the scenario's `time-scale`, a peer in real time.
    clock: Clock,
    process: Process,
    profile: Option<crate::roles::profile::Rendered>,
    /// When its process was started: the monotonic instant its log lines are stamped in, and
    /// the same moment since the Unix epoch (the capture's clock).
    spawned: (Instant, Duration),
}

impl Running {
    /// When the lab read the role's ready line, since the Unix epoch.
    fn ready_at(&self) -> Option<Duration> {
        self.line_read_at(|l| match &self.profile {
            Some(p) => crate::roles::peer::is_ready_line(p, &l.text),
            None => line_events(&None, l.stream, &l.text)
                .iter()
                .any(|e| e.get("event").and_then(|v| v.as_str()) == Some("ready")),
        })
    }

    /// When the lab read the line in which a peer DHCP client said its own start-up wait began
    /// ([`Profile::start_wait_log`](crate::roles::profile::Profile::start_wait_log)), since the
    /// Unix epoch.
    fn start_wait_at(&self) -> Option<Duration> {
        let p = self.profile.as_ref()?;
        self.line_read_at(|l| p.start_wait_on_line(&l.text))
    }

    /// When the lab read the role's first output line that `is` true of, since the Unix epoch.
    fn line_read_at(&self, is: impl Fn(&LogLine) -> bool) -> Option<Duration> {
        let line = self.process.history().into_iter().find(|l| is(l))?;
        Some(self.spawned.1 + line.at.saturating_duration_since(self.spawned.0))
    }

    /// Events this role printed so far (ours: JSON lines on stdout; peers: the profile's rules).
    fn events(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for l in self.process.history() {
            out.extend(line_events(&self.profile, l.stream, &l.text));
        }
        out
    }
}

fn line_events(
    profile: &Option<crate::roles::profile::Rendered>,
    stream: Stream,
    text: &str,
) -> Vec<serde_json::Value> {
    match profile {
        Some(p) => crate::roles::peer::line_events(p, stream, text),
        None if stream == Stream::Stdout => bootlab_net::events::parse(text)
            .map(|(_, e)| vec![e])
            .unwrap_or_default(),
        None => Vec::new(),
    }
}

fn matches(e: &serde_json::Value, name: &str, with: &toml::Table) -> bool {
    if e.get("event").and_then(|x| x.as_str()) != Some(name) {
        return false;
    }
    with.iter().all(|(k, want)| {
        let got = e.get(k);
        match (want, got) {
            (toml::Value::String(w), Some(serde_json::Value::String(g))) => w == g,
            (toml::Value::Integer(w), Some(g)) => g.as_i64() == Some(*w),
            (toml::Value::Boolean(w), Some(g)) => g.as_bool() == Some(*w),
            _ => false,
        }
    })
}

/// ` with address=192.0.2.100` for a wait's `with` table (empty when none).
fn with_text(with: &toml::Table) -> String {
    if with.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = with.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(" with {}", parts.join(", "))
}

/// One event as `name {fields}` without the `event` key, cut to a readable length.
fn event_text(e: &serde_json::Value) -> String {
    let name = e.get("event").and_then(|x| x.as_str()).unwrap_or("?");
    let mut fields = e.clone();
    if let Some(o) = fields.as_object_mut() {
        o.remove("event");
    }
    let f = fields.to_string();
    let f = if f == "{}" {
        String::new()
    } else {
        format!(" {f}")
    };
    let mut t = format!("{name}{f}");
    if t.len() > 160 {
        let mut cut = 157;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        t.truncate(cut);
        t.push_str("...");
    }
    t
}

/// What was observed when a wait failed: the role's own events (those named like the awaited
/// one first, with their fields: "bound" with another address), whether it has exited and how,
/// the tail of its stderr, and the latest events of the other roles (a TFTP server's `refused`).
fn observed(running: &HashMap<String, Running>, role: &str, event: &str) -> String {
    let mut parts = Vec::new();
    if let Some(r) = running.get(role) {
        let events = r.events();
        let same: Vec<String> = events
            .iter()
            .filter(|e| e.get("event").and_then(|x| x.as_str()) == Some(event))
            .map(event_text)
            .collect();
        if !same.is_empty() {
            parts.push(format!("{role} reported {}", same.join("; ")));
        }
        let last: Vec<String> = events.iter().rev().take(4).rev().map(event_text).collect();
        if last.is_empty() {
            parts.push(format!("{role} reported no events"));
        } else {
            parts.push(format!("{role}'s last events: {}", last.join("; ")));
        }
        match r.process.try_status() {
            Some(st) => parts.push(format!("{role} exited ({st})")),
            None => parts.push(format!("{role} still running")),
        }
        let tail: Vec<String> = r
            .process
            .history()
            .iter()
            .filter(|l| l.stream == Stream::Stderr && !l.text.trim().is_empty())
            .rev()
            .take(3)
            .map(|l| l.text.trim().to_string())
            .collect();
        if !tail.is_empty() {
            let tail: Vec<String> = tail.into_iter().rev().collect();
            parts.push(format!("{role}'s stderr ends: {}", tail.join(" | ")));
        }
    }
    let mut others: Vec<&String> = running.keys().filter(|n| n.as_str() != role).collect();
    others.sort();
    for name in others {
        let events = running[name].events();
        let notable: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| {
                !matches!(
                    e.get("event").and_then(|x| x.as_str()),
                    Some("ready" | "stopped")
                )
            })
            .collect();
        let last: Vec<String> = notable
            .iter()
            .skip(notable.len().saturating_sub(2))
            .map(|e| event_text(e))
            .collect();
        if !last.is_empty() {
            parts.push(format!("{name}: {}", last.join("; ")));
        }
    }
    parts.join("; ")
}

/// ` (sent by HOST)` for frame `number` of `segment`, when the lab knows its sender.
fn sent_by(trace: &Trace, segment: &str, number: usize) -> String {
    trace
        .frames
        .iter()
        .find(|f| f.segment == segment && f.number == number)
        .and_then(|f| f.decoded.eth.as_ref())
        .and_then(|e| trace.names.macs.get(&e.src_addr.0))
        .map(|h| format!(" (sent by {h})"))
        .unwrap_or_default()
}

/// Why a scenario cannot run on this machine, decided before building anything: a program it
/// `needs` is missing, the guest's packages are not unpacked ([`crate::world::guest`]) — both
/// [`Verdict::Skipped`] —, or a third-party implementation a role uses is not installed
/// ([`Verdict::NotInstalled`]) or needs root in a rootless run ([`Verdict::NeedsRoot`]). None of
/// these is a failure: the lab did not try.
fn not_runnable_here(sc: &Scenario, opts: &Options) -> Option<(Verdict, Vec<String>)> {
    let mut missing: Vec<String> = sc
        .missing_needs()
        .iter()
        .map(|n| format!("needs {} (Debian package {})", n.program, n.package))
        .collect();
    let peers = crate::roles::profile::peers_dir();
    if sc.files.values().any(|f| f.guest.is_some()) {
        missing.extend(crate::world::guest::missing(&peers).map(|why| format!("needs {why}")));
    }
    if !missing.is_empty() {
        return Some((Verdict::Skipped, missing));
    }
    let imps: Vec<String> = sc
        .roles
        .values()
        .map(|r| implementation(r, opts))
        .filter(|i| i != "ours")
        .collect();
    if imps.is_empty() {
        return None;
    }
    let set = ProfileSet::load_default().ok()?;
    let mut needs_root = Vec::new();
    for imp in imps {
        let Ok(p) = set.get(&imp) else { continue };
        if let crate::roles::profile::Installation::NotInstalled { binary, package } =
            p.installation(&peers)
        {
            return Some((
                Verdict::NotInstalled,
                vec![format!(
                    "{imp}: {} missing (Debian package {package})",
                    binary.display()
                )],
            ));
        }
        if opts.rootless && p.needs_root {
            needs_root.push(format!(
                "{imp} needs root: {}",
                p.needs_root_reason.clone().unwrap_or_default()
            ));
        }
    }
    (!needs_root.is_empty()).then_some((Verdict::NeedsRoot, needs_root))
}

/// Runs one scenario once and judges it.
pub async fn run(sc: &Scenario, opts: &Options, repetition: u32) -> ScenarioResult {
    let started = Instant::now();
    let implementation = label(sc, opts);
    let mut dirname = sc.name.clone();
    if implementation != "ours" {
        dirname.push('@');
        dirname.push_str(&implementation.replace(['=', ','], "-"));
    }
    if repetition > 1 {
        dirname.push_str(&format!("#{repetition}"));
    }
    let artifacts = opts.out.join(dirname);
    let mut result = ScenarioResult {
        scenario: sc.name.clone(),
        implementation,
        repetition,
        verdict: Verdict::Pass,
        duration: Duration::ZERO,
        failures: vec![],
        rules: vec![],
        artifacts: artifacts.clone(),
    };
    if let Some((verdict, why)) = not_runnable_here(sc, opts) {
        result.verdict = verdict;
        result.failures = why;
        return result;
    }
    match tokio::time::timeout(sc.timeout(), run_inner(sc, opts, &artifacts, &mut result)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            result.verdict = Verdict::Error;
            result.failures.insert(0, e.to_string());
        }
        Err(_) => {
            result.verdict = Verdict::Error;
            result.failures.insert(
                0,
                format!(
                    "the run exceeded the scenario's timeout of {}",
                    sc.timeout.get_ref()
                ),
            );
        }
    }
    if result.verdict == Verdict::Pass && !result.failures.is_empty() {
        // A step failed before judging (e.g. the lab could not read a capture).
        result.verdict = Verdict::Fail;
    }
    result.duration = started.elapsed();
    let _ = std::fs::write(
        artifacts.join("result.json"),
        crate::report::json(std::slice::from_ref(&result)),
    );
    let _ = crate::report::html::write_run(&result, &sc.about);
    result
}

/// A scenario's world, built, with its files written, the hosts' sysctls and setup commands
/// applied, and the implementation of each role decided (roles in start order).
struct Stage {
    world: World,
    topology: Topology,
    files: PathBuf,
    plans: Vec<(String, String)>,
    profiles: Option<ProfileSet>,
}

/// Builds a scenario's world in `dir` (emptied first), ready for its roles.
async fn stage(sc: &Scenario, opts: &Options, dir: &Path) -> Result<Stage, RunError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    // Paths handed to roles are absolute and free of `..` (nfs-ganesha refuses an export path
    // with `..` in it: "Lookup failed on path ... Permission denied").
    let dir = &dir.canonicalize()?;
    let files = dir.join("files");
    std::fs::create_dir_all(&files)?;
    let mut guest = None;
    for (name, f) in &sc.files {
        let p = files.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match (f.size, &f.text, f.guest) {
            (Some(size), _, _) => std::fs::write(p, file_content(name, size))?,
            (_, Some(text), _) => std::fs::write(p, text)?,
            (_, _, Some(part)) => {
                use crate::world::guest;
                if guest.is_none() {
                    guest = Some(
                        guest::Sources::find(&crate::roles::profile::peers_dir())
                            .map_err(|e| RunError::Lab(e.to_string()))?,
                    );
                }
                if let Some(src) = &guest {
                    guest::write(part, src, &p).map_err(|e| RunError::Lab(e.to_string()))?;
                }
            }
            _ => {}
        }
    }
    let topology = topology_of(sc).map_err(RunError::Lab)?;
    let world = World::build(&topology, dir, sc.seed)
        .await
        .map_err(|e| RunError::Lab(e.to_string()))?;

    for (host, h) in &sc.hosts {
        for (key, value) in &h.sysctl {
            let path = PathBuf::from("/proc/sys").join(key);
            let value = value.clone();
            world
                .in_host(host, move || {
                    std::fs::write(&path, value.as_bytes()).map_err(|e| {
                        bootlab_sys::Error::new("sysctl", path.display().to_string(), e)
                    })
                })
                .await
                .map_err(|e| RunError::Lab(format!("hosts.{host}.sysctl.{key}: {e}")))?;
        }
    }
    for (host, h) in &sc.hosts {
        for (segment, rules) in &h.impair {
            let rules = crate::plan::impairment::Impairment {
                rules: rules.clone(),
            };
            world
                .set_impairment(segment, host, rules)
                .await
                .map_err(|e| RunError::Lab(format!("hosts.{host}.impair.{segment}: {e}")))?;
        }
    }
    for (host, h) in &sc.hosts {
        for (i, argv) in h.setup.iter().enumerate() {
            let spec = ProcessSpec {
                argv: argv.clone(),
                env: vec![],
                cwd: None,
                name: format!("setup-{i}"),
            };
            let p = world
                .spawn(host, spec)
                .map_err(|e| RunError::Lab(format!("hosts.{host}.setup[{i}]: {e}")))?;
            let status = p
                .wait_timeout(Duration::from_secs(10))
                .await
                .map_err(|e| RunError::Lab(format!("hosts.{host}.setup[{i}]: {e}")))?;
            if !status.success() {
                return Err(RunError::Lab(format!(
                    "hosts.{host}.setup[{i}] {argv:?} failed ({status}); see {}",
                    p.stderr_path().display()
                )));
            }
        }
    }
    // Decide implementations first: a role a peer cannot fill makes the run n/a, not a failure.
    let profiles = ProfileSet::load_default().ok();
    let mut plans: Vec<(String, String)> = sc
        .roles
        .iter()
        .map(|(n, r)| (n.clone(), implementation(r, opts)))
        .collect();
    plans.sort_by_key(|(n, _)| (sc.roles[n].kind.get_ref().start_rank(), n.clone()));

    Ok(Stage {
        world,
        topology,
        files,
        plans,
        profiles,
    })
}

/// Builds a scenario's world in `dir`, starts the roles that start by themselves, and runs
/// `inside` with the world while they run and the segments are captured; then stops the roles
/// and the world, whatever `inside` returned. The scenario's steps are not run. For
/// `bootlab shell`.
pub async fn around<T>(
    sc: &Scenario,
    opts: &Options,
    dir: &Path,
    inside: impl AsyncFnOnce(&World, &Topology) -> T,
) -> Result<(T, crate::world::capture::CaptureReport), RunError> {
    let st = stage(sc, opts, dir).await?;
    let dir = &dir.canonicalize()?;
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut started = Ok(());
    for (name, imp) in &st.plans {
        if sc.roles[name].autostart {
            started = start_role(
                sc,
                opts,
                &st.world,
                dir,
                &st.files,
                name,
                imp,
                st.profiles.as_ref(),
                &mut running,
            )
            .await;
            if started.is_err() {
                break;
            }
        }
    }
    let value = match started {
        Ok(()) => Some(inside(&st.world, &st.topology).await),
        Err(_) => None,
    };
    for r in running.values() {
        r.process.stop(Duration::from_secs(2)).await;
    }
    let report = st
        .world
        .shutdown()
        .await
        .map_err(|e| RunError::Lab(e.to_string()))?;
    started?;
    match value {
        Some(v) => Ok((v, report)),
        None => Err(RunError::Lab("no role was started".into())),
    }
}

async fn run_inner(
    sc: &Scenario,
    opts: &Options,
    dir: &Path,
    result: &mut ScenarioResult,
) -> Result<(), RunError> {
    let Stage {
        world,
        topology: topo,
        files,
        plans,
        profiles,
    } = stage(sc, opts, dir).await?;
    let dir = &dir.canonicalize()?;
    let names = names_of(&topo);

    let mut running: HashMap<String, Running> = HashMap::new();
    let outcome = async {
        for (name, imp) in &plans {
            if sc.roles[name].autostart {
                start_role(
                    sc,
                    opts,
                    &world,
                    dir,
                    &files,
                    name,
                    imp,
                    profiles.as_ref(),
                    &mut running,
                )
                .await?;
            }
        }
        for (i, step) in sc.steps.iter().enumerate() {
            if let Err(why) = do_step(
                sc,
                opts,
                &world,
                dir,
                &files,
                &plans,
                profiles.as_ref(),
                &mut running,
                step,
            )
            .await?
            {
                result
                    .failures
                    .push(format!("step {} failed: {why}", i + 1));
                break;
            }
        }
        Ok::<(), RunError>(())
    };
    let (outcome, interrupted) = tokio::select! {
        r = outcome => (r, false),
        () = opts.interrupt.wait() => (Ok(()), true),
    };

    // Let frames already sent reach the capture (the impairment wire forwards in user space),
    // then stop every role and the world; judge what was captured even after a failed step.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut events = Vec::new();
    let mut roles = HashMap::new();
    for (name, r) in &running {
        debug(&format!("stopping {name}"));
        let grace = if interrupted {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(2)
        };
        r.process.stop(grace).await;
        roles.insert(
            name.clone(),
            RoleInfo {
                kind: r.kind,
                host: sc.roles[name].host.get_ref().clone(),
                clock: r.clock,
                started: Some(r.spawned.1),
                ready: r.ready_at(),
                start_wait: r.start_wait_at(),
                start_delay_by_lab: r.kind == RoleKind::DhcpClient
                    && match &r.profile {
                        None => !crate::roles::own_start_delay(&sc.roles[name].config),
                        Some(p) => p.start_delay_shortened,
                    },
                secs_threshold: sc.roles[name]
                    .config
                    .get("secs-threshold")
                    .and_then(|v| v.as_integer())
                    .and_then(|v| u16::try_from(v).ok())
                    .filter(|v| *v > 0),
            },
        );
    }
    let mut names_sorted: Vec<&String> = running.keys().collect();
    names_sorted.sort();
    for name in names_sorted {
        for e in running[name].events() {
            let ev = e
                .get("event")
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_string();
            events.push(RoleEvent {
                role: name.clone(),
                name: ev,
                fields: e,
            });
        }
    }
    debug("world shutdown");
    let report = world
        .shutdown()
        .await
        .map_err(|e| RunError::Lab(e.to_string()))?;
    debug("world down");
    outcome?;
    if interrupted {
        result.verdict = Verdict::Interrupted;
        result.failures.push(format!(
            "interrupted by a signal; the captures so far are in {}",
            dir.display()
        ));
        return Ok(());
    }
    let mut frames = Vec::new();
    for seg in &report.segments {
        if seg.kernel_drops > 0 {
            result.verdict = Verdict::Error;
            result.failures.push(format!(
                "capture on {} lost {} frames (kernel drops)",
                seg.segment, seg.kernel_drops
            ));
        }
        frames.extend(
            read_pcap(&seg.segment, &seg.pcap)
                .map_err(|e| RunError::Lab(format!("{}: {e}", seg.pcap.display())))?,
        );
    }
    let epoch = rebase(&mut frames);
    debug("pcaps read");
    let trace = Trace {
        frames,
        names,
        events,
        roles,
        epoch,
    };
    let text = trace.normalized(sc.collapse);
    std::fs::write(dir.join("trace.txt"), &text)?;
    std::fs::write(
        dir.join("trace-annotated.txt"),
        trace.annotated(sc.collapse),
    )?;

    // Rules first: whether the run may be accepted as a golden file depends on them.
    let steps_failed = !result.failures.is_empty();
    let mut rule_failures = Vec::new();
    let outcomes = rules::evaluate(&trace);
    for (rule, outcome) in &outcomes {
        let (rule, outcome) = (*rule, outcome.clone());
        let expected = sc.expect.rules.get(rule.id).map(|s| s.get_ref().clone());
        let detail = match &outcome {
            Outcome::Fail(v) => Some(format!(
                "{} frame {}{}: {}",
                v.segment,
                v.frame,
                sent_by(&trace, &v.segment, v.frame),
                v.message
            )),
            Outcome::NotApplicable
                if result.implementation != "ours"
                    && expected.as_ref().is_some_and(|e| e.outcome() == "pass") =>
            {
                Some("expected pass on ours; not exercised by this implementation".into())
            }
            _ => None,
        };
        let problem = match (expected.as_ref().map(|e| e.outcome()), &outcome) {
            (Some("pass"), Outcome::Pass) | (Some("fail"), Outcome::Fail(_)) => None,
            (None, Outcome::Fail(_)) => Some(format!(
                "violates {} ({}) at {}",
                rule.id,
                rule.source,
                detail.as_deref().unwrap_or_default()
            )),
            (None, _) => None,
            // Ours must exercise what the scenario is about. A third-party implementation that
            // does not (no windowsize, no INIT-REBOOT) broke no rule: its rule stays n/a, with
            // the note, and the golden comparison shows how it behaved instead.
            (Some("pass"), Outcome::NotApplicable) if result.implementation != "ours" => None,
            (Some("pass"), Outcome::NotApplicable) => Some(format!(
                "rule {} ({}): expected pass, but nothing in the trace exercised it (n/a)",
                rule.id, rule.source
            )),
            (Some(exp), got) => Some(format!(
                "rule {} ({}): expected {exp}{}, got {}{}",
                rule.id,
                rule.source,
                expected
                    .as_ref()
                    .and_then(|e| e.why())
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default(),
                got.word(),
                detail
                    .as_deref()
                    .map(|d| format!(" at {d}"))
                    .unwrap_or_default()
            )),
        };
        rule_failures.extend(problem);
        let (segment, frame) = match &outcome {
            Outcome::Fail(v) => (Some(v.segment.clone()), (v.frame > 0).then_some(v.frame)),
            _ => (None, None),
        };
        result.rules.push(RuleResult {
            id: rule.id.to_string(),
            outcome: outcome.word().into(),
            expected: expected.as_ref().map(|e| e.outcome().to_string()),
            detail,
            segment,
            frame,
        });
    }
    let judged_failing = steps_failed || !rule_failures.is_empty();
    result.failures.extend(rule_failures);

    // Then the golden file: ours, or the implementation's own when it has one.
    let mut golden_verdict = None;
    if sc.expect.golden {
        let imp = (result.implementation != "ours").then_some(result.implementation.as_str());
        let own = golden::own_path(&opts.golden, &sc.name, imp);
        let path = golden::path_for(&opts.golden, &sc.name, imp);
        let is_own = path == own;
        let cmp = golden::compare(&path, &text)?;
        if opts.accept {
            if judged_failing {
                result.failures.push(format!(
                    "--accept refused: the run's steps or rules failed, so {} was left as it was",
                    own.display()
                ));
            } else if cmp != Comparison::Same {
                golden::accept(&own, &text)?;
                eprintln!("accepted {}", own.display());
            }
        } else {
            match cmp {
                Comparison::Same => golden::clear_pending(&own),
                Comparison::Missing(p) => {
                    let pending = golden::write_pending(&own, &text)?;
                    result.failures.push(format!(
                        "no golden file {}; this run's trace is in {} (accept it with `bootlab review`)",
                        p.display(),
                        pending.display()
                    ));
                    golden_verdict = Some(Verdict::Changed);
                }
                Comparison::Differs { path, diff } => {
                    let pending = golden::write_pending(&own, &text)?;
                    // The report shows golden and actual side by side.
                    let golden = golden::contents(&std::fs::read_to_string(&path)?);
                    std::fs::write(dir.join(crate::report::artifacts::GOLDEN), golden)?;
                    if is_own {
                        result.failures.push(format!(
                            "trace differs from {} (pcaps in {}; pending {}):\n{diff}",
                            path.display(),
                            dir.display(),
                            pending.display()
                        ));
                        golden_verdict = Some(Verdict::Changed);
                    } else {
                        result.failures.push(format!(
                            "trace differs from ours ({}); no reviewed golden file of its own yet \
                             (pending {}):\n{diff}",
                            path.display(),
                            pending.display()
                        ));
                        golden_verdict = Some(Verdict::Differs);
                    }
                }
            }
        }
    }
    debug("golden compared");
    result.verdict = if judged_failing || (opts.accept && !result.failures.is_empty()) {
        Verdict::Fail
    } else {
        golden_verdict.unwrap_or(Verdict::Pass)
    };
    let rules_text: String = result
        .rules
        .iter()
        .map(|r| {
            format!(
                "{} {}{}\n",
                r.id,
                r.outcome,
                r.detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    std::fs::write(dir.join("rules.txt"), rules_text)?;
    crate::report::artifacts::write(sc, &topo, &trace, &outcomes, &report, dir)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn start_role(
    sc: &Scenario,
    opts: &Options,
    world: &World,
    dir: &Path,
    files: &Path,
    name: &str,
    imp: &str,
    profiles: Option<&ProfileSet>,
    running: &mut HashMap<String, Running>,
) -> Result<(), RunError> {
    let role = &sc.roles[name];
    let host = role.host.get_ref();
    let kind = *role.kind.get_ref();
    let state = dir.join(host).join(name);
    std::fs::create_dir_all(&state)?;
    let config = crate::roles::ours::config(sc, name, role, files, &state);
    let rerr = |why: String| RunError::Role {
        role: name.to_string(),
        why,
    };
    let (spec, profile) = if imp == "ours" {
        let sub = kind.our_subcommand().ok_or_else(|| {
            rerr(format!(
                "bootlab has no {kind} of its own: the role must name a profile (implementation)"
            ))
        })?;
        let mut argv = vec![opts.exe.to_string_lossy().into_owned(), sub.into()];
        if kind.our_config_is_flags() {
            argv.extend(crate::roles::ours::flags(kind, &config, &state));
        } else {
            let path = state.join("config.toml");
            std::fs::write(
                &path,
                toml::to_string(&config).map_err(|e| rerr(e.to_string()))?,
            )?;
            argv.extend(["--config".to_string(), path.to_string_lossy().into_owned()]);
        }
        (
            ProcessSpec {
                argv,
                env: vec![("RUST_LOG".into(), "info".into())],
                cwd: Some(state.clone()),
                name: name.to_string(),
            },
            None,
        )
    } else {
        let set = profiles.ok_or_else(|| rerr("no profiles directory".into()))?;
        let launch =
            crate::roles::peer::prepare_role(sc, name, set, imp, &config, &state).map_err(rerr)?;
        (launch.spec, Some(launch.rendered))
    };
    if kind.is_client() {
        if imp != "ours" {
            start_of_a_second(ClockId::CLOCK_MONOTONIC).await;
        } else if !running.values().any(|r| r.kind.is_client())
            && running
                .values()
                .any(|r| r.kind.is_server() && r.profile.is_some())
        {
            // Our first client facing a peer server: the server stamps leases in whole seconds
            // of real time (ISC dhcpd's `cur_time`), so a client that comes back within the
            // second (INIT-REBOOT) sees the same remaining lease time every run.
            start_of_a_second(ClockId::CLOCK_REALTIME).await;
        }
    }
    let spawned = (
        Instant::now(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
    );
    let process = world.spawn(host, spec).map_err(|e| rerr(e.to_string()))?;
    if kind.waits_ready() {
        let ready = match &profile {
            None => process
                .wait_for_ready_event(Duration::from_secs(10))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Some(r) => crate::roles::peer::wait_ready(r, &process, Duration::from_secs(10)).await,
        };
        if let Err(e) = ready {
            return Err(rerr(format!(
                "not ready: {e} (see {})",
                process.stderr_path().display()
            )));
        }
    }
    running.insert(
        name.to_string(),
        Running {
            kind,
            clock: if imp == "ours" && kind.our_clock_is_scaled() {
                Clock::Scaled(sc.time_scale)
            } else if imp == "ours" {
                Clock::Scaled(1.0)
            } else {
                Clock::Real
            },
            process,
            profile,
            spawned,
        },
    );
    Ok(())
}

/// Waits until just after `clock` ticks to a new whole second (at most a second).
///
/// `CLOCK_MONOTONIC`, for peer clients: they run on real time and count `secs` (RFC 2131 §4.1) in whole seconds of that
/// clock (busybox udhcpc: `monotonic_sec()`). Started at an arbitrary phase, a fast exchange
/// sometimes straddles a tick, and a client that computes `secs` afresh for its REQUEST then
/// differs from its DISCOVER (CLI-SECS-04) in one run and not the next. Started just after a
/// tick, an exchange of under a second never straddles one, so the verdict is the same every run;
/// scenarios that delay a reply past a second (cli-offer-delayed) still show the behaviour.
///
/// `CLOCK_REALTIME`, for our first client facing a peer server that counts lease times in whole
/// seconds of the wall clock (ISC dhcpd ACKs an INIT-REBOOT with the binding's remaining time,
/// 599 rather than 600 when a second ticked between the two ACKs).
async fn start_of_a_second(clock: ClockId) {
    use nix::time::clock_gettime;
    /// How far into the new second the client starts: past the tick, before anything can
    /// have reached the next one.
    const AFTER_TICK: Duration = Duration::from_millis(20);
    let Ok(now) = clock_gettime(clock) else {
        return;
    };
    let into = Duration::from_nanos(now.tv_nsec().max(0) as u64);
    if into >= AFTER_TICK && into < Duration::from_millis(100) {
        return;
    }
    let wait = if into < AFTER_TICK {
        AFTER_TICK - into
    } else {
        Duration::from_secs(1) - into + AFTER_TICK
    };
    tokio::time::sleep(wait).await;
}

/// Runs one step: `Ok(Err(why))` is a failed expectation, `Err` a lab failure.
#[allow(clippy::too_many_arguments)]
async fn do_step(
    sc: &Scenario,
    opts: &Options,
    world: &World,
    dir: &Path,
    files: &Path,
    plans: &[(String, String)],
    profiles: Option<&ProfileSet>,
    running: &mut HashMap<String, Running>,
    step: &crate::plan::scenario::Step,
) -> Result<Result<(), String>, RunError> {
    if let Some(w) = step.wait.as_ref().or(step.absent.as_ref()) {
        let absent = step.absent.is_some();
        let role = w.role.get_ref();
        let within = parse_duration(w.within.get_ref()).unwrap_or(Duration::from_secs(10));
        let Some(r) = running.get(role) else {
            return Ok(Err(format!("role {role} is not running")));
        };
        let prof = r.profile.clone();
        let waited = Instant::now();
        let waited_for = r
            .process
            .wait_for_line(
                |l| {
                    line_events(&prof, l.stream, &l.text)
                        .iter()
                        .any(|e| matches(e, w.event.get_ref(), &w.with))
                },
                within,
            )
            .await;
        let found = waited_for.is_ok();
        // A role whose output closed cannot report any more: say so, rather than "within 15s"
        // after a fraction of a second.
        let how = match waited_for {
            Err(crate::world::process::ProcessError::Ended { .. }) => format!(
                "ended its output after {:.1} s without reporting",
                waited.elapsed().as_secs_f64()
            ),
            _ => format!(
                "did not report within {} (waited {:.1} s):",
                w.within.get_ref(),
                waited.elapsed().as_secs_f64()
            ),
        };
        return Ok(match (found, absent) {
            (true, false) | (false, true) => Ok(()),
            (false, false) => Err(format!(
                "{role} {how} {:?}{}{}; observed: {}",
                w.event.get_ref(),
                with_text(&w.with),
                last_detail(&r.events()),
                observed(running, role, w.event.get_ref())
            )),
            (true, true) => Err(format!(
                "{role} reported {:?} within {}, which must not happen; observed: {}",
                w.event.get_ref(),
                w.within.get_ref(),
                observed(running, role, w.event.get_ref())
            )),
        });
    }
    if let Some(r) = &step.start {
        let imp = plans
            .iter()
            .find(|(n, _)| n == r.get_ref())
            .map(|(_, i)| i.clone())
            .unwrap_or_else(|| "ours".into());
        start_role(
            sc,
            opts,
            world,
            dir,
            files,
            r.get_ref(),
            &imp,
            profiles,
            running,
        )
        .await?;
        return Ok(Ok(()));
    }
    if let Some(r) = step.stop.as_ref().or(step.kill.as_ref()) {
        if let Some(p) = running.get(r.get_ref()) {
            if step.kill.is_some() {
                p.process.kill();
                p.process.wait().await;
            } else {
                p.process.stop(Duration::from_secs(2)).await;
            }
        }
        return Ok(Ok(()));
    }
    if let Some(s) = &step.sleep {
        tokio::time::sleep(parse_duration(s.get_ref()).unwrap_or_default()).await;
        return Ok(Ok(()));
    }
    if let Some(imp) = &step.impair {
        world
            .set_impairment(
                imp.segment.get_ref(),
                imp.host.get_ref(),
                crate::plan::impairment::Impairment {
                    rules: imp.rules.clone(),
                },
            )
            .await
            .map_err(|e| RunError::Lab(e.to_string()))?;
        return Ok(Ok(()));
    }
    Ok(Ok(()))
}

/// `: DETAIL` from the last event of a role that carries a `detail` (a probe's failed
/// expectation names the frame and the field), or nothing.
fn last_detail(events: &[serde_json::Value]) -> String {
    events
        .iter()
        .rev()
        .find_map(|e| e.get("detail").and_then(|d| d.as_str()))
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

/// Reads a pcap file into decoded frames; `time` is the capture timestamp since the epoch until
/// [`rebase`] makes all segments relative to the run's first frame.
pub fn read_pcap(segment: &str, path: &Path) -> Result<Vec<Frame>, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut reader = pcap_file::pcap::PcapReader::new(f).map_err(|e| e.to_string())?;
    let mut decoder = bootlab_wire::frame::Decoder::new(bootlab_wire::ChecksumPolicy::Verify);
    let mut out = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.map_err(|e| e.to_string())?;
        out.push(Frame {
            segment: segment.to_string(),
            number: out.len() + 1,
            time: pkt.timestamp,
            decoded: decoder.decode(&pkt.data),
        });
    }
    Ok(out)
}

/// Makes every frame's time relative to the first frame of the run, whatever its segment, so
/// times compare across segments; returns that first frame's time (zero without frames).
pub fn rebase(frames: &mut [Frame]) -> Duration {
    let t0 = frames.iter().map(|f| f.time).min().unwrap_or_default();
    for f in frames.iter_mut() {
        f.time = f.time.saturating_sub(t0);
    }
    t0
}

/// Progress lines for people debugging the lab itself (`BOOTLAB_DEBUG=1`).
fn debug(what: &str) {
    if std::env::var_os("BOOTLAB_DEBUG").is_some() {
        eprintln!("[bootlab debug {:?}] {what}", std::time::SystemTime::now());
    }
}

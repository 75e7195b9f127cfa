//! `bootlab bench server`: perfdhcp (Kea's DHCP benchmark tool) against the canned responder
//! (the limit), our server and every installed peer DHCP server, one after the other, each in a
//! fresh two-host world inside the lab's namespaces: `server` and `perf` on one segment.
//!
//! perfdhcp acts as a relay (giaddr = its own address), so every server answers it by UDP
//! unicast to port 67. Its requests are 262 octets, shorter than RFC 1542 §2.1's 300: our server
//! runs with the documented tolerance `min-message-size = 236` (the bench says so). Leases go
//! to disk for everyone (`--state-dir`, default under `out/`): our server journals each batch
//! and syncs it before any of its ACKs leaves; the peers keep theirs as their profiles write them.
//! Captures and logs stay in the lab's private `/run` (a tmpfs), so pcap writing does not compete
//! with the lease syncs for the disk. Bounded: every run lasts `--duration` seconds plus a grace.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::plan::role_kind::RoleKind;
use crate::roles::profile::{Installation, ProfileSet};
use crate::world::process::{Process, ProcessSpec, Stream};
use crate::world::topology::Topology;
use crate::world::{World, WorldError};

/// Arguments of `bootlab bench server`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Distinct clients perfdhcp simulates (`-R`).
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u32).range(1..=65_000))]
    pub clients: u32,
    /// DORA exchanges perfdhcp starts per second (`-r`).
    #[arg(long, default_value_t = 40_000, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub rate: u32,
    /// Seconds of load per server (`-p`).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub duration: u32,
    /// Addresses in the pool (default: one per client, at least 151, at most 240). The segment is
    /// 192.0.2.0/24: test hosts stay in the documentation ranges, so a pool holds at most 240
    /// addresses, and more distinct clients than that meet an exhausted pool.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub pool_size: Option<u32>,
    /// Servers, comma-separated: `canned`, `ours` and peer profiles (default: all installed).
    #[arg(long, value_delimiter = ',')]
    pub servers: Vec<String>,
    /// Runs of each server, interleaved (canned, ours, peers, canned, ours, ...).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub rounds: u32,
    /// Where the lease files (and every server's state) go: a real disk.
    #[arg(long, default_value = "out/bench/state")]
    pub state_dir: PathBuf,
    /// Where captures and logs go (default: a tmpfs mounted in the lab's private mount
    /// namespace, gone at exit).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Record a CPU profile of our server with `perf record -g` (Debian: linux-perf) into
    /// `STATE_DIR/ours-rN/perf.data` and print `perf report`'s top entries.
    #[arg(long)]
    pub perf: bool,
}

/// The host names of the bench world.
const SERVER: &str = "server";
const PERF: &str = "perf";
/// The peer DHCP servers compared, in this order when installed.
const PEERS: &[&str] = &["udhcpd", "dnsmasq", "kea-dhcp4", "isc-dhcpd"];

/// The addressing of the bench segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The segment's network.
    pub network: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The server's address.
    pub server: Ipv4Addr,
    /// perfdhcp's address (its giaddr).
    pub perf: Ipv4Addr,
    /// First pool address.
    pub pool_start: Ipv4Addr,
    /// Last pool address.
    pub pool_end: Ipv4Addr,
}

impl Plan {
    /// A pool of `size` addresses (1 to 240) in 192.0.2.0/24: the lab's test hosts use only the
    /// documentation ranges (RFC 5737), none larger than a /24.
    pub fn for_pool(size: u32) -> Plan {
        let size = size.clamp(1, 240);
        let (network, prefix, first) = (
            Ipv4Addr::new(192, 0, 2, 0),
            24,
            Ipv4Addr::new(192, 0, 2, 10),
        );
        let host = |n: u32| Ipv4Addr::from(u32::from(network) + n);
        Plan {
            network,
            prefix,
            server: host(1),
            perf: host(2),
            pool_start: first,
            pool_end: Ipv4Addr::from(u32::from(first) + size - 1),
        }
    }

    /// `a.b.c.d/len`.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.network, self.prefix)
    }

    /// The netmask.
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::MAX << (32 - u32::from(self.prefix)))
    }

    /// Pool size.
    pub fn pool_size(&self) -> u32 {
        u32::from(self.pool_end) - u32::from(self.pool_start) + 1
    }

    fn topology(&self) -> Result<Topology, toml::de::Error> {
        Topology::from_toml(&format!(
            "[[segments]]\nname = \"lan\"\nsubnet = \"{}\"\n\n\
             [[hosts]]\nname = \"{SERVER}\"\ninterfaces = [{{ segment = \"lan\", address = \"{}\" }}]\n\n\
             [[hosts]]\nname = \"{PERF}\"\ninterfaces = [{{ segment = \"lan\", address = \"{}\" }}]\n",
            self.cidr(),
            self.server,
            self.perf
        ))
    }
}

/// perfdhcp's final report, as far as the bench uses it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerfReport {
    /// "Rate: N 4-way exchanges/second".
    pub rate: Option<f64>,
    /// Per exchange ("DISCOVER-OFFER", "REQUEST-ACK"): sent, received, drops.
    pub exchanges: BTreeMap<String, (u64, u64, u64)>,
}

impl PerfReport {
    /// Parses perfdhcp's (2.2) end-of-run statistics.
    pub fn parse(text: &str) -> PerfReport {
        let mut r = PerfReport::default();
        let mut section: Option<String> = None;
        let num = |s: &str| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        };
        for line in text.lines().map(|l| l.trim().trim_matches('*').trim()) {
            if let Some(rest) = line.strip_prefix("Rate:") {
                r.rate = rest.split_whitespace().next().and_then(|n| n.parse().ok());
            } else if let Some(name) = line.strip_prefix("Statistics for:") {
                section = Some(name.trim().to_string());
            } else if let Some(s) = &section {
                let e = r.exchanges.entry(s.clone()).or_default();
                if let Some(v) = line.strip_prefix("sent packets:").and_then(num) {
                    e.0 = v;
                } else if let Some(v) = line.strip_prefix("received packets:").and_then(num) {
                    e.1 = v;
                } else if let Some(v) = line.strip_prefix("drops:").and_then(num) {
                    e.2 = v;
                }
            }
        }
        r
    }

    /// ACKs received.
    pub fn acks(&self) -> u64 {
        self.exchanges.get("REQUEST-ACK").map_or(0, |e| e.1)
    }
}

/// One server's run.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// `canned`, `ours` or a profile name.
    pub server: String,
    /// perfdhcp's figures.
    pub perf: PerfReport,
    /// Frames captured on the segment, and the capture's kernel drops.
    pub frames: u64,
    /// `PACKET_STATISTICS` drops of the capture socket.
    pub capture_drops: u64,
    /// Receive-buffer drops of the UDP sockets in the server host (`/proc/net/udp`), read
    /// 0.3 s before the end of the load.
    pub server_socket_drops: u64,
    /// ... and in perfdhcp's host.
    pub perf_socket_drops: u64,
    /// Bytes of lease state on disk after the run.
    pub lease_bytes: u64,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Runs the bench (inside the isolated lab, on a tokio runtime).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("current exe")?;
    let set = ProfileSet::load_default().context("profiles")?;
    let servers = chosen_servers(&args, &set)?;
    let plan = Plan::for_pool(args.pool_size.unwrap_or(args.clients.clamp(151, 240)));
    if plan.pool_size() < args.clients {
        eprintln!(
            "bench: pool of {} for {} clients: perfdhcp's later clients get no address",
            plan.pool_size(),
            args.clients
        );
    }
    let cwd = std::env::current_dir()?;
    let state_root = cwd.join(&args.state_dir);
    let run_dir = match &args.run_dir {
        Some(d) => cwd.join(d),
        None => private_tmpfs()?,
    };
    println!(
        "bench server: perfdhcp -R {} -r {} -p {} against {} on {} (pool {}-{}, {} addresses); \
         our server with min-message-size = 236 (perfdhcp sends 262-octet requests; RFC 1542 §2.1 \
         default is 300) and its lease journal synced before each batch of ACKs",
        args.clients,
        args.rate,
        args.duration,
        servers.join(", "),
        plan.cidr(),
        plan.pool_start,
        plan.pool_end,
        plan.pool_size()
    );
    let mut all: Vec<(u32, Outcome)> = Vec::new();
    for round in 1..=args.rounds {
        for s in &servers {
            let dirs = (run_dir.as_path(), state_root.as_path());
            let o = one(&args, &exe, &set, &plan, s, round, dirs).await;
            println!("{}", line(round, &o));
            all.push((round, o));
        }
    }
    print!("{}", summary(&all, &servers));
    if args.run_dir.is_none() {
        let _ = nix::mount::umount(&run_dir);
        let _ = std::fs::remove_dir(&run_dir);
    }
    Ok(())
}

/// A tmpfs for captures and logs, mounted in the lab's private mount namespace (the hosts'
/// namespaces are copies of it, so they see it; it is gone when the lab exits).
pub fn private_tmpfs() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("bootlab-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    bootlab_sys::ns::mount_tmpfs(&dir).with_context(|| format!("tmpfs on {}", dir.display()))?;
    Ok(dir)
}

fn chosen_servers(args: &Args, set: &ProfileSet) -> anyhow::Result<Vec<String>> {
    let installed = |p: &str| {
        set.get(p).is_ok_and(|pr| {
            pr.fills(RoleKind::DhcpServer)
                && matches!(
                    pr.installation(&crate::roles::profile::peers_dir()),
                    Installation::Installed(_)
                )
        })
    };
    if args.servers.is_empty() {
        let mut v = vec!["canned".to_string(), "ours".to_string()];
        v.extend(PEERS.iter().filter(|p| installed(p)).map(|p| p.to_string()));
        return Ok(v);
    }
    for s in &args.servers {
        if s != "canned" && s != "ours" && !installed(s) {
            bail!("--servers {s}: not a DHCP server profile installed here");
        }
    }
    Ok(args.servers.clone())
}

/// Starts `server` in a fresh world, runs perfdhcp against it, stops everything.
async fn one(
    args: &Args,
    exe: &Path,
    set: &ProfileSet,
    plan: &Plan,
    server: &str,
    round: u32,
    (run_root, state_root): (&Path, &Path),
) -> Outcome {
    let mut o = Outcome {
        server: server.to_string(),
        ..Outcome::default()
    };
    let run_dir = run_root.join(format!("{server}-r{round}"));
    let state = state_root.join(format!("{server}-r{round}"));
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&run_dir);
    let world = match plan.topology() {
        Ok(t) => World::build(&t, &run_dir, u64::from(round)).await,
        Err(e) => {
            o.error = Some(format!("topology: {e}"));
            return o;
        }
    };
    let world = match world {
        Ok(w) => w,
        Err(e) => {
            o.error = Some(format!("world: {e}"));
            return o;
        }
    };
    match drive(args, exe, set, plan, server, &world, &state, &mut o).await {
        Ok(()) => {}
        Err(e) => o.error = Some(format!("{e:#}")),
    }
    o.lease_bytes = dir_bytes(&state);
    let report = match world.shutdown().await {
        Ok(r) => Some(r),
        Err(WorldError::CaptureLost { report }) => Some(report),
        Err(e) => {
            o.error.get_or_insert(format!("shutdown: {e}"));
            None
        }
    };
    if let Some(r) = report {
        for s in &r.segments {
            o.frames += s.frames;
            o.capture_drops += s.kernel_drops;
            // The pcap served its purpose (frame and drop counts); it is hundreds of MB.
            let _ = std::fs::remove_file(&s.pcap);
        }
    }
    o
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    args: &Args,
    exe: &Path,
    set: &ProfileSet,
    plan: &Plan,
    server: &str,
    world: &World,
    state: &Path,
    o: &mut Outcome,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(state).with_context(|| format!("create {}", state.display()))?;
    let exe_s = exe.to_string_lossy().into_owned();
    let started = match server {
        "canned" => {
            let p = world.spawn(
                SERVER,
                spec(
                    "canned",
                    vec![
                        exe_s,
                        "bench".into(),
                        "canned".into(),
                        "--server-id".into(),
                        plan.server.to_string(),
                        "--pool-start".into(),
                        plan.pool_start.to_string(),
                        "--pool-size".into(),
                        plan.pool_size().to_string(),
                        "--mask".into(),
                        plan.mask().to_string(),
                    ],
                    state,
                ),
            )?;
            wait_ready_event(&p).await?;
            p
        }
        "ours" => {
            let path = state.join("config.toml");
            std::fs::write(&path, our_config(plan, state))?;
            let p = world.spawn(
                SERVER,
                spec(
                    "ours",
                    vec![
                        exe_s,
                        "server".into(),
                        "--config".into(),
                        path.to_string_lossy().into_owned(),
                    ],
                    state,
                ),
            )?;
            wait_ready_event(&p).await?;
            p
        }
        peer => {
            let launch = crate::roles::peer::prepare(
                set,
                peer,
                RoleKind::DhcpServer,
                &peer_config(plan),
                state,
                peer,
            )
            .map_err(anyhow::Error::msg)?;
            let p = world.spawn(SERVER, launch.spec)?;
            crate::roles::peer::wait_ready(&launch.rendered, &p, Duration::from_secs(20))
                .await
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("{peer} not ready; see {}", p.stderr_path().display()))?;
            p
        }
    };
    let profiler = if args.perf && server == "ours" {
        Some(world.spawn(
            SERVER,
            spec(
                "perf-record",
                vec![
                    "perf".into(),
                    "record".into(),
                    "-g".into(),
                    "-o".into(),
                    state.join("perf.data").to_string_lossy().into_owned(),
                    "-p".into(),
                    started.pid().to_string(),
                    "--".into(),
                    "sleep".into(),
                    (args.duration + 1).to_string(),
                ],
                state,
            ),
        )?)
    } else {
        None
    };
    let perf = world.spawn(PERF, spec("perfdhcp", perfdhcp_argv(args, plan), state))?;
    // The sockets' drop counters, read while perfdhcp still sends (its socket is gone after).
    let sample_at = Duration::from_millis(u64::from(args.duration) * 1000 - 300);
    tokio::time::sleep(sample_at).await;
    o.server_socket_drops = udp_drops(world, SERVER).await.unwrap_or(0);
    o.perf_socket_drops = udp_drops(world, PERF).await.unwrap_or(0);
    let bound = Duration::from_secs(u64::from(args.duration) + 30);
    if perf.wait_timeout(bound).await.is_err() {
        perf.kill();
        bail!("perfdhcp did not finish within {bound:?}");
    }
    let out: String = perf
        .history()
        .into_iter()
        .filter(|l| l.stream == Stream::Stdout)
        .map(|l| l.text + "\n")
        .collect();
    o.perf = PerfReport::parse(&out);
    if let Some(p) = profiler {
        let _ = p.wait_timeout(Duration::from_secs(30)).await;
        println!(
            "perf: {} (perf report -i {} --no-children --percent-limit 2 --stdio)",
            state.join("perf.data").display(),
            state.join("perf.data").display()
        );
    }
    if o.perf.rate.is_none() {
        bail!(
            "no rate in perfdhcp's output; see {}",
            perf.stdout_path().display()
        );
    }
    Ok(())
}

fn spec(name: &str, argv: Vec<String>, cwd: &Path) -> ProcessSpec {
    ProcessSpec {
        argv,
        env: vec![("RUST_LOG".into(), "warn".into())],
        cwd: Some(cwd.to_path_buf()),
        name: name.into(),
    }
}

async fn wait_ready_event(p: &Process) -> anyhow::Result<()> {
    p.wait_for_ready_event(Duration::from_secs(10))
        .await
        .map(|_| ())
        .with_context(|| format!("not ready; see {}", p.stderr_path().display()))
}

/// perfdhcp as a relay from `plan.perf` to the server, `-R` clients at `-r` per second for `-p`
/// seconds.
pub fn perfdhcp_argv(args: &Args, plan: &Plan) -> Vec<String> {
    [
        "/usr/sbin/perfdhcp".to_string(),
        "-4".into(),
        "-l".into(),
        plan.perf.to_string(),
        "-R".into(),
        args.clients.to_string(),
        "-r".into(),
        args.rate.to_string(),
        "-p".into(),
        args.duration.to_string(),
        plan.server.to_string(),
    ]
    .into()
}

/// Our server's configuration for the bench: the documented short-message tolerance, a lease
/// journal on disk, events on (each lease is a stdout line, as the peers log each lease).
pub fn our_config(plan: &Plan, state: &Path) -> String {
    format!(
        "interface = \"eth0\"\n\
         min-message-size = 236\n\
         lease-file = \"{}\"\n\
         lease-time = 3600\n\
         [[subnet]]\n\
         network = \"{}\"\n\
         pools = [\"{}-{}\"]\n",
        state.join("leases.journal").display(),
        plan.cidr(),
        plan.pool_start,
        plan.pool_end
    )
}

/// A peer's parameters ([`crate::roles::profile::RoleParams`] keys): the same pool and lease time, the
/// pre-offer address check off (it would measure the ping timeout).
fn peer_config(plan: &Plan) -> toml::Table {
    let mut t = toml::Table::new();
    let s = |v: String| toml::Value::String(v);
    t.insert("interface".into(), s("eth0".into()));
    t.insert("server_address".into(), s(plan.server.to_string()));
    t.insert("subnet".into(), s(plan.cidr()));
    let mut pool = toml::Table::new();
    pool.insert("start".into(), s(plan.pool_start.to_string()));
    pool.insert("end".into(), s(plan.pool_end.to_string()));
    t.insert("pool".into(), toml::Value::Table(pool));
    t.insert("lease_time".into(), toml::Value::Integer(3600));
    t.insert("conflict_check".into(), toml::Value::Boolean(false));
    t
}

/// The sum of the `drops` column of `host`'s `/proc/net/udp` (receive-buffer overflows).
async fn udp_drops(world: &World, host: &str) -> Result<u64, WorldError> {
    world
        .in_host(host, || {
            let f = "/proc/thread-self/net/udp";
            let t =
                std::fs::read_to_string(f).map_err(|e| bootlab_sys::Error::new("read", f, e))?;
            Ok(t.lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .sum())
        })
        .await
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().to_lowercase();
                    n.contains("lease") && !n.contains("perf")
                })
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn line(round: u32, o: &Outcome) -> String {
    let ex = |k: &str| o.perf.exchanges.get(k).copied().unwrap_or_default();
    let (ds, dr, dd) = ex("DISCOVER-OFFER");
    let (rs, rr, rd) = ex("REQUEST-ACK");
    let mut s = format!(
        "round {round} {:<10} {:>9} DORA/s  DO sent {ds} recv {dr} drops {dd}; RA sent {rs} recv {rr} drops {rd}; \
         frames {} capture drops {}; UDP socket drops server {} perfdhcp {}; lease files {} bytes",
        o.server,
        o.perf.rate.map_or("-".into(), |r| format!("{r:.0}")),
        o.frames,
        o.capture_drops,
        o.server_socket_drops,
        o.perf_socket_drops,
        o.lease_bytes
    );
    if let Some(e) = &o.error {
        let _ = write!(s, "; error: {e}");
    }
    s
}

/// The table: mean DORA/s per server, and ratios against the fastest peer and the canned limit.
pub fn summary(all: &[(u32, Outcome)], servers: &[String]) -> String {
    let mean = |name: &str| {
        let v: Vec<f64> = all
            .iter()
            .filter(|(_, o)| o.server == name)
            .filter_map(|(_, o)| o.perf.rate)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let peers: Vec<(&String, f64)> = servers
        .iter()
        .filter(|s| *s != "canned" && *s != "ours")
        .filter_map(|s| Some((s, mean(s)?)))
        .collect();
    let fastest = peers
        .iter()
        .copied()
        .fold(None, |b: Option<(&String, f64)>, p| match b {
            Some(x) if x.1 >= p.1 => Some(x),
            _ => Some(p),
        });
    let canned = mean("canned");
    let mut s = String::from("\n| server | DORA/s (mean) | runs | x fastest peer | x canned limit |\n|---|---|---|---|---|\n");
    for name in servers {
        let runs: Vec<String> = all
            .iter()
            .filter(|(_, o)| &o.server == name)
            .map(|(_, o)| o.perf.rate.map_or("-".into(), |r| format!("{r:.0}")))
            .collect();
        let m = mean(name);
        let ratio = |d: Option<f64>| match (m, d) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
            _ => "-".into(),
        };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} |",
            m.map_or("-".into(), |v| format!("{v:.0}")),
            runs.join(", "),
            ratio(fastest.map(|f| f.1)),
            ratio(canned)
        );
    }
    if let Some((name, _)) = fastest {
        let _ = writeln!(s, "fastest peer: {name}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_stay_in_documentation_ranges_up_to_a_slash_24() {
        let p = Plan::for_pool(151);
        assert_eq!(p.cidr(), "192.0.2.0/24");
        assert_eq!(p.pool_size(), 151);
        assert_eq!(p.pool_end, Ipv4Addr::new(192, 0, 2, 160));
        let big = Plan::for_pool(60_000);
        assert_eq!(
            big.cidr(),
            "192.0.2.0/24",
            "never outside the documentation ranges"
        );
        assert_eq!(big.pool_size(), 240);
        assert!(big.topology().is_ok_and(|t| t.validate().is_ok()));
    }

    #[test]
    fn perfdhcp_report_is_parsed() {
        let text = "***Rate statistics***\nRate: 10387.5 4-way exchanges/second, expected rate: 40000\n\
            ***Statistics for: DISCOVER-OFFER***\nsent packets: 120000\nreceived packets: 110000\ndrops: 10000\n\
            ***Statistics for: REQUEST-ACK***\nsent packets: 110000\nreceived packets: 103875\ndrops: 6125\n";
        let r = PerfReport::parse(text);
        assert_eq!(r.rate, Some(10387.5));
        assert_eq!(r.exchanges["DISCOVER-OFFER"], (120_000, 110_000, 10_000));
        assert_eq!(r.acks(), 103_875);
    }

    #[test]
    fn our_bench_config_is_valid_and_tolerates_perfdhcp() {
        let plan = Plan::for_pool(240);
        let text = our_config(&plan, Path::new("/tmp/x"));
        let c = bootlab_server::config::Config::parse(&text, Path::new("bench.toml"));
        assert!(c.is_ok_and(|c| c.min_message_size == 236 && c.lease_file.is_some()));
    }
}

//! `bootlab bench storm`: N boot ROMs power on at once behind our relay; each gets its address by
//! BOOTP and downloads a 1 MiB boot file by TFTP. For each server stack (ours, that is `bootlab
//! server` with `bootlab tftpd`; dnsmasq alone; ISC dhcpd with tftpd-hpa; Kea with atftpd), in a
//! fresh world: the time until every ROM has its file, the failures, and how long the world of
//! N+2 hosts took to build and tear down.
//!
//! The ROMs are ours (`bootlab client`, kind `rom`, answering ARP, blksize 1468, no windowsize:
//! every TFTP server here grants blksize, only ours grants windowsize). The relay is ours with
//! `min-message-size = 236`, the documented tolerance that lets Kea's 262-octet replies through
//! (FMT-SIZE-01 would still report them), and `reply-policy = "neighbour"`. Leases go to disk
//! (`--state-dir`); captures, logs and the boot file stay on a tmpfs. Bounded: each ROM gives up
//! after `--give-up` seconds and the run waits no longer than that plus a grace.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::plan::role_kind::RoleKind;
use crate::roles::profile::{Installation, ProfileSet};
use crate::world::process::{Process, ProcessSpec, Stream};
use crate::world::topology::Topology;
use crate::world::{World, WorldError};

/// Arguments of `bootlab bench storm`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Boot ROMs powered on at once.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub clients: u32,
    /// Server stacks, comma-separated: ours, dnsmasq, isc-dhcpd+tftpd-hpa, kea-dhcp4+atftpd
    /// (default: every installed one).
    #[arg(long, value_delimiter = ',')]
    pub stacks: Vec<String>,
    /// Size of the boot file in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub file_size: usize,
    /// Seconds after which a ROM gives up (its `give-up-after`).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(5..=600))]
    pub give_up: u64,
    /// Where the lease files go: a real disk.
    #[arg(long, default_value = "out/bench/storm-state")]
    pub state_dir: PathBuf,
    /// Keep captures, logs and ROM configs here (default: a private tmpfs, gone at exit).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
}

/// The stacks compared, in this order when installed: (DHCP/BOOTP server, TFTP server).
const STACKS: &[(&str, &str)] = &[
    ("ours", "ours"),
    ("dnsmasq", "dnsmasq"),
    ("isc-dhcpd", "tftpd-hpa"),
    ("kea-dhcp4", "atftpd"),
];

const BOOT: &str = "boot";
const ROUTER: &str = "router";
const BOOT_FILE: &str = "boot.img";

/// The addressing: the boot host on 192.0.2.0/24, the ROMs on 198.51.100.0/24 (up to 240 of
/// them: test hosts stay in the documentation ranges, none larger than a /24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The ROMs' network.
    pub network: Ipv4Addr,
    /// Its prefix.
    pub prefix: u8,
    /// The router's (relay's) address there.
    pub router: Ipv4Addr,
    /// Pool.
    pub pool_start: Ipv4Addr,
    /// Pool end.
    pub pool_end: Ipv4Addr,
    /// ROMs.
    pub clients: u32,
}

/// The boot host.
const BOOT_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The router on the boot segment.
const ROUTER_BOOT_SIDE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

impl Plan {
    /// For `clients` ROMs (a pool of `clients` + 5 addresses).
    pub fn new(clients: u32) -> Plan {
        let clients = clients.clamp(1, 240);
        let (network, prefix, first) = (
            Ipv4Addr::new(198, 51, 100, 0),
            24,
            Ipv4Addr::new(198, 51, 100, 10),
        );
        Plan {
            network,
            prefix,
            router: Ipv4Addr::from(u32::from(network) + 1),
            pool_start: first,
            pool_end: Ipv4Addr::from(u32::from(first) + clients + 4),
            clients,
        }
    }

    fn cidr(&self) -> String {
        format!("{}/{}", self.network, self.prefix)
    }

    /// The world: boot host, router, `clients` ROM hosts.
    pub fn topology(&self) -> Result<Topology, toml::de::Error> {
        let mut t = format!(
            "[[segments]]\nname = \"boot\"\nsubnet = \"192.0.2.0/24\"\n\n\
             [[segments]]\nname = \"roms\"\nsubnet = \"{}\"\n\n\
             [[hosts]]\nname = \"{BOOT}\"\ninterfaces = [{{ segment = \"boot\", address = \"{BOOT_ADDR}\" }}]\n\
             routes = [{{ destination = \"{}\", via = \"{ROUTER_BOOT_SIDE}\" }}]\n\n\
             [[hosts]]\nname = \"{ROUTER}\"\nforwarding = true\ninterfaces = [\n\
             {{ segment = \"boot\", address = \"{ROUTER_BOOT_SIDE}\" }},\n\
             {{ segment = \"roms\", address = \"{}\" }},\n]\n\n",
            self.cidr(),
            self.cidr(),
            self.router
        );
        for i in 0..self.clients {
            t += &format!(
                "[[hosts]]\nname = \"rom{i}\"\ninterfaces = [{{ segment = \"roms\" }}]\n\n"
            );
        }
        Topology::from_toml(&t)
    }
}

/// One stack's storm.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// `ours`, `dnsmasq`, `isc-dhcpd+tftpd-hpa`...
    pub stack: String,
    /// ROMs that received the whole file.
    pub booted: u32,
    /// Seconds from the first ROM's start until the last boot file arrived.
    pub all_booted: Option<f64>,
    /// The median ROM's boot time, seconds.
    pub median: Option<f64>,
    /// Seconds spent starting the ROM processes.
    pub spawn: f64,
    /// World build and tear-down, seconds.
    pub build: f64,
    /// Tear-down.
    pub teardown: f64,
    /// Lab failure, if any.
    pub error: Option<String>,
}

/// Runs the storm for every chosen stack.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("current exe")?;
    let set = ProfileSet::load_default().context("profiles")?;
    let stacks = chosen(&args, &set)?;
    let cwd = std::env::current_dir()?;
    let state_root = cwd.join(&args.state_dir);
    let run_root = match &args.run_dir {
        Some(d) => cwd.join(d),
        None => super::server::private_tmpfs()?,
    };
    let plan = Plan::new(args.clients);
    println!(
        "bench storm: {} boot ROMs on {} behind our relay (min-message-size = 236, reply-policy \
         neighbour), each BOOTP then TFTP of a {}-byte file (blksize 1468); stacks: {}",
        args.clients,
        plan.cidr(),
        args.file_size,
        stacks
            .iter()
            .map(|(d, t)| name(d, t))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut outcomes = Vec::new();
    for (dhcp, tftp) in &stacks {
        let o = one(
            &args,
            &exe,
            &set,
            &plan,
            (dhcp, tftp),
            &run_root,
            &state_root,
        )
        .await;
        println!("{}", line(&o, args.clients));
        outcomes.push(o);
    }
    println!("\n| stack | N | booted | all booted (s) | median (s) | world build / teardown (s) |");
    println!("|---|---|---|---|---|---|");
    for o in &outcomes {
        println!(
            "| {} | {} | {} | {} | {} | {:.2} / {:.2} |",
            o.stack,
            args.clients,
            o.booted,
            o.all_booted.map_or("-".into(), |t| format!("{t:.2}")),
            o.median.map_or("-".into(), |t| format!("{t:.2}")),
            o.build,
            o.teardown
        );
    }
    if args.run_dir.is_none() {
        let _ = nix::mount::umount(&run_root);
        let _ = std::fs::remove_dir(&run_root);
    }
    Ok(())
}

fn name(dhcp: &str, tftp: &str) -> String {
    if dhcp == tftp {
        dhcp.to_string()
    } else {
        format!("{dhcp}+{tftp}")
    }
}

fn chosen(args: &Args, set: &ProfileSet) -> anyhow::Result<Vec<(String, String)>> {
    let installed = |p: &str, role: RoleKind| {
        p == "ours"
            || set.get(p).is_ok_and(|pr| {
                pr.fills(role)
                    && matches!(
                        pr.installation(&crate::roles::profile::peers_dir()),
                        Installation::Installed(_)
                    )
            })
    };
    let ok = |(d, t): &(&str, &str)| {
        installed(d, RoleKind::BootpServer) && installed(t, RoleKind::TftpServer)
    };
    if args.stacks.is_empty() {
        return Ok(STACKS
            .iter()
            .filter(|s| ok(s))
            .map(|(d, t)| (d.to_string(), t.to_string()))
            .collect());
    }
    let mut v = Vec::new();
    for s in &args.stacks {
        let Some(found) = STACKS.iter().find(|(d, t)| &name(d, t) == s) else {
            bail!("--stacks {s}: one of ours, dnsmasq, isc-dhcpd+tftpd-hpa, kea-dhcp4+atftpd");
        };
        if !ok(found) {
            bail!("--stacks {s}: not installed here");
        }
        v.push((found.0.to_string(), found.1.to_string()));
    }
    Ok(v)
}

async fn one(
    args: &Args,
    exe: &Path,
    set: &ProfileSet,
    plan: &Plan,
    (dhcp, tftp): (&str, &str),
    run_root: &Path,
    state_root: &Path,
) -> Outcome {
    let stack = name(dhcp, tftp);
    let mut o = Outcome {
        stack: stack.clone(),
        ..Outcome::default()
    };
    let run_dir = run_root.join(&stack);
    let state = state_root.join(&stack);
    let _ = std::fs::remove_dir_all(&state);
    let topo = match plan.topology() {
        Ok(t) => t,
        Err(e) => {
            o.error = Some(format!("topology: {e}"));
            return o;
        }
    };
    let t0 = Instant::now();
    let world = match World::build(&topo, &run_dir, 1).await {
        Ok(w) => w,
        Err(e) => {
            o.error = Some(format!("world: {e}"));
            return o;
        }
    };
    o.build = t0.elapsed().as_secs_f64();
    if let Err(e) = storm(
        args,
        exe,
        set,
        plan,
        (dhcp, tftp),
        &world,
        &run_dir,
        &state,
        &mut o,
    )
    .await
    {
        o.error = Some(format!("{e:#}"));
    }
    let t1 = Instant::now();
    match world.shutdown().await {
        Ok(r) | Err(WorldError::CaptureLost { report: r }) => {
            if args.run_dir.is_none() {
                for s in &r.segments {
                    let _ = std::fs::remove_file(&s.pcap);
                }
            }
        }
        Err(e) => {
            o.error.get_or_insert(format!("shutdown: {e}"));
        }
    }
    o.teardown = t1.elapsed().as_secs_f64();
    if args.run_dir.is_none() {
        let _ = std::fs::remove_dir_all(&run_dir);
    }
    o
}

#[allow(clippy::too_many_arguments)]
async fn storm(
    args: &Args,
    exe: &Path,
    set: &ProfileSet,
    plan: &Plan,
    (dhcp, tftp): (&str, &str),
    world: &World,
    run_dir: &Path,
    state: &Path,
    o: &mut Outcome,
) -> anyhow::Result<()> {
    let exe = exe.to_string_lossy().into_owned();
    let files = run_dir.join("files");
    std::fs::create_dir_all(&files)?;
    std::fs::write(
        files.join(BOOT_FILE),
        crate::exec::runner::file_content(BOOT_FILE, args.file_size),
    )?;
    std::fs::create_dir_all(state)?;
    // The TFTP server first, then the BOOTP server, then the relay (as scenarios start roles).
    let mut servers: Vec<Process> = Vec::new();
    if tftp == "ours" {
        let dir = state.join("tftpd");
        std::fs::create_dir_all(&dir)?;
        let cfg = dir.join("config.toml");
        std::fs::write(
            &cfg,
            format!(
                "root = \"{}\"\naddress = \"{BOOT_ADDR}\"\n",
                files.display()
            ),
        )?;
        let p = world.spawn(BOOT, ours(&exe, "tftpd", &cfg, &dir))?;
        ready_event(&p).await?;
        servers.push(p);
    } else if tftp != dhcp {
        servers.push(
            peer(
                world,
                set,
                tftp,
                RoleKind::TftpServer,
                &tftp_params(&files),
                state,
            )
            .await?,
        );
    }
    if dhcp == "ours" {
        let dir = state.join("server");
        std::fs::create_dir_all(&dir)?;
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, our_server_config(plan, &dir))?;
        let p = world.spawn(BOOT, ours(&exe, "server", &cfg, &dir))?;
        ready_event(&p).await?;
        servers.push(p);
    } else {
        let mut params = server_params(plan, &files);
        if tftp == dhcp {
            params.extend(tftp_params(&files));
        }
        servers.push(peer(world, set, dhcp, RoleKind::BootpServer, &params, state).await?);
    }
    let relay_dir = state.join("relay");
    std::fs::create_dir_all(&relay_dir)?;
    let relay_cfg = relay_dir.join("config.toml");
    std::fs::write(
        &relay_cfg,
        format!(
            "interfaces = [\"eth1\"]\nservers = [\"{BOOT_ADDR}\"]\nmin-message-size = 236\n\
             reply-policy = \"neighbour\"\nevents = false\n"
        ),
    )?;
    // The ROMs' TFTP server is off their link and a ROM has no gateway: it ARPs for the server
    // itself, and the router answers for it (proxy ARP, RFC 1027), as boot networks did.
    world
        .in_host(ROUTER, || {
            let f = "/proc/sys/net/ipv4/conf/eth1/proxy_arp";
            std::fs::write(f, "1").map_err(|e| bootlab_sys::Error::new("write", f, e))
        })
        .await?;
    let relay = world.spawn(ROUTER, ours(&exe, "relay", &relay_cfg, &relay_dir))?;
    ready_event(&relay).await?;
    // Every ROM's config first, so that starting them is only spawning.
    let roms_dir = run_dir.join("roms");
    std::fs::create_dir_all(&roms_dir)?;
    let mut specs = Vec::new();
    for i in 0..plan.clients {
        let cfg = roms_dir.join(format!("rom{i}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "kind = \"rom\"\ninterface = \"eth0\"\nseed = {}\narp = \"answer\"\n\
                 server-mac = \"reply\"\ntimeout = {}\ntftp-blksize = 1468\n",
                i + 1,
                args.give_up
            ),
        )?;
        specs.push((format!("rom{i}"), ours(&exe, "client", &cfg, &roms_dir)));
    }
    let t0 = Instant::now();
    let mut roms = Vec::new();
    for (host, mut spec) in specs {
        spec.name = "rom".into();
        roms.push(world.spawn(&host, spec)?);
    }
    o.spawn = t0.elapsed().as_secs_f64();
    let bound = Duration::from_secs(args.give_up + 30);
    let waits = roms.iter().map(|p| p.wait_timeout(bound));
    let _ = futures::future::join_all(waits).await;
    let mut times: Vec<f64> = roms
        .iter()
        .filter_map(|p| {
            p.history().into_iter().find_map(|l| {
                (l.stream == Stream::Stdout
                    && bootlab_net::events::parse(&l.text).is_some_and(|(n, v)| {
                        n == "boot-file-received"
                            && v.get("size").and_then(|s| s.as_u64()) == Some(args.file_size as u64)
                    }))
                .then(|| l.at.duration_since(t0).as_secs_f64())
            })
        })
        .collect();
    times.sort_by(f64::total_cmp);
    o.booted = times.len() as u32;
    o.all_booted = (o.booted == plan.clients)
        .then(|| times.last().copied())
        .flatten();
    o.median = times.get(times.len() / 2).copied();
    drop(servers);
    Ok(())
}

fn ours(exe: &str, sub: &str, cfg: &Path, cwd: &Path) -> ProcessSpec {
    ProcessSpec {
        argv: vec![
            exe.to_string(),
            sub.to_string(),
            "--config".into(),
            cfg.to_string_lossy().into_owned(),
        ],
        env: vec![("RUST_LOG".into(), "warn".into())],
        cwd: Some(cwd.to_path_buf()),
        name: sub.to_string(),
    }
}

async fn ready_event(p: &Process) -> anyhow::Result<()> {
    p.wait_for_ready_event(Duration::from_secs(10))
        .await
        .map(|_| ())
        .with_context(|| format!("{} not ready; see {}", p.name(), p.stderr_path().display()))
}

async fn peer(
    world: &World,
    set: &ProfileSet,
    profile: &str,
    kind: RoleKind,
    params: &toml::Table,
    state: &Path,
) -> anyhow::Result<Process> {
    let dir = state.join(profile);
    let launch = crate::roles::peer::prepare(set, profile, kind, params, &dir, profile)
        .map_err(anyhow::Error::msg)?;
    let p = world.spawn(BOOT, launch.spec)?;
    crate::roles::peer::wait_ready(&launch.rendered, &p, Duration::from_secs(20))
        .await
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("{profile} not ready; see {}", p.stderr_path().display()))?;
    Ok(p)
}

/// Our server: the ROMs' subnet served through the relay, BOOTP from the pool (RFC 1534), the
/// boot file named, leases journaled on disk.
fn our_server_config(plan: &Plan, state: &Path) -> String {
    format!(
        "interface = \"eth0\"\nlease-file = \"{}\"\nnext-server = \"{BOOT_ADDR}\"\n\
         boot-file = \"{BOOT_FILE}\"\nbootp-lease-time = 3600\n\
         [[subnet]]\nnetwork = \"192.0.2.0/24\"\npools = []\n\
         [[subnet]]\nnetwork = \"{}\"\npools = [\"{}-{}\"]\noptions = {{ routers = [\"{}\"] }}\n",
        state.join("leases.journal").display(),
        plan.cidr(),
        plan.pool_start,
        plan.pool_end,
        plan.router
    )
}

fn server_params(plan: &Plan, files: &Path) -> toml::Table {
    let s = |v: String| toml::Value::String(v);
    let mut t = toml::Table::new();
    t.insert("interface".into(), s("eth0".into()));
    t.insert("server_address".into(), s(BOOT_ADDR.to_string()));
    t.insert("subnet".into(), s(plan.cidr()));
    t.insert("server_subnet".into(), s("192.0.2.0/24".into()));
    let mut pool = toml::Table::new();
    pool.insert("start".into(), s(plan.pool_start.to_string()));
    pool.insert("end".into(), s(plan.pool_end.to_string()));
    t.insert("pool".into(), toml::Value::Table(pool));
    t.insert("router".into(), s(plan.router.to_string()));
    t.insert("next_server".into(), s(BOOT_ADDR.to_string()));
    t.insert("boot_file".into(), s(BOOT_FILE.into()));
    t.insert("tftp_root".into(), s(files.display().to_string()));
    t.insert("lease_time".into(), toml::Value::Integer(3600));
    t.insert("bootp_dynamic".into(), toml::Value::Boolean(true));
    t.insert("conflict_check".into(), toml::Value::Boolean(false));
    t
}

fn tftp_params(files: &Path) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert(
        "root".into(),
        toml::Value::String(files.display().to_string()),
    );
    t.insert("address".into(), toml::Value::String(BOOT_ADDR.to_string()));
    t
}

fn line(o: &Outcome, n: u32) -> String {
    let mut s = format!(
        "{:<20} booted {}/{n}; all booted after {}; median {}; ROMs started in {:.2} s; world of {} hosts built in {:.2} s, torn down in {:.2} s",
        o.stack,
        o.booted,
        o.all_booted.map_or("-".into(), |t| format!("{t:.2} s")),
        o.median.map_or("-".into(), |t| format!("{t:.2} s")),
        o.spawn,
        n + 2,
        o.build,
        o.teardown
    );
    if let Some(e) = &o.error {
        s += &format!("; error: {e}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storm_worlds_are_valid_and_stay_in_documentation_ranges_up_to_240() {
        let p = Plan::new(100);
        assert_eq!(p.cidr(), "198.51.100.0/24");
        assert_eq!(p.pool_end, Ipv4Addr::new(198, 51, 100, 114));
        let t = p.topology().expect("toml");
        assert_eq!(t.hosts.len(), 102);
        assert_eq!(t.validate(), Ok(()));
        let big = Plan::new(500);
        assert_eq!(
            big.cidr(),
            "198.51.100.0/24",
            "never outside the documentation ranges"
        );
        assert_eq!(big.clients, 240);
    }

    #[test]
    fn our_storm_server_config_is_valid() {
        let text = our_server_config(&Plan::new(50), Path::new("/tmp/s"));
        let c = bootlab_server::config::Config::parse(&text, Path::new("storm.toml"));
        assert!(c.is_ok_and(|c| c.subnet.len() == 2 && c.boot_file.is_some()));
    }
}

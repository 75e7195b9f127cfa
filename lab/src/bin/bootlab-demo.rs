//! `bootlab-demo`: small worlds that exercise the harness end to end, for the lab's own tests
//! (`lab/tests/lab_world.rs`) and the world benchmark. Not part of the `bootlab` command.
//! `two-segments` and `bench` isolate themselves; `udp-echo` and `udp-ping` are the programs
//! they run inside hosts.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use bootlab_lab::plan::impairment::{Action, Direction, Impairment, Match, Rule, When};
use bootlab_lab::world::process::ProcessSpec;
use bootlab_lab::world::topology::Topology;
use bootlab_lab::world::{wait_for_frame, Proto, World};

/// The lab's own end-to-end demos and benchmark.
#[derive(Debug, clap::Parser)]
#[command(name = "bootlab-demo")]
struct Args {
    #[command(subcommand)]
    command: DemoCommand,
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// Router between two segments; a UDP exchange across it; both segments captured.
    TwoSegments {
        /// Where pcaps and logs go.
        #[arg(long)]
        run_dir: PathBuf,
        /// Drop the client's first datagram on its link (the client retransmits).
        #[arg(long)]
        drop_first: bool,
        /// Impair the client's link with these rules (TOML, as in a scenario:
        /// `rules = [{ match = ..., action = ... }]`).
        #[arg(long)]
        impair: Option<String>,
        /// After the exchange, print `HOLDING` and wait for SIGINT/SIGTERM (then shut down
        /// cleanly) or SIGKILL (the kill -9 test).
        #[arg(long)]
        hold: bool,
        /// Seed of the world.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Build this many worlds at once in the one lab, each with its own exchange.
        #[arg(long, default_value_t = 1)]
        worlds: u32,
    },
    /// Build and tear down a 10-host, 3-segment, 1-router world `rounds` times.
    Bench {
        /// How many round trips.
        #[arg(long, default_value_t = 20)]
        rounds: u32,
        /// Where the worlds' artefacts go.
        #[arg(long)]
        run_dir: PathBuf,
        /// Pause between rounds (ms), so the kernel's asynchronous tear-down of the previous
        /// world does not compete with the next build.
        #[arg(long, default_value_t = 0)]
        settle_ms: u64,
    },
    /// Answer UDP datagrams on `bind` until stopped (runs inside a host).
    UdpEcho {
        /// Local address.
        #[arg(long)]
        bind: SocketAddr,
    },
    /// Send `count` numbered datagrams to `to`, each retried until answered (runs inside a host).
    UdpPing {
        /// Echo server.
        #[arg(long)]
        to: SocketAddr,
        /// Datagrams.
        #[arg(long, default_value_t = 3)]
        count: u32,
    },
}

impl Args {
    /// Whether the subcommand builds worlds (and so must isolate itself first).
    fn needs_isolation(&self) -> bool {
        matches!(
            self.command,
            DemoCommand::TwoSegments { .. } | DemoCommand::Bench { .. }
        )
    }
}

fn main() {
    let args = Args::parse();
    let result = if args.needs_isolation() {
        bootlab_lab::world::isolate::enter()
            .map_err(anyhow::Error::from)
            .and_then(|()| run(args))
    } else {
        run(args)
    };
    if let Err(e) = result {
        eprintln!("bootlab-demo: {e:#}");
        std::process::exit(2);
    }
}

/// Runs one demo.
fn run(args: Args) -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    match args.command {
        DemoCommand::UdpEcho { bind } => udp_echo(bind),
        DemoCommand::UdpPing { to, count } => udp_ping(to, count),
        DemoCommand::TwoSegments {
            run_dir,
            drop_first,
            impair,
            hold,
            seed,
            worlds,
        } => {
            let mut rules = match impair {
                Some(t) => toml::from_str::<Impairment>(&t).context("--impair")?,
                None => Impairment::default(),
            };
            if drop_first {
                rules.rules.push(Rule {
                    direction: Direction::FromHost,
                    matches: Match::Udp {
                        src_port: None,
                        dst_port: Some(7000),
                    },
                    when: When::Nth(1),
                    action: Action::Drop,
                });
            }
            runtime()?.block_on(two_segments(run_dir, rules, hold, seed, worlds))
        }
        DemoCommand::Bench {
            rounds,
            run_dir,
            settle_ms,
        } => runtime()?.block_on(bench(rounds, run_dir, settle_ms)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")
}

fn udp_echo(bind: SocketAddr) -> anyhow::Result<()> {
    let sock = UdpSocket::bind(bind).with_context(|| format!("bind {bind}"))?;
    println!("listening on {bind}");
    let mut buf = [0u8; 1500];
    // Until the lab stops us.
    loop {
        let (n, from) = sock.recv_from(&mut buf).context("recv")?;
        sock.send_to(&buf[..n], from).context("send")?;
        println!("echoed {:?} to {from}", String::from_utf8_lossy(&buf[..n]));
    }
}

fn udp_ping(to: SocketAddr, count: u32) -> anyhow::Result<()> {
    let sock = UdpSocket::bind("0.0.0.0:0").context("bind")?;
    let mut buf = [0u8; 1500];
    for i in 1..=count {
        let msg = format!("ping {i}");
        let mut answered = false;
        for attempt in 1..=10 {
            sock.send_to(msg.as_bytes(), to).context("send")?;
            let deadline = Instant::now() + Duration::from_millis(300);
            // Stale answers (a duplicated reply to an earlier ping) are skipped; bounded by the
            // deadline.
            while let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            {
                sock.set_read_timeout(Some(left)).context("timeout")?;
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) if &buf[..n] == msg.as_bytes() => {
                        println!("reply {i} from {from} after {attempt} attempt(s)");
                        answered = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        break
                    }
                    Err(e) => return Err(e).context("recv"),
                }
            }
            if answered {
                break;
            }
        }
        if !answered {
            bail!("no reply to {msg:?} from {to}");
        }
    }
    Ok(())
}

/// The demo network: `client` on `lan`, `server` on `far`, `router` between.
const TWO_SEGMENTS: &str = r#"
[[segments]]
name = "lan"
subnet = "192.0.2.0/24"

[[segments]]
name = "far"
subnet = "198.51.100.0/24"

[[hosts]]
name = "router"
forwarding = true
interfaces = [
    { segment = "lan", address = "192.0.2.1" },
    { segment = "far", address = "198.51.100.1" },
]

[[hosts]]
name = "client"
interfaces = [{ segment = "lan", address = "192.0.2.10" }]
routes = [{ destination = "default", via = "192.0.2.1" }]

[[hosts]]
name = "server"
interfaces = [{ segment = "far", address = "198.51.100.10" }]
routes = [{ destination = "default", via = "198.51.100.1" }]
"#;

fn self_exe() -> anyhow::Result<String> {
    Ok(std::env::current_exe()
        .context("current exe")?
        .to_string_lossy()
        .into_owned())
}

async fn two_segments(
    run_dir: PathBuf,
    rules: Impairment,
    hold: bool,
    seed: u64,
    worlds: u32,
) -> anyhow::Result<()> {
    let mut topo = Topology::from_toml(TWO_SEGMENTS).context("demo topology")?;
    // The client knows the router's hardware address statically: it never ARPs for it.
    if let Some(client) = topo.hosts.iter_mut().find(|h| h.name == "client") {
        client
            .neighbours
            .push(bootlab_lab::world::topology::Neighbour {
                address: std::net::Ipv4Addr::new(192, 0, 2, 1),
                mac: bootlab_lab::world::topology::MacAddr::derived("router", 0),
                interface: None,
            });
    }
    if worlds > 1 {
        // Several worlds side by side in one lab, as parallel scenarios are.
        let runs = (0..worlds).map(|i| {
            let topo = topo.clone();
            let dir = run_dir.join(format!("w{i}"));
            let rules = rules.clone();
            async move {
                let world = World::build(&topo, &dir, seed + u64::from(i)).await?;
                let seen = exchange(&world, rules.clone(), &format!("w{i} ")).await?;
                world.shutdown().await?;
                anyhow::Ok(seen)
            }
        });
        for (i, seen) in futures::future::try_join_all(runs)
            .await?
            .into_iter()
            .enumerate()
        {
            println!("world {i}: udp seen on {seen:?}");
        }
        return Ok(());
    }
    let started = Instant::now();
    let world = World::build(&topo, &run_dir, seed).await?;
    println!("built in {:?}", started.elapsed());
    let seen = exchange(&world, rules, "").await?;
    println!("udp seen on {seen:?}");
    private_files(&world).await?;
    // A daemon that backgrounds itself: its leader exits at once, the rest of its process
    // group lives on until the world stops it.
    let daemon = world.spawn(
        "router",
        ProcessSpec {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "sleep 1000 & echo backgrounded".into(),
            ],
            env: vec![],
            cwd: None,
            name: "daemon".into(),
        },
    )?;
    daemon.wait_timeout(Duration::from_secs(5)).await?;
    // A frame injected onto a segment from the switch is captured like any other.
    let mut frames = world.frames();
    let mut frame = vec![0xff; 6];
    frame.extend(bootlab_lab::world::topology::MacAddr::derived("lab", 0).0);
    frame.extend([0x88, 0xb5]);
    frame.extend(b"bootlab inject");
    frame.resize(60, 0);
    world.inject("lan", &frame)?;
    let seen = wait_for_frame(
        &mut frames,
        |f| f.data[12..14] == [0x88, 0xb5],
        Duration::from_secs(2),
    )
    .await;
    match seen {
        Some(f) => println!("inject seen on {}", f.segment),
        None => bail!("injected frame not captured"),
    }
    if hold {
        // The lab is the init of its PID namespace, which ignores signals it has no handler
        // for: handle the termination signals to shut down cleanly.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("SIGTERM handler")?;
        println!("HOLDING pid {}", std::process::id());
        // Bounded by the test, which signals us; a day at most otherwise.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(86_400)) => {}
            _ = tokio::signal::ctrl_c() => println!("SIGINT: shutting down"),
            _ = term.recv() => println!("SIGTERM: shutting down"),
        }
    }
    let stopping = Instant::now();
    let report = world.shutdown().await?;
    println!("shutdown in {} ms", stopping.elapsed().as_millis());
    for s in &report.segments {
        println!(
            "capture {} frames {} drops {} pcap {}",
            s.segment,
            s.frames,
            s.kernel_drops,
            s.pcap.display()
        );
    }
    Ok(())
}

fn spec(exe: &str, name: &str, args: &[&str]) -> ProcessSpec {
    ProcessSpec {
        argv: std::iter::once(exe.to_owned())
            .chain(args.iter().map(|s| s.to_string()))
            .collect(),
        env: vec![],
        cwd: None,
        name: name.to_owned(),
    }
}

/// The UDP exchange from `client` to `server` across the router; returns the segments on which
/// a datagram to port 7000 was captured.
async fn exchange(
    world: &World,
    rules: Impairment,
    prefix: &str,
) -> anyhow::Result<std::collections::BTreeSet<String>> {
    if !rules.rules.is_empty() {
        world.set_impairment("lan", "client", rules).await?;
    }
    let mut frames = world.frames();
    let exe = self_exe()?;
    let server = world.spawn(
        "server",
        spec(&exe, "echo", &["udp-echo", "--bind", "198.51.100.10:7000"]),
    )?;
    server
        .wait_for_text("listening", Duration::from_secs(5))
        .await?;
    world
        .wait_for_port("server", Proto::Udp, 7000, Duration::from_secs(5))
        .await?;
    let client = world.spawn(
        "client",
        spec(&exe, "ping", &["udp-ping", "--to", "198.51.100.10:7000"]),
    )?;
    let status = client.wait_timeout(Duration::from_secs(10)).await?;
    if !status.success() {
        bail!(
            "client failed: {status}; see {}",
            client.stderr_path().display()
        );
    }
    for l in client.history() {
        println!("{prefix}client: {}", l.text);
    }
    // Both segments saw the exchange: a datagram to port 7000 on lan and on far.
    let mut seen = std::collections::BTreeSet::new();
    let to_7000 = |f: &bootlab_lab::world::capture::Frame| {
        f.data.len() > 37 && f.data[12..14] == [8, 0] && f.data[36..38] == [0x1b, 0x58]
    };
    while seen.len() < 2 {
        match wait_for_frame(&mut frames, to_7000, Duration::from_secs(2)).await {
            Some(f) => {
                seen.insert(f.segment.to_string());
            }
            None => bail!("a datagram to port 7000 was seen only on {seen:?}"),
        }
    }
    Ok(seen)
}

/// Shows each host's private view: host name, resolv.conf, hosts and a file in its own /run.
async fn private_files(world: &World) -> anyhow::Result<()> {
    let script =
        "hostname; cat /etc/resolv.conf; grep -w server /etc/hosts; echo $0 > /run/mark; ls /run";
    for host in ["client", "server"] {
        if host == "server" {
            // The client's mark must not be visible here.
            if world
                .host_path_exists("server", std::path::Path::new("/run/mark"))
                .await?
            {
                bail!("server sees the client's /run");
            }
        }
        let p = world.spawn(
            host,
            ProcessSpec {
                argv: vec!["sh".into(), "-c".into(), script.into(), host.into()],
                env: vec![],
                cwd: None,
                name: "private".into(),
            },
        )?;
        p.wait_timeout(Duration::from_secs(5)).await?;
        for l in p.history() {
            println!("private {host}: {}", l.text);
        }
        world
            .wait_for_file(
                host,
                std::path::Path::new("/run/mark"),
                Duration::from_secs(1),
            )
            .await?;
    }
    Ok(())
}

/// The benchmark network: a router with one leg on each of three segments and three hosts on
/// each segment.
fn bench_topology() -> Topology {
    let nets = ["192.0.2", "198.51.100", "203.0.113"];
    let mut t = String::new();
    for (i, n) in nets.iter().enumerate() {
        t += &format!("[[segments]]\nname = \"seg{i}\"\nsubnet = \"{n}.0/24\"\n\n");
    }
    t += "[[hosts]]\nname = \"router\"\nforwarding = true\ninterfaces = [\n";
    for (i, n) in nets.iter().enumerate() {
        t += &format!("  {{ segment = \"seg{i}\", address = \"{n}.1\" }},\n");
    }
    t += "]\n\n";
    for (i, n) in nets.iter().enumerate() {
        for k in 0..3 {
            t += &format!(
                "[[hosts]]\nname = \"h{i}{k}\"\ninterfaces = [{{ segment = \"seg{i}\", address = \"{n}.{}\" }}]\nroutes = [{{ destination = \"default\", via = \"{n}.1\" }}]\n\n",
                10 + k
            );
        }
    }
    Topology::from_toml(&t).unwrap_or_default()
}

async fn bench(rounds: u32, run_dir: PathBuf, settle_ms: u64) -> anyhow::Result<()> {
    let topo = bench_topology();
    if topo.hosts.len() != 10 {
        bail!("bench topology has {} hosts", topo.hosts.len());
    }
    let mut build = Vec::new();
    let mut total = Vec::new();
    for r in 0..rounds.max(1) {
        tokio::time::sleep(Duration::from_millis(settle_ms)).await;
        let t0 = Instant::now();
        let world = World::build(&topo, &run_dir.join(format!("round{r}")), u64::from(r)).await?;
        let t1 = Instant::now();
        world.shutdown().await?;
        build.push(t1 - t0);
        total.push(t0.elapsed());
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let mean = |v: &[Duration]| v.iter().map(ms).sum::<f64>() / v.len() as f64;
    let min = |v: &[Duration]| v.iter().map(ms).fold(f64::INFINITY, f64::min);
    let max = |v: &[Duration]| v.iter().map(ms).fold(0.0, f64::max);
    println!(
        "bench: 10 hosts, 3 segments, 1 router, {} rounds (settle {settle_ms} ms): round trip mean {:.1} ms, min {:.1} ms, max {:.1} ms (build mean {:.1} ms, min {:.1} ms)",
        total.len(),
        mean(&total),
        min(&total),
        max(&total),
        mean(&build),
        min(&build)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_topologies_are_valid() {
        let t = Topology::from_toml(TWO_SEGMENTS);
        assert!(t.is_ok_and(|t| t.validate().is_ok()));
        let b = bench_topology();
        assert_eq!(b.hosts.len(), 10);
        assert_eq!(b.segments.len(), 3);
        assert_eq!(b.validate(), Ok(()));
    }
}

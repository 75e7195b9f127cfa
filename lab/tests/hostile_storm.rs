//! Hostile traffic (issue 18): a storm of malformed and abusive datagrams at `bootlab server`
//! while real clients boot, ours (`bootlab client`) and a peer's (busybox `udhcpc`).
//!
//! The server's stdout is a pipe that nobody reads after `ready` (the case that wedged it), its
//! stderr a file. Every client must be served during the storm; afterwards the server's peak
//! memory and its stderr must be bounded, and SIGTERM must end it promptly although stdout is
//! still full.
//!
//! Topology: namespaces for the server (bridge `br0`, 192.0.2.1), two of our clients, the peer
//! client and the attacker (192.0.2.66), each wired to the bridge by a veth pair. The storm is
//! bounded in count ([`STORM_PACKETS`]) and time ([`STORM_TIME`]).
//!
//! Needs root (network namespaces); without it the test says so and passes vacuously.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bootlab_wire::bootp::{code, Message, MessageType};
use rand::{Rng, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_bootlab");
const STORM_PACKETS: u64 = 300_000;
const STORM_TIME: Duration = Duration::from_secs(40);
/// Datagrams per 10 ms burst: about 20 000 a second, below what the server handles on a busy
/// 2-core machine, so what is measured is its defences and not the kernel dropping a full
/// socket queue (which would drop the clients' packets in proportion).
const BURST: u64 = 200;
/// Peak resident memory the server may reach, in KiB.
const MAX_RSS_KIB: u64 = 64 * 1024;
/// Bytes the server may write to stderr over the whole storm.
const MAX_STDERR: u64 = 1 << 20;

mod common;
use common::{in_ns, namespace_holder, Guard};

fn ns_command(pid: u32, args: &[&str]) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net=/proc/{pid}/ns/net")).args(args);
    c
}

/// Wires namespace `pid` to the server's bridge as `name` (bridge side `name`-br).
fn wire(server: u32, pid: u32, name: &str, address: Option<&str>) {
    let host_side = format!("{name}b");
    let target = pid.to_string();
    in_ns(
        server,
        &[
            "ip", "link", "add", &host_side, "type", "veth", "peer", "name", name, "netns", &target,
        ],
    );
    in_ns(server, &["ip", "link", "set", &host_side, "master", "br0"]);
    in_ns(server, &["ip", "link", "set", &host_side, "up"]);
    if let Some(a) = address {
        in_ns(pid, &["ip", "addr", "add", a, "dev", name]);
    }
    in_ns(pid, &["ip", "link", "set", name, "up"]);
    in_ns(pid, &["ip", "link", "set", "lo", "up"]);
}

/// One abusive datagram: random bytes, truncated or mangled BOOTP, replies, hop bombs, and
/// well-formed DISCOVERs/REQUESTs/RELEASEs/DECLINEs from random client ids (pool starvation).
fn hostile(rng: &mut impl Rng) -> Vec<u8> {
    let mut chaddr = [0u8; 6];
    rng.fill(&mut chaddr[..]);
    chaddr[0] = 2;
    let xid = rng.gen();
    let random_addr = Ipv4Addr::new(192, 0, 2, rng.gen());
    match rng.gen_range(0..8) {
        0 => {
            let mut b = vec![0u8; rng.gen_range(0..600)];
            rng.fill(&mut b[..]);
            b
        }
        1 => {
            let mut b = Message::new_dhcp(MessageType::Discover, xid, chaddr).emit();
            b.truncate(rng.gen_range(0..b.len()));
            b
        }
        2 => {
            let mut b = Message::new_dhcp(MessageType::Request, xid, chaddr).emit();
            let i = rng.gen_range(0..b.len());
            b[i] = rng.gen();
            b
        }
        3 => {
            let mut m = Message::new_dhcp(MessageType::Offer, xid, chaddr);
            m.hops = rng.gen();
            m.emit()
        }
        4 => {
            let mut m = Message::new_dhcp(MessageType::Request, xid, chaddr);
            m.options_mut()
                .set_ip(code::REQUESTED_IP_ADDRESS, random_addr);
            m.emit()
        }
        5 => {
            let t = if rng.gen() {
                MessageType::Release
            } else {
                MessageType::Decline
            };
            let mut m = Message::new_dhcp(t, xid, chaddr);
            m.ciaddr = random_addr;
            m.options_mut()
                .set_ip(code::REQUESTED_IP_ADDRESS, random_addr);
            m.emit()
        }
        6 => Message::new_request(xid, chaddr).emit(),
        _ => Message::new_dhcp(MessageType::Discover, xid, chaddr).emit(),
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Datagrams the kernel dropped at the server's port-67 socket (its queue full): the last
/// column of `/proc/PID/net/udp` (the server's network namespace) for local port 67.
fn port_67_drops(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/net/udp"))
        .ok()
        .map(|t| {
            t.lines()
                .skip(1)
                .filter(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .is_some_and(|local| local.ends_with(":0043"))
                })
                .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

// Once a known defect (5 failures in 13 runs): the storm's well-formed BOOTP requests from new
// hardware addresses each bound an address at once (dynamic BOOTP was on by default), the pool
// was gone within milliseconds, and udhcpc's DISCOVERs found nothing to be offered. Dynamic
// BOOTP is now off unless configured, as in the peers.
#[test]
fn clients_are_served_through_a_hostile_storm_and_sigterm_is_honoured() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root for network namespaces");
        return;
    }
    let dir = std::env::temp_dir().join(format!("bootlab-storm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "interface = \"br0\"\nlease-file = \"{}\"\n\n[[subnet]]\nnetwork = \"192.0.2.0/24\"\npools = [\"192.0.2.100-192.0.2.131\"]\n",
            dir.join("leases.journal").display()
        ),
    )
    .expect("server config");

    let mut guard = Guard((0..5).map(|_| namespace_holder()).collect());
    let ids: Vec<u32> = guard.0.iter().map(Child::id).collect();
    let (srv, ours1, ours2, peer, attacker) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    in_ns(srv, &["ip", "link", "add", "br0", "type", "bridge"]);
    in_ns(srv, &["ip", "addr", "add", "192.0.2.1/24", "dev", "br0"]);
    in_ns(srv, &["ip", "link", "set", "br0", "up"]);
    wire(srv, ours1, "c1", None);
    wire(srv, ours2, "c2", None);
    wire(srv, peer, "p1", None);
    wire(srv, attacker, "h0", Some("192.0.2.66/24"));

    // The server: stdout read until `ready`, then never again; stderr to a file.
    let stderr_path = dir.join("server.stderr");
    let mut server = ns_command(srv, &[BIN, "server", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("start server");
    let server_pid = server.id();
    let mut stdout = BufReader::new(server.stdout.take().expect("stdout"));
    guard.0.push(server);
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap_or(0) > 0 && !line.contains("\"ready\"") {
        line.clear();
    }
    assert!(line.contains("\"ready\""), "server never became ready");

    // The storm, from the attacker's namespace.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let storm = {
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            let f = std::fs::File::open(format!("/proc/{attacker}/ns/net")).expect("ns fd");
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let s = UdpSocket::bind("192.0.2.66:68").expect("attacker socket");
            s.set_broadcast(true).expect("broadcast");
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(18);
            let started = Instant::now();
            let targets = [
                SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 67),
                SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
            ];
            let mut n = 0u64;
            while n < STORM_PACKETS
                && started.elapsed() < STORM_TIME
                && !stop.load(Ordering::Relaxed)
            {
                let _ = s.send_to(&hostile(&mut rng), targets[(n % 2) as usize]);
                n += 1;
                sent.store(n, Ordering::Relaxed);
                if n % BURST == 0 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));

    // Clients boot through it.
    let client_config = dir.join("client.toml");
    std::fs::write(
        &client_config,
        "kind = \"dhcp\"\nstop-after = \"bound\"\ntime-scale = 10.0\ntimeout = 600\n",
    )
    .expect("client config");
    let cfg = client_config.display().to_string();
    let ours: Vec<Child> = [(ours1, "c1", "1"), (ours2, "c2", "2")]
        .iter()
        .map(|(ns, ifname, seed)| {
            ns_command(
                *ns,
                &[
                    BIN,
                    "client",
                    "--config",
                    &cfg,
                    "--interface",
                    ifname,
                    "--seed",
                    seed,
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("our client")
        })
        .collect();
    let peer_client = ns_command(
        peer,
        &[
            "udhcpc",
            "-i",
            "p1",
            "-f",
            "-q",
            "-n",
            "-t",
            "30",
            "-T",
            "1",
            "-A",
            "1",
            "-s",
            "/bin/true",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("udhcpc");
    let mut served = Vec::new();
    for c in ours {
        let out = c.wait_with_output().expect("our client");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        served.push((
            "bootlab client",
            out.status.success() && text.contains("\"bound\""),
            text,
        ));
    }
    let out = peer_client.wait_with_output().expect("udhcpc");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    served.push((
        "udhcpc",
        out.status.success() && text.contains("obtained"),
        text,
    ));
    let packets_by_now = sent.load(Ordering::Relaxed);
    let drops = port_67_drops(server_pid);

    // Still storming: memory, then SIGTERM with stdout full and undrained.
    let rss = peak_rss_kib(server_pid);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server_pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let server = guard.0.last_mut().expect("server");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut exited = None;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.try_wait() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    storm.join().expect("storm thread");
    let packets = sent.load(Ordering::Relaxed);
    let stderr_bytes = std::fs::metadata(&stderr_path)
        .map(|m| m.len())
        .unwrap_or(0);
    eprintln!(
        "storm: {packets} hostile datagrams ({packets_by_now} by the time all {} clients were done); \
         kernel drops at port 67: {drops}; clients served: {:?}; server peak RSS {rss} KiB, stderr {stderr_bytes} bytes; SIGTERM exit: {exited:?}",
        served.len(),
        served.iter().map(|(n, ok, _)| (*n, *ok)).collect::<Vec<_>>()
    );
    drop(stdout);
    let stderr_tail: Vec<String> = std::fs::read_to_string(&stderr_path)
        .unwrap_or_default()
        .lines()
        .rev()
        .take(3)
        .map(str::to_string)
        .collect();
    eprintln!(
        "server's last log lines (newest first):\n{}",
        stderr_tail.join("\n")
    );
    for (name, ok, text) in &served {
        assert!(ok, "{name} was not served during the storm:\n{text}");
    }
    assert!(
        exited.is_some(),
        "the server ignored SIGTERM for 5 s (stdout undrained)"
    );
    assert!(rss > 0 && rss <= MAX_RSS_KIB, "server peak RSS {rss} KiB");
    assert!(
        stderr_bytes <= MAX_STDERR,
        "server wrote {stderr_bytes} bytes to stderr"
    );
    assert!(packets >= 10_000, "the storm was too weak to mean anything");
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}

//! Write-ahead lease durability of `bootlab server` (issue 5): an ACKed lease survives `kill -9`.
//!
//! Two private network namespaces joined by a veth pair: the server in one (192.0.2.1 on `s0`),
//! this test in the other acting as a relay agent (192.0.2.2 on `c0`, giaddr set, as perfdhcp
//! does), so replies come back unicast to the test's port 67 socket. Every client is OFFERed an
//! address, then all send their REQUEST at once; the server is SIGKILLed mid-burst, restarted on
//! the same journal, and every lease ACKed before the kill must still be there: the owner's
//! INIT-REBOOT REQUEST is ACKed with the same address, and another client's REQUEST for it is
//! NAKed.
//!
//! A second test runs the server under `strace` and checks the order of its system calls: no
//! reply may leave while a journal write is not yet followed by an `fdatasync`. It fails when
//! the sync is removed, moved after the send, or made a no-op by an `LD_PRELOAD` shim.
//!
//! Needs root (network namespaces); without it the test says so and passes vacuously.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bootlab_wire::bootp::{code, Message, MessageType};

const BIN: &str = env!("CARGO_BIN_EXE_bootlab");
const CLIENTS: u32 = 240;
const KILL_AFTER_ACKS: usize = 60;
const WINDOW: usize = 32;
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const RELAY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

mod common;
use common::{in_ns, namespace_holder, Guard};

/// A UDP socket opened inside the namespace of `pid` (on a short-lived thread, see DESIGN.md).
fn socket_in(pid: u32, bind: SocketAddrV4) -> UdpSocket {
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("ns fd");
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let s = UdpSocket::bind(bind).expect("bind relay socket");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        s
    })
    .join()
    .expect("socket thread")
}

/// Starts the server in namespace `pid` and waits for its `ready` event.
fn start_server(pid: u32, config: &std::path::Path) -> Child {
    start_server_with(pid, config, &[])
}

/// Starts the server in namespace `pid` behind the command `wrapper` (e.g. strace) and waits for
/// its `ready` event.
fn start_server_with(pid: u32, config: &std::path::Path, wrapper: &[&str]) -> Child {
    let ns = format!("--net=/proc/{pid}/ns/net");
    let mut child = Command::new("nsenter")
        .arg(ns.as_str())
        .args(wrapper)
        .args([BIN, "server", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start server");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((name, _)) = bootlab_net::events::parse(&line) {
                if tx.send(name).is_err() {
                    // Nobody waits any more; keep draining so the server never blocks on stdout.
                }
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(name) = rx.recv_timeout(Duration::from_millis(100)) {
            if name == "ready" {
                return child;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server never became ready");
}

fn mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [2, 0xd0, b[0], b[1], b[2], b[3]]
}

fn relayed(t: MessageType, xid: u32, mac: [u8; 6]) -> Message {
    let mut m = Message::new_dhcp(t, xid, mac);
    m.giaddr = RELAY;
    m.hops = 1;
    m
}

fn send(s: &UdpSocket, m: &Message) {
    s.send_to(&m.emit(), SocketAddrV4::new(SERVER, 67))
        .expect("send");
}

fn recv(s: &UdpSocket) -> Option<Message> {
    let mut buf = [0u8; 2048];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    Message::parse(&buf[..n]).ok().map(|(m, _)| m)
}

/// The server's namespace and the test's, joined by a veth pair (s0 192.0.2.1, c0 192.0.2.2).
fn two_namespaces(guard: &mut Guard) -> (u32, u32) {
    guard.0.push(namespace_holder());
    guard.0.push(namespace_holder());
    let (srv_ns, cli_ns) = (guard.0[0].id(), guard.0[1].id());
    let cli = cli_ns.to_string();
    in_ns(
        srv_ns,
        &[
            "ip", "link", "add", "s0", "type", "veth", "peer", "name", "c0", "netns", &cli,
        ],
    );
    in_ns(srv_ns, &["ip", "addr", "add", "192.0.2.1/24", "dev", "s0"]);
    in_ns(srv_ns, &["ip", "link", "set", "s0", "up"]);
    in_ns(cli_ns, &["ip", "addr", "add", "192.0.2.2/24", "dev", "c0"]);
    in_ns(cli_ns, &["ip", "link", "set", "c0", "up"]);
    (srv_ns, cli_ns)
}

/// A scratch directory with a server configuration whose journal is `leases.journal` in it.
fn scratch(name: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("bootlab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let journal = dir.join("leases.journal");
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "interface = \"s0\"\nlease-file = \"{}\"\nevents = false\n\n[[subnet]]\nnetwork = \"192.0.2.0/24\"\npools = [\"192.0.2.10-192.0.2.250\"]\n",
            journal.display()
        ),
    )
    .expect("config");
    (dir, journal, config)
}

#[test]
fn acked_leases_survive_kill_9_mid_burst() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root for network namespaces");
        return;
    }
    let (dir, journal, config) = scratch("durability");
    let mut guard = Guard(Vec::new());
    let (srv_ns, cli_ns) = two_namespaces(&mut guard);

    // Held by the guard too, so a failing assertion never leaves a server behind.
    guard.0.push(start_server(srv_ns, &config));
    let sock = socket_in(cli_ns, SocketAddrV4::new(RELAY, 67));

    // Phase 1: every client gets an OFFER (up to WINDOW in flight, as perfdhcp paces them,
    // retransmitting after 500 ms of silence).
    let started = Instant::now();
    let mut offers: BTreeMap<u32, Ipv4Addr> = BTreeMap::new();
    let mut pending: BTreeMap<u32, Instant> = BTreeMap::new();
    let mut next = 0u32;
    let deadline = Instant::now() + Duration::from_secs(30);
    while offers.len() < CLIENTS as usize && Instant::now() < deadline {
        while pending.len() < WINDOW && next < CLIENTS {
            send(&sock, &relayed(MessageType::Discover, next, mac(next)));
            pending.insert(next, Instant::now());
            next += 1;
        }
        for (&i, at) in pending.iter_mut() {
            if at.elapsed() > Duration::from_millis(500) {
                send(&sock, &relayed(MessageType::Discover, i, mac(i)));
                *at = Instant::now();
            }
        }
        let Some(m) = recv(&sock) else { continue };
        if m.message_type() == Some(MessageType::Offer) && pending.remove(&m.xid).is_some() {
            offers.insert(m.xid, m.yiaddr);
        }
    }
    assert_eq!(
        offers.len(),
        CLIENTS as usize,
        "every client should get an OFFER"
    );
    // Phase 2: the REQUEST burst, all at once; SIGKILL as soon as KILL_AFTER_ACKS ACKs are in.
    for (&i, &addr) in &offers {
        let mut r = relayed(MessageType::Request, i, mac(i));
        r.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, addr);
        r.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER);
        send(&sock, &r);
    }
    let requested = offers.len();
    let mut acked: BTreeMap<u32, Ipv4Addr> = BTreeMap::new();
    while acked.len() < KILL_AFTER_ACKS && Instant::now() < deadline {
        let Some(m) = recv(&sock) else { continue };
        if m.message_type() == Some(MessageType::Ack) {
            acked.insert(m.xid, m.yiaddr);
        }
    }
    let server = guard.0.last_mut().expect("the server");
    server.kill().expect("SIGKILL the server");
    let _ = server.wait();
    let killed_at = started.elapsed();
    // ACKs already on the wire when the kill landed count too: they left after their sync.
    while let Some(m) = recv(&sock) {
        if m.message_type() == Some(MessageType::Ack) {
            acked.insert(m.xid, m.yiaddr);
        }
    }
    assert!(
        acked.len() >= KILL_AFTER_ACKS,
        "only {} ACKs before the deadline",
        acked.len()
    );
    let in_flight = requested.saturating_sub(acked.len());
    let journal_lines = std::fs::read_to_string(&journal)
        .map(|t| t.lines().count())
        .unwrap_or(0);

    // Restart on the same journal and check every ACKed lease.
    let server = start_server(srv_ns, &config);
    guard.0.push(server);
    let mut found = 0;
    let mut stranger_refused = 0;
    for (&i, &addr) in &acked {
        // Another client asking for the address in SELECTING state must be refused.
        let stranger = 100_000 + i;
        let mut r = relayed(MessageType::Request, stranger, mac(stranger));
        r.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, addr);
        r.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER);
        send(&sock, &r);
        if let Some(m) = recv(&sock) {
            if m.xid == stranger && m.message_type() == Some(MessageType::Nak) {
                stranger_refused += 1;
            }
        }
        // The owner rebooting (INIT-REBOOT: requested IP, no server id) gets it back.
        let mut r = relayed(MessageType::Request, i, mac(i));
        r.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, addr);
        send(&sock, &r);
        if let Some(m) = recv(&sock) {
            if m.xid == i && m.message_type() == Some(MessageType::Ack) && m.yiaddr == addr {
                found += 1;
            }
        }
    }
    eprintln!(
        "durability: {} clients, {} REQUESTs sent, {} ACKed before SIGKILL at {:?} ({} in flight), \
         {} journal lines after the kill; after restart: {} of {} leases found, {} strangers refused",
        CLIENTS,
        requested,
        acked.len(),
        killed_at,
        in_flight,
        journal_lines,
        found,
        acked.len(),
        stranger_refused
    );
    assert_eq!(found, acked.len(), "an ACKed lease was lost");
    assert_eq!(
        stranger_refused,
        acked.len(),
        "an ACKed address was given to another client"
    );
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Write-ahead, seen in the system calls: every ACK the server sends names an address whose bind
/// record was written to the journal and then `fdatasync`ed (or `fsync`ed) before the send. A
/// removed sync, a sync or a whole commit moved after the send, or a sync made a no-op in libc
/// all break it.
#[test]
fn replies_leave_only_after_the_journal_is_synced() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root for network namespaces");
        return;
    }
    if Command::new("strace").arg("-V").output().is_err() {
        panic!("strace is missing (ci/install-debian-packages.sh installs it)");
    }
    let (dir, journal, config) = scratch("write-ahead");
    let trace = dir.join("server.strace");
    let mut guard = Guard(Vec::new());
    let (srv_ns, cli_ns) = two_namespaces(&mut guard);
    let trace_arg = trace.display().to_string();
    let wrapper = [
        "strace",
        "-f",
        "-qq",
        "-y",
        "-xx",
        "-s",
        "4096",
        "-e",
        "signal=none",
        "-e",
        "trace=write,writev,pwrite64,pwritev,fsync,fdatasync,sendto,sendmsg,sendmmsg",
        "-o",
        trace_arg.as_str(),
    ];
    guard.0.push(start_server_with(srv_ns, &config, &wrapper));
    let sock = socket_in(cli_ns, SocketAddrV4::new(RELAY, 67));
    const N: u32 = 20;
    let mut acked = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..N {
        let mut ack = None;
        while ack.is_none() && Instant::now() < deadline {
            send(&sock, &relayed(MessageType::Discover, i, mac(i)));
            let Some(offer) = recv(&sock).filter(|m| m.xid == i) else {
                continue;
            };
            let mut r = relayed(MessageType::Request, i, mac(i));
            r.options_mut()
                .set_ip(code::REQUESTED_IP_ADDRESS, offer.yiaddr);
            r.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER);
            send(&sock, &r);
            ack = recv(&sock).filter(|m| m.xid == i && m.message_type() == Some(MessageType::Ack));
        }
        acked += usize::from(ack.is_some());
    }
    // nsenter became strace, whose child is the server: SIGTERM that, strace then exits.
    let tracer = guard.0.last_mut().expect("strace");
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", tracer.id()))
        .expect("strace's children");
    let server: i32 = children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the server under strace");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let _ = tracer.wait();
    assert_eq!(acked, N as usize, "every client should be ACKed");
    let text = std::fs::read_to_string(&trace).expect("strace output");
    // -xx prints paths in hex too.
    let name: String = journal
        .display()
        .to_string()
        .bytes()
        .map(|b| format!("\\x{b:02x}"))
        .collect();
    let name = format!("<{name}>");
    // Addresses whose bind record was written (pending) and then synced (durable).
    let mut pending: Vec<Ipv4Addr> = Vec::new();
    let mut durable: std::collections::BTreeSet<Ipv4Addr> = Default::default();
    let (mut syncs, mut acks_checked) = (0, 0);
    for line in text.lines() {
        // `PID call(FD<path>, "\xHH...", ...) = N`, paths by -y, every byte in hex by -xx.
        let call = line
            .split_once(' ')
            .map(|(_, rest)| rest.trim_start())
            .unwrap_or(line);
        let first_arg = call.split_once(',').map(|(fd, _)| fd).unwrap_or(call);
        let on_journal = first_arg.contains(&name);
        let is = |p: &str| call.starts_with(p);
        if on_journal && (is("write(") || is("pwrite64(")) {
            let text = String::from_utf8_lossy(&strace_bytes(call)).into_owned();
            for rec in text.lines() {
                if let Some(a) = rec
                    .split("\"op\":\"bind\",\"addr\":\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .and_then(|a| a.parse().ok())
                {
                    pending.push(a);
                }
            }
        } else if on_journal
            && (is("fdatasync(") || is("fsync("))
            && call.trim_end().ends_with("= 0")
        {
            durable.extend(pending.drain(..));
            syncs += 1;
        } else if is("sendto(") || is("sendmsg(") {
            let Ok((m, _)) = Message::parse(&strace_bytes(call)) else {
                continue;
            };
            if m.message_type() == Some(MessageType::Ack) {
                assert!(
                    durable.contains(&m.yiaddr),
                    "an ACK for {} was sent before its lease was synced to the journal:\n{line}\n(strace in {})",
                    m.yiaddr,
                    trace.display()
                );
                acks_checked += 1;
            }
        }
    }
    eprintln!(
        "write-ahead: {acked} ACKs received; strace saw {acks_checked} ACKs sent, {} leases \
         synced in {syncs} journal syncs",
        durable.len()
    );
    assert!(
        acks_checked >= N as usize && durable.len() >= N as usize,
        "the check saw too little to mean anything"
    );
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The first quoted buffer of an strace line printed with `-xx` (`"\x02\x01..."`), as bytes.
fn strace_bytes(call: &str) -> Vec<u8> {
    let Some(start) = call.find('"') else {
        return Vec::new();
    };
    let body = &call[start + 1..];
    let body = &body[..body.find('"').unwrap_or(body.len())];
    body.split("\\x")
        .filter(|h| !h.is_empty())
        .filter_map(|h| u8::from_str_radix(&h[..h.len().min(2)], 16).ok())
        .collect()
}

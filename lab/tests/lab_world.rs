//! The lab harness end to end, through the built `bootlab` binary (a user namespace cannot be
//! entered from a threaded test process): a two-segment world with a router and a UDP exchange
//! across it, both segments captured and the pcaps decoded; an impaired link; and a lab killed
//! with SIGKILL mid-run that leaves no namespace, interface, mount or process behind. Each runs
//! as the current user and, when that is root, again as an unprivileged user (uid 65534 via
//! `setpriv`), which proves the rootless path.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bootlab_wire::frame::{ChecksumStatus, Decoder};
use bootlab_wire::ChecksumPolicy;
use pcap_file::pcap::PcapReader;
use pcap_file::TsResolution;

const BIN: &str = env!("CARGO_BIN_EXE_bootlab-demo");
/// The unprivileged user the rootless runs take (nobody).
const NOBODY: &str = "65534";

/// The tests of this file run one at a time: the SIGKILL test looks for the lab's namespace
/// inodes after its death, and a lab of another test made meanwhile may reuse those numbers.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A fresh run directory anyone may write (the rootless lab writes there).
fn run_dir(tag: &str) -> PathBuf {
    let base = std::env::temp_dir().join("bootlab-lab-tests");
    let _ = std::fs::create_dir_all(&base);
    let _ = std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o1777));
    let dir = base.join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        std::fs::create_dir_all(&dir).is_ok(),
        "create {}",
        dir.display()
    );
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777));
    dir
}

/// Whether users other than the owner can reach and run `path` (every directory above it
/// searchable by others, the file readable and executable by others).
fn runnable_by_others(path: &Path) -> bool {
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode())
            .unwrap_or(0)
    };
    mode(path) & 0o005 == 0o005 && path.ancestors().skip(1).all(|d| mode(d) & 0o001 != 0)
}

/// The binary as nobody can run it: `BIN` itself, or a copy in the shared temporary directory
/// when the build directory is private (e.g. a clone under `/root`).
fn bin_for_nobody() -> &'static str {
    static BIN_COPY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN_COPY.get_or_init(|| {
        if runnable_by_others(Path::new(BIN)) {
            return BIN.to_owned();
        }
        let base = run_dir("bin");
        let copy = base.join("bootlab-demo");
        if std::fs::hard_link(BIN, &copy).is_err() {
            if let Err(e) = std::fs::copy(BIN, &copy) {
                panic!("copy {BIN} for the rootless runs: {e}");
            }
        }
        let _ = std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755));
        copy.to_string_lossy().into_owned()
    })
}

/// `bootlab args...`, as the current user or (`rootless`, when we are root) as nobody.
fn bootlab(rootless: bool, args: &[&str]) -> Command {
    if rootless && is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            bin_for_nobody(),
        ]);
        c.args(args);
        c
    } else {
        let mut c = Command::new(BIN);
        c.args(args);
        c
    }
}

fn run(rootless: bool, args: &[&str]) -> Output {
    let out = bootlab(rootless, args).stdin(Stdio::null()).output();
    match out {
        Ok(o) => o,
        Err(e) => panic!("cannot start {BIN} (rootless {rootless}): {e}"),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every frame of a pcap written by the lab, which must use nanosecond timestamps.
fn pcap_frames(path: &Path) -> Vec<(Duration, Vec<u8>)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => panic!("open {}: {e}", path.display()),
    };
    let mut reader = match PcapReader::new(file) {
        Ok(r) => r,
        Err(e) => panic!("read {}: {e}", path.display()),
    };
    assert_eq!(reader.header().ts_resolution, TsResolution::NanoSecond);
    let mut frames = Vec::new();
    while let Some(p) = reader.next_packet() {
        match p {
            Ok(p) => frames.push((p.timestamp, p.data.into_owned())),
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
    frames
}

/// The demo's datagrams seen in one pcap: (payload, ttl), after checking every UDP checksum is
/// complete (transmit offload off) and timestamps never go back.
fn demo_datagrams(path: &Path) -> Vec<(String, u8)> {
    let mut decoder = Decoder::new(ChecksumPolicy::Verify);
    let mut out = Vec::new();
    let mut last = Duration::ZERO;
    for (ts, data) in pcap_frames(path) {
        assert!(ts >= last, "{}: timestamps go back", path.display());
        last = ts;
        let d = decoder.decode(&data);
        let (Some(ip), Some(udp)) = (&d.ipv4, &d.udp) else {
            continue;
        };
        assert_eq!(
            udp.checksum_status,
            ChecksumStatus::Good,
            "{}: {d}",
            path.display()
        );
        if udp.dst_port == 7000 {
            let payload = &data[data.len() - udp.payload_len..];
            out.push((text(payload), ip.ttl));
        }
    }
    out
}

fn two_segments(rootless: bool) {
    let dir = run_dir(if rootless { "two-rootless" } else { "two" });
    let out = run(
        rootless,
        &["two-segments", "--run-dir", &dir.to_string_lossy()],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("udp seen on {\"far\", \"lan\"}"),
        "{stdout}"
    );
    assert!(stdout.contains("inject seen on lan"), "{stdout}");
    // The backgrounded daemon's group was stopped by SIGTERM and reaped, well within the grace.
    let shutdown_ms: u64 = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("shutdown in ")?
                .strip_suffix(" ms")?
                .parse()
                .ok()
        })
        .unwrap_or(u64::MAX);
    assert!(shutdown_ms < 1000, "{stdout}");
    assert!(
        stdout.contains("capture lan frames") && stdout.contains("drops 0"),
        "{stdout}"
    );

    // The client crossed the router: TTL 64 on its own segment, 63 beyond.
    let lan = demo_datagrams(&dir.join("lan.pcap"));
    let far = demo_datagrams(&dir.join("far.pcap"));
    let pings = |v: &[(String, u8)], ttl: u8| {
        v.iter()
            .filter(|(p, t)| p.starts_with("ping") && *t == ttl)
            .map(|(p, _)| p.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(pings(&lan, 64), ["ping 1", "ping 2", "ping 3"], "{lan:?}");
    assert_eq!(pings(&far, 63), ["ping 1", "ping 2", "ping 3"], "{far:?}");

    // The client's static neighbour entry for the router: it never asked for it by ARP, while
    // the router did ask for the client (RFC 826 request, opcode 1).
    let arp_requests: Vec<(String, [u8; 4])> = pcap_frames(&dir.join("lan.pcap"))
        .into_iter()
        .filter(|(_, f)| f.len() >= 42 && f[12..14] == [8, 6] && f[20..22] == [0, 1])
        .map(|(_, f)| (format!("{:02x?}", &f[22..28]), [f[38], f[39], f[40], f[41]]))
        .collect();
    assert!(
        !arp_requests
            .iter()
            .any(|(_, target)| *target == [192, 0, 2, 1]),
        "{arp_requests:?}"
    );
    assert!(
        arp_requests
            .iter()
            .any(|(_, target)| *target == [192, 0, 2, 10]),
        "{arp_requests:?}"
    );

    // Private files per host: its own host name, resolv.conf, hosts and /run.
    for host in ["client", "server"] {
        for want in [
            format!("private {host}: {host}"),
            format!("private {host}: # bootlab host {host}"),
            format!("private {host}: 198.51.100.10\tserver"),
            format!("private {host}: mark"),
        ] {
            assert!(stdout.contains(&want), "{want:?} missing in:\n{stdout}");
        }
    }
    assert!(
        !Path::new("/run/mark").exists(),
        "a host's /run reached the machine's"
    );

    // Logs per host and role.
    let ping_log = std::fs::read_to_string(dir.join("client/ping.stdout")).unwrap_or_default();
    assert!(
        ping_log.contains("reply 3 from 198.51.100.10:7000"),
        "{ping_log}"
    );
    let echo_log = std::fs::read_to_string(dir.join("server/echo.stdout")).unwrap_or_default();
    assert!(
        echo_log.contains("listening on 198.51.100.10:7000"),
        "{echo_log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_segments_with_router() {
    let _serial = serial();
    two_segments(false);
}

#[test]
fn two_segments_with_router_rootless() {
    let _serial = serial();
    two_segments(true);
}

fn parallel(rootless: bool) {
    let dir = run_dir(if rootless {
        "parallel-rootless"
    } else {
        "parallel"
    });
    let out = run(
        rootless,
        &[
            "two-segments",
            "--worlds",
            "3",
            "--run-dir",
            &dir.to_string_lossy(),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    for i in 0..3 {
        assert!(
            stdout.contains(&format!("world {i}: udp seen on {{\"far\", \"lan\"}}")),
            "{stdout}"
        );
        let lan = demo_datagrams(&dir.join(format!("w{i}/lan.pcap")));
        assert_eq!(
            lan.iter().filter(|(p, _)| p.starts_with("ping")).count(),
            3,
            "world {i}: {lan:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn parallel_worlds_in_one_lab() {
    let _serial = serial();
    parallel(false);
}

#[test]
fn parallel_worlds_in_one_lab_rootless() {
    let _serial = serial();
    parallel(true);
}

fn impaired(rootless: bool) {
    let dir = run_dir(if rootless {
        "impair-rootless"
    } else {
        "impair"
    });
    let out = run(
        rootless,
        &[
            "two-segments",
            "--drop-first",
            "--run-dir",
            &dir.to_string_lossy(),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    // The wire dropped the first datagram before the bridge: the client retransmitted, and the
    // segment saw "ping 1" once.
    assert!(
        stdout.contains("client: reply 1 from 198.51.100.10:7000 after 2 attempt(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("client: reply 2 from 198.51.100.10:7000 after 1 attempt(s)"),
        "{stdout}"
    );
    let lan = demo_datagrams(&dir.join("lan.pcap"));
    assert_eq!(
        lan.iter().filter(|(p, _)| p == "ping 1").count(),
        1,
        "{lan:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn impaired_link_drops_the_first_datagram() {
    let _serial = serial();
    impaired(false);
}

#[test]
fn impaired_link_drops_the_first_datagram_rootless() {
    let _serial = serial();
    impaired(true);
}

/// Every UDP datagram of a pcap: (timestamp, source port, destination port, payload).
fn udp_log(path: &Path) -> Vec<(Duration, u16, u16, String)> {
    let mut decoder = Decoder::new(ChecksumPolicy::Verify);
    pcap_frames(path)
        .into_iter()
        .filter_map(|(ts, data)| {
            let d = decoder.decode(&data);
            let udp = d.udp?;
            let payload = text(&data[data.len() - udp.payload_len..]);
            Some((ts, udp.src_port, udp.dst_port, payload))
        })
        .collect()
}

fn impaired_with(rules: &str) -> (String, PathBuf) {
    let dir = run_dir("impair-rules");
    let out = run(
        false,
        &[
            "two-segments",
            "--impair",
            rules,
            "--run-dir",
            &dir.to_string_lossy(),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    (stdout, dir)
}

#[test]
fn impaired_link_duplicates_the_first_datagram() {
    let _serial = serial();
    let (stdout, dir) = impaired_with(
        r#"rules = [{ direction = "from-host", match = { udp = { dst_port = 7000 } }, when = { nth = 1 }, action = "duplicate" }]"#,
    );
    assert!(
        stdout.contains("client: reply 1 from 198.51.100.10:7000 after 1 attempt(s)"),
        "{stdout}"
    );
    for seg in ["lan", "far"] {
        let log = udp_log(&dir.join(format!("{seg}.pcap")));
        let count = |p: &str| {
            log.iter()
                .filter(|(_, _, d, m)| *d == 7000 && m == p)
                .count()
        };
        assert_eq!(
            (count("ping 1"), count("ping 2"), count("ping 3")),
            (2, 1, 1),
            "{seg}: {log:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn impaired_link_delays_the_first_reply() {
    let _serial = serial();
    let (stdout, dir) = impaired_with(
        r#"rules = [{ direction = "to-host", match = { udp = { src_port = 7000 } }, when = { nth = 1 }, action = { delay-ms = 200 } }]"#,
    );
    assert!(
        stdout.contains("client: reply 1 from 198.51.100.10:7000 after 1 attempt(s)"),
        "{stdout}"
    );
    // The segment sees the reply at once; the client gets it (and sends ping 2) 200 ms later.
    let log = udp_log(&dir.join("lan.pcap"));
    let at = |src: u16, p: &str| {
        log.iter()
            .find(|(_, s, _, m)| *s == src && m == p)
            .map(|(t, ..)| *t)
    };
    let (Some(reply1), Some(ping2)) = (
        at(7000, "ping 1"),
        log.iter()
            .find(|(_, _, d, m)| *d == 7000 && m == "ping 2")
            .map(|(t, ..)| *t),
    ) else {
        panic!("{log:?}")
    };
    let gap = ping2.saturating_sub(reply1);
    assert!(
        gap >= Duration::from_millis(200) && gap < Duration::from_millis(290),
        "{gap:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn impaired_link_reorders_the_first_datagram_behind_the_next() {
    let _serial = serial();
    let (stdout, dir) = impaired_with(
        r#"rules = [{ direction = "from-host", match = { udp = { dst_port = 7000 } }, when = { first = 1 }, action = "reorder" }]"#,
    );
    // The first datagram is held until the client's retransmission passes, then follows it.
    assert!(
        stdout.contains("client: reply 1 from 198.51.100.10:7000 after 2 attempt(s)"),
        "{stdout}"
    );
    let log = udp_log(&dir.join("lan.pcap"));
    let pings: Vec<_> = log
        .iter()
        .filter(|(_, _, d, _)| *d == 7000)
        .map(|(t, _, _, m)| (*t, m.clone()))
        .collect();
    assert_eq!(
        pings.iter().filter(|(_, m)| m == "ping 1").count(),
        2,
        "{pings:?}"
    );
    // Both copies reach the segment together, 300 ms after the client first sent.
    assert!(
        pings[1].0 - pings[0].0 < Duration::from_millis(50),
        "{pings:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The pids of `pid` and all its descendants.
fn process_tree(pid: u32) -> BTreeSet<u32> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![pid];
    // Bounded by the number of processes.
    while let Some(p) = todo.pop() {
        if !seen.insert(p) {
            continue;
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            todo.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    seen
}

/// Namespace inodes (`net:[4026532...]`) a process is in or holds open.
fn namespaces_of(pid: u32) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for dir in ["ns", "fd"] {
        let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/{dir}")) else {
            continue;
        };
        for e in entries.flatten() {
            if let Ok(target) = std::fs::read_link(e.path()) {
                let t = target.to_string_lossy().into_owned();
                if ["net:[", "mnt:[", "pid:[", "user:[", "uts:["]
                    .iter()
                    .any(|k| t.starts_with(k))
                {
                    out.insert(t);
                }
            }
        }
    }
    out
}

/// When a process started, in clock ticks since boot (`/proc/<pid>/stat` field 22).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: count fields after its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Now, in the same clock ticks (USER_HZ is 100 on Linux).
fn now_ticks() -> u64 {
    let up = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    let secs: f64 = up
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    (secs * 100.0) as u64 + 1
}

/// Every namespace inode held by a process that started before `ticks`. (Inode numbers of
/// freed namespaces are reused at once by namespaces made later, e.g. by tests running beside
/// this one; a process that started after the kill cannot hold one of the lab's.)
fn namespaces_held_by_processes_older_than(ticks: u64) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            if let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
                if start_ticks(pid).is_some_and(|t| t <= ticks) {
                    out.extend(namespaces_of(pid));
                }
            }
        }
    }
    out
}

fn interfaces() -> BTreeSet<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn mounts() -> BTreeSet<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn killed_leaves_nothing(rootless: bool) {
    let dir = run_dir(if rootless { "kill9-rootless" } else { "kill9" });
    let ifaces_before = interfaces();
    let mounts_before = mounts();
    let own_ns = namespaces_of(std::process::id());

    let mut child = match bootlab(
        rootless,
        &[
            "two-segments",
            "--hold",
            "--run-dir",
            &dir.to_string_lossy(),
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("spawn {BIN}: {e}"),
    };
    let Some(stdout) = child.stdout.take() else {
        panic!("no stdout")
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    // Bounded by the deadline.
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) if l.starts_with("HOLDING") => break,
            Ok(l) => lines.push(l),
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(e) => {
                let _ = child.kill();
                panic!("lab never held ({e:?}); output: {lines:?}");
            }
        }
    }

    // The whole lab: the original process, its PID-namespace init, the echo server.
    let tree = process_tree(child.id());
    assert!(
        tree.len() >= 3,
        "expected the lab, its init and a host process: {tree:?}"
    );
    let lab_ns: BTreeSet<String> = tree
        .iter()
        .flat_map(|p| namespaces_of(*p))
        .filter(|n| !own_ns.contains(n))
        .collect();
    // Its own net, mnt, pid namespaces, the switch and three hosts' net, mnt and uts at least.
    assert!(
        lab_ns.iter().filter(|n| n.starts_with("net:")).count() >= 5,
        "{lab_ns:?}"
    );
    assert!(
        lab_ns.iter().filter(|n| n.starts_with("mnt:")).count() >= 4,
        "{lab_ns:?}"
    );
    // The lab's interfaces are not the host's.
    assert_eq!(interfaces(), ifaces_before);

    // SIGKILL the original process only; the kernel must take down the rest.
    let killed_at = now_ticks();
    let _ = child.kill();
    let _ = child.wait();

    let deadline = Instant::now() + Duration::from_secs(10);
    let alive = || {
        tree.iter()
            .copied()
            .filter(|p| start_ticks(*p).is_some_and(|t| t <= killed_at))
            .collect::<Vec<_>>()
    };
    let leftover_ns = || {
        let all = namespaces_held_by_processes_older_than(killed_at);
        lab_ns
            .iter()
            .filter(|n| all.contains(*n))
            .cloned()
            .collect::<Vec<_>>()
    };
    // Bounded by the deadline.
    while (!alive().is_empty() || !leftover_ns().is_empty()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(alive(), Vec::<u32>::new(), "lab processes outlived SIGKILL");
    assert_eq!(
        leftover_ns(),
        Vec::<String>::new(),
        "lab namespaces outlived SIGKILL"
    );
    assert_eq!(interfaces(), ifaces_before, "interfaces changed");
    let new_mounts: Vec<String> = mounts().difference(&mounts_before).cloned().collect();
    assert_eq!(new_mounts, Vec::<String>::new(), "mounts left behind");
    assert!(!Path::new("/run/netns").read_dir().is_ok_and(
        |mut d| d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().contains("bootlab")))
    ));
    // Issue 18: captures are written as frames arrive, so a killed lab keeps what it saw.
    let lan = demo_datagrams(&dir.join("lan.pcap"));
    assert!(
        !lan.is_empty(),
        "the killed lab's lan.pcap holds none of the demo's datagrams"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM to the lab's original process is forwarded to the lab (the PID-namespace init),
/// which shuts its world down cleanly: processes stopped, pcaps flushed.
#[test]
fn sigterm_shuts_down_cleanly() {
    let _serial = serial();
    let dir = run_dir("sigterm");
    let mut child = match bootlab(
        false,
        &[
            "two-segments",
            "--hold",
            "--run-dir",
            &dir.to_string_lossy(),
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("spawn {BIN}: {e}"),
    };
    let Some(stdout) = child.stdout.take() else {
        panic!("no stdout")
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    // Bounded by the deadline.
    while !lines.iter().any(|l: &String| l.starts_with("HOLDING")) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => lines.push(l),
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(e) => {
                let _ = child.kill();
                panic!("lab never held ({e:?}); output: {lines:?}");
            }
        }
    }
    let sent = Instant::now();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let status = child.wait();
    assert!(
        sent.elapsed() < Duration::from_secs(4),
        "took {:?}",
        sent.elapsed()
    );
    assert!(status.as_ref().is_ok_and(|s| s.success()), "{status:?}");
    lines.extend(rx.try_iter());
    assert!(
        lines.iter().any(|l| l == "SIGTERM: shutting down"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("capture lan frames")),
        "{lines:?}"
    );
    assert!(!demo_datagrams(&dir.join("lan.pcap")).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigkill_mid_run_leaves_nothing() {
    let _serial = serial();
    killed_leaves_nothing(false);
}

#[test]
fn sigkill_mid_run_leaves_nothing_rootless() {
    let _serial = serial();
    killed_leaves_nothing(true);
}

//! Runs the installed peers for real from their profiles, each check in throwaway network
//! namespaces made here (`unshare --net` holders joined with `nsenter`), never on the host's
//! interfaces: every server profile serves a real client; the client, relay and TFTP profiles are
//! exercised the same way. Needs root (`nsenter`); otherwise, and for peers that are not installed,
//! it prints what it did not run.
//!
//! Topology: host `srv` (s0 192.0.2.1/24) — veth — host `cli` (c0, no address); relay checks put
//! host `rly` (c0r 192.0.2.254/24, u0 198.51.100.254/24) between `cli` and `srv` (u0s 198.51.100.1/24).

use bootlab_lab::plan::role_kind::RoleKind;
use bootlab_lab::roles::profile::{
    peers_dir, udp_port_bound, Binding, Installation, Pool, ProfileSet, ReadyCheck, Rendered,
    RoleParams,
};
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CLIENT_MAC: &str = "02:00:00:00:02:0a";

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn profiles() -> ProfileSet {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles"));
    ProfileSet::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"))
}

/// Why a check cannot run here (printed, not failed), or None.
fn cannot_run(set: &ProfileSet, names: &[&str]) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root: nsenter into the test namespaces needs CAP_SYS_ADMIN".into());
    }
    for tool in ["/usr/bin/unshare", "/usr/bin/nsenter"] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} missing"));
        }
    }
    for n in names {
        let p = set.get(n).unwrap_or_else(|e| panic!("{e}"));
        if let Installation::NotInstalled { binary, package } = p.installation(&peers_dir()) {
            return Some(format!(
                "{n} not installed ({} missing; Debian package {package})",
                binary.display()
            ));
        }
    }
    None
}

macro_rules! require {
    ($set:expr, $($name:expr),+) => {
        if let Some(why) = cannot_run(&$set, &[$($name),+]) {
            println!("NOT RUN: {}", why);
            return;
        }
    };
}

/// A network namespace kept alive by a `sleep` holder (bounded: it ends by itself).
struct Netns {
    holder: Child,
}

impl Netns {
    fn new() -> Netns {
        let holder = Command::new("unshare")
            .args(["--net", "--", "sleep", "300"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare --net");
        let ns = Netns { holder };
        // The holder must have entered its namespace before we join it.
        let me = std::fs::read_link("/proc/self/ns/net").expect("own netns");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_link(format!("/proc/{}/ns/net", ns.pid()))
            .map(|l| l == me)
            .unwrap_or(true)
        {
            assert!(
                Instant::now() < deadline,
                "unshare --net never entered a namespace"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        ns.sh("ip link set lo up; sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
        ns
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `nsenter -t PID -n` + a command.
    fn cmd(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.pid().to_string(), "-n", "--"]);
        c
    }

    /// Runs a shell snippet inside; panics with its output on failure.
    fn sh(&self, script: &str) -> String {
        let out = self
            .cmd()
            .args(["sh", "-ec", script])
            .output()
            .expect("nsenter sh");
        assert!(
            out.status.success(),
            "in netns {}: {script}\n{}{}",
            self.pid(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    /// Kills every process still in this namespace (all started by this test: e.g. dhcpcd's
    /// privileged proxy outlives SIGTERM to its main PID), then the holder.
    fn drop(&mut self) {
        let own = std::fs::read_link("/proc/self/ns/net").ok();
        let theirs = std::fs::read_link(format!("/proc/{}/ns/net", self.pid())).ok();
        // Never the test's own namespace (the host's).
        if let Some(ns) = theirs.filter(|t| Some(t) != own.as_ref()) {
            let me = std::process::id();
            for _round in 0..3 {
                let mut left = 0;
                for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let Some(pid) = entry
                        .file_name()
                        .to_str()
                        .and_then(|s| s.parse::<u32>().ok())
                    else {
                        continue;
                    };
                    if pid == me || pid == self.pid() {
                        continue;
                    }
                    if std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|l| l == ns) {
                        left += 1;
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid as i32),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
                if left == 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A veth pair between two namespaces; turns transmit checksum offload off when ethtool exists.
fn link(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    a.sh(&format!(
        "ip link add {a_if} type veth peer name {b_if} netns {}",
        b.pid()
    ));
    for (ns, ifname) in [(a, a_if), (b, b_if)] {
        ns.sh(&format!("ip link set {ifname} up; if command -v ethtool >/dev/null; then ethtool -K {ifname} tx off >/dev/null; fi"));
    }
}

/// A peer started from its rendered profile inside a namespace, its output lines collected.
struct Running {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    transcript: Vec<String>,
    rendered: Rendered,
}

impl Running {
    fn start(ns: &Netns, rendered: Rendered) -> Running {
        rendered.write_files().unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = ns.cmd();
        cmd.args(rendered.launch_argv());
        cmd.env_clear()
            .envs(rendered.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&rendered.state_dir);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", rendered.profile));
        let (tx, lines) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Running {
            name: rendered.profile.clone(),
            child,
            lines,
            transcript: Vec::new(),
            rendered,
        }
    }

    /// Waits until `pred` holds for a line (true) or the bound passes (false).
    fn wait_line(
        &mut self,
        within: Duration,
        mut pred: impl FnMut(&Rendered, &str) -> bool,
    ) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(line) => {
                    let hit = pred(&self.rendered, &line);
                    self.transcript.push(line);
                    if hit {
                        return true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// Waits for the profile's readiness signal.
    fn wait_ready(&mut self, ns: &Netns, within: Duration) {
        let started = Instant::now();
        let ok = match self.rendered.ready.clone() {
            ReadyCheck::Log(_) => self.wait_line(within, |r, l| r.ready_on_line(l)),
            ReadyCheck::UdpPort(port) => {
                let deadline = Instant::now() + within;
                loop {
                    if udp_port_bound(ns.pid(), port).unwrap_or(false) {
                        break true;
                    }
                    if Instant::now() > deadline || self.child.try_wait().ok().flatten().is_some() {
                        break false;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            ReadyCheck::File(f) => {
                let deadline = Instant::now() + within;
                while !f.exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                f.exists()
            }
            ReadyCheck::Started => true,
        };
        assert!(
            ok,
            "{}: not ready within {within:?}; output:\n{}",
            self.name.clone(),
            self.drain()
        );
        println!(
            "{}: ready after {} ms ({:?})",
            self.name,
            started.elapsed().as_millis(),
            self.rendered.ready
        );
    }

    /// Waits for an event (from a hook line or an event rule) and returns it.
    fn wait_event(&mut self, event: &str, within: Duration) -> serde_json::Value {
        let mut found = None;
        let ok = self.wait_line(within, |r, l| {
            found = r
                .events_on_line(l)
                .into_iter()
                .find(|e| e["event"] == event);
            found.is_some()
        });
        match found {
            Some(e) if ok => e,
            _ => panic!(
                "{}: no {event} event within {within:?}; output:\n{}",
                self.name.clone(),
                self.drain()
            ),
        }
    }

    /// Waits for the process to exit; returns the events its exit status produces.
    fn wait_exit(&mut self, within: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                let code = st.code().unwrap_or(-1);
                return self.rendered.events_on_exit(code);
            }
            assert!(
                Instant::now() < deadline,
                "{}: still running after {within:?}; output:\n{}",
                self.name.clone(),
                self.drain()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn drain(&mut self) -> String {
        while let Ok(l) = self.lines.try_recv() {
            self.transcript.push(l);
        }
        self.transcript.join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let out = self.drain();
            eprintln!("--- {} output ---\n{out}", self.name);
        }
        // SIGTERM (the profile's stop signal for every peer here), then SIGKILL after 2 s.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn state_dir(tag: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("profile-run")
        .join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn render(
    set: &ProfileSet,
    name: &str,
    role: RoleKind,
    params: &RoleParams,
    tag: &str,
) -> Rendered {
    let p = set.get(name).unwrap_or_else(|e| panic!("{e}"));
    p.render(
        role,
        params,
        &set.render_env(state_dir(&format!("{tag}-{name}"))),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn server_params(interface: &str) -> RoleParams {
    RoleParams {
        interface: Some(interface.into()),
        server_address: Some(ip(192, 0, 2, 1)),
        subnet: "192.0.2.0/24".parse().ok(),
        pool: Some(Pool {
            start: ip(192, 0, 2, 100),
            end: ip(192, 0, 2, 150),
        }),
        lease_time: Some(600),
        conflict_check: Some(false),
        ..RoleParams::default()
    }
}

fn client_params() -> RoleParams {
    RoleParams {
        interface: Some("c0".into()),
        mac: CLIENT_MAC.parse().ok(),
        ..RoleParams::default()
    }
}

/// `server` (role `srole`) with `params` on srv:s0, `client` (role `crole`) on cli:c0; the
/// client must print `bound` with an address in `expect` and have it on c0.
fn serve_one_client(
    server: &str,
    srole: RoleKind,
    params: RoleParams,
    client: &str,
    crole: RoleKind,
    expect: &[Ipv4Addr],
) {
    let set = profiles();
    require!(set, server, client);
    let srv = Netns::new();
    let cli = Netns::new();
    link(&srv, "s0", &cli, "c0");
    cli.sh(&format!("ip link set c0 address {CLIENT_MAC}"));
    srv.sh("ip addr add 192.0.2.1/24 dev s0");
    let tag = format!("{server}-{client}");
    let mut s = Running::start(&srv, render(&set, server, srole, &params, &tag));
    s.wait_ready(&srv, Duration::from_secs(10));
    let t0 = Instant::now();
    let mut c = Running::start(&cli, render(&set, client, crole, &client_params(), &tag));
    let ev = c.wait_event("bound", Duration::from_secs(30));
    let addr: Ipv4Addr = ev["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("bound without address: {ev}"));
    println!(
        "{server} -> {client}: {ev} after {} ms",
        t0.elapsed().as_millis()
    );
    assert!(
        expect.contains(&addr),
        "{client} bound {addr}, expected one of {expect:?}"
    );
    let shown = cli.sh("ip -4 -o addr show dev c0");
    assert!(
        shown.contains(&format!("inet {addr}/24")),
        "address not applied before the event: {shown}"
    );
    // The server's own event rule for the reply it sent must fire too.
    let server_event = match srole {
        RoleKind::BootpServer => "boot-reply-sent",
        _ => "lease-acked",
    };
    if s.rendered.events.iter().any(|e| e.event == server_event) {
        let ev = s.wait_event(server_event, Duration::from_secs(5));
        println!("{server}: {ev}");
        assert_eq!(ev["address"], addr.to_string());
    }
}

fn pool_addresses() -> Vec<Ipv4Addr> {
    (100..=150).map(|d| ip(192, 0, 2, d)).collect()
}

#[test]
fn isc_dhcpd_serves_udhcpc() {
    serve_one_client(
        "isc-dhcpd",
        RoleKind::DhcpServer,
        server_params("s0"),
        "udhcpc",
        RoleKind::DhcpClient,
        &pool_addresses(),
    );
}

#[test]
fn kea_dhcp4_serves_udhcpc() {
    serve_one_client(
        "kea-dhcp4",
        RoleKind::DhcpServer,
        server_params("s0"),
        "udhcpc",
        RoleKind::DhcpClient,
        &pool_addresses(),
    );
}

#[test]
fn dnsmasq_serves_udhcpc() {
    serve_one_client(
        "dnsmasq",
        RoleKind::DhcpServer,
        server_params("s0"),
        "udhcpc",
        RoleKind::DhcpClient,
        &pool_addresses(),
    );
}

#[test]
fn udhcpd_serves_udhcpc() {
    serve_one_client(
        "udhcpd",
        RoleKind::DhcpServer,
        server_params("s0"),
        "udhcpc",
        RoleKind::DhcpClient,
        &pool_addresses(),
    );
}

#[test]
fn cmu_bootpd_serves_dhclient_a_static_binding() {
    let mut p = server_params("s0");
    p.pool = None;
    p.bindings = vec![Binding {
        mac: CLIENT_MAC.parse().expect("mac"),
        address: ip(192, 0, 2, 10),
        bootfile: None,
        hostname: Some("rom".into()),
    }];
    serve_one_client(
        "cmu-bootpd",
        RoleKind::BootpServer,
        p,
        "dhclient",
        RoleKind::BootpClient,
        &[ip(192, 0, 2, 10)],
    );
}

#[test]
fn dhclient_binds_from_dnsmasq() {
    serve_one_client(
        "dnsmasq",
        RoleKind::DhcpServer,
        server_params("s0"),
        "dhclient",
        RoleKind::DhcpClient,
        &pool_addresses(),
    );
}

#[test]
fn dhcpcd_binds_from_isc_dhcpd() {
    serve_one_client(
        "isc-dhcpd",
        RoleKind::DhcpServer,
        server_params("s0"),
        "dhcpcd",
        RoleKind::DhcpClient,
        &pool_addresses(),
    );
}

/// cli:c0 — c0r:rly:u0 — u0s:srv, isc-dhcpd on srv (knowing both subnets), `relay` on rly.
fn relay_one_client(relay: &str) {
    let set = profiles();
    require!(set, relay, "isc-dhcpd", "udhcpc");
    let srv = Netns::new();
    let rly = Netns::new();
    let cli = Netns::new();
    link(&rly, "c0r", &cli, "c0");
    link(&rly, "u0", &srv, "u0s");
    cli.sh(&format!("ip link set c0 address {CLIENT_MAC}"));
    rly.sh("ip addr add 192.0.2.254/24 dev c0r; ip addr add 198.51.100.254/24 dev u0; sysctl -qw net.ipv4.ip_forward=1");
    srv.sh("ip addr add 198.51.100.1/24 dev u0s; ip route add 192.0.2.0/24 via 198.51.100.254");
    let mut sp = server_params("u0s");
    sp.server_address = Some(ip(198, 51, 100, 1));
    sp.server_subnet = "198.51.100.0/24".parse().ok();
    sp.router = Some(ip(192, 0, 2, 254));
    let tag = format!("relay-{relay}");
    let mut s = Running::start(
        &srv,
        render(&set, "isc-dhcpd", RoleKind::DhcpServer, &sp, &tag),
    );
    s.wait_ready(&srv, Duration::from_secs(10));
    let rp = RoleParams {
        client_interface: Some("c0r".into()),
        server_interface: Some("u0".into()),
        servers: vec![ip(198, 51, 100, 1)],
        address: Some(ip(192, 0, 2, 254)),
        ..RoleParams::default()
    };
    let mut r = Running::start(&rly, render(&set, relay, RoleKind::Relay, &rp, &tag));
    r.wait_ready(&rly, Duration::from_secs(10));
    let mut c = Running::start(
        &cli,
        render(&set, "udhcpc", RoleKind::DhcpClient, &client_params(), &tag),
    );
    let ev = c.wait_event("bound", Duration::from_secs(30));
    println!("isc-dhcpd via {relay} -> udhcpc: {ev}");
    let addr: Ipv4Addr = ev["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("address");
    assert!(pool_addresses().contains(&addr));
    let _ = r.drain();
    println!("{relay} output:\n{}", r.transcript.join("\n"));
}

#[test]
fn dhcrelay_relays() {
    relay_one_client("dhcrelay");
}

#[test]
fn dhcp_helper_relays() {
    relay_one_client("dhcp-helper");
}

#[test]
fn cmu_bootpgw_relays() {
    relay_one_client("cmu-bootpgw");
}

/// `server` serves a 3000-byte file from its root; `client` fetches it.
fn tftp_transfer(server: &str, client: &str) {
    let set = profiles();
    require!(set, server, client);
    let srv = Netns::new();
    let cli = Netns::new();
    link(&srv, "s0", &cli, "c0");
    srv.sh("ip addr add 192.0.2.1/24 dev s0");
    cli.sh("ip addr add 192.0.2.20/24 dev c0");
    let tag = format!("tftp-{server}-{client}");
    let root = state_dir(&format!("{tag}-root"));
    std::fs::create_dir_all(root.join("boot")).expect("root");
    let body: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("boot/rom.img"), &body).expect("file");
    // Servers that drop to nobody must be able to read it (tftpd-hpa chroots there first).
    let _ = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&root)
        .status();
    let sp = RoleParams {
        interface: Some("s0".into()),
        address: Some(ip(192, 0, 2, 1)),
        root: Some(root.clone()),
        ..RoleParams::default()
    };
    let mut s = Running::start(&srv, render(&set, server, RoleKind::TftpServer, &sp, &tag));
    s.wait_ready(&srv, Duration::from_secs(10));
    let cp = RoleParams {
        interface: Some("c0".into()),
        file: Some("boot/rom.img".into()),
        server: Some(ip(192, 0, 2, 1)),
        ..RoleParams::default()
    };
    let cr = render(&set, client, RoleKind::TftpClient, &cp, &tag);
    let out = cr.state_dir.join("download");
    let mut c = Running::start(&cli, cr);
    let events = c.wait_exit(Duration::from_secs(20));
    let got = std::fs::read(&out).unwrap_or_default();
    assert!(
        events.iter().any(|e| e["event"] == "transfer-complete"),
        "{client}: exit gave {events:?}; output:\n{}",
        c.drain()
    );
    assert_eq!(
        got.len(),
        body.len(),
        "{server} -> {client}: size; client output:\n{}\nserver output:\n{}",
        c.drain(),
        s.drain()
    );
    assert!(got == body, "{server} -> {client}: contents differ");
    println!("{server} -> {client}: {} bytes, {events:?}", got.len());
}

#[test]
fn tftp_atftpd_to_tftp_hpa() {
    tftp_transfer("atftpd", "tftp-hpa");
}

#[test]
fn tftp_dnsmasq_to_atftp() {
    tftp_transfer("dnsmasq", "atftp");
}

#[test]
fn tftp_tftpd_hpa_to_busybox() {
    tftp_transfer("tftpd-hpa", "busybox-tftp");
}

fn static_binding() -> Vec<Binding> {
    vec![Binding {
        mac: CLIENT_MAC.parse().expect("mac"),
        address: ip(192, 0, 2, 10),
        bootfile: Some("boot/rom.img".into()),
        hostname: Some("rom".into()),
    }]
}

/// A BOOTP server answers a real BOOTP client (dhcpcd with `bootp`) from a static binding.
fn bootp_serves_dhcpcd(server: &str) {
    let mut p = server_params("s0");
    p.pool = None;
    p.bindings = static_binding();
    p.next_server = Some(ip(192, 0, 2, 1));
    serve_one_client(
        server,
        RoleKind::BootpServer,
        p,
        "dhcpcd",
        RoleKind::BootpClient,
        &[ip(192, 0, 2, 10)],
    );
}

#[test]
fn bootp_isc_dhcpd_serves_dhcpcd_bootp() {
    bootp_serves_dhcpcd("isc-dhcpd");
}

#[test]
fn bootp_dnsmasq_serves_dhcpcd_bootp() {
    bootp_serves_dhcpcd("dnsmasq");
}

#[test]
fn bootp_cmu_bootpd_serves_dhcpcd_bootp() {
    bootp_serves_dhcpcd("cmu-bootpd");
}

/// Kea's BOOTP hook drops requests without the RFC 1048 magic cookie, which dhcpcd's BOOTP
/// mode leaves out (a finding for the matrix); CMU `bootptest` sends the cookie, so it checks the
/// profile: Kea must allocate the reserved address to it.
#[test]
fn bootp_kea_dhcp4_answers_bootptest() {
    let set = profiles();
    require!(set, "kea-dhcp4");
    if !Path::new("/usr/sbin/bootptest").exists() {
        println!("NOT RUN: bootptest (Debian package bootp) missing");
        return;
    }
    let srv = Netns::new();
    let cli = Netns::new();
    link(&srv, "s0", &cli, "c0");
    srv.sh("ip addr add 192.0.2.1/24 dev s0");
    cli.sh(&format!(
        "ip link set c0 address {CLIENT_MAC}; ip addr add 192.0.2.50/24 dev c0"
    ));
    let mut p = server_params("s0");
    p.bindings = static_binding();
    let mut s = Running::start(
        &srv,
        render(
            &set,
            "kea-dhcp4",
            RoleKind::BootpServer,
            &p,
            "kea-bootptest",
        ),
    );
    s.wait_ready(&srv, Duration::from_secs(10));
    let mut bt = cli
        .cmd()
        .args(["timeout", "15", "bootptest", "-h", "192.0.2.1"])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bootptest");
    let ev = s.wait_event("lease-acked", Duration::from_secs(10));
    let _ = bt.kill();
    let _ = bt.wait();
    println!("kea-dhcp4 (bootp) -> bootptest: {ev}");
    assert_eq!(ev["address"], "192.0.2.10");
}

/// iPXE in qemu (e1000 ROM) gets an address from dnsmasq and downloads a boot script over TFTP.
#[test]
fn ipxe_qemu_boots_from_dnsmasq() {
    let set = profiles();
    require!(set, "ipxe-qemu", "dnsmasq");
    if !Path::new("/usr/lib/ipxe/qemu/efi-e1000.rom").exists()
        || !Path::new("/dev/net/tun").exists()
    {
        println!("NOT RUN: ipxe-qemu needs /usr/lib/ipxe/qemu/efi-e1000.rom and /dev/net/tun");
        return;
    }
    let srv = Netns::new();
    let cli = Netns::new();
    link(&srv, "s0", &cli, "c0");
    srv.sh("ip addr add 192.0.2.1/24 dev s0");
    let root = state_dir("ipxe-root");
    std::fs::create_dir_all(&root).expect("root");
    std::fs::write(
        root.join("boot.ipxe"),
        "#!ipxe\necho bootlab-ipxe-script-ran\nexit\n",
    )
    .expect("script");
    let _ = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&root)
        .status();
    let mut sp = server_params("s0");
    sp.boot_file = Some("boot.ipxe".into());
    sp.next_server = Some(ip(192, 0, 2, 1));
    sp.root = Some(root);
    let mut s = Running::start(
        &srv,
        render(&set, "dnsmasq", RoleKind::DhcpServer, &sp, "ipxe"),
    );
    s.wait_ready(&srv, Duration::from_secs(10));
    let cp = RoleParams {
        interface: Some("c0".into()),
        mac: "52:54:00:00:02:0a".parse().ok(),
        ..RoleParams::default()
    };
    let t0 = Instant::now();
    let mut c = Running::start(
        &cli,
        render(&set, "ipxe-qemu", RoleKind::RomClient, &cp, "ipxe"),
    );
    let bound = c.wait_event("bound", Duration::from_secs(90));
    println!("ipxe-qemu: {bound} after {} ms", t0.elapsed().as_millis());
    let got = c.wait_event("boot-file-received", Duration::from_secs(60));
    println!("ipxe-qemu: {got} after {} ms", t0.elapsed().as_millis());
    assert!(
        c.wait_line(Duration::from_secs(30), |_, l| l
            .contains("bootlab-ipxe-script-ran")),
        "script never ran:\n{}",
        c.drain()
    );
}

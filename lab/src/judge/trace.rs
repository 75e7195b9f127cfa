//! Traces: the decoded frames of every segment of a run, and their normalized text.
//!
//! Normalizing makes a trace identical on every run of the same code: hosts by name instead of
//! MAC and IP, transaction ids and ephemeral ports as tokens in order of appearance (`xid#1`,
//! `port#2`), no times, and repeated lines folded as the scenario allows (see
//! [`crate::plan::scenario::Collapse`]). Every line starts with the segment and the frame number in that
//! segment's pcap so a reader can find the packet in Wireshark:
//!
//! ```text
//! lan #1  rom > *  0.0.0.0:68 > 255.255.255.255:67  BOOTREQUEST xid#1 secs=0 chaddr=rom [53=DISCOVER ...]
//! ```
//!
//! Frame numbers are left out of the golden text (they move when a retransmission is folded);
//! [`Trace::normalized`] renders without them, [`Trace::annotated`] with them.

use crate::plan::role_kind::RoleKind;
use crate::plan::scenario::Collapse;
use bootlab_wire::arp;
use bootlab_wire::bootp::{self, code, Message, Op, Vendor};
use bootlab_wire::frame::{self, App, Decoded, Ipv4};
use bootlab_wire::tftp;
use bootlab_wire::{nfs, tcp};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The segment it was captured on.
    pub segment: String,
    /// 1-based number in that segment's pcap.
    pub number: usize,
    /// Time since the first frame of the run.
    pub time: Duration,
    /// The decoded layers.
    pub decoded: Decoded,
}

/// Names the lab gave to addresses: MACs and static IPv4 addresses of hosts.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// MAC -> host name.
    pub macs: HashMap<[u8; 6], String>,
    /// IPv4 address -> host name.
    pub ips: HashMap<Ipv4Addr, String>,
}

impl Names {
    /// The name of a MAC: the host, `*` for broadcast, else the address.
    pub fn mac(&self, m: [u8; 6]) -> String {
        if m == [0xff; 6] {
            return "*".into();
        }
        if m == [0; 6] {
            return "0".into();
        }
        self.macs.get(&m).cloned().unwrap_or_else(|| mac_text(m))
    }

    /// The name of an IPv4 address: the host, `*` for limited broadcast, else the address.
    pub fn ip(&self, a: Ipv4Addr) -> String {
        if a == Ipv4Addr::BROADCAST {
            return "*".into();
        }
        self.ips.get(&a).cloned().unwrap_or_else(|| a.to_string())
    }
}

/// `02:00:5e:...` form.
pub fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An event printed by a role during the run.
#[derive(Debug, Clone)]
pub struct RoleEvent {
    /// The role that printed it.
    pub role: String,
    /// The event name.
    pub name: String,
    /// All its fields.
    pub fields: serde_json::Value,
}

/// The clock a role ran on. Timing rules judge a gap in the clock of the role that sent the
/// frames, never the scenario's `time-scale` as such.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clock {
    /// Protocol time ran `scale` times faster than the capture's (ours, `time-scale`).
    Scaled(f64),
    /// The host's real clock (every third-party peer; hosts with no role of the lab's).
    Real,
}

impl Clock {
    /// How many protocol seconds one captured second is for this clock.
    pub fn scale(self) -> f64 {
        match self {
            Clock::Scaled(s) => s,
            Clock::Real => 1.0,
        }
    }
}

impl std::fmt::Display for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Clock::Scaled(s) if *s == 1.0 => f.write_str("real time"),
            Clock::Scaled(s) => write!(f, "scaled x{s}"),
            Clock::Real => f.write_str("real time"),
        }
    }
}

/// A role of the run as the judge sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleInfo {
    /// Its kind.
    pub kind: RoleKind,
    /// The host it ran on.
    pub host: String,
    /// The clock it ran on.
    pub clock: Clock,
    /// When the lab started its process, since the Unix epoch (the capture timestamps' clock).
    pub started: Option<Duration>,
    /// When the lab read the line in which it said it was ready (ours: the `ready` event;
    /// peers: the profile's ready pattern), since the Unix epoch; `None` when it never did.
    pub ready: Option<Duration>,
    /// When the lab read the line in which a DHCP client said its own start-up wait began (a
    /// profile's `start-wait-log`), since the Unix epoch.
    pub start_wait: Option<Duration>,
    /// A DHCP client whose start-up wait the lab set or turned off (ours: `start-delay` 1 s;
    /// dhcpcd: `nodelay`) rather than leaving its own (`start-delay = "own"`).
    pub start_delay_by_lab: bool,
    /// A server's configured secs threshold (the scenario's `secs-threshold`, RFC 1542 §5.2):
    /// it must not answer a request whose `secs` is below it.
    pub secs_threshold: Option<u16>,
}

/// A whole run's frames and context, what rule checks look at.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// Every frame, segment by segment (segments in name order), each in capture order.
    pub frames: Vec<Frame>,
    /// The lab's names for addresses.
    pub names: Names,
    /// Events the roles printed, in the order the lab saw them.
    pub events: Vec<RoleEvent>,
    /// Role name -> what it is, where it ran and on which clock.
    pub roles: HashMap<String, RoleInfo>,
    /// The capture time of the run's first frame since the Unix epoch: frame `time`s count from
    /// it (see [`Trace::at`]).
    pub epoch: Duration,
}

/// Stable tokens for values that change between runs.
#[derive(Default)]
struct Tokens {
    xids: HashMap<u32, usize>,
    ports: HashMap<(Ipv4Addr, u16), usize>,
}

impl Tokens {
    fn xid(&mut self, x: u32) -> String {
        let n = self.xids.len() + 1;
        format!("xid#{}", self.xids.entry(x).or_insert(n))
    }
    /// A port token per (address, port): two hosts may pick the same ephemeral number.
    fn port(&mut self, addr: Ipv4Addr, p: u16) -> String {
        if matches!(p, 67..=69) || p == nfs::PORTMAP_PORT || p == nfs::NFS_PORT {
            return p.to_string();
        }
        let n = self.ports.len() + 1;
        format!("port#{}", self.ports.entry((addr, p)).or_insert(n))
    }
}

impl Trace {
    /// A frame's capture time since the Unix epoch, comparable with [`RoleInfo::started`].
    pub fn at(&self, f: &Frame) -> Duration {
        self.epoch + f.time
    }

    /// Frames of one segment.
    pub fn on<'a>(&'a self, segment: &'a str) -> impl Iterator<Item = &'a Frame> + 'a {
        self.frames.iter().filter(move |f| f.segment == segment)
    }

    /// Every BOOTP/DHCP message with its frame.
    pub fn bootp(&self) -> impl Iterator<Item = (&Frame, &Message)> {
        self.frames.iter().filter_map(|f| match &f.decoded.app {
            App::Bootp(m) => Some((f, m)),
            _ => None,
        })
    }

    /// Every ARP/RARP message with its frame.
    pub fn arp(&self) -> impl Iterator<Item = (&Frame, &arp::Repr)> {
        self.frames
            .iter()
            .filter_map(|f| f.decoded.arp.as_ref().map(|a| (f, a)))
    }

    /// Every TFTP packet with its frame.
    pub fn tftp(&self) -> impl Iterator<Item = (&Frame, &tftp::Packet)> {
        self.frames.iter().filter_map(|f| match &f.decoded.app {
            App::Tftp(p) => Some((f, p)),
            _ => None,
        })
    }

    /// Events of one role with one name.
    pub fn events_of<'a>(
        &'a self,
        role: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a RoleEvent> + 'a {
        self.events
            .iter()
            .filter(move |e| e.role == role && e.name == name)
    }

    /// The host names of roles of a kind.
    pub fn hosts_of_kind(&self, kind: RoleKind) -> Vec<String> {
        let mut v: Vec<String> = self
            .roles
            .values()
            .filter(|r| r.kind == kind)
            .map(|r| r.host.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Whether the host that owns `mac` runs nothing but the lab's probe: its frames are the
    /// lab's script, not anyone's implementation, so the server rules (SRV-*) do not judge what
    /// it sent and CLI-ARP-01 does not judge what it left unanswered.
    pub fn is_lab_probe(&self, mac: [u8; 6]) -> bool {
        let Some(host) = self.names.macs.get(&mac) else {
            return false;
        };
        let mut kinds = self
            .roles
            .values()
            .filter(|r| &r.host == host)
            .map(|r| r.kind);
        kinds.clone().next().is_some() && kinds.all(|k| k == RoleKind::Probe)
    }

    /// The clock of the role whose kind `fits` on the host that owns `mac` (real time when none).
    pub fn clock_of_mac(&self, mac: [u8; 6], fits: impl Fn(RoleKind) -> bool) -> Clock {
        let Some(host) = self.names.macs.get(&mac) else {
            return Clock::Real;
        };
        self.roles
            .values()
            .find(|r| &r.host == host && fits(r.kind))
            .map_or(Clock::Real, |r| r.clock)
    }

    /// The clock of the role that sent `f`: the role on the frame's source host whose kind
    /// speaks the frame's protocol (BOOTP from port 68: a client; from 67: a server or relay;
    /// TFTP: a TFTP role; ARP/RARP: a client or RARP role), else the host's only role; a host
    /// with no role of the run (a squatter, a router) is on real time.
    pub fn sender_clock(&self, f: &Frame) -> Clock {
        let Some(src) = f.decoded.eth.as_ref().map(|e| e.src_addr.0) else {
            return Clock::Real;
        };
        let Some(host) = self.names.macs.get(&src) else {
            return Clock::Real;
        };
        let on_host: Vec<&RoleInfo> = self.roles.values().filter(|r| &r.host == host).collect();
        let fits = |r: &&RoleInfo| -> bool {
            if f.decoded.tftp().is_some() {
                return r.kind.is_tftp();
            }
            if let Some(u) = f.decoded.udp.as_ref() {
                if f.decoded.bootp().is_some() {
                    return match u.src_port {
                        68 => r.kind.is_client(),
                        _ => r.kind.is_server() || r.kind == RoleKind::Relay,
                    };
                }
                return false;
            }
            r.kind.is_client() || matches!(r.kind, RoleKind::RarpClient | RoleKind::RarpServer)
        };
        match on_host.iter().find(|r| fits(r)).or(on_host.first()) {
            Some(r) if on_host.iter().all(|o| o.clock == r.clock) || fits(r) => r.clock,
            _ => Clock::Real,
        }
    }

    /// The normalized text, for golden files.
    pub fn normalized(&self, collapse: Collapse) -> String {
        self.render(collapse, false)
    }

    /// The normalized text for reports, with each frame's number in its segment's pcap and the
    /// clock of the role that sent it.
    pub fn annotated(&self, collapse: Collapse) -> String {
        self.render(collapse, true)
    }

    /// Every frame's normalized line (as in the golden text, same tokens), in frame order;
    /// `None` for frames traces leave out. Reports show these next to the ladder diagram.
    pub fn frame_lines(&self) -> Vec<Option<String>> {
        let mut tokens = Tokens::default();
        self.frames
            .iter()
            .map(|f| self.line(f, &mut tokens))
            .collect()
    }

    fn render(&self, collapse: Collapse, numbers: bool) -> String {
        let mut tokens = Tokens::default();
        // Lines per segment, each with the frame number it came from.
        let mut lines: Vec<(String, usize, String)> = Vec::new();
        for f in &self.frames {
            if let Some(mut text) = self.line(f, &mut tokens) {
                if numbers {
                    // The annotated trace says which clock sent each frame (timing rules judge
                    // gaps in it); the golden text stays clock-free.
                    let _ = write!(text, "  [clock: {}]", self.sender_clock(f));
                }
                lines.push((f.segment.clone(), f.number, text));
            }
        }
        let mut out = String::new();
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        let mut rendered: Vec<(String, usize, String, bool)> = Vec::new();
        for (seg, num, text) in lines {
            match collapse {
                Collapse::None => rendered.push((seg, num, text, false)),
                Collapse::Runs => {
                    if let Some(last) = rendered.last_mut() {
                        if last.0 == seg && last.2 == text {
                            last.3 = true;
                            continue;
                        }
                    }
                    rendered.push((seg, num, text, false));
                }
                Collapse::Dedupe => {
                    let key = (seg.clone(), text.clone());
                    if let Some(&i) = seen.get(&key) {
                        if let Some(r) = rendered.get_mut(i) {
                            r.3 = true;
                        }
                        continue;
                    }
                    seen.insert(key, rendered.len());
                    rendered.push((seg, num, text, false));
                }
            }
        }
        for (seg, num, text, repeated) in rendered {
            let rep = if repeated { "  (repeated)" } else { "" };
            if numbers {
                let _ = writeln!(out, "{seg} #{num:<4} {text}{rep}");
            } else {
                let _ = writeln!(out, "{seg}  {text}{rep}");
            }
        }
        out
    }

    /// One frame as normalized text; `None` for frames traces leave out (IPv6 noise, LLDP).
    fn line(&self, f: &Frame, tok: &mut Tokens) -> Option<String> {
        let d = &f.decoded;
        let n = &self.names;
        let eth = d.eth.as_ref()?;
        let l2 = format!("{} > {}", n.mac(eth.src_addr.0), n.mac(eth.dst_addr.0));
        if let Some(a) = &d.arp {
            return Some(format!("{l2}  {}", arp_text(a, n)));
        }
        let ip = d.ipv4.as_ref()?;
        if let Some(t) = &d.tcp {
            return tcp_line(&l2, ip, t, &d.app, &d.deviations, n, tok);
        }
        let Some(udp) = &d.udp else {
            return Some(format!(
                "{l2}  {} > {}  IPv4 proto {}",
                n.ip(ip.src),
                n.ip(ip.dst),
                ip.protocol
            ));
        };
        let l4 = format!(
            "{}:{} > {}:{}",
            n.ip(ip.src),
            tok.port(ip.src, udp.src_port),
            n.ip(ip.dst),
            tok.port(ip.dst, udp.dst_port)
        );
        let app = match &d.app {
            App::Bootp(m) => bootp_text(m, n, tok),
            App::Tftp(p) => tftp_text(p),
            _ => format!("UDP ({} octets)", udp.payload_len),
        };
        Some(format!(
            "{l2}  {l4}  {app}{}",
            deviation_mark(&d.deviations)
        ))
    }
}

/// A TCP segment's line: the RPC messages starting in it (`NFS3 LOOKUP "sbin"`), or its SYN, FIN or
/// RST; a segment with none of these (an ACK, the middle of a READ's data) is left out, so the
/// trace follows the calls made, not the stream's segmentation.
fn tcp_line(
    l2: &str,
    ip: &Ipv4,
    t: &tcp::Repr,
    app: &App,
    deviations: &[bootlab_wire::Deviation],
    n: &Names,
    tok: &mut Tokens,
) -> Option<String> {
    let what = match app {
        App::Rpc(records) => frame::rpc_records_text(records),
        _ if t.flags & (tcp::flags::SYN | tcp::flags::FIN | tcp::flags::RST) != 0 => {
            format!("TCP {}", t.flags_text())
        }
        _ => return None,
    };
    Some(format!(
        "{l2}  {}:{} > {}:{}  {what}{}",
        n.ip(ip.src),
        tok.port(ip.src, t.src_port),
        n.ip(ip.dst),
        tok.port(ip.dst, t.dst_port),
        deviation_mark(deviations)
    ))
}

/// `  !N` after a line whose frame has N deviations.
fn deviation_mark(deviations: &[bootlab_wire::Deviation]) -> String {
    if deviations.is_empty() {
        String::new()
    } else {
        format!("  !{}", deviations.len())
    }
}

/// Facts of the machine the lab runs on that peers copy into what they send (dhcpcd's vendor
/// class is `dhcpcd-9.4.1:Linux-<release>:x86_64:<cpu vendor>`), with the token that replaces
/// each in golden text: a trace is a claim about the implementation, and the host's kernel build
/// or CPU maker is not part of its behaviour. Read once: `/proc/sys/kernel/osrelease` (uname's release), `/proc/cpuinfo`
/// `vendor_id`.
fn host_facts() -> &'static [(String, &'static str)] {
    static FACTS: std::sync::OnceLock<Vec<(String, &'static str)>> = std::sync::OnceLock::new();
    FACTS.get_or_init(|| {
        let mut v = Vec::new();
        if let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
            let release = release.trim();
            if !release.is_empty() {
                v.push((release.to_string(), "{kernel-release}"));
            }
        }
        if let Ok(cpu) = std::fs::read_to_string("/proc/cpuinfo") {
            let vendor = cpu.lines().find_map(|l| {
                let (k, val) = l.split_once(':')?;
                (k.trim() == "vendor_id").then(|| val.trim().to_string())
            });
            if let Some(vendor) = vendor.filter(|x| !x.is_empty()) {
                v.push((vendor, "{cpu-vendor}"));
            }
        }
        v
    })
}

/// `text` with every host fact (see [`host_facts`]) replaced by its token.
pub fn host_facts_masked(text: &str) -> String {
    let mut out = text.to_string();
    for (fact, token) in host_facts() {
        if out.contains(fact.as_str()) {
            out = out.replace(fact.as_str(), token);
        }
    }
    out
}

fn arp_text(a: &arp::Repr, n: &Names) -> String {
    let sha = n.mac(a.source_hardware_addr.0);
    let tha = n.mac(a.target_hardware_addr.0);
    let spa = n.ip(a.source_protocol_addr);
    let tpa = n.ip(a.target_protocol_addr);
    match a.kind() {
        arp::Kind::Request => format!("ARP who-has {tpa} tell {spa}"),
        arp::Kind::Probe => format!("ARP probe who-has {tpa} (from {sha})"),
        arp::Kind::Announcement => format!("ARP announce {spa} is-at {sha}"),
        arp::Kind::Reply => format!("ARP reply {spa} is-at {sha}"),
        arp::Kind::RarpRequest => format!("RARP who-am-i {tha}"),
        arp::Kind::RarpReply => format!("RARP reply {tha} is {tpa}"),
        arp::Kind::Unknown => format!("ARP op {:?}", a.operation),
    }
}

fn ip_or_name(n: &Names, a: Ipv4Addr) -> String {
    n.ip(a)
}

fn bootp_text(m: &Message, n: &Names, tok: &mut Tokens) -> String {
    let mut s = String::new();
    let op = match m.op {
        Op::BootRequest => "BOOTREQUEST".to_string(),
        Op::BootReply => "BOOTREPLY".to_string(),
        Op::Unknown(v) => format!("op={v}"),
    };
    s.push_str(&op);
    if let Some(t) = m.message_type() {
        let _ = write!(s, " {t}");
    }
    let _ = write!(s, " {} secs={}", tok.xid(m.xid), m.secs);
    if m.hops != 0 {
        let _ = write!(s, " hops={}", m.hops);
    }
    if m.flags != 0 {
        let _ = write!(s, " flags={:#06x}", m.flags);
    }
    for (name, a) in [
        ("ciaddr", m.ciaddr),
        ("yiaddr", m.yiaddr),
        ("siaddr", m.siaddr),
        ("giaddr", m.giaddr),
    ] {
        if !a.is_unspecified() {
            let _ = write!(s, " {name}={}", ip_or_name(n, a));
        }
    }
    let _ = write!(s, " chaddr={}", n.mac(m.chaddr_mac()));
    // Under option 52 the fields hold options, shown with the others (RFC 2131 §4.1).
    let sname = m.server_name();
    if !sname.is_empty() {
        let _ = write!(s, " sname={sname:?}");
    }
    let file = m.boot_file_name();
    if !file.is_empty() {
        let _ = write!(s, " file={file:?}");
    }
    match &m.vend {
        Vendor::Options(o) => {
            let parts: Vec<String> =
                o.0.iter()
                    .map(|opt| option_text(opt.code, &opt.data, n))
                    .collect();
            let _ = write!(s, " [{}]", parts.join(" "));
        }
        Vendor::Raw(v) => {
            if v.iter().any(|b| *b != 0) {
                let _ = write!(s, " vend=raw({})", v.len());
            }
        }
    }
    s
}

fn option_text(c: u8, data: &[u8], n: &Names) -> String {
    let ip = |d: &[u8]| -> Option<String> {
        if d.len() % 4 != 0 || d.is_empty() {
            return None;
        }
        Some(
            d.chunks(4)
                .map(|q| n.ip(Ipv4Addr::new(q[0], q[1], q[2], q[3])))
                .collect::<Vec<_>>()
                .join(","),
        )
    };
    let u32v = |d: &[u8]| -> Option<String> {
        (d.len() == 4).then(|| u32::from_be_bytes([d[0], d[1], d[2], d[3]]).to_string())
    };
    let v = match c {
        code::DHCP_MESSAGE_TYPE if data.len() == 1 => {
            Some(bootp::MessageType::from(data[0]).to_string())
        }
        code::SUBNET_MASK
        | code::ROUTER
        | code::DOMAIN_NAME_SERVER
        | code::BROADCAST_ADDRESS
        | code::REQUESTED_IP_ADDRESS
        | code::SERVER_IDENTIFIER => ip(data),
        code::IP_ADDRESS_LEASE_TIME | code::RENEWAL_TIME_VALUE | code::REBINDING_TIME_VALUE => {
            u32v(data)
        }
        code::PARAMETER_REQUEST_LIST => Some(
            data.iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        code::HOST_NAME
        | code::DOMAIN_NAME
        | code::MESSAGE
        | code::VENDOR_CLASS_IDENTIFIER
        | code::TFTP_SERVER_NAME
        | code::BOOTFILE_NAME => Some(format!(
            "{:?}",
            host_facts_masked(&String::from_utf8_lossy(data))
        )),
        code::RELAY_AGENT_INFORMATION => {
            // RFC 3046 §2.0: sub-options as `code:"text"` when printable, else hex.
            let (subs, devs) = bootp::parse_relay_agent_information(data);
            devs.is_empty().then(|| {
                let parts: Vec<String> = subs
                    .iter()
                    .map(|o| match std::str::from_utf8(&o.data) {
                        Ok(t) if t.chars().all(|c| c.is_ascii_graphic() || c == ' ') => {
                            format!("{}:{t:?}", o.code)
                        }
                        _ => format!(
                            "{}:{}",
                            o.code,
                            o.data
                                .iter()
                                .map(|b| format!("{b:02x}"))
                                .collect::<String>()
                        ),
                    })
                    .collect();
                format!("[{}]", parts.join(" "))
            })
        }
        code::MAXIMUM_DHCP_MESSAGE_SIZE if data.len() == 2 => {
            Some(u16::from_be_bytes([data[0], data[1]]).to_string())
        }
        code::CLIENT_IDENTIFIER if data.len() == 7 && data[0] == 1 => {
            let mut m = [0u8; 6];
            m.copy_from_slice(&data[1..]);
            Some(format!("1:{}", n.mac(m)))
        }
        _ => None,
    };
    let v = v.unwrap_or_else(|| data.iter().map(|b| format!("{b:02x}")).collect::<String>());
    format!("{c}={v}")
}

fn tftp_text(p: &tftp::Packet) -> String {
    let opts = |o: &[tftp::TftpOption]| -> String {
        o.iter()
            .map(|o| format!(" {}={}", o.name, o.value))
            .collect()
    };
    match p {
        tftp::Packet::Rrq(r) => format!("TFTP RRQ {:?} {}{}", r.filename, r.mode, opts(&r.options)),
        tftp::Packet::Wrq(r) => format!("TFTP WRQ {:?} {}{}", r.filename, r.mode, opts(&r.options)),
        tftp::Packet::Data { block, data } => format!("TFTP DATA {block} ({})", data.len()),
        tftp::Packet::Ack { block } => format!("TFTP ACK {block}"),
        tftp::Packet::Error { code, message } => format!("TFTP ERROR {} {message:?}", code.value()),
        tftp::Packet::Oack { options } => format!("TFTP OACK{}", opts(options)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_facts_in_text_options_become_tokens() {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let release = release.trim();
        if release.is_empty() {
            return;
        }
        let vendor_class = format!("dhcpcd-9.4.1:Linux-{release}:x86_64:X");
        let shown = option_text(
            code::VENDOR_CLASS_IDENTIFIER,
            vendor_class.as_bytes(),
            &Names::default(),
        );
        assert_eq!(shown, "60=\"dhcpcd-9.4.1:Linux-{kernel-release}:x86_64:X\"");
        assert_eq!(host_facts_masked("no facts here"), "no facts here");
    }
}

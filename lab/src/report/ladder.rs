//! Ladder diagrams (message sequence charts) of a run: hosts as lanes, captured frames as arrows
//! in time order across every segment, labelled with the message type, the transaction id and the
//! fields people look at first (secs, hops, flags, ciaddr/yiaddr/giaddr, options 50 and 54, TFTP
//! block numbers), the time since the first frame, gaps in time, and every rule failure at its
//! frame. The same [`Ladder`] renders as SVG (the run's `ladder.svg`, and inline in `index.html`)
//! and as Mermaid `sequenceDiagram` text (`ladder.mmd`) for markdown.
//!
//! A frame is drawn from its Ethernet sender to its Ethernet receiver, so a relay or router shows
//! as a lane the exchange crosses, each segment in its own colour; a broadcast reaches every other
//! host of its segment.

use crate::judge::rules::Violation;
use crate::judge::trace::{mac_text, Trace};
use bootlab_wire::arp;
use bootlab_wire::bootp::{Message, Op};
use bootlab_wire::frame::App;
use bootlab_wire::tftp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write as _;

/// A gap between two frames longer than this is drawn as a break in the ladder.
pub const GAP_SECONDS: f64 = 0.5;
/// Most arrows drawn; beyond it the middle of the run is elided (failed frames are always kept).
pub const MAX_ARROWS: usize = 400;

/// One lane: a host, the roles it runs and the segments it is on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lane {
    /// The host's name (or a MAC the lab did not assign).
    pub host: String,
    /// Roles on the host, `name (kind)`.
    pub roles: Vec<String>,
    /// Segments the host is attached to.
    pub segments: Vec<String>,
}

/// A rule failure placed on the ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// The rule id.
    pub rule: String,
    /// What is wrong.
    pub message: String,
    /// Whether the scenario expects this rule to fail (a reproduction): drawn, but not as a
    /// failure of the run.
    #[serde(default)]
    pub expected: bool,
}

/// One frame as an arrow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arrow {
    /// The segment it was captured on.
    pub segment: String,
    /// Its number in that segment's pcap.
    pub frame: usize,
    /// Its number in the run's merged `capture.pcapng`, when one was written.
    pub pcapng_frame: Option<usize>,
    /// Seconds since the run's first frame.
    pub time: f64,
    /// The sending lane.
    pub from: usize,
    /// The receiving lanes (every other host of the segment for a broadcast).
    pub to: Vec<usize>,
    /// Whether the Ethernet destination is the broadcast address.
    pub broadcast: bool,
    /// The message: `DHCPDISCOVER xid 0x1234abcd`, `ARP who-has server`, `TFTP DATA 3`.
    pub label: String,
    /// The key fields: `secs=4 giaddr=router yiaddr=198.51.100.100 [54=server]`.
    pub fields: String,
    /// The frame's whole normalized trace line.
    pub line: String,
    /// Rules that failed at this frame.
    pub failures: Vec<Mark>,
    /// Frames left out of the ladder right before this one (long runs, see [`MAX_ARROWS`]).
    #[serde(default)]
    pub elided_before: usize,
}

/// A whole run's ladder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ladder {
    /// Segments in topology order (their colours follow this order).
    pub segments: Vec<String>,
    /// Lanes, left to right: hosts ordered so that routers and relays sit between their segments.
    pub lanes: Vec<Lane>,
    /// Arrows in time order.
    pub arrows: Vec<Arrow>,
    /// Rule failures about something that never happened (no frame to mark) or about a frame the
    /// ladder does not draw.
    pub unplaced: Vec<Mark>,
}

/// What a ladder is built from besides the trace.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// Segment -> hosts attached to it, in topology order.
    pub segments: Vec<(String, Vec<String>)>,
    /// Failed rules: id, violation, and whether the scenario expects the rule to fail.
    pub failures: Vec<(&'a str, &'a Violation, bool)>,
    /// (segment, frame) -> frame number in the merged pcapng.
    pub pcapng_numbers: HashMap<(String, usize), usize>,
}

impl Ladder {
    /// Builds the ladder of a trace.
    pub fn build(trace: &Trace, cx: &Context<'_>) -> Ladder {
        let segments: Vec<String> = cx.segments.iter().map(|(s, _)| s.clone()).collect();
        let mut lanes = lanes(cx, trace);
        let mut lane_of: HashMap<String, usize> = lanes
            .iter()
            .enumerate()
            .map(|(i, l)| (l.host.clone(), i))
            .collect();
        let seg_index = |s: &str| segments.iter().position(|x| x == s).unwrap_or(usize::MAX);
        let lines = trace.frame_lines();
        let mut order: Vec<usize> = (0..trace.frames.len()).collect();
        order.sort_by(|&a, &b| {
            let (fa, fb) = (&trace.frames[a], &trace.frames[b]);
            (fa.time, seg_index(&fa.segment), fa.number).cmp(&(
                fb.time,
                seg_index(&fb.segment),
                fb.number,
            ))
        });
        let mut failures: HashMap<(String, usize), Vec<Mark>> = HashMap::new();
        let mut unplaced = Vec::new();
        for (rule, v, expected) in &cx.failures {
            let mark = Mark {
                rule: rule.to_string(),
                message: v.message.clone(),
                expected: *expected,
            };
            if v.frame == 0 {
                unplaced.push(mark);
            } else {
                failures
                    .entry((v.segment.clone(), v.frame))
                    .or_default()
                    .push(mark);
            }
        }
        let mut arrows = Vec::new();
        for i in order {
            let f = &trace.frames[i];
            let (Some(line), Some(eth)) = (&lines[i], &f.decoded.eth) else {
                continue;
            };
            let mut lane = |mac: [u8; 6]| -> usize {
                let host = trace
                    .names
                    .macs
                    .get(&mac)
                    .cloned()
                    .unwrap_or_else(|| mac_text(mac));
                *lane_of.entry(host.clone()).or_insert_with(|| {
                    lanes.push(Lane {
                        host,
                        roles: vec![],
                        segments: vec![f.segment.clone()],
                    });
                    lanes.len() - 1
                })
            };
            let from = lane(eth.src_addr.0);
            let broadcast = eth.dst_addr.0 == [0xff; 6];
            let to = if broadcast {
                cx.segments
                    .iter()
                    .find(|(s, _)| *s == f.segment)
                    .map(|(_, hosts)| {
                        hosts
                            .iter()
                            .filter_map(|h| lane_of.get(h).copied())
                            .filter(|&l| l != from)
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                vec![lane(eth.dst_addr.0)]
            };
            let (label, fields) = describe(trace, f);
            arrows.push(Arrow {
                segment: f.segment.clone(),
                frame: f.number,
                pcapng_frame: cx
                    .pcapng_numbers
                    .get(&(f.segment.clone(), f.number))
                    .copied(),
                time: f.time.as_secs_f64(),
                from,
                to,
                broadcast,
                label,
                fields,
                line: line.clone(),
                failures: failures
                    .remove(&(f.segment.clone(), f.number))
                    .unwrap_or_default(),
                elided_before: 0,
            });
        }
        // Failures at frames the ladder leaves out (noise the trace skips) are still shown.
        let mut rest: Vec<_> = failures.into_iter().collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0));
        for ((seg, n), marks) in rest {
            for m in marks {
                unplaced.push(Mark {
                    message: format!("{seg} frame {n}: {}", m.message),
                    ..m
                });
            }
        }
        Ladder {
            segments,
            lanes,
            arrows: elide(arrows),
            unplaced,
        }
    }

    /// Whether any rule failure is marked.
    pub fn has_failures(&self) -> bool {
        !self.unplaced.is_empty() || self.arrows.iter().any(|a| !a.failures.is_empty())
    }
}

/// Arrows of a bulk transfer: TFTP DATA and ACK, NFS READ calls (and, in [`elide_bulk`], the
/// reply right after one).
fn is_bulk(a: &Arrow) -> bool {
    a.label.starts_with("TFTP DATA")
        || a.label.starts_with("TFTP ACK")
        || a.label.ends_with(" READ]")
}

/// Of each run of consecutive bulk arrows ([`is_bulk`]), keeps the first [`BULK_KEPT`] and the
/// last 2 (and every arrow where a rule failed), so a boot's kernel download does not push its
/// DHCP and NFS exchanges off the ladder.
fn elide_bulk(arrows: Vec<Arrow>) -> Vec<Arrow> {
    let mut bulk: Vec<bool> = arrows.iter().map(is_bulk).collect();
    for i in 1..arrows.len() {
        if arrows[i - 1].label.ends_with(" READ]") && arrows[i].label.contains(" reply ") {
            bulk[i] = true;
        }
    }
    // Where the bulk run holding each arrow ends (exclusive), computed backwards.
    let mut ends = vec![bulk.len(); bulk.len()];
    for i in (0..bulk.len()).rev() {
        ends[i] = if !bulk[i] {
            i
        } else if i + 1 < bulk.len() {
            ends[i + 1]
        } else {
            bulk.len()
        };
    }
    let mut out = Vec::with_capacity(arrows.len());
    let mut skipped = 0;
    let mut run_start = 0;
    for (i, mut a) in arrows.into_iter().enumerate() {
        if !bulk[i] {
            run_start = i + 1;
        }
        let run_end = ends[i];
        let keep =
            !bulk[i] || i < run_start + BULK_KEPT || i + 2 >= run_end || !a.failures.is_empty();
        if keep {
            a.elided_before += skipped;
            skipped = 0;
            out.push(a);
        } else {
            skipped += 1;
        }
    }
    out
}

/// Bulk arrows kept at the start of a run (see [`elide_bulk`]).
pub const BULK_KEPT: usize = 6;

/// Keeps at most [`MAX_ARROWS`] arrows (the first three quarters and the last quarter) plus every
/// arrow where a rule failed, after long bulk runs are cut ([`elide_bulk`]); each kept arrow
/// counts the frames elided right before it.
fn elide(arrows: Vec<Arrow>) -> Vec<Arrow> {
    let arrows = elide_bulk(arrows);
    if arrows.len() <= MAX_ARROWS {
        return arrows;
    }
    let head = MAX_ARROWS * 3 / 4;
    let tail = arrows.len() - MAX_ARROWS / 4;
    let mut out = Vec::new();
    let mut skipped = 0;
    for (i, mut a) in arrows.into_iter().enumerate() {
        if i < head || i >= tail || !a.failures.is_empty() {
            a.elided_before += skipped;
            skipped = 0;
            out.push(a);
        } else {
            skipped += 1 + a.elided_before;
        }
    }
    out
}

/// Lanes from the topology: hosts ordered by the mean index of their segments, so a host on
/// segments 0 and 1 (a relay, a router) sits between the hosts of 0 and those of 1.
fn lanes(cx: &Context<'_>, trace: &Trace) -> Vec<Lane> {
    let mut hosts: Vec<(String, Vec<String>, f64, usize)> = Vec::new();
    for (i, (seg, members)) in cx.segments.iter().enumerate() {
        for h in members {
            match hosts.iter_mut().find(|(n, ..)| n == h) {
                Some(e) => {
                    e.1.push(seg.clone());
                    e.2 += i as f64;
                }
                None => {
                    let n = hosts.len();
                    hosts.push((h.clone(), vec![seg.clone()], i as f64, n));
                }
            }
        }
    }
    for h in &mut hosts {
        h.2 /= h.1.len() as f64;
    }
    // Within one segment, clients (which start exchanges) on the left, servers on the right.
    let rank = |host: &str| -> u8 {
        let kinds: Vec<&str> = trace
            .roles
            .values()
            .filter(|r| r.host == host)
            .map(|r| r.kind.as_str())
            .collect();
        if kinds.iter().any(|k| k.ends_with("client")) {
            0
        } else if kinds.is_empty() {
            1
        } else {
            2
        }
    };
    hosts.sort_by(|a, b| {
        a.2.total_cmp(&b.2)
            .then(rank(&a.0).cmp(&rank(&b.0)))
            .then(a.3.cmp(&b.3))
    });
    hosts
        .into_iter()
        .map(|(host, segments, ..)| {
            let mut roles: Vec<String> = trace
                .roles
                .iter()
                .filter(|(_, info)| info.host == host)
                .map(|(r, info)| format!("{r} ({})", info.kind))
                .collect();
            roles.sort();
            Lane {
                host,
                roles,
                segments,
            }
        })
        .collect()
}

/// The label and key fields of a frame.
fn describe(trace: &Trace, f: &crate::judge::trace::Frame) -> (String, String) {
    let n = &trace.names;
    let d = &f.decoded;
    if let Some(a) = &d.arp {
        let tpa = n.ip(a.target_protocol_addr);
        let spa = n.ip(a.source_protocol_addr);
        let tha = n.mac(a.target_hardware_addr.0);
        return match a.kind() {
            arp::Kind::Request => (format!("ARP who-has {tpa}"), format!("tell {spa}")),
            arp::Kind::Probe => (format!("ARP probe {tpa}"), "from 0.0.0.0".into()),
            arp::Kind::Announcement => (format!("ARP announce {spa}"), String::new()),
            arp::Kind::Reply => (format!("ARP reply {spa}"), format!("to {tha}")),
            arp::Kind::RarpRequest => (format!("RARP who-am-i {tha}"), String::new()),
            arp::Kind::RarpReply => (format!("RARP reply {tha}"), format!("is {tpa}")),
            arp::Kind::Unknown => (format!("ARP op {:?}", a.operation), String::new()),
        };
    }
    let udp_ports = d
        .udp
        .as_ref()
        .map(|u| format!("{}→{}", u.src_port, u.dst_port))
        .unwrap_or_default();
    let tcp_ports = d
        .tcp
        .as_ref()
        .map(|t| format!("{}→{}", t.src_port, t.dst_port))
        .unwrap_or_default();
    match &d.app {
        App::Bootp(m) => bootp_label(m, n),
        App::Tftp(p) => (tftp_label(p), udp_ports),
        App::Rpc(records) => (bootlab_wire::frame::rpc_records_text(records), tcp_ports),
        _ if d.tcp.is_some() => (
            format!(
                "TCP {}",
                d.tcp.as_ref().map(|t| t.flags_text()).unwrap_or_default()
            ),
            tcp_ports,
        ),
        _ => match (&d.ipv4, &d.udp) {
            (Some(_), Some(u)) => (
                format!("UDP {udp_ports}"),
                format!("{} octets", u.payload_len),
            ),
            (Some(ip), None) => (format!("IPv4 proto {}", ip.protocol), String::new()),
            _ => ("frame".into(), format!("{} octets", d.len)),
        },
    }
}

/// RFC 2131 §2 fields people check first: message type, xid, secs, hops, the broadcast flag,
/// the addresses that are set, and options 50 (requested address) and 54 (server identifier).
fn bootp_label(m: &Message, n: &crate::judge::trace::Names) -> (String, String) {
    let kind = match (m.message_type(), m.op) {
        (Some(t), _) => t.to_string(),
        (None, Op::BootRequest) => "BOOTREQUEST".into(),
        (None, Op::BootReply) => "BOOTREPLY".into(),
        (None, Op::Unknown(v)) => format!("BOOTP op {v}"),
    };
    let label = format!("{kind} xid {:#010x}", m.xid);
    let mut f = Vec::new();
    if m.secs != 0 {
        f.push(format!("secs={}", m.secs));
    }
    if m.hops != 0 {
        f.push(format!("hops={}", m.hops));
    }
    if m.flags & 0x8000 != 0 {
        f.push("B".into());
    }
    for (name, a) in [
        ("ciaddr", m.ciaddr),
        ("yiaddr", m.yiaddr),
        ("giaddr", m.giaddr),
        ("siaddr", m.siaddr),
    ] {
        if !a.is_unspecified() {
            f.push(format!("{name}={}", n.ip(a)));
        }
    }
    if let Some(o) = m.options() {
        if let Some(a) = o.requested_ip_address() {
            f.push(format!("50={}", n.ip(a)));
        }
        if let Some(a) = o.server_identifier() {
            f.push(format!("54={}", n.ip(a)));
        }
    }
    let file = m.file_str();
    if !file.is_empty() {
        f.push(format!("file={file}"));
    }
    (label, f.join(" "))
}

fn tftp_label(p: &tftp::Packet) -> String {
    match p {
        tftp::Packet::Rrq(r) => format!("TFTP RRQ {}", r.filename),
        tftp::Packet::Wrq(r) => format!("TFTP WRQ {}", r.filename),
        tftp::Packet::Data { block, data } => format!("TFTP DATA {block} ({})", data.len()),
        tftp::Packet::Ack { block } => format!("TFTP ACK {block}"),
        tftp::Packet::Error { code, message } => format!("TFTP ERROR {} {message}", code.value()),
        tftp::Packet::Oack { options } => {
            let o: Vec<String> = options
                .iter()
                .map(|o| format!("{}={}", o.name, o.value))
                .collect();
            format!("TFTP OACK {}", o.join(" "))
        }
    }
}

/// Segment colours, in topology order (colour-blind safe palette), then repeated.
const COLOURS: &[&str] = &[
    "#0072b2", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#6a3d9a",
];
/// Failed frames.
const FAIL: &str = "#d00000";
/// Frames where a rule failed as the scenario expects (a reproduction).
const EXPECTED: &str = "#b35900";

/// The colour of a set of failures: red when any fails the run, else the expected-failure colour.
fn fail_colour(marks: &[Mark]) -> &'static str {
    if marks.iter().any(|m| !m.expected) {
        FAIL
    } else {
        EXPECTED
    }
}

/// A failure as noted on the ladder: `RULE` or `RULE (expected)`.
fn mark_label(m: &Mark) -> String {
    if m.expected {
        format!("{} (expected)", m.rule)
    } else {
        m.rule.clone()
    }
}

fn colour(l: &Ladder, segment: &str) -> &'static str {
    let i = l.segments.iter().position(|s| s == segment).unwrap_or(0);
    COLOURS[i % COLOURS.len()]
}

/// The note where frames were left out of a ladder.
fn elided_text(n: usize) -> String {
    format!("{n} frames not drawn (all are in capture.pcapng and trace-annotated.txt)")
}

/// Escapes text for XML and HTML.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => o.push(c),
        }
    }
    o
}

fn clip(s: &str, chars: usize) -> String {
    if s.chars().count() <= chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(chars.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Element id of a frame's arrow: `PREFIXf-SEGMENT-N`; reports link rule results to it.
pub fn frame_id(prefix: &str, segment: &str, frame: usize) -> String {
    format!("{prefix}f-{}-{frame}", slug(segment))
}

/// A name usable in ids and file names: letters, digits, `-` and `_` kept, the rest `_`.
pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

const LANE_W: f64 = 230.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 78.0;
const ROW: f64 = 40.0;
const GAP_ROW: f64 = 26.0;
const NOTE_W: f64 = 380.0;

/// The ladder as a standalone SVG document; element ids start with `prefix` so several ladders
/// can sit in one HTML page. Each arrow is a `<g class="frame">` (plus `fail` when a rule failed
/// there) with a `<title>` holding the whole trace line and the failures.
pub fn svg(l: &Ladder, prefix: &str) -> String {
    let lanes = l.lanes.len().max(1);
    let width = LEFT + LANE_W * lanes as f64 + NOTE_W;
    // Rows: one per arrow, plus a gap row before an arrow after a long silence or elided frames.
    let mut rows: Vec<(f64, Option<&Arrow>, Option<String>)> = Vec::new();
    let mut y = TOP + 16.0;
    let mut last_time: Option<f64> = None;
    for a in &l.arrows {
        if a.elided_before > 0 {
            rows.push((y, None, Some(elided_text(a.elided_before))));
            y += GAP_ROW;
        } else if let Some(t) = last_time {
            if a.time - t > GAP_SECONDS {
                rows.push((y, None, Some(format!("{:.2} s later", a.time - t))));
                y += GAP_ROW;
            }
        }
        last_time = Some(a.time);
        rows.push((y, Some(a), None));
        y += ROW;
    }
    let unplaced_y = y + 10.0;
    let height = unplaced_y + 20.0 * l.unplaced.len() as f64 + 20.0;
    let x = |lane: usize| LEFT + LANE_W * (lane as f64 + 0.5);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"ladder\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"DejaVu Sans Mono, monospace\" font-size=\"11\">"
    );
    let _ = writeln!(
        o,
        "<defs><marker id=\"{prefix}ah\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"11\" markerHeight=\"11\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"context-stroke\"/></marker></defs>"
    );
    o.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    // Segment legend.
    let mut lx = LEFT;
    for s in &l.segments {
        let _ = writeln!(
            o,
            "<g class=\"segment-key\"><line x1=\"{lx:.0}\" y1=\"12\" x2=\"{:.0}\" y2=\"12\" stroke=\"{}\" stroke-width=\"3\"/><text x=\"{:.0}\" y=\"16\">{}</text></g>",
            lx + 24.0,
            colour(l, s),
            lx + 30.0,
            escape(s)
        );
        lx += 40.0 + 7.0 * s.chars().count() as f64;
    }
    let _ = writeln!(
        o,
        "<g class=\"segment-key\"><line x1=\"{lx:.0}\" y1=\"12\" x2=\"{:.0}\" y2=\"12\" stroke=\"{FAIL}\" stroke-width=\"3\"/><text x=\"{:.0}\" y=\"16\">rule failed</text><line x1=\"{:.0}\" y1=\"12\" x2=\"{:.0}\" y2=\"12\" stroke=\"{EXPECTED}\" stroke-width=\"3\"/><text x=\"{:.0}\" y=\"16\">failed as the scenario expects</text><text x=\"{:.0}\" y=\"16\" fill=\"#555\">dashed: broadcast</text></g>",
        lx + 24.0,
        lx + 30.0,
        lx + 115.0,
        lx + 139.0,
        lx + 145.0,
        lx + 370.0
    );
    // Lanes.
    for (i, lane) in l.lanes.iter().enumerate() {
        let cx = x(i);
        let _ = writeln!(
            o,
            "<g class=\"lane\"><title>{}</title><text x=\"{cx:.0}\" y=\"38\" text-anchor=\"middle\" font-weight=\"bold\" font-size=\"13\">{}</text><text x=\"{cx:.0}\" y=\"52\" text-anchor=\"middle\" fill=\"#444\">{}</text><text x=\"{cx:.0}\" y=\"65\" text-anchor=\"middle\" fill=\"#777\">{}</text><line x1=\"{cx:.0}\" y1=\"{TOP:.0}\" x2=\"{cx:.0}\" y2=\"{:.0}\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/></g>",
            escape(&format!("{}: {}; on {}", lane.host, lane.roles.join(", "), lane.segments.join(", "))),
            escape(&lane.host),
            escape(&clip(&lane.roles.join(", "), 28)),
            escape(&clip(&lane.segments.join(" + "), 28)),
            unplaced_y - 8.0
        );
    }
    let notes_x = LEFT + LANE_W * lanes as f64 + 6.0;
    for (y, arrow, gap) in &rows {
        if let Some(g) = gap {
            let _ = writeln!(
                o,
                "<g class=\"gap\"><line x1=\"{LEFT:.0}\" y1=\"{:.0}\" x2=\"{:.0}\" y2=\"{:.0}\" stroke=\"#999\" stroke-dasharray=\"1 4\"/><text x=\"{:.0}\" y=\"{:.0}\" fill=\"#666\" font-style=\"italic\">… {} …</text></g>",
                y + 6.0,
                notes_x - 6.0,
                y + 6.0,
                LEFT + 4.0,
                y + 2.0,
                escape(g)
            );
            continue;
        }
        let Some(a) = arrow else { continue };
        let failed = !a.failures.is_empty();
        let stroke = if failed {
            fail_colour(&a.failures)
        } else {
            colour(l, &a.segment)
        };
        let id = frame_id(prefix, &a.segment, a.frame);
        let mut title = format!("{} frame {}", a.segment, a.frame);
        if let Some(n) = a.pcapng_frame {
            let _ = write!(title, " (capture.pcapng frame {n})");
        }
        let _ = write!(title, ", t={:.3} s\n{}", a.time, a.line);
        for m in &a.failures {
            let _ = write!(title, "\n✗ {}: {}", mark_label(m), m.message);
        }
        let class = match (failed, stroke == FAIL) {
            (true, true) => "frame fail",
            (true, false) => "frame fail expected",
            _ => "frame",
        };
        let _ = write!(
            o,
            "<g class=\"{class}\" id=\"{}\" data-segment=\"{}\" data-frame=\"{}\"><title>{}</title>",
            escape(&id),
            escape(&a.segment),
            a.frame,
            escape(&title)
        );
        let ly = y + 12.0;
        let x0 = x(a.from);
        let _ = write!(
            o,
            "<text x=\"4\" y=\"{:.0}\" fill=\"#555\">{:.3}</text><text x=\"4\" y=\"{:.0}\" fill=\"{}\" font-size=\"9\">{} #{}</text>",
            ly + 4.0,
            a.time,
            ly + 15.0,
            colour(l, &a.segment),
            escape(&clip(&a.segment, 7)),
            a.frame
        );
        let sw = if failed { 2.5 } else { 1.5 };
        let dash = if a.broadcast {
            " stroke-dasharray=\"6 3\""
        } else {
            ""
        };
        let (lo, hi) = if a.to.is_empty() {
            // A broadcast nobody else on the segment hears: a stub to the right.
            let _ = write!(
                o,
                "<line x1=\"{x0:.0}\" y1=\"{ly:.0}\" x2=\"{:.0}\" y2=\"{ly:.0}\" stroke=\"{stroke}\" stroke-width=\"{sw}\"{dash} marker-end=\"url(#{prefix}ah)\"/>",
                x0 + 40.0
            );
            (x0, x0 + LANE_W * 0.6)
        } else {
            let xs: Vec<f64> = a.to.iter().map(|&t| x(t)).collect();
            for &tx in &xs {
                let _ = write!(
                    o,
                    "<line x1=\"{x0:.0}\" y1=\"{ly:.0}\" x2=\"{:.0}\" y2=\"{ly:.0}\" stroke=\"{stroke}\" stroke-width=\"{sw}\"{dash} marker-end=\"url(#{prefix}ah)\"/>",
                    if tx > x0 { tx - 2.0 } else { tx + 2.0 }
                );
            }
            let lo = xs.iter().copied().fold(x0, f64::min);
            let hi = xs.iter().copied().fold(x0, f64::max);
            // Labels sit over the span nearest the sender.
            let nearest = xs
                .iter()
                .copied()
                .min_by(|a, b| (a - x0).abs().total_cmp(&(b - x0).abs()))
                .unwrap_or(hi);
            if a.broadcast && a.to.len() > 1 {
                (x0.min(nearest), x0.max(nearest))
            } else {
                (lo, hi)
            }
        };
        let _ = write!(
            o,
            "<circle cx=\"{x0:.0}\" cy=\"{ly:.0}\" r=\"2.5\" fill=\"{stroke}\"/>"
        );
        let span = (hi - lo).max(LANE_W * 0.8);
        let chars = (span / 6.7) as usize;
        let mid = (lo + hi) / 2.0;
        let _ = write!(
            o,
            "<text x=\"{mid:.0}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"{}\" font-weight=\"bold\">{}</text>",
            ly - 4.0,
            if failed { stroke } else { "#000" },
            escape(&clip(&a.label, chars))
        );
        if !a.fields.is_empty() {
            let _ = write!(
                o,
                "<text x=\"{mid:.0}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"#333\" font-size=\"10\">{}</text>",
                ly + 12.0,
                escape(&clip(&a.fields, (span / 6.1) as usize))
            );
        }
        if failed {
            let rules: Vec<String> = a.failures.iter().map(mark_label).collect();
            let _ = write!(
                o,
                "<text x=\"{notes_x:.0}\" y=\"{:.0}\" fill=\"{stroke}\" font-weight=\"bold\">✗ {}</text><text x=\"{notes_x:.0}\" y=\"{:.0}\" fill=\"{stroke}\" font-size=\"10\">{}</text>",
                ly,
                escape(&rules.join(", ")),
                ly + 12.0,
                escape(&clip(&a.failures[0].message, (NOTE_W / 6.1) as usize))
            );
        }
        o.push_str("</g>\n");
    }
    for (i, m) in l.unplaced.iter().enumerate() {
        let label = mark_label(m);
        let _ = writeln!(
            o,
            "<g class=\"unplaced fail\"><title>{}: {}</title><text x=\"{LEFT:.0}\" y=\"{:.0}\" fill=\"{}\">✗ {}: {}</text></g>",
            escape(&label),
            escape(&m.message),
            unplaced_y + 20.0 * i as f64 + 8.0,
            fail_colour(std::slice::from_ref(m)),
            escape(&label),
            escape(&clip(
                &m.message,
                (((width - LEFT) / 6.7) as usize).saturating_sub(label.len() + 4)
            ))
        );
    }
    o.push_str("</svg>\n");
    o
}

/// Mermaid text: `#` and `;` (Mermaid's entity and statement syntax) become entity codes.
fn mermaid_text(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '#' => o.push_str("#35;"),
            ';' => o.push_str("#59;"),
            '\n' | '\r' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// The ladder as a Mermaid `sequenceDiagram` (for markdown: GitHub, GitLab and mdBook render it).
/// Participants are `h0`, `h1`... aliased to host names; broadcasts are dotted arrows to every
/// receiver; rule failures are notes at their frame, gaps notes over all lanes.
pub fn mermaid(l: &Ladder) -> String {
    let mut o = String::from("sequenceDiagram\n");
    for (i, lane) in l.lanes.iter().enumerate() {
        let _ = writeln!(o, "    participant h{i} as {}", mermaid_text(&lane.host));
    }
    let all = if l.lanes.len() > 1 {
        format!("h0,h{}", l.lanes.len() - 1)
    } else {
        "h0".into()
    };
    let mut last: Option<f64> = None;
    for a in &l.arrows {
        if a.elided_before > 0 {
            let _ = writeln!(
                o,
                "    Note over {all}: … {} …",
                elided_text(a.elided_before)
            );
            last = None;
        }
        if let Some(t) = last {
            if a.time - t > GAP_SECONDS {
                let _ = writeln!(o, "    Note over {all}: … {:.2} s later …", a.time - t);
            }
        }
        last = Some(a.time);
        let mut text = format!("{} [{} #{}]", a.label, a.segment, a.frame);
        if !a.fields.is_empty() {
            let _ = write!(text, " {}", a.fields);
        }
        let arrow = if a.broadcast { "--)" } else { "->>" };
        if a.to.is_empty() {
            let _ = writeln!(
                o,
                "    Note right of h{}: {} (broadcast, no receiver)",
                a.from,
                mermaid_text(&text)
            );
        }
        for t in &a.to {
            let _ = writeln!(o, "    h{}{arrow}h{t}: {}", a.from, mermaid_text(&text));
        }
        for m in &a.failures {
            let at = a.to.first().copied().unwrap_or(a.from);
            let _ = writeln!(
                o,
                "    Note right of h{at}: ✗ {} {}",
                mermaid_text(&mark_label(m)),
                mermaid_text(&m.message)
            );
        }
    }
    for m in &l.unplaced {
        let _ = writeln!(
            o,
            "    Note over {all}: ✗ {} {}",
            mermaid_text(&mark_label(m)),
            mermaid_text(&m.message)
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::rules::testkit::relayed_dora;

    fn segments() -> Vec<(String, Vec<String>)> {
        vec![
            ("clients".into(), vec!["client".into(), "router".into()]),
            ("servers".into(), vec!["router".into(), "server".into()]),
        ]
    }

    fn relayed() -> Ladder {
        let trace = relayed_dora(|_, _, _| {}).done();
        let v = Violation {
            segment: "servers".into(),
            frame: 2,
            message: "reply shorter than 300 octets".into(),
        };
        let absent = Violation {
            segment: "clients".into(),
            frame: 0,
            message: "no ARP probe before use".into(),
        };
        let cx = Context {
            segments: segments(),
            failures: vec![("FMT-SIZE-01", &v, false), ("CLI-ACD-01", &absent, true)],
            pcapng_numbers: HashMap::new(),
        };
        Ladder::build(&trace, &cx)
    }

    #[test]
    fn lanes_put_the_relay_between_its_segments() {
        let l = relayed();
        let hosts: Vec<&str> = l.lanes.iter().map(|l| l.host.as_str()).collect();
        assert_eq!(hosts, ["client", "router", "server"]);
        assert_eq!(l.lanes[1].segments, ["clients", "servers"]);
    }

    #[test]
    fn arrows_follow_time_across_segments_and_cross_the_relay() {
        let l = relayed();
        let order: Vec<(&str, usize)> = l
            .arrows
            .iter()
            .map(|a| (a.segment.as_str(), a.frame))
            .collect();
        assert_eq!(
            order[..4],
            [
                ("clients", 1),
                ("servers", 1),
                ("servers", 2),
                ("clients", 2)
            ]
        );
        // The DISCOVER is a broadcast the router hears; its relayed copy goes router -> server.
        assert!(l.arrows[0].broadcast);
        assert_eq!((l.arrows[0].from, l.arrows[0].to.clone()), (0, vec![1]));
        assert_eq!((l.arrows[1].from, l.arrows[1].to.clone()), (1, vec![2]));
        assert!(
            l.arrows[0].label.starts_with("DHCPDISCOVER xid 0x00005678"),
            "{:?}",
            l.arrows[0]
        );
        assert!(
            l.arrows[1].fields.contains("hops=1 giaddr=router"),
            "{:?}",
            l.arrows[1]
        );
    }

    #[test]
    fn failures_are_marked_at_their_frame_and_absences_below() {
        let l = relayed();
        let failed: Vec<(&str, usize)> = l
            .arrows
            .iter()
            .filter(|a| !a.failures.is_empty())
            .map(|a| (a.segment.as_str(), a.frame))
            .collect();
        assert_eq!(failed, [("servers", 2)]);
        assert_eq!(l.unplaced.len(), 1);
        let s = svg(&l, "x-");
        assert!(s.contains("id=\"x-f-servers-2\""), "{s}");
        assert!(
            s.contains("class=\"frame fail\" id=\"x-f-servers-2\""),
            "{s}"
        );
        assert!(s.contains("✗ FMT-SIZE-01"), "{s}");
        assert!(
            s.contains("✗ CLI-ACD-01 (expected): no ARP probe before use"),
            "a failure the scenario expects is labelled so: {s}"
        );
    }

    #[test]
    fn mermaid_has_aliased_participants_broadcasts_and_notes() {
        let m = mermaid(&relayed());
        assert!(
            m.starts_with("sequenceDiagram\n    participant h0 as client\n"),
            "{m}"
        );
        assert!(
            m.contains("    h0--)h1: DHCPDISCOVER xid 0x00005678 [clients #35;1]"),
            "{m}"
        );
        assert!(m.contains("    h1->>h2: DHCPDISCOVER"), "{m}");
        assert!(m.contains("Note right of h1: ✗ FMT-SIZE-01"), "{m}");
    }

    #[test]
    fn a_long_silence_is_drawn_as_a_gap() {
        let mut l = relayed();
        l.arrows[4].time += 3.0;
        let t = l.arrows[4].time;
        for a in &mut l.arrows[5..] {
            a.time = t;
        }
        assert!(svg(&l, "").contains("s later …"));
        assert!(mermaid(&l).contains("s later …"));
    }

    #[test]
    fn long_runs_are_elided_but_failed_frames_kept() {
        let mut l = relayed();
        let proto = l.arrows[0].clone();
        l.arrows = (0..MAX_ARROWS * 2)
            .map(|i| Arrow {
                frame: i + 1,
                failures: if i == MAX_ARROWS {
                    vec![Mark {
                        rule: "TFTP-SAS-01".into(),
                        message: "duplicate DATA".into(),
                        expected: false,
                    }]
                } else {
                    vec![]
                },
                ..proto.clone()
            })
            .collect();
        l.arrows = elide(l.arrows);
        assert_eq!(
            l.arrows.len(),
            MAX_ARROWS + 1,
            "the head, the tail and the failed frame"
        );
        assert_eq!(
            l.arrows.iter().map(|a| a.elided_before).sum::<usize>(),
            MAX_ARROWS - 1
        );
        assert!(
            l.arrows.iter().any(|a| a.frame == MAX_ARROWS + 1),
            "the failed frame is kept"
        );
        assert!(svg(&l, "").contains("frames not drawn"));
    }

    #[test]
    fn bulk_runs_keep_their_ends_and_what_follows() {
        let l = relayed();
        let proto = l.arrows[0].clone();
        let mut arrows = Vec::new();
        for i in 0..100 {
            arrows.push(Arrow {
                frame: i,
                label: format!("TFTP DATA {i} (1432)"),
                ..proto.clone()
            });
        }
        arrows.push(Arrow {
            frame: 100,
            label: "DHCPDISCOVER".into(),
            ..proto.clone()
        });
        let kept = elide(arrows);
        assert_eq!(kept.len(), BULK_KEPT + 2 + 1);
        assert_eq!(kept[BULK_KEPT].elided_before, 100 - BULK_KEPT - 2);
        assert_eq!(kept.last().map(|a| a.label.as_str()), Some("DHCPDISCOVER"));
    }
}

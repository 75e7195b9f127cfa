//! Checks of the checklist's TFTP group (RFC 1350, RFC 1123 §4.2.3, RFC 2347-2349, RFC 7440).

use super::query::{protocol_secs, TOLERANCE};
use super::{fail, verdict, Check, Outcome};
use crate::judge::trace::{Frame, Trace};
use bootlab_wire::tftp::{self, ErrorCode, Mode, Packet, Request, TftpOption};
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[
    ("TFTP-TID-01", tid_01),
    ("TFTP-FLOW-01", flow_01),
    ("TFTP-LEN-01", len_01),
    ("TFTP-SAS-01", sas_01),
    ("TFTP-REQ-01", req_01),
    ("TFTP-FLOW-02", flow_02),
    ("TFTP-RTX-01", rtx_01),
    ("TFTP-END-01", end_01),
    ("TFTP-ERR-01", err_01),
    ("TFTP-MODE-01", mode_01),
    ("TFTP-BCAST-01", bcast_01),
    ("TFTP-OPT-01", opt_01),
    ("TFTP-OACK-01", oack_01),
    ("TFTP-OACK-02", oack_02),
    ("TFTP-OACK-03", oack_03),
    ("TFTP-BLK-01", blk_01),
    ("TFTP-TO-01", to_01),
    ("TFTP-TID-02", tid_02),
    ("TFTP-TSIZE-01", tsize_01),
    ("TFTP-WIN-01", win_01),
    ("TFTP-WIN-02", win_02),
    ("TFTP-ROLL-01", roll_01),
    ("TFTP-ERR-02", err_02),
];

/// One TFTP conversation: the client's (address, port) and its packets in order, each with
/// whether the client sent it.
pub(super) struct Conversation<'a> {
    /// The segment it was captured on: a transfer through a router is captured once per segment,
    /// and each copy is judged as that wire saw it (one sequence per wire, never interleaved).
    pub(super) segment: &'a str,
    /// The requesting side.
    pub(super) client: (Ipv4Addr, u16),
    /// Packets in capture order, `true` when the client sent it.
    pub(super) packets: Vec<(&'a Frame, &'a Packet, bool)>,
}

impl<'a> Conversation<'a> {
    /// The RRQ or WRQ that opened it.
    pub(super) fn request(&self) -> Option<(&'a Frame, &'a Request, bool)> {
        self.packets.iter().find_map(|(f, p, _)| match p {
            Packet::Rrq(r) => Some((*f, r, true)),
            Packet::Wrq(r) => Some((*f, r, false)),
            _ => None,
        })
    }

    /// The first OACK.
    fn oack(&self) -> Option<(&'a Frame, &'a [TftpOption])> {
        self.packets.iter().find_map(|(f, p, _)| match p {
            Packet::Oack { options } => Some((*f, options.as_slice())),
            _ => None,
        })
    }

    /// A negotiated (OACK) numeric option.
    pub(super) fn negotiated(&self, name: &str) -> Option<u64> {
        self.oack()
            .and_then(|(_, o)| tftp::find_option(o, name))
            .and_then(|v| v.parse().ok())
    }

    /// The DATA sender's side: the server for RRQ, the client for WRQ.
    fn data_from_client(&self) -> bool {
        matches!(self.request(), Some((_, _, false)))
    }
}

/// When a read request's download ended, as the client saw it: its ACK of a DATA shorter than
/// the block size (RFC 1350 §6; blksize from the OACK, RFC 2348), with the client's MAC.
pub(super) fn completed_downloads(t: &Trace) -> Vec<([u8; 6], Duration)> {
    let mut out = Vec::new();
    for c in conversations(t) {
        if !matches!(c.request(), Some((_, _, true))) || c.data_from_client() {
            continue;
        }
        let blksize = c.negotiated("blksize").unwrap_or(512) as usize;
        let last_short = c
            .packets
            .iter()
            .rev()
            .find_map(|(_, p, from_client)| match p {
                Packet::Data { block, data } if !*from_client && data.len() < blksize => {
                    Some(*block)
                }
                _ => None,
            });
        let Some(last) = last_short else { continue };
        let ack = c.packets.iter().find(|(_, p, from_client)| {
            *from_client && matches!(p, Packet::Ack { block } if *block == last)
        });
        if let Some((f, _, _)) = ack {
            if let Some(e) = &f.decoded.eth {
                out.push((e.src_addr.0, f.time));
            }
        }
    }
    out
}

/// The conversations of a trace, keyed by segment and requesting endpoint.
pub(super) fn conversations(t: &Trace) -> Vec<Conversation<'_>> {
    let mut convs: Vec<Conversation<'_>> = Vec::new();
    for (f, p) in t.tftp() {
        let (Some(ip), Some(udp)) = (&f.decoded.ipv4, &f.decoded.udp) else {
            continue;
        };
        let src = (ip.src, udp.src_port);
        let dst = (ip.dst, udp.dst_port);
        let is_request = matches!(p, Packet::Rrq(_) | Packet::Wrq(_));
        let found = convs
            .iter()
            .position(|c| c.segment == f.segment && (c.client == src || c.client == dst));
        let (i, from_client) = match (found, is_request) {
            (Some(i), _) => (i, convs[i].client == src),
            (None, true) => {
                convs.push(Conversation {
                    segment: &f.segment,
                    client: src,
                    packets: Vec::new(),
                });
                (convs.len() - 1, true)
            }
            (None, false) => {
                // Guess: DATA/OACK/ERROR go to the client, ACK comes from it.
                let from_client = matches!(p, Packet::Ack { .. });
                let client = if from_client { src } else { dst };
                convs.push(Conversation {
                    segment: &f.segment,
                    client,
                    packets: Vec::new(),
                });
                (convs.len() - 1, from_client)
            }
        };
        convs[i].packets.push((f, p, from_client));
    }
    convs
}

/// Unwraps a 16-bit block number next to the previous absolute one.
fn unwrap(prev: i64, block: u16) -> i64 {
    prev + i64::from(block.wrapping_sub(prev as u16) as i16)
}

/// TFTP-TID-01: the server answers from a port other than 69.
fn tid_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, p) in t.tftp() {
        if matches!(p, Packet::Data { .. } | Packet::Oack { .. }) {
            any = true;
            if f.decoded
                .udp
                .as_ref()
                .is_some_and(|u| u.src_port == tftp::SERVER_PORT)
            {
                return fail(
                    &f.segment,
                    f.number,
                    "server answers from port 69 instead of a new TID",
                );
            }
        }
    }
    verdict(any)
}

/// TFTP-FLOW-01: DATA blocks start at 1 and go up by one (wrapping past 65535).
fn flow_01(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let mut expect: Option<u16> = None;
        for (f, p, _) in &c.packets {
            if let Packet::Data { block, .. } = p {
                any = true;
                let e = expect.unwrap_or(1);
                if *block == e || (e == 0 && *block == 1 && expect.is_some()) {
                    expect = Some(block.wrapping_add(1));
                } else if Some(*block) != expect.map(|x| x.wrapping_sub(1)) && *block > e {
                    return fail(
                        &f.segment,
                        f.number,
                        format!("DATA {block} where {e} was due"),
                    );
                }
            }
        }
    }
    verdict(any)
}

/// TFTP-LEN-01: every DATA holds blksize octets except the last.
fn len_01(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let blksize = c.negotiated("blksize").unwrap_or(512) as usize;
        let datas: Vec<_> = c
            .packets
            .iter()
            .filter_map(|(f, p, _)| match p {
                Packet::Data { block, data } => Some((f, *block, data.len())),
                _ => None,
            })
            .collect();
        let Some(last) = datas.last().map(|d| d.1) else {
            continue;
        };
        any = true;
        for (f, block, len) in &datas {
            if *block != last && *len != blksize {
                return fail(
                    &f.segment,
                    f.number,
                    format!("DATA {block} holds {len} octets, blksize is {blksize}"),
                );
            }
        }
    }
    verdict(any)
}

/// TFTP-SAS-01 (RFC 1123 §4.2.3.1): a duplicate ACK never makes the sender resend the next block:
/// a second copy of DATA n+1 following a duplicate ACK n at once (well before any timeout) fails.
fn sas_01(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let mut acks_seen: HashSet<i64> = HashSet::new();
        let mut data_sent: HashMap<i64, Duration> = HashMap::new();
        let (mut ack_abs, mut data_abs) = (0i64, 0i64);
        for (i, (f, p, _)) in c.packets.iter().enumerate() {
            match p {
                Packet::Ack { block } => {
                    ack_abs = unwrap(ack_abs, *block);
                    if acks_seen.insert(ack_abs) {
                        continue;
                    }
                    any = true;
                    // The sender's next DATA after the duplicate (the receiver's own ACK of the
                    // block may be captured in between: it crosses the resent copy on the wire).
                    let next_data = c.packets[i + 1..]
                        .iter()
                        .find(|(_, p, _)| matches!(p, Packet::Data { .. }));
                    if let Some((g, Packet::Data { block: b, .. }, _)) = next_data {
                        // A reaction, not a timeout: the copy follows the duplicate ACK at once and
                        // the previous copy of the same block went out only just before.
                        let quick = g.time.saturating_sub(f.time) < Duration::from_millis(100);
                        let prev = data_sent.get(&(ack_abs + 1)).copied();
                        let soon = prev
                            .is_some_and(|t| g.time.saturating_sub(t) < Duration::from_millis(150));
                        if *b == block.wrapping_add(1) && quick && soon {
                            return fail(&g.segment, g.number, format!("DATA {b} resent right after a duplicate ACK {block} (Sorcerer's Apprentice)"));
                        }
                    }
                }
                Packet::Data { block, .. } => {
                    data_abs = unwrap(data_abs, *block);
                    data_sent.insert(data_abs, f.time);
                }
                _ => {}
            }
        }
    }
    verdict(any)
}

/// TFTP-REQ-01 (RFC 1350 §4-5): requests go to port 69 with mode netascii, octet or mail.
fn req_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, p) in t.tftp() {
        let (Packet::Rrq(r) | Packet::Wrq(r)) = p else {
            continue;
        };
        any = true;
        if f.decoded
            .udp
            .as_ref()
            .is_some_and(|u| u.dst_port != tftp::SERVER_PORT)
        {
            return fail(&f.segment, f.number, "request not sent to port 69");
        }
        if let Mode::Other(m) = &r.mode {
            return fail(&f.segment, f.number, format!("request with mode {m:?}"));
        }
    }
    verdict(any)
}

/// Checks that no DATA goes beyond the last acknowledged block plus the window (1 without
/// windowsize), for conversations with (`windowed`) or without a negotiated windowsize.
fn window_check(t: &Trace, windowed: bool) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let w = c.negotiated("windowsize");
        if w.is_some() != windowed {
            continue;
        }
        let w = w.unwrap_or(1) as i64;
        let data_side = c.data_from_client();
        let mut acked: i64 = 0;
        let mut last_data: i64 = 0;
        for (f, p, from_client) in &c.packets {
            match p {
                Packet::Ack { block } if *from_client != data_side => {
                    let a = unwrap(acked, *block);
                    acked = acked.max(a);
                }
                Packet::Data { block, .. } if *from_client == data_side => {
                    any = true;
                    let n = unwrap(last_data, *block);
                    last_data = n;
                    if n > acked + w {
                        return fail(
                            &f.segment,
                            f.number,
                            format!(
                                "DATA {block} sent before ACK {} (window {w})",
                                (n - w) as u16
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
    }
    verdict(any)
}

/// TFTP-FLOW-02 (RFC 1350 §2, §5): without windowsize, DATA n+1 only after ACK n.
fn flow_02(t: &Trace) -> Outcome {
    window_check(t, false)
}

/// TFTP-WIN-02 (RFC 7440 §4): at most windowsize blocks beyond the last acknowledged one.
fn win_02(t: &Trace) -> Outcome {
    window_check(t, true)
}

/// TFTP-RTX-01 (RFC 1350 §2, RFC 1123 §4.2.3.2): a resent DATA is identical to the first copy,
/// and repeated timeouts do not get shorter.
fn rtx_01(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let mut copies: HashMap<i64, (&[u8], Vec<Duration>)> = HashMap::new();
        let mut abs = 0i64;
        for (f, p, _) in &c.packets {
            let Packet::Data { block, data } = p else {
                continue;
            };
            abs = unwrap(abs, *block);
            match copies.get_mut(&abs) {
                Some((first, times)) => {
                    any = true;
                    if *first != data.as_slice() {
                        return fail(
                            &f.segment,
                            f.number,
                            format!("DATA {block} resent with other content"),
                        );
                    }
                    times.push(f.time);
                    if let [.., a, b, c2] = times.as_slice() {
                        let (g1, g2) = (protocol_secs(t, f, *a, *b), protocol_secs(t, f, *b, *c2));
                        if g2 + TOLERANCE < g1 {
                            return fail(
                                &f.segment,
                                f.number,
                                format!("retransmission gap shrank from {g1:.1} s to {g2:.1} s"),
                            );
                        }
                    }
                }
                None => {
                    copies.insert(abs, (data.as_slice(), vec![f.time]));
                }
            }
        }
    }
    verdict(any)
}

/// TFTP-END-01 (RFC 1350 §6): the receiver acknowledges the last (short) block.
fn end_01(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let blksize = c.negotiated("blksize").unwrap_or(512) as usize;
        let data_side = c.data_from_client();
        let last = c.packets.iter().find(|(_, p, s)| {
            *s == data_side && matches!(p, Packet::Data { data, .. } if data.len() < blksize)
        });
        let Some((f, Packet::Data { block, .. }, _)) = last else {
            continue;
        };
        any = true;
        let acked = c.packets.iter().any(|(g, p, s)| {
            *s != data_side
                && g.time >= f.time
                && matches!(p, Packet::Ack { block: b } if b == block)
        });
        if !acked {
            return fail(
                &f.segment,
                f.number,
                format!("last DATA {block} never acknowledged"),
            );
        }
    }
    verdict(any)
}

/// TFTP-ERR-01 (RFC 1350 §5, §7): ERROR codes are 0-8; an ERROR ends the transfer: its sender
/// sends nothing more on that conversation.
fn err_01(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let Some(i) = c
            .packets
            .iter()
            .position(|(_, p, _)| matches!(p, Packet::Error { .. }))
        else {
            continue;
        };
        any = true;
        let (f, p, side) = c.packets[i];
        if let Packet::Error { code, .. } = p {
            if code.value() > 8 {
                return fail(&f.segment, f.number, format!("ERROR code {}", code.value()));
            }
        }
        if let Some((g, _, _)) = c.packets[i + 1..].iter().find(|(_, _, s)| *s == side) {
            return fail(
                &g.segment,
                g.number,
                format!("packet after its sender's ERROR (frame {})", f.number),
            );
        }
    }
    verdict(any)
}

/// TFTP-MODE-01 (RFC 1350 §1, RFC 1123 §4.2.2.1): mail mode is refused with an ERROR.
fn mode_01(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let Some((f, r, _)) = c.request() else {
            continue;
        };
        if r.mode != Mode::Mail {
            continue;
        }
        any = true;
        if c.packets
            .iter()
            .any(|(_, p, s)| !*s && !matches!(p, Packet::Error { .. }))
        {
            return fail(&f.segment, f.number, "mail-mode request served");
        }
    }
    verdict(any)
}

/// TFTP-BCAST-01 (RFC 1123 §4.2.3.5): a request sent to a broadcast address gets no reply.
fn bcast_01(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let Some((f, _, _)) = c.request() else {
            continue;
        };
        let bcast = f
            .decoded
            .ipv4
            .as_ref()
            .is_some_and(|i| i.dst.is_broadcast())
            || f.decoded
                .eth
                .as_ref()
                .is_some_and(|e| e.dst_addr.0 == [0xff; 6]);
        if !bcast {
            continue;
        }
        any = true;
        if let Some((g, _, _)) = c.packets.iter().find(|(_, _, s)| !*s) {
            return fail(
                &g.segment,
                g.number,
                format!("reply to a broadcast request (frame {})", f.number),
            );
        }
    }
    verdict(any)
}

/// TFTP-OPT-01 (RFC 2347): each option at most once (names case-insensitive); the request is at
/// most 512 octets.
fn opt_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, p) in t.tftp() {
        let (Packet::Rrq(r) | Packet::Wrq(r)) = p else {
            continue;
        };
        any = true;
        let len = f.decoded.udp.as_ref().map(|u| u.payload_len).unwrap_or(0);
        if len > tftp::MAX_REQUEST_LEN {
            return fail(
                &f.segment,
                f.number,
                format!("request of {len} octets, more than 512"),
            );
        }
        for (i, o) in r.options.iter().enumerate() {
            if r.options[..i]
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(&o.name))
            {
                return fail(
                    &f.segment,
                    f.number,
                    format!("option {} requested twice", o.name),
                );
            }
        }
    }
    verdict(any)
}

/// The request's option value by name.
fn requested<'a>(c: &Conversation<'a>, name: &str) -> Option<&'a str> {
    c.request().and_then(|(_, r, _)| {
        r.options
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
            .map(|o| o.value.as_str())
    })
}

/// TFTP-OACK-01 (RFC 2347): an OACK names only options the client asked for.
fn oack_01(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let Some((f, opts)) = c.oack() else { continue };
        any = true;
        if let Some(o) = opts.iter().find(|o| requested(&c, &o.name).is_none()) {
            return fail(
                &f.segment,
                f.number,
                format!("OACK names {} the client never asked for", o.name),
            );
        }
    }
    verdict(any)
}

/// TFTP-OACK-02 (RFC 2347): after an OACK to RRQ the client sends ACK 0 and DATA 1 follows;
/// after an OACK to WRQ the client starts with DATA 1.
fn oack_02(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let (Some((f, _)), Some((_, _, rrq))) = (c.oack(), c.request()) else {
            continue;
        };
        let after: Vec<_> = c
            .packets
            .iter()
            .filter(|(g, _, _)| g.time > f.time)
            .collect();
        let Some((g, p, _)) = after.iter().find(|(_, _, s)| *s) else {
            continue;
        };
        any = true;
        let ok = matches!(
            (rrq, p),
            (true, Packet::Ack { block: 0 })
                | (false, Packet::Data { block: 1, .. })
                | (_, Packet::Error { .. })
        );
        if !ok {
            return fail(
                &g.segment,
                g.number,
                "client's first packet after the OACK is not ACK 0 (RRQ) / DATA 1 (WRQ)",
            );
        }
        if rrq {
            if let Some((h, q, _)) = after
                .iter()
                .find(|(_, p, s)| !*s && matches!(p, Packet::Data { .. }))
            {
                if !matches!(q, Packet::Data { block: 1, .. }) {
                    return fail(
                        &h.segment,
                        h.number,
                        "first DATA after ACK 0 is not block 1",
                    );
                }
            }
        }
    }
    verdict(any)
}

/// TFTP-OACK-03 (RFC 2347): a client finding an option it never asked for in the OACK answers
/// ERROR 8 and stops.
fn oack_03(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let Some((f, opts)) = c.oack() else { continue };
        if opts.iter().all(|o| requested(&c, &o.name).is_some()) {
            continue;
        }
        any = true;
        let next = c.packets.iter().find(|(g, _, s)| *s && g.time > f.time);
        if !matches!(
            next,
            Some((
                _,
                Packet::Error {
                    code: ErrorCode::OptionNegotiation,
                    ..
                },
                _
            ))
        ) {
            return fail(
                &f.segment,
                f.number,
                "OACK with an unrequested option not refused with ERROR 8",
            );
        }
    }
    verdict(any)
}

/// Checks an OACK option against the request: within `range` and no more than requested (or
/// equal when `exact`).
fn oack_value(t: &Trace, name: &str, range: std::ops::RangeInclusive<u64>, exact: bool) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let Some((f, opts)) = c.oack() else { continue };
        let Some(v) = tftp::find_option(opts, name) else {
            // Asked for and left out of the OACK: what the rule wants for a value the server
            // cannot accept (RFC 2347), and for any other it may decline.
            any |= requested(&c, name).is_some();
            continue;
        };
        any = true;
        let Ok(v) = v.parse::<u64>() else {
            return fail(
                &f.segment,
                f.number,
                format!("OACK {name} {v:?} is not a number"),
            );
        };
        let asked = requested(&c, name).and_then(|a| a.parse::<u64>().ok());
        if !range.contains(&v) {
            return fail(
                &f.segment,
                f.number,
                format!("OACK {name} {v} outside {range:?}"),
            );
        }
        match asked {
            Some(a) if exact && v != a => {
                return fail(
                    &f.segment,
                    f.number,
                    format!("OACK {name} {v}, requested {a}"),
                )
            }
            Some(a) if v > a => {
                return fail(
                    &f.segment,
                    f.number,
                    format!("OACK {name} {v} above the requested {a}"),
                )
            }
            _ => {}
        }
    }
    verdict(any)
}

/// TFTP-BLK-01 (RFC 2348): blksize 8-65464, at most the requested value.
fn blk_01(t: &Trace) -> Outcome {
    oack_value(t, "blksize", 8..=65464, false)
}

/// TFTP-TO-01 (RFC 2349): timeout 1-255, echoed exactly.
fn to_01(t: &Trace) -> Outcome {
    oack_value(t, "timeout", 1..=255, true)
}

/// TFTP-TID-02 (RFC 1350 §4): a datagram from an unexpected port to a transfer's server TID is
/// answered with ERROR 5 sent to that port, and the transfer goes on (no ERROR to its client).
fn tid_02(t: &Trace) -> Outcome {
    let ends = |f: &Frame| -> Option<((Ipv4Addr, u16), (Ipv4Addr, u16))> {
        let (ip, u) = (f.decoded.ipv4.as_ref()?, f.decoded.udp.as_ref()?);
        Some(((ip.src, u.src_port), (ip.dst, u.dst_port)))
    };
    // Each transfer: its client and its server TID (the first answer's source, not port 69).
    let mut transfers: Vec<((Ipv4Addr, u16), (Ipv4Addr, u16))> = Vec::new();
    for (f, p) in t.tftp() {
        let Some((src, dst)) = ends(f) else { continue };
        if matches!(p, Packet::Rrq(_) | Packet::Wrq(_)) {
            continue;
        }
        if dst.1 != 69
            && src.1 != 69
            && !transfers
                .iter()
                .any(|(c, s)| *c == src || *s == src || *c == dst)
            && t.tftp().any(|(g, q)| {
                matches!(q, Packet::Rrq(_) | Packet::Wrq(_))
                    && ends(g).is_some_and(|(gs, _)| gs == dst)
                    && g.time < f.time
            })
        {
            transfers.push((dst, src));
        }
    }
    let mut any = false;
    for (client, server) in transfers {
        for (f, _) in t.tftp() {
            let Some((src, dst)) = ends(f) else { continue };
            if dst != server || src == client {
                continue;
            }
            any = true;
            let answered = t.tftp().any(|(g, q)| {
                g.time >= f.time
                    && ends(g) == Some((server, src))
                    && matches!(q, Packet::Error { code, .. } if *code == tftp::ErrorCode::UnknownTid)
            });
            if !answered {
                return fail(
                    &f.segment,
                    f.number,
                    format!(
                        "datagram from {}:{} to the transfer's TID got no ERROR 5",
                        src.0, src.1
                    ),
                );
            }
            if let Some((g, _)) = t.tftp().find(|(g, q)| {
                g.time >= f.time
                    && ends(g) == Some((server, client))
                    && matches!(q, Packet::Error { .. })
            }) {
                return fail(
                    &g.segment,
                    g.number,
                    "the real transfer was ended after a stray datagram",
                );
            }
        }
    }
    verdict(any)
}

/// TFTP-WIN-01 (RFC 7440 §3): windowsize 1-65535, at most the requested value.
fn win_01(t: &Trace) -> Outcome {
    oack_value(t, "windowsize", 1..=65535, false)
}

/// TFTP-TSIZE-01 (RFC 2349): the OACK's tsize to an RRQ equals the octets then sent; to a WRQ it
/// echoes the client's value.
fn tsize_01(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let (Some((f, opts)), Some((_, _, rrq))) = (c.oack(), c.request()) else {
            continue;
        };
        let Some(v) = tftp::find_option(opts, "tsize").and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        if !rrq {
            any = true;
            if requested(&c, "tsize").and_then(|a| a.parse::<u64>().ok()) != Some(v) {
                return fail(
                    &f.segment,
                    f.number,
                    "OACK tsize to a WRQ differs from the client's",
                );
            }
            continue;
        }
        let blksize = c.negotiated("blksize").unwrap_or(512) as usize;
        let mut seen: HashSet<i64> = HashSet::new();
        let mut total = 0u64;
        let mut abs = 0i64;
        let mut complete = false;
        for (_, p, s) in &c.packets {
            if let (Packet::Data { block, data }, false) = (p, s) {
                abs = unwrap(abs, *block);
                if seen.insert(abs) {
                    total += data.len() as u64;
                }
                complete |= data.len() < blksize;
            }
        }
        if !complete {
            continue;
        }
        any = true;
        if total != v {
            return fail(
                &f.segment,
                f.number,
                format!("OACK tsize {v}, {total} octets sent"),
            );
        }
    }
    verdict(any)
}

/// TFTP-ROLL-01 (de facto): past block 65535 the block number wraps to 0 (or 1).
fn roll_01(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let mut after_max = false;
        for (f, p, _) in &c.packets {
            let Packet::Data { block, .. } = p else {
                continue;
            };
            if after_max && *block != u16::MAX {
                any = true;
                if *block > 1 {
                    return fail(
                        &f.segment,
                        f.number,
                        format!("block {block} after 65535, expected 0 or 1"),
                    );
                }
                after_max = false;
            }
            if *block == u16::MAX {
                after_max = true;
            }
        }
    }
    verdict(any)
}

/// Whether a request at `f` went to a host that runs a TFTP server role of the run.
pub(super) fn to_tftp_server(t: &Trace, f: &Frame) -> bool {
    let Some(dst) = f.decoded.ipv4.as_ref().map(|i| i.dst) else {
        return false;
    };
    let Some(host) = t.names.ips.get(&dst) else {
        return false;
    };
    t.roles
        .values()
        .any(|r| r.kind == crate::plan::role_kind::RoleKind::TftpServer && &r.host == host)
}

/// TFTP-ERR-02 (RFC 1350 appendix): a refused request names why with the matching code: a read
/// with 1 (file not found), 2 (access violation) or 4 (illegal operation: an unsupported mode, a
/// malformed request), a write with 2, 3 (disk full), 4 or 6 (file exists); either may be 8
/// when it carried options (RFC 2347). A read
/// refused with 1 for a file the same server serves elsewhere in the run is wrong too.
fn err_02(t: &Trace) -> Outcome {
    let mut any = false;
    let convs = conversations(t);
    for c in &convs {
        let Some((f, r, read)) = c.request() else {
            continue;
        };
        if !to_tftp_server(t, f) {
            continue;
        }
        let Some((g, code)) = c.packets.iter().find_map(|(g, p, from_client)| match p {
            _ if *from_client => None,
            Packet::Error { code, .. } => Some((*g, *code)),
            _ => Some((*g, ErrorCode::Unknown(u16::MAX))),
        }) else {
            continue;
        };
        if code == ErrorCode::Unknown(u16::MAX) {
            continue; // served
        }
        any = true;
        let with_options = !r.options.is_empty();
        let fits = match code {
            ErrorCode::OptionNegotiation => with_options,
            ErrorCode::FileNotFound => read,
            ErrorCode::AccessViolation | ErrorCode::IllegalOperation => true,
            ErrorCode::DiskFull | ErrorCode::FileExists => !read,
            _ => false,
        };
        if !fits {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "{} for {:?} refused with code {}, which does not say why (RFC 1350: 1 not found, 2 access, 4 illegal operation, 6 exists)",
                    if read { "RRQ" } else { "WRQ" },
                    r.filename,
                    code.value()
                ),
            );
        }
        if read && code == ErrorCode::FileNotFound {
            let served = convs.iter().any(|d| {
                d.request()
                    .is_some_and(|(_, q, rd)| rd && q.filename == r.filename)
                    && d.packets
                        .iter()
                        .any(|(_, p, fc)| !*fc && matches!(p, Packet::Data { .. }))
            });
            if served {
                return fail(
                    &g.segment,
                    g.number,
                    format!("RRQ for {:?} refused as not found, but the server serves that file in this run", r.filename),
                );
            }
        }
    }
    verdict(any)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    const C: End = (CLIENT, YIADDR, 2000);
    const S69: End = (SERVER, SERVER_IP, 69);
    const S: End = (SERVER, SERVER_IP, 3000);

    fn rrq(opts: &[(&str, &str)]) -> Packet {
        Packet::Rrq(Request {
            filename: "boot/kernel".into(),
            mode: Mode::Octet,
            options: opts.iter().map(|(n, v)| TftpOption::new(*n, v)).collect(),
        })
    }

    /// A read of `len` octets in blocks of `blk`: RRQ with `ask`, an OACK with `grant` when it is
    /// not empty, then lock-step DATA/ACK 10 ms apart.
    fn read(len: usize, blk: usize, ask: &[(&str, &str)], grant: &[(&str, &str)]) -> Kit {
        let mut k = Kit::new();
        let mut ms = 0;
        k.tftp("lan", ms, C, S69, &rrq(ask));
        if !grant.is_empty() {
            ms += 10;
            let options = grant.iter().map(|(n, v)| TftpOption::new(*n, v)).collect();
            k.tftp("lan", ms, S, C, &Packet::Oack { options });
            ms += 10;
            k.tftp("lan", ms, C, S, &Packet::Ack { block: 0 });
        }
        let mut sent = 0;
        let mut block: u16 = 1;
        loop {
            let n = blk.min(len - sent);
            ms += 10;
            k.tftp(
                "lan",
                ms,
                S,
                C,
                &Packet::Data {
                    block,
                    data: vec![block as u8; n],
                },
            );
            ms += 10;
            k.tftp("lan", ms, C, S, &Packet::Ack { block });
            sent += n;
            block = block.wrapping_add(1);
            if n < blk {
                break;
            }
        }
        k
    }

    fn data(block: u16, n: usize) -> Packet {
        Packet::Data {
            block,
            data: vec![block as u8; n],
        }
    }

    #[test]
    fn tid_01_answers_from_a_new_port() {
        let mut bad = Kit::new();
        bad.tftp("lan", 0, C, S69, &rrq(&[]));
        bad.tftp("lan", 10, S69, C, &data(1, 10));
        pass_fail(tid_01, &read(1000, 512, &[], &[]).done(), &bad.done());
    }

    #[test]
    fn tid_02_stray_port_gets_error_5_and_the_transfer_goes_on() {
        const STRAY: End = (CLIENT, YIADDR, 2001);
        let mk = |answer: bool| {
            let mut k = Kit::new();
            k.tftp("lan", 0, C, S69, &rrq(&[]));
            k.tftp("lan", 10, S, C, &data(1, 512));
            k.tftp("lan", 20, STRAY, S, &Packet::Ack { block: 1 });
            if answer {
                let e = Packet::Error {
                    code: tftp::ErrorCode::UnknownTid,
                    message: "unknown transfer ID".into(),
                };
                k.tftp("lan", 30, S, STRAY, &e);
            }
            k.tftp("lan", 40, C, S, &Packet::Ack { block: 1 });
            k.tftp("lan", 50, S, C, &data(2, 10));
            k.tftp("lan", 60, C, S, &Packet::Ack { block: 2 });
            k.done()
        };
        pass_fail(tid_02, &mk(true), &mk(false));
        assert_eq!(
            tid_02(&read(1000, 512, &[], &[]).done()),
            Outcome::NotApplicable
        );
    }

    #[test]
    fn to_01_an_invalid_timeout_left_out_is_exercised() {
        let left_out = read(
            600,
            512,
            &[("timeout", "0"), ("tsize", "0")],
            &[("tsize", "600")],
        );
        assert_eq!(to_01(&left_out.done()), Outcome::Pass);
        let altered = read(
            600,
            512,
            &[("timeout", "256"), ("tsize", "0")],
            &[("timeout", "255")],
        );
        assert!(matches!(to_01(&altered.done()), Outcome::Fail(_)));
    }

    #[test]
    fn flow_01_counts_from_1() {
        let mut bad = Kit::new();
        bad.tftp("lan", 0, C, S69, &rrq(&[]));
        bad.tftp("lan", 10, S, C, &data(2, 10));
        pass_fail(flow_01, &read(1000, 512, &[], &[]).done(), &bad.done());
    }

    #[test]
    fn len_01_full_blocks_but_the_last() {
        let mut bad = Kit::new();
        bad.tftp("lan", 0, C, S69, &rrq(&[]));
        bad.tftp("lan", 10, S, C, &data(1, 500));
        bad.tftp("lan", 20, C, S, &Packet::Ack { block: 1 });
        bad.tftp("lan", 30, S, C, &data(2, 10));
        pass_fail(len_01, &read(1024, 512, &[], &[]).done(), &bad.done());
    }

    #[test]
    fn sas_01_no_resend_on_duplicate_ack() {
        let mk = |react: bool| {
            let mut k = Kit::new();
            k.tftp("lan", 0, C, S69, &rrq(&[]));
            k.tftp("lan", 10, S, C, &data(1, 512));
            k.tftp("lan", 20, C, S, &Packet::Ack { block: 1 });
            k.tftp("lan", 30, S, C, &data(2, 512));
            k.tftp("lan", 40, C, S, &Packet::Ack { block: 1 });
            if react {
                k.tftp("lan", 45, S, C, &data(2, 512));
            }
            k.tftp("lan", 60, C, S, &Packet::Ack { block: 2 });
            k.tftp("lan", 70, S, C, &data(3, 5));
            k.done()
        };
        pass_fail(sas_01, &mk(false), &mk(true));
        // The receiver's ACK of the block can be captured between the duplicate and the resent
        // copy (a delayed duplicate ACK 1 after DATA 2, then ACK 2 crossing the second DATA 2).
        let crossed = |react: bool| {
            let mut k = Kit::new();
            k.tftp("lan", 0, C, S69, &rrq(&[]));
            k.tftp("lan", 10, S, C, &data(1, 512));
            k.tftp("lan", 20, C, S, &Packet::Ack { block: 1 });
            k.tftp("lan", 30, S, C, &data(2, 512));
            k.tftp("lan", 31, C, S, &Packet::Ack { block: 1 });
            k.tftp("lan", 32, C, S, &Packet::Ack { block: 2 });
            if react {
                k.tftp("lan", 33, S, C, &data(2, 512));
            }
            k.tftp("lan", 34, S, C, &data(3, 5));
            k.done()
        };
        pass_fail(sas_01, &crossed(false), &crossed(true));
        // A transfer through a router is captured on both segments: each wire's copy is one
        // conversation, not a duplicate of every ACK.
        let mut routed = Kit::new();
        for seg in ["clients", "servers"] {
            routed.tftp(seg, 0, C, S69, &rrq(&[]));
            routed.tftp(seg, 10, S, C, &data(1, 512));
            routed.tftp(seg, 20, C, S, &Packet::Ack { block: 1 });
            routed.tftp(seg, 30, S, C, &data(2, 5));
            routed.tftp(seg, 40, C, S, &Packet::Ack { block: 2 });
        }
        let routed = routed.done();
        assert_eq!(conversations(&routed).len(), 2);
        assert!(
            matches!(sas_01(&routed), Outcome::NotApplicable),
            "no duplicate ACK on either wire"
        );
    }

    #[test]
    fn req_01_and_mode_01() {
        let mut bad = Kit::new();
        let r = Packet::Rrq(Request {
            filename: "x".into(),
            mode: Mode::Other("binary".into()),
            options: vec![],
        });
        bad.tftp("lan", 0, C, S69, &r);
        pass_fail(req_01, &read(10, 512, &[], &[]).done(), &bad.done());
        let mail = Packet::Rrq(Request {
            filename: "x".into(),
            mode: Mode::Mail,
            options: vec![],
        });
        let mut good = Kit::new();
        good.tftp("lan", 0, C, S69, &mail);
        good.tftp(
            "lan",
            10,
            S,
            C,
            &Packet::Error {
                code: ErrorCode::IllegalOperation,
                message: "no mail".into(),
            },
        );
        let mut bad = Kit::new();
        bad.tftp("lan", 0, C, S69, &mail);
        bad.tftp("lan", 10, S, C, &data(1, 3));
        pass_fail(mode_01, &good.done(), &bad.done());
    }

    #[test]
    fn flow_02_and_win_02_respect_the_window() {
        let mut bad = Kit::new();
        bad.tftp("lan", 0, C, S69, &rrq(&[]));
        bad.tftp("lan", 10, S, C, &data(1, 512));
        bad.tftp("lan", 11, S, C, &data(2, 512));
        pass_fail(flow_02, &read(2000, 512, &[], &[]).done(), &bad.done());
        let mk = |n: u16| {
            let mut k = read(0, 512, &[("windowsize", "2")], &[("windowsize", "2")]);
            k.trace.frames.truncate(3); // RRQ, OACK, ACK 0
            for b in 1..=n {
                k.tftp("lan", 100 + u64::from(b), S, C, &data(b, 512));
            }
            k.done()
        };
        pass_fail(win_02, &mk(2), &mk(3));
    }

    #[test]
    fn rtx_01_resends_the_same_block() {
        let mk = |same: bool| {
            let mut k = Kit::new();
            k.tftp("lan", 0, C, S69, &rrq(&[]));
            k.tftp("lan", 10, S, C, &data(1, 5));
            let again = if same { data(1, 5) } else { data(1, 4) };
            k.tftp("lan", 1010, S, C, &again);
            k.done()
        };
        pass_fail(rtx_01, &mk(true), &mk(false));
    }

    #[test]
    fn end_01_acks_the_last_block() {
        let good = read(600, 512, &[], &[]);
        let mut bad = Kit::new();
        bad.trace = good.trace.clone();
        bad.trace.frames.pop();
        pass_fail(end_01, &good.done(), &bad.done());
    }

    #[test]
    fn err_01_error_ends_the_transfer() {
        let mk = |more: bool| {
            let mut k = Kit::new();
            k.tftp("lan", 0, C, S69, &rrq(&[]));
            k.tftp(
                "lan",
                10,
                S,
                C,
                &Packet::Error {
                    code: ErrorCode::FileNotFound,
                    message: "no".into(),
                },
            );
            if more {
                k.tftp("lan", 20, S, C, &data(1, 3));
            }
            k.done()
        };
        pass_fail(err_01, &mk(false), &mk(true));
    }

    #[test]
    fn bcast_01_ignores_broadcast_requests() {
        let mk = |answer: bool| {
            let mut k = Kit::new();
            k.tftp("lan", 0, C, (BCAST, ALL, 69), &rrq(&[]));
            if answer {
                k.tftp("lan", 10, S, C, &data(1, 3));
            }
            k.done()
        };
        pass_fail(bcast_01, &mk(false), &mk(true));
    }

    #[test]
    fn opt_01_options_once() {
        let bad = read(10, 512, &[("blksize", "1024"), ("BLKSIZE", "512")], &[]);
        pass_fail(
            opt_01,
            &read(10, 512, &[("blksize", "1024")], &[]).done(),
            &bad.done(),
        );
    }

    #[test]
    fn oack_01_and_03_only_requested_options() {
        let good = read(10, 512, &[("blksize", "1024")], &[("blksize", "1024")]);
        let bad = read(
            10,
            512,
            &[("blksize", "1024")],
            &[("blksize", "1024"), ("tsize", "10")],
        );
        pass_fail(oack_01, &good.done(), &bad.done());
        let mut refused = Kit::new();
        refused.tftp("lan", 0, C, S69, &rrq(&[("blksize", "1024")]));
        let extra = vec![
            TftpOption::new("blksize", 1024),
            TftpOption::new("tsize", 10),
        ];
        refused.tftp("lan", 10, S, C, &Packet::Oack { options: extra });
        let e8 = Packet::Error {
            code: ErrorCode::OptionNegotiation,
            message: "tsize?".into(),
        };
        refused.tftp("lan", 20, C, S, &e8);
        pass_fail(oack_03, &refused.done(), &bad.done());
    }

    #[test]
    fn oack_02_ack_0_then_data_1() {
        let good = read(10, 512, &[("tsize", "0")], &[("tsize", "10")]);
        let mut bad = Kit::new();
        bad.tftp("lan", 0, C, S69, &rrq(&[("tsize", "0")]));
        bad.tftp(
            "lan",
            10,
            S,
            C,
            &Packet::Oack {
                options: vec![TftpOption::new("tsize", 10)],
            },
        );
        bad.tftp("lan", 20, C, S, &Packet::Ack { block: 1 });
        pass_fail(oack_02, &good.done(), &bad.done());
    }

    #[test]
    fn blk_to_win_tsize_values() {
        let good = read(3000, 1024, &[("blksize", "1024")], &[("blksize", "1024")]).done();
        pass_fail(
            blk_01,
            &good,
            &read(3000, 2048, &[("blksize", "1024")], &[("blksize", "2048")]).done(),
        );
        let good = read(10, 512, &[("timeout", "5")], &[("timeout", "5")]).done();
        pass_fail(
            to_01,
            &good,
            &read(10, 512, &[("timeout", "5")], &[("timeout", "4")]).done(),
        );
        let good = read(10, 512, &[("windowsize", "4")], &[("windowsize", "4")]).done();
        pass_fail(
            win_01,
            &good,
            &read(10, 512, &[("windowsize", "4")], &[("windowsize", "8")]).done(),
        );
        let good = read(1000, 512, &[("tsize", "0")], &[("tsize", "1000")]).done();
        pass_fail(
            tsize_01,
            &good,
            &read(1000, 512, &[("tsize", "0")], &[("tsize", "999")]).done(),
        );
    }

    #[test]
    fn roll_01_wraps_to_0_or_1() {
        let mk = |next: u16| {
            let mut k = Kit::new();
            k.tftp("lan", 0, C, S69, &rrq(&[]));
            k.tftp("lan", 10, S, C, &data(65535, 512));
            k.tftp("lan", 20, C, S, &Packet::Ack { block: 65535 });
            k.tftp("lan", 30, S, C, &data(next, 5));
            k.done()
        };
        pass_fail(roll_01, &mk(0), &mk(2));
    }

    #[test]
    fn err_02_names_why_a_request_was_refused() {
        let refused = |write: bool, code: ErrorCode| {
            let mut k = Kit::new();
            let req = tftp::Request {
                filename: "boot/none.img".into(),
                mode: tftp::Mode::Octet,
                options: Vec::new(),
            };
            let p = if write {
                Packet::Wrq(req)
            } else {
                Packet::Rrq(req)
            };
            k.tftp("lan", 0, C, S69, &p);
            k.tftp(
                "lan",
                10,
                S,
                C,
                &Packet::Error {
                    code,
                    message: "no".into(),
                },
            );
            k.done()
        };
        pass_fail(
            err_02,
            &refused(false, ErrorCode::FileNotFound),
            &refused(false, ErrorCode::FileExists),
        );
        pass_fail(
            err_02,
            &refused(true, ErrorCode::AccessViolation),
            &refused(true, ErrorCode::FileNotFound),
        );
    }
}

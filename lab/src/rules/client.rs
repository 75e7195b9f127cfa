//! Checks of the checklist's CLI group: client behaviour, ARP probing, DECLINE and `secs`
//! (RFC 2131 §4.4, RFC 5227, RFC 951 §7, KB Q162396).

use super::{fail, Check, Outcome};
use crate::trace::Trace;
use bootlab_wire::arp;
use bootlab_wire::bootp::{code, MessageType, Op};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[
    ("CLI-ACD-01", acd_01),
    ("CLI-DECL-01", decl_01),
    ("CLI-DECL-02", decl_02),
    ("CLI-DECL-03", decl_03),
    ("CLI-SECS-01", secs_01),
    ("CLI-SECS-02", secs_02),
    ("CLI-SECS-04", secs_04),
];

/// CLI-ACD-01: a client's ARP check of an offered address uses sender IP 0.0.0.0.
fn acd_01(t: &Trace) -> Outcome {
    let offered: Vec<(Ipv4Addr, [u8; 6])> = t.bootp().filter(|(_, m)| matches!(m.message_type(), Some(MessageType::Offer | MessageType::Ack))).map(|(_, m)| (m.yiaddr, m.chaddr_mac())).collect();
    let mut any = false;
    for (f, a) in t.arp() {
        if !matches!(a.kind(), arp::Kind::Request | arp::Kind::Probe) {
            continue;
        }
        let Some(_) = offered.iter().find(|(ip, mac)| *ip == a.target_protocol_addr && *mac == a.source_hardware_addr.0) else { continue };
        any = true;
        if !a.source_protocol_addr.is_unspecified() {
            return fail(&f.segment, f.number, format!("ARP check of {} sent with sender IP {}, not 0.0.0.0", a.target_protocol_addr, a.source_protocol_addr));
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

/// CLI-DECL-01: a client that saw its offered address in use (an ARP reply from another MAC to
/// its probe) sends DHCPDECLINE.
fn decl_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, a) in t.arp().filter(|(_, a)| a.kind() == arp::Kind::Reply) {
        // A reply to a probe: the target protocol address is 0.0.0.0 or the client's MAC is the target.
        let probed = t.arp().any(|(g, p)| {
            g.segment == f.segment && g.number < f.number && p.kind() == arp::Kind::Probe && p.target_protocol_addr == a.source_protocol_addr && p.source_hardware_addr != a.source_hardware_addr
        });
        if !probed {
            continue;
        }
        any = true;
        let declined = t.bootp().any(|(_, m)| m.message_type() == Some(MessageType::Decline) && m.options().and_then(|o| o.ip(code::REQUESTED_IP_ADDRESS)) == Some(a.source_protocol_addr));
        if !declined {
            return fail(&f.segment, f.number, format!("{} answered the probe for its address, but no DHCPDECLINE for it followed", t.names.mac(a.source_hardware_addr.0)));
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

/// CLI-DECL-02: DECLINE is broadcast, ciaddr 0, secs 0, with requested IP and server identifier.
fn decl_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| m.message_type() == Some(MessageType::Decline)) {
        any = true;
        let o = m.options();
        let problems = [
            (f.decoded.ipv4.as_ref().map(|i| i.dst) != Some(Ipv4Addr::BROADCAST), "not broadcast"),
            (!m.ciaddr.is_unspecified(), "ciaddr not 0"),
            (m.secs != 0, "secs not 0"),
            (o.and_then(|o| o.ip(code::REQUESTED_IP_ADDRESS)).is_none(), "no requested IP (50)"),
            (o.and_then(|o| o.ip(code::SERVER_IDENTIFIER)).is_none(), "no server identifier (54)"),
            (o.is_some_and(|o| o.contains(code::PARAMETER_REQUEST_LIST) || o.contains(code::IP_ADDRESS_LEASE_TIME)), "carries 55 or 51"),
        ];
        if let Some((_, why)) = problems.iter().find(|(bad, _)| *bad) {
            return fail(&f.segment, f.number, format!("DHCPDECLINE {why}"));
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

/// CLI-DECL-03: at least 10 s (protocol time) between a DECLINE and the client's next DISCOVER.
fn decl_03(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| m.message_type() == Some(MessageType::Decline)) {
        let next = t.bootp().find(|(g, n)| g.segment == f.segment && g.number > f.number && n.chaddr == m.chaddr && n.message_type() == Some(MessageType::Discover));
        let Some((g, _)) = next else { continue };
        any = true;
        let gap = g.time.saturating_sub(f.time).mul_f64(t.time_scale);
        // 0.5 s tolerance for scheduling (checklist §"How to read this").
        if gap + Duration::from_millis(500) < Duration::from_secs(10) {
            return fail(&g.segment, g.number, format!("DISCOVER {:.1} s (protocol time) after the DECLINE, less than 10 s", gap.as_secs_f64()));
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

/// Client requests of one transaction, in order (`op` 1 from port 68).
fn client_requests(t: &Trace) -> Vec<(u32, Vec<(&crate::trace::Frame, &bootlab_wire::bootp::Message)>)> {
    let mut by_xid: Vec<(u32, Vec<_>)> = Vec::new();
    for (f, m) in t.bootp().filter(|(f, m)| m.op == Op::BootRequest && f.decoded.udp.as_ref().is_some_and(|u| u.src_port == 68)) {
        match by_xid.iter_mut().find(|(x, _)| *x == m.xid) {
            Some((_, v)) => v.push((f, m)),
            None => by_xid.push((m.xid, vec![(f, m)])),
        }
    }
    by_xid
}

/// CLI-SECS-01: the first request of an acquisition carries secs 0 (or a small count).
fn secs_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (_, reqs) in client_requests(t) {
        let Some((f, m)) = reqs.first() else { continue };
        if !matches!(m.message_type(), None | Some(MessageType::Discover)) {
            continue;
        }
        any = true;
        if m.secs > 1 {
            return fail(&f.segment, f.number, format!("first request of a transaction carries secs {}", m.secs));
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

/// CLI-SECS-02: secs grows across retransmissions and is never a constant.
fn secs_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (_, reqs) in client_requests(t) {
        let disc: Vec<_> = reqs.iter().filter(|(_, m)| matches!(m.message_type(), None | Some(MessageType::Discover))).collect();
        if disc.len() < 2 {
            continue;
        }
        any = true;
        for w in disc.windows(2) {
            let (a, b) = (w[0], w[1]);
            let elapsed = b.0.time.saturating_sub(a.0.time).mul_f64(t.time_scale);
            if elapsed >= Duration::from_millis(1500) && b.1.secs <= a.1.secs {
                return fail(&b.0.segment, b.0.number, format!("retransmission {:.1} s later still carries secs {} (was {})", elapsed.as_secs_f64(), b.1.secs, a.1.secs));
            }
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

/// CLI-SECS-04: the SELECTING REQUEST repeats the DISCOVER's secs.
fn secs_04(t: &Trace) -> Outcome {
    let mut any = false;
    for (_, reqs) in client_requests(t) {
        let last_disc = reqs.iter().rev().find(|(_, m)| m.message_type() == Some(MessageType::Discover));
        let sel = reqs.iter().find(|(_, m)| m.message_type() == Some(MessageType::Request) && m.options().is_some_and(|o| o.contains(code::SERVER_IDENTIFIER)));
        let (Some(d), Some(r)) = (last_disc, sel) else { continue };
        any = true;
        if d.1.secs != r.1.secs {
            return fail(&r.0.segment, r.0.number, format!("SELECTING REQUEST secs {} differs from the DISCOVER's {}", r.1.secs, d.1.secs));
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

//! Checks of the checklist's CLI group: client behaviour, ARP probing, DECLINE and `secs`
//! (RFC 2131 §4.4, RFC 5227, RFC 951 §7, KB Q162396).

use super::query::{
    from_client, ip_dst, ip_src, is_broadcast, macs_of, protocol_secs, secs_in, TOLERANCE,
};
use super::{fail, verdict, Check, Outcome};
use crate::judge::trace::{Frame, Trace};
use crate::plan::role_kind::RoleKind;
use bootlab_wire::arp;
use bootlab_wire::bootp::{code, Message, MessageType, Op};
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
    ("CLI-HDR-01", hdr_01),
    ("CLI-SRC-01", src_01),
    ("CLI-XID-01", xid_01),
    ("CLI-SECS-03", secs_03),
    ("CLI-RTX-01", rtx_01),
    ("CLI-SEL-01", sel_01),
    ("CLI-PRL-01", prl_01),
    ("CLI-CID-01", cid_01),
    ("CLI-MAX-01", max_01),
    ("CLI-REBOOT-01", reboot_01),
    ("CLI-NAK-01", nak_01),
    ("CLI-RENEW-01", renew_01),
    ("CLI-REBIND-01", rebind_01),
    ("CLI-TIMER-02", timer_02),
    ("CLI-ACD-02", acd_02),
    ("CLI-ACD-03", acd_03),
    ("CLI-ACD-04", acd_04),
    ("CLI-ACD-05", acd_05),
    ("CLI-ARP-01", arp_01),
    ("CLI-BFLAG-01", bflag_01),
    ("CLI-RELEASE-01", release_01),
    ("CLI-XID-02", xid_02),
    ("CLI-CID-02", cid_02),
    ("CLI-TIMER-01", timer_01),
    ("CLI-EXPIRE-01", expire_01),
    ("CLI-BOOTP-01", bootp_01),
    ("CLI-RTX-02", rtx_02),
    ("CLI-GI-01", gi_01),
    ("CLI-DELAY-01", delay_01),
];

/// CLI-DELAY-01 (RFC 2131 §4.4.1): a DHCP client waits a random 1 to 10 s after start-up before
/// its first DHCPDISCOVER, to desynchronize clients that start together.
///
/// Judged in the client's own clock from when the lab started its process (the upper bound)
/// and from when the client said its wait began or, failing that, that it was ready, when it
/// says so (the lower bound: start-up work before that is not waiting), each with the
/// checklist's tolerance. A client whose first
/// message after start is not a DISCOVER (INIT-REBOOT) is not judged, nor one whose wait the lab
/// set or turned off ([`RoleInfo::start_delay_by_lab`](crate::judge::trace::RoleInfo)): scenarios
/// with `start-delay = "own"` judge the wait as the implementation ships it.
fn delay_01(t: &Trace) -> Outcome {
    // (first DISCOVER's time, segment, frame number, what it shows) of every client outside the
    // range; the earliest is reported, with how many of the clients judged were outside.
    let mut outside: Vec<(Duration, String, usize, String)> = Vec::new();
    let mut judged = 0usize;
    for (name, role) in t
        .roles
        .iter()
        .filter(|(_, r)| r.kind == RoleKind::DhcpClient && !r.start_delay_by_lab)
    {
        let Some(started) = role.started else {
            continue;
        };
        // The next role started on the same host ends this one's window.
        let until = t
            .roles
            .values()
            .filter(|o| o.host == role.host)
            .filter_map(|o| o.started)
            .filter(|s| *s > started)
            .min()
            .unwrap_or(Duration::MAX);
        let macs: Vec<[u8; 6]> = macs_of(t, &role.host).collect();
        let first = t
            .bootp()
            .filter(|(f, m)| {
                from_client(f, m)
                    && f.decoded
                        .eth
                        .as_ref()
                        .is_some_and(|e| macs.contains(&e.src_addr.0))
                    && t.at(f) >= started
                    && t.at(f) < until
            })
            .min_by_key(|(f, _)| t.at(f));
        let Some((f, m)) = first else { continue };
        if !is_type(m, MessageType::Discover) {
            continue;
        }
        judged += 1;
        let in_window = |r: &Duration| *r >= started && *r <= t.at(f);
        let began = role.start_wait.filter(in_window);
        let ready = began.or(role.ready.filter(in_window)).unwrap_or(started);
        let from = if began.is_some() {
            "it said its wait began"
        } else {
            "it was ready"
        };
        let after_ready = secs_in(role.clock, ready, t.at(f));
        let after_start = secs_in(role.clock, started, t.at(f));
        if after_ready < 1.0 - TOLERANCE || after_start > 10.0 + TOLERANCE {
            outside.push((
                t.at(f),
                f.segment.clone(),
                f.number,
                format!(
                    "client {name}'s first DHCPDISCOVER left {after_ready:.2} s after {from} \
                     ({after_start:.2} s after it started, {} clock)",
                    role.clock
                ),
            ));
        }
    }
    outside.sort();
    match outside.first() {
        Some((_, segment, number, what)) => {
            let others = match (outside.len(), judged) {
                (1, 1) => String::new(),
                (n, m) => format!("; {n} of the {m} clients judged waited outside the range"),
            };
            fail(
                segment,
                *number,
                format!("{what}; RFC 2131 §4.4.1 asks for a random wait of 1 to 10 s{others}"),
            )
        }
        None => verdict(judged > 0),
    }
}

/// CLI-ACD-01: a client's ARP check of an offered address uses sender IP 0.0.0.0.
fn acd_01(t: &Trace) -> Outcome {
    let offered: Vec<(Ipv4Addr, [u8; 6])> = t
        .bootp()
        .filter(|(_, m)| {
            matches!(
                m.message_type(),
                Some(MessageType::Offer | MessageType::Ack)
            )
        })
        .map(|(_, m)| (m.yiaddr, m.chaddr_mac()))
        .collect();
    let mut any = false;
    for (f, a) in t.arp() {
        if !matches!(a.kind(), arp::Kind::Request | arp::Kind::Probe) {
            continue;
        }
        let Some(_) = offered
            .iter()
            .find(|(ip, mac)| *ip == a.target_protocol_addr && *mac == a.source_hardware_addr.0)
        else {
            continue;
        };
        any = true;
        if !a.source_protocol_addr.is_unspecified() {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "ARP check of {} sent with sender IP {}, not 0.0.0.0",
                    a.target_protocol_addr, a.source_protocol_addr
                ),
            );
        }
    }
    verdict(any)
}

/// CLI-DECL-01: a client that saw its offered address in use (an ARP reply from another MAC to
/// its probe) sends DHCPDECLINE.
fn decl_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, a) in t.arp().filter(|(_, a)| a.kind() == arp::Kind::Reply) {
        // A reply to a probe: the target protocol address is 0.0.0.0 or the client's MAC is the target.
        let probed = t.arp().any(|(g, p)| {
            g.segment == f.segment
                && g.number < f.number
                && p.kind() == arp::Kind::Probe
                && p.target_protocol_addr == a.source_protocol_addr
                && p.source_hardware_addr != a.source_hardware_addr
        });
        if !probed {
            continue;
        }
        any = true;
        let declined = t.bootp().any(|(_, m)| {
            m.message_type() == Some(MessageType::Decline)
                && m.options().and_then(|o| o.ip(code::REQUESTED_IP_ADDRESS))
                    == Some(a.source_protocol_addr)
        });
        if !declined {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "{} answered the probe for its address, but no DHCPDECLINE for it followed",
                    t.names.mac(a.source_hardware_addr.0)
                ),
            );
        }
    }
    verdict(any)
}

/// CLI-DECL-02: DECLINE is broadcast, ciaddr 0, secs 0, with requested IP and server identifier.
fn decl_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t
        .bootp()
        .filter(|(_, m)| m.message_type() == Some(MessageType::Decline))
    {
        any = true;
        let o = m.options();
        let problems = [
            (
                f.decoded.ipv4.as_ref().map(|i| i.dst) != Some(Ipv4Addr::BROADCAST),
                "not broadcast",
            ),
            (!m.ciaddr.is_unspecified(), "ciaddr not 0"),
            (m.secs != 0, "secs not 0"),
            (
                o.and_then(|o| o.ip(code::REQUESTED_IP_ADDRESS)).is_none(),
                "no requested IP (50)",
            ),
            (
                o.and_then(|o| o.ip(code::SERVER_IDENTIFIER)).is_none(),
                "no server identifier (54)",
            ),
            (
                o.is_some_and(|o| {
                    o.contains(code::PARAMETER_REQUEST_LIST)
                        || o.contains(code::IP_ADDRESS_LEASE_TIME)
                }),
                "carries 55 or 51",
            ),
        ];
        if let Some((_, why)) = problems.iter().find(|(bad, _)| *bad) {
            return fail(&f.segment, f.number, format!("DHCPDECLINE {why}"));
        }
    }
    verdict(any)
}

/// CLI-DECL-03: at least 10 s (protocol time) between a DECLINE and the client's next DISCOVER.
fn decl_03(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t
        .bootp()
        .filter(|(_, m)| m.message_type() == Some(MessageType::Decline))
    {
        let next = t.bootp().find(|(g, n)| {
            g.segment == f.segment
                && g.number > f.number
                && n.chaddr == m.chaddr
                && n.message_type() == Some(MessageType::Discover)
        });
        let Some((g, _)) = next else { continue };
        any = true;
        let gap = g
            .time
            .saturating_sub(f.time)
            .mul_f64(t.sender_clock(f).scale());
        // 0.5 s tolerance for scheduling (checklist §"How to read this").
        if gap + Duration::from_millis(500) < Duration::from_secs(10) {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "DISCOVER {:.1} s (protocol time) after the DECLINE, less than 10 s",
                    gap.as_secs_f64()
                ),
            );
        }
    }
    verdict(any)
}

/// Client requests of one transaction, in order (`op` 1 from port 68).
fn client_requests(
    t: &Trace,
) -> Vec<(
    u32,
    Vec<(&crate::judge::trace::Frame, &bootlab_wire::bootp::Message)>,
)> {
    let mut by_xid: Vec<(u32, Vec<_>)> = Vec::new();
    for (f, m) in t.bootp().filter(|(f, m)| {
        m.op == Op::BootRequest && f.decoded.udp.as_ref().is_some_and(|u| u.src_port == 68)
    }) {
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
            return fail(
                &f.segment,
                f.number,
                format!("first request of a transaction carries secs {}", m.secs),
            );
        }
    }
    verdict(any)
}

/// CLI-SECS-02: secs grows across retransmissions and is never a constant.
fn secs_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (_, reqs) in client_requests(t) {
        let disc: Vec<_> = reqs
            .iter()
            .filter(|(_, m)| matches!(m.message_type(), None | Some(MessageType::Discover)))
            .collect();
        if disc.len() < 2 {
            continue;
        }
        any = true;
        for w in disc.windows(2) {
            let (a, b) = (w[0], w[1]);
            let elapsed =
                b.0.time
                    .saturating_sub(a.0.time)
                    .mul_f64(t.sender_clock(a.0).scale());
            if elapsed >= Duration::from_millis(1500) && b.1.secs <= a.1.secs {
                return fail(
                    &b.0.segment,
                    b.0.number,
                    format!(
                        "retransmission {:.1} s later still carries secs {} (was {})",
                        elapsed.as_secs_f64(),
                        b.1.secs,
                        a.1.secs
                    ),
                );
            }
        }
    }
    verdict(any)
}

/// CLI-SECS-04: the SELECTING REQUEST repeats the DISCOVER's secs.
fn secs_04(t: &Trace) -> Outcome {
    let mut any = false;
    for (_, reqs) in client_requests(t) {
        let last_disc = reqs
            .iter()
            .rev()
            .find(|(_, m)| m.message_type() == Some(MessageType::Discover));
        let sel = reqs.iter().find(|(_, m)| {
            m.message_type() == Some(MessageType::Request)
                && m.options()
                    .is_some_and(|o| o.contains(code::SERVER_IDENTIFIER))
        });
        let (Some(d), Some(r)) = (last_disc, sel) else {
            continue;
        };
        any = true;
        if d.1.secs != r.1.secs {
            return fail(
                &r.0.segment,
                r.0.number,
                format!(
                    "SELECTING REQUEST secs {} differs from the DISCOVER's {}",
                    r.1.secs, d.1.secs
                ),
            );
        }
    }
    verdict(any)
}

/// Client messages: BOOTREQUEST from port 68.
fn client_msgs(t: &Trace) -> impl Iterator<Item = (&Frame, &Message)> {
    t.bootp().filter(|(f, m)| from_client(f, m))
}

fn is_type(m: &Message, ty: MessageType) -> bool {
    m.message_type() == Some(ty)
}

/// CLI-HDR-01 (RFC 2131 Table 5, RFC 1542 §3.4): client messages carry hops, yiaddr, siaddr and
/// giaddr zero.
fn hdr_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in client_msgs(t) {
        any = true;
        let bad = [
            (m.hops != 0, "hops"),
            (!m.yiaddr.is_unspecified(), "yiaddr"),
            (!m.siaddr.is_unspecified(), "siaddr"),
            (!m.giaddr.is_unspecified(), "giaddr"),
        ];
        if let Some((_, field)) = bad.iter().find(|(b, _)| *b) {
            return fail(
                &f.segment,
                f.number,
                format!("client message with {field} not zero"),
            );
        }
    }
    verdict(any)
}

/// CLI-SRC-01 (RFC 2131 §4.1, §4.4.1): before it owns an address a DHCP client sends from
/// 0.0.0.0 to the limited broadcast address on Ethernet broadcast.
fn src_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in client_msgs(t) {
        let unbound = is_type(m, MessageType::Discover)
            || is_type(m, MessageType::Decline)
            || (is_type(m, MessageType::Request) && m.ciaddr.is_unspecified());
        if !unbound {
            continue;
        }
        any = true;
        if ip_src(f) != Some(Ipv4Addr::UNSPECIFIED) || !is_broadcast(f) {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "{} from {:?} to {:?}, expected 0.0.0.0 to broadcast",
                    m.message_type().map(|x| x.to_string()).unwrap_or_default(),
                    ip_src(f),
                    ip_dst(f)
                ),
            );
        }
    }
    verdict(any)
}

/// A SELECTING REQUEST: server identifier present, ciaddr 0.
fn selecting(m: &Message) -> bool {
    is_type(m, MessageType::Request)
        && m.ciaddr.is_unspecified()
        && m.options()
            .is_some_and(|o| o.contains(code::SERVER_IDENTIFIER))
}

/// The OFFERs a SELECTING REQUEST could answer: same chaddr and server identifier.
fn offers_for<'a>(t: &'a Trace, f: &Frame, m: &Message) -> Vec<&'a Message> {
    let sid = m.options().and_then(|o| o.server_identifier());
    t.bootp()
        .filter(|(g, n)| {
            is_type(n, MessageType::Offer)
                && n.chaddr == m.chaddr
                && n.options().and_then(|o| o.server_identifier()) == sid
                && g.time <= f.time
        })
        .map(|(_, n)| n)
        .collect()
}

/// CLI-XID-01 (RFC 2131 §4.1, §4.4.1): the SELECTING REQUEST reuses the OFFER's xid, and two
/// clients never share an xid.
fn xid_01(t: &Trace) -> Outcome {
    let mut any = false;
    let mut owners: Vec<(u32, [u8; 16])> = Vec::new();
    for (f, m) in client_msgs(t) {
        any = true;
        match owners.iter().find(|(x, _)| *x == m.xid) {
            Some((_, c)) if *c != m.chaddr => {
                return fail(
                    &f.segment,
                    f.number,
                    format!("xid {:#x} already used by another client", m.xid),
                )
            }
            Some(_) => {}
            None => owners.push((m.xid, m.chaddr)),
        }
        if selecting(m) {
            let offers = offers_for(t, f, m);
            if !offers.is_empty() && !offers.iter().any(|o| o.xid == m.xid) {
                return fail(
                    &f.segment,
                    f.number,
                    "SELECTING REQUEST with an xid no OFFER of that server carried",
                );
            }
        }
    }
    verdict(any)
}

/// CLI-SECS-03 (RFC 1542 §3.2, RFC 951 §3): secs is in network byte order: never more than the
/// time since the client's first message (plus 2 s).
fn secs_03(t: &Trace) -> Outcome {
    let mut any = false;
    let mut first: Vec<([u8; 16], Duration)> = Vec::new();
    for (f, m) in client_msgs(t) {
        let t0 = match first.iter().find(|(c, _)| *c == m.chaddr) {
            Some((_, t0)) => *t0,
            None => {
                first.push((m.chaddr, f.time));
                f.time
            }
        };
        any = true;
        let elapsed = protocol_secs(t, f, t0, f.time);
        if f64::from(m.secs) > elapsed + 2.0 + TOLERANCE {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "secs {} after {elapsed:.1} s (byte-swapped would read {})",
                    m.secs,
                    m.secs.swap_bytes()
                ),
            );
        }
    }
    verdict(any)
}

/// Runs of retransmissions: consecutive copies of one message type in one transaction.
fn retransmission_runs(t: &Trace, pred: impl Fn(&Message) -> bool) -> Vec<Vec<(&Frame, &Message)>> {
    let mut runs: Vec<Vec<(&Frame, &Message)>> = Vec::new();
    let mut open: Vec<usize> = Vec::new(); // index of the open run per client, by position
    let mut keys: Vec<[u8; 16]> = Vec::new();
    for (f, m) in client_msgs(t).filter(|(_, m)| pred(m)) {
        let pos = keys.iter().position(|c| *c == m.chaddr);
        let cont = pos.and_then(|p| {
            let r = &runs[open[p]];
            let last = r.last().map(|x| x.1);
            last.filter(|l| l.xid == m.xid && l.message_type() == m.message_type())
                .map(|_| open[p])
        });
        // Another message of the client in between ends a run.
        let interrupted = pos.is_some_and(|p| {
            let last = runs[open[p]].last().map(|x| x.0.time).unwrap_or_default();
            client_msgs(t)
                .any(|(g, n)| n.chaddr == m.chaddr && g.time > last && g.time < f.time && !pred(n))
        });
        match (cont, interrupted, pos) {
            (Some(i), false, _) => runs[i].push((f, m)),
            (_, _, Some(p)) => {
                runs.push(vec![(f, m)]);
                open[p] = runs.len() - 1;
            }
            (_, _, None) => {
                runs.push(vec![(f, m)]);
                keys.push(m.chaddr);
                open.push(runs.len() - 1);
            }
        }
    }
    runs
}

/// CLI-RTX-01 (RFC 2131 §4.1): DHCP retransmission gaps are 4, 8, 16, 32, then 64 s, each
/// within ±1 s (plus the checklist's tolerance).
fn rtx_01(t: &Trace) -> Outcome {
    rtx_gaps(
        t,
        |m| {
            matches!(m.message_type(), Some(MessageType::Discover))
                || (is_type(m, MessageType::Request) && m.ciaddr.is_unspecified())
        },
        64.0,
        "DHCP",
    )
}

/// Checks the gaps of every retransmission run against 4, 8, 16, ... capped at `cap`.
pub(super) fn rtx_gaps(
    t: &Trace,
    pred: impl Fn(&Message) -> bool,
    cap: f64,
    what: &str,
) -> Outcome {
    let mut any = false;
    for run in retransmission_runs(t, pred) {
        for (i, w) in run.windows(2).enumerate() {
            any = true;
            let gap = protocol_secs(t, w[0].0, w[0].0.time, w[1].0.time);
            let want = (4.0 * 2f64.powi(i as i32)).min(cap);
            if (gap - want).abs() > 1.0 + TOLERANCE {
                return fail(
                    &w[1].0.segment,
                    w[1].0.number,
                    format!(
                        "{what} retransmission {} after {gap:.1} s, expected {want} ± 1 s",
                        i + 1
                    ),
                );
            }
        }
    }
    verdict(any)
}

/// CLI-RTX-02 (RFC 2131 §3.1 (5), §4.4.1): unanswered SELECTING REQUESTs are given up after about
/// 4 retransmissions / 60 s (the client goes back to INIT).
fn rtx_02(t: &Trace) -> Outcome {
    let mut any = false;
    for run in retransmission_runs(t, selecting) {
        let (Some((f, _)), Some((l, _))) = (run.first(), run.last()) else {
            continue;
        };
        if run.len() < 2 {
            continue;
        }
        any = true;
        let answered = to_client(t).any(|(g, n)| {
            n.xid == run[0].1.xid
                && n.chaddr == run[0].1.chaddr
                && g.time > f.time
                && g.time < l.time
        });
        let span = protocol_secs(t, f, f.time, l.time);
        if !answered && span > 64.0 + 2.0 + TOLERANCE {
            return fail(
                &l.segment,
                l.number,
                format!(
                    "SELECTING REQUEST still repeated {span:.1} s after the first, past about 60 s"
                ),
            );
        }
    }
    verdict(any)
}

/// CLI-SEL-01 (RFC 2131 §3.1 (3), §4.3.2): the SELECTING REQUEST is broadcast, names the chosen
/// server, asks for the offered address and leaves ciaddr 0.
fn sel_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in client_msgs(t).filter(|(_, m)| selecting(m)) {
        any = true;
        let req = m.options().and_then(|o| o.requested_ip_address());
        let offered: Vec<Ipv4Addr> = offers_for(t, f, m)
            .iter()
            .filter(|o| o.xid == m.xid)
            .map(|o| o.yiaddr)
            .collect();
        if !is_broadcast(f) {
            return fail(&f.segment, f.number, "SELECTING REQUEST not broadcast");
        }
        match req {
            None => {
                return fail(
                    &f.segment,
                    f.number,
                    "SELECTING REQUEST without requested IP (50)",
                )
            }
            Some(a) if !offered.is_empty() && !offered.contains(&a) => {
                return fail(
                    &f.segment,
                    f.number,
                    format!("SELECTING REQUEST asks for {a}, the OFFER gave {offered:?}"),
                )
            }
            _ => {}
        }
    }
    verdict(any)
}

/// CLI-PRL-01 (RFC 2131 §4.3.2, §4.4.1): a DISCOVER's parameter request list is repeated in the
/// REQUESTs of the same exchange.
fn prl_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in client_msgs(t).filter(|(_, m)| is_type(m, MessageType::Request)) {
        let Some((_, d)) = client_msgs(t)
            .filter(|(g, n)| {
                is_type(n, MessageType::Discover)
                    && n.xid == m.xid
                    && n.chaddr == m.chaddr
                    && g.time <= f.time
            })
            .last()
        else {
            continue;
        };
        let Some(list) = d.options().and_then(|o| o.parameter_request_list()) else {
            continue;
        };
        any = true;
        if m.options().and_then(|o| o.parameter_request_list()) != Some(list) {
            return fail(
                &f.segment,
                f.number,
                "REQUEST does not repeat the DISCOVER's parameter request list",
            );
        }
    }
    verdict(any)
}

/// CLI-CID-01 (RFC 2131 §2, §4.2): once used, the client identifier is sent unchanged in every
/// later message.
fn cid_01(t: &Trace) -> Outcome {
    let mut any = false;
    let mut ids: Vec<([u8; 16], Vec<u8>)> = Vec::new();
    for (f, m) in client_msgs(t).filter(|(_, m)| m.message_type().is_some()) {
        let cid = m.options().and_then(|o| o.client_identifier());
        match (ids.iter().find(|(c, _)| *c == m.chaddr), cid) {
            (Some((_, want)), got) => {
                any = true;
                if got.as_ref() != Some(want) {
                    return fail(
                        &f.segment,
                        f.number,
                        format!("client identifier {got:02x?}, earlier {want:02x?}"),
                    );
                }
            }
            (None, Some(c)) => {
                any = true;
                ids.push((m.chaddr, c));
            }
            (None, None) => {}
        }
    }
    verdict(any)
}

/// CLI-MAX-01 (RFC 2131 §3.5, RFC 2132 §9.10): DISCOVER and REQUEST advertise option 57
/// (>= 576); DECLINE leaves it out.
fn max_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in client_msgs(t) {
        let v = m.options().and_then(|o| o.maximum_message_size());
        if is_type(m, MessageType::Decline) {
            any = true;
            if v.is_some() {
                return fail(&f.segment, f.number, "DHCPDECLINE carries option 57");
            }
        } else if is_type(m, MessageType::Discover) || is_type(m, MessageType::Request) {
            any = true;
            if v.is_none_or(|v| v < 576) {
                return fail(
                    &f.segment,
                    f.number,
                    format!("option 57 {v:?}: absent or below 576"),
                );
            }
        }
    }
    verdict(any)
}

/// CLI-REBOOT-01 (RFC 2131 §3.2, §4.3.2): an INIT-REBOOT REQUEST (no server identifier, ciaddr
/// 0) is broadcast and names the remembered address in option 50.
fn reboot_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in client_msgs(t).filter(|(_, m)| {
        is_type(m, MessageType::Request)
            && m.ciaddr.is_unspecified()
            && !m
                .options()
                .is_some_and(|o| o.contains(code::SERVER_IDENTIFIER))
    }) {
        any = true;
        if !is_broadcast(f) {
            return fail(&f.segment, f.number, "INIT-REBOOT REQUEST not broadcast");
        }
        if m.options().and_then(|o| o.requested_ip_address()).is_none() {
            return fail(
                &f.segment,
                f.number,
                "INIT-REBOOT REQUEST without requested IP (50)",
            );
        }
    }
    verdict(any)
}

/// Replies that reached a client: BOOTREPLY to port 68.
fn to_client(t: &Trace) -> impl Iterator<Item = (&Frame, &Message)> {
    t.bootp().filter(|(f, m)| {
        m.op == Op::BootReply && f.decoded.udp.as_ref().is_some_and(|u| u.dst_port == 68)
    })
}

/// CLI-NAK-01 (RFC 2131 §3.1 (5), §3.2 (3)): after a DHCPNAK the client restarts with a DISCOVER
/// and stops using the address.
fn nak_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in to_client(t).filter(|(_, m)| is_type(m, MessageType::Nak)) {
        let Some((_, req)) = client_msgs(t)
            .filter(|(g, n)| n.xid == m.xid && n.chaddr == m.chaddr && g.time <= f.time)
            .last()
        else {
            continue;
        };
        any = true;
        let addr = if req.ciaddr.is_unspecified() {
            req.options().and_then(|o| o.requested_ip_address())
        } else {
            Some(req.ciaddr)
        };
        let next =
            client_msgs(t).find(|(g, n)| n.chaddr == m.chaddr && g.time > f.time && n.xid != m.xid);
        if let Some((g, n)) = next {
            if !is_type(n, MessageType::Discover) {
                return fail(
                    &g.segment,
                    g.number,
                    "after a DHCPNAK the client's next message is not a DISCOVER",
                );
            }
        }
        let mac = m.chaddr_mac();
        if let Some(a) = addr {
            if let Some(g) = t.frames.iter().find(|g| {
                g.time > f.time
                    && ip_src(g) == Some(a)
                    && g.decoded.eth.as_ref().is_some_and(|e| e.src_addr.0 == mac)
            }) {
                return fail(
                    &g.segment,
                    g.number,
                    format!("client still uses {a} after a DHCPNAK"),
                );
            }
        }
    }
    verdict(any)
}

/// The ACK that bound `addr` to `chaddr` last before `at`, with its time.
fn binding_ack(
    t: &Trace,
    chaddr: [u8; 16],
    addr: Ipv4Addr,
    at: Duration,
) -> Option<(&Frame, &Message)> {
    to_client(t)
        .filter(|(g, n)| {
            is_type(n, MessageType::Ack) && n.chaddr == chaddr && n.yiaddr == addr && g.time < at
        })
        .last()
}

/// RENEWING (unicast) or REBINDING (broadcast) REQUESTs: ciaddr set.
fn extending(t: &Trace, bcast: bool) -> impl Iterator<Item = (&Frame, &Message)> {
    client_msgs(t).filter(move |(f, m)| {
        is_type(m, MessageType::Request)
            && !m.ciaddr.is_unspecified()
            && (ip_dst(f) == Some(Ipv4Addr::BROADCAST)) == bcast
    })
}

/// Checks a RENEWING/REBINDING REQUEST's fields and start time against the bound lease.
fn extend_check(t: &Trace, bcast: bool, what: &str, ratio: f64, timer: u8) -> Outcome {
    let mut any = false;
    let mut seen_periods: Vec<Duration> = Vec::new();
    for (f, m) in extending(t, bcast) {
        any = true;
        let o = m.options();
        if ip_src(f) != Some(m.ciaddr) {
            return fail(
                &f.segment,
                f.number,
                format!("{what} REQUEST from {:?}, ciaddr {}", ip_src(f), m.ciaddr),
            );
        }
        if o.is_some_and(|o| {
            o.contains(code::SERVER_IDENTIFIER) || o.contains(code::REQUESTED_IP_ADDRESS)
        }) {
            return fail(
                &f.segment,
                f.number,
                format!("{what} REQUEST carries option 54 or 50"),
            );
        }
        let Some((g, ack)) = binding_ack(t, m.chaddr, m.ciaddr, f.time) else {
            continue;
        };
        let sid = ack.options().and_then(|o| o.server_identifier());
        if !bcast && sid.is_some() && ip_dst(f) != sid {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "RENEWING REQUEST to {:?}, the server identifier is {sid:?}",
                    ip_dst(f)
                ),
            );
        }
        if seen_periods.contains(&g.time) {
            continue; // only the first of the period is timed
        }
        seen_periods.push(g.time);
        let Some(lease) = ack
            .options()
            .and_then(|o| o.lease_time())
            .filter(|l| *l != u32::MAX)
        else {
            continue;
        };
        let due = ack
            .options()
            .and_then(|o| o.u32(timer))
            .map(f64::from)
            .unwrap_or(f64::from(lease) * ratio);
        let at = protocol_secs(t, f, g.time, f.time);
        // RFC 2131 §4.4.5 lets the client fuzz its timers: allow 10 % early.
        if at + TOLERANCE < due * 0.9 || at > f64::from(lease) + TOLERANCE {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "{what} starts {at:.1} s after the ACK, timer is {due:.0} s, lease {lease} s"
                ),
            );
        }
    }
    verdict(any)
}

/// CLI-RENEW-01 (RFC 2131 §4.3.2, §4.4.5): at T1 the client unicasts a REQUEST to the server
/// from its address, ciaddr set, without options 54 and 50.
fn renew_01(t: &Trace) -> Outcome {
    extend_check(t, false, "RENEWING", 0.5, code::RENEWAL_TIME_VALUE)
}

/// CLI-REBIND-01 (RFC 2131 §4.3.2, §4.4.5): at T2 the client broadcasts a REQUEST with ciaddr
/// set, without options 54 and 50.
fn rebind_01(t: &Trace) -> Outcome {
    extend_check(t, true, "REBINDING", 0.875, code::REBINDING_TIME_VALUE)
}

/// CLI-TIMER-02 (RFC 2131 §4.4.5): unanswered RENEWING/REBINDING REQUESTs are repeated no
/// sooner than 60 s.
fn timer_02(t: &Trace) -> Outcome {
    let mut any = false;
    for bcast in [false, true] {
        let reqs: Vec<_> = extending(t, bcast).collect();
        for w in reqs.windows(2) {
            let ((a, ma), (b, mb)) = (w[0], w[1]);
            if ma.chaddr != mb.chaddr {
                continue;
            }
            let answered = to_client(t)
                .any(|(g, n)| n.chaddr == ma.chaddr && g.time > a.time && g.time < b.time);
            if answered {
                continue;
            }
            any = true;
            let gap = protocol_secs(t, a, a.time, b.time);
            if gap + TOLERANCE < 60.0 {
                return fail(
                    &b.segment,
                    b.number,
                    format!("REQUEST repeated after {gap:.1} s, less than 60 s"),
                );
            }
        }
    }
    verdict(any)
}

/// ARP packets sent by `mac` about `addr` of a kind.
fn arps_by<'a>(
    t: &'a Trace,
    mac: [u8; 6],
    addr: Ipv4Addr,
    kind: arp::Kind,
) -> impl Iterator<Item = &'a Frame> + 'a {
    t.arp()
        .filter(move |(_, a)| {
            a.source_hardware_addr.0 == mac && a.target_protocol_addr == addr && a.kind() == kind
        })
        .map(|(f, _)| f)
}

/// CLI-ACD-02 (RFC 5227 §2.1.1): 3 probes 1-2 s apart, then at least 2 s before the address is
/// announced.
fn acd_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, a) in t.arp().filter(|(_, a)| a.kind() == arp::Kind::Announcement) {
        let mac = a.source_hardware_addr.0;
        let addr = a.source_protocol_addr;
        // Only the first announcement after a run of probes.
        let probes: Vec<&Frame> = arps_by(t, mac, addr, arp::Kind::Probe)
            .filter(|g| g.time < f.time)
            .collect();
        let last_ann = arps_by(t, mac, addr, arp::Kind::Announcement)
            .filter(|g| g.time < f.time)
            .last()
            .map(|g| g.time);
        let probes: Vec<&Frame> = probes
            .into_iter()
            .filter(|g| last_ann.is_none_or(|l| g.time > l))
            .collect();
        if probes.is_empty() {
            continue;
        }
        any = true;
        if probes.len() != 3 {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "{} probe(s) before announcing {addr}, expected 3",
                    probes.len()
                ),
            );
        }
        for w in probes.windows(2) {
            let gap = protocol_secs(t, w[0], w[0].time, w[1].time);
            if gap + TOLERANCE < 1.0 || gap > 2.0 + TOLERANCE {
                return fail(
                    &w[1].segment,
                    w[1].number,
                    format!("probes {gap:.2} s apart, expected 1-2 s"),
                );
            }
        }
        let wait = protocol_secs(t, probes[2], probes[2].time, f.time);
        if wait + TOLERANCE < 2.0 {
            return fail(
                &f.segment,
                f.number,
                format!("announced {wait:.2} s after the last probe, less than ANNOUNCE_WAIT 2 s"),
            );
        }
    }
    verdict(any)
}

/// CLI-ACD-03 (RFC 5227 §2.1.1): an ARP packet from another host claiming the probed address (or
/// probing for it) during probing is a conflict: the address is not announced or used.
fn acd_03(t: &Trace) -> Outcome {
    let mut any = false;
    for (p, pa) in t.arp().filter(|(_, a)| a.kind() == arp::Kind::Probe) {
        let mac = pa.source_hardware_addr.0;
        let addr = pa.target_protocol_addr;
        let conflict = t.arp().find(|(g, a)| {
            g.segment == p.segment
                && g.time >= p.time
                && a.source_hardware_addr.0 != mac
                && (a.source_protocol_addr == addr
                    || (a.kind() == arp::Kind::Probe && a.target_protocol_addr == addr))
        });
        let Some((c, _)) = conflict else { continue };
        // Only conflicts before this client announced the address count.
        let announced_before = arps_by(t, mac, addr, arp::Kind::Announcement)
            .any(|g| g.time < c.time && g.time > p.time);
        if announced_before {
            continue;
        }
        any = true;
        // Until the address is assigned to this client again.
        let until = to_client(t)
            .filter(|(g, n)| {
                g.time > c.time
                    && n.chaddr_mac() == mac
                    && n.yiaddr == addr
                    && is_type(n, MessageType::Ack)
            })
            .map(|(g, _)| g.time)
            .next()
            .unwrap_or(Duration::MAX);
        let used = t.frames.iter().find(|g| {
            g.time > c.time
                && g.time < until
                && g.decoded.eth.as_ref().is_some_and(|e| e.src_addr.0 == mac)
                && (ip_src(g) == Some(addr)
                    || g.decoded.arp.as_ref().is_some_and(|a| {
                        a.kind() == arp::Kind::Announcement && a.source_protocol_addr == addr
                    }))
        });
        if let Some(g) = used {
            return fail(
                &g.segment,
                g.number,
                format!("{addr} used after a conflict (frame {})", c.number),
            );
        }
    }
    verdict(any)
}

/// CLI-ACD-04 (RFC 5227 §2.3): two announcements 2 s apart (judged when the client was still
/// sending afterwards).
fn acd_04(t: &Trace) -> Outcome {
    let mut any = false;
    let mut done: Vec<([u8; 6], Ipv4Addr)> = Vec::new();
    for (f, a) in t.arp().filter(|(_, a)| a.kind() == arp::Kind::Announcement) {
        let key = (a.source_hardware_addr.0, a.source_protocol_addr);
        if done.contains(&key) {
            continue;
        }
        done.push(key);
        let anns: Vec<&Frame> = arps_by(t, key.0, key.1, arp::Kind::Announcement)
            .filter(|g| g.time >= f.time)
            .collect();
        if let Some(second) = anns.get(1) {
            any = true;
            let gap = protocol_secs(t, f, f.time, second.time);
            if (gap - 2.0).abs() > TOLERANCE {
                return fail(
                    &second.segment,
                    second.number,
                    format!("announcements {gap:.2} s apart, expected 2 s"),
                );
            }
            continue;
        }
        let alive = t.frames.iter().find(|g| {
            g.decoded
                .eth
                .as_ref()
                .is_some_and(|e| e.src_addr.0 == key.0)
                && protocol_secs(t, f, f.time, g.time) > 2.0 + TOLERANCE
        });
        if let Some(g) = alive {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "one announcement of {} only, the client was still sending",
                    key.1
                ),
            );
        }
    }
    verdict(any)
}

/// CLI-ACD-05 (RFC 5227 §2.1.1): after 10 conflicts (DECLINEs) a client starts at most one new
/// attempt per 60 s.
fn acd_05(t: &Trace) -> Outcome {
    let mut any = false;
    let mut declines: Vec<([u8; 16], usize)> = Vec::new();
    let mut last_start: Vec<([u8; 16], Duration)> = Vec::new();
    let mut prev_xid: Vec<([u8; 16], u32)> = Vec::new();
    for (f, m) in client_msgs(t) {
        if is_type(m, MessageType::Decline) {
            match declines.iter_mut().find(|(c, _)| *c == m.chaddr) {
                Some((_, n)) => *n += 1,
                None => declines.push((m.chaddr, 1)),
            }
            continue;
        }
        let new_attempt = is_type(m, MessageType::Discover)
            && prev_xid
                .iter()
                .find(|(c, _)| *c == m.chaddr)
                .is_none_or(|(_, x)| *x != m.xid);
        match prev_xid.iter_mut().find(|(c, _)| *c == m.chaddr) {
            Some((_, x)) => *x = m.xid,
            None => prev_xid.push((m.chaddr, m.xid)),
        }
        if !new_attempt {
            continue;
        }
        let n = declines
            .iter()
            .find(|(c, _)| *c == m.chaddr)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        if n >= 10 {
            if let Some((_, t0)) = last_start.iter().find(|(c, _)| *c == m.chaddr) {
                any = true;
                let gap = protocol_secs(t, f, *t0, f.time);
                if gap + TOLERANCE < 60.0 {
                    return fail(
                        &f.segment,
                        f.number,
                        format!(
                            "new attempt {gap:.1} s after the previous one, after {n} conflicts"
                        ),
                    );
                }
            }
        }
        match last_start.iter_mut().find(|(c, _)| *c == m.chaddr) {
            Some((_, t0)) => *t0 = f.time,
            None => last_start.push((m.chaddr, f.time)),
        }
    }
    verdict(any)
}

/// CLI-ARP-01 (RFC 951 §5, RFC 1542 §3.3): a client that was given an address answers ARP
/// requests for it.
///
/// Not judged: a request that came before the client had begun to use the address (still
/// checking it, or not yet configured: [`not_yet_in_use`]), or one for the lab's own probe, which speaks through a raw socket with
/// no address in its kernel (judging it would judge the lab).
fn arp_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, a) in t.arp().filter(|(_, a)| a.kind() == arp::Kind::Request) {
        let addr = a.target_protocol_addr;
        let given = to_client(t)
            .filter(|(g, n)| {
                g.time < f.time
                    && n.yiaddr == addr
                    && (is_type(n, MessageType::Ack) || n.message_type().is_none())
            })
            .last();
        let Some((given_at, r)) = given else { continue };
        let mac = r.chaddr_mac();
        // A client that started over (a DISCOVER after its ACK: the ROM's successor, a reboot)
        // holds no address until its next ACK, so it has nothing to answer for (RFC 2131 §4.4,
        // INIT state).
        let restarted = client_msgs(t).any(|(g, n)| {
            g.time > given_at.time
                && g.time < f.time
                && n.chaddr == r.chaddr
                && is_type(n, MessageType::Discover)
        });
        if restarted {
            continue;
        }
        if mac == a.source_hardware_addr.0 {
            continue;
        }
        let gave_up = client_msgs(t).any(|(g, n)| {
            g.time < f.time
                && n.chaddr == r.chaddr
                && (is_type(n, MessageType::Release) || is_type(n, MessageType::Decline))
        });
        // The client must still be there to be judged: a machine that never sends another frame
        // after the request may have powered off (nfs-root-boot's guest ends with poweroff) or
        // handed over; the trace cannot tell that from silence, so it says nothing.
        let heard_after = t.frames.iter().any(|g| {
            g.time > f.time && g.decoded.eth.as_ref().is_some_and(|e| e.src_addr.0 == mac)
        });
        if gave_up
            || handed_over(t, mac, f.time)
            || !heard_after
            || not_yet_in_use(t, mac, addr, given_at.time, f.time)
            || t.is_lab_probe(mac)
        {
            continue;
        }
        any = true;
        let answered = t.arp().any(|(g, b)| {
            g.time > f.time
                && b.kind() == arp::Kind::Reply
                && b.source_hardware_addr.0 == mac
                && b.source_protocol_addr == addr
        });
        if !answered {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "{} never answered this ARP request for its address {addr}",
                    t.names.mac(mac)
                ),
            );
        }
    }
    verdict(any)
}

/// Whether the client with `mac`, given `addr` at `given`, had not yet begun to use the address
/// at `at`: it sent no frame from it (IPv4 source `addr`, or an ARP packet with sender `addr`:
/// an announcement, its own request, a reply) between `given` and `at`. Until then the trace
/// cannot tell that the address was on the client's interface: a DHCP client checking it with
/// ARP probes does not use it yet (RFC 5227 §2.1, RFC 2131 §4.4.1), and a client configures it
/// some milliseconds after the ACK (the guest's udhcpc in nfs-root-boot, when a server's kernel
/// happens to ARP in between and then learns the address from the guest's own first ARP). A
/// client that uses the address and stays silent to a request after that, as the ARP-less ROM
/// of KB Q164394 does (its TFTP RRQ leaves from the address before the server's who-has), is
/// judged.
fn not_yet_in_use(t: &Trace, mac: [u8; 6], addr: Ipv4Addr, given: Duration, at: Duration) -> bool {
    !t.frames.iter().any(|g| {
        g.time > given
            && g.time < at
            && g.decoded.eth.as_ref().is_some_and(|e| e.src_addr.0 == mac)
            && (g.decoded.ipv4.as_ref().is_some_and(|ip| ip.src == addr)
                || g.decoded
                    .arp
                    .as_ref()
                    .is_some_and(|a| a.source_protocol_addr == addr))
    })
}

/// Whether the boot ROM with `mac` had handed the machine over to what it downloaded by `at`: a
/// host running a rom-client role whose last download ended before `at` (its ACK of the short
/// final DATA) and which sent nothing since. Until the loaded system speaks for itself (its own
/// DHCP, its own ARP), nobody is there to answer: RFC 951 §5 asks this of the ROM, not of the
/// moments between the ROM and the kernel it starts (nfs-root-boot).
fn handed_over(t: &Trace, mac: [u8; 6], at: Duration) -> bool {
    let host = t.names.mac(mac);
    if !t.hosts_of_kind(RoleKind::RomClient).contains(&host) {
        return false;
    }
    let Some(end) = super::tftp::completed_downloads(t)
        .into_iter()
        .filter(|(m, time)| *m == mac && *time < at)
        .map(|(_, time)| time)
        .max()
    else {
        return false;
    };
    !t.frames.iter().any(|g| {
        g.time > end && g.time < at && g.decoded.eth.as_ref().is_some_and(|e| e.src_addr.0 == mac)
    })
}

/// CLI-BFLAG-01 (RFC 2131 §4.1, RFC 1542 §3.1.1): a client with B = 0 accepts the unicast OFFER:
/// it does not go on retransmitting its DISCOVER without a REQUEST.
fn bflag_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in to_client(t).filter(|(f, m)| {
        is_type(m, MessageType::Offer) && !m.broadcast() && ip_dst(f) == Some(m.yiaddr)
    }) {
        any = true;
        let requested = client_msgs(t)
            .any(|(g, n)| g.time > f.time && n.xid == m.xid && is_type(n, MessageType::Request));
        let again = client_msgs(t)
            .find(|(g, n)| g.time > f.time && n.xid == m.xid && is_type(n, MessageType::Discover));
        if let (false, Some((g, _))) = (requested, again) {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "DISCOVER retransmitted after the unicast OFFER (frame {}) arrived",
                    f.number
                ),
            );
        }
    }
    verdict(any)
}

/// CLI-RELEASE-01 (RFC 2131 §4.4.4, §4.4.6): DHCPRELEASE is unicast to the server, ciaddr set,
/// server identifier present, no requested IP, secs 0.
fn release_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in client_msgs(t).filter(|(_, m)| is_type(m, MessageType::Release)) {
        any = true;
        let o = m.options();
        let sid = o.and_then(|o| o.server_identifier());
        let bad = [
            (ip_dst(f) == Some(Ipv4Addr::BROADCAST), "broadcast"),
            (
                sid.is_some() && ip_dst(f) != sid,
                "not sent to the server identifier",
            ),
            (m.ciaddr.is_unspecified(), "ciaddr 0"),
            (sid.is_none(), "no server identifier"),
            (
                o.is_some_and(|o| o.contains(code::REQUESTED_IP_ADDRESS)),
                "carries requested IP (50)",
            ),
            (m.secs != 0, "secs not 0"),
        ];
        if let Some((_, why)) = bad.iter().find(|(b, _)| *b) {
            return fail(&f.segment, f.number, format!("DHCPRELEASE {why}"));
        }
    }
    verdict(any)
}

/// CLI-XID-02 (RFC 2131 §4.4.1, RFC 951 §7.5): a reply with an xid or chaddr the client never
/// used is ignored: no REQUEST with that xid selects its address (option 50 = its yiaddr).
fn xid_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in to_client(t).filter(|(_, m)| is_type(m, MessageType::Offer)) {
        let asked =
            client_msgs(t).any(|(g, n)| n.xid == m.xid && n.chaddr == m.chaddr && g.time <= f.time);
        if asked {
            continue;
        }
        any = true;
        if let Some((g, _)) = client_msgs(t).find(|(g, n)| {
            g.time > f.time
                && n.xid == m.xid
                && is_type(n, MessageType::Request)
                && n.options().and_then(|o| o.requested_ip_address()) == Some(m.yiaddr)
        }) {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "REQUEST for an OFFER (frame {}) whose xid or chaddr the client never used",
                    f.number
                ),
            );
        }
    }
    verdict(any)
}

/// CLI-CID-02 (RFC 6842 §3): a client that sent option 61 ignores a reply carrying another
/// option 61.
fn cid_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in to_client(t).filter(|(_, m)| is_type(m, MessageType::Offer)) {
        let Some(theirs) = m.options().and_then(|o| o.client_identifier()) else {
            continue;
        };
        let Some((_, q)) = client_msgs(t)
            .filter(|(g, n)| n.xid == m.xid && n.chaddr == m.chaddr && g.time <= f.time)
            .last()
        else {
            continue;
        };
        let Some(mine) = q.options().and_then(|o| o.client_identifier()) else {
            continue;
        };
        any = true;
        if mine == theirs {
            continue;
        }
        let sid = m.options().and_then(|o| o.server_identifier());
        let took = client_msgs(t).find(|(g, n)| {
            g.time > f.time
                && selecting(n)
                && n.xid == m.xid
                && n.options().and_then(|o| o.server_identifier()) == sid
                && n.options().and_then(|o| o.requested_ip_address()) == Some(m.yiaddr)
        });
        if let Some((g, _)) = took {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "REQUEST for an OFFER (frame {}) with another client identifier",
                    f.number
                ),
            );
        }
    }
    verdict(any)
}

/// CLI-TIMER-01 (RFC 2131 §4.4.5): after a binding the client starts renewing before it
/// rebinds, and rebinds before the lease runs out.
fn timer_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, ack) in
        to_client(t).filter(|(_, m)| is_type(m, MessageType::Ack) && !m.yiaddr.is_unspecified())
    {
        let Some(lease) = ack
            .options()
            .and_then(|o| o.lease_time())
            .filter(|l| *l != u32::MAX)
        else {
            continue;
        };
        let next_ack = to_client(t)
            .find(|(g, n)| {
                g.time > f.time && n.chaddr == ack.chaddr && is_type(n, MessageType::Ack)
            })
            .map(|(g, _)| g.time)
            .unwrap_or(Duration::MAX);
        let first = |bcast: bool| {
            extending(t, bcast).find(|(g, n)| {
                n.chaddr == ack.chaddr
                    && n.ciaddr == ack.yiaddr
                    && g.time > f.time
                    && g.time < next_ack
            })
        };
        let (renew, rebind) = (first(false), first(true));
        if let (Some((r, _)), Some((b, _))) = (renew, rebind) {
            any = true;
            if b.time < r.time {
                return fail(
                    &b.segment,
                    b.number,
                    "client rebinds before it tried to renew",
                );
            }
        }
        if let Some((b, _)) = rebind {
            any = true;
            let at = protocol_secs(t, b, f.time, b.time);
            if at > f64::from(lease) + TOLERANCE {
                return fail(&b.segment, b.number, format!("rebinding starts {at:.1} s after the ACK, after the {lease} s lease ran out"));
            }
        }
    }
    verdict(any)
}

/// CLI-EXPIRE-01 (RFC 2131 §3.7, §4.4.5): once a lease runs out without an ACK, the client no
/// longer sends from the address.
fn expire_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, ack) in
        to_client(t).filter(|(_, m)| is_type(m, MessageType::Ack) && !m.yiaddr.is_unspecified())
    {
        let Some(lease) = ack
            .options()
            .and_then(|o| o.lease_time())
            .filter(|l| *l != u32::MAX)
        else {
            continue;
        };
        let mac = ack.chaddr_mac();
        let renewed = to_client(t).any(|(g, n)| {
            g.time > f.time && n.chaddr == ack.chaddr && is_type(n, MessageType::Ack)
        });
        if renewed {
            continue;
        }
        let client_clock = t.clock_of_mac(ack.chaddr_mac(), |k| k.is_client());
        let late = |g: &Frame| {
            g.segment == f.segment
                && secs_in(client_clock, f.time, g.time) > f64::from(lease) + TOLERANCE
        };
        if !t.frames.iter().any(late) {
            continue; // the capture ended before the lease did
        }
        any = true;
        let used = t.frames.iter().find(|g| {
            late(g)
                && ip_src(g) == Some(ack.yiaddr)
                && g.decoded.eth.as_ref().is_some_and(|e| e.src_addr.0 == mac)
        });
        if let Some(g) = used {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "client still sends from {} after its {lease} s lease expired",
                    ack.yiaddr
                ),
            );
        }
    }
    verdict(any)
}

/// CLI-BOOTP-01 (RFC 1534 §4): a DHCP client that took a BOOTP reply treats the address as an
/// infinite lease: it never renews or rebinds it.
fn bootp_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, r) in
        to_client(t).filter(|(_, m)| m.message_type().is_none() && !m.yiaddr.is_unspecified())
    {
        let dhcp_client = client_msgs(t).any(|(g, n)| {
            n.chaddr == r.chaddr
                && n.xid == r.xid
                && is_type(n, MessageType::Discover)
                && g.time <= f.time
        });
        if !dhcp_client {
            continue;
        }
        any = true;
        let dhcp_acked = to_client(t).any(|(_, n)| {
            n.chaddr == r.chaddr && n.yiaddr == r.yiaddr && is_type(n, MessageType::Ack)
        });
        if dhcp_acked {
            continue;
        }
        if let Some((g, _)) = extending(t, false)
            .chain(extending(t, true))
            .find(|(g, n)| g.time > f.time && n.chaddr == r.chaddr && n.ciaddr == r.yiaddr)
        {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "client renews {} it got from a BOOTP server (infinite lease)",
                    r.yiaddr
                ),
            );
        }
    }
    verdict(any)
}

/// CLI-GI-01 (RFC 1542 §3.4): a client never takes a reply's `giaddr` as its router: when it
/// reports the routers it bound with (our client's `bound` event), `giaddr` is among them only
/// if the reply's option 3 named it.
fn gi_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (name, _) in t.roles.iter().filter(|(_, r)| r.kind.is_client()) {
        for e in t.events_of(name, "bound") {
            let Some(address) = e
                .fields
                .get("address")
                .and_then(|v| v.as_str())
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let routers: Vec<Ipv4Addr> = e
                .fields
                .get("routers")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|r| r.as_str()?.parse().ok()).collect())
                .unwrap_or_default();
            for (f, m) in t.bootp() {
                if m.op != Op::BootReply
                    || m.yiaddr != address
                    || m.giaddr.is_unspecified()
                    || f.decoded.udp.as_ref().is_none_or(|u| u.dst_port != 68)
                    || !matches!(m.message_type(), None | Some(MessageType::Ack))
                {
                    continue;
                }
                any = true;
                let named = m
                    .options()
                    .and_then(|o| o.ips(code::ROUTER))
                    .unwrap_or_default()
                    .contains(&m.giaddr);
                if !named && routers.contains(&m.giaddr) {
                    return fail(
                        &f.segment,
                        f.number,
                        format!(
                            "client {name} took giaddr {} of this reply as its router",
                            m.giaddr
                        ),
                    );
                }
            }
        }
    }
    verdict(any)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::judge::trace::Clock;

    fn ok() -> Trace {
        dora(|_, _| {}).done()
    }

    fn edit(ty: MessageType, e: impl Fn(&mut Message)) -> Trace {
        dora(|t, m| {
            if t == ty {
                e(m)
            }
        })
        .done()
    }

    /// DISCOVER copies of one xid at these times (ms) with these secs.
    fn discovers(times: &[(u64, u16)]) -> Kit {
        let mut k = Kit::new();
        for (ms, secs) in times {
            let mut d = client_msg(MessageType::Discover, 0x42, CLIENT);
            d.secs = *secs;
            k.bootp("lan", *ms, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &d);
        }
        k
    }

    /// DORA, then a probe run and announcements at these times (ms after 1000).
    fn acd(probes: &[u64], anns: &[u64]) -> Trace {
        let mut k = dora(|_, _| {});
        for p in probes {
            k.arp("lan", 1000 + p, BCAST, arp::Repr::probe(CLIENT, YIADDR));
        }
        for a in anns {
            k.arp(
                "lan",
                1000 + a,
                BCAST,
                arp::Repr::announcement(CLIENT, YIADDR),
            );
        }
        k.done()
    }

    #[test]
    fn acd_01_wants_sender_ip_zero() {
        let mut bad = dora(|_, _| {});
        bad.arp(
            "lan",
            500,
            BCAST,
            arp::Repr::request(CLIENT, Ipv4Addr::new(192, 0, 2, 50), YIADDR),
        );
        pass_fail(acd_01, &acd(&[0], &[]), &bad.done());
    }

    /// A DISCOVER 1 s (captured) after the DECLINE: in a scenario with time-scale 10 that is
    /// 10 s for our scaled client, but still 1 s for a third-party client, which runs in real
    /// time and knows nothing of the scale. The rule judges the gap in the sender's own clock.
    #[test]
    fn timing_is_judged_in_the_senders_clock() {
        let mut k = dora(|_, _| {});
        let mut d = Message::new_dhcp(MessageType::Decline, 0x1234, CLIENT);
        d.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, YIADDR);
        d.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER_IP);
        k.bootp("lan", 500, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &d);
        let n = client_msg(MessageType::Discover, 0x99, CLIENT);
        k.bootp("lan", 1_500, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &n);
        let with_client_clock = |clock: Clock| {
            let mut t = k.done();
            for r in t.roles.values_mut() {
                if r.kind.is_client() {
                    r.clock = clock;
                }
            }
            t
        };
        let ours = with_client_clock(Clock::Scaled(10.0));
        let peer = with_client_clock(Clock::Real);
        assert_eq!(decl_03(&ours), Outcome::Pass);
        assert!(
            matches!(decl_03(&peer), Outcome::Fail(_)),
            "a real-time peer 1 s after its DECLINE violates the 10 s wait: {:?}",
            decl_03(&peer)
        );
        // The server's clock does not matter for the client's wait.
        let mut mixed = with_client_clock(Clock::Real);
        for r in mixed.roles.values_mut() {
            if r.kind.is_server() {
                r.clock = Clock::Scaled(10.0);
            }
        }
        assert!(matches!(decl_03(&mixed), Outcome::Fail(_)));
    }

    #[test]
    fn decl_checks() {
        let mk = |decline: bool, gap: u64, secs: u16| {
            let mut k = dora(|_, _| {});
            k.arp("lan", 400, BCAST, arp::Repr::probe(CLIENT, YIADDR));
            k.arp(
                "lan",
                410,
                CLIENT,
                arp::Repr::reply(SQUATTER, YIADDR, CLIENT, ZERO),
            );
            if decline {
                let mut d = Message::new_dhcp(MessageType::Decline, 0x1234, CLIENT);
                d.secs = secs;
                d.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, YIADDR);
                d.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER_IP);
                k.bootp("lan", 500, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &d);
            }
            let n = client_msg(MessageType::Discover, 0x99, CLIENT);
            k.bootp("lan", 500 + gap, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &n);
            k.done()
        };
        pass_fail(decl_01, &mk(true, 10_000, 0), &mk(false, 10_000, 0));
        pass_fail(decl_02, &mk(true, 10_000, 0), &mk(true, 10_000, 3));
        pass_fail(decl_03, &mk(true, 10_000, 0), &mk(true, 2_000, 0));
        pass_fail(max_01, &mk(true, 10_000, 0), &{
            let mut t = mk(true, 10_000, 0);
            t.frames.retain(|f| {
                !f.decoded
                    .bootp()
                    .is_some_and(|m| m.message_type() == Some(MessageType::Decline))
            });
            let mut k = Kit::new();
            k.trace = t;
            let mut d = Message::new_dhcp(MessageType::Decline, 0x1234, CLIENT);
            d.options_mut()
                .set_u16(code::MAXIMUM_DHCP_MESSAGE_SIZE, 1500);
            k.bootp("lan", 600, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &d);
            k.done()
        });
    }

    #[test]
    fn secs_01_02_03_04() {
        let good = discovers(&[(0, 0), (4000, 4), (12_000, 12)]).done();
        pass_fail(secs_01, &good, &discovers(&[(0, 5)]).done());
        pass_fail(
            secs_02,
            &good,
            &discovers(&[(0, 0), (4000, 0), (12_000, 0)]).done(),
        );
        pass_fail(
            secs_03,
            &good,
            &discovers(&[(0, 0), (4000, 4u16.swap_bytes())]).done(),
        );
        pass_fail(secs_04, &ok(), &edit(MessageType::Request, |m| m.secs = 3));
    }

    /// The DORA trace with its first frame at 1000 s since the epoch and the client started
    /// `before` ms earlier (ready `ready_after` ms after that), on `clock`.
    fn started(before: u64, ready_after: Option<u64>, clock: Clock) -> Trace {
        let mut t = ok();
        t.epoch = Duration::from_secs(1000);
        let start = t.epoch - Duration::from_millis(before);
        if let Some(c) = t.roles.get_mut("client") {
            c.started = Some(start);
            c.ready = ready_after.map(|r| start + Duration::from_millis(r));
            c.clock = clock;
        }
        t
    }

    #[test]
    fn delay_01_wants_one_to_ten_seconds_in_the_clients_clock() {
        let real = Clock::Scaled(1.0);
        pass_fail(
            delay_01,
            &started(3000, None, real),
            &started(20, None, real),
        );
        // Too long a wait fails too.
        assert!(matches!(
            delay_01(&started(12_000, None, real)),
            Outcome::Fail(_)
        ));
        // Start-up work before `ready` is not waiting: 3 s after start but 0.1 s after ready.
        assert!(matches!(
            delay_01(&started(3000, Some(2900), real)),
            Outcome::Fail(_)
        ));
        // Nor before the line that says the wait begins (dhcpcd's hooks run first): 1.2 s
        // after start and after ready, but 0.2 s after "delaying IPv4 for".
        let mut hooks_first = started(1200, None, real);
        if let Some(c) = hooks_first.roles.get_mut("client") {
            c.start_wait = c.started.map(|s| s + Duration::from_millis(1000));
        }
        assert!(matches!(delay_01(&hooks_first), Outcome::Fail(_)));
        // A wait-began line read after the DISCOVER left (a slow reader) says nothing.
        if let Some(c) = hooks_first.roles.get_mut("client") {
            c.start_wait = c.started.map(|s| s + Duration::from_millis(1300));
        }
        assert_eq!(delay_01(&hooks_first), Outcome::Pass);
        // 150 ms of capture is 1.5 s of a client scaled x10.
        assert_eq!(
            delay_01(&started(150, None, Clock::Scaled(10.0))),
            Outcome::Pass
        );
        // Without a start time nothing is judged.
        assert_eq!(delay_01(&ok()), Outcome::NotApplicable);
        // Nor a wait the lab turned off (dhcpcd's `nodelay` outside `start-delay = "own"`).
        let mut off = started(20, None, real);
        if let Some(c) = off.roles.get_mut("client") {
            c.start_delay_by_lab = true;
        }
        assert_eq!(delay_01(&off), Outcome::NotApplicable);
    }

    #[test]
    fn rtx_01_wants_exponential_backoff() {
        let good = discovers(&[(0, 0), (4200, 4), (12_000, 12), (27_500, 27)]).done();
        pass_fail(
            rtx_01,
            &good,
            &discovers(&[(0, 0), (4000, 4), (8000, 8)]).done(),
        );
    }

    #[test]
    fn rtx_02_gives_up_selecting_after_a_minute() {
        let mk = |times: &[u64]| {
            let mut k = dora(|_, _| {});
            k.trace.frames.truncate(2); // DISCOVER, OFFER
            for ms in times {
                let mut r = client_msg(MessageType::Request, 0x1234, CLIENT);
                r.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER_IP);
                r.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, YIADDR);
                k.bootp("lan", *ms, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &r);
            }
            k.done()
        };
        let good = mk(&[200, 4200, 12_200, 28_200, 60_200]);
        pass_fail(
            rtx_02,
            &good,
            &mk(&[200, 4200, 12_200, 28_200, 60_200, 124_200]),
        );
    }

    #[test]
    fn hdr_01_wants_zero_fields() {
        pass_fail(hdr_01, &ok(), &edit(MessageType::Discover, |m| m.hops = 1));
    }

    #[test]
    fn src_01_wants_zero_source_and_broadcast() {
        let mut bad = dora(|_, _| {});
        let d = client_msg(MessageType::Discover, 3, CLIENT);
        bad.bootp("lan", 500, (CLIENT, YIADDR, 68), (BCAST, ALL, 67), &d);
        pass_fail(src_01, &ok(), &bad.done());
    }

    #[test]
    fn xid_01_wants_the_offer_xid() {
        let mut bad = dora(|_, _| {});
        let mut r = client_msg(MessageType::Request, 0x777, CLIENT);
        r.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER_IP);
        r.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, YIADDR);
        bad.bootp("lan", 500, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &r);
        pass_fail(xid_01, &ok(), &bad.done());
    }

    #[test]
    fn sel_01_wants_the_offered_address() {
        let bad = edit(MessageType::Request, |m| {
            m.options_mut()
                .set_ip(code::REQUESTED_IP_ADDRESS, Ipv4Addr::new(192, 0, 2, 5))
        });
        pass_fail(sel_01, &ok(), &bad);
    }

    #[test]
    fn prl_01_repeats_the_list() {
        pass_fail(
            prl_01,
            &ok(),
            &edit(MessageType::Request, |m| {
                m.options_mut().remove(code::PARAMETER_REQUEST_LIST);
            }),
        );
    }

    #[test]
    fn cid_01_keeps_the_identifier() {
        let good = dora(|t, m| {
            if matches!(t, MessageType::Discover | MessageType::Request) {
                m.options_mut()
                    .push(code::CLIENT_IDENTIFIER, vec![1, 2, 0, 0, 0, 0, 1]);
            }
        });
        let bad = dora(|t, m| {
            if t == MessageType::Discover {
                m.options_mut()
                    .push(code::CLIENT_IDENTIFIER, vec![1, 2, 0, 0, 0, 0, 1]);
            }
        });
        pass_fail(cid_01, &good.done(), &bad.done());
    }

    #[test]
    fn reboot_01_wants_option_50_and_broadcast() {
        let mk = |with50: bool| {
            let mut k = Kit::new();
            let mut r = client_msg(MessageType::Request, 9, CLIENT);
            if with50 {
                r.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, YIADDR);
            }
            k.bootp("lan", 0, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &r);
            k.done()
        };
        pass_fail(reboot_01, &mk(true), &mk(false));
    }

    #[test]
    fn nak_01_restarts_with_discover() {
        let mk = |next: MessageType| {
            let mut k = dora(|t, m| {
                if t == MessageType::Ack {
                    m.options_mut().set_message_type(MessageType::Nak);
                    m.yiaddr = ZERO;
                }
            });
            let mut n = client_msg(next, 0x4321, CLIENT);
            if next == MessageType::Request {
                n.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, YIADDR);
            }
            k.bootp("lan", 500, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &n);
            k.done()
        };
        pass_fail(
            nak_01,
            &mk(MessageType::Discover),
            &mk(MessageType::Request),
        );
    }

    /// DORA (T1 300 s, T2 525 s, lease 600 s), then a RENEWING REQUEST at `renew_s` and a
    /// REBINDING one at `rebind_s` (seconds after the ACK); `edit` changes the REQUESTs.
    fn lease_life(renew_s: u64, rebind_s: u64, e: impl Fn(&mut Message)) -> Trace {
        let mut k = dora(|_, _| {});
        for (s, dst) in [
            (renew_s, (SERVER, SERVER_IP, 67)),
            (rebind_s, (BCAST, ALL, 67)),
        ] {
            let mut r = client_msg(MessageType::Request, 0x888, CLIENT);
            r.ciaddr = YIADDR;
            e(&mut r);
            k.bootp("lan", 300 + s * 1000, (CLIENT, YIADDR, 68), dst, &r);
        }
        k.done()
    }

    #[test]
    fn renew_and_rebind_fields_and_times() {
        let good = lease_life(300, 525, |_| {});
        pass_fail(renew_01, &good, &lease_life(100, 525, |_| {}));
        pass_fail(rebind_01, &good, &lease_life(300, 200, |_| {}));
        let with54 = lease_life(300, 525, |m| {
            m.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER_IP)
        });
        assert!(matches!(renew_01(&with54), Outcome::Fail(_)));
    }

    #[test]
    fn timer_02_waits_60_s() {
        let mut k = dora(|_, _| {});
        for s in [300, 370] {
            let mut r = client_msg(MessageType::Request, 0x888, CLIENT);
            r.ciaddr = YIADDR;
            k.bootp(
                "lan",
                s * 1000,
                (CLIENT, YIADDR, 68),
                (SERVER, SERVER_IP, 67),
                &r,
            );
        }
        let good = k.done();
        let mut k = dora(|_, _| {});
        for s in [300, 310] {
            let mut r = client_msg(MessageType::Request, 0x888, CLIENT);
            r.ciaddr = YIADDR;
            k.bootp(
                "lan",
                s * 1000,
                (CLIENT, YIADDR, 68),
                (SERVER, SERVER_IP, 67),
                &r,
            );
        }
        pass_fail(timer_02, &good, &k.done());
    }

    #[test]
    fn acd_02_probes_three_times_then_waits() {
        let good = acd(&[0, 1500, 3000], &[5000, 7000]);
        pass_fail(acd_02, &good, &acd(&[0, 1500], &[3500]));
        assert!(matches!(
            acd_02(&acd(&[0, 1500, 3000], &[3500])),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn acd_03_gives_up_the_address_on_conflict() {
        let mut good = dora(|_, _| {});
        good.arp("lan", 400, BCAST, arp::Repr::probe(CLIENT, YIADDR));
        good.arp(
            "lan",
            410,
            CLIENT,
            arp::Repr::reply(SQUATTER, YIADDR, CLIENT, ZERO),
        );
        let mut bad = Kit::new();
        bad.trace = good.trace.clone();
        bad.arp("lan", 3000, BCAST, arp::Repr::announcement(CLIENT, YIADDR));
        pass_fail(acd_03, &good.done(), &bad.done());
    }

    #[test]
    fn acd_04_announces_twice_2_s_apart() {
        pass_fail(
            acd_04,
            &acd(&[0, 1500, 3000], &[5000, 7000]),
            &acd(&[0, 1500, 3000], &[5000, 5500]),
        );
    }

    #[test]
    fn acd_05_rate_limits_after_10_conflicts() {
        let mk = |gap: u64| {
            let mut k = Kit::new();
            let mut ms = 0;
            for i in 0..12u32 {
                let d = client_msg(MessageType::Discover, 100 + i, CLIENT);
                k.bootp("lan", ms, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &d);
                let mut x = Message::new_dhcp(MessageType::Decline, 100 + i, CLIENT);
                x.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, YIADDR);
                k.bootp("lan", ms + 100, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &x);
                ms += if i >= 9 { gap } else { 10_000 };
            }
            k.done()
        };
        pass_fail(acd_05, &mk(60_000), &mk(10_000));
    }

    /// The server's who-has for the client's address at `ms`.
    fn server_asks(k: &mut Kit, ms: u64) {
        k.arp(
            "lan",
            ms,
            BCAST,
            arp::Repr::request(SERVER, SERVER_IP, YIADDR),
        );
    }

    /// The client's own who-has for the server, from its address, at `ms`: it is still there.
    fn client_asks(k: &mut Kit, ms: u64) {
        k.arp(
            "lan",
            ms,
            BCAST,
            arp::Repr::request(CLIENT, YIADDR, SERVER_IP),
        );
    }

    #[test]
    fn arp_01_answers_for_its_address() {
        let mut good = dora(|_, _| {});
        // The client uses its address (an announcement) before the server asks for it.
        good.arp("lan", 400, BCAST, arp::Repr::announcement(CLIENT, YIADDR));
        let mut not_yet = Kit::new();
        not_yet.trace = good.trace.clone();
        server_asks(&mut good, 500);
        let mut bad = Kit::new();
        bad.trace = good.trace.clone();
        good.arp(
            "lan",
            501,
            SERVER,
            arp::Repr::reply(CLIENT, YIADDR, SERVER, SERVER_IP),
        );
        // Still there (it ARPs for the server later) yet silent to the request: a failure.
        client_asks(&mut bad, 900);
        pass_fail(arp_01, &good.done(), &bad.done());
        // Asked before it used the address (between the ACK and configuring it), silent, and
        // then heard from: the trace cannot say the address was there to answer for.
        not_yet.trace.frames.retain(|f| f.time.as_millis() != 400);
        server_asks(&mut not_yet, 350);
        client_asks(&mut not_yet, 900);
        assert_eq!(arp_01(&not_yet.done()), Outcome::NotApplicable);
        // Never heard from again (powered off): nothing to judge.
        let mut gone = Kit::new();
        gone.trace = good.trace.clone();
        gone.trace.frames.retain(|f| f.time.as_millis() != 501);
        assert!(!matches!(arp_01(&gone.done()), Outcome::Fail(_)));
    }

    #[test]
    fn arp_01_leaves_out_requests_while_the_client_still_probes() {
        // ACK at 300 ms, probes at 400 and 1400, a server's request at 1500 (the client checks
        // the address, it does not use it yet), then the announcement at 3400.
        let probing = |announce: bool, request_at: u64| {
            let mut k = dora(|_, _| {});
            k.arp("lan", 400, BCAST, arp::Repr::probe(CLIENT, YIADDR));
            k.arp("lan", 1400, BCAST, arp::Repr::probe(CLIENT, YIADDR));
            server_asks(&mut k, request_at);
            if announce {
                k.arp("lan", 3400, BCAST, arp::Repr::announcement(CLIENT, YIADDR));
            }
            client_asks(&mut k, 5000);
            client_asks(&mut k, 8000);
            k.done()
        };
        assert_eq!(arp_01(&probing(true, 1500)), Outcome::NotApplicable);
        // Between the ACK and the first probe it is not using the address either.
        assert_eq!(arp_01(&probing(true, 350)), Outcome::NotApplicable);
        // After its announcement the address is its own: silence is a failure.
        assert!(matches!(arp_01(&probing(true, 4000)), Outcome::Fail(_)));
        // A client that never announces claims the address with its next frame (5000 ms);
        // before that the trace cannot tell that it had begun to use it.
        assert_eq!(arp_01(&probing(false, 4000)), Outcome::NotApplicable);
        assert!(matches!(arp_01(&probing(false, 6000)), Outcome::Fail(_)));
    }

    #[test]
    fn arp_01_leaves_out_the_labs_probe() {
        let mut k = dora(|_, _| {});
        k.arp("lan", 400, BCAST, arp::Repr::announcement(CLIENT, YIADDR));
        server_asks(&mut k, 500);
        client_asks(&mut k, 900);
        assert!(matches!(arp_01(&k.done()), Outcome::Fail(_)));
        let mut info = k.trace.roles["client"].clone();
        info.kind = RoleKind::Probe;
        k.trace.roles.insert("client".into(), info);
        assert_eq!(arp_01(&k.done()), Outcome::NotApplicable);
    }

    #[test]
    fn arp_01_leaves_out_the_handover_from_a_rom_to_its_kernel() {
        use bootlab_wire::tftp::{Mode, Packet, Request};
        let after = |send_more: bool| {
            let mut k = bootp_exchange(|_, _| {});
            let mut info = k.trace.roles["client"].clone();
            info.kind = RoleKind::RomClient;
            k.trace.roles.insert("rom".into(), info);
            let rrq = Packet::Rrq(Request {
                filename: "vmlinuz".into(),
                mode: Mode::Octet,
                options: vec![],
            });
            k.tftp(
                "lan",
                300,
                (CLIENT, YIADDR, 2000),
                (SERVER, SERVER_IP, 69),
                &rrq,
            );
            let data = Packet::Data {
                block: 1,
                data: vec![0; 10],
            };
            k.tftp(
                "lan",
                310,
                (SERVER, SERVER_IP, 3000),
                (CLIENT, YIADDR, 2000),
                &data,
            );
            let ack = Packet::Ack { block: 1 };
            k.tftp(
                "lan",
                320,
                (CLIENT, YIADDR, 2000),
                (SERVER, SERVER_IP, 3000),
                &ack,
            );
            if send_more {
                k.arp(
                    "lan",
                    400,
                    BCAST,
                    arp::Repr::request(CLIENT, YIADDR, SERVER_IP),
                );
            }
            k.arp(
                "lan",
                500,
                CLIENT,
                arp::Repr::request(SERVER, SERVER_IP, YIADDR),
            );
            // The machine speaks later (the booted system's own ARP): it is heard after the
            // request, so only the handover can excuse the silence.
            k.arp(
                "lan",
                900,
                BCAST,
                arp::Repr::request(CLIENT, YIADDR, SERVER_IP),
            );
            k.done()
        };
        // Handed over: the kernel is booting, the unanswered probe is nobody's.
        assert!(!matches!(arp_01(&after(false)), Outcome::Fail(_)));
        // The ROM still talking after its download: it is still there, and must answer.
        assert!(matches!(arp_01(&after(true)), Outcome::Fail(_)));
    }

    #[test]
    fn bflag_01_takes_the_unicast_offer() {
        let mut bad = Kit::new();
        let d = client_msg(MessageType::Discover, 0x1234, CLIENT);
        bad.bootp("lan", 0, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &d);
        let o = server_msg(MessageType::Offer, &d, YIADDR);
        bad.bootp(
            "lan",
            100,
            (SERVER, SERVER_IP, 67),
            (CLIENT, YIADDR, 68),
            &o,
        );
        bad.bootp("lan", 4000, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &d);
        pass_fail(bflag_01, &ok(), &bad.done());
    }

    #[test]
    fn xid_02_ignores_foreign_offers() {
        let mut good = Kit::new();
        let d = client_msg(MessageType::Discover, 1, CLIENT);
        good.bootp("lan", 0, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &d);
        let mut other = d.clone();
        other.xid = 2;
        let o = server_msg(MessageType::Offer, &other, YIADDR);
        good.bootp("lan", 10, (SERVER, SERVER_IP, 67), (CLIENT, YIADDR, 68), &o);
        let mut bad = Kit::new();
        bad.trace = good.trace.clone();
        let mut r = client_msg(MessageType::Request, 2, CLIENT);
        r.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER_IP);
        r.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, YIADDR);
        bad.bootp("lan", 20, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &r);
        pass_fail(xid_02, &good.done(), &bad.done());
    }

    #[test]
    fn cid_02_drops_offers_for_another_identifier() {
        let mk = |echo: u8| {
            dora(move |t, m| {
                let v = if t == MessageType::Offer { echo } else { 1 };
                if t != MessageType::Ack {
                    m.options_mut().push(code::CLIENT_IDENTIFIER, vec![0, v]);
                }
            })
            .done()
        };
        pass_fail(cid_02, &mk(1), &mk(2));
    }

    #[test]
    fn timer_01_renews_before_rebinding() {
        pass_fail(
            timer_01,
            &lease_life(300, 525, |_| {}),
            &lease_life(530, 525, |_| {}),
        );
    }

    #[test]
    fn expire_01_stops_using_an_expired_address() {
        let mk = |after_s: u64| {
            let mut k = dora(|_, _| {});
            let mut r = client_msg(MessageType::Request, 0x888, CLIENT);
            r.ciaddr = YIADDR;
            k.bootp(
                "lan",
                300 + after_s * 1000,
                (CLIENT, YIADDR, 68),
                (BCAST, ALL, 67),
                &r,
            );
            k.arp(
                "lan",
                300 + 700_000,
                BCAST,
                arp::Repr::request(SERVER, SERVER_IP, YIADDR),
            );
            k.done()
        };
        pass_fail(expire_01, &mk(525), &mk(650));
    }

    #[test]
    fn bootp_01_never_renews_a_bootp_address() {
        let mk = |renew: bool| {
            let mut k = Kit::new();
            let d = client_msg(MessageType::Discover, 0x31, CLIENT);
            k.bootp("lan", 0, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &d);
            let mut r = Message::new_reply(&d);
            r.vend = bootlab_wire::bootp::Vendor::Raw(vec![0; 64]);
            r.yiaddr = YIADDR;
            k.bootp("lan", 10, (SERVER, SERVER_IP, 67), (CLIENT, YIADDR, 68), &r);
            if renew {
                let mut q = client_msg(MessageType::Request, 0x32, CLIENT);
                q.ciaddr = YIADDR;
                k.bootp(
                    "lan",
                    5000,
                    (CLIENT, YIADDR, 68),
                    (SERVER, SERVER_IP, 67),
                    &q,
                );
            }
            k.done()
        };
        pass_fail(bootp_01, &mk(false), &mk(true));
    }

    #[test]
    fn release_01_wants_unicast_with_server_id() {
        let mk = |dst: End| {
            let mut k = dora(|_, _| {});
            let mut r = Message::new_dhcp(MessageType::Release, 0x55, CLIENT);
            r.ciaddr = YIADDR;
            r.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER_IP);
            k.bootp("lan", 900, (CLIENT, YIADDR, 68), dst, &r);
            k.done()
        };
        pass_fail(
            release_01,
            &mk((SERVER, SERVER_IP, 67)),
            &mk((BCAST, ALL, 67)),
        );
    }

    #[test]
    fn gi_01_never_takes_giaddr_as_router() {
        let with = |routers: Vec<&str>| {
            let mut k = dora(|t, m| {
                if t == MessageType::Ack {
                    m.giaddr = Ipv4Addr::new(192, 0, 2, 254);
                }
            });
            k.event(
                "client",
                "bound",
                serde_json::json!({ "address": YIADDR.to_string(), "routers": routers }),
            );
            k.done()
        };
        pass_fail(gi_01, &with(vec![]), &with(vec!["192.0.2.254"]));
    }
}

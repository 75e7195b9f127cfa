//! Checks of the checklist's RELAY group (RFC 1542 §4, RFC 3046).

use super::query::{from_client, ip_dst, ip_src, macs_of, maybe_before, relay_ingress, relayed};
use super::{fail, verdict, Check, Outcome};
use crate::judge::trace::{Frame, Trace};
use crate::plan::role_kind::RoleKind;
use bootlab_wire::bootp::{code, parse_relay_agent_information, Area, Message, Op, Vendor};
use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[
    ("RELAY-HOPS-02", hops_02),
    ("RELAY-GI-01", gi_01),
    ("RELAY-IN-01", in_01),
    ("RELAY-HOPS-01", hops_01),
    ("RELAY-GI-02", gi_02),
    ("RELAY-GI-03", gi_03),
    ("RELAY-FIELDS-01", fields_01),
    ("RELAY-DEST-01", dest_01),
    ("RELAY-LOOP-01", loop_01),
    ("RELAY-TTL-01", ttl_01),
    ("RELAY-REP-02", rep_02),
    ("RELAY-REP-03", rep_03),
    ("RELAY-82-02", r82_02),
    ("RELAY-82-03", r82_03),
    ("RELAY-82-05", r82_05),
    ("RELAY-82-06", r82_06),
    ("RELAY-IN-02", in_02),
    ("RELAY-REP-01", rep_01),
    ("RELAY-82-04", r82_04),
    ("RELAY-SECS-01", secs_01),
    ("RELAY-CFG-01", cfg_01),
    ("RELAY-82-01", r82_01),
];

/// Requests relayed server-wards, with the copy the relay received.
fn pairs(t: &Trace) -> Vec<(&Frame, &Message, &Frame, &Message)> {
    t.bootp()
        .filter(|(f, m)| relayed(f, m))
        .filter_map(|(f, m)| relay_ingress(t, f, m).map(|(g, n)| (f, m, g, n)))
        .collect()
}

/// The addresses of the host that owns `ip`, by the lab's names.
pub(super) fn host_addresses(t: &Trace, ip: Ipv4Addr) -> Vec<Ipv4Addr> {
    let Some(host) = t.names.ips.get(&ip) else {
        return vec![ip];
    };
    t.names
        .ips
        .iter()
        .filter(|(_, h)| *h == host)
        .map(|(a, _)| *a)
        .collect()
}

/// RELAY-HOPS-02: each relay adds exactly one to hops: a relayed copy has hops one more than the
/// copy it came from (the same xid seen on another segment, or earlier on this one from another
/// host).
fn hops_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(f, m)| relayed(f, m)) {
        let Some(src_ip) = ip_src(f) else { continue };
        // The copy the relay received: same xid, on another segment where the relay host is,
        // or earlier on this one from another host (a relay that relays to a relay on the same
        // segment, as in a loop).
        let sender = f.decoded.eth.as_ref().map(|e| e.src_addr.0);
        let prev = t
            .bootp()
            .filter(|(g, n)| {
                (g.segment != f.segment
                    || (g.number < f.number
                        && g.decoded.eth.as_ref().map(|e| e.src_addr.0) != sender))
                    && n.op == Op::BootRequest
                    && n.xid == m.xid
                    && n.secs == m.secs
                    && n.hops <= m.hops
            })
            .max_by_key(|(_, n)| n.hops);
        let Some((_, p)) = prev else { continue };
        if !t.names.ips.contains_key(&src_ip) {
            continue;
        }
        any = true;
        if m.hops != p.hops.wrapping_add(1) {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "relayed request has hops {}, the received copy had {}",
                    m.hops, p.hops
                ),
            );
        }
    }
    verdict(any)
}

/// RELAY-GI-01: a relay that receives a request with giaddr 0 writes the address of the interface
/// it arrived on: giaddr must be an address of the relaying host on the client's segment.
fn gi_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(f, m)| relayed(f, m) && m.hops == 1) {
        let Some(src_ip) = ip_src(f) else { continue };
        let Some(relay_host) = t.names.ips.get(&src_ip) else {
            continue;
        };
        any = true;
        if t.names.ips.get(&m.giaddr) != Some(relay_host) {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "giaddr {} is not an address of the relay {relay_host}",
                    m.giaddr
                ),
            );
        }
        if m.giaddr == src_ip && t.names.ips.iter().filter(|(_, h)| *h == relay_host).count() > 1 {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "giaddr {} is the relay's server-side address, not the client-side one",
                    m.giaddr
                ),
            );
        }
    }
    verdict(any)
}

/// RELAY-IN-01 (RFC 1542 §4.1): a relay accepts requests from 0.0.0.0: on a segment where a
/// relay forwards client requests, every client broadcast from 0.0.0.0 is forwarded (unless the
/// relay reported it held it back, e.g. for its secs threshold).
fn in_01(t: &Trace) -> Outcome {
    let served: BTreeSet<&str> = pairs(t)
        .iter()
        .filter(|p| p.3.hops == 0)
        .map(|p| p.2.segment.as_str())
        .collect();
    let held: Vec<u64> = t
        .events
        .iter()
        .filter(|e| e.name == "ignored")
        .filter_map(|e| e.fields.get("xid").and_then(|x| x.as_u64()))
        .collect();
    let mut any = false;
    for (f, m) in t.bootp().filter(|(f, m)| {
        m.op == Op::BootRequest
            && m.hops == 0
            && m.giaddr.is_unspecified()
            && ip_src(f) == Some(Ipv4Addr::UNSPECIFIED)
            && served.contains(f.segment.as_str())
    }) {
        if held.contains(&u64::from(m.xid)) {
            continue;
        }
        any = true;
        let forwarded = t.bootp().any(|(g, n)| {
            relayed(g, n)
                && n.xid == m.xid
                && n.secs == m.secs
                && n.chaddr == m.chaddr
                && n.hops == 1
                && maybe_before(f, g)
        });
        if !forwarded {
            return fail(
                &f.segment,
                f.number,
                "client broadcast from 0.0.0.0 not relayed",
            );
        }
    }
    verdict(any)
}

/// RELAY-HOPS-01 (RFC 1542 §4.1.1): a request whose hops exceed 16 is never forwarded.
fn hops_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(f, m)| relayed(f, m) && m.hops > 0) {
        any = true;
        if m.hops > 17 {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "relayed copy with hops {}: a request with hops > 16 was forwarded",
                    m.hops
                ),
            );
        }
    }
    verdict(any)
}

/// RELAY-GI-02 (RFC 1542 §4.1.1, RFC 3046 §2.1.1): a non-zero giaddr is never changed.
fn gi_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m, _, n) in pairs(t)
        .into_iter()
        .filter(|p| !p.3.giaddr.is_unspecified())
    {
        any = true;
        if m.giaddr != n.giaddr {
            return fail(
                &f.segment,
                f.number,
                format!("giaddr {} rewritten to {}", n.giaddr, m.giaddr),
            );
        }
    }
    verdict(any)
}

/// RELAY-GI-03 (RFC 1542 §4.1.1): giaddr is never a broadcast address.
fn gi_03(t: &Trace) -> Outcome {
    let bcasts: Vec<Ipv4Addr> = t
        .bootp()
        .filter_map(|(_, m)| m.options().and_then(|o| o.ip(code::BROADCAST_ADDRESS)))
        .collect();
    let mut any = false;
    for (f, m) in t.bootp().filter(|(f, m)| relayed(f, m)) {
        any = true;
        let g = m.giaddr;
        if g.is_broadcast() || g.is_multicast() || g.is_unspecified() || bcasts.contains(&g) {
            return fail(
                &f.segment,
                f.number,
                format!("relayed request with giaddr {g}"),
            );
        }
    }
    verdict(any)
}

/// Options without option 82.
fn without_82(m: &Message) -> Vendor {
    match &m.vend {
        Vendor::Options(o) => {
            let mut o = o.clone();
            o.remove(code::RELAY_AGENT_INFORMATION);
            Vendor::Options(o)
        }
        v => v.clone(),
    }
}

/// The fields a relay must pass on untouched (all but hops and giaddr), as one comparable value.
fn fixed_fields(m: &Message) -> impl PartialEq + std::fmt::Debug {
    (
        (m.op, m.htype, m.hlen, m.xid, m.secs, m.flags),
        (m.ciaddr, m.yiaddr, m.siaddr),
        m.chaddr,
        m.sname.to_vec(),
        m.file.to_vec(),
    )
}

/// RELAY-FIELDS-01 (RFC 1542 §4.1.1): apart from hops, giaddr and an appended option 82, the
/// forwarded request equals what the relay received.
fn fields_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m, _, n) in pairs(t) {
        any = true;
        let added_82 = !n
            .options()
            .is_some_and(|o| o.contains(code::RELAY_AGENT_INFORMATION));
        let same_opts = if added_82 {
            without_82(m) == n.vend
        } else {
            m.vend == n.vend
        };
        if fixed_fields(m) != fixed_fields(n) || !same_opts {
            return fail(
                &f.segment,
                f.number,
                "relayed request differs from the received one beyond hops, giaddr and option 82",
            );
        }
        if !n.giaddr.is_unspecified() && n.giaddr != m.giaddr {
            return fail(&f.segment, f.number, "relay changed a non-zero giaddr");
        }
    }
    verdict(any)
}

/// RELAY-DEST-01 (RFC 1542 §4.1.1): a relay sends all requests of one client to the same set of
/// servers.
fn dest_01(t: &Trace) -> Outcome {
    // (relay address, chaddr) -> (xid, secs, type) -> destinations
    type Key = (Ipv4Addr, [u8; 16]);
    type Copies<'a> = Vec<((u32, u16, u8), BTreeSet<Ipv4Addr>, &'a Frame)>;
    let mut groups: HashMap<Key, Copies<'_>> = HashMap::new();
    for (f, m) in t.bootp().filter(|(f, m)| relayed(f, m)) {
        let (Some(src), Some(dst)) = (ip_src(f), ip_dst(f)) else {
            continue;
        };
        let k = (m.xid, m.secs, m.message_type().map(u8::from).unwrap_or(0));
        let g = groups.entry((src, m.chaddr)).or_default();
        match g.iter_mut().find(|(x, _, _)| *x == k) {
            Some((_, set, _)) => {
                set.insert(dst);
            }
            None => g.push((k, BTreeSet::from([dst]), f)),
        }
    }
    let mut any = false;
    for g in groups.values() {
        any = true;
        let first = &g[0].1;
        if let Some((_, set, f)) = g.iter().find(|(_, s, _)| s != first) {
            return fail(
                &f.segment,
                f.number,
                format!("relayed to {set:?}, an earlier request of the same client to {first:?}"),
            );
        }
    }
    verdict(any)
}

/// RELAY-LOOP-01 (RFC 1542 §4.1.1): a request received as a broadcast is never broadcast back
/// onto the segment it came from.
fn loop_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, _, g, _) in pairs(t) {
        any = true;
        let bcast = f
            .decoded
            .eth
            .as_ref()
            .is_some_and(|e| e.dst_addr.0 == [0xff; 6]);
        if bcast && f.segment == g.segment {
            return fail(
                &f.segment,
                f.number,
                "relayed copy broadcast onto the segment the request came from",
            );
        }
    }
    verdict(any)
}

/// RELAY-TTL-01 (RFC 1542 §4.1.1): the forwarded request's TTL is a fresh default or lower than
/// the received one; a copy keeping a non-default incoming TTL is flagged.
fn ttl_01(t: &Trace) -> Outcome {
    const DEFAULTS: [u8; 5] = [16, 32, 64, 128, 255];
    let mut any = false;
    for (f, _, g, _) in pairs(t) {
        let (Some(out), Some(inp)) = (&f.decoded.ipv4, &g.decoded.ipv4) else {
            continue;
        };
        any = true;
        if out.ttl >= inp.ttl && !DEFAULTS.contains(&out.ttl) {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "relayed copy has TTL {}, the received one {}",
                    out.ttl, inp.ttl
                ),
            );
        }
    }
    verdict(any)
}

/// Replies a relay delivered on a client link: BOOTREPLY 67 -> 68 with giaddr set, with the
/// copy the server sent to the relay.
/// A reply delivered to a client, with the server's copy when captured.
type Delivery<'a> = (&'a Frame, &'a Message, Option<(&'a Frame, &'a Message)>);

/// Whether `a` was captured before `b`: by number on one segment, by capture time across two
/// (a server's reply on its segment precedes the relay's copy on the client's).
fn sent_before(a: &Frame, b: &Frame) -> bool {
    if a.segment == b.segment {
        a.number < b.number
    } else {
        a.time <= b.time
    }
}

fn deliveries(t: &Trace) -> Vec<Delivery<'_>> {
    t.bootp()
        .filter(|(f, m)| {
            m.op == Op::BootReply
                && !m.giaddr.is_unspecified()
                && f.decoded
                    .udp
                    .as_ref()
                    .is_some_and(|u| u.src_port == 67 && u.dst_port == 68)
        })
        .map(|(f, m)| {
            let from_server = t
                .bootp()
                .filter(|(g, n)| {
                    n.op == Op::BootReply
                        && n.xid == m.xid
                        && n.chaddr == m.chaddr
                        && n.giaddr == m.giaddr
                        && n.message_type() == m.message_type()
                        && sent_before(g, f)
                        && g.decoded.udp.as_ref().is_some_and(|u| u.dst_port == 67)
                })
                .max_by_key(|(g, _)| g.time);
            (f, m, from_server)
        })
        .collect()
}

/// RELAY-REP-02 (RFC 1542 §4.1.2): a relay changes no field of a reply it passes on; removing
/// option 82 is the only edit.
fn rep_02(t: &Trace) -> Outcome {
    let mut any = false;
    let same = |m: &Message, s: &Message| {
        fixed_fields(m) == fixed_fields(s)
            && m.hops == s.hops
            && m.giaddr == s.giaddr
            && without_82(m) == without_82(s)
    };
    for (f, m, s) in deliveries(t) {
        let Some((_, s)) = s else { continue };
        any = true;
        // With retransmissions of one xid in flight (iPXE resends its DISCOVER, ISC dhcpd echoes
        // each one's secs), the delivery may be the copy of an earlier reply than the latest.
        let earlier_copy = t.bootp().any(|(g, n)| {
            n.op == Op::BootReply
                && n.xid == m.xid
                && g.segment != f.segment
                && sent_before(g, f)
                && same(m, n)
        });
        if !same(m, s) && !earlier_copy {
            return fail(
                &f.segment,
                f.number,
                "delivered reply differs from the server's beyond option 82",
            );
        }
    }
    verdict(any)
}

/// RELAY-REP-03 (RFC 1542 §4.1.2): the reply leaves through the interface that owns giaddr:
/// it appears on the segment the client's request came from.
fn rep_03(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m, _) in deliveries(t) {
        let Some((g, _)) = t
            .bootp()
            .filter(|(g, n)| {
                n.op == Op::BootRequest
                    && n.xid == m.xid
                    && n.chaddr == m.chaddr
                    && n.giaddr.is_unspecified()
                    && maybe_before(g, f)
            })
            .last()
        else {
            continue;
        };
        any = true;
        if g.segment != f.segment {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "reply delivered on {}, the client's request came on {}",
                    f.segment, g.segment
                ),
            );
        }
    }
    verdict(any)
}

/// RELAY-82-02 (RFC 3046 §2, §2.1): an added option 82 is the last option of the options field
/// and a well-formed list of sub-options, at least 2 octets.
fn r82_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m, _, n) in pairs(t) {
        let had = n
            .options()
            .is_some_and(|o| o.contains(code::RELAY_AGENT_INFORMATION));
        let Some(data) = m
            .options()
            .and_then(|o| o.get(code::RELAY_AGENT_INFORMATION))
        else {
            continue;
        };
        if had {
            continue;
        }
        any = true;
        let main: Vec<_> = m
            .options_with_area()
            .into_iter()
            .filter(|(a, _)| *a == Area::Options)
            .collect();
        if main.last().map(|(_, o)| o.code) != Some(code::RELAY_AGENT_INFORMATION) {
            return fail(
                &f.segment,
                f.number,
                "added option 82 is not the last option",
            );
        }
        let (_, devs) = parse_relay_agent_information(&data);
        if data.len() < 2 || !devs.is_empty() {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "option 82 malformed: {}",
                    devs.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            );
        }
    }
    verdict(any)
}

/// RELAY-82-03 (RFC 3046 §2.1): a client request (giaddr 0) already carrying option 82 is not
/// forwarded.
fn r82_03(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, _, _, n) in pairs(t).into_iter().filter(|p| p.3.giaddr.is_unspecified()) {
        any = true;
        if n.options()
            .is_some_and(|o| o.contains(code::RELAY_AGENT_INFORMATION))
        {
            return fail(
                &f.segment,
                f.number,
                "forwarded a client request that already carried option 82",
            );
        }
    }
    verdict(any)
}

/// RELAY-82-05 (RFC 3046 §2.1.1): a request with a non-zero giaddr is forwarded without adding
/// option 82, and one carrying the relay's own giaddr is dropped.
fn r82_05(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m, _, n) in pairs(t)
        .into_iter()
        .filter(|p| !p.3.giaddr.is_unspecified())
    {
        any = true;
        let o82 = |x: &Message| {
            x.options()
                .and_then(|o| o.get(code::RELAY_AGENT_INFORMATION))
        };
        if o82(m) != o82(n) {
            return fail(
                &f.segment,
                f.number,
                "option 82 added to a request that already had a giaddr",
            );
        }
        if let Some(src) = ip_src(f) {
            if host_addresses(t, src).contains(&n.giaddr) {
                return fail(
                    &f.segment,
                    f.number,
                    format!("forwarded a request carrying its own giaddr {}", n.giaddr),
                );
            }
        }
    }
    verdict(any)
}

/// RELAY-82-06 (RFC 3046 §2.1): option 82 is removed before the reply reaches the client.
fn r82_06(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m, _) in deliveries(t) {
        any = true;
        if m.options()
            .is_some_and(|o| o.contains(code::RELAY_AGENT_INFORMATION))
        {
            return fail(
                &f.segment,
                f.number,
                "reply delivered to the client still carries option 82",
            );
        }
    }
    verdict(any)
}

/// RELAY-IN-02 (RFC 1542 §4.1, §2.1): a relay drops requests shorter than 300 octets.
fn in_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, _, g, _) in pairs(t) {
        any = true;
        let len = g.decoded.udp.as_ref().map(|u| u.payload_len).unwrap_or(0);
        if len < bootlab_wire::bootp::MIN_MESSAGE_LEN {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "relayed a request of {len} octets (frame {} on {})",
                    g.number, g.segment
                ),
            );
        }
    }
    verdict(any)
}

/// Whether a frame was sent by a MAC of the host `host`.
fn sent_by(t: &Trace, f: &Frame, host: &str) -> bool {
    f.decoded
        .eth
        .as_ref()
        .is_some_and(|e| t.names.macs.get(&e.src_addr.0).is_some_and(|h| h == host))
}

/// RELAY-REP-01 (RFC 1542 §4.1.2): a reply whose giaddr is not one of the relay's addresses is
/// discarded, not delivered.
fn rep_01(t: &Trace) -> Outcome {
    let relays = t.hosts_of_kind(RoleKind::Relay);
    let mut any = false;
    for (f, m) in t.bootp().filter(|(f, m)| {
        m.op == Op::BootReply && f.decoded.udp.as_ref().is_some_and(|u| u.dst_port == 67)
    }) {
        let Some(dst) = ip_dst(f) else { continue };
        let Some(host) = t.names.ips.get(&dst).filter(|h| relays.contains(h)) else {
            continue;
        };
        any = true;
        if host_addresses(t, dst).contains(&m.giaddr) {
            continue;
        }
        let delivered = t.bootp().find(|(g, n)| {
            n.op == Op::BootReply
                && n.xid == m.xid
                && g.decoded.udp.as_ref().is_some_and(|u| u.dst_port == 68)
                && sent_by(t, g, host)
                && maybe_before(f, g)
        });
        if let Some((g, _)) = delivered {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "{host} delivered a reply whose giaddr {} is not its own (frame {})",
                    m.giaddr, f.number
                ),
            );
        }
    }
    verdict(any)
}

/// RELAY-82-04 (RFC 3046 §2.1): relayed requests fit the link: no fragments, at most 1500
/// octets of IP.
fn r82_04(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, _) in t.bootp().filter(|(f, m)| relayed(f, m)) {
        let Some(ip) = &f.decoded.ipv4 else { continue };
        any = true;
        if ip.flags & 0b001 != 0 || ip.frag_offset != 0 || ip.total_len > 1500 {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "relayed request of {} IP octets, fragmented or above 1500",
                    ip.total_len
                ),
            );
        }
    }
    verdict(any)
}

/// RELAY-SECS-01 (RFC 1542 §4.1.1): a relay holding requests back by secs does so consistently:
/// while it forwards a client's requests, it never holds back one with at least the secs of one
/// it forwarded.
fn secs_01(t: &Trace) -> Outcome {
    let ps = pairs(t);
    let first_hop: Vec<_> = ps.iter().filter(|p| p.3.hops == 0).collect();
    let mut any = false;
    for relay in first_hop
        .iter()
        .filter_map(|p| ip_src(p.0))
        .collect::<BTreeSet<_>>()
    {
        let mine: Vec<_> = first_hop
            .iter()
            .filter(|p| ip_src(p.0) == Some(relay))
            .collect();
        let segs: BTreeSet<&str> = mine.iter().map(|p| p.2.segment.as_str()).collect();
        let forwarded = |g: &Frame, n: &Message| {
            mine.iter().any(|p| {
                p.3.xid == n.xid
                    && p.3.secs == n.secs
                    && p.2.number == g.number
                    && p.2.segment == g.segment
            })
        };
        for (g, n) in t.bootp().filter(|(g, n)| {
            n.op == Op::BootRequest
                && n.hops == 0
                && n.giaddr.is_unspecified()
                && segs.contains(g.segment.as_str())
                && g.decoded.udp.as_ref().is_some_and(|u| u.src_port == 68)
        }) {
            any = true;
            if forwarded(g, n) {
                continue;
            }
            let lower = mine
                .iter()
                .find(|p| p.3.chaddr == n.chaddr && p.3.secs <= n.secs);
            let alive = mine
                .iter()
                .any(|p| p.2.segment == g.segment && p.2.number > g.number);
            if let (Some(p), true) = (lower, alive) {
                return fail(&g.segment, g.number, format!("{relay} held back this request (secs {}) but forwarded one with secs {} (frame {})", n.secs, p.3.secs, p.2.number));
            }
        }
    }
    verdict(any)
}
/// The host that sent a frame, by the lab's names.
fn sender(t: &Trace, f: &Frame) -> Option<String> {
    let mac = f.decoded.eth.as_ref()?.src_addr.0;
    t.names.macs.get(&mac).cloned()
}

/// RELAY-CFG-01 (RFC 1542 §4.1.1): relaying is off until configured, and its destinations are
/// the configured ones. A host on two segments that runs no relay role never forwards a
/// BOOTREQUEST (server-wards 67 -> 67, or a client's request seen again with giaddr set); a
/// relay that reports its servers (our relay's `ready` event) sends relayed requests only to
/// them.
fn cfg_01(t: &Trace) -> Outcome {
    let mut any = false;
    let relays: Vec<(String, String)> = t
        .roles
        .iter()
        .filter(|(_, r)| r.kind == RoleKind::Relay)
        .map(|(n, r)| (n.clone(), r.host.clone()))
        .collect();
    let mut homed: std::collections::BTreeMap<&str, usize> = Default::default();
    for h in t.names.macs.values() {
        *homed.entry(h.as_str()).or_default() += 1;
    }
    let unconfigured: Vec<&str> = homed
        .iter()
        .filter(|(h, n)| **n > 1 && !relays.iter().any(|(_, rh)| rh == *h))
        .map(|(h, _)| *h)
        .collect();
    let client_broadcasts = t
        .bootp()
        .any(|(f, m)| from_client(f, m) && super::query::is_broadcast(f));
    if !unconfigured.is_empty() && client_broadcasts {
        any = true;
        for (f, m) in t.bootp() {
            let Some(h) = sender(t, f) else { continue };
            if !unconfigured.contains(&h.as_str()) || m.op != Op::BootRequest {
                continue;
            }
            if relayed(f, m) || !m.giaddr.is_unspecified() {
                return fail(
                    &f.segment,
                    f.number,
                    format!("host {h} forwarded a BOOTREQUEST but runs no relay: relaying must be off until configured"),
                );
            }
        }
    }
    for (name, host) in &relays {
        let Some(servers) = t
            .events_of(name, "ready")
            .find_map(|e| e.fields.get("servers").and_then(|v| v.as_array()).cloned())
        else {
            continue;
        };
        let servers: Vec<Ipv4Addr> = servers
            .iter()
            .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()))
            .collect();
        let own: Vec<[u8; 6]> = macs_of(t, host).collect();
        for (f, m) in t.bootp().filter(|(f, m)| relayed(f, m)) {
            if !f
                .decoded
                .eth
                .as_ref()
                .is_some_and(|e| own.contains(&e.src_addr.0))
            {
                continue;
            }
            any = true;
            let dst = ip_dst(f).unwrap_or(Ipv4Addr::UNSPECIFIED);
            if !servers.contains(&dst) {
                return fail(
                    &f.segment,
                    f.number,
                    format!(
                        "relay {name} sent xid {:#x} to {dst}, not one of its configured servers {servers:?}",
                        m.xid
                    ),
                );
            }
        }
    }
    verdict(any)
}

/// RELAY-82-01 (RFC 3046 §2.1): adding option 82 is configurable and off by default: a relay that
/// reports its setting (our relay's `ready` event, `option82`) adds option 82 to a request that
/// came without one exactly when the setting is on.
fn r82_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (name, role) in t.roles.iter().filter(|(_, r)| r.kind == RoleKind::Relay) {
        let Some(on) = t
            .events_of(name, "ready")
            .find_map(|e| e.fields.get("option82").and_then(|v| v.as_bool()))
        else {
            continue;
        };
        let own: Vec<[u8; 6]> = macs_of(t, &role.host).collect();
        for (f, m) in t.bootp().filter(|(f, m)| relayed(f, m)) {
            if !f
                .decoded
                .eth
                .as_ref()
                .is_some_and(|e| own.contains(&e.src_addr.0))
            {
                continue;
            }
            let Some((_, before)) = relay_ingress(t, f, m) else {
                continue;
            };
            if before
                .options()
                .is_some_and(|o| o.contains(code::RELAY_AGENT_INFORMATION))
            {
                continue;
            }
            any = true;
            let added = m
                .options()
                .is_some_and(|o| o.contains(code::RELAY_AGENT_INFORMATION));
            if added != on {
                return fail(
                    &f.segment,
                    f.number,
                    if on {
                        format!("relay {name} is configured to add option 82 but relayed xid {:#x} without it", m.xid)
                    } else {
                        format!("relay {name} added option 82 to xid {:#x} although it is not configured to", m.xid)
                    },
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
    use bootlab_wire::bootp::MessageType;

    fn ok() -> Trace {
        relayed_dora(|_, _, _| {}).done()
    }

    fn relayed_edit(edit: impl Fn(&mut Message)) -> Trace {
        relayed_dora(|leg, _, m| {
            if leg == Leg::Relayed {
                edit(m)
            }
        })
        .done()
    }

    /// A second relay hop: `router` forwards the server-side copy again (hops 2) to the server.
    fn two_hops(edit: impl Fn(&mut Message)) -> Trace {
        let mut k = relayed_dora(|_, _, _| {});
        let mut m = client_msg(MessageType::Discover, 0x5678, CLIENT);
        m.hops = 1;
        m.giaddr = Ipv4Addr::new(198, 51, 100, 7);
        k.bootp(
            "servers",
            500,
            (CLIENT, Ipv4Addr::new(192, 0, 2, 7), 67),
            (RELAY_S, RELAY_S_IP, 67),
            &m,
        );
        let mut r = m.clone();
        r.hops = 2;
        edit(&mut r);
        k.bootp(
            "servers",
            510,
            (RELAY_S, RELAY_S_IP, 67),
            (SERVER, SERVER_IP, 67),
            &r,
        );
        k.done()
    }

    #[test]
    fn hops_02_wants_one_more_hop() {
        let mut bad = relayed_dora(|_, _, _| {});
        let mut m = client_msg(MessageType::Discover, 0x77, CLIENT);
        bad.bootp("clients", 500, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &m);
        m.hops = 3;
        m.giaddr = RELAY_C_IP;
        bad.bootp(
            "servers",
            510,
            (RELAY_S, RELAY_S_IP, 67),
            (SERVER, SERVER_IP, 67),
            &m,
        );
        pass_fail(hops_02, &ok(), &bad.done());
    }

    #[test]
    fn gi_01_wants_the_client_side_address() {
        pass_fail(gi_01, &ok(), &relayed_edit(|m| m.giaddr = RELAY_S_IP));
    }

    #[test]
    fn in_01_wants_every_client_broadcast_relayed() {
        let mut bad = relayed_dora(|_, _, _| {});
        let m = client_msg(MessageType::Discover, 0x78, CLIENT);
        bad.bootp("clients", 500, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &m);
        pass_fail(in_01, &ok(), &bad.done());
    }

    #[test]
    fn hops_01_drops_beyond_16() {
        pass_fail(hops_01, &ok(), &two_hops(|m| m.hops = 18));
    }

    #[test]
    fn gi_02_keeps_a_set_giaddr() {
        pass_fail(
            gi_02,
            &two_hops(|_| {}),
            &two_hops(|m| m.giaddr = RELAY_S_IP),
        );
    }

    #[test]
    fn gi_03_never_broadcast() {
        pass_fail(gi_03, &ok(), &relayed_edit(|m| m.giaddr = ALL));
    }

    #[test]
    fn fields_01_passes_the_request_on_untouched() {
        let ok82 = relayed_edit(|m| {
            m.options_mut()
                .push(code::RELAY_AGENT_INFORMATION, vec![1, 1, 7])
        });
        assert_eq!(fields_01(&ok82), Outcome::Pass);
        pass_fail(fields_01, &ok(), &relayed_edit(|m| m.flags = 0x8000));
    }

    #[test]
    fn dest_01_keeps_the_server_set() {
        let mut bad = relayed_dora(|_, _, _| {});
        let mut m = client_msg(MessageType::Request, 0x5678, CLIENT);
        m.hops = 1;
        m.giaddr = RELAY_C_IP;
        m.secs = 4;
        bad.bootp(
            "servers",
            500,
            (RELAY_S, RELAY_S_IP, 67),
            (SERVER, Ipv4Addr::new(192, 0, 2, 9), 67),
            &m,
        );
        pass_fail(dest_01, &ok(), &bad.done());
    }

    #[test]
    fn loop_01_never_rebroadcasts_on_ingress() {
        let mut bad = relayed_dora(|_, _, _| {});
        let mut m = client_msg(MessageType::Discover, 0x5678, CLIENT);
        m.hops = 1;
        m.giaddr = RELAY_C_IP;
        bad.bootp(
            "clients",
            5,
            (RELAY_C, RELAY_C_IP, 67),
            (BCAST, ALL, 67),
            &m,
        );
        pass_fail(loop_01, &ok(), &bad.done());
    }

    #[test]
    fn ttl_01_flags_a_kept_ttl() {
        let f = bootlab_wire::frame::FrameFaults {
            ttl: Some(100),
            ..Default::default()
        };
        let mk = |ttl_out: u8| {
            let mut k = Kit::new();
            let m = client_msg(MessageType::Discover, 1, CLIENT);
            let e = bootlab_wire::frame::UdpEndpoints {
                src_mac: CLIENT.into(),
                dst_mac: BCAST.into(),
                src_ip: ZERO,
                dst_ip: ALL,
                src_port: 68,
                dst_port: 67,
            };
            k.raw("clients", 0, &e.build_with(&m.emit(), &f));
            let mut r = m.clone();
            r.hops = 1;
            r.giaddr = RELAY_C_IP;
            let e2 = bootlab_wire::frame::UdpEndpoints {
                src_mac: RELAY_S.into(),
                dst_mac: SERVER.into(),
                src_ip: RELAY_S_IP,
                dst_ip: SERVER_IP,
                src_port: 67,
                dst_port: 67,
            };
            let f2 = bootlab_wire::frame::FrameFaults {
                ttl: Some(ttl_out),
                ..Default::default()
            };
            k.raw("servers", 10, &e2.build_with(&r.emit(), &f2));
            k.done()
        };
        pass_fail(ttl_01, &mk(99), &mk(100));
        assert_eq!(ttl_01(&mk(64)), Outcome::Pass);
    }

    #[test]
    fn rep_02_and_82_06_leave_replies_alone_but_option_82() {
        let ok82 = relayed_dora(|leg, _, m| {
            if matches!(leg, Leg::Relayed | Leg::Server) {
                m.options_mut()
                    .push(code::RELAY_AGENT_INFORMATION, vec![1, 1, 7]);
            }
        });
        assert_eq!(rep_02(&ok82.done()), Outcome::Pass);
        let bad = relayed_dora(|leg, _, m| {
            if leg == Leg::Delivered {
                m.siaddr = RELAY_C_IP
            }
        });
        pass_fail(rep_02, &ok(), &bad.done());
        // A later reply to a retransmission of the same xid (ISC dhcpd echoes each secs) is not
        // what the first delivery copied.
        let mut again = relayed_dora(|_, _, _| {});
        let first_offer = again
            .trace
            .bootp()
            .find(|(f, m)| f.segment == "servers" && m.op == Op::BootReply)
            .map(|(_, m)| m.clone())
            .expect("server offer");
        let mut later = first_offer;
        later.secs = 9;
        again.bootp(
            "servers",
            500,
            (SERVER, SERVER_IP, 67),
            (RELAY_S, RELAY_C_IP, 67),
            &later,
        );
        assert_eq!(rep_02(&again.done()), Outcome::Pass);
        let bad = relayed_dora(|leg, _, m| {
            if matches!(leg, Leg::Relayed | Leg::Server | Leg::Delivered) {
                m.options_mut()
                    .push(code::RELAY_AGENT_INFORMATION, vec![1, 1, 7]);
            }
        });
        pass_fail(r82_06, &ok(), &bad.done());
    }

    #[test]
    fn rep_03_delivers_on_the_client_segment() {
        let mut bad = relayed_dora(|_, _, _| {});
        let q = client_msg(MessageType::Request, 0x5678, CLIENT);
        let mut a = server_msg(MessageType::Ack, &q, REMOTE_YIADDR);
        a.giaddr = RELAY_C_IP;
        bad.bootp(
            "elsewhere",
            900,
            (RELAY_C, RELAY_C_IP, 67),
            (CLIENT, REMOTE_YIADDR, 68),
            &a,
        );
        pass_fail(rep_03, &ok(), &bad.done());
    }

    #[test]
    fn in_02_drops_short_requests() {
        let mk = |len: usize| {
            let mut k = Kit::new();
            let m = client_msg(MessageType::Discover, 1, CLIENT);
            let f = bootlab_wire::bootp::Faults {
                truncate: Some(len),
                ..Default::default()
            };
            k.udp(
                "clients",
                0,
                (CLIENT, ZERO, 68),
                (BCAST, ALL, 67),
                &m.emit_with(&f),
            );
            let mut r = m.clone();
            r.hops = 1;
            r.giaddr = RELAY_C_IP;
            k.bootp(
                "servers",
                10,
                (RELAY_S, RELAY_S_IP, 67),
                (SERVER, SERVER_IP, 67),
                &r,
            );
            k.done()
        };
        pass_fail(in_02, &mk(300), &mk(290));
    }

    #[test]
    fn rep_01_discards_foreign_giaddr() {
        let mk = |giaddr: Ipv4Addr| {
            let mut k = Kit::new();
            let q = client_msg(MessageType::Discover, 1, CLIENT);
            let mut o = server_msg(MessageType::Offer, &q, REMOTE_YIADDR);
            o.giaddr = giaddr;
            k.bootp(
                "servers",
                0,
                (SERVER, SERVER_IP, 67),
                (RELAY_S, RELAY_S_IP, 67),
                &o,
            );
            k.bootp(
                "clients",
                10,
                (RELAY_C, RELAY_C_IP, 67),
                (CLIENT, REMOTE_YIADDR, 68),
                &o,
            );
            k.done()
        };
        pass_fail(rep_01, &mk(RELAY_C_IP), &mk(Ipv4Addr::new(203, 0, 113, 9)));
    }

    #[test]
    fn r82_04_never_fragments() {
        let big = relayed_edit(|m| {
            m.options_mut().push(
                code::RELAY_AGENT_INFORMATION,
                vec![1, 250, 7]
                    .into_iter()
                    .chain([0; 249])
                    .collect::<Vec<u8>>(),
            )
        });
        assert_eq!(r82_04(&big), Outcome::Pass);
        let mut bad = relayed_dora(|_, _, _| {});
        let mut m = client_msg(MessageType::Discover, 0x5678, CLIENT);
        m.hops = 1;
        m.giaddr = RELAY_C_IP;
        for _ in 0..6 {
            m.options_mut().push(43, vec![0; 255]);
        }
        bad.bootp(
            "servers",
            900,
            (RELAY_S, RELAY_S_IP, 67),
            (SERVER, SERVER_IP, 67),
            &m,
        );
        pass_fail(r82_04, &ok(), &bad.done());
    }

    #[test]
    fn secs_01_holds_back_consistently() {
        let mk = |forward_late: bool| {
            let mut k = Kit::new();
            for (i, secs) in [0u16, 4, 8].iter().enumerate() {
                let mut c = client_msg(MessageType::Discover, 0x70, CLIENT);
                c.secs = *secs;
                let ms = i as u64 * 4000;
                k.bootp("clients", ms, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &c);
                let fwd = if forward_late { *secs >= 4 } else { *secs != 4 };
                if fwd {
                    let mut r = c.clone();
                    r.hops = 1;
                    r.giaddr = RELAY_C_IP;
                    k.bootp(
                        "servers",
                        ms + 10,
                        (RELAY_S, RELAY_S_IP, 67),
                        (SERVER, SERVER_IP, 67),
                        &r,
                    );
                }
            }
            k.done()
        };
        pass_fail(secs_01, &mk(true), &mk(false));
    }

    #[test]
    fn r82_02_wants_82_last_and_well_formed() {
        let good = relayed_edit(|m| {
            m.options_mut()
                .push(code::RELAY_AGENT_INFORMATION, vec![1, 1, 7])
        });
        let bad = relayed_edit(|m| {
            m.options_mut()
                .push(code::RELAY_AGENT_INFORMATION, vec![1, 5, 7])
        });
        pass_fail(r82_02, &good, &bad);
    }

    #[test]
    fn r82_03_drops_client_requests_with_82() {
        let bad = relayed_dora(|leg, _, m| {
            if matches!(leg, Leg::Client | Leg::Relayed) {
                m.options_mut()
                    .push(code::RELAY_AGENT_INFORMATION, vec![1, 1, 7]);
            }
        });
        pass_fail(r82_03, &ok(), &bad.done());
    }

    #[test]
    fn r82_05_adds_nothing_to_relayed_requests_and_drops_its_own() {
        pass_fail(
            r82_05,
            &two_hops(|_| {}),
            &two_hops(|m| {
                m.options_mut()
                    .push(code::RELAY_AGENT_INFORMATION, vec![1, 1, 7])
            }),
        );
        let mut own = relayed_dora(|_, _, _| {});
        let mut m = client_msg(MessageType::Discover, 0x99, CLIENT);
        m.hops = 1;
        m.giaddr = RELAY_C_IP;
        own.bootp(
            "servers",
            500,
            (CLIENT, Ipv4Addr::new(192, 0, 2, 7), 67),
            (RELAY_S, RELAY_S_IP, 67),
            &m,
        );
        m.hops = 2;
        own.bootp(
            "servers",
            510,
            (RELAY_S, RELAY_S_IP, 67),
            (SERVER, SERVER_IP, 67),
            &m,
        );
        assert!(matches!(r82_05(&own.done()), Outcome::Fail(_)));
    }

    #[test]
    fn cfg_01_wants_the_configured_servers_only() {
        let with = |servers: &[Ipv4Addr]| {
            let mut k = relayed_dora(|_, _, _| {});
            let list: Vec<String> = servers.iter().map(|s| s.to_string()).collect();
            k.event("relay", "ready", serde_json::json!({ "servers": list }));
            k.done()
        };
        pass_fail(
            cfg_01,
            &with(&[SERVER_IP]),
            &with(&[Ipv4Addr::new(192, 0, 2, 9)]),
        );
    }

    #[test]
    fn cfg_01_no_relaying_without_a_relay() {
        let mut bad = relayed_dora(|_, _, _| {});
        bad.trace.roles.remove("relay");
        let bad = bad.done();
        let mut quiet = Kit::new();
        quiet.trace.roles.remove("relay");
        let d = client_msg(MessageType::Discover, 7, CLIENT);
        quiet.bootp("clients", 0, request_src(&d), (BCAST, ALL, 67), &d);
        pass_fail(cfg_01, &quiet.done(), &bad);
    }

    #[test]
    fn r82_01_adds_option_82_only_when_configured() {
        let with = |on: bool, add: bool| {
            let mut k = relayed_dora(|leg, _, m| {
                if add && leg == Leg::Relayed {
                    m.options_mut()
                        .push(code::RELAY_AGENT_INFORMATION, vec![1, 2, 0, 1]);
                }
            });
            k.event("relay", "ready", serde_json::json!({ "option82": on }));
            k.done()
        };
        pass_fail(r82_01, &with(false, false), &with(false, true));
        pass_fail(r82_01, &with(true, true), &with(true, false));
    }
}

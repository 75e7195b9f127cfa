//! Queries the group files share: time in protocol seconds, directions, addresses.

use crate::judge::trace::{Clock, Frame, Trace};
use bootlab_wire::bootp::{Message, Op};
use std::net::Ipv4Addr;
use std::time::Duration;

/// An interval of the capture in protocol seconds of the clock `sender` (a frame of the role
/// whose timing is judged) ran on: ours scaled by `time-scale`, a peer in real time.
pub(super) fn protocol_secs(t: &Trace, sender: &Frame, from: Duration, to: Duration) -> f64 {
    secs_in(t.sender_clock(sender), from, to)
}

/// An interval of the capture in protocol seconds of `clock`.
pub(super) fn secs_in(clock: Clock, from: Duration, to: Duration) -> f64 {
    to.saturating_sub(from).as_secs_f64() * clock.scale()
}

/// The checklist's tolerance on every timing (namespaces add scheduling jitter), in seconds.
pub(super) const TOLERANCE: f64 = 0.5;

/// A message a client sent: BOOTREQUEST from UDP 68 (RFC 951 §3).
pub(super) fn from_client(f: &Frame, m: &Message) -> bool {
    m.op == Op::BootRequest && f.decoded.udp.as_ref().is_some_and(|u| u.src_port == 68)
}

/// A request a relay forwarded server-wards: BOOTREQUEST 67 -> 67 (RFC 1542 §4.1.1).
pub(super) fn relayed(f: &Frame, m: &Message) -> bool {
    m.op == Op::BootRequest
        && f.decoded
            .udp
            .as_ref()
            .is_some_and(|u| u.src_port == 67 && u.dst_port == 67)
}

/// The copy a relay received of the relayed request `m`: same xid, secs, chaddr and type, one
/// hop fewer, captured no later (RFC 1542 §4.1.1).
pub(super) fn relay_ingress<'a>(
    t: &'a Trace,
    f: &Frame,
    m: &Message,
) -> Option<(&'a Frame, &'a Message)> {
    if !relayed(f, m) || m.hops == 0 {
        return None;
    }
    t.bootp()
        .filter(|(g, n)| {
            n.op == Op::BootRequest
                && n.xid == m.xid
                && n.secs == m.secs
                && n.chaddr == m.chaddr
                && n.message_type() == m.message_type()
                && n.hops.wrapping_add(1) == m.hops
                && maybe_before(g, f)
        })
        .last()
}

/// Whether frame `a` may have been captured before frame `b`: by frame order within one
/// segment; across segments always, since each pcap's times start at its own first frame.
pub(super) fn maybe_before(a: &Frame, b: &Frame) -> bool {
    if a.segment == b.segment {
        a.number < b.number
    } else {
        true
    }
}

/// The IPv4 destination of a frame.
pub(super) fn ip_dst(f: &Frame) -> Option<Ipv4Addr> {
    f.decoded.ipv4.as_ref().map(|i| i.dst)
}

/// The IPv4 source of a frame.
pub(super) fn ip_src(f: &Frame) -> Option<Ipv4Addr> {
    f.decoded.ipv4.as_ref().map(|i| i.src)
}

/// Whether a frame goes to 255.255.255.255 on the link broadcast address.
pub(super) fn is_broadcast(f: &Frame) -> bool {
    ip_dst(f) == Some(Ipv4Addr::BROADCAST)
        && f.decoded
            .eth
            .as_ref()
            .is_some_and(|e| e.dst_addr.0 == [0xff; 6])
}

/// The MACs of a host, by the lab's names.
pub(super) fn macs_of<'a>(t: &'a Trace, host: &'a str) -> impl Iterator<Item = [u8; 6]> + 'a {
    t.names
        .macs
        .iter()
        .filter(move |(_, h)| *h == host)
        .map(|(m, _)| *m)
}

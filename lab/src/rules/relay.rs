//! Checks of the checklist's RELAY group (RFC 1542 §4, RFC 3046).

use super::{fail, Check, Outcome};
use crate::trace::Trace;
use bootlab_wire::bootp::Op;

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[("RELAY-HOPS-02", hops_02), ("RELAY-GI-01", gi_01)];

/// Requests relayed server-wards: BOOTREQUEST from port 67 to port 67 (RFC 1542 §4.1.1).
fn relayed(t: &Trace) -> impl Iterator<Item = (&crate::trace::Frame, &bootlab_wire::bootp::Message)> {
    t.bootp().filter(|(f, m)| m.op == Op::BootRequest && f.decoded.udp.as_ref().is_some_and(|u| u.src_port == 67 && u.dst_port == 67))
}

/// RELAY-HOPS-02: each relay adds exactly one to hops: a relayed copy has hops one more than the
/// copy it came from (the same xid seen on the segment before).
fn hops_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in relayed(t) {
        let Some(src_ip) = f.decoded.ipv4.as_ref().map(|i| i.src) else { continue };
        let relay_host = t.names.ips.get(&src_ip);
        // The copy the relay received: same xid, on another segment where the relay host is.
        let prev = t.bootp().filter(|(g, n)| g.segment != f.segment && n.op == Op::BootRequest && n.xid == m.xid && n.secs == m.secs && n.hops <= m.hops).max_by_key(|(_, n)| n.hops);
        let Some((_, p)) = prev else { continue };
        if relay_host.is_none() {
            continue;
        }
        any = true;
        if m.hops != p.hops.wrapping_add(1) {
            return fail(&f.segment, f.number, format!("relayed request has hops {}, the received copy had {}", m.hops, p.hops));
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

/// RELAY-GI-01: a relay that receives a request with giaddr 0 writes the address of the interface
/// it arrived on: giaddr must be an address of the relaying host on the client's segment.
fn gi_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in relayed(t).filter(|(_, m)| m.hops == 1) {
        let Some(src_ip) = f.decoded.ipv4.as_ref().map(|i| i.src) else { continue };
        let Some(relay_host) = t.names.ips.get(&src_ip) else { continue };
        any = true;
        if t.names.ips.get(&m.giaddr) != Some(relay_host) {
            return fail(&f.segment, f.number, format!("giaddr {} is not an address of the relay {relay_host}", m.giaddr));
        }
        if m.giaddr == src_ip && t.names.ips.iter().filter(|(_, h)| *h == relay_host).count() > 1 {
            return fail(&f.segment, f.number, format!("giaddr {} is the relay's server-side address, not the client-side one", m.giaddr));
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

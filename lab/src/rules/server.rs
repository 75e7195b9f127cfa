//! Checks of the checklist's SRV group: server behaviour (RFC 2131 §4.3, RFC 1534, KB Q162396).

use super::{fail, Check, Outcome};
use crate::trace::Trace;
use bootlab_wire::bootp::{code, MessageType, Op};

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[("SRV-DECL-01", decl_01), ("SRV-DECL-02", decl_02), ("SRV-BOOTP-01", bootp_01)];

/// SRV-DECL-01: a declined address is offered to nobody afterwards (within the run).
fn decl_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| m.message_type() == Some(MessageType::Decline)) {
        let Some(addr) = m.options().and_then(|o| o.ip(code::REQUESTED_IP_ADDRESS)) else { continue };
        any = true;
        if let Some((g, _)) = t.bootp().find(|(g, n)| g.number > f.number && g.segment == f.segment && n.message_type() == Some(MessageType::Offer) && n.yiaddr == addr) {
            return fail(&g.segment, g.number, format!("declined address {addr} offered again"));
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

/// SRV-DECL-02: a DECLINE gets no reply and the client's next DISCOVER gets another address.
fn decl_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| m.message_type() == Some(MessageType::Decline)) {
        any = true;
        if let Some((g, _)) = t.bootp().find(|(g, n)| g.segment == f.segment && g.number > f.number && n.op == Op::BootReply && n.xid == m.xid && matches!(n.message_type(), Some(MessageType::Ack | MessageType::Nak))) {
            return fail(&g.segment, g.number, "the server answered a DHCPDECLINE");
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

/// SRV-BOOTP-01: a request without option 53 gets a BOOTREPLY without DHCP round trips.
fn bootp_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| m.op == Op::BootRequest && m.message_type().is_none()) {
        any = true;
        if let Some((g, _)) = t.bootp().find(|(_, n)| n.op == Op::BootReply && n.xid == m.xid && n.message_type().is_some()) {
            return fail(&g.segment, g.number, format!("BOOTP request (frame {}) answered with a DHCP message", f.number));
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

//! Checks of the checklist's FMT group: message format and options encoding.

use super::{fail, Check, Outcome};
use crate::trace::Trace;
use bootlab_wire::bootp::{code, Op, Vendor, MAGIC_COOKIE, MIN_MESSAGE_LEN};

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[
    ("FMT-SIZE-01", size_01),
    ("FMT-OP-01", op_01),
    ("FMT-HDR-01", hdr_01),
    ("FMT-FLAGS-01", flags_01),
    ("FMT-COOKIE-02", cookie_02),
    ("FMT-TYPE-01", type_01),
    ("FMT-BOOTP-01", bootp_01),
];

/// FMT-SIZE-01 (RFC 951 §3, RFC 1542 §2.1): every message carries at least 300 octets.
fn size_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, _) in t.bootp() {
        any = true;
        let len = f.decoded.udp.as_ref().map(|u| u.payload_len).unwrap_or(0);
        if len < MIN_MESSAGE_LEN {
            return fail(
                &f.segment,
                f.number,
                format!("BOOTP message of {len} octets, fewer than 300"),
            );
        }
    }
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

/// FMT-OP-01 (RFC 951 §3): `op` is BOOTREQUEST from clients and relays, BOOTREPLY towards clients.
fn op_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        let Some(udp) = &f.decoded.udp else { continue };
        any = true;
        let want = if udp.src_port == 68 {
            Op::BootRequest
        } else if udp.dst_port == 68 {
            Op::BootReply
        } else {
            continue; // 67 -> 67: relay <-> server, either op
        };
        if m.op != want {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "op {:?} on port {} -> {}, expected {want:?}",
                    m.op, udp.src_port, udp.dst_port
                ),
            );
        }
    }
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

/// FMT-HDR-01 (RFC 2131 §2): htype 1, hlen 6, and a client's chaddr is its Ethernet source.
fn hdr_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        any = true;
        if m.htype != 1 || m.hlen != 6 {
            return fail(
                &f.segment,
                f.number,
                format!("htype {} hlen {}, expected 1 and 6", m.htype, m.hlen),
            );
        }
        let from_client =
            f.decoded.udp.as_ref().is_some_and(|u| u.src_port == 68) && m.op == Op::BootRequest;
        if let (true, Some(eth)) = (from_client, &f.decoded.eth) {
            if eth.src_addr.0 != m.chaddr_mac() {
                return fail(
                    &f.segment,
                    f.number,
                    "chaddr differs from the client's Ethernet source",
                );
            }
        }
    }
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

/// FMT-FLAGS-01 (RFC 1542 §2.2): clients send the 15 low bits of `flags` as zero.
fn flags_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| m.op == Op::BootRequest) {
        any = true;
        if m.flags & 0x7fff != 0 {
            return fail(
                &f.segment,
                f.number,
                format!("flags {:#06x}: bits other than B set", m.flags),
            );
        }
    }
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

/// FMT-COOKIE-02 (RFC 1542 §3.5): a BOOTP request carries the magic cookie in `vend`.
fn cookie_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t
        .bootp()
        .filter(|(_, m)| m.op == Op::BootRequest && m.message_type().is_none())
    {
        any = true;
        if let Vendor::Raw(v) = &m.vend {
            if v.get(..4) != Some(&MAGIC_COOKIE[..]) {
                return fail(
                    &f.segment,
                    f.number,
                    "BOOTP request without the 99.130.83.99 cookie in vend",
                );
            }
        }
    }
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

/// FMT-TYPE-01 (RFC 2132 §9.6): a DHCP message has exactly one option 53 of length 1, value 1-8.
fn type_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        let Some(o) = m.options() else { continue };
        let n = o.count(code::DHCP_MESSAGE_TYPE);
        if n == 0 {
            continue;
        }
        any = true;
        let inst: Vec<_> =
            o.0.iter()
                .filter(|x| x.code == code::DHCP_MESSAGE_TYPE)
                .collect();
        if n != 1 || inst[0].data.len() != 1 || !(1..=8).contains(&inst[0].data[0]) {
            return fail(
                &f.segment,
                f.number,
                format!("option 53: {n} instance(s), first {:?}", inst[0].data),
            );
        }
    }
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

/// FMT-BOOTP-01 (RFC 1534 §2): a reply to a BOOTP request has no option 53 and 300 octets.
fn bootp_01(t: &Trace) -> Outcome {
    let bootp_xids: Vec<u32> = t
        .bootp()
        .filter(|(_, m)| m.op == Op::BootRequest && m.message_type().is_none())
        .map(|(_, m)| m.xid)
        .collect();
    let mut any = false;
    for (f, m) in t
        .bootp()
        .filter(|(_, m)| m.op == Op::BootReply && bootp_xids.contains(&m.xid))
    {
        any = true;
        if m.message_type().is_some() {
            return fail(
                &f.segment,
                f.number,
                "reply to a BOOTP request carries option 53",
            );
        }
        let len = f.decoded.udp.as_ref().map(|u| u.payload_len).unwrap_or(0);
        if len != MIN_MESSAGE_LEN {
            return fail(
                &f.segment,
                f.number,
                format!("reply to a BOOTP request of {len} octets, expected 300"),
            );
        }
    }
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

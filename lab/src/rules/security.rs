//! Checks of the checklist's SEC group: security-relevant rules (RFC 1350 §8, RFC 1123 §4.2.3.4,
//! RFC 1542 §4.1.1, RFC 3046 §2.1.1).

use super::format::{ip_src, relay_ingress, relayed, verdict};
use super::relay::host_addresses;
use super::tftp::conversations;
use super::{fail, Check, Outcome};
use crate::trace::Trace;
use bootlab_wire::tftp::{ErrorCode, Packet};
use std::collections::HashMap;

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[("SEC-PATH-01", path_01), ("SEC-LOOP-01", loop_01)];

/// Whether a requested file name climbs out of the served directory with a `..` component.
fn escapes(name: &str) -> bool {
    name.split(['/', '\\']).any(|c| c == "..")
}

/// SEC-PATH-01 (RFC 1123 §4.2.3.4, RFC 1350 §8): a request with a `..` component is refused with
/// ERROR 1 or 2 and no data.
fn path_01(t: &Trace) -> Outcome {
    let mut any = false;
    for c in conversations(t) {
        let Some((f, r, _)) = c.request() else {
            continue;
        };
        if !escapes(&r.filename) {
            continue;
        }
        any = true;
        for (g, p, from_client) in &c.packets {
            match p {
                Packet::Data { .. } | Packet::Oack { .. } | Packet::Ack { .. } if !*from_client => {
                    return fail(
                        &g.segment,
                        g.number,
                        format!("request for {:?} served", r.filename),
                    )
                }
                Packet::Error { code, .. } if !*from_client => {
                    if !matches!(code, ErrorCode::FileNotFound | ErrorCode::AccessViolation) {
                        return fail(
                            &g.segment,
                            g.number,
                            format!(
                                "request for {:?} refused with code {}, expected 1 or 2",
                                r.filename,
                                code.value()
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        if !c
            .packets
            .iter()
            .any(|(_, p, s)| !*s && matches!(p, Packet::Error { .. }))
        {
            return fail(
                &f.segment,
                f.number,
                format!("request for {:?} never refused with an ERROR", r.filename),
            );
        }
    }
    verdict(any)
}

/// SEC-LOOP-01 (RFC 1542 §4.1.1, RFC 3046 §2.1.1): relaying loops die out: no copy beyond hops
/// 17, at most 17 relayed generations of one request, and no relay forwards a request carrying
/// its own giaddr.
fn loop_01(t: &Trace) -> Outcome {
    let mut any = false;
    let mut generations: HashMap<(u32, u16, [u8; 16]), Vec<u8>> = HashMap::new();
    for (f, m) in t.bootp().filter(|(f, m)| relayed(f, m)) {
        any = true;
        if m.hops > 17 {
            return fail(
                &f.segment,
                f.number,
                format!("relayed copy with hops {}", m.hops),
            );
        }
        let g = generations.entry((m.xid, m.secs, m.chaddr)).or_default();
        if !g.contains(&m.hops) {
            g.push(m.hops);
        }
        if g.len() > 17 {
            return fail(
                &f.segment,
                f.number,
                "more than 17 relayed generations of one request",
            );
        }
        if let (Some((_, n)), Some(src)) = (relay_ingress(t, f, m), ip_src(f)) {
            if !n.giaddr.is_unspecified() && host_addresses(t, src).contains(&n.giaddr) {
                return fail(
                    &f.segment,
                    f.number,
                    format!(
                        "relay forwarded a request carrying its own giaddr {}",
                        n.giaddr
                    ),
                );
            }
        }
    }
    verdict(any)
}

#[cfg(test)]
mod tests {
    use super::super::format::kit::*;
    use super::*;
    use bootlab_wire::bootp::{Message, MessageType};
    use bootlab_wire::tftp::{Mode, Request};
    use std::net::Ipv4Addr;

    #[test]
    fn path_01_refuses_dot_dot() {
        let mk = |answer: Packet| {
            let mut k = Kit::new();
            let r = Packet::Rrq(Request {
                filename: "../../etc/passwd".into(),
                mode: Mode::Octet,
                options: vec![],
            });
            k.tftp(
                "lan",
                0,
                (CLIENT, YIADDR, 2000),
                (SERVER, SERVER_IP, 69),
                &r,
            );
            k.tftp(
                "lan",
                10,
                (SERVER, SERVER_IP, 3000),
                (CLIENT, YIADDR, 2000),
                &answer,
            );
            k.done()
        };
        let refused = Packet::Error {
            code: ErrorCode::AccessViolation,
            message: "no".into(),
        };
        pass_fail(
            path_01,
            &mk(refused),
            &mk(Packet::Data {
                block: 1,
                data: b"root".to_vec(),
            }),
        );
    }

    #[test]
    fn loop_01_bounds_relaying() {
        let ok = relayed_dora(|_, _, _| {}).done();
        let mut bad = relayed_dora(|_, _, _| {});
        let mut m = Message::new_dhcp(MessageType::Discover, 0x99, CLIENT);
        m.hops = 1;
        m.giaddr = RELAY_C_IP;
        bad.bootp(
            "servers",
            500,
            (CLIENT, Ipv4Addr::new(192, 0, 2, 7), 67),
            (RELAY_S, RELAY_S_IP, 67),
            &m,
        );
        m.hops = 2;
        bad.bootp(
            "servers",
            510,
            (RELAY_S, RELAY_S_IP, 67),
            (SERVER, SERVER_IP, 67),
            &m,
        );
        pass_fail(loop_01, &ok, &bad.done());
    }
}

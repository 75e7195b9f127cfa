//! Checks of the checklist's SEC group: security-relevant rules (RFC 1350 §8, RFC 1123 §4.2.3.4,
//! RFC 1542 §4.1.1, RFC 3046 §2.1.1).

use super::query::{ip_dst, ip_src, relay_ingress, relayed};
use super::relay::host_addresses;
use super::tftp::conversations;
use super::{fail, verdict, Check, Outcome};
use crate::judge::trace::Trace;
use bootlab_wire::bootp::MessageType;
use bootlab_wire::tftp::{ErrorCode, Packet};
use bootlab_wire::Severity;
use std::collections::HashMap;

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[
    ("SEC-PATH-01", path_01),
    ("SEC-LOOP-01", loop_01),
    ("SEC-PATH-03", path_03),
    ("SEC-DECL-01", decl_01),
    ("SEC-PATH-02", path_02),
];

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
                Packet::Error { code, .. }
                    if !*from_client
                        && !matches!(
                            code,
                            ErrorCode::FileNotFound | ErrorCode::AccessViolation
                        ) =>
                {
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

/// SEC-PATH-03 (robustness): a malformed request (missing terminators, empty name, unknown
/// mode) gets an ERROR or nothing, and the server still answers the next good request.
fn path_03(t: &Trace) -> Outcome {
    let convs = conversations(t);
    let mut any = false;
    for c in &convs {
        let Some((f, _, _)) = c.request() else {
            continue;
        };
        let malformed = f
            .decoded
            .deviations
            .iter()
            .any(|d| d.severity == Severity::Error && d.rule.starts_with("RFC 1350"));
        if !malformed {
            continue;
        }
        any = true;
        if let Some((g, _, _)) = c
            .packets
            .iter()
            .find(|(_, p, s)| !*s && !matches!(p, Packet::Error { .. }))
        {
            return fail(
                &g.segment,
                g.number,
                format!("malformed request (frame {}) served", f.number),
            );
        }
        let server = ip_dst(f);
        let next_good = convs.iter().find_map(|d| {
            let (g, _, _) = d.request()?;
            let good = g.segment == f.segment
                && g.number > f.number
                && ip_dst(g) == server
                && !g
                    .decoded
                    .deviations
                    .iter()
                    .any(|x| x.severity == Severity::Error);
            good.then_some((g, d))
        });
        if let Some((g, d)) = next_good {
            if !d.packets.iter().any(|(_, _, s)| !*s) {
                return fail(
                    &g.segment,
                    g.number,
                    "good request after a malformed one left unanswered",
                );
            }
        }
    }
    verdict(any)
}

/// SEC-DECL-01 (RFC 2131 §7): a DECLINE from a client that does not hold the address does not
/// take it from its owner: the owner's later REQUEST for it is not NAKed.
fn decl_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t
        .bootp()
        .filter(|(_, m)| m.message_type() == Some(MessageType::Decline))
    {
        let Some(a) = m.options().and_then(|o| o.requested_ip_address()) else {
            continue;
        };
        let owner = t
            .bootp()
            .filter(|(g, n)| {
                n.message_type() == Some(MessageType::Ack) && n.yiaddr == a && g.time < f.time
            })
            .last()
            .map(|(_, n)| n.chaddr);
        let Some(owner) = owner.filter(|o| *o != m.chaddr) else {
            continue;
        };
        any = true;
        let nak = t.bootp().find(|(g, n)| {
            n.message_type() == Some(MessageType::Nak)
                && n.chaddr == owner
                && g.time > f.time
                && t.bootp().any(|(_, q)| {
                    q.message_type() == Some(MessageType::Request)
                        && q.xid == n.xid
                        && q.chaddr == owner
                        && (q.ciaddr == a
                            || q.options().and_then(|o| o.requested_ip_address()) == Some(a))
                })
        });
        if let Some((g, _)) = nak {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "owner lost {a} after a DECLINE from another client (frame {})",
                    f.number
                ),
            );
        }
    }
    verdict(any)
}

/// SEC-PATH-02 (RFC 1350 §8): by default writes are refused. A WRQ to a TFTP server that
/// reports writes off (our server's `ready` event, `allow_write`, off unless configured) gets no
/// ACK 0 or OACK; a refused WRQ passes whatever the server reports. Serving only world-readable
/// files is not visible on the wire and is tested in the server's own unit tests.
fn path_02(t: &Trace) -> Outcome {
    let mut any = false;
    let writes_off = t.roles.iter().any(|(name, r)| {
        r.kind == crate::plan::role_kind::RoleKind::TftpServer
            && t.events_of(name, "ready")
                .any(|e| e.fields.get("allow_write").and_then(|v| v.as_bool()) == Some(false))
    });
    for c in conversations(t) {
        let Some((f, r, read)) = c.request() else {
            continue;
        };
        if read || !super::tftp::to_tftp_server(t, f) {
            continue;
        }
        let accepted = c.packets.iter().find(|(_, p, from_client)| {
            !*from_client && matches!(p, Packet::Ack { .. } | Packet::Oack { .. })
        });
        let refused = c
            .packets
            .iter()
            .any(|(_, p, from_client)| !*from_client && matches!(p, Packet::Error { .. }));
        match accepted {
            Some((g, _, _)) if writes_off => {
                return fail(
                    &g.segment,
                    g.number,
                    format!(
                        "WRQ for {:?} accepted although the server's writes are off",
                        r.filename
                    ),
                )
            }
            None if refused => any = true,
            _ => {}
        }
    }
    verdict(any)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use bootlab_wire::bootp::{code, Message};
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
    fn path_03_survives_malformed_requests() {
        let mk = |serve_bad: bool| {
            let mut k = Kit::new();
            let bad = Packet::Rrq(Request {
                filename: "a".into(),
                mode: Mode::Octet,
                options: vec![],
            });
            let bytes = bad.emit_with(bootlab_wire::tftp::Faults {
                omit_final_nul: true,
            });
            k.udp(
                "lan",
                0,
                (CLIENT, YIADDR, 2000),
                (SERVER, SERVER_IP, 69),
                &bytes,
            );
            let reply = if serve_bad {
                Packet::Data {
                    block: 1,
                    data: vec![1],
                }
            } else {
                Packet::Error {
                    code: ErrorCode::IllegalOperation,
                    message: "bad".into(),
                }
            };
            k.tftp(
                "lan",
                10,
                (SERVER, SERVER_IP, 3000),
                (CLIENT, YIADDR, 2000),
                &reply,
            );
            let good = Packet::Rrq(Request {
                filename: "a".into(),
                mode: Mode::Octet,
                options: vec![],
            });
            k.tftp(
                "lan",
                20,
                (CLIENT, YIADDR, 2001),
                (SERVER, SERVER_IP, 69),
                &good,
            );
            k.tftp(
                "lan",
                30,
                (SERVER, SERVER_IP, 3001),
                (CLIENT, YIADDR, 2001),
                &Packet::Data {
                    block: 1,
                    data: vec![1],
                },
            );
            k.done()
        };
        pass_fail(path_03, &mk(false), &mk(true));
    }

    #[test]
    fn decl_01_ignores_spoofed_declines() {
        let mk = |nak: bool| {
            let mut k = dora(|_, _| {});
            let mut d = Message::new_dhcp(MessageType::Decline, 0x71, CLIENT2);
            d.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, YIADDR);
            k.bootp("lan", 400, (CLIENT2, ZERO, 68), (BCAST, ALL, 67), &d);
            let mut r = client_msg(MessageType::Request, 0x72, CLIENT);
            r.ciaddr = YIADDR;
            k.bootp(
                "lan",
                500,
                (CLIENT, YIADDR, 68),
                (SERVER, SERVER_IP, 67),
                &r,
            );
            let ty = if nak {
                MessageType::Nak
            } else {
                MessageType::Ack
            };
            let a = server_msg(ty, &r, YIADDR);
            let dst = if nak {
                (BCAST, ALL, 68)
            } else {
                (CLIENT, YIADDR, 68)
            };
            k.bootp("lan", 510, (SERVER, SERVER_IP, 67), dst, &a);
            k.done()
        };
        pass_fail(decl_01, &mk(false), &mk(true));
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

    #[test]
    fn path_02_refuses_writes_by_default() {
        let wrq = |accept: bool| {
            let mut k = Kit::new();
            k.event(
                "tftpd",
                "ready",
                serde_json::json!({ "allow_write": false }),
            );
            let c = (CLIENT, YIADDR, 2000);
            let s = (SERVER, SERVER_IP, 3000);
            let req = Request {
                filename: "up.img".into(),
                mode: Mode::Octet,
                options: Vec::new(),
            };
            k.tftp("lan", 0, c, (SERVER, SERVER_IP, 69), &Packet::Wrq(req));
            let answer = if accept {
                Packet::Ack { block: 0 }
            } else {
                Packet::Error {
                    code: ErrorCode::AccessViolation,
                    message: "no".into(),
                }
            };
            k.tftp("lan", 10, s, c, &answer);
            k.done()
        };
        pass_fail(path_02, &wrq(false), &wrq(true));
    }
}

//! Checks of the checklist's ADDR group: reply addressing, the broadcast flag and ARP
//! (RFC 1542 §5.4, RFC 2131 §4.1, RFC 951 §4, KB Q164394).

use super::query::{ip_dst, maybe_before};
use super::{fail, verdict, Check, Outcome};
use crate::judge::trace::{Frame, Trace};
use crate::plan::role_kind::RoleKind;
use bootlab_wire::arp;
use bootlab_wire::bootp::{Message, MessageType, Op};
use bootlab_wire::tftp;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[
    ("ADDR-GIADDR-01", giaddr_01),
    ("ADDR-BCAST-01", bcast_01),
    ("ADDR-UNI-01", uni_01),
    ("ADDR-UNI-02", uni_02),
    ("ADDR-ARP-01", arp_01),
    ("ADDR-ARP-02", arp_02),
    ("ADDR-NAK-01", nak_01),
    ("ADDR-SRCMAC-01", srcmac_01),
    ("ADDR-CIADDR-01", ciaddr_01),
    ("ADDR-NAK-02", nak_02),
    ("ADDR-BFLAG-01", bflag_01),
    ("ADDR-RELAY-01", relay_01),
    ("ADDR-INFORM-01", inform_01),
];

/// Replies delivered on a client's link: BOOTREPLY to port 68 with `ciaddr` 0 (not a NAK).
fn client_link_replies(t: &Trace) -> impl Iterator<Item = (&Frame, &Message)> {
    t.bootp().filter(|(f, m)| {
        m.op == Op::BootReply
            && m.ciaddr.is_unspecified()
            && m.message_type() != Some(MessageType::Nak)
            && f.decoded.udp.as_ref().is_some_and(|u| u.dst_port == 68)
    })
}

fn dst(f: &Frame) -> (Option<[u8; 6]>, Option<Ipv4Addr>) {
    (
        f.decoded.eth.as_ref().map(|e| e.dst_addr.0),
        f.decoded.ipv4.as_ref().map(|i| i.dst),
    )
}

fn is_bcast_shape(f: &Frame) -> bool {
    dst(f) == (Some([0xff; 6]), Some(Ipv4Addr::BROADCAST))
}

fn is_unicast_shape(f: &Frame, m: &Message) -> bool {
    dst(f) == (Some(m.chaddr_mac()), Some(m.yiaddr))
}

/// Whether an ARP request is sent to the Ethernet broadcast address: the sender is resolving an
/// address it has no entry for. A request unicast to the target's MAC is a reachability probe of
/// an entry the sender already has (RFC 1122 §2.3.2.1; Linux's NUD probe after a transfer): it
/// proves the entry was there, so the address rules do not count it.
fn is_resolution(f: &Frame) -> bool {
    f.decoded
        .eth
        .as_ref()
        .is_some_and(|e| e.dst_addr.0 == [0xff; 6])
}

/// A broadcast ARP request ([`is_resolution`]) for `target` sent by `sender_mac` on `segment` in
/// the `window` before `at`.
fn arp_for_before(
    t: &Trace,
    segment: &str,
    sender_mac: [u8; 6],
    target: Ipv4Addr,
    at: Duration,
    window: Duration,
) -> Option<usize> {
    t.arp()
        .filter(|(f, a)| {
            f.segment == segment
                && a.kind() == arp::Kind::Request
                && is_resolution(f)
                && a.source_hardware_addr.0 == sender_mac
                && a.target_protocol_addr == target
        })
        .find(|(f, _)| f.time <= at && at.saturating_sub(f.time) <= window)
        .map(|(f, _)| f.number)
}

/// ADDR-GIADDR-01: a reply with giaddr set goes to giaddr on port 67, never to the client by a server.
fn giaddr_01(t: &Trace) -> Outcome {
    let servers = server_hosts(t);
    let mut any = false;
    for (f, m) in t
        .bootp()
        .filter(|(_, m)| m.op == Op::BootReply && !m.giaddr.is_unspecified())
    {
        let (Some(ip), Some(udp)) = (&f.decoded.ipv4, &f.decoded.udp) else {
            continue;
        };
        let from_server = f
            .decoded
            .eth
            .as_ref()
            .is_some_and(|e| servers.contains(&t.names.mac(e.src_addr.0)));
        if !from_server {
            continue;
        }
        any = true;
        if ip.dst != m.giaddr || udp.dst_port != 67 {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "reply with giaddr {} sent to {}:{}",
                    m.giaddr, ip.dst, udp.dst_port
                ),
            );
        }
    }
    verdict(any)
}

fn server_hosts(t: &Trace) -> Vec<String> {
    let mut v = t.hosts_of_kind(RoleKind::DhcpServer);
    v.extend(t.hosts_of_kind(RoleKind::BootpServer));
    v
}

/// ADDR-BCAST-01: B = 1 -> limited broadcast, IP and Ethernet.
fn bcast_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, _) in client_link_replies(t).filter(|(_, m)| m.broadcast()) {
        any = true;
        if !is_bcast_shape(f) {
            return fail(
                &f.segment,
                f.number,
                "reply to a client with B set is not sent to 255.255.255.255 / ff:ff:ff:ff:ff:ff",
            );
        }
    }
    verdict(any)
}

/// ADDR-UNI-01: B = 0 -> unicast to yiaddr at chaddr, without ARPing for yiaddr first.
fn uni_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in
        client_link_replies(t).filter(|(_, m)| !m.broadcast() && !m.yiaddr.is_unspecified())
    {
        any = true;
        if !is_unicast_shape(f, m) {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "reply with B clear not unicast to yiaddr {} at chaddr",
                    m.yiaddr
                ),
            );
        }
        if let Some(src) = f.decoded.eth.as_ref().map(|e| e.src_addr.0) {
            if let Some(n) =
                arp_for_before(t, &f.segment, src, m.yiaddr, f.time, Duration::from_secs(3))
            {
                return fail(
                    &f.segment,
                    n,
                    format!("the sender ARPed for yiaddr {} before its reply", m.yiaddr),
                );
            }
        }
    }
    verdict(any)
}

/// ADDR-UNI-02: B = 0 replies have the unicast shape or the limited-broadcast shape, nothing else.
fn uni_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in client_link_replies(t).filter(|(_, m)| !m.broadcast()) {
        any = true;
        if !is_bcast_shape(f) && !is_unicast_shape(f, m) {
            return fail(
                &f.segment,
                f.number,
                "reply is neither unicast to yiaddr/chaddr nor limited broadcast",
            );
        }
    }
    verdict(any)
}

/// ADDR-ARP-01 (RFC 951 §4, Q164394), as the trace shows it: after replying to yiaddr, the
/// replying host never has to resolve yiaddr by a broadcast ARP request before it next sends to
/// it (it left an entry yiaddr -> chaddr). What decides is the host's first contact after the
/// reply: a broadcast request for yiaddr ([`is_resolution`]; a unicast probe of the entry is no
/// failure) before any IP frame other than BOOTP from it to yiaddr. An ARP long after the host
/// has talked to yiaddr (the entry aged out, the booted system went away) is not the reply's.
fn arp_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in client_link_replies(t).filter(|(_, m)| !m.yiaddr.is_unspecified()) {
        let Some(src) = f.decoded.eth.as_ref().map(|e| e.src_addr.0) else {
            continue;
        };
        any = true;
        let first_contact = t.frames.iter().find(|g| {
            if g.segment != f.segment || g.number <= f.number {
                return false;
            }
            if g.decoded.eth.as_ref().map(|e| e.src_addr.0) != Some(src) {
                return false;
            }
            let resolves = g.decoded.arp.as_ref().is_some_and(|a| {
                a.kind() == arp::Kind::Request && a.target_protocol_addr == m.yiaddr
            }) && is_resolution(g);
            let sends = g.decoded.ipv4.as_ref().is_some_and(|i| i.dst == m.yiaddr)
                && g.decoded.bootp().is_none();
            resolves || sends
        });
        if let Some(g) = first_contact.filter(|g| g.decoded.arp.is_some()) {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "{} ARPs for yiaddr {} it just replied to: no neighbour entry was left",
                    t.names.mac(src),
                    m.yiaddr
                ),
            );
        }
    }
    verdict(any)
}

/// ADDR-ARP-02 (Q164394): a TFTP read request from a freshly assigned yiaddr is answered with DATA
/// or OACK reaching that address. An ERROR reaching it counts as reached too: the boot host found
/// the client, and why it refused (a path, a missing file) is for the TFTP and SEC rules, not for
/// this one.
fn arp_02(t: &Trace) -> Outcome {
    let assigned: Vec<Ipv4Addr> = client_link_replies(t)
        .map(|(_, m)| m.yiaddr)
        .filter(|a| !a.is_unspecified())
        .collect();
    let mut any = false;
    for (f, p) in t.tftp() {
        let tftp::Packet::Rrq(_) = p else { continue };
        let Some(src) = f.decoded.ipv4.as_ref().map(|i| i.src) else {
            continue;
        };
        if !assigned.contains(&src) {
            continue;
        }
        any = true;
        let answered = t.tftp().any(|(g, q)| {
            g.segment == f.segment
                && g.number > f.number
                && matches!(
                    q,
                    tftp::Packet::Data { .. }
                        | tftp::Packet::Oack { .. }
                        | tftp::Packet::Error { .. }
                )
                && g.decoded.ipv4.as_ref().is_some_and(|i| i.dst == src)
        });
        if !answered {
            let arps = t
                .arp()
                .filter(|(g, a)| {
                    g.segment == f.segment
                        && a.kind() == arp::Kind::Request
                        && a.target_protocol_addr == src
                })
                .count();
            return fail(&f.segment, f.number, format!("RRQ from {src} never answered with DATA/OACK; {arps} ARP request(s) for {src} went unanswered"));
        }
    }
    verdict(any)
}

/// ADDR-NAK-01: with giaddr 0 a DHCPNAK is broadcast.
fn nak_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, _) in t
        .bootp()
        .filter(|(_, m)| m.message_type() == Some(MessageType::Nak) && m.giaddr.is_unspecified())
    {
        any = true;
        if f.decoded.ipv4.as_ref().map(|i| i.dst) != Some(Ipv4Addr::BROADCAST) {
            return fail(
                &f.segment,
                f.number,
                "DHCPNAK with giaddr 0 not sent to 255.255.255.255",
            );
        }
    }
    verdict(any)
}

/// ADDR-SRCMAC-01 (RFC 951 §5): a reply's Ethernet source is the MAC owning its IP source.
fn srcmac_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, _) in client_link_replies(t) {
        let (Some(eth), Some(ip)) = (&f.decoded.eth, &f.decoded.ipv4) else {
            continue;
        };
        let (Some(by_mac), Some(by_ip)) =
            (t.names.macs.get(&eth.src_addr.0), t.names.ips.get(&ip.src))
        else {
            continue;
        };
        any = true;
        if by_mac != by_ip {
            return fail(
                &f.segment,
                f.number,
                format!("reply from IP of {by_ip} carries the MAC of {by_mac}"),
            );
        }
    }
    verdict(any)
}

/// ADDR-CIADDR-01 (RFC 1542 §5.4, RFC 2131 §4.1): giaddr 0 and ciaddr set: the reply goes by
/// ordinary unicast to ciaddr, port 68 (a DHCPNAK is broadcast instead, ADDR-NAK-01).
fn ciaddr_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| {
        m.op == Op::BootReply
            && m.giaddr.is_unspecified()
            && !m.ciaddr.is_unspecified()
            && m.message_type() != Some(MessageType::Nak)
    }) {
        let Some(udp) = &f.decoded.udp else { continue };
        any = true;
        if ip_dst(f) != Some(m.ciaddr) || udp.dst_port != 68 {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "reply with ciaddr {} sent to {:?}:{}",
                    m.ciaddr,
                    ip_dst(f),
                    udp.dst_port
                ),
            );
        }
    }
    verdict(any)
}

/// ADDR-NAK-02 (RFC 2131 §4.3.2): a DHCPNAK sent through a relay has the broadcast bit set.
fn nak_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t
        .bootp()
        .filter(|(_, m)| m.message_type() == Some(MessageType::Nak) && !m.giaddr.is_unspecified())
    {
        any = true;
        if !m.broadcast() {
            return fail(
                &f.segment,
                f.number,
                "DHCPNAK to a relay without the broadcast bit",
            );
        }
    }
    verdict(any)
}

/// Replies a server sends to a relay: BOOTREPLY to port 67 with giaddr set.
fn to_relay(t: &Trace) -> impl Iterator<Item = (&Frame, &Message)> {
    t.bootp().filter(|(f, m)| {
        m.op == Op::BootReply
            && !m.giaddr.is_unspecified()
            && f.decoded.udp.as_ref().is_some_and(|u| u.dst_port == 67)
    })
}

/// ADDR-BFLAG-01 (RFC 1542 §5.4): a reply through a relay keeps the request's broadcast bit.
fn bflag_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in to_relay(t).filter(|(_, m)| m.message_type() != Some(MessageType::Nak)) {
        let Some((_, req)) = t
            .bootp()
            .filter(|(g, n)| {
                n.op == Op::BootRequest
                    && n.xid == m.xid
                    && n.chaddr == m.chaddr
                    && n.giaddr == m.giaddr
                    && maybe_before(g, f)
            })
            .last()
        else {
            continue;
        };
        any = true;
        if req.broadcast() != m.broadcast() {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "reply B={} to a request with B={}",
                    m.broadcast(),
                    req.broadcast()
                ),
            );
        }
    }
    verdict(any)
}

/// ADDR-RELAY-01 (RFC 1542 §4.1.2): a relay delivers on the client link by the same rules:
/// B = 1 limited broadcast; B = 0 unicast to yiaddr/chaddr or the broadcast fallback; port 68.
fn relay_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(f, m)| {
        m.op == Op::BootReply
            && !m.giaddr.is_unspecified()
            && f.decoded
                .udp
                .as_ref()
                .is_some_and(|u| u.src_port == 67 && u.dst_port == 68)
    }) {
        any = true;
        let ok = if m.broadcast() || m.message_type() == Some(MessageType::Nak) {
            is_bcast_shape(f)
        } else if !m.ciaddr.is_unspecified() {
            ip_dst(f) == Some(m.ciaddr) || is_bcast_shape(f)
        } else {
            is_unicast_shape(f, m) || is_bcast_shape(f)
        };
        if !ok {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "relayed reply with B={} delivered to {:?} at {}",
                    m.broadcast(),
                    ip_dst(f),
                    f.decoded
                        .eth
                        .as_ref()
                        .map(|e| t.names.mac(e.dst_addr.0))
                        .unwrap_or_default()
                ),
            );
        }
    }
    verdict(any)
}

/// ADDR-INFORM-01 (RFC 2131 §3.4, §4.3.5): the DHCPACK to a DHCPINFORM goes to the INFORM's
/// ciaddr (to giaddr first when relayed).
fn inform_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t
        .bootp()
        .filter(|(_, m)| m.message_type() == Some(MessageType::Ack))
    {
        let Some((_, inf)) = t
            .bootp()
            .filter(|(g, n)| {
                n.message_type() == Some(MessageType::Inform)
                    && n.xid == m.xid
                    && n.chaddr == m.chaddr
                    && maybe_before(g, f)
            })
            .last()
        else {
            continue;
        };
        any = true;
        let to_relay = f.decoded.udp.as_ref().is_some_and(|u| u.dst_port == 67);
        let want = if to_relay { m.giaddr } else { inf.ciaddr };
        if ip_dst(f) != Some(want) {
            return fail(
                &f.segment,
                f.number,
                format!("DHCPACK to an INFORM sent to {:?}, not {want}", ip_dst(f)),
            );
        }
    }
    verdict(any)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use bootlab_wire::bootp::code;
    use bootlab_wire::tftp::{Mode, Packet, Request};

    fn ack(xid: u32) -> Message {
        let q = client_msg(MessageType::Request, xid, CLIENT);
        server_msg(MessageType::Ack, &q, YIADDR)
    }

    const SUBNET_BCAST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 255);

    #[test]
    fn giaddr_01_wants_replies_to_the_relay() {
        let mut bad = relayed_dora(|_, _, _| {});
        let mut m = ack(0x5678);
        m.giaddr = RELAY_C_IP;
        bad.bootp(
            "servers",
            900,
            (SERVER, SERVER_IP, 67),
            (CLIENT, REMOTE_YIADDR, 68),
            &m,
        );
        pass_fail(giaddr_01, &relayed_dora(|_, _, _| {}).done(), &bad.done());
    }

    #[test]
    fn bcast_01_wants_limited_broadcast_for_b() {
        let ok = dora(|_, m| m.flags = 0x8000);
        let mut bad = dora(|_, _| {});
        let mut m = ack(1);
        m.flags = 0x8000;
        bad.bootp(
            "lan",
            900,
            (SERVER, SERVER_IP, 67),
            (BCAST, SUBNET_BCAST, 68),
            &m,
        );
        pass_fail(bcast_01, &ok.done(), &bad.done());
    }

    #[test]
    fn uni_01_and_arp_01_want_no_arp_for_yiaddr() {
        let mut bad = dora(|_, _| {});
        bad.arp(
            "lan",
            400,
            BCAST,
            arp::Repr::request(SERVER, SERVER_IP, YIADDR),
        );
        bad.bootp(
            "lan",
            500,
            (SERVER, SERVER_IP, 67),
            (CLIENT, YIADDR, 68),
            &ack(1),
        );
        pass_fail(uni_01, &dora(|_, _| {}).done(), &bad.done());
        pass_fail(arp_01, &dora(|_, _| {}).done(), &bad.done());
        // A unicast probe of the entry (the kernel confirming it after a transfer) is no failure.
        let mut probe = dora(|_, _| {});
        probe.arp(
            "lan",
            400,
            CLIENT,
            arp::Repr::request(SERVER, SERVER_IP, YIADDR),
        );
        probe.bootp(
            "lan",
            500,
            (SERVER, SERVER_IP, 67),
            (CLIENT, YIADDR, 68),
            &ack(1),
        );
        let probe = probe.done();
        assert_eq!(uni_01(&probe), uni_01(&dora(|_, _| {}).done()));
        assert_eq!(arp_01(&probe), arp_01(&dora(|_, _| {}).done()));
        // A broadcast ARP after the host has already sent IP to yiaddr (the entry aged out, the
        // booted system went away) is not the reply's fault.
        let mut late = dora(|_, _| {});
        late.udp(
            "lan",
            900,
            (SERVER, SERVER_IP, 69),
            (CLIENT, YIADDR, 2000),
            &[0, 3, 0, 1],
        );
        late.arp(
            "lan",
            60_000,
            BCAST,
            arp::Repr::request(SERVER, SERVER_IP, YIADDR),
        );
        assert_eq!(arp_01(&late.done()), Outcome::Pass);
    }

    #[test]
    fn uni_02_accepts_the_broadcast_fallback_only() {
        let mut ok = dora(|_, _| {});
        ok.bootp(
            "lan",
            900,
            (SERVER, SERVER_IP, 67),
            (BCAST, ALL, 68),
            &ack(1),
        );
        let mut bad = dora(|_, _| {});
        bad.bootp(
            "lan",
            900,
            (SERVER, SERVER_IP, 67),
            (BCAST, SUBNET_BCAST, 68),
            &ack(1),
        );
        pass_fail(uni_02, &ok.done(), &bad.done());
    }

    fn rrq() -> Packet {
        Packet::Rrq(Request {
            filename: "boot/rom.img".into(),
            mode: Mode::Octet,
            options: vec![],
        })
    }

    #[test]
    fn arp_02_wants_the_transfer_to_reach_yiaddr() {
        let mut ok = bootp_exchange(|_, _| {});
        ok.tftp(
            "lan",
            200,
            (CLIENT, YIADDR, 2000),
            (SERVER, SERVER_IP, 69),
            &rrq(),
        );
        let data = Packet::Data {
            block: 1,
            data: vec![0; 10],
        };
        ok.tftp(
            "lan",
            210,
            (SERVER, SERVER_IP, 3000),
            (CLIENT, YIADDR, 2000),
            &data,
        );
        let mut bad = bootp_exchange(|_, _| {});
        bad.tftp(
            "lan",
            200,
            (CLIENT, YIADDR, 2000),
            (SERVER, SERVER_IP, 69),
            &rrq(),
        );
        bad.arp(
            "lan",
            210,
            BCAST,
            arp::Repr::request(SERVER, SERVER_IP, YIADDR),
        );
        pass_fail(arp_02, &ok.done(), &bad.done());
        // A refusal that reaches the client is not an ARP-cache failure.
        let mut refused = bootp_exchange(|_, _| {});
        refused.tftp(
            "lan",
            200,
            (CLIENT, YIADDR, 2000),
            (SERVER, SERVER_IP, 69),
            &rrq(),
        );
        refused.tftp(
            "lan",
            210,
            (SERVER, SERVER_IP, 3000),
            (CLIENT, YIADDR, 2000),
            &Packet::Error {
                code: tftp::ErrorCode::AccessViolation,
                message: "absolute path outside the root".into(),
            },
        );
        assert_eq!(arp_02(&refused.done()), Outcome::Pass);
    }

    #[test]
    fn nak_01_wants_broadcast_naks() {
        let ok = dora(|t, m| {
            if t == MessageType::Ack {
                m.options_mut().set_message_type(MessageType::Nak)
            }
        });
        let mut bad = dora(|_, _| {});
        let q = client_msg(MessageType::Request, 1, CLIENT);
        let n = server_msg(MessageType::Nak, &q, ZERO);
        bad.bootp(
            "lan",
            900,
            (SERVER, SERVER_IP, 67),
            (CLIENT, YIADDR, 68),
            &n,
        );
        pass_fail(nak_01, &ok.done(), &bad.done());
    }

    #[test]
    fn srcmac_01_wants_the_mac_of_the_source_address() {
        let mut bad = dora(|_, _| {});
        bad.bootp(
            "lan",
            900,
            (RELAY_C, SERVER_IP, 67),
            (CLIENT, YIADDR, 68),
            &ack(1),
        );
        pass_fail(srcmac_01, &dora(|_, _| {}).done(), &bad.done());
    }

    #[test]
    fn ciaddr_01_wants_unicast_to_ciaddr() {
        let ok = dora(|t, m| {
            if t == MessageType::Request {
                m.ciaddr = YIADDR;
                m.options_mut().remove(code::SERVER_IDENTIFIER);
                m.options_mut().remove(code::REQUESTED_IP_ADDRESS);
            }
        });
        let mut bad = dora(|_, _| {});
        let mut m = ack(1);
        m.ciaddr = YIADDR;
        bad.bootp("lan", 900, (SERVER, SERVER_IP, 67), (BCAST, ALL, 68), &m);
        pass_fail(ciaddr_01, &ok.done(), &bad.done());
    }

    #[test]
    fn nak_02_wants_b_on_relayed_naks() {
        let edit = |b: u16| {
            move |leg: Leg, t: MessageType, m: &mut Message| {
                if t == MessageType::Ack && matches!(leg, Leg::Server | Leg::Delivered) {
                    m.options_mut().set_message_type(MessageType::Nak);
                    m.flags = b;
                }
            }
        };
        pass_fail(
            nak_02,
            &relayed_dora(edit(0x8000)).done(),
            &relayed_dora(edit(0)).done(),
        );
    }

    #[test]
    fn bflag_01_wants_the_request_b_bit() {
        let bad = relayed_dora(|leg, _, m| {
            if matches!(leg, Leg::Server | Leg::Delivered) {
                m.flags = 0x8000
            }
        });
        pass_fail(bflag_01, &relayed_dora(|_, _, _| {}).done(), &bad.done());
    }

    #[test]
    fn relay_01_wants_the_delivery_table() {
        let mut bad = relayed_dora(|_, _, _| {});
        let mut m = ack(0x5678);
        m.giaddr = RELAY_C_IP;
        let sb = Ipv4Addr::new(198, 51, 100, 255);
        bad.bootp(
            "clients",
            900,
            (RELAY_C, RELAY_C_IP, 67),
            (BCAST, sb, 68),
            &m,
        );
        pass_fail(relay_01, &relayed_dora(|_, _, _| {}).done(), &bad.done());
    }

    #[test]
    fn inform_01_wants_the_ack_at_ciaddr() {
        let mut ok = Kit::new();
        let mut inf = Message::new_dhcp(MessageType::Inform, 5, CLIENT);
        inf.ciaddr = YIADDR;
        ok.bootp("lan", 0, (CLIENT, YIADDR, 68), (BCAST, ALL, 67), &inf);
        let mut a = Message::new_reply(&inf);
        a.ciaddr = YIADDR;
        a.options_mut().set_message_type(MessageType::Ack);
        let mut bad = Kit::new();
        bad.trace = ok.trace.clone();
        ok.bootp("lan", 10, (SERVER, SERVER_IP, 67), (CLIENT, YIADDR, 68), &a);
        bad.bootp(
            "lan",
            10,
            (SERVER, SERVER_IP, 67),
            (CLIENT, Ipv4Addr::new(192, 0, 2, 9), 68),
            &a,
        );
        pass_fail(inform_01, &ok.done(), &bad.done());
    }
}

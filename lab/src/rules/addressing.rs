//! Checks of the checklist's ADDR group: reply addressing, the broadcast flag and ARP
//! (RFC 1542 §5.4, RFC 2131 §4.1, RFC 951 §4, KB Q164394).

use super::{fail, Check, Outcome};
use crate::trace::{Frame, Trace};
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

/// An ARP request for `target` sent by `sender_mac` on `segment` in the `window` before `at`.
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
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

fn server_hosts(t: &Trace) -> Vec<String> {
    let mut v = t.hosts_of_kind("dhcp-server");
    v.extend(t.hosts_of_kind("bootp-server"));
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
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
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
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
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
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

/// ADDR-ARP-01 (RFC 951 §4, Q164394), as the trace shows it: after replying to yiaddr, the
/// replying host never has to ARP for yiaddr (it left an entry yiaddr -> chaddr).
fn arp_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in client_link_replies(t).filter(|(_, m)| !m.yiaddr.is_unspecified()) {
        let Some(src) = f.decoded.eth.as_ref().map(|e| e.src_addr.0) else {
            continue;
        };
        any = true;
        let later = t.arp().find(|(g, a)| {
            g.segment == f.segment
                && g.number > f.number
                && a.kind() == arp::Kind::Request
                && a.source_hardware_addr.0 == src
                && a.target_protocol_addr == m.yiaddr
        });
        if let Some((g, _)) = later {
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
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

/// ADDR-ARP-02 (Q164394): a TFTP read request from a freshly assigned yiaddr is answered with DATA
/// or OACK reaching that address.
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
                && matches!(q, tftp::Packet::Data { .. } | tftp::Packet::Oack { .. })
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
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
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
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
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
    if any {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

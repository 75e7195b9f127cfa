//! Hand-built traces for the group files' tests.

use crate::judge::trace::{Clock, Frame, Names, RoleInfo, Trace};
use crate::plan::role_kind::RoleKind;
use bootlab_wire::arp;
use bootlab_wire::bootp::{code, Message, MessageType, Op};
use bootlab_wire::frame::{build_arp, build_udp, Decoder};
use bootlab_wire::tftp;
use std::net::Ipv4Addr;
use std::time::Duration;

pub(crate) const BCAST: [u8; 6] = [0xff; 6];
pub(crate) const CLIENT: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub(crate) const CLIENT2: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub(crate) const SERVER: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
pub(crate) const SQUATTER: [u8; 6] = [2, 0, 0, 0, 0, 0x11];
pub(crate) const RELAY_C: [u8; 6] = [2, 0, 0, 0, 0, 0x20];
pub(crate) const RELAY_S: [u8; 6] = [2, 0, 0, 0, 0, 0x21];
pub(crate) const SERVER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub(crate) const RELAY_C_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub(crate) const RELAY_S_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
pub(crate) const YIADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
pub(crate) const REMOTE_YIADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 100);
pub(crate) const ZERO: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
pub(crate) const ALL: Ipv4Addr = Ipv4Addr::BROADCAST;

/// One end of a UDP datagram: MAC, address, port.
pub(crate) type End = ([u8; 6], Ipv4Addr, u16);

/// A trace under construction: frames are emitted, decoded per segment and numbered.
pub(crate) struct Kit {
    pub(crate) trace: Trace,
    decoders: Vec<(String, Decoder)>,
}

impl Kit {
    /// Hosts client, client2, server, squatter and router (a relay), roles of those kinds.
    pub(crate) fn new() -> Kit {
        let mut names = Names::default();
        for (mac, name) in [
            (CLIENT, "client"),
            (CLIENT2, "client2"),
            (SERVER, "server"),
            (SQUATTER, "squatter"),
            (RELAY_C, "router"),
            (RELAY_S, "router"),
        ] {
            names.macs.insert(mac, name.to_string());
        }
        for (ip, name) in [
            (SERVER_IP, "server"),
            (RELAY_C_IP, "router"),
            (RELAY_S_IP, "router"),
        ] {
            names.ips.insert(ip, name.to_string());
        }
        let mut trace = Trace {
            names,
            ..Trace::default()
        };
        for (role, kind, host) in [
            ("dhcpd", RoleKind::DhcpServer, "server"),
            ("relay", RoleKind::Relay, "router"),
            ("client", RoleKind::DhcpClient, "client"),
            ("tftpd", RoleKind::TftpServer, "server"),
        ] {
            trace.roles.insert(
                role.into(),
                RoleInfo {
                    kind,
                    host: host.to_string(),
                    clock: Clock::Scaled(1.0),
                    started: None,
                    ready: None,
                    start_wait: None,
                    start_delay_by_lab: false,
                    secs_threshold: None,
                },
            );
        }
        Kit {
            trace,
            decoders: Vec::new(),
        }
    }

    /// Adds a raw Ethernet frame at `ms` milliseconds.
    pub(crate) fn raw(&mut self, seg: &str, ms: u64, bytes: &[u8]) -> &mut Kit {
        if !self.decoders.iter().any(|(s, _)| s == seg) {
            self.decoders.push((seg.to_string(), Decoder::default()));
        }
        let Some((_, dec)) = self.decoders.iter_mut().find(|(s, _)| s == seg) else {
            return self;
        };
        let decoded = dec.decode(bytes);
        let number = self
            .trace
            .frames
            .iter()
            .filter(|f| f.segment == seg)
            .count()
            + 1;
        self.trace.frames.push(Frame {
            segment: seg.to_string(),
            number,
            time: Duration::from_millis(ms),
            decoded,
        });
        self
    }

    /// Adds a UDP datagram.
    pub(crate) fn udp(
        &mut self,
        seg: &str,
        ms: u64,
        src: End,
        dst: End,
        payload: &[u8],
    ) -> &mut Kit {
        let bytes = build_udp(src.0, dst.0, src.1, dst.1, src.2, dst.2, payload);
        self.raw(seg, ms, &bytes)
    }

    /// Adds a BOOTP/DHCP message.
    pub(crate) fn bootp(
        &mut self,
        seg: &str,
        ms: u64,
        src: End,
        dst: End,
        m: &Message,
    ) -> &mut Kit {
        self.udp(seg, ms, src, dst, &m.emit())
    }

    /// Adds an ARP packet.
    pub(crate) fn arp(&mut self, seg: &str, ms: u64, dst_mac: [u8; 6], a: arp::Repr) -> &mut Kit {
        let bytes = build_arp(a.source_hardware_addr, dst_mac, &a);
        self.raw(seg, ms, &bytes)
    }

    /// Adds a TFTP packet.
    pub(crate) fn tftp(
        &mut self,
        seg: &str,
        ms: u64,
        src: End,
        dst: End,
        p: &tftp::Packet,
    ) -> &mut Kit {
        self.udp(seg, ms, src, dst, &p.emit())
    }

    /// Adds an event a role printed (`fields` as the daemon prints them).
    pub(crate) fn event(&mut self, role: &str, name: &str, fields: serde_json::Value) -> &mut Kit {
        self.trace.events.push(crate::judge::trace::RoleEvent {
            role: role.to_string(),
            name: name.to_string(),
            fields,
        });
        self
    }

    /// The finished trace.
    pub(crate) fn done(&self) -> Trace {
        self.trace.clone()
    }
}

/// A client message of type `t` with the options clients usually send.
pub(crate) fn client_msg(t: MessageType, xid: u32, mac: [u8; 6]) -> Message {
    let mut m = Message::new_dhcp(t, xid, mac);
    if matches!(t, MessageType::Discover | MessageType::Request) {
        let o = m.options_mut();
        o.set_u16(code::MAXIMUM_DHCP_MESSAGE_SIZE, 1500);
        o.push(code::PARAMETER_REQUEST_LIST, vec![1, 3, 6, 51, 58, 59]);
    }
    m
}

/// A server reply of type `t` to `req`, offering `yiaddr` from `SERVER_IP`.
pub(crate) fn server_msg(t: MessageType, req: &Message, yiaddr: Ipv4Addr) -> Message {
    let mut m = Message::new_reply(req);
    let o = m.options_mut();
    o.set_message_type(t);
    o.set_ip(code::SERVER_IDENTIFIER, SERVER_IP);
    if t != MessageType::Nak {
        m.yiaddr = yiaddr;
        let o = m.options_mut();
        o.set_u32(code::IP_ADDRESS_LEASE_TIME, 600);
        o.set_u32(code::RENEWAL_TIME_VALUE, 300);
        o.set_u32(code::REBINDING_TIME_VALUE, 525);
        o.set_ip(code::SUBNET_MASK, Ipv4Addr::new(255, 255, 255, 0));
    }
    if t == MessageType::Ack {
        m.ciaddr = req.ciaddr;
    }
    m
}

/// Where a reply to `m` goes on the client's link (RFC 2131 §4.1).
pub(crate) fn reply_dst(m: &Message) -> End {
    if m.message_type() == Some(MessageType::Nak) || m.broadcast() {
        (BCAST, ALL, 68)
    } else if !m.ciaddr.is_unspecified() {
        (m.chaddr_mac(), m.ciaddr, 68)
    } else {
        (m.chaddr_mac(), m.yiaddr, 68)
    }
}

/// Where a client message goes: broadcast from 0.0.0.0, or from ciaddr.
pub(crate) fn request_src(m: &Message) -> End {
    (m.chaddr_mac(), m.ciaddr, 68)
}

/// DISCOVER, OFFER, REQUEST, ACK between CLIENT and SERVER on segment `lan` at 0, 100, 200,
/// 300 ms; `edit` changes each message before it is emitted.
pub(crate) fn dora(edit: impl Fn(MessageType, &mut Message)) -> Kit {
    let mut k = Kit::new();
    let xid = 0x1234;
    let mut d = client_msg(MessageType::Discover, xid, CLIENT);
    edit(MessageType::Discover, &mut d);
    k.bootp("lan", 0, request_src(&d), (BCAST, ALL, 67), &d);
    let mut o = server_msg(MessageType::Offer, &d, YIADDR);
    edit(MessageType::Offer, &mut o);
    k.bootp("lan", 100, (SERVER, SERVER_IP, 67), reply_dst(&o), &o);
    let mut r = client_msg(MessageType::Request, xid, CLIENT);
    r.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, YIADDR);
    r.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER_IP);
    edit(MessageType::Request, &mut r);
    k.bootp("lan", 200, request_src(&r), (BCAST, ALL, 67), &r);
    let mut a = server_msg(MessageType::Ack, &r, YIADDR);
    edit(MessageType::Ack, &mut a);
    k.bootp("lan", 300, (SERVER, SERVER_IP, 67), reply_dst(&a), &a);
    k
}

/// The hop of a relayed exchange a message is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leg {
    /// Client -> relay, segment `clients`.
    Client,
    /// Relay -> server, segment `servers`.
    Relayed,
    /// Server -> relay, segment `servers`.
    Server,
    /// Relay -> client, segment `clients`.
    Delivered,
}

/// DISCOVER/OFFER then REQUEST/ACK through the relay `router` (clients 198.51.100.1,
/// servers 192.0.2.254); each leg 10 ms after the previous; `edit` changes every copy.
pub(crate) fn relayed_dora(edit: impl Fn(Leg, MessageType, &mut Message)) -> Kit {
    let mut k = Kit::new();
    let xid = 0x5678;
    let mut ms = 0;
    for (ask, answer) in [
        (MessageType::Discover, MessageType::Offer),
        (MessageType::Request, MessageType::Ack),
    ] {
        let mut c = client_msg(ask, xid, CLIENT);
        if ask == MessageType::Request {
            c.options_mut()
                .set_ip(code::REQUESTED_IP_ADDRESS, REMOTE_YIADDR);
            c.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER_IP);
        }
        edit(Leg::Client, ask, &mut c);
        k.bootp("clients", ms, request_src(&c), (BCAST, ALL, 67), &c);
        let mut r = c.clone();
        r.hops += 1;
        r.giaddr = RELAY_C_IP;
        edit(Leg::Relayed, ask, &mut r);
        k.bootp(
            "servers",
            ms + 10,
            (RELAY_S, RELAY_S_IP, 67),
            (SERVER, SERVER_IP, 67),
            &r,
        );
        let mut s = server_msg(answer, &r, REMOTE_YIADDR);
        edit(Leg::Server, answer, &mut s);
        k.bootp(
            "servers",
            ms + 20,
            (SERVER, SERVER_IP, 67),
            (RELAY_S, RELAY_C_IP, 67),
            &s,
        );
        let mut d = s.clone();
        edit(Leg::Delivered, answer, &mut d);
        let dst = reply_dst(&d);
        k.bootp("clients", ms + 30, (RELAY_C, RELAY_C_IP, 67), dst, &d);
        ms += 100;
    }
    k
}

/// A BOOTP request from CLIENT and its BOOTREPLY from SERVER (no option 53).
pub(crate) fn bootp_exchange(edit: impl Fn(Op, &mut Message)) -> Kit {
    let mut k = Kit::new();
    let mut q = Message::new_request(0x99, CLIENT);
    edit(Op::BootRequest, &mut q);
    k.bootp("lan", 0, request_src(&q), (BCAST, ALL, 67), &q);
    let mut r = Message::new_reply(&q);
    r.yiaddr = YIADDR;
    r.siaddr = SERVER_IP;
    r.set_file("boot/rom.img");
    edit(Op::BootReply, &mut r);
    let dst = reply_dst(&r);
    k.bootp("lan", 100, (SERVER, SERVER_IP, 67), dst, &r);
    k
}

/// Asserts a check passes on `ok` and fails on `bad`.
pub(crate) fn pass_fail(check: super::Check, ok: &Trace, bad: &Trace) {
    assert_eq!(check(ok), super::Outcome::Pass, "expected pass");
    assert!(
        matches!(check(bad), super::Outcome::Fail(_)),
        "expected fail, got {:?}",
        check(bad)
    );
}

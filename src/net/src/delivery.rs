//! Reply delivery to a client that may have no address yet (RFC 951 §4, RFC 1542 §5.4,
//! RFC 2131 §4.1). Shared by the server and the relay.
//!
//! The pure half is [`server_destination`] / [`client_destination`]: given a reply and a
//! [`ReplyPolicy`] they say where the reply goes as a [`Destination`]. The I/O half,
//! [`Deliverer`], carries a [`Destination`] out: an ordinary UDP send, a neighbour (ARP) entry
//! installed over rtnetlink before a unicast (what RFC 951 §4 calls "an ARP cache entry", the fix
//! for KB Q164394), or a raw Ethernet frame straight to `chaddr` over AF_PACKET.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use bootlab_wire::bootp::{self, Message, MessageType, Vendor, FLAG_BROADCAST};
use serde::Deserialize;

/// How a reply reaches a client that has no IP address yet (giaddr = 0, ciaddr = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplyPolicy {
    /// RFC 1542 §5.4 / RFC 2131 §4.1: broadcast when the client set the broadcast flag,
    /// otherwise unicast to yiaddr/chaddr (done through a neighbour entry).
    #[default]
    Rfc1542,
    /// Always install a neighbour entry yiaddr -> chaddr, then unicast (RFC 951 §4 option a).
    Neighbour,
    /// Always send a raw Ethernet frame to chaddr (no neighbour entry is left behind).
    Raw,
    /// Always broadcast to 255.255.255.255 (RFC 951 §4 option b, RFC 1542 §5.4 fallback).
    Broadcast,
}

impl std::str::FromStr for ReplyPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rfc1542" => Ok(Self::Rfc1542),
            "neighbour" | "neighbor" => Ok(Self::Neighbour),
            "raw" => Ok(Self::Raw),
            "broadcast" => Ok(Self::Broadcast),
            other => Err(format!(
                "unknown reply policy {other:?} (expected rfc1542, neighbour, raw or broadcast)"
            )),
        }
    }
}

/// Where one reply goes (RFC 1542 §5.4 / RFC 2131 §4.1 delivery table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Ordinary IP unicast through the kernel (which may ARP): a relay's giaddr on port 67, or a
    /// client's ciaddr on port 68.
    Unicast(SocketAddrV4),
    /// Limited broadcast 255.255.255.255 on the given port, Ethernet broadcast.
    Broadcast(u16),
    /// Unicast to `addr` after installing a neighbour entry `addr` -> `hwaddr` (RFC 951 §4).
    Neighbour {
        /// The client's new address (yiaddr) and port 68.
        addr: SocketAddrV4,
        /// The client's hardware address (chaddr).
        hwaddr: [u8; 6],
    },
    /// A raw Ethernet frame to `hwaddr` carrying an IP datagram to `addr`; no neighbour entry.
    Raw {
        /// The client's new address (yiaddr) and port 68.
        addr: SocketAddrV4,
        /// The client's hardware address (chaddr).
        hwaddr: [u8; 6],
    },
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unicast(a) => write!(f, "unicast {a}"),
            Self::Broadcast(p) => write!(f, "broadcast 255.255.255.255:{p}"),
            Self::Neighbour { addr, hwaddr } => {
                write!(f, "neighbour {addr} via {}", format_mac(hwaddr))
            }
            Self::Raw { addr, hwaddr } => write!(f, "raw {addr} to {}", format_mac(hwaddr)),
        }
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8]) -> String {
    // On every reply's event: without `format!` per octet.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(mac.len() * 3);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The DHCP message type (option 53) of a message, if it has one (RFC 2132 §9.6).
pub fn message_type(msg: &Message) -> Option<MessageType> {
    let Vendor::Options(opts) = &msg.vend else {
        return None;
    };
    let opt = opts
        .0
        .iter()
        .find(|o| o.code == bootp::code::DHCP_MESSAGE_TYPE)?;
    Some(match opt.data.first()? {
        1 => MessageType::Discover,
        2 => MessageType::Offer,
        3 => MessageType::Request,
        4 => MessageType::Decline,
        5 => MessageType::Ack,
        6 => MessageType::Nak,
        7 => MessageType::Release,
        8 => MessageType::Inform,
        n => MessageType::Unknown(*n),
    })
}

/// Where a server sends `reply` (RFC 1542 §5.4, RFC 2131 §4.1): to a relay's giaddr on port 67
/// when set, otherwise as [`client_destination`] says.
pub fn server_destination(policy: ReplyPolicy, reply: &Message) -> Destination {
    if !reply.giaddr.is_unspecified() {
        return Destination::Unicast(SocketAddrV4::new(reply.giaddr, bootp::SERVER_PORT));
    }
    client_destination(policy, reply)
}

/// Where a reply goes on the client's own link, ignoring giaddr (RFC 2131 §4.1 for a server,
/// RFC 1542 §4.1.2 for a relay): NAK -> broadcast; ciaddr known -> unicast to ciaddr; broadcast
/// flag -> broadcast; else per `policy` to yiaddr/chaddr. A hardware address that is not 6-byte
/// Ethernet, or a zero yiaddr, falls back to broadcast.
pub fn client_destination(policy: ReplyPolicy, reply: &Message) -> Destination {
    let port = bootp::CLIENT_PORT;
    if message_type(reply) == Some(MessageType::Nak) {
        return Destination::Broadcast(port);
    }
    if !reply.ciaddr.is_unspecified() {
        return Destination::Unicast(SocketAddrV4::new(reply.ciaddr, port));
    }
    let hwaddr = match (reply.htype, reply.hlen) {
        (1, 6) => {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&reply.chaddr[..6]);
            Some(mac)
        }
        _ => None,
    };
    let (Some(hwaddr), false) = (hwaddr, reply.yiaddr.is_unspecified()) else {
        return Destination::Broadcast(port);
    };
    let addr = SocketAddrV4::new(reply.yiaddr, port);
    match policy {
        ReplyPolicy::Broadcast => Destination::Broadcast(port),
        ReplyPolicy::Rfc1542 if reply.flags & FLAG_BROADCAST != 0 => Destination::Broadcast(port),
        ReplyPolicy::Rfc1542 | ReplyPolicy::Neighbour => Destination::Neighbour { addr, hwaddr },
        ReplyPolicy::Raw => Destination::Raw { addr, hwaddr },
    }
}

/// What delivery I/O can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The interface named in the configuration does not exist or has no usable address.
    #[error("interface {name}: {reason}")]
    Interface {
        /// Interface name.
        name: String,
        /// What is missing.
        reason: String,
    },
    /// A socket operation failed.
    #[error("{what} on {interface}: {source}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// Interface name.
        interface: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// rtnetlink refused the neighbour entry.
    #[error("neighbour entry {addr} -> {hwaddr} on {interface}: {reason}")]
    Neighbour {
        /// The address.
        addr: Ipv4Addr,
        /// The hardware address.
        hwaddr: String,
        /// Interface name.
        interface: String,
        /// The netlink error.
        reason: String,
    },
}

/// An IPv4 interface as the daemons need it: name, index, MAC and addresses with prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// Kernel interface index.
    pub index: u32,
    /// Ethernet address (zero when the link has none).
    pub mac: [u8; 6],
    /// IPv4 addresses with their prefix lengths, primary first.
    pub addrs: Vec<(Ipv4Addr, u8)>,
}

impl Interface {
    /// Looks `name` up in the current network namespace (getifaddrs + if_nametoindex).
    pub fn lookup(name: &str) -> Result<Self, DeliveryError> {
        let err = |reason: String| DeliveryError::Interface {
            name: name.into(),
            reason,
        };
        let index = nix::net::if_::if_nametoindex(name).map_err(|e| err(e.to_string()))?;
        let mut mac = [0u8; 6];
        let mut addrs = Vec::new();
        for ifa in nix::ifaddrs::getifaddrs().map_err(|e| err(e.to_string()))? {
            if ifa.interface_name != name {
                continue;
            }
            let Some(address) = ifa.address else { continue };
            if let Some(sin) = address.as_sockaddr_in() {
                let prefix = ifa
                    .netmask
                    .as_ref()
                    .and_then(|m| {
                        m.as_sockaddr_in()
                            .map(|m| u32::from(m.ip()).count_ones() as u8)
                    })
                    .unwrap_or(32);
                addrs.push((sin.ip(), prefix));
            } else if let Some(ll) = address.as_link_addr() {
                if let Some(a) = ll.addr() {
                    mac = a;
                }
            }
        }
        Ok(Self {
            name: name.into(),
            index,
            mac,
            addrs,
        })
    }

    /// The first IPv4 address, if any.
    pub fn primary(&self) -> Option<Ipv4Addr> {
        self.addrs.first().map(|(a, _)| *a)
    }
}

/// Receive buffer asked for by [`bind_udp`], bytes.
pub const RECV_BUFFER: usize = 4 << 20;

/// A UDP socket on `port`, bound to `interface` (SO_BINDTODEVICE) when given, with SO_BROADCAST
/// and SO_REUSEADDR, ready for tokio. Must be called in the namespace that owns the interface.
pub fn bind_udp(interface: Option<&str>, port: u16) -> io::Result<std::net::UdpSocket> {
    use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    socket::setsockopt(&fd, sockopt::Broadcast, &true)?;
    // Bursts of hundreds of requests must not overflow the default ~200 KiB receive buffer
    // (each datagram costs its skb, about 2 KiB); the forced size needs CAP_NET_ADMIN.
    if socket::setsockopt(&fd, sockopt::RcvBufForce, &RECV_BUFFER).is_err() {
        let _ = socket::setsockopt(&fd, sockopt::RcvBuf, &RECV_BUFFER);
    }
    if let Some(dev) = interface {
        socket::setsockopt(&fd, sockopt::BindToDevice, &std::ffi::OsString::from(dev))?;
    }
    socket::bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::new(0, 0, 0, 0, port),
    )?;
    Ok(std::net::UdpSocket::from(fd))
}

/// Neighbour entry state used by [`Destination::Neighbour`]: `reachable` ages like an entry
/// learnt by ARP (RFC 951 §4 "temporary"), `permanent` stays until removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NeighbourState {
    /// NUD_REACHABLE.
    #[default]
    Reachable,
    /// NUD_PERMANENT.
    Permanent,
}

/// Carries [`Destination`]s out on one interface: UDP socket, rtnetlink, AF_PACKET.
pub struct Deliverer {
    socket: Arc<tokio::net::UdpSocket>,
    interface: Interface,
    netlink: Option<rtnetlink::Handle>,
    raw: Option<bootlab_sys::packet::PacketSocket>,
    neighbour_state: NeighbourState,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("interface", &self.interface)
            .finish()
    }
}

impl Deliverer {
    /// A deliverer sending through `socket` (bound to `interface`). Opens an rtnetlink
    /// connection (spawned on the current tokio runtime) for neighbour entries.
    pub fn new(
        socket: Arc<tokio::net::UdpSocket>,
        interface: Interface,
        neighbour_state: NeighbourState,
    ) -> Self {
        let netlink = match rtnetlink::new_connection() {
            Ok((conn, handle, _)) => {
                tokio::spawn(conn);
                Some(handle)
            }
            Err(e) => {
                tracing::warn!("rtnetlink unavailable, neighbour delivery will fail: {e}");
                None
            }
        };
        // Protocol 0: the packet socket only sends, it never queues received frames.
        let raw = match bootlab_sys::packet::PacketSocket::bind(
            &interface.name,
            bootlab_sys::packet::EtherType::Other(0),
        ) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("AF_PACKET unavailable, raw delivery will fail: {e}");
                None
            }
        };
        Self {
            socket,
            interface,
            netlink,
            raw,
            neighbour_state,
        }
    }

    /// The interface this deliverer sends on.
    pub fn interface(&self) -> &Interface {
        &self.interface
    }

    /// Sends `payload` to `dest`; when a neighbour entry or raw frame cannot be made, falls back
    /// to a broadcast (RFC 1542 §5.4 allows it) and returns the error that forced the fallback.
    pub async fn send_or_broadcast(
        &self,
        dest: Destination,
        payload: &[u8],
    ) -> Result<Option<DeliveryError>, DeliveryError> {
        match self.send(dest, payload).await {
            Ok(()) => Ok(None),
            Err(e)
                if matches!(
                    dest,
                    Destination::Neighbour { .. } | Destination::Raw { .. }
                ) =>
            {
                let port = match dest {
                    Destination::Neighbour { addr, .. } | Destination::Raw { addr, .. } => {
                        addr.port()
                    }
                    _ => bootp::CLIENT_PORT,
                };
                self.send(Destination::Broadcast(port), payload).await?;
                Ok(Some(e))
            }
            Err(e) => Err(e),
        }
    }

    /// Sends `payload` (a BOOTP message) to `dest`.
    pub async fn send(&self, dest: Destination, payload: &[u8]) -> Result<(), DeliveryError> {
        let io = |what: &'static str| {
            let interface = self.interface.name.clone();
            move |source| DeliveryError::Io {
                what,
                interface,
                source,
            }
        };
        match dest {
            Destination::Unicast(addr) => {
                self.socket
                    .send_to(payload, addr)
                    .await
                    .map_err(io("send"))?;
            }
            Destination::Broadcast(port) => {
                let addr = SocketAddrV4::new(Ipv4Addr::BROADCAST, port);
                self.socket
                    .send_to(payload, addr)
                    .await
                    .map_err(io("broadcast"))?;
            }
            Destination::Neighbour { addr, hwaddr } => {
                self.add_neighbour(*addr.ip(), hwaddr).await?;
                self.socket
                    .send_to(payload, addr)
                    .await
                    .map_err(io("send"))?;
            }
            Destination::Raw { addr, hwaddr } => {
                self.send_raw(addr, hwaddr, payload)
                    .map_err(io("raw send"))?;
            }
        }
        Ok(())
    }

    /// Installs (or replaces) the neighbour entry `addr` -> `hwaddr` on this interface.
    pub async fn add_neighbour(
        &self,
        addr: Ipv4Addr,
        hwaddr: [u8; 6],
    ) -> Result<(), DeliveryError> {
        use rtnetlink::packet_route::neighbour::NeighbourState as Nud;
        let err = |reason: String| DeliveryError::Neighbour {
            addr,
            hwaddr: format_mac(&hwaddr),
            interface: self.interface.name.clone(),
            reason,
        };
        let Some(handle) = &self.netlink else {
            return Err(err("no rtnetlink connection".into()));
        };
        let state = match self.neighbour_state {
            NeighbourState::Reachable => Nud::Reachable,
            NeighbourState::Permanent => Nud::Permanent,
        };
        handle
            .neighbours()
            .add(self.interface.index, addr.into())
            .link_layer_address(&hwaddr)
            .state(state)
            .replace()
            .execute()
            .await
            .map_err(|e| err(e.to_string()))
    }

    /// Sends `payload` as an Ethernet/IPv4/UDP frame from this interface's MAC, address and
    /// port 67 straight to `hwaddr`, so no neighbour entry is needed or left (RFC 951 §4).
    fn send_raw(&self, addr: SocketAddrV4, hwaddr: [u8; 6], payload: &[u8]) -> io::Result<()> {
        let Some(raw) = &self.raw else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "no AF_PACKET socket",
            ));
        };
        let src = self.interface.primary().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let frame = bootlab_wire::frame::build_udp(
            self.interface.mac,
            hwaddr,
            src,
            *addr.ip(),
            bootp::SERVER_PORT,
            addr.port(),
            payload,
        );
        raw.send(&frame)
            .map(|_| ())
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_lower_case_hex_with_colons() {
        assert_eq!(
            format_mac(&[2, 0, 0xab, 0x0c, 0xff, 1]),
            "02:00:ab:0c:ff:01"
        );
        assert_eq!(format_mac(&[]), "");
    }
    use bootlab_wire::bootp::{DhcpOption, Op, Options};

    fn reply(flags: u16, ciaddr: [u8; 4], giaddr: [u8; 4], mt: Option<u8>) -> Message {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        let vend = match mt {
            Some(t) => Vendor::Options(Options(vec![DhcpOption {
                code: 53,
                data: vec![t],
            }])),
            None => Vendor::Raw(vec![0; 64]),
        };
        Message {
            op: Op::BootReply,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 1,
            secs: 0,
            flags,
            ciaddr: ciaddr.into(),
            yiaddr: Ipv4Addr::new(192, 0, 2, 10),
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: giaddr.into(),
            chaddr,
            sname: [0; 64],
            file: [0; 128],
            vend,
        }
    }

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 9];
    fn yi() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 10), 68)
    }

    #[test]
    fn relayed_reply_goes_to_giaddr_port_67() {
        let r = reply(0, [0; 4], [198, 51, 100, 1], Some(2));
        let d = server_destination(ReplyPolicy::Broadcast, &r);
        assert_eq!(
            d,
            Destination::Unicast("198.51.100.1:67".parse().expect("addr"))
        );
    }

    #[test]
    fn rfc1542_honours_broadcast_flag_else_neighbour() {
        let b = reply(FLAG_BROADCAST, [0; 4], [0; 4], None);
        assert_eq!(
            server_destination(ReplyPolicy::Rfc1542, &b),
            Destination::Broadcast(68)
        );
        let u = reply(0, [0; 4], [0; 4], None);
        assert_eq!(
            server_destination(ReplyPolicy::Rfc1542, &u),
            Destination::Neighbour {
                addr: yi(),
                hwaddr: MAC
            }
        );
    }

    #[test]
    fn policies_for_a_client_without_address() {
        let u = reply(FLAG_BROADCAST, [0; 4], [0; 4], Some(5));
        assert_eq!(
            client_destination(ReplyPolicy::Raw, &u),
            Destination::Raw {
                addr: yi(),
                hwaddr: MAC
            }
        );
        assert_eq!(
            client_destination(ReplyPolicy::Neighbour, &u),
            Destination::Neighbour {
                addr: yi(),
                hwaddr: MAC
            }
        );
        assert_eq!(
            client_destination(ReplyPolicy::Broadcast, &u),
            Destination::Broadcast(68)
        );
    }

    #[test]
    fn ciaddr_known_is_unicast_and_nak_is_broadcast() {
        let c = reply(0, [192, 0, 2, 10], [0; 4], Some(5));
        assert_eq!(
            client_destination(ReplyPolicy::Raw, &c),
            Destination::Unicast(yi())
        );
        let n = reply(0, [192, 0, 2, 10], [0; 4], Some(6));
        assert_eq!(
            client_destination(ReplyPolicy::Raw, &n),
            Destination::Broadcast(68)
        );
    }

    #[test]
    fn policy_names_parse() {
        assert_eq!(
            "neighbour".parse::<ReplyPolicy>(),
            Ok(ReplyPolicy::Neighbour)
        );
        assert!("arp".parse::<ReplyPolicy>().is_err());
    }
}

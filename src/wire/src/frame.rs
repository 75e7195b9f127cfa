//! Whole Ethernet frames: builders for everything the lab sends on a raw socket, and a
//! stateful [`Decoder`] (Ethernet -> ARP/RARP | IPv4 -> UDP -> BOOTP/DHCP | TFTP) whose output,
//! [`Decoded`], is plain data for the trace normalizer and the rule checks, serializable to JSON
//! and printable as a one-line summary.
//!
//! TFTP moves to ephemeral ports after the request to port 69 (RFC 1350 §4), so the decoder
//! remembers conversations the way Wireshark does: the client's address and port from the
//! RRQ/WRQ, and the server's address; the server's port is learnt from its first answer.

use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;

use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

use crate::ethernet::{self, ethertype, Address};
use crate::{arp, bootp, ipv4, nfs, oncrpc, tcp, tftp, udp, ChecksumPolicy, Deviation, Severity};

/// The UDP port of a PXE boot server (PXE 2.1 spec), which speaks the BOOTP format.
pub const PXE_BOOT_SERVER_PORT: u16 = 4011;

/// How many TFTP conversations the decoder remembers (oldest forgotten first).
pub const MAX_TFTP_CONVERSATIONS: usize = 256;

/// The addresses and ports of a UDP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpEndpoints {
    /// Ethernet source.
    pub src_mac: Address,
    /// Ethernet destination.
    pub dst_mac: Address,
    /// IPv4 source.
    pub src_ip: Ipv4Addr,
    /// IPv4 destination.
    pub dst_ip: Ipv4Addr,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
}

/// Deliberate malformations of the IPv4/UDP layers of a built frame (fault scenarios).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameFaults {
    /// Write this IPv4 header checksum instead of the right one.
    pub ip_checksum: Option<u16>,
    /// Write this IPv4 total length instead of the right one (the checksum covers it).
    pub ip_total_length: Option<u16>,
    /// Write this UDP checksum instead of the right one (0: "no checksum", RFC 768).
    pub udp_checksum: Option<u16>,
    /// Write this UDP length instead of the right one (the checksum is computed over it).
    pub udp_length: Option<u16>,
    /// IPv4 TTL instead of 64.
    pub ttl: Option<u8>,
}

impl UdpEndpoints {
    /// The same endpoints seen from the other side.
    pub fn reversed(&self) -> UdpEndpoints {
        UdpEndpoints {
            src_mac: self.dst_mac,
            dst_mac: self.src_mac,
            src_ip: self.dst_ip,
            dst_ip: self.src_ip,
            src_port: self.dst_port,
            dst_port: self.src_port,
        }
    }

    /// An Ethernet/IPv4/UDP frame around `payload`, lengths and checksums right.
    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        self.build_with(payload, &FrameFaults::default())
    }

    /// Like [`UdpEndpoints::build`] with deliberate malformations.
    pub fn build_with(&self, payload: &[u8], faults: &FrameFaults) -> Vec<u8> {
        let u = udp::Repr {
            src_port: self.src_port,
            dst_port: self.dst_port,
        };
        let mut datagram = u.emit(self.src_ip, self.dst_ip, payload);
        if let Some(l) = faults.udp_length {
            datagram[4..6].copy_from_slice(&l.to_be_bytes());
            let c = udp::checksum(self.src_ip, self.dst_ip, &datagram);
            datagram[6..8].copy_from_slice(&c.to_be_bytes());
        }
        if let Some(c) = faults.udp_checksum {
            datagram[6..8].copy_from_slice(&c.to_be_bytes());
        }
        let mut ip = ipv4::Repr::udp(self.src_ip, self.dst_ip, datagram.len());
        if let Some(t) = faults.ttl {
            ip.ttl = t;
        }
        let mut header = ip.emit();
        if let Some(l) = faults.ip_total_length {
            header[2..4].copy_from_slice(&l.to_be_bytes());
            header[10..12].copy_from_slice(&[0, 0]);
            let c = ipv4::checksum(&header);
            header[10..12].copy_from_slice(&c.to_be_bytes());
        }
        if let Some(c) = faults.ip_checksum {
            header[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let mut packet = header.to_vec();
        packet.extend_from_slice(&datagram);
        ethernet::Repr {
            src_addr: self.src_mac,
            dst_addr: self.dst_mac,
            ethertype: ethertype::IPV4,
        }
        .frame(&packet)
    }
}

/// An Ethernet/IPv4/UDP frame around `payload` with right lengths and checksums (RFC 894,
/// RFC 791, RFC 768).
#[allow(clippy::too_many_arguments)]
pub fn build_udp(
    src_mac: impl Into<Address>,
    dst_mac: impl Into<Address>,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Vec<u8> {
    UdpEndpoints {
        src_mac: src_mac.into(),
        dst_mac: dst_mac.into(),
        src_ip,
        dst_ip,
        src_port,
        dst_port,
    }
    .build(payload)
}

/// An Ethernet frame carrying `arp`, with EtherType 0x0806 or 0x8035 for RARP operations
/// (RFC 826, RFC 903).
pub fn build_arp(
    src_mac: impl Into<Address>,
    dst_mac: impl Into<Address>,
    arp: &arp::Repr,
) -> Vec<u8> {
    ethernet::Repr {
        src_addr: src_mac.into(),
        dst_addr: dst_mac.into(),
        ethertype: arp.ethertype(),
    }
    .frame(&arp.emit())
}

/// Whether a checksum was checked and what came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumStatus {
    /// Verified and right.
    Good,
    /// Verified and wrong (a deviation is listed).
    Bad,
    /// Not verified ([`ChecksumPolicy::Ignore`], or the datagram is truncated).
    Unverified,
    /// Zero: the sender computed none (UDP only, RFC 768).
    Absent,
}

/// The IPv4 header as on the wire (RFC 791 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ipv4 {
    /// Version (4).
    pub version: u8,
    /// Header length in bytes.
    pub header_len: usize,
    /// Type of service / DSCP+ECN.
    pub tos: u8,
    /// Total length as written.
    pub total_len: u16,
    /// Identification.
    pub ident: u16,
    /// The 3 flag bits (2 = DF, 1 = MF).
    pub flags: u8,
    /// Fragment offset in bytes.
    pub frag_offset: u32,
    /// Time to live.
    pub ttl: u8,
    /// Protocol number.
    pub protocol: u8,
    /// Header checksum as written.
    pub checksum: u16,
    /// Whether it was verified and right.
    pub checksum_status: ChecksumStatus,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
}

/// The UDP header as on the wire (RFC 768).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Udp {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Length field as written.
    pub length: u16,
    /// Checksum as written.
    pub checksum: u16,
    /// Whether it was verified and right.
    pub checksum_status: ChecksumStatus,
    /// Bytes of data decoded (bounded by the length field and the capture).
    pub payload_len: usize,
}

/// The application layer of a frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
pub enum App {
    /// No UDP payload to speak of (ARP, non-UDP, undecodable lower layers).
    None,
    /// BOOTP/DHCP on ports 67/68 (or 4011).
    Bootp(bootp::Message),
    /// TFTP on port 69 or a remembered conversation.
    Tftp(tftp::Packet),
    /// ONC RPC messages starting in a TCP segment of an RPC server's stream (portmapper, NFS, or
    /// a port a portmapper announced), in stream order.
    Rpc(Vec<oncrpc::Record>),
    /// A UDP payload of another protocol, or one its codec refused (see the deviations).
    Other {
        /// Payload length.
        len: usize,
    },
}

/// One decoded frame: each layer as plain data, and every deviation found, lowest layer first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decoded {
    /// Bytes in the frame.
    pub len: usize,
    /// The Ethernet header; `None` below 14 bytes.
    pub eth: Option<ethernet::Repr>,
    /// ARP or RARP.
    pub arp: Option<arp::Repr>,
    /// IPv4 header.
    pub ipv4: Option<Ipv4>,
    /// UDP header.
    pub udp: Option<Udp>,
    /// TCP header.
    pub tcp: Option<tcp::Repr>,
    /// BOOTP/DHCP, TFTP, RPC or other.
    pub app: App,
    /// Everything found wrong.
    pub deviations: Vec<Deviation>,
}

impl Decoded {
    /// The BOOTP/DHCP message, if the frame carries one.
    pub fn bootp(&self) -> Option<&bootp::Message> {
        match &self.app {
            App::Bootp(m) => Some(m),
            _ => None,
        }
    }

    /// The TFTP packet, if the frame carries one.
    pub fn tftp(&self) -> Option<&tftp::Packet> {
        match &self.app {
            App::Tftp(p) => Some(p),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TftpConversation {
    client: (Ipv4Addr, u16),
    server: Ipv4Addr,
    server_port: Option<u16>,
}

/// Decodes frames one after another, remembering TFTP conversations (RFC 1350 §4) and following
/// the TCP streams of RPC servers (RFC 5531 §11): to the portmapper's port 111, NFS's 2049, and
/// the ports portmapper replies announce.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    policy: ChecksumPolicy,
    tftp: VecDeque<TftpConversation>,
    rpc: oncrpc::Streams,
    rpc_servers: VecDeque<oncrpc::Endpoint>,
}

fn frame_deviation(field: &str, message: String, rule: &'static str) -> Deviation {
    Deviation {
        field: field.into(),
        offset: None,
        message,
        rule,
        severity: Severity::Error,
    }
}

impl Decoder {
    /// A decoder applying `policy` to IPv4 and UDP checksums.
    pub fn new(policy: ChecksumPolicy) -> Decoder {
        Decoder {
            policy,
            ..Decoder::default()
        }
    }

    /// Decodes one frame (never fails: what cannot be decoded is a deviation).
    pub fn decode(&mut self, frame: &[u8]) -> Decoded {
        let mut d = Decoded {
            len: frame.len(),
            eth: None,
            arp: None,
            ipv4: None,
            udp: None,
            tcp: None,
            app: App::None,
            deviations: Vec::new(),
        };
        let eth = match ethernet::Packet::new_checked(frame) {
            Ok(p) => p,
            Err(e) => {
                d.deviations
                    .push(frame_deviation("eth", e.to_string(), "IEEE 802.3"));
                return d;
            }
        };
        let er = ethernet::Repr::parse(&eth);
        d.eth = Some(er);
        match er.ethertype {
            ethertype::ARP | ethertype::RARP => {
                self.decode_arp(er.ethertype, eth.payload(), &mut d)
            }
            ethertype::IPV4 => self.decode_ipv4(eth.payload(), &mut d),
            _ => {}
        }
        d
    }

    fn decode_arp(&mut self, et: u16, payload: &[u8], d: &mut Decoded) {
        match arp::Repr::parse(payload) {
            Ok((r, devs)) => {
                d.deviations.extend(devs);
                if r.ethertype() != et && !matches!(r.operation, arp::Operation::Unknown(_)) {
                    d.deviations.push(frame_deviation(
                        "arp.opcode",
                        format!(
                            "operation {} in an EtherType 0x{et:04x} frame, expected 0x{:04x}",
                            u16::from(r.operation),
                            r.ethertype()
                        ),
                        "RFC 903",
                    ));
                }
                d.arp = Some(r);
            }
            Err(e) => d
                .deviations
                .push(frame_deviation("arp", e.to_string(), "RFC 826")),
        }
    }

    fn decode_ipv4(&mut self, payload: &[u8], d: &mut Decoded) {
        let p = match ipv4::Packet::new_checked(payload) {
            Ok(p) => p,
            Err(e) => {
                d.deviations
                    .push(frame_deviation("ip", e.to_string(), "RFC 791 §3.1"));
                return;
            }
        };
        let (_, devs) = match ipv4::Repr::parse(payload, self.policy) {
            Ok(x) => x,
            Err(e) => {
                d.deviations
                    .push(frame_deviation("ip", e.to_string(), "RFC 791 §3.1"));
                return;
            }
        };
        let bad = devs.iter().any(|x| x.field == "ip.checksum");
        d.deviations.extend(devs);
        d.ipv4 = Some(Ipv4 {
            version: p.version(),
            header_len: p.header_len(),
            tos: p.tos(),
            total_len: p.total_len(),
            ident: p.ident(),
            flags: p.flags(),
            frag_offset: u32::from(p.frag_offset()) * 8,
            ttl: p.ttl(),
            protocol: p.protocol(),
            checksum: p.checksum(),
            checksum_status: match (self.policy, bad) {
                (ChecksumPolicy::Ignore, _) => ChecksumStatus::Unverified,
                (_, true) => ChecksumStatus::Bad,
                (_, false) => ChecksumStatus::Good,
            },
            src: p.src_addr(),
            dst: p.dst_addr(),
        });
        if p.protocol() == ipv4::PROTOCOL_UDP && p.frag_offset() == 0 {
            self.decode_udp(p.src_addr(), p.dst_addr(), p.payload(), d);
        } else if p.protocol() == ipv4::PROTOCOL_TCP && p.frag_offset() == 0 {
            self.decode_tcp(p.src_addr(), p.dst_addr(), p.payload(), d);
        }
    }

    fn is_rpc_server(&self, e: oncrpc::Endpoint) -> bool {
        e.1 == nfs::PORTMAP_PORT || e.1 == nfs::NFS_PORT || self.rpc_servers.contains(&e)
    }

    fn decode_tcp(&mut self, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8], d: &mut Decoded) {
        let (r, devs) = match tcp::Repr::parse(payload) {
            Ok(x) => x,
            Err(e) => {
                d.deviations
                    .push(frame_deviation("tcp", e.to_string(), "RFC 9293 §3.1"));
                return;
            }
        };
        d.deviations.extend(devs);
        d.tcp = Some(r);
        let (from, to) = ((src, r.src_port), (dst, r.dst_port));
        if !self.is_rpc_server(from) && !self.is_rpc_server(to) {
            return;
        }
        let Ok(p) = tcp::Packet::new_checked(payload) else {
            return;
        };
        let (records, devs) = self.rpc.segment(from, to, r.seq, r.flags, p.payload());
        d.deviations.extend(devs);
        for rec in &records {
            let (Some(call), oncrpc::Body::Reply(reply)) = (rec.call, &rec.message.body) else {
                continue;
            };
            if let Some(port) = nfs::announced_port(call, reply) {
                let e = (src, port);
                if !self.rpc_servers.contains(&e) {
                    if self.rpc_servers.len() >= oncrpc::MAX_STREAMS {
                        self.rpc_servers.pop_front();
                    }
                    self.rpc_servers.push_back(e);
                }
            }
        }
        if !records.is_empty() {
            d.app = App::Rpc(records);
        }
    }

    fn decode_udp(&mut self, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8], d: &mut Decoded) {
        let (r, devs) = match udp::Repr::parse(payload, src, dst, self.policy) {
            Ok(x) => x,
            Err(e) => {
                d.deviations
                    .push(frame_deviation("udp", e.to_string(), "RFC 768"));
                return;
            }
        };
        let Ok(p) = udp::Packet::new_checked(payload) else {
            return;
        };
        let bad = devs.iter().any(|x| x.field == "udp.checksum");
        let truncated = p.len() as usize > payload.len();
        d.deviations.extend(devs);
        let data = p.payload();
        d.udp = Some(Udp {
            src_port: r.src_port,
            dst_port: r.dst_port,
            length: p.len(),
            checksum: p.checksum(),
            checksum_status: if p.checksum() == 0 {
                ChecksumStatus::Absent
            } else if self.policy == ChecksumPolicy::Ignore || truncated {
                ChecksumStatus::Unverified
            } else if bad {
                ChecksumStatus::Bad
            } else {
                ChecksumStatus::Good
            },
            payload_len: data.len(),
        });
        let (sp, dp) = (r.src_port, r.dst_port);
        if self.is_tftp(src, sp, dst, dp) {
            self.decode_tftp(src, sp, dst, dp, data, d);
        } else if [sp, dp].iter().any(|&x| {
            x == bootp::SERVER_PORT || x == bootp::CLIENT_PORT || x == PXE_BOOT_SERVER_PORT
        }) {
            match bootp::Message::parse(data) {
                Ok((m, devs)) => {
                    d.deviations.extend(devs);
                    d.app = App::Bootp(m);
                }
                Err(e) => {
                    d.deviations
                        .push(frame_deviation("bootp", e.to_string(), "RFC 951 §3"));
                    d.app = App::Other { len: data.len() };
                }
            }
        } else {
            d.app = App::Other { len: data.len() };
        }
    }

    /// Whether a datagram belongs to TFTP: to port 69, or within a remembered conversation.
    fn is_tftp(&mut self, src: Ipv4Addr, sp: u16, dst: Ipv4Addr, dp: u16) -> bool {
        if dp == tftp::SERVER_PORT {
            return true;
        }
        // A reply from port 69 itself (e.g. an ERROR) belongs to the conversation but does not
        // fix the server's transfer identifier.
        let server_matches = |c: &TftpConversation, ip: Ipv4Addr, port: u16| {
            (c.server == ip || c.server.is_broadcast())
                && (port == tftp::SERVER_PORT || c.server_port.is_none_or(|p| p == port))
        };
        for c in self.tftp.iter_mut() {
            let server_port = if c.client == (dst, dp) && server_matches(c, src, sp) {
                sp
            } else if c.client == (src, sp) && server_matches(c, dst, dp) {
                dp
            } else {
                continue;
            };
            if server_port != tftp::SERVER_PORT {
                c.server_port.get_or_insert(server_port);
            }
            return true;
        }
        // A datagram to or from a transfer's server TID on any other port is a stray of that
        // transfer (RFC 1350 §4: it is answered with ERROR 5), and still TFTP.
        self.tftp.iter().any(|c| {
            c.server_port
                .is_some_and(|p| (c.server, p) == (src, sp) || (c.server, p) == (dst, dp))
        })
    }

    fn decode_tftp(
        &mut self,
        src: Ipv4Addr,
        sp: u16,
        dst: Ipv4Addr,
        dp: u16,
        data: &[u8],
        d: &mut Decoded,
    ) {
        match tftp::Packet::parse(data) {
            Ok((p, devs)) => {
                if dp == tftp::SERVER_PORT
                    && matches!(p, tftp::Packet::Rrq(_) | tftp::Packet::Wrq(_))
                {
                    self.tftp.retain(|c| c.client != (src, sp));
                    if self.tftp.len() >= MAX_TFTP_CONVERSATIONS {
                        self.tftp.pop_front();
                    }
                    self.tftp.push_back(TftpConversation {
                        client: (src, sp),
                        server: dst,
                        server_port: None,
                    });
                }
                d.deviations.extend(devs);
                d.app = App::Tftp(p);
            }
            Err(e) => {
                d.deviations
                    .push(frame_deviation("tftp", e.to_string(), "RFC 1350 §5"));
                d.app = App::Other { len: data.len() };
            }
        }
    }
}

impl Serialize for tftp::Packet {
    /// `opcode` and its name, then the fields of that opcode.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Opt<'a> {
            name: &'a str,
            value: &'a str,
        }
        fn opts(o: &[tftp::TftpOption]) -> Vec<Opt<'_>> {
            o.iter()
                .map(|o| Opt {
                    name: &o.name,
                    value: &o.value,
                })
                .collect()
        }
        let mut st = s.serialize_struct("TftpPacket", 6)?;
        st.serialize_field("opcode", &self.opcode().value())?;
        let name = match self {
            tftp::Packet::Rrq(_) => "RRQ",
            tftp::Packet::Wrq(_) => "WRQ",
            tftp::Packet::Data { .. } => "DATA",
            tftp::Packet::Ack { .. } => "ACK",
            tftp::Packet::Error { .. } => "ERROR",
            tftp::Packet::Oack { .. } => "OACK",
        };
        st.serialize_field("opcode_name", name)?;
        match self {
            tftp::Packet::Rrq(r) | tftp::Packet::Wrq(r) => {
                st.serialize_field("filename", &r.filename)?;
                st.serialize_field("mode", r.mode.name())?;
                st.serialize_field("options", &opts(&r.options))?;
            }
            tftp::Packet::Data { block, data } => {
                st.serialize_field("block", block)?;
                st.serialize_field("data_len", &data.len())?;
            }
            tftp::Packet::Ack { block } => st.serialize_field("block", block)?,
            tftp::Packet::Error { code, message } => {
                st.serialize_field("error_code", &code.value())?;
                st.serialize_field("error_message", message)?;
            }
            tftp::Packet::Oack { options } => {
                st.serialize_field("options", &opts(options))?;
            }
        }
        st.end()
    }
}

/// An RPC message as text (`NFS3 LOOKUP "sbin"`, `NFS3 LOOKUP reply NFS3_OK`; a reply whose call
/// was not seen shows only its RPC status).
pub fn rpc_text(r: &oncrpc::Record) -> String {
    match (&r.message.body, r.call) {
        (oncrpc::Body::Call(c), _) => nfs::describe_call(c),
        (oncrpc::Body::Reply(rep), Some((p, v, n))) => nfs::describe_reply(p, v, n, rep),
        (oncrpc::Body::Reply(rep), None) => format!("RPC reply {}", rep.stat.name()),
    }
}

/// The RPC messages of one segment as one text, `; `-separated (trace lines, ladder labels).
pub fn rpc_records_text(records: &[oncrpc::Record]) -> String {
    records.iter().map(rpc_text).collect::<Vec<_>>().join(" ; ")
}

impl fmt::Display for Decoded {
    /// One line: MACs, then the addresses and ports, then the top layer's summary, e.g.
    /// `02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff 0.0.0.0:68 > 255.255.255.255:67 DHCPDISCOVER xid=...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(eth) = &self.eth else {
            return write!(f, "runt frame ({} bytes)", self.len);
        };
        write!(f, "{} > {}", eth.src_addr, eth.dst_addr)?;
        if let Some(a) = &self.arp {
            return write!(f, " {a}");
        }
        let Some(ip) = &self.ipv4 else {
            return match eth.ethertype {
                ethertype::ARP | ethertype::RARP | ethertype::IPV4 => {
                    write!(f, " ethertype 0x{:04x} undecodable", eth.ethertype)
                }
                t => write!(f, " ethertype 0x{t:04x} ({} bytes)", self.len),
            };
        };
        if let Some(t) = &self.tcp {
            write!(
                f,
                " {}:{} > {}:{} TCP {}",
                ip.src,
                t.src_port,
                ip.dst,
                t.dst_port,
                t.flags_text()
            )?;
            if let App::Rpc(records) = &self.app {
                for r in records {
                    write!(f, " {}", rpc_text(r))?;
                }
            }
            return Ok(());
        }
        let Some(u) = &self.udp else {
            return write!(f, " {} > {} ip proto {}", ip.src, ip.dst, ip.protocol);
        };
        write!(f, " {}:{} > {}:{}", ip.src, u.src_port, ip.dst, u.dst_port)?;
        match &self.app {
            App::Bootp(m) => write!(f, " {m}"),
            App::Tftp(p) => write!(f, " TFTP {p}"),
            _ => write!(f, " UDP ({} bytes)", u.payload_len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootp::{Message, MessageType};

    const ROM: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];
    const SRV: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const SRV_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const ROM_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

    fn discover_frame() -> Vec<u8> {
        let m = Message::new_dhcp(MessageType::Discover, 0x1234, ROM);
        build_udp(
            ROM,
            Address::BROADCAST,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            68,
            67,
            &m.emit(),
        )
    }

    #[test]
    fn dhcp_frame_round_trips() {
        let f = discover_frame();
        assert_eq!(f.len(), 14 + 20 + 8 + 300);
        let d = Decoder::default().decode(&f);
        assert!(d.deviations.is_empty(), "{:?}", d.deviations);
        let ip = d.ipv4.as_ref().expect("ipv4");
        assert_eq!(ip.checksum_status, ChecksumStatus::Good);
        assert_eq!(
            d.udp.as_ref().map(|u| u.checksum_status),
            Some(ChecksumStatus::Good)
        );
        assert_eq!(
            d.bootp().and_then(|m| m.message_type()),
            Some(MessageType::Discover)
        );
        assert_eq!(
            d.to_string(),
            "02:00:00:00:00:10 > ff:ff:ff:ff:ff:ff 0.0.0.0:68 > 255.255.255.255:67 DHCPDISCOVER xid=0x00001234 chaddr=02:00:00:00:00:10"
        );
        let json = serde_json::to_value(&d).expect("json");
        assert_eq!(json["app"]["protocol"], "bootp");
        assert_eq!(json["app"]["xid"], 0x1234);
        assert_eq!(json["udp"]["checksum_status"], "good");
        assert_eq!(json["eth"]["src_addr"], "02:00:00:00:00:10");
    }

    #[test]
    fn bad_checksums_are_reported_or_ignored_by_policy() {
        let m = Message::new_dhcp(MessageType::Offer, 1, ROM).emit();
        let ep = UdpEndpoints {
            src_mac: SRV.into(),
            dst_mac: ROM.into(),
            src_ip: SRV_IP,
            dst_ip: ROM_IP,
            src_port: 67,
            dst_port: 68,
        };
        let f = ep.build_with(
            &m,
            &FrameFaults {
                ip_checksum: Some(0xbeef),
                udp_checksum: Some(0x1234),
                ..FrameFaults::default()
            },
        );
        let d = Decoder::new(ChecksumPolicy::Verify).decode(&f);
        let fields: Vec<_> = d.deviations.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, vec!["ip.checksum", "udp.checksum"]);
        assert_eq!(
            d.udp.as_ref().map(|u| u.checksum_status),
            Some(ChecksumStatus::Bad)
        );
        let d = Decoder::new(ChecksumPolicy::Ignore).decode(&f);
        assert!(d.deviations.is_empty());
        assert_eq!(
            d.udp.as_ref().map(|u| u.checksum_status),
            Some(ChecksumStatus::Unverified)
        );
        let f = ep.build_with(
            &m,
            &FrameFaults {
                udp_checksum: Some(0),
                ..FrameFaults::default()
            },
        );
        let d = Decoder::default().decode(&f);
        assert!(d.deviations.is_empty());
        assert_eq!(
            d.udp.as_ref().map(|u| u.checksum_status),
            Some(ChecksumStatus::Absent)
        );
    }

    #[test]
    fn a_stray_datagram_to_a_server_tid_is_tftp() {
        let (c, srv) = (Ipv4Addr::new(192, 0, 2, 50), Ipv4Addr::new(192, 0, 2, 1));
        let (cm, sm) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let mut d = Decoder::new(ChecksumPolicy::Verify);
        let rrq = tftp::Packet::Rrq(tftp::Request {
            filename: "f".into(),
            mode: tftp::Mode::Octet,
            options: vec![],
        });
        d.decode(&build_udp(cm, sm, c, srv, 2000, 69, &rrq.emit()));
        let data = tftp::Packet::Data {
            block: 1,
            data: vec![0; 512],
        };
        d.decode(&build_udp(sm, cm, srv, c, 3000, 2000, &data.emit()));
        let stray = d.decode(&build_udp(
            cm,
            sm,
            c,
            srv,
            2001,
            3000,
            &tftp::Packet::Ack { block: 1 }.emit(),
        ));
        assert!(
            stray.tftp().is_some(),
            "ACK from another port to the server TID"
        );
        let err = tftp::Packet::Error {
            code: tftp::ErrorCode::UnknownTid,
            message: "x".into(),
        };
        let answer = d.decode(&build_udp(sm, cm, srv, c, 3000, 2001, &err.emit()));
        assert!(matches!(answer.tftp(), Some(tftp::Packet::Error { .. })));
    }

    #[test]
    fn tftp_conversation_is_followed_onto_ephemeral_ports() {
        let rom = UdpEndpoints {
            src_mac: ROM.into(),
            dst_mac: SRV.into(),
            src_ip: ROM_IP,
            dst_ip: SRV_IP,
            src_port: 2070,
            dst_port: 69,
        };
        let rrq = tftp::Packet::Rrq(tftp::Request {
            filename: "boot/rom.img".into(),
            mode: tftp::Mode::Octet,
            options: vec![],
        });
        let mut dec = Decoder::default();
        let d = dec.decode(&rom.build(&rrq.emit()));
        assert!(matches!(d.tftp(), Some(tftp::Packet::Rrq(_))));
        // A packet from port 69 itself belongs to the conversation without fixing the TID.
        let from69 = rom.reversed().build(&tftp::Packet::Ack { block: 0 }.emit());
        assert!(dec.decode(&from69).tftp().is_some());
        let mut srv = rom.reversed();
        srv.src_port = 40000;
        let data = tftp::Packet::emit_data(1, &[0u8; 512]);
        let d = dec.decode(&srv.build(&data));
        assert!(
            matches!(d.tftp(), Some(tftp::Packet::Data { block: 1, .. })),
            "{d}"
        );
        assert!(d.to_string().ends_with("TFTP DATA 1 (512)"), "{d}");
        let mut ack = rom;
        ack.dst_port = 40000;
        let d = dec.decode(&ack.build(&tftp::Packet::Ack { block: 1 }.emit()));
        assert!(matches!(d.tftp(), Some(tftp::Packet::Ack { block: 1 })));
        // Another server port for the same client is not this conversation.
        srv.src_port = 40001;
        let d = dec.decode(&srv.build(&data));
        assert_eq!(d.app, App::Other { len: 516 });
        // A fresh decoder knows nothing about the conversation.
        srv.src_port = 40000;
        let d = Decoder::default().decode(&srv.build(&data));
        assert_eq!(d.app, App::Other { len: 516 });
    }

    #[test]
    fn arp_and_rarp_frames() {
        let probe = arp::Repr::probe(ROM, ROM_IP);
        let d = Decoder::default().decode(&build_arp(ROM, Address::BROADCAST, &probe));
        assert_eq!(d.arp, Some(probe));
        assert!(d.deviations.is_empty());
        assert_eq!(
            d.to_string(),
            "02:00:00:00:00:10 > ff:ff:ff:ff:ff:ff ARP probe who-has 192.0.2.10 from 02:00:00:00:00:10"
        );
        let rarp = arp::Repr::rarp_request(ROM);
        let f = build_arp(ROM, Address::BROADCAST, &rarp);
        assert_eq!(&f[12..14], &[0x80, 0x35]);
        let d = Decoder::default().decode(&f);
        assert_eq!(d.arp, Some(rarp));
        assert!(d.deviations.is_empty());
        let mut wrong = f.clone();
        wrong[12..14].copy_from_slice(&[0x08, 0x06]);
        let d = Decoder::default().decode(&wrong);
        assert_eq!(d.deviations.len(), 1);
        assert_eq!(d.deviations[0].rule, "RFC 903");
    }

    #[test]
    fn broken_lower_layers_are_deviations() {
        let f = discover_frame();
        let d = Decoder::default().decode(&f[..10]);
        assert!(d.eth.is_none());
        assert_eq!(d.to_string(), "runt frame (10 bytes)");
        let d = Decoder::default().decode(&f[..30]);
        assert_eq!(d.deviations[0].field, "ip");
        let d = Decoder::default().decode(&f[..14 + 20 + 8 + 200]);
        let fields: Vec<_> = d.deviations.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, vec!["ip.len", "udp.length", "bootp"]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn decoder_never_panics_on_arbitrary_frames(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..700)) {
            let d = Decoder::default().decode(&bytes);
            let _ = d.to_string();
            let _ = serde_json::to_string(&d);
        }

        #[test]
        fn decoder_never_panics_on_arbitrary_udp_payloads(
            port in proptest::sample::select(vec![67u16, 68, 69, 4011, 9]),
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..700),
        ) {
            let f = build_udp(ROM, SRV, ROM_IP, SRV_IP, 1000, port, &payload);
            let d = Decoder::default().decode(&f);
            let _ = d.to_string();
            let _ = serde_json::to_string(&d);
        }
    }

    fn tcp_frame(
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        seq: u32,
        flags: u8,
        data: &[u8],
    ) -> Vec<u8> {
        let seg = tcp::Repr {
            src_port: src.1,
            dst_port: dst.1,
            seq,
            ack: 0,
            flags,
            window: 1024,
            payload_len: data.len(),
        }
        .emit(data);
        let ip = ipv4::Repr {
            src_addr: src.0,
            dst_addr: dst.0,
            protocol: ipv4::PROTOCOL_TCP,
            payload_len: seg.len(),
            ttl: 64,
            ident: 1,
            dont_frag: true,
            tos: 0,
        };
        let mut packet = ip.emit().to_vec();
        packet.extend_from_slice(&seg);
        ethernet::Repr {
            src_addr: Address(ROM),
            dst_addr: Address(SRV),
            ethertype: ethertype::IPV4,
        }
        .frame(&packet)
    }

    fn record(m: &oncrpc::Message) -> Vec<u8> {
        let b = m.emit();
        let mut r = oncrpc::RecordMark {
            len: b.len() as u32,
            last: true,
        }
        .emit()
        .to_vec();
        r.extend_from_slice(&b);
        r
    }

    #[test]
    fn rpc_on_tcp_is_followed_to_the_port_the_portmapper_announces() {
        use crate::tcp::flags::{ACK, SYN};
        let mut dec = Decoder::default();
        let c = (ROM_IP, 900);
        let pm = (SRV_IP, 111);
        let call = |xid, prog, vers, proc_, args: Vec<u8>| oncrpc::Message {
            xid,
            body: oncrpc::Body::Call(oncrpc::Call {
                rpcvers: 2,
                prog,
                vers,
                proc_,
                cred: oncrpc::Auth { flavor: 0, len: 0 },
                args,
            }),
        };
        let reply = |xid, results: Vec<u8>| oncrpc::Message {
            xid,
            body: oncrpc::Body::Reply(oncrpc::Reply {
                stat: oncrpc::ReplyStat::Accepted(0),
                results,
            }),
        };
        assert_eq!(dec.decode(&tcp_frame(c, pm, 10, SYN, &[])).app, App::None);
        dec.decode(&tcp_frame(pm, c, 50, SYN | ACK, &[]));
        let getport = [100005u32, 3, 6, 0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let d = dec.decode(&tcp_frame(
            c,
            pm,
            11,
            ACK,
            &record(&call(7, 100000, 2, 3, getport)),
        ));
        assert_eq!(
            d.to_string().rsplit("TCP ").next(),
            Some("ACK PORTMAP2 GETPORT MOUNT3 tcp")
        );
        let d = dec.decode(&tcp_frame(
            pm,
            c,
            51,
            ACK,
            &record(&reply(7, vec![0, 0, 0x4e, 0x50])),
        ));
        assert!(
            d.to_string().ends_with("PORTMAP2 GETPORT reply port 20048"),
            "{d}"
        );
        // Port 20048 now speaks RPC.
        let mnt = (SRV_IP, 20048);
        let c2 = (ROM_IP, 901);
        dec.decode(&tcp_frame(c2, mnt, 0, SYN, &[]));
        let d = dec.decode(&tcp_frame(
            c2,
            mnt,
            1,
            ACK,
            &record(&call(8, 100005, 3, 1, vec![0, 0, 0, 1, b'/', 0, 0, 0])),
        ));
        assert!(d.to_string().ends_with("MOUNT3 MNT \"/\""), "{d}");
        // Another TCP port is left alone.
        let web = (SRV_IP, 80);
        dec.decode(&tcp_frame(c, web, 0, SYN, &[]));
        let d = dec.decode(&tcp_frame(
            c,
            web,
            1,
            ACK,
            &record(&call(9, 100005, 3, 1, vec![])),
        ));
        assert_eq!(d.app, App::None);
        assert!(d.tcp.is_some());
    }
}

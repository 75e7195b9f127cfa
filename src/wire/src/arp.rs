//! ARP (RFC 826) and RARP (RFC 903) for Ethernet and IPv4, with the RFC 5227 probe and
//! announcement shapes: a zero-copy [`Packet`] view and a [`Repr`].
//!
//! RARP uses the ARP packet format with opcodes 3 (request reverse) and 4 (reply reverse) and
//! EtherType 0x8035 (RFC 903); [`Repr::ethertype`] says which EtherType a message belongs in.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::ethernet::{self, Address};
use crate::{Deviation, Severity};

/// `ar$hrd` for Ethernet (RFC 826; IANA hardware type 1).
pub const HTYPE_ETHERNET: u16 = 1;
/// `ar$pro` for IPv4: the IPv4 EtherType (RFC 826).
pub const PTYPE_IPV4: u16 = 0x0800;
/// Length of an Ethernet/IPv4 ARP packet: 8 + 2 × (6 + 4).
pub const ETHERNET_IPV4_LEN: usize = 28;

mod field {
    use std::ops::Range;
    pub(super) const HTYPE: Range<usize> = 0..2;
    pub(super) const PTYPE: Range<usize> = 2..4;
    pub(super) const HLEN: usize = 4;
    pub(super) const PLEN: usize = 5;
    pub(super) const OPER: Range<usize> = 6..8;
    pub(super) const ADDRESSES: usize = 8;
}

/// `ar$op` (RFC 826; RFC 903 for 3 and 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// 1: ARP request.
    Request,
    /// 2: ARP reply.
    Reply,
    /// 3: RARP "request reverse" (RFC 903).
    RarpRequest,
    /// 4: RARP "reply reverse" (RFC 903).
    RarpReply,
    /// Any other value.
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Operation {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            3 => Operation::RarpRequest,
            4 => Operation::RarpReply,
            v => Operation::Unknown(v),
        }
    }
}

impl From<Operation> for u16 {
    fn from(o: Operation) -> u16 {
        match o {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::RarpRequest => 3,
            Operation::RarpReply => 4,
            Operation::Unknown(v) => v,
        }
    }
}

impl Serialize for Operation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(u16::from(*self))
    }
}

/// Why an ARP packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the fixed part plus the addresses `hlen`/`plen` announce.
    #[error(
        "ARP packet truncated: {len} bytes, {needed} needed for hlen {hlen} plen {plen} (RFC 826)"
    )]
    Truncated {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        needed: usize,
        /// `ar$hln`, when it could be read.
        hlen: u8,
        /// `ar$pln`, when it could be read.
        plen: u8,
    },
    /// Not Ethernet/IPv4 (`ar$hrd` 1, `ar$pro` 0x0800, `ar$hln` 6, `ar$pln` 4).
    #[error("ARP for htype {htype} ptype 0x{ptype:04x} hlen {hlen} plen {plen}: only Ethernet/IPv4 is decoded (RFC 826)")]
    Unsupported {
        /// `ar$hrd`.
        htype: u16,
        /// `ar$pro`.
        ptype: u16,
        /// `ar$hln`.
        hlen: u8,
        /// `ar$pln`.
        plen: u8,
    },
}

/// A read/write view of an ARP packet of any hardware/protocol sizes.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking it holds the fixed part and both address pairs.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let b = buffer.as_ref();
        let len = b.len();
        if len < field::ADDRESSES {
            return Err(Error::Truncated {
                len,
                needed: field::ADDRESSES,
                hlen: b.get(field::HLEN).copied().unwrap_or(0),
                plen: b.get(field::PLEN).copied().unwrap_or(0),
            });
        }
        let (hlen, plen) = (b[field::HLEN], b[field::PLEN]);
        let needed = field::ADDRESSES + 2 * (hlen as usize + plen as usize);
        if len < needed {
            return Err(Error::Truncated {
                len,
                needed,
                hlen,
                plen,
            });
        }
        Ok(Packet { buffer })
    }

    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// `ar$hrd`.
    pub fn hardware_type(&self) -> u16 {
        self.u16_at(field::HTYPE)
    }

    /// `ar$pro`.
    pub fn protocol_type(&self) -> u16 {
        self.u16_at(field::PTYPE)
    }

    /// `ar$hln`.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// `ar$pln`.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// `ar$op`.
    pub fn operation(&self) -> Operation {
        Operation::from(self.u16_at(field::OPER))
    }

    fn spans(&self) -> [std::ops::Range<usize>; 4] {
        let h = self.hardware_len() as usize;
        let p = self.protocol_len() as usize;
        let a = field::ADDRESSES;
        [
            a..a + h,
            a + h..a + h + p,
            a + h + p..a + 2 * h + p,
            a + 2 * h + p..a + 2 * (h + p),
        ]
    }

    /// `ar$sha`.
    pub fn source_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[self.spans()[0].clone()]
    }

    /// `ar$spa`.
    pub fn source_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[self.spans()[1].clone()]
    }

    /// `ar$tha`.
    pub fn target_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[self.spans()[2].clone()]
    }

    /// `ar$tpa`.
    pub fn target_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[self.spans()[3].clone()]
    }
}

/// What an Ethernet/IPv4 ARP or RARP message means (RFC 826, RFC 903, RFC 5227 §1.1, §2.1, §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Request with a sender address: who has `tpa`, tell `spa`.
    Request,
    /// RFC 5227 probe: a request with sender protocol address 0.0.0.0.
    Probe,
    /// RFC 5227 announcement (gratuitous ARP): a request or reply with `spa == tpa`.
    Announcement,
    /// Reply: `spa` is at `sha`.
    Reply,
    /// RARP request reverse: who am I (`tha`).
    RarpRequest,
    /// RARP reply reverse: `tha` is `tpa`.
    RarpReply,
    /// Unknown operation.
    Unknown,
}

/// An Ethernet/IPv4 ARP or RARP message (RFC 826 field names in words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Repr {
    /// `ar$op`.
    pub operation: Operation,
    /// `ar$sha`.
    pub source_hardware_addr: Address,
    /// `ar$spa`.
    pub source_protocol_addr: Ipv4Addr,
    /// `ar$tha`.
    pub target_hardware_addr: Address,
    /// `ar$tpa`.
    pub target_protocol_addr: Ipv4Addr,
}

fn ip4(b: &[u8]) -> Ipv4Addr {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    Ipv4Addr::from(a)
}

impl Repr {
    /// Decodes an Ethernet/IPv4 ARP or RARP packet, with deviations (RFC 826, RFC 903, RFC 5227).
    /// Extra bytes after the 28 (Ethernet padding) are ignored.
    pub fn parse(bytes: &[u8]) -> Result<(Repr, Vec<Deviation>), Error> {
        let p = Packet::new_checked(bytes)?;
        let (htype, ptype, hlen, plen) = (
            p.hardware_type(),
            p.protocol_type(),
            p.hardware_len(),
            p.protocol_len(),
        );
        if htype != HTYPE_ETHERNET || ptype != PTYPE_IPV4 || hlen != 6 || plen != 4 {
            return Err(Error::Unsupported {
                htype,
                ptype,
                hlen,
                plen,
            });
        }
        let r = Repr {
            operation: p.operation(),
            source_hardware_addr: Address::from_bytes(p.source_hardware_addr()).unwrap_or_default(),
            source_protocol_addr: ip4(p.source_protocol_addr()),
            target_hardware_addr: Address::from_bytes(p.target_hardware_addr()).unwrap_or_default(),
            target_protocol_addr: ip4(p.target_protocol_addr()),
        };
        let mut devs = Vec::new();
        if let Operation::Unknown(v) = r.operation {
            devs.push(Deviation {
                field: "arp.opcode".into(),
                offset: Some(field::OPER.start),
                message: format!("unknown operation {v}"),
                rule: "RFC 826; RFC 903",
                severity: Severity::Error,
            });
        }
        if r.kind() == Kind::Probe && r.target_hardware_addr != Address::ZERO {
            devs.push(Deviation {
                field: "arp.dst.hw_mac".into(),
                offset: Some(18),
                message: format!(
                    "probe with target hardware address {}, should be zero",
                    r.target_hardware_addr
                ),
                rule: "RFC 5227 §2.1.1",
                severity: Severity::Warning,
            });
        }
        if r.source_hardware_addr.is_multicast() {
            devs.push(Deviation {
                field: "arp.src.hw_mac".into(),
                offset: Some(8),
                message: format!(
                    "sender hardware address {} is a group address",
                    r.source_hardware_addr
                ),
                rule: "RFC 1812 §3.3.2",
                severity: Severity::Error,
            });
        }
        Ok((r, devs))
    }

    /// Who-has `tpa`, tell `spa` (RFC 826).
    pub fn request(sha: impl Into<Address>, spa: Ipv4Addr, tpa: Ipv4Addr) -> Repr {
        Repr {
            operation: Operation::Request,
            source_hardware_addr: sha.into(),
            source_protocol_addr: spa,
            target_hardware_addr: Address::ZERO,
            target_protocol_addr: tpa,
        }
    }

    /// `spa` is at `sha`, to `tha`/`tpa` (RFC 826).
    pub fn reply(
        sha: impl Into<Address>,
        spa: Ipv4Addr,
        tha: impl Into<Address>,
        tpa: Ipv4Addr,
    ) -> Repr {
        Repr {
            operation: Operation::Reply,
            source_hardware_addr: sha.into(),
            source_protocol_addr: spa,
            target_hardware_addr: tha.into(),
            target_protocol_addr: tpa,
        }
    }

    /// An address conflict probe for `candidate`: sender address 0.0.0.0, target hardware zero
    /// (RFC 5227 §2.1.1).
    pub fn probe(sha: impl Into<Address>, candidate: Ipv4Addr) -> Repr {
        Repr::request(sha, Ipv4Addr::UNSPECIFIED, candidate)
    }

    /// An announcement of `addr`: a request with sender and target protocol address both
    /// `addr` (RFC 5227 §2.3).
    pub fn announcement(sha: impl Into<Address>, addr: Ipv4Addr) -> Repr {
        Repr::request(sha, addr, addr)
    }

    /// A RARP request reverse for `sha` itself: source and target hardware address both `sha`,
    /// protocol addresses undefined (zero) (RFC 903).
    pub fn rarp_request(sha: impl Into<Address>) -> Repr {
        let sha = sha.into();
        Repr {
            operation: Operation::RarpRequest,
            source_hardware_addr: sha,
            source_protocol_addr: Ipv4Addr::UNSPECIFIED,
            target_hardware_addr: sha,
            target_protocol_addr: Ipv4Addr::UNSPECIFIED,
        }
    }

    /// A RARP reply reverse from server `sha`/`spa` telling `tha` that its address is `tpa`
    /// (RFC 903).
    pub fn rarp_reply(
        sha: impl Into<Address>,
        spa: Ipv4Addr,
        tha: impl Into<Address>,
        tpa: Ipv4Addr,
    ) -> Repr {
        Repr {
            operation: Operation::RarpReply,
            source_hardware_addr: sha.into(),
            source_protocol_addr: spa,
            target_hardware_addr: tha.into(),
            target_protocol_addr: tpa,
        }
    }

    /// What this message means (RFC 5227 shapes included).
    pub fn kind(&self) -> Kind {
        match self.operation {
            Operation::Request if self.source_protocol_addr.is_unspecified() => Kind::Probe,
            Operation::Request | Operation::Reply
                if self.source_protocol_addr == self.target_protocol_addr =>
            {
                Kind::Announcement
            }
            Operation::Request => Kind::Request,
            Operation::Reply => Kind::Reply,
            Operation::RarpRequest => Kind::RarpRequest,
            Operation::RarpReply => Kind::RarpReply,
            Operation::Unknown(_) => Kind::Unknown,
        }
    }

    /// The EtherType this message travels in: 0x8035 for RARP operations, else 0x0806.
    pub fn ethertype(&self) -> u16 {
        match self.operation {
            Operation::RarpRequest | Operation::RarpReply => ethernet::ethertype::RARP,
            _ => ethernet::ethertype::ARP,
        }
    }

    /// 28 bytes.
    pub fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Encodes the message (28 bytes).
    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ETHERNET_IPV4_LEN);
        out.extend_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        out.extend_from_slice(&PTYPE_IPV4.to_be_bytes());
        out.push(6);
        out.push(4);
        out.extend_from_slice(&u16::from(self.operation).to_be_bytes());
        out.extend_from_slice(&self.source_hardware_addr.0);
        out.extend_from_slice(&self.source_protocol_addr.octets());
        out.extend_from_slice(&self.target_hardware_addr.0);
        out.extend_from_slice(&self.target_protocol_addr.octets());
        out
    }
}

impl fmt::Display for Repr {
    /// tcpdump-like: `ARP who-has 192.0.2.10 tell 192.0.2.1`, `ARP probe who-has ...`,
    /// `ARP reply 192.0.2.10 is-at 02:...`, `RARP who-am-i 02:...`, `RARP reply 02:... is 192.0.2.10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sha, spa, tha, tpa) = (
            self.source_hardware_addr,
            self.source_protocol_addr,
            self.target_hardware_addr,
            self.target_protocol_addr,
        );
        match self.kind() {
            Kind::Probe => write!(f, "ARP probe who-has {tpa} from {sha}"),
            Kind::Announcement => write!(f, "ARP announcement {spa} is-at {sha}"),
            Kind::Request => write!(f, "ARP who-has {tpa} tell {spa} ({sha})"),
            Kind::Reply => write!(f, "ARP reply {spa} is-at {sha} to {tpa} ({tha})"),
            Kind::RarpRequest => write!(f, "RARP who-am-i {tha} from {sha}"),
            Kind::RarpReply => write!(f, "RARP reply {tha} is {tpa} from {spa} ({sha})"),
            Kind::Unknown => write!(
                f,
                "ARP op {} {sha} {spa} > {tha} {tpa}",
                u16::from(self.operation)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
    const IP_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const IP_B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

    // who-has 192.0.2.10 tell 192.0.2.1, as on the wire.
    const REQUEST: [u8; 28] = [
        0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 10,
    ];

    #[test]
    fn known_bytes_request() {
        let (r, devs) = Repr::parse(&REQUEST).expect("arp");
        assert!(devs.is_empty());
        assert_eq!(r, Repr::request(A, IP_A, IP_B));
        assert_eq!(r.kind(), Kind::Request);
        assert_eq!(r.emit(), REQUEST.to_vec());
        assert_eq!(
            r.to_string(),
            "ARP who-has 192.0.2.10 tell 192.0.2.1 (02:00:00:00:00:01)"
        );
    }

    #[test]
    fn every_kind_round_trips() {
        let all = [
            (Repr::request(A, IP_A, IP_B), Kind::Request, 0x0806),
            (Repr::reply(B, IP_B, A, IP_A), Kind::Reply, 0x0806),
            (Repr::probe(A, IP_B), Kind::Probe, 0x0806),
            (Repr::announcement(A, IP_B), Kind::Announcement, 0x0806),
            (Repr::rarp_request(A), Kind::RarpRequest, 0x8035),
            (Repr::rarp_reply(B, IP_A, A, IP_B), Kind::RarpReply, 0x8035),
        ];
        for (r, kind, et) in all {
            let bytes = r.emit();
            assert_eq!(bytes.len(), r.buffer_len());
            let (back, devs) = Repr::parse(&bytes).expect("arp");
            assert!(devs.is_empty(), "{devs:?}");
            assert_eq!(back, r);
            assert_eq!(back.kind(), kind);
            assert_eq!(back.ethertype(), et);
        }
    }

    #[test]
    fn padding_is_ignored_and_short_or_foreign_packets_fail() {
        let mut padded = REQUEST.to_vec();
        padded.extend_from_slice(&[0; 18]);
        assert!(Repr::parse(&padded).is_ok());
        assert!(matches!(
            Repr::parse(&REQUEST[..27]),
            Err(Error::Truncated { needed: 28, .. })
        ));
        let mut v6 = REQUEST.to_vec();
        v6[2] = 0x86;
        v6[3] = 0xdd;
        assert!(matches!(Repr::parse(&v6), Err(Error::Unsupported { .. })));
    }

    #[test]
    fn probe_with_target_hardware_address_is_flagged() {
        let mut r = Repr::probe(A, IP_B);
        r.target_hardware_addr = Address(B);
        let (_, devs) = Repr::parse(&r.emit()).expect("arp");
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].rule, "RFC 5227 §2.1.1");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            if let Ok((r, _)) = Repr::parse(&bytes) {
                let _ = r.to_string();
                proptest::prop_assert_eq!(r.emit(), bytes[..28].to_vec());
            }
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.source_hardware_addr(), p.target_protocol_addr());
            }
        }
    }
}

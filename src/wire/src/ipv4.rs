//! IPv4 headers (RFC 791 §3.1) with the header checksum (RFC 1071): a zero-copy [`Packet`]
//! view and a [`Repr`].

use std::net::Ipv4Addr;

use crate::{ChecksumPolicy, Deviation, Severity};

/// The header without options: 20 bytes (RFC 791 §3.1).
pub const HEADER_LEN: usize = 20;
/// IP protocol number of UDP (RFC 768).
pub const PROTOCOL_UDP: u8 = 17;
/// IP protocol number of TCP (RFC 9293).
pub const PROTOCOL_TCP: u8 = 6;
/// The default TTL our emitters use (RFC 1700 recommends 64).
pub const DEFAULT_TTL: u8 = 64;

mod field {
    use std::ops::Range;
    pub(super) const VER_IHL: usize = 0;
    pub(super) const TOS: usize = 1;
    pub(super) const LENGTH: Range<usize> = 2..4;
    pub(super) const IDENT: Range<usize> = 4..6;
    pub(super) const FLG_OFF: Range<usize> = 6..8;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: Range<usize> = 10..12;
    pub(super) const SRC_ADDR: Range<usize> = 12..16;
    pub(super) const DST_ADDR: Range<usize> = 16..20;
}

/// The Internet checksum (RFC 1071): one's complement of the one's complement sum of 16-bit
/// words, an odd last byte padded with zero.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// The unfolded one's complement sum of `data` as 16-bit big-endian words (RFC 1071 §4.1).
pub(crate) fn sum(data: &[u8]) -> u32 {
    let mut acc: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

/// Folds carries into 16 bits (RFC 1071 §4.1).
pub(crate) fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Why an IPv4 header could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Shorter than the 20-byte header, or than the header length IHL announces.
    #[error("IPv4 header truncated: {len} bytes, {needed} needed (RFC 791 §3.1)")]
    Truncated {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// Version field other than 4.
    #[error("IP version {0}, expected 4 (RFC 791 §3.1)")]
    Version(u8),
    /// IHL below 5.
    #[error("IPv4 IHL {0}, at least 5 needed (RFC 791 §3.1)")]
    HeaderLength(u8),
}

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking version 4, IHL >= 5 and a whole header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated {
                len: b.len(),
                needed: HEADER_LEN,
            });
        }
        let version = b[field::VER_IHL] >> 4;
        if version != 4 {
            return Err(Error::Version(version));
        }
        let ihl = b[field::VER_IHL] & 0x0f;
        if ihl < 5 {
            return Err(Error::HeaderLength(ihl));
        }
        if b.len() < ihl as usize * 4 {
            return Err(Error::Truncated {
                len: b.len(),
                needed: ihl as usize * 4,
            });
        }
        Ok(Packet { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        u16::from_be_bytes([self.b()[r.start], self.b()[r.start + 1]])
    }

    /// The version, 4.
    pub fn version(&self) -> u8 {
        self.b()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        (self.b()[field::VER_IHL] & 0x0f) as usize * 4
    }

    /// Type of service / DSCP and ECN.
    pub fn tos(&self) -> u8 {
        self.b()[field::TOS]
    }

    /// Total length as written.
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }

    /// The three flag bits (bit 1 DF, bit 0 MF).
    pub fn flags(&self) -> u8 {
        (self.b()[field::FLG_OFF.start] >> 5) & 0x7
    }

    /// Don't Fragment.
    pub fn dont_frag(&self) -> bool {
        self.flags() & 0b010 != 0
    }

    /// More Fragments.
    pub fn more_frags(&self) -> bool {
        self.flags() & 0b001 != 0
    }

    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        self.u16_at(field::FLG_OFF) & 0x1fff
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }

    /// Protocol number.
    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }

    /// The header checksum as written.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// The checksum the header should carry.
    pub fn computed_checksum(&self) -> u16 {
        let h = &self.b()[..self.header_len()];
        let acc = sum(&h[..field::CHECKSUM.start]) + sum(&h[field::CHECKSUM.end..]);
        !fold(acc)
    }

    /// Whether the header checksum is right.
    pub fn verify_checksum(&self) -> bool {
        fold(sum(&self.b()[..self.header_len()])) == 0xffff
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        let r = field::SRC_ADDR;
        Ipv4Addr::new(
            self.b()[r.start],
            self.b()[r.start + 1],
            self.b()[r.start + 2],
            self.b()[r.start + 3],
        )
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        let r = field::DST_ADDR;
        Ipv4Addr::new(
            self.b()[r.start],
            self.b()[r.start + 1],
            self.b()[r.start + 2],
            self.b()[r.start + 3],
        )
    }

    /// Header options bytes.
    pub fn options(&self) -> &[u8] {
        &self.b()[HEADER_LEN..self.header_len()]
    }

    /// The payload: bytes after the header up to the total length, cut to what is there.
    pub fn payload(&self) -> &[u8] {
        let end = (self.total_len() as usize).clamp(self.header_len(), self.b().len());
        &self.b()[self.header_len()..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Overwrites the header checksum.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Computes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        let c = self.computed_checksum();
        self.set_checksum(c);
    }
}

/// The IPv4 header fields the lab sets; everything else is emitted as zero.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol number (17 for UDP).
    pub protocol: u8,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// Type of service.
    pub tos: u8,
}

impl Repr {
    /// Decodes a header leniently: a wrong checksum (under [`ChecksumPolicy::Verify`]), a total
    /// length beyond the bytes captured or below the header, and fragments are deviations.
    pub fn parse(bytes: &[u8], policy: ChecksumPolicy) -> Result<(Repr, Vec<Deviation>), Error> {
        let p = Packet::new_checked(bytes)?;
        let mut devs = Vec::new();
        let total = p.total_len() as usize;
        if total > bytes.len() {
            devs.push(Deviation {
                field: "ip.len".into(),
                offset: Some(field::LENGTH.start),
                message: format!(
                    "total length {total} exceeds the {} bytes captured",
                    bytes.len()
                ),
                rule: "RFC 791 §3.1",
                severity: Severity::Error,
            });
        } else if total < p.header_len() {
            devs.push(Deviation {
                field: "ip.len".into(),
                offset: Some(field::LENGTH.start),
                message: format!(
                    "total length {total} is shorter than the {}-byte header",
                    p.header_len()
                ),
                rule: "RFC 791 §3.1",
                severity: Severity::Error,
            });
        }
        if policy == ChecksumPolicy::Verify && !p.verify_checksum() {
            devs.push(Deviation {
                field: "ip.checksum".into(),
                offset: Some(field::CHECKSUM.start),
                message: format!(
                    "header checksum 0x{:04x}, expected 0x{:04x}",
                    p.checksum(),
                    p.computed_checksum()
                ),
                rule: "RFC 791 §3.1",
                severity: Severity::Error,
            });
        }
        if p.more_frags() || p.frag_offset() != 0 {
            devs.push(Deviation {
                field: "ip.flags".into(),
                offset: Some(field::FLG_OFF.start),
                message: format!(
                    "fragment (offset {}, more fragments {})",
                    p.frag_offset() * 8,
                    p.more_frags()
                ),
                rule: "RFC 791 §2.3",
                severity: Severity::Warning,
            });
        }
        let r = Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: p.payload().len(),
            ttl: p.ttl(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            tos: p.tos(),
        };
        Ok((r, devs))
    }

    /// A UDP packet header with the defaults our emitters use (TTL 64, no DF).
    pub fn udp(src_addr: Ipv4Addr, dst_addr: Ipv4Addr, payload_len: usize) -> Repr {
        Repr {
            src_addr,
            dst_addr,
            protocol: PROTOCOL_UDP,
            payload_len,
            ttl: DEFAULT_TTL,
            ident: 0,
            dont_frag: false,
            tos: 0,
        }
    }

    /// 20 bytes (no options).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// The 20-byte header with total length and checksum computed.
    pub fn emit(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[field::VER_IHL] = 0x45;
        h[field::TOS] = self.tos;
        let total = (HEADER_LEN + self.payload_len).min(u16::MAX as usize) as u16;
        h[field::LENGTH].copy_from_slice(&total.to_be_bytes());
        h[field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
        if self.dont_frag {
            h[field::FLG_OFF.start] = 0x40;
        }
        h[field::TTL] = self.ttl;
        h[field::PROTOCOL] = self.protocol;
        h[field::SRC_ADDR].copy_from_slice(&self.src_addr.octets());
        h[field::DST_ADDR].copy_from_slice(&self.dst_addr.octets());
        let c = checksum(&h);
        h[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A UDP header from 0.0.0.0 to 255.255.255.255, 328 bytes, TTL 64, checksum 0x79a6.
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x01, 0x48, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, 0x79, 0xa6, 0, 0, 0, 0, 255,
        255, 255, 255,
    ];

    #[test]
    fn known_bytes_and_checksum() {
        let r = Repr::udp(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 308);
        let h = r.emit();
        assert_eq!(h, HEADER);
        let mut pkt = h.to_vec();
        pkt.resize(328, 0);
        let (back, devs) = Repr::parse(&pkt, ChecksumPolicy::Verify).expect("ipv4");
        assert!(devs.is_empty(), "{devs:?}");
        assert_eq!(back, r);
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example words 0001 f203 f4f5 f6f7 sum to 0xddf2.
        assert_eq!(
            fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])),
            0xddf2
        );
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    #[test]
    fn deviations() {
        let mut pkt = HEADER.to_vec();
        pkt[11] ^= 1;
        pkt[6] = 0x20;
        let (_, devs) = Repr::parse(&pkt, ChecksumPolicy::Verify).expect("ipv4");
        let f: Vec<_> = devs.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(f, vec!["ip.len", "ip.checksum", "ip.flags"]);
        let (_, devs) = Repr::parse(&pkt, ChecksumPolicy::Ignore).expect("ipv4");
        assert_eq!(devs.len(), 2);
        assert_eq!(
            Repr::parse(&pkt[..19], ChecksumPolicy::Verify).err(),
            Some(Error::Truncated {
                len: 19,
                needed: 20
            })
        );
        pkt[0] = 0x65;
        assert_eq!(
            Repr::parse(&pkt, ChecksumPolicy::Verify).err(),
            Some(Error::Version(6))
        );
        pkt[0] = 0x44;
        assert_eq!(
            Repr::parse(&pkt, ChecksumPolicy::Verify).err(),
            Some(Error::HeaderLength(4))
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..100)) {
            let _ = Repr::parse(&bytes, ChecksumPolicy::Verify);
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.payload(), p.options(), p.computed_checksum());
            }
        }
    }
}

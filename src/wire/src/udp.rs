//! UDP (RFC 768) with the pseudo-header checksum: a zero-copy [`Packet`] view and a [`Repr`].
//! A zero checksum means "none" and is accepted (RFC 768); checking is a [`ChecksumPolicy`]
//! because veth offload leaves checksums unfinished in captures (DESIGN.md).

use std::net::Ipv4Addr;

use crate::ipv4::{fold, sum, PROTOCOL_UDP};
use crate::{ChecksumPolicy, Deviation, Severity};

/// The UDP header: 8 bytes.
pub const HEADER_LEN: usize = 8;

mod field {
    use std::ops::Range;
    pub(super) const SRC_PORT: Range<usize> = 0..2;
    pub(super) const DST_PORT: Range<usize> = 2..4;
    pub(super) const LENGTH: Range<usize> = 4..6;
    pub(super) const CHECKSUM: Range<usize> = 6..8;
}

/// Why a UDP header could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Shorter than the 8-byte header.
    #[error("UDP header truncated: {len} bytes, 8 needed (RFC 768)")]
    Truncated {
        /// Bytes available.
        len: usize,
    },
}

/// The checksum of a UDP datagram (`header` with any checksum, then the payload) over the IPv4
/// pseudo-header (RFC 768); a computed 0 is sent as 0xffff.
pub fn checksum(src: Ipv4Addr, dst: Ipv4Addr, datagram: &[u8]) -> u16 {
    let mut acc = sum(&src.octets()) + sum(&dst.octets());
    acc += u32::from(PROTOCOL_UDP);
    acc += (datagram.len() as u32) & 0xffff;
    acc += sum(&datagram[..datagram.len().min(field::CHECKSUM.start)]);
    if datagram.len() > field::CHECKSUM.end {
        acc += sum(&datagram[field::CHECKSUM.end..]);
    }
    match !fold(acc) {
        0 => 0xffff,
        c => c,
    }
}

/// A read/write view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking it holds a header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated { len });
        }
        Ok(Packet { buffer })
    }

    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[r.start], b[r.start + 1]])
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }

    /// Length field as written (header plus data).
    pub fn len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    /// Whether the length field says there is no data.
    pub fn is_empty(&self) -> bool {
        self.len() as usize <= HEADER_LEN
    }

    /// Checksum as written.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// The datagram as the length field bounds it, cut to the bytes there.
    fn datagram(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = (self.len() as usize).clamp(HEADER_LEN, b.len());
        &b[..end]
    }

    /// The data: bytes after the header up to the length field, cut to what is there.
    pub fn payload(&self) -> &[u8] {
        &self.datagram()[HEADER_LEN..]
    }

    /// The checksum this datagram should carry between `src` and `dst`.
    pub fn computed_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        checksum(src, dst, self.datagram())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Overwrites the checksum.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
}

/// A UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl Repr {
    /// Decodes a header leniently: a length field beyond the bytes there or below 8, a length
    /// shorter than the IP payload, and a wrong non-zero checksum (under
    /// [`ChecksumPolicy::Verify`]) are deviations. `bytes` is the IP payload.
    pub fn parse(
        bytes: &[u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        policy: ChecksumPolicy,
    ) -> Result<(Repr, Vec<Deviation>), Error> {
        let p = Packet::new_checked(bytes)?;
        let mut devs = Vec::new();
        let len = p.len() as usize;
        let truncated = len > bytes.len();
        if truncated {
            devs.push(Deviation {
                field: "udp.length".into(),
                offset: Some(field::LENGTH.start),
                message: format!("length {len} exceeds the {} bytes available", bytes.len()),
                rule: "RFC 768",
                severity: Severity::Error,
            });
        } else if len < HEADER_LEN {
            devs.push(Deviation {
                field: "udp.length".into(),
                offset: Some(field::LENGTH.start),
                message: format!("length {len}, at least 8 expected"),
                rule: "RFC 768",
                severity: Severity::Error,
            });
        } else if len < bytes.len() {
            devs.push(Deviation {
                field: "udp.length".into(),
                offset: Some(field::LENGTH.start),
                message: format!(
                    "length {len} is shorter than the {}-byte IP payload",
                    bytes.len()
                ),
                rule: "RFC 768",
                severity: Severity::Warning,
            });
        }
        if policy == ChecksumPolicy::Verify && p.checksum() != 0 && !truncated {
            let want = p.computed_checksum(src, dst);
            if want != p.checksum() {
                devs.push(Deviation {
                    field: "udp.checksum".into(),
                    offset: Some(field::CHECKSUM.start),
                    message: format!("checksum 0x{:04x}, expected 0x{want:04x}", p.checksum()),
                    rule: "RFC 768",
                    severity: Severity::Error,
                });
            }
        }
        Ok((
            Repr {
                src_port: p.src_port(),
                dst_port: p.dst_port(),
            },
            devs,
        ))
    }

    /// 8 bytes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// The whole datagram, header then `payload`, with length and checksum computed.
    pub fn emit(&self, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&self.src_port.to_be_bytes());
        out.extend_from_slice(&self.dst_port.to_be_bytes());
        let len = (HEADER_LEN + payload.len()).min(u16::MAX as usize) as u16;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(payload);
        let c = checksum(src, dst, &out);
        out[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

    #[test]
    fn round_trip_and_known_checksum() {
        let r = Repr {
            src_port: 67,
            dst_port: 68,
        };
        let d = r.emit(SRC, DST, b"hello");
        assert_eq!(&d[..6], &[0, 67, 0, 68, 0, 13]);
        let (back, devs) = Repr::parse(&d, SRC, DST, ChecksumPolicy::Verify).expect("udp");
        assert!(devs.is_empty(), "{devs:?}");
        assert_eq!(back, r);
        let p = Packet::new_checked(&d[..]).expect("udp");
        assert_eq!(p.payload(), b"hello");
        assert_eq!(
            crate::ipv4::fold(sum(&SRC.octets()) + sum(&DST.octets()) + 17 + 13 + sum(&d)),
            0xffff
        );
    }

    #[test]
    fn zero_checksum_accepted_bad_one_reported_unless_ignored() {
        let r = Repr {
            src_port: 68,
            dst_port: 67,
        };
        let mut d = r.emit(SRC, DST, &[1, 2, 3]);
        d[6] = 0;
        d[7] = 0;
        assert!(Repr::parse(&d, SRC, DST, ChecksumPolicy::Verify)
            .expect("udp")
            .1
            .is_empty());
        d[7] = 1;
        let devs = Repr::parse(&d, SRC, DST, ChecksumPolicy::Verify)
            .expect("udp")
            .1;
        assert_eq!(devs[0].field, "udp.checksum");
        assert!(Repr::parse(&d, SRC, DST, ChecksumPolicy::Ignore)
            .expect("udp")
            .1
            .is_empty());
    }

    #[test]
    fn length_deviations() {
        let r = Repr {
            src_port: 68,
            dst_port: 67,
        };
        let mut d = r.emit(SRC, DST, &[1, 2, 3]);
        d.push(0);
        let devs = Repr::parse(&d, SRC, DST, ChecksumPolicy::Verify)
            .expect("udp")
            .1;
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].severity, Severity::Warning);
        let devs = Repr::parse(&d[..9], SRC, DST, ChecksumPolicy::Verify)
            .expect("udp")
            .1;
        assert!(devs[0].message.contains("exceeds"));
        assert_eq!(
            Repr::parse(&d[..7], SRC, DST, ChecksumPolicy::Verify).err(),
            Some(Error::Truncated { len: 7 })
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = Repr::parse(&bytes, SRC, DST, ChecksumPolicy::Verify);
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.payload(), p.computed_checksum(SRC, DST));
            }
        }
    }
}

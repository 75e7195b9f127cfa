//! TCP segment headers (RFC 9293 §3.1): a zero-copy [`Packet`] view and a [`Repr`], enough for
//! the lab to follow a stream (sequence numbers, SYN/FIN/RST) and find the records of the
//! protocols carried on it (ONC RPC, [`crate::oncrpc`]). Checksums are not verified: veth offload
//! leaves them unfinished in captures (DESIGN.md), and the lab judges no TCP rule.

use crate::{Deviation, Severity};

/// The TCP header without options: 20 bytes.
pub const HEADER_LEN: usize = 20;

mod field {
    use std::ops::Range;
    pub(super) const SRC_PORT: Range<usize> = 0..2;
    pub(super) const DST_PORT: Range<usize> = 2..4;
    pub(super) const SEQ: Range<usize> = 4..8;
    pub(super) const ACK: Range<usize> = 8..12;
    pub(super) const OFFSET: usize = 12;
    pub(super) const FLAGS: usize = 13;
    pub(super) const WINDOW: Range<usize> = 14..16;
    pub(super) const CHECKSUM: Range<usize> = 16..18;
}

/// The control bits (RFC 9293 §3.1), as the low byte of the header's 13th octet.
pub mod flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
}

/// Why a TCP header could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Shorter than the 20-byte header.
    #[error("TCP header truncated: {len} bytes, 20 needed (RFC 9293 §3.1)")]
    Truncated {
        /// Bytes available.
        len: usize,
    },
}

/// A read view of a TCP segment (the IP payload).
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

    fn u32_at(&self, r: std::ops::Range<usize>) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3]])
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }

    /// Sequence number.
    pub fn seq(&self) -> u32 {
        self.u32_at(field::SEQ)
    }

    /// Acknowledgment number.
    pub fn ack(&self) -> u32 {
        self.u32_at(field::ACK)
    }

    /// Data offset: the header's length in bytes as written (4 × the 4-bit field).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::OFFSET] >> 4) * 4
    }

    /// The control bits (see [`flags`]).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Window.
    pub fn window(&self) -> u16 {
        self.u16_at(field::WINDOW)
    }

    /// Checksum as written.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// The data after the header (and options); empty when the data offset points past the end.
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(self.header_len().max(HEADER_LEN)..).unwrap_or(&[])
    }
}

/// A TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// The control bits (see [`flags`]).
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Bytes of data in the segment.
    pub payload_len: usize,
}

impl Repr {
    /// Decodes a header leniently: a data offset below 5 words or past the segment is a deviation
    /// (the data is then taken to start after the fixed header). `bytes` is the IP payload.
    pub fn parse(bytes: &[u8]) -> Result<(Repr, Vec<Deviation>), Error> {
        let p = Packet::new_checked(bytes)?;
        let mut devs = Vec::new();
        let hl = p.header_len();
        if hl < HEADER_LEN || hl > bytes.len() {
            devs.push(Deviation {
                field: "tcp.data_offset".into(),
                offset: Some(field::OFFSET),
                message: format!(
                    "data offset {hl} bytes in a {}-byte segment (RFC 9293 §3.1: at least 20)",
                    bytes.len()
                ),
                rule: "RFC 9293 §3.1",
                severity: Severity::Error,
            });
        }
        Ok((
            Repr {
                src_port: p.src_port(),
                dst_port: p.dst_port(),
                seq: p.seq(),
                ack: p.ack(),
                flags: p.flags(),
                window: p.window(),
                payload_len: p.payload().len(),
            },
            devs,
        ))
    }

    /// Writes the header (no options, checksum 0) followed by `payload`.
    pub fn emit(&self, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        b[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        b[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        b[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        b[field::ACK].copy_from_slice(&self.ack.to_be_bytes());
        b[field::OFFSET] = ((HEADER_LEN / 4) as u8) << 4;
        b[field::FLAGS] = self.flags;
        b[field::WINDOW].copy_from_slice(&self.window.to_be_bytes());
        b.extend_from_slice(payload);
        b
    }

    /// The control bits as text: `SYN`, `SYN,ACK`, `FIN,ACK`, `RST`, or `ACK`.
    pub fn flags_text(&self) -> String {
        let names = [
            (flags::SYN, "SYN"),
            (flags::FIN, "FIN"),
            (flags::RST, "RST"),
            (flags::PSH, "PSH"),
            (flags::ACK, "ACK"),
        ];
        let v: Vec<&str> = names
            .iter()
            .filter(|(f, _)| self.flags & f != 0)
            .map(|(_, n)| *n)
            .collect();
        if v.is_empty() {
            "none".into()
        } else {
            v.join(",")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_then_parse_round_trips() {
        let r = Repr {
            src_port: 800,
            dst_port: 2049,
            seq: 0xdead_beef,
            ack: 7,
            flags: flags::SYN | flags::ACK,
            window: 512,
            payload_len: 3,
        };
        let b = r.emit(b"abc");
        let (back, devs) = Repr::parse(&b).expect("parses");
        assert_eq!(back, r);
        assert!(devs.is_empty());
        assert_eq!(Packet::new_checked(&b[..]).expect("view").payload(), b"abc");
        assert_eq!(back.flags_text(), "SYN,ACK");
    }

    #[test]
    fn short_or_bad_offset_is_an_error_or_deviation_never_a_panic() {
        assert!(Repr::parse(&[0u8; 19]).is_err());
        let mut b = Repr {
            src_port: 1,
            dst_port: 2,
            seq: 0,
            ack: 0,
            flags: 0,
            window: 0,
            payload_len: 0,
        }
        .emit(b"xy");
        b[12] = 0xf0; // 60-byte header in a 22-byte segment
        let (r, devs) = Repr::parse(&b).expect("lenient");
        assert_eq!(devs.len(), 1);
        assert_eq!(r.payload_len, 0);
        b[12] = 0x10; // 4 bytes: below the minimum
        let (r, devs) = Repr::parse(&b).expect("lenient");
        assert_eq!(devs.len(), 1);
        assert_eq!(r.payload_len, 2);
    }
}

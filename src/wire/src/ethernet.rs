//! Ethernet II frames (IEEE 802.3 with the DIX type field, RFC 894): a zero-copy [`Packet`]
//! view and a [`Repr`].

use std::fmt;

use serde::{Serialize, Serializer};

/// Length of the Ethernet II header: destination, source, EtherType.
pub const HEADER_LEN: usize = 14;

/// EtherType values used by the lab (IEEE registry; RFC 894, RFC 826, RFC 903).
pub mod ethertype {
    /// IPv4 (RFC 894).
    pub const IPV4: u16 = 0x0800;
    /// ARP (RFC 826).
    pub const ARP: u16 = 0x0806;
    /// RARP (RFC 903).
    pub const RARP: u16 = 0x8035;
    /// IEEE 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// IPv6 (RFC 2464).
    pub const IPV6: u16 = 0x86dd;
}

mod field {
    use std::ops::Range;
    pub(super) const DESTINATION: Range<usize> = 0..6;
    pub(super) const SOURCE: Range<usize> = 6..12;
    pub(super) const ETHERTYPE: Range<usize> = 12..14;
    pub(super) const PAYLOAD: usize = 14;
}

/// A 48-bit MAC address (IEEE 802), written `02:00:00:00:00:01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; 6]);

impl Address {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Address = Address([0xff; 6]);
    /// 00:00:00:00:00:00 (an ARP probe's target hardware address, RFC 5227 §2.1.1).
    pub const ZERO: Address = Address([0; 6]);

    /// Whether this is the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Address::BROADCAST
    }

    /// Whether the group bit is set (broadcast or multicast).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }

    /// The address from the first 6 bytes of `b`, `None` if shorter.
    pub fn from_bytes(b: &[u8]) -> Option<Address> {
        b.get(..6)
            .and_then(|s| <[u8; 6]>::try_from(s).ok())
            .map(Address)
    }
}

impl From<[u8; 6]> for Address {
    fn from(b: [u8; 6]) -> Address {
        Address(b)
    }
}

impl From<Address> for [u8; 6] {
    fn from(a: Address) -> [u8; 6] {
        a.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::text::colon_hex(&self.0))
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Shorter than the 14-byte header.
    #[error("Ethernet frame truncated: {len} bytes, the header needs {HEADER_LEN}")]
    Truncated {
        /// Bytes available.
        len: usize,
    },
}

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated { len });
        }
        Ok(Packet { buffer })
    }

    /// The destination address.
    pub fn dst_addr(&self) -> Address {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::DESTINATION]);
        Address(a)
    }

    /// The source address.
    pub fn src_addr(&self) -> Address {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SOURCE]);
        Address(a)
    }

    /// The EtherType.
    pub fn ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The bytes after the header (with any trailing padding or FCS the capture kept).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Address) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&a.0);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Address) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&a.0);
    }

    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, t: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&t.to_be_bytes());
    }

    /// The bytes after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// The header of an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Repr {
    /// Source MAC.
    pub src_addr: Address,
    /// Destination MAC.
    pub dst_addr: Address,
    /// EtherType of the payload.
    pub ethertype: u16,
}

impl Repr {
    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Repr {
        Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            ethertype: packet.ethertype(),
        }
    }

    /// The header length, 14.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into a checked frame.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_dst_addr(self.dst_addr);
        packet.set_src_addr(self.src_addr);
        packet.set_ethertype(self.ethertype);
    }

    /// A whole frame: this header followed by `payload` (no padding; the NIC pads to 60 bytes).
    pub fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&self.dst_addr.0);
        out.extend_from_slice(&self.src_addr.0);
        out.extend_from_slice(&self.ethertype.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06, 0xaa, 0xbb,
    ];

    #[test]
    fn known_bytes() {
        let p = Packet::new_checked(&FRAME[..]).expect("frame");
        let r = Repr::parse(&p);
        assert!(r.dst_addr.is_broadcast());
        assert_eq!(r.src_addr.to_string(), "02:00:00:00:00:01");
        assert_eq!(r.ethertype, ethertype::ARP);
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
        assert_eq!(r.frame(&[0xaa, 0xbb]), FRAME.to_vec());
        let mut buf = [0u8; 16];
        let mut q = Packet::new_checked(&mut buf[..]).expect("frame");
        r.emit(&mut q);
        q.payload_mut().copy_from_slice(&[0xaa, 0xbb]);
        assert_eq!(buf, FRAME);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let r = Repr::parse(&p);
                proptest::prop_assert_eq!(r.frame(p.payload()), bytes.clone());
            }
        }
    }

    #[test]
    fn short_frame_is_an_error() {
        assert_eq!(
            Packet::new_checked(&FRAME[..13]).err(),
            Some(Error::Truncated { len: 13 })
        );
    }
}

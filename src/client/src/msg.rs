//! Small helpers around `bootlab_wire::bootp` shared by the DHCP, BOOTP and boot-ROM cores
//! (RFC 951 §3, RFC 2131 §2).

use std::net::Ipv4Addr;

use bootlab_wire::bootp::{Message, Op, Options};

use crate::acd::ArpPacket;

/// A packet for a client daemon to send.
#[allow(clippy::large_enum_variant)] // short-lived queue items; boxing buys nothing here
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// A BOOTP/DHCP message from UDP 68 to 67. `src` 0.0.0.0 means the client has no address
    /// yet: the daemon sends it as a raw frame (RFC 2131 §4.1, RFC 951 §7.1); otherwise through
    /// the kernel's stack (the boot ROM frames everything itself).
    Bootp {
        /// The message.
        message: Message,
        /// IP source.
        src: Ipv4Addr,
        /// IP destination; 255.255.255.255 for broadcast.
        dst: Ipv4Addr,
    },
    /// An ARP packet: requests are broadcast, replies go to the target hardware address.
    Arp(ArpPacket),
    /// A datagram of the boot ROM's own IP/UDP stack (TFTP), framed raw to `dst_mac`.
    Udp {
        /// Ethernet destination.
        dst_mac: [u8; 6],
        /// IP source.
        src_ip: Ipv4Addr,
        /// IP destination.
        dst_ip: Ipv4Addr,
        /// UDP source port.
        src_port: u16,
        /// UDP destination port.
        dst_port: u16,
        /// UDP payload.
        payload: Vec<u8>,
    },
}

static NO_OPTIONS: Options = Options(Vec::new());

/// The options of a message; empty for a plain (cookie-less) vendor area.
pub fn opts(m: &Message) -> &Options {
    m.options().unwrap_or(&NO_OPTIONS)
}

/// Whether a reply answers our request: BOOTREPLY, our `xid`, our hardware address in `chaddr`
/// (RFC 951 §7.5, RFC 2131 §4.4.1).
pub fn is_reply_for(m: &Message, xid: u32, mac: [u8; 6]) -> bool {
    m.op == Op::BootReply && m.xid == xid && m.chaddr[..6] == mac
}

/// The prefix length of a subnet mask (RFC 950), `None` when the mask is not contiguous.
pub fn prefix_len(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// The classful default prefix of an address (RFC 791 classes), for replies without option 1.
pub fn classful_prefix(a: Ipv4Addr) -> u8 {
    match a.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

/// FNV-1a, 64 bit: the checksum the boot ROM reports for a received file.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_lengths() {
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(prefix_len(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(classful_prefix(Ipv4Addr::new(192, 0, 2, 1)), 24);
    }

    #[test]
    fn fnv_known_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}

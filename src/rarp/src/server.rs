//! The RARP server core (RFC 903): answers a "request reverse" for a hardware address found in
//! its table with a "reply reverse" sent to the requester. Pure: frames in, frames out.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bootlab_wire::arp::{Kind, Repr};
use bootlab_wire::ethernet::{self, Address};
use bootlab_wire::frame::build_arp;

/// What the server does with one received frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send `frame`: `tha` is told its address `tpa`.
    Reply {
        /// The Ethernet frame to send.
        frame: Vec<u8>,
        /// The hardware address asked about.
        tha: Address,
        /// The address given.
        tpa: Ipv4Addr,
        /// Who asked (the reply's destination).
        requester: Address,
    },
    /// A request for a hardware address not in the table: RFC 903 says stay silent.
    Unknown {
        /// The hardware address asked about.
        tha: Address,
    },
    /// Not a RARP request (or not decodable): dropped.
    Ignore(String),
}

/// The RARP server: its own addresses and the table of hardware address to IPv4 address.
#[derive(Debug, Clone)]
pub struct Server {
    mac: Address,
    ip: Ipv4Addr,
    table: HashMap<Address, Ipv4Addr>,
}

impl Server {
    /// A server answering from `mac`/`ip` with `table`.
    pub fn new(mac: Address, ip: Ipv4Addr, table: HashMap<Address, Ipv4Addr>) -> Self {
        Self { mac, ip, table }
    }

    /// Handles one Ethernet frame (RFC 903: opcode 3 in, opcode 4 out, EtherType 0x8035).
    pub fn handle_frame(&self, frame: &[u8]) -> Outcome {
        let eth = match ethernet::Packet::new_checked(frame) {
            Ok(p) => p,
            Err(e) => return Outcome::Ignore(e.to_string()),
        };
        if eth.ethertype() != ethernet::ethertype::RARP {
            return Outcome::Ignore(format!("EtherType {:#06x} is not RARP", eth.ethertype()));
        }
        let repr = match Repr::parse(eth.payload()) {
            Ok((r, _)) => r,
            Err(e) => return Outcome::Ignore(e.to_string()),
        };
        if repr.kind() != Kind::RarpRequest {
            return Outcome::Ignore(format!("{:?} is not a request reverse", repr.kind()));
        }
        let tha = repr.target_hardware_addr;
        let Some(&tpa) = self.table.get(&tha) else {
            return Outcome::Unknown { tha };
        };
        let requester = repr.source_hardware_addr;
        let reply = Repr::rarp_reply(self.mac, self.ip, tha, tpa);
        Outcome::Reply {
            frame: build_arp(self.mac, requester, &reply),
            tha,
            tpa,
            requester,
        }
    }
}

/// Parses `02:00:00:00:00:0a` (or with `-`).
pub fn parse_mac(s: &str) -> Option<Address> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut a = [0u8; 6];
    for (b, p) in a.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    Some(Address(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: Address = Address([2, 0, 0, 0, 0, 1]);
    const CLIENT: Address = Address([2, 0, 0, 0, 0, 0x0a]);

    fn server() -> Server {
        let table = HashMap::from([(CLIENT, Ipv4Addr::new(192, 0, 2, 10))]);
        Server::new(SERVER, Ipv4Addr::new(192, 0, 2, 1), table)
    }

    #[test]
    fn known_client_gets_a_reply_reverse() {
        let req = build_arp(CLIENT, Address::BROADCAST, &Repr::rarp_request(CLIENT));
        let Outcome::Reply {
            frame,
            tpa,
            requester,
            ..
        } = server().handle_frame(&req)
        else {
            panic!()
        };
        assert_eq!(tpa, Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(requester, CLIENT);
        let eth = ethernet::Packet::new_checked(&frame[..]).expect("frame");
        assert_eq!(eth.dst_addr(), CLIENT);
        assert_eq!(eth.ethertype(), 0x8035);
        let (r, _) = Repr::parse(eth.payload()).expect("arp");
        assert_eq!(
            r,
            Repr::rarp_reply(SERVER, Ipv4Addr::new(192, 0, 2, 1), CLIENT, tpa)
        );
    }

    #[test]
    fn unknown_clients_and_other_frames_get_nothing() {
        let other = Address([2, 0, 0, 0, 0, 0x63]);
        let req = build_arp(other, Address::BROADCAST, &Repr::rarp_request(other));
        assert_eq!(server().handle_frame(&req), Outcome::Unknown { tha: other });
        let arp = build_arp(
            CLIENT,
            Address::BROADCAST,
            &Repr::request(
                CLIENT,
                Ipv4Addr::new(192, 0, 2, 10),
                Ipv4Addr::new(192, 0, 2, 1),
            ),
        );
        assert!(matches!(server().handle_frame(&arp), Outcome::Ignore(_)));
        assert!(matches!(server().handle_frame(&[0; 5]), Outcome::Ignore(_)));
    }

    #[test]
    fn macs_parse() {
        assert_eq!(parse_mac("02:00:00:00:00:0a"), Some(CLIENT));
        assert_eq!(parse_mac("02-00-00-00-00-0A"), Some(CLIENT));
        assert_eq!(parse_mac("02:00:00:00:00"), None);
        assert_eq!(parse_mac("02:00:00:00:00:zz"), None);
    }
}

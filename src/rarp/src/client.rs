//! The RARP client core (RFC 903): broadcasts a "request reverse" for its own hardware address,
//! repeats it a bounded number of times, and takes the first "reply reverse" naming it.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use bootlab_wire::arp::{Kind, Repr};
use bootlab_wire::ethernet::{self, Address};
use bootlab_wire::frame::build_arp;

/// What the client learned, or that it gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A reply reverse for our hardware address.
    Reply {
        /// Our address (`ar$tpa`).
        address: Ipv4Addr,
        /// The server's protocol address (`ar$spa`).
        server: Ipv4Addr,
        /// The server's hardware address (`ar$sha`).
        server_mac: Address,
    },
    /// No reply after all attempts.
    Failed {
        /// Requests sent.
        attempts: u32,
    },
}

/// The RARP client: retransmits every `interval` up to `attempts` requests in all.
#[derive(Debug)]
pub struct Client {
    mac: Address,
    interval: Duration,
    attempts: u32,
    sent: u32,
    deadline: Option<Duration>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
}

impl Client {
    /// Starts: queues the first request reverse for `mac`.
    pub fn new(now: Duration, mac: Address, interval: Duration, attempts: u32) -> Self {
        let mut c = Self {
            mac,
            interval,
            attempts: attempts.max(1),
            sent: 0,
            deadline: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        };
        c.send(now);
        c
    }

    fn send(&mut self, now: Duration) {
        self.transmits.push_back(build_arp(
            self.mac,
            Address::BROADCAST,
            &Repr::rarp_request(self.mac),
        ));
        self.sent += 1;
        self.deadline = Some(now + self.interval);
    }

    /// Handles one received Ethernet frame.
    pub fn handle_frame(&mut self, _now: Duration, frame: &[u8]) {
        if self.deadline.is_none() {
            return;
        }
        let Ok(eth) = ethernet::Packet::new_checked(frame) else {
            return;
        };
        if eth.ethertype() != ethernet::ethertype::RARP {
            return;
        }
        let Ok((r, _)) = Repr::parse(eth.payload()) else {
            return;
        };
        if r.kind() != Kind::RarpReply || r.target_hardware_addr != self.mac {
            return;
        }
        self.deadline = None;
        self.events.push_back(Event::Reply {
            address: r.target_protocol_addr,
            server: r.source_protocol_addr,
            server_mac: r.source_hardware_addr,
        });
    }

    /// Handles the timer: another request, or failure after the last one.
    pub fn handle_timeout(&mut self, now: Duration) {
        match self.deadline {
            Some(d) if now >= d => {
                if self.sent >= self.attempts {
                    self.deadline = None;
                    self.events.push_back(Event::Failed {
                        attempts: self.sent,
                    });
                } else {
                    self.send(now);
                }
            }
            _ => {}
        }
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Client::handle_timeout`]; `None` when finished.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.deadline
    }

    /// Whether the client has finished (reply or failure).
    pub fn is_done(&self) -> bool {
        self.deadline.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{Outcome, Server};
    use std::collections::HashMap;

    const ME: Address = Address([2, 0, 0, 0, 0, 0x0a]);
    const SRV: Address = Address([2, 0, 0, 0, 0, 1]);

    #[test]
    fn request_reply_through_the_server_core() {
        let mut c = Client::new(Duration::ZERO, ME, Duration::from_secs(1), 3);
        let req = c.poll_transmit().expect("request");
        let eth = ethernet::Packet::new_checked(&req[..]).expect("frame");
        assert!(eth.dst_addr().is_broadcast());
        assert_eq!(eth.ethertype(), 0x8035);
        let server = Server::new(
            SRV,
            Ipv4Addr::new(192, 0, 2, 1),
            HashMap::from([(ME, Ipv4Addr::new(192, 0, 2, 10))]),
        );
        let Outcome::Reply { frame, .. } = server.handle_frame(&req) else {
            panic!()
        };
        c.handle_frame(Duration::from_millis(1), &frame);
        assert_eq!(
            c.poll_event(),
            Some(Event::Reply {
                address: Ipv4Addr::new(192, 0, 2, 10),
                server: Ipv4Addr::new(192, 0, 2, 1),
                server_mac: SRV
            })
        );
        assert!(c.is_done());
    }

    #[test]
    fn retries_are_bounded_then_it_fails() {
        let mut c = Client::new(Duration::ZERO, ME, Duration::from_secs(1), 3);
        let mut frames = 0;
        while let Some(at) = c.poll_timeout() {
            frames += std::iter::from_fn(|| c.poll_transmit()).count();
            c.handle_timeout(at);
        }
        assert_eq!(frames, 3);
        assert_eq!(c.poll_event(), Some(Event::Failed { attempts: 3 }));
    }

    #[test]
    fn a_reply_for_someone_else_is_ignored() {
        let mut c = Client::new(Duration::ZERO, ME, Duration::from_secs(1), 3);
        let other = Address([2, 0, 0, 0, 0, 0x0b]);
        let reply = build_arp(
            SRV,
            other,
            &Repr::rarp_reply(
                SRV,
                Ipv4Addr::new(192, 0, 2, 1),
                other,
                Ipv4Addr::new(192, 0, 2, 11),
            ),
        );
        c.handle_frame(Duration::ZERO, &reply);
        assert_eq!(c.poll_event(), None);
        assert!(!c.is_done());
    }
}

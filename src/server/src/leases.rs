//! The lease table (RFC 2131 §4.3): who holds which address until when, offers held for a short
//! reservation, declined addresses in probation. Pure data: the journal ([`crate::journal`])
//! replays [`Record`]s into it and the core writes them.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// A client's binding key (RFC 2131 §4.2): option 61 when present, else `htype` + `chaddr`.
pub type ClientKey = Vec<u8>;

/// One durable lease-store change, a line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Record {
    /// `addr` is bound to `client` until `expires` (seconds since the epoch, protocol time;
    /// `None` is an infinite lease, RFC 1534 §2).
    Bind {
        /// Address.
        addr: Ipv4Addr,
        /// Client key, hex.
        client: String,
        /// Hardware address, hex.
        hw: String,
        /// Expiry.
        expires: Option<u64>,
    },
    /// `addr` is free again (RFC 2131 §4.3.4 DHCPRELEASE); remembered for `client`.
    Free {
        /// Address.
        addr: Ipv4Addr,
        /// Client key, hex.
        client: String,
    },
    /// `addr` is unusable until `until` (RFC 2131 §4.3.3 DHCPDECLINE).
    Decline {
        /// Address.
        addr: Ipv4Addr,
        /// End of probation, seconds since the epoch.
        until: u64,
    },
}

/// State of one address in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Offered and reserved for its client until `until` (not durable).
    Offered {
        /// End of the reservation.
        until: u64,
    },
    /// Bound (ACKed); `None` never expires.
    Bound {
        /// Expiry.
        expires: Option<u64>,
    },
    /// Released by its client; free, but remembered for it.
    Released,
    /// Declined; unusable until `until`.
    Declined {
        /// End of probation.
        until: u64,
    },
}

/// One address's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub addr: Ipv4Addr,
    /// The client it belongs (or last belonged) to; empty for a declined address.
    pub client: ClientKey,
    /// The client's hardware address.
    pub hw: Vec<u8>,
    /// Its state.
    pub state: State,
}

impl Lease {
    /// Whether nobody else may have the address at `now`.
    pub fn is_held(&self, now: u64) -> bool {
        match self.state {
            State::Offered { until } | State::Declined { until } => now < until,
            State::Bound { expires } => expires.is_none_or(|e| now < e),
            State::Released => false,
        }
    }

    /// Whether it is a live binding (ACKed and not expired) at `now`.
    pub fn is_bound(&self, now: u64) -> bool {
        matches!(self.state, State::Bound { expires } if expires.is_none_or(|e| now < e))
    }
}

/// All leases, by address and by client.
#[derive(Debug, Default, Clone)]
pub struct Table {
    by_addr: HashMap<Ipv4Addr, Lease>,
    by_client: HashMap<ClientKey, Ipv4Addr>,
}

impl Table {
    /// The entry for `addr`.
    pub fn get(&self, addr: Ipv4Addr) -> Option<&Lease> {
        self.by_addr.get(&addr)
    }

    /// The address last associated with `client`, and its entry.
    pub fn of_client(&self, client: &[u8]) -> Option<&Lease> {
        let a = self.by_client.get(client)?;
        self.by_addr.get(a).filter(|l| l.client == client)
    }

    /// Whether `addr` may be given to `client` at `now`.
    pub fn available_to(&self, addr: Ipv4Addr, client: &[u8], now: u64) -> bool {
        match self.by_addr.get(&addr) {
            None => true,
            Some(l) if matches!(l.state, State::Declined { .. }) => !l.is_held(now),
            Some(l) => l.client == client || !l.is_held(now),
        }
    }

    /// Whether `addr` has no entry at all (never used since the last compaction).
    pub fn is_untouched(&self, addr: Ipv4Addr) -> bool {
        !self.by_addr.contains_key(&addr)
    }

    /// Puts `lease` in, dropping whatever `addr` or its client held before.
    pub fn insert(&mut self, lease: Lease) {
        if let Some(old) = self.by_addr.get(&lease.addr) {
            if old.client != lease.client && self.by_client.get(&old.client) == Some(&lease.addr) {
                let c = old.client.clone();
                self.by_client.remove(&c);
            }
        }
        if let Some(prev) = self.by_client.get(&lease.client).copied() {
            if prev != lease.addr {
                // A client holds one address: its previous offer or lease goes.
                if self
                    .by_addr
                    .get(&prev)
                    .is_some_and(|l| l.client == lease.client)
                {
                    self.by_addr.remove(&prev);
                }
            }
        }
        if !lease.client.is_empty() {
            self.by_client.insert(lease.client.clone(), lease.addr);
        }
        self.by_addr.insert(lease.addr, lease);
    }

    /// Removes the entry of `addr`.
    pub fn remove(&mut self, addr: Ipv4Addr) {
        if let Some(l) = self.by_addr.remove(&addr) {
            if self.by_client.get(&l.client) == Some(&addr) {
                self.by_client.remove(&l.client);
            }
        }
    }

    /// Applies a journal record.
    pub fn apply(&mut self, r: &Record) {
        match r {
            Record::Bind {
                addr,
                client,
                hw,
                expires,
            } => self.insert(Lease {
                addr: *addr,
                client: unhex(client),
                hw: unhex(hw),
                state: State::Bound { expires: *expires },
            }),
            Record::Free { addr, client } => {
                let client = unhex(client);
                let hw = self
                    .by_addr
                    .get(addr)
                    .map(|l| l.hw.clone())
                    .unwrap_or_default();
                self.insert(Lease {
                    addr: *addr,
                    client,
                    hw,
                    state: State::Released,
                });
            }
            Record::Decline { addr, until } => {
                self.remove(*addr);
                self.by_addr.insert(
                    *addr,
                    Lease {
                        addr: *addr,
                        client: Vec::new(),
                        hw: Vec::new(),
                        state: State::Declined { until: *until },
                    },
                );
            }
        }
    }

    /// The records that rebuild the durable part of the table (for compaction): live and
    /// released bindings and declines still in probation at `now`.
    pub fn snapshot(&self, now: u64) -> Vec<Record> {
        let mut v: Vec<&Lease> = self.by_addr.values().collect();
        v.sort_by_key(|l| u32::from(l.addr));
        v.into_iter()
            .filter_map(|l| match l.state {
                State::Bound { expires } => Some(Record::Bind {
                    addr: l.addr,
                    client: hex(&l.client),
                    hw: hex(&l.hw),
                    expires,
                }),
                State::Released => Some(Record::Free {
                    addr: l.addr,
                    client: hex(&l.client),
                }),
                State::Declined { until } if now < until => Some(Record::Decline {
                    addr: l.addr,
                    until,
                }),
                _ => None,
            })
            .collect()
    }

    /// The oldest live offer reservation (earliest end of hold) at `now` among addresses that
    /// `within` accepts, not held for `except`: what a burst of new client ids gives back first.
    pub fn oldest_offer(
        &self,
        now: u64,
        except: &[u8],
        within: impl Fn(Ipv4Addr) -> bool,
    ) -> Option<Ipv4Addr> {
        self.by_addr
            .values()
            .filter(|l| l.client != except && within(l.addr))
            .filter_map(|l| match l.state {
                State::Offered { until } if now < until => Some((until, u32::from(l.addr))),
                _ => None,
            })
            .min()
            .map(|(_, a)| Ipv4Addr::from(a))
    }

    /// Live offer reservations at `now` for hardware address `hw` under client keys other than
    /// `client` (one machine cycling client identifiers).
    pub fn offers_to_hw(&self, now: u64, hw: &[u8], client: &[u8]) -> Vec<Ipv4Addr> {
        self.by_addr
            .values()
            .filter(|l| l.hw == hw && l.client != client)
            .filter(|l| matches!(l.state, State::Offered { until } if now < until))
            .map(|l| l.addr)
            .collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }

    /// Live bindings at `now`.
    pub fn bound(&self, now: u64) -> impl Iterator<Item = &Lease> {
        self.by_addr.values().filter(move |l| l.is_bound(now))
    }
}

/// Lower-case hex without separators.
pub fn hex(b: &[u8]) -> String {
    // Twice per journaled binding: without `format!` per octet.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 0x0f)]));
    }
    s
}

/// Inverse of [`hex`]; bad digits give an empty key.
pub fn unhex(s: &str) -> Vec<u8> {
    crate::config::parse_hex(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[1, 0xab, 0x0c]), "01ab0c");
        assert_eq!(unhex(&hex(&[2, 0, 0, 0, 0, 7])), vec![2, 0, 0, 0, 0, 7]);
    }

    fn a(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, n)
    }

    #[test]
    fn a_client_holds_one_address_and_offers_expire() {
        let mut t = Table::default();
        t.insert(Lease {
            addr: a(10),
            client: vec![1],
            hw: vec![],
            state: State::Offered { until: 5 },
        });
        assert!(!t.available_to(a(10), &[2], 4));
        assert!(t.available_to(a(10), &[1], 4));
        assert!(t.available_to(a(10), &[2], 5));
        t.insert(Lease {
            addr: a(11),
            client: vec![1],
            hw: vec![],
            state: State::Bound { expires: None },
        });
        assert!(t.get(a(10)).is_none());
        assert_eq!(t.of_client(&[1]).map(|l| l.addr), Some(a(11)));
    }

    #[test]
    fn records_replay_and_snapshot() {
        let mut t = Table::default();
        let recs = vec![
            Record::Bind {
                addr: a(10),
                client: "01".into(),
                hw: "02".into(),
                expires: Some(100),
            },
            Record::Bind {
                addr: a(11),
                client: "03".into(),
                hw: "04".into(),
                expires: None,
            },
            Record::Free {
                addr: a(10),
                client: "01".into(),
            },
            Record::Decline {
                addr: a(12),
                until: 50,
            },
        ];
        for r in &recs {
            t.apply(r);
        }
        assert!(!t.available_to(a(11), &[9], 1_000_000));
        assert!(t.available_to(a(10), &[9], 0));
        assert!(!t.available_to(a(12), &[9], 49));
        assert_eq!(t.snapshot(10).len(), 3);
        assert_eq!(
            t.snapshot(60).len(),
            2,
            "expired probation is compacted away"
        );
    }
}

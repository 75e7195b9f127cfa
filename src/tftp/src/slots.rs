//! Bounds on running transfers: in all, and per client address, so one host (or a flood of
//! spoofed requests) cannot take every transfer slot, file descriptor and socket of the server.
//! A request over a bound is refused with ERROR 0 (RFC 1350 §5 "not defined", with a message),
//! so a well-behaved client stops waiting at once.

use std::collections::HashMap;
use std::net::IpAddr;

use bootlab_wire::tftp::ErrorCode;

use crate::confine::Refused;

/// Default bound on transfers running at once.
pub const DEFAULT_MAX_TRANSFERS: usize = 64;
/// Default bound on transfers running at once for one client address.
pub const DEFAULT_MAX_PER_CLIENT: usize = 4;

/// The transfer slots of a server.
#[derive(Debug, Clone)]
pub struct Slots {
    max: usize,
    per_client: usize,
    running: HashMap<IpAddr, usize>,
    total: usize,
}

impl Slots {
    /// At most `max` transfers, `per_client` of them for one address.
    pub fn new(max: usize, per_client: usize) -> Self {
        Self {
            max,
            per_client,
            running: HashMap::new(),
            total: 0,
        }
    }

    /// Takes a slot for a transfer with `client`, or says why not.
    pub fn take(&mut self, client: IpAddr) -> Result<(), Refused> {
        if self.total >= self.max {
            return Err(Refused {
                code: ErrorCode::NotDefined,
                reason: format!("server busy: {} transfers running", self.total),
            });
        }
        let n = self.running.entry(client).or_default();
        if *n >= self.per_client {
            return Err(Refused {
                code: ErrorCode::NotDefined,
                reason: format!("too many transfers from {client}: {n} running"),
            });
        }
        *n += 1;
        self.total += 1;
        Ok(())
    }

    /// Gives back a slot of `client`'s.
    pub fn release(&mut self, client: IpAddr) {
        if let Some(n) = self.running.get_mut(&client) {
            *n -= 1;
            self.total -= 1;
            if *n == 0 {
                self.running.remove(&client);
            }
        }
    }

    /// Transfers running.
    pub fn running(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn per_client_and_total_bounds_hold_and_slots_come_back() {
        let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
        let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
        let c = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
        let mut s = Slots::new(3, 2);
        assert!(s.take(a).is_ok() && s.take(a).is_ok());
        assert!(s.take(a).is_err(), "a third from one client");
        assert!(s.take(b).is_ok());
        assert!(s.take(c).is_err(), "a fourth in all");
        s.release(a);
        assert!(s.take(c).is_ok());
        assert_eq!(s.running(), 3);
        s.release(b);
        s.release(b);
        assert_eq!(
            s.running(),
            2,
            "releasing what was not taken changes nothing"
        );
    }
}

//! IPv4 address conflict detection (RFC 5227 §2.1-2.3, RFC 2131 §2.2 and §4.4.1): probe an
//! address with ARP before using it, then announce it. A pure core: it takes `now` and the ARP
//! packets seen and hands back the ARP packets to send.
//!
//! The same core, with other timings, makes the boot ROM's address checks of the Linux
//! remote-boot sequence (seed 002, steps 3-5: two checks 0.5 s apart with sender 0.0.0.0, a
//! third with its own address as sender).

use std::net::Ipv4Addr;
use std::time::Duration;

use bootlab_net::clock::Rng;
use rand::Rng as _;

pub use bootlab_wire::arp::{Operation as ArpOp, Repr as ArpPacket};

/// The reply a host owning `my_ip` at `my_mac` gives to `request` (RFC 826).
pub fn reply_to(request: &ArpPacket, my_mac: [u8; 6], my_ip: Ipv4Addr) -> ArpPacket {
    ArpPacket::reply(
        my_mac,
        my_ip,
        request.source_hardware_addr,
        request.source_protocol_addr,
    )
}

/// Probe and announcement timing (RFC 5227 §1.1 constants by default).
#[derive(Debug, Clone, PartialEq)]
pub struct AcdTiming {
    /// Random wait before the first probe, uniform in `[0, probe_wait]` (PROBE_WAIT, 1 s).
    pub probe_wait: Duration,
    /// Number of probes (PROBE_NUM, 3).
    pub probe_num: u32,
    /// Smallest gap between probes (PROBE_MIN, 1 s).
    pub probe_min: Duration,
    /// Largest gap between probes (PROBE_MAX, 2 s).
    pub probe_max: Duration,
    /// Wait after the last probe before the address may be used (ANNOUNCE_WAIT, 2 s).
    pub announce_wait: Duration,
    /// Number of announcements (ANNOUNCE_NUM, 2).
    pub announce_num: u32,
    /// Gap between announcements (ANNOUNCE_INTERVAL, 2 s).
    pub announce_interval: Duration,
}

impl Default for AcdTiming {
    fn default() -> Self {
        Self::rfc5227()
    }
}

impl AcdTiming {
    /// The constants of RFC 5227 §1.1.
    pub fn rfc5227() -> Self {
        Self {
            probe_wait: Duration::from_secs(1),
            probe_num: 3,
            probe_min: Duration::from_secs(1),
            probe_max: Duration::from_secs(2),
            announce_wait: Duration::from_secs(2),
            announce_num: 2,
            announce_interval: Duration::from_secs(2),
        }
    }

    /// The diskless client of the Linux remote-boot document (seed 002, steps 3-5): two checks
    /// with sender 0.0.0.0 0.5 s apart, then 0.5 s later one with its own address as sender.
    pub fn seed_002() -> Self {
        let half = Duration::from_millis(500);
        Self {
            probe_wait: Duration::ZERO,
            probe_num: 2,
            probe_min: half,
            probe_max: half,
            announce_wait: half,
            announce_num: 1,
            announce_interval: half,
        }
    }
}

/// Where a check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcdPhase {
    /// Sending probes, or waiting ANNOUNCE_WAIT after the last one.
    Probing,
    /// The address is usable; announcements still to send.
    Announcing,
    /// All announcements sent.
    Done,
    /// Another host holds the address (RFC 5227 §2.1.1).
    Conflict {
        /// The other host's hardware address.
        mac: [u8; 6],
    },
}

/// What a timer step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcdStep {
    /// Send this ARP packet.
    Send(ArpPacket),
    /// Probing found no conflict: the address may be used from now on (RFC 5227 §2.1.1).
    Usable,
}

/// One address check: probes, then announcements (RFC 5227 §2.1-2.3).
#[derive(Debug, Clone)]
pub struct Acd {
    timing: AcdTiming,
    mac: [u8; 6],
    address: Ipv4Addr,
    phase: AcdPhase,
    probes_sent: u32,
    announces_sent: u32,
    next_at: Option<Duration>,
}

impl Acd {
    /// Starts checking `address` for the host with hardware address `mac`.
    pub fn start(
        timing: AcdTiming,
        mac: [u8; 6],
        address: Ipv4Addr,
        now: Duration,
        rng: &mut Rng,
    ) -> Self {
        let wait = uniform(rng, Duration::ZERO, timing.probe_wait);
        Self {
            timing,
            mac,
            address,
            phase: AcdPhase::Probing,
            probes_sent: 0,
            announces_sent: 0,
            next_at: Some(now + wait),
        }
    }

    /// The address under check.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The current phase.
    pub fn phase(&self) -> AcdPhase {
        self.phase
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to run next.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.next_at
    }

    /// Runs the timer if it is due.
    pub fn handle_timeout(&mut self, now: Duration, rng: &mut Rng) -> Vec<AcdStep> {
        let mut out = Vec::new();
        match self.next_at {
            Some(at) if at <= now => {}
            _ => return out,
        }
        match self.phase {
            AcdPhase::Probing if self.probes_sent < self.timing.probe_num => {
                out.push(AcdStep::Send(ArpPacket::request(
                    self.mac,
                    Ipv4Addr::UNSPECIFIED,
                    self.address,
                )));
                self.probes_sent += 1;
                self.next_at = Some(if self.probes_sent < self.timing.probe_num {
                    now + uniform(rng, self.timing.probe_min, self.timing.probe_max)
                } else {
                    now + self.timing.announce_wait
                });
            }
            AcdPhase::Probing => {
                out.push(AcdStep::Usable);
                self.phase = AcdPhase::Announcing;
                self.announce(now, &mut out);
            }
            AcdPhase::Announcing => self.announce(now, &mut out),
            AcdPhase::Done | AcdPhase::Conflict { .. } => self.next_at = None,
        }
        out
    }

    fn announce(&mut self, now: Duration, out: &mut Vec<AcdStep>) {
        if self.announces_sent < self.timing.announce_num {
            // An announcement is a request with sender and target both the address (RFC 5227 §2.3).
            out.push(AcdStep::Send(ArpPacket::request(
                self.mac,
                self.address,
                self.address,
            )));
            self.announces_sent += 1;
        }
        if self.announces_sent < self.timing.announce_num {
            self.next_at = Some(now + self.timing.announce_interval);
        } else {
            self.phase = AcdPhase::Done;
            self.next_at = None;
        }
    }

    /// Looks at an ARP packet received while probing. Returns the other host's hardware address
    /// when it shows a conflict (RFC 5227 §2.1.1): any ARP whose sender IP is the address, or
    /// another host's probe for it. Our own frames and packets after probing are ignored.
    pub fn handle_arp(&mut self, arp: &ArpPacket) -> Option<[u8; 6]> {
        if self.phase != AcdPhase::Probing || arp.source_hardware_addr.0 == self.mac {
            return None;
        }
        let conflict = arp.source_protocol_addr == self.address
            || (arp.operation == ArpOp::Request
                && arp.source_protocol_addr.is_unspecified()
                && arp.target_protocol_addr == self.address);
        if conflict {
            self.phase = AcdPhase::Conflict {
                mac: arp.source_hardware_addr.0,
            };
            self.next_at = None;
            Some(arp.source_hardware_addr.0)
        } else {
            None
        }
    }
}

/// A uniform draw in `[lo, hi]` at millisecond resolution.
pub(crate) fn uniform(rng: &mut Rng, lo: Duration, hi: Duration) -> Duration {
    if hi <= lo {
        return lo;
    }
    let span = (hi - lo).as_millis().min(u128::from(u64::MAX)) as u64;
    lo + Duration::from_millis(rng.gen_range(0..=span))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const OTHER: [u8; 6] = [2, 0, 0, 0, 0, 9];
    const ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

    /// Drives the check to the end, collecting (time, step).
    fn drive(acd: &mut Acd, rng: &mut Rng) -> Vec<(Duration, AcdStep)> {
        let mut out = Vec::new();
        for _ in 0..20 {
            let Some(at) = acd.poll_timeout() else { break };
            for s in acd.handle_timeout(at, rng) {
                out.push((at, s));
            }
        }
        out
    }

    #[test]
    fn rfc5227_probes_three_times_then_announces_twice() {
        let mut rng = bootlab_net::clock::rng(3);
        let mut acd = Acd::start(AcdTiming::rfc5227(), MAC, ADDR, Duration::ZERO, &mut rng);
        let steps = drive(&mut acd, &mut rng);
        let probes: Vec<_> = steps
            .iter()
            .filter(
                |(_, s)| matches!(s, AcdStep::Send(a) if a.source_protocol_addr.is_unspecified()),
            )
            .collect();
        assert_eq!(probes.len(), 3);
        assert!(probes[0].0 <= Duration::from_secs(1));
        for w in probes.windows(2) {
            let gap = w[1].0 - w[0].0;
            assert!(
                gap >= Duration::from_secs(1) && gap <= Duration::from_secs(2),
                "{gap:?}"
            );
        }
        let usable = steps
            .iter()
            .position(|(_, s)| *s == AcdStep::Usable)
            .expect("usable");
        assert_eq!(steps[usable].0 - probes[2].0, Duration::from_secs(2));
        let announces: Vec<_> = steps
            .iter()
            .filter(|(_, s)| matches!(s, AcdStep::Send(a) if a.source_protocol_addr == ADDR && a.target_protocol_addr == ADDR))
            .collect();
        assert_eq!(announces.len(), 2);
        assert_eq!(announces[1].0 - announces[0].0, Duration::from_secs(2));
        assert_eq!(acd.phase(), AcdPhase::Done);
        if let AcdStep::Send(p) = probes[0].1 {
            assert_eq!(p.target_hardware_addr.0, [0; 6]);
            assert_eq!(p.source_hardware_addr.0, MAC);
        }
    }

    #[test]
    fn seed_002_checks_are_half_a_second_apart() {
        let mut rng = bootlab_net::clock::rng(3);
        let t0 = Duration::from_secs(5);
        let mut acd = Acd::start(AcdTiming::seed_002(), MAC, ADDR, t0, &mut rng);
        let sends: Vec<_> = drive(&mut acd, &mut rng)
            .into_iter()
            .filter_map(|(t, s)| match s {
                AcdStep::Send(a) => Some((t - t0, a.source_protocol_addr)),
                AcdStep::Usable => None,
            })
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(
            sends,
            vec![
                (ms(0), Ipv4Addr::UNSPECIFIED),
                (ms(500), Ipv4Addr::UNSPECIFIED),
                (ms(1000), ADDR)
            ]
        );
    }

    #[test]
    fn a_reply_or_another_probe_is_a_conflict_our_own_frames_are_not() {
        let mut rng = bootlab_net::clock::rng(3);
        let mut acd = Acd::start(AcdTiming::rfc5227(), MAC, ADDR, Duration::ZERO, &mut rng);
        let own = ArpPacket::request(MAC, Ipv4Addr::UNSPECIFIED, ADDR);
        assert_eq!(acd.handle_arp(&own), None);
        let unrelated = ArpPacket::request(
            OTHER,
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 7),
        );
        assert_eq!(acd.handle_arp(&unrelated), None);
        let probe = ArpPacket::request(OTHER, Ipv4Addr::UNSPECIFIED, ADDR);
        assert_eq!(acd.handle_arp(&probe), Some(OTHER));
        assert_eq!(acd.phase(), AcdPhase::Conflict { mac: OTHER });
        assert_eq!(acd.poll_timeout(), None);

        let mut acd = Acd::start(AcdTiming::rfc5227(), MAC, ADDR, Duration::ZERO, &mut rng);
        let reply = reply_to(&own, OTHER, ADDR);
        assert_eq!(acd.handle_arp(&reply), Some(OTHER));
    }
}

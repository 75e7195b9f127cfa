//! Retransmission timing shared by every client of ours (DHCP, BOOTP, boot ROM).
//!
//! RFC 951 §7.2 and RFC 2131 §4.1: a client retransmits with a randomized exponential back-off,
//! 4 s before the first retransmission, doubling up to a cap of 64 s, each delay randomized by
//! ±1 s drawn uniformly. RFC 2131 §4.4.5 adds the RENEWING/REBINDING rule: wait half the time
//! left to T2 (or to the lease's end), never less than 60 s.

use std::time::Duration;

use bootlab_net::clock::Rng;
use rand::Rng as _;

/// Exponential back-off with uniform jitter (RFC 2131 §4.1, RFC 951 §7.2).
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The delay before the first retransmission (4 s in RFC 2131 §4.1).
    pub initial: Duration,
    /// The largest un-jittered delay (64 s in RFC 2131 §4.1; RFC 951 §7.2 says "about 60 s").
    pub cap: Duration,
    /// Half-width of the uniform jitter added to each delay (1 s in RFC 2131 §4.1).
    pub jitter: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(
            Duration::from_secs(4),
            Duration::from_secs(64),
            Duration::from_secs(1),
        )
    }
}

impl Backoff {
    /// A back-off starting at `initial`, doubling up to `cap`, each delay ± `jitter`.
    pub fn new(initial: Duration, cap: Duration, jitter: Duration) -> Self {
        Self {
            initial,
            cap,
            jitter,
            attempt: 0,
        }
    }

    /// Starts the schedule over (a new exchange).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How many delays were handed out since the last [`reset`](Self::reset).
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The next delay: `min(initial * 2^n, cap)` plus a uniform draw in `[-jitter, +jitter]`.
    pub fn next_delay(&mut self, rng: &mut Rng) -> Duration {
        let shift = self.attempt.min(16);
        self.attempt = self.attempt.saturating_add(1);
        let base = self.initial.saturating_mul(1u32 << shift).min(self.cap);
        let jitter_ms = self.jitter.as_millis().min(u128::from(u32::MAX)) as i64;
        let delta = if jitter_ms > 0 {
            rng.gen_range(-jitter_ms..=jitter_ms)
        } else {
            0
        };
        let ms = (base.as_millis().min(u128::from(u64::MAX)) as i64 + delta).max(0);
        Duration::from_millis(ms as u64)
    }
}

/// RENEWING/REBINDING retransmission (RFC 2131 §4.4.5): half the time from `now` to `deadline`
/// (T2 while renewing, the lease's end while rebinding), but at least `floor` (60 s in the RFC).
/// `None` when less than `floor` is left: the client then just waits for the deadline.
pub fn half_remaining(now: Duration, deadline: Duration, floor: Duration) -> Option<Duration> {
    let left = deadline.checked_sub(now)?;
    if left < floor {
        return None;
    }
    Some((left / 2).max(floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_4_8_16_32_64_64_within_one_second() {
        let mut rng = bootlab_net::clock::rng(7);
        let mut b = Backoff::default();
        for expected in [4u64, 8, 16, 32, 64, 64, 64] {
            let d = b.next_delay(&mut rng);
            let lo = Duration::from_secs(expected - 1);
            let hi = Duration::from_secs(expected + 1);
            assert!(d >= lo && d <= hi, "delay {d:?} outside {expected}±1 s");
        }
        assert_eq!(b.attempts(), 7);
        b.reset();
        let d = b.next_delay(&mut rng);
        assert!(d >= Duration::from_secs(3) && d <= Duration::from_secs(5));
    }

    #[test]
    fn jitter_is_seeded_reproducible_and_not_constant() {
        let run = |seed| {
            let mut rng = bootlab_net::clock::rng(seed);
            let mut b = Backoff::default();
            (0..6).map(|_| b.next_delay(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn renewing_waits_half_the_remaining_time_but_at_least_60_s() {
        let s = Duration::from_secs;
        assert_eq!(half_remaining(s(0), s(1000), s(60)), Some(s(500)));
        assert_eq!(half_remaining(s(900), s(1000), s(60)), Some(s(60)));
        assert_eq!(half_remaining(s(960), s(1000), s(60)), None);
        assert_eq!(half_remaining(s(2000), s(1000), s(60)), None);
    }
}

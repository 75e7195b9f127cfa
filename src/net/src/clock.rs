//! Time and randomness for our daemons, both under the lab's control.
//!
//! Protocol cores take `now` as an argument (quinn style) and never read a clock. The daemons
//! read [`Clock::now`], which runs `scale` times faster than real time, so a scenario can pass a
//! 10-second DECLINE wait or a lease's T1 in a fraction of the time while the packets still carry
//! protocol-correct values (`secs`, lease times).

use rand::SeedableRng;
use std::time::{Duration, Instant};

/// The seeded random source every core uses (xid, back-off jitter, probe delays).
pub type Rng = rand_chacha::ChaCha8Rng;

/// A seeded [`Rng`]; the lab passes the scenario seed so traces reproduce.
pub fn rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// A protocol clock: time since the daemon started, scaled.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    scale: f64,
}

impl Clock {
    /// A clock running `scale` times faster than real time (1.0 on a real network).
    pub fn new(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Self {
            start: Instant::now(),
            scale,
        }
    }

    /// Protocol time elapsed since start.
    pub fn now(&self) -> Duration {
        self.start.elapsed().mul_f64(self.scale)
    }

    /// The real duration to sleep for a protocol-time interval.
    pub fn real(&self, protocol: Duration) -> Duration {
        protocol.div_f64(self.scale)
    }

    /// The real instant at which protocol time `at` is reached.
    pub fn instant_at(&self, at: Duration) -> Instant {
        self.start + self.real(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_clock_maps_protocol_time_to_real_time() {
        let c = Clock::new(10.0);
        assert_eq!(c.real(Duration::from_secs(10)), Duration::from_secs(1));
        assert_eq!(
            Clock::new(0.0).real(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }
}

//! Helpers shared by the fuzz targets: splitting one input into a sequence of timed datagrams,
//! so the protocol cores see conversations rather than single packets.

use std::time::Duration;

/// One step of a fuzzed conversation: advance the clock by `advance`, then deliver `bytes`
/// (or, when `bytes` is empty, fire the timers).
#[derive(Debug)]
pub struct Step<'a> {
    /// Time since the previous step.
    pub advance: Duration,
    /// The datagram; empty means "let the timers run".
    pub bytes: &'a [u8],
    /// A selector byte the target may use (interface, peer...).
    pub selector: u8,
}

/// Splits `data` into steps: `[advance_ms: u8][selector: u8][len: u16 le][bytes]...`; a short
/// tail becomes the last datagram as it is.
pub fn steps(mut data: &[u8]) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    while data.len() >= 4 && out.len() < 64 {
        let advance = Duration::from_millis(u64::from(data[0]) * 50);
        let selector = data[1];
        let len = usize::from(u16::from_le_bytes([data[2], data[3]]));
        let rest = &data[4..];
        let n = len.min(rest.len());
        out.push(Step {
            advance,
            bytes: &rest[..n],
            selector,
        });
        data = &rest[n..];
    }
    if !data.is_empty() {
        out.push(Step {
            advance: Duration::ZERO,
            bytes: data,
            selector: 0,
        });
    }
    out
}

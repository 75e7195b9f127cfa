//! The TFTP client core (RFC 1350 with options, windows, rollover) fed arbitrary packets from
//! any port, and timers: never panics.
#![no_main]
use bootlab_tftp::client::{Client, ClientConfig};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let mut cfg = ClientConfig::new("boot.img");
    if data.first().is_some_and(|b| b & 1 == 1) {
        cfg.blksize = Some(1428);
        cfg.windowsize = Some(4);
        cfg.tsize = true;
    }
    let mut c = Client::new(Duration::ZERO, cfg);
    let mut now = Duration::ZERO;
    for s in bootlab_fuzz::steps(data) {
        now += s.advance;
        if s.bytes.is_empty() {
            c.handle_timeout(now);
        } else {
            c.handle(now, 1000 + u16::from(s.selector & 3), s.bytes);
        }
        while c.poll_transmit().is_some() {}
        while c.poll_event().is_some() {}
    }
});

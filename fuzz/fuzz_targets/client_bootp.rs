//! The BOOTP client core (RFC 951) fed arbitrary replies and timer firings: never panics.
#![no_main]
use bootlab_client::bootp::{BootpClient, BootpConfig};
use bootlab_wire::bootp::Message;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let rng = bootlab_net::clock::rng(1);
    let mut c = BootpClient::new(
        BootpConfig::default(),
        [2, 0, 0, 0, 0, 1],
        rng,
        Duration::ZERO,
    );
    let mut now = Duration::ZERO;
    for s in bootlab_fuzz::steps(data) {
        now += s.advance;
        if s.bytes.is_empty() {
            c.handle_timeout(now);
        } else if let Ok((m, _)) = Message::parse(s.bytes) {
            let _ = c.handle_reply(now, &m);
        }
        while c.poll_transmit().is_some() {}
    }
});

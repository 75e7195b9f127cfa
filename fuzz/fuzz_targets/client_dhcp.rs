//! The DHCP client core (RFC 2131 state machine, RFC 5227 probing) fed arbitrary replies and
//! timer firings: never panics.
#![no_main]
use bootlab_client::dhcp::{DhcpClient, DhcpConfig};
use bootlab_client::msg::Transmit;
use bootlab_wire::bootp::Message;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fuzz_target!(|data: &[u8]| {
    let rng = bootlab_net::clock::rng(1);
    let mut c = DhcpClient::new(DhcpConfig::default(), MAC, rng, None, Duration::ZERO);
    let mut now = Duration::ZERO;
    for s in bootlab_fuzz::steps(data) {
        now += s.advance;
        if s.bytes.is_empty() || s.selector & 1 == 1 {
            if let Some(t) = c.poll_timeout() {
                now = now.max(t);
            }
            c.handle_timeout(now);
        }
        if let Ok((mut m, _)) = Message::parse(s.bytes) {
            if s.selector & 2 == 2 {
                // Aim the reply at us, as a server would.
                m.chaddr[..6].copy_from_slice(&MAC);
                if let Some(Transmit::Bootp { message, .. }) = c.poll_transmit() {
                    m.xid = message.xid;
                }
            }
            c.handle_reply(now, &m);
        }
        while c.poll_transmit().is_some() {}
        while c.poll_event().is_some() {}
    }
});

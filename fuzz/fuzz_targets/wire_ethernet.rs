//! Ethernet II framing: the checked view never panics on any length.
#![no_main]
use bootlab_wire::ethernet::{Packet, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::new_checked(data) {
        let _ = Repr::parse(&p);
    }
});

//! ARP/RARP codec (RFC 826, RFC 903): parse never panics; what parses re-emits.
#![no_main]
use bootlab_wire::arp::Repr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((r, _)) = Repr::parse(data) {
        let _ = Repr::parse(&r.emit());
    }
});

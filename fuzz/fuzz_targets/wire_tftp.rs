//! TFTP packet codec (RFC 1350, 2347-2349, 7440): parse never panics; what parses re-emits and
//! parses again.
#![no_main]
use bootlab_wire::tftp::Packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((p, _)) = Packet::parse(data) {
        let _ = Packet::parse(&p.emit());
    }
});

//! The whole-frame decoder (Ethernet, ARP/RARP, IPv4, UDP, BOOTP/DHCP, TFTP with conversation
//! tracking) over a sequence of frames.
#![no_main]
use bootlab_wire::frame::Decoder;
use bootlab_wire::ChecksumPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = Decoder::new(ChecksumPolicy::Verify);
    for s in bootlab_fuzz::steps(data) {
        let decoded = d.decode(s.bytes);
        let _ = decoded.to_string();
    }
});

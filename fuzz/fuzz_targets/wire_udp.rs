//! UDP header codec (RFC 768): lenient parse with pseudo-header checksum never panics.
#![no_main]
use std::net::Ipv4Addr;

use bootlab_wire::udp::Repr;
use bootlab_wire::ChecksumPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::BROADCAST);
    if let Ok((r, _)) = Repr::parse(data, src, dst, ChecksumPolicy::Verify) {
        let payload = data.get(8..).unwrap_or_default();
        let _ = Repr::parse(&r.emit(src, dst, payload), src, dst, ChecksumPolicy::Verify);
    }
});

//! IPv4 header codec (RFC 791): lenient parse with checksum verification never panics.
#![no_main]
use bootlab_wire::ipv4::Repr;
use bootlab_wire::ChecksumPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((r, _)) = Repr::parse(data, ChecksumPolicy::Verify) {
        let _ = Repr::parse(&r.emit(), ChecksumPolicy::Verify);
    }
    let _ = Repr::parse(data, ChecksumPolicy::Ignore);
});

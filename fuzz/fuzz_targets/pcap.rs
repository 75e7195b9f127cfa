//! The capture reader behind `bootlab decode` (classic pcap in any byte order and resolution,
//! pcapng, truncated and snaplen-limited files) and the decoder over what it reads.
#![no_main]
use bootlab_lab::cmd::decode::decode_capture;
use bootlab_wire::ChecksumPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frames) = decode_capture(data, ChecksumPolicy::Verify) {
        for f in &frames {
            let _ = f.to_string();
        }
    }
});

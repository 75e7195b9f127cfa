//! TCP header codec (RFC 9293 §3.1): lenient parse never panics; what parses re-emits (fixed
//! header, no options) and parses again to the same header.
#![no_main]
use bootlab_wire::tcp::{Packet, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((r, _)) = Repr::parse(data) {
        let _ = r.flags_text();
        let payload = Packet::new_checked(data).map(|p| p.payload().to_vec());
        let payload = payload.unwrap_or_default();
        let again = Repr::parse(&r.emit(&payload)).expect("an emitted header parses");
        assert_eq!(
            (again.0.src_port, again.0.dst_port, again.0.seq, again.0.ack),
            (r.src_port, r.dst_port, r.seq, r.ack)
        );
    }
});

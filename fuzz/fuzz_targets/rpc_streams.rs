//! Record marking on TCP streams (RFC 5531 §11) as the frame decoder follows it: any sequence
//! of segments, in either direction, with any sequence numbers and control bits, never panics
//! and every message found is described.
#![no_main]
use std::net::Ipv4Addr;

use bootlab_wire::frame::rpc_records_text;
use bootlab_wire::oncrpc::Streams;
use bootlab_wire::tcp::flags;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let client = (Ipv4Addr::new(192, 0, 2, 50), 700);
    let server = (Ipv4Addr::new(192, 0, 2, 1), 2049);
    let mut streams = Streams::default();
    for s in bootlab_fuzz::steps(data) {
        // The selector: bit 0 the direction, bits 1-2 SYN / RST / FIN / none.
        let (from, to) = if s.selector & 1 == 0 {
            (client, server)
        } else {
            (server, client)
        };
        let bits = match (s.selector >> 1) & 3 {
            0 => flags::SYN,
            1 => flags::RST,
            2 => flags::FIN | flags::ACK,
            _ => flags::ACK,
        };
        let (seq, payload) = match s.bytes.split_first_chunk::<4>() {
            Some((seq, rest)) => (u32::from_be_bytes(*seq), rest),
            None => (0, s.bytes),
        };
        let (records, _) = streams.segment(from, to, seq, bits, payload);
        let _ = rpc_records_text(&records);
    }
});

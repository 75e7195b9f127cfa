//! ONC RPC messages (RFC 5531 §9) and the NFS, MOUNT and portmapper names read from them
//! (RFC 1813, RFC 7530/8881 COMPOUND, RFC 1833): parse never panics, a parsed message is
//! described as a trace line would, and what parses re-emits and parses again.
#![no_main]
use bootlab_wire::nfs;
use bootlab_wire::oncrpc::{Body, Message, RecordMark};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = RecordMark::parse(data);
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    if let Ok((m, _)) = Message::parse(data) {
        match &m.body {
            Body::Call(c) => {
                let _ = nfs::describe_call(c);
            }
            Body::Reply(r) => {
                // The call a reply answers comes from elsewhere on the stream: let the selector
                // pick one the describers know.
                let call = match selector % 6 {
                    0 => (100_000, 2, 3),
                    1 => (100_000, 4, 3),
                    2 => (100_005, 3, 1),
                    3 => (100_003, 3, u32::from(selector >> 3)),
                    4 => (100_003, 4, 1),
                    _ => (u32::from(selector), 3, 1),
                };
                let _ = nfs::describe_reply(call.0, call.1, call.2, r);
                let _ = nfs::announced_port(call, r);
            }
        }
        Message::parse(&m.emit()).expect("an emitted message parses");
    }
});

//! The lease journal's replay (checksummed records, damage skipped, torn tails): never panics,
//! and the table it builds snapshots and replays to the same leases.
#![no_main]
use bootlab_server::journal::{encode, replay_into};
use bootlab_server::leases::Table;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut t = Table::default();
    let _ = replay_into(data, &mut t);
    let mut bytes = Vec::new();
    for r in t.snapshot(0) {
        encode(&r, &mut bytes);
    }
    let mut again = Table::default();
    let r = replay_into(&bytes, &mut again);
    assert!(r.damaged.is_empty() && r.torn_tail == 0, "{r:?}");
    assert_eq!(again.snapshot(0), t.snapshot(0));
});

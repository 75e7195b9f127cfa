//! The relay agent core (RFC 1542, RFC 3046) over datagrams from clients and servers: never
//! panics.
#![no_main]
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use bootlab_relay::config::Config;
use bootlab_relay::core::{Relay, RelayInterface};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = "interfaces = [\"c0\", \"c1\"]\nservers = [\"198.51.100.1\"]\n[option82]\ninsert = true\ncircuit-id = \"{interface}\"\n";
    let Ok(c) = Config::parse(text, Path::new("relay.toml")) else {
        return;
    };
    let mut r = Relay::new(
        c,
        vec![
            RelayInterface {
                name: "c0".into(),
                addr: Ipv4Addr::new(192, 0, 2, 1),
            },
            RelayInterface {
                name: "c1".into(),
                addr: Ipv4Addr::new(203, 0, 113, 1),
            },
        ],
    );
    let mut now = Duration::ZERO;
    let mut out = Vec::new();
    for s in bootlab_fuzz::steps(data) {
        now += s.advance;
        let on = match s.selector % 3 {
            0 => None,
            n => Some(usize::from(n - 1)),
        };
        r.handle(now, s.bytes, on, &mut out);
        out.clear();
    }
});

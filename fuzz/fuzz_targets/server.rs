//! The DHCP/BOOTP server core over a timed sequence of datagrams: never panics, whatever the
//! conversation; every reply it sends survives its own codec.
#![no_main]
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use bootlab_server::config::Config;
use bootlab_server::core::{Action, Incoming, Server};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"
interface = "eth0"
boot-dir = "/tftpboot"
lease-time = 600
offer-hold = 10
decline-probation = 100
[options]
routers = ["192.0.2.1"]
[[subnet]]
network = "192.0.2.0/24"
pools = ["192.0.2.100-192.0.2.103"]
[[subnet]]
network = "198.51.100.0/24"
pools = ["198.51.100.50-198.51.100.52"]
[[host]]
hardware = "02:00:00:00:00:10"
address = "192.0.2.10"
"#;

fuzz_target!(|data: &[u8]| {
    let Ok(c) = Config::parse(CONFIG, Path::new("fuzz.toml")) else {
        return;
    };
    let Ok(mut s) = Server::new(
        &c,
        vec![(Ipv4Addr::new(192, 0, 2, 1), 24)],
        Default::default(),
    ) else {
        return;
    };
    let mut now = Duration::from_secs(1_000_000);
    let mut out = Vec::new();
    for step in bootlab_fuzz::steps(data) {
        now += step.advance * 20;
        let source = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, step.selector), 68);
        s.handle(
            now,
            Incoming {
                bytes: step.bytes,
                source,
            },
            &mut out,
        );
        for a in out.drain(..) {
            if let Action::Send { message, .. } = a {
                assert!(bootlab_wire::bootp::Message::parse(&message.emit()).is_ok());
            }
        }
    }
});

//! The TFTP server core: admission (path confinement, option negotiation) of an arbitrary
//! request, then the transfer fed arbitrary packets from the peer and others, and timers.
#![no_main]
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use bootlab_tftp::server::{Admission, Server, ServerConfig};
use libfuzzer_sys::fuzz_target;

fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let r = std::env::temp_dir().join(format!("bootlab-fuzz-tftp-{}", std::process::id()));
        let _ = std::fs::create_dir_all(r.join("boot"));
        let _ = std::fs::write(r.join("boot.img"), vec![0x5a; 3000]);
        let _ = std::fs::write(r.join("boot/empty"), b"");
        let _ = std::fs::write(r.join("motd.txt"), b"hello\r\nworld\n\r\0\n");
        r.canonicalize().unwrap_or(r)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut cfg = ServerConfig::new(root().clone());
    cfg.allow_write = false;
    let server = Server::new(cfg);
    let peer = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 7), 2000));
    let stranger = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 8), 2001));
    let steps = bootlab_fuzz::steps(data);
    let Some((first, rest)) = steps.split_first() else {
        return;
    };
    let Admission::Start(mut t, _) = server.request(Duration::ZERO, peer, first.bytes) else {
        return;
    };
    let mut now = Duration::ZERO;
    for s in rest {
        now += s.advance;
        if s.bytes.is_empty() {
            t.handle_timeout(now);
        } else {
            let from = if s.selector & 1 == 0 { peer } else { stranger };
            t.handle(now, from, s.bytes);
        }
        while t.poll_transmit().is_some() {}
        while t.poll_event().is_some() {}
    }
});

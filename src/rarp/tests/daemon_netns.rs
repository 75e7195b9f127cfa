//! rarpd and rarp-client over a veth pair in a private network namespace entered by the test
//! thread (root only; skipped otherwise).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bootlab_rarp::client::Event;
use bootlab_rarp::{ask, serve, ClientArgs, ServerConfig};

fn sh(args: &[&str]) {
    let st = std::process::Command::new("ip")
        .args(args)
        .status()
        .expect("ip");
    assert!(st.success(), "ip {args:?}");
}

#[test]
fn rarpd_answers_a_known_client_and_not_an_unknown_one() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root for a private network namespace");
        return;
    }
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        sh(&["link", "add", "rs0", "type", "veth", "peer", "name", "rc0"]);
        sh(&["link", "set", "rc0", "address", "02:00:00:00:00:0a"]);
        sh(&["link", "set", "rs0", "up"]);
        sh(&["link", "set", "rc0", "up"]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async {
            let cfg = ServerConfig {
                interface: "rs0".into(),
                address: Ipv4Addr::new(192, 0, 2, 1),
                hosts: HashMap::from([(
                    "02:00:00:00:00:0a".to_string(),
                    Ipv4Addr::new(192, 0, 2, 10),
                )]),
            };
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(serve(cfg, async move {
                let _ = stopped.await;
            }));
            let mut args = ClientArgs {
                interface: "rc0".into(),
                mac: None,
                interval_ms: 100,
                attempts: 5,
                time_scale: 1.0,
            };
            match ask(&args).await.expect("a reply") {
                Event::Reply {
                    address, server, ..
                } => {
                    assert_eq!(address, Ipv4Addr::new(192, 0, 2, 10));
                    assert_eq!(server, Ipv4Addr::new(192, 0, 2, 1));
                }
                e => panic!("{e:?}"),
            }
            args.mac = Some("02:00:00:00:00:63".into());
            args.attempts = 2;
            assert!(
                ask(&args).await.is_err(),
                "unknown hardware address: no reply"
            );
            let _ = stop.send(());
            server.await.expect("join").expect("serve");
        });
    })
    .join()
    .expect("test thread");
}

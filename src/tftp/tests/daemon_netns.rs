//! The daemon and the `get` client over real UDP sockets, on the loopback of a private network
//! namespace entered by the test thread (root only; skipped otherwise). A network namespace
//! belongs to a thread, and a current-thread runtime keeps every socket on that thread.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use bootlab_tftp::daemon::{Daemon, DaemonConfig};
use bootlab_tftp::get::{get, GetArgs};
use bootlab_wire::tftp::{Mode, Packet, Request};

fn in_private_netns(test: impl FnOnce() + Send + 'static) {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root for a private network namespace");
        return;
    }
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip");
        assert!(up.success());
        test();
    })
    .join()
    .expect("test thread");
}

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("bootlab-tftpd-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("root")).expect("mkdir");
        Self(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(root: PathBuf) -> DaemonConfig {
    let text = format!(
        "root = {:?}\naddress = \"127.0.0.1\"\ntimeout = 0.2\nretries = 3\n",
        root
    );
    toml::from_str(&text).expect("config")
}

fn args(file: &str, out: PathBuf) -> GetArgs {
    let mut a = GetArgs::new(Ipv4Addr::LOCALHOST, file, Some(out));
    a.rexmt_ms = 200;
    a
}

#[test]
fn daemon_serves_plain_negotiated_and_netascii_and_refuses_traversal() {
    in_private_netns(|| {
        let dir = Dir::new("serve");
        let content: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
        std::fs::write(dir.0.join("root/boot.img"), &content).expect("write");
        std::fs::write(dir.0.join("root/motd.txt"), b"hello\nworld\n").expect("write");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let daemon = Daemon::bind(&config(dir.0.join("root"))).expect("bind");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(daemon.serve(async move {
                let _ = stopped.await;
            }));

            let out = dir.0.join("plain.out");
            let r = get(&args("boot.img", out.clone()))
                .await
                .expect("plain get");
            assert_eq!(r.bytes, content.len() as u64);
            assert_eq!(std::fs::read(&out).expect("read"), content);

            let mut a = args("boot.img", dir.0.join("opt.out"));
            (a.blksize, a.windowsize, a.tsize) = (Some(1428), Some(8), true);
            get(&a).await.expect("negotiated get");
            assert_eq!(std::fs::read(dir.0.join("opt.out")).expect("read"), content);

            let mut a = args("motd.txt", dir.0.join("motd.out"));
            a.mode = "netascii".into();
            get(&a).await.expect("netascii get");
            assert_eq!(
                std::fs::read(dir.0.join("motd.out")).expect("read"),
                b"hello\nworld\n"
            );

            for bad in ["../plain.out", "/etc/passwd"] {
                let out = dir.0.join("bad.out");
                let e = get(&args(bad, out.clone())).await.expect_err(bad);
                assert!(format!("{e:#}").contains("server error 2"), "{bad}: {e:#}");
                assert!(!out.exists());
            }
            let _ = stop.send(());
            server.await.expect("join").expect("serve");
        });
    });
}

#[test]
fn a_silent_client_does_not_hold_back_another() {
    in_private_netns(|| {
        let dir = Dir::new("slow");
        let content = vec![0x5a; 200_000];
        std::fs::write(dir.0.join("root/big"), &content).expect("write");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let daemon = Daemon::bind(&config(dir.0.join("root"))).expect("bind");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(daemon.serve(async move {
                let _ = stopped.await;
            }));
            // A client that asks and then never ACKs: its transfer retransmits on its own.
            let silent = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let rrq = Packet::Rrq(Request {
                filename: "big".into(),
                mode: Mode::Octet,
                options: vec![],
            });
            silent
                .send_to(&rrq.emit(), "127.0.0.1:69")
                .await
                .expect("send");
            let mut buf = [0u8; 600];
            let (n, _) = silent.recv_from(&mut buf).await.expect("DATA 1");
            assert!(matches!(
                Packet::parse(&buf[..n]),
                Ok((Packet::Data { block: 1, .. }, _))
            ));

            let started = std::time::Instant::now();
            let r = get(&args("big", dir.0.join("fast.out")))
                .await
                .expect("get");
            assert_eq!(r.bytes, content.len() as u64);
            assert!(started.elapsed() < Duration::from_secs(5));

            // The silent transfer's DATA 1 is retransmitted after the timeout, not more often.
            let (n, _) = tokio::time::timeout(Duration::from_secs(2), silent.recv_from(&mut buf))
                .await
                .expect("a retransmission")
                .expect("recv");
            assert!(matches!(
                Packet::parse(&buf[..n]),
                Ok((Packet::Data { block: 1, .. }, _))
            ));
            let _ = stop.send(());
            server.await.expect("join").expect("serve");
        });
    });
}

#[test]
fn write_creates_a_new_file_only_when_allowed() {
    in_private_netns(|| {
        let dir = Dir::new("write");
        std::fs::write(dir.0.join("root/exists"), b"old").expect("write");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut cfg = config(dir.0.join("root"));
            cfg.allow_write = true;
            let daemon = Daemon::bind(&cfg).expect("bind");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(daemon.serve(async move {
                let _ = stopped.await;
            }));
            let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let mut buf = [0u8; 600];
            let wrq = |name: &str| {
                Packet::Wrq(Request {
                    filename: name.into(),
                    mode: Mode::Octet,
                    options: vec![],
                })
                .emit()
            };

            sock.send_to(&wrq("exists"), "127.0.0.1:69")
                .await
                .expect("send");
            let (n, _) = sock.recv_from(&mut buf).await.expect("error");
            assert!(matches!(
                Packet::parse(&buf[..n]),
                Ok((
                    Packet::Error {
                        code: bootlab_wire::tftp::ErrorCode::FileExists,
                        ..
                    },
                    _
                ))
            ));

            // Sent twice, as a client whose first ACK 0 got lost would: one transfer only, and
            // no ERROR 6 for the file the first request created.
            for _ in 0..2 {
                sock.send_to(&wrq("up.bin"), "127.0.0.1:69")
                    .await
                    .expect("send");
            }
            let (n, tid) = sock.recv_from(&mut buf).await.expect("ACK 0");
            assert_eq!(
                Packet::parse(&buf[..n]).expect("ack").0,
                Packet::Ack { block: 0 }
            );
            let again =
                tokio::time::timeout(Duration::from_millis(100), sock.recv_from(&mut buf)).await;
            assert!(again.is_err(), "the repeated WRQ was answered: {again:?}");
            assert_ne!(tid.port(), 69, "answers come from a new TID");
            let block1 = vec![0x42; 512];
            sock.send_to(
                &Packet::Data {
                    block: 1,
                    data: block1.clone(),
                }
                .emit(),
                tid,
            )
            .await
            .expect("send");
            let (n, _) = sock.recv_from(&mut buf).await.expect("ACK 1");
            assert_eq!(
                Packet::parse(&buf[..n]).expect("ack").0,
                Packet::Ack { block: 1 }
            );
            sock.send_to(
                &Packet::Data {
                    block: 2,
                    data: b"end".to_vec(),
                }
                .emit(),
                tid,
            )
            .await
            .expect("send");
            let (n, _) = sock.recv_from(&mut buf).await.expect("ACK 2");
            assert_eq!(
                Packet::parse(&buf[..n]).expect("ack").0,
                Packet::Ack { block: 2 }
            );
            let mut want = block1;
            want.extend_from_slice(b"end");
            // The task drains and syncs right after the final ACK; allow it a moment.
            for _ in 0..50 {
                if std::fs::read(dir.0.join("root/up.bin")).is_ok_and(|d| d == want) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(
                std::fs::read(dir.0.join("root/up.bin")).expect("uploaded"),
                want
            );
            let _ = stop.send(());
            server.await.expect("join").expect("serve");
        });
    });
}

#[test]
fn broadcast_requests_are_ignored_and_answers_come_from_the_asked_address() {
    // A veth pair stands in for a LAN interface (this kernel has no dummy driver).
    in_private_netns(|| {
        for args in [
            &["link", "add", "d0", "type", "veth", "peer", "name", "d1"][..],
            &["addr", "add", "192.0.2.1/24", "dev", "d0"],
            &["addr", "add", "198.51.100.1/24", "dev", "d0"],
            &["link", "set", "d0", "up"],
            &["link", "set", "d1", "up"],
            // 255.255.255.255 needs a route to leave by.
            &["route", "add", "default", "dev", "d0"],
        ] {
            let st = std::process::Command::new("ip")
                .args(args)
                .status()
                .expect("ip");
            assert!(st.success(), "ip {args:?}");
        }
        let dir = Dir::new("bcast");
        std::fs::write(dir.0.join("root/f"), b"hello").expect("write");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut cfg = config(dir.0.join("root"));
            cfg.address = Ipv4Addr::UNSPECIFIED;
            let daemon = Daemon::bind(&cfg).expect("bind");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(daemon.serve(async move {
                let _ = stopped.await;
            }));
            let sock = tokio::net::UdpSocket::bind("0.0.0.0:0")
                .await
                .expect("bind");
            sock.set_broadcast(true).expect("SO_BROADCAST");
            let rrq = Packet::Rrq(Request {
                filename: "f".into(),
                mode: Mode::Octet,
                options: vec![],
            })
            .emit();
            let mut buf = [0u8; 600];

            for bcast in ["192.0.2.255:69", "255.255.255.255:69"] {
                sock.send_to(&rrq, bcast).await.expect("send");
                let r = tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf))
                    .await;
                assert!(r.is_err(), "a request to {bcast} was answered");
            }
            for (to, from) in [
                ("198.51.100.1:69", "198.51.100.1"),
                ("192.0.2.1:69", "192.0.2.1"),
            ] {
                sock.send_to(&rrq, to).await.expect("send");
                let (n, tid) =
                    tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
                        .await
                        .expect("an answer")
                        .expect("recv");
                assert_eq!(tid.ip().to_string(), from);
                assert_eq!(
                    Packet::parse(&buf[..n]).expect("data").0,
                    Packet::Data {
                        block: 1,
                        data: b"hello".to_vec()
                    }
                );
                sock.send_to(&Packet::Ack { block: 1 }.emit(), tid)
                    .await
                    .expect("ack");
            }
            let _ = stop.send(());
            server.await.expect("join").expect("serve");
        });
    });
}

/// Issue 18: transfers are bounded per client address and in all; a request over a bound gets
/// ERROR 0 at once, and a finished transfer gives its slot back.
#[test]
fn concurrent_transfers_are_bounded_per_client_and_in_all() {
    in_private_netns(|| {
        let dir = Dir::new("slots");
        std::fs::write(dir.0.join("root/big"), vec![0x5a; 200_000]).expect("write");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut cfg = config(dir.0.join("root"));
            (cfg.max_transfers, cfg.max_transfers_per_client) = (3, 2);
            (cfg.timeout, cfg.retries) = (0.5, 1);
            let daemon = Daemon::bind(&cfg).expect("bind");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(daemon.serve(async move {
                let _ = stopped.await;
            }));
            let rrq = Packet::Rrq(Request {
                filename: "big".into(),
                mode: Mode::Octet,
                options: vec![],
            })
            .emit();
            // Silent clients: each asks, gets its first answer, and never ACKs.
            let mut socks = Vec::new();
            let mut answers = Vec::new();
            for from in [
                "127.0.0.1",
                "127.0.0.1",
                "127.0.0.1",
                "127.0.0.2",
                "127.0.0.2",
            ] {
                let s = tokio::net::UdpSocket::bind(format!("{from}:0"))
                    .await
                    .expect("bind");
                s.send_to(&rrq, "127.0.0.1:69").await.expect("send");
                let mut buf = [0u8; 600];
                let (n, _) = tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut buf))
                    .await
                    .expect("an answer")
                    .expect("recv");
                answers.push(match Packet::parse(&buf[..n]) {
                    Ok((Packet::Data { block: 1, .. }, _)) => "data".to_string(),
                    Ok((Packet::Error { code, message }, _)) => {
                        format!("error {}: {message}", code.value())
                    }
                    other => format!("{other:?}"),
                });
                socks.push(s);
            }
            assert_eq!(answers[0], "data");
            assert_eq!(answers[1], "data");
            assert!(
                answers[2].starts_with("error 0: too many transfers from 127.0.0.1"),
                "{answers:?}"
            );
            assert_eq!(answers[3], "data");
            assert!(
                answers[4].starts_with("error 0: server busy"),
                "{answers:?}"
            );
            // The silent transfers give up (timeout 0.5 s, one retry) and their slots come back.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let r = get(&args("big", dir.0.join("after.out")))
                .await
                .expect("a slot again");
            assert_eq!(r.bytes, 200_000);
            let _ = stop.send(());
            server.await.expect("join").expect("serve");
        });
    });
}

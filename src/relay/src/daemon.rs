//! The tokio shell around [`crate::core::Relay`].
//!
//! One UDP socket on port 67 per client-side interface (SO_BINDTODEVICE: requests from that
//! link, deliveries back onto it through a [`Deliverer`]) and one unbound port-67 socket for the
//! uplink (forwarding to servers, their replies to giaddr). SIGTERM/SIGINT stop, SIGHUP reloads.
//!
//! Events: `ready` {interfaces, servers} once every socket is bound; `forwarded`,
//! `reply-relayed`, `ignored` {reason}, `send-failed`, `reloaded`, `stopped` {counters}.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bootlab_net::delivery::{self, Deliverer, Interface};
use bootlab_net::{clock::Clock, events};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::core::{Action, Relay, RelayInterface};

/// Runs the daemon for `args` until SIGTERM.
pub fn run(args: crate::Args) -> anyhow::Result<()> {
    bootlab_net::log::init();
    let config = Config::load(&args.config)?;
    if args.check {
        println!(
            "{}: ok: interfaces {:?}, servers {:?}, hop-limit {}",
            args.config.display(),
            config.interfaces,
            config.servers,
            config.hop_limit
        );
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(serve(args, config))
}

async fn serve(args: crate::Args, config: Config) -> anyhow::Result<()> {
    let clock = Clock::new(config.time_scale);
    let mut ifaces = Vec::new();
    let mut deliverers = Vec::new();
    let (tx, mut rx) = mpsc::channel::<(Option<usize>, Vec<u8>)>(4096);
    for (i, name) in config.interfaces.iter().enumerate() {
        let iface = Interface::lookup(name)?;
        let addr = iface
            .primary()
            .with_context(|| format!("interface {name} has no IPv4 address for giaddr"))?;
        let sock = Arc::new(UdpSocket::from_std(
            delivery::bind_udp(Some(name), bootlab_wire::bootp::SERVER_PORT)
                .with_context(|| format!("bind UDP port 67 on {name}"))?,
        )?);
        spawn_reader(sock.clone(), Some(i), tx.clone());
        deliverers.push(Deliverer::new(sock, iface, config.neighbour_state));
        ifaces.push(RelayInterface {
            name: name.clone(),
            addr,
        });
    }
    let uplink = Arc::new(UdpSocket::from_std(
        delivery::bind_udp(None, bootlab_wire::bootp::SERVER_PORT)
            .context("bind the uplink UDP port 67")?,
    )?);
    spawn_reader(uplink.clone(), None, tx.clone());
    drop(tx);
    let mut relay = Relay::new(config.clone(), ifaces.clone());
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tracing::info!(interfaces = ?config.interfaces, servers = ?config.servers, "relaying");
    events::emit(
        "ready",
        json!({
            "interfaces": ifaces.iter().map(|f| json!({"name": f.name, "giaddr": f.addr.to_string()})).collect::<Vec<_>>(),
            "servers": config.servers.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            // Whether it inserts option 82 (RFC 3046 §2.1), for the lab's RELAY-82-01 check.
            "option82": config.option82.insert,
        }),
    );
    let mut out = Vec::new();
    let mut send_failures = 0u64;
    loop {
        tokio::select! {
            got = rx.recv() => {
                let Some((on, bytes)) = got else { break };
                out.clear();
                relay.handle(clock.now(), &bytes, on, &mut out);
                for a in out.drain(..) {
                    let res = match &a {
                        Action::Forward { to, bytes } => uplink.send_to(bytes, *to).await.map(|_| ()).map_err(|e| e.to_string()),
                        Action::Deliver { interface, dest, bytes } => match deliverers.get(*interface) {
                            Some(d) => match d.send_or_broadcast(*dest, bytes).await {
                                Ok(None) => Ok(()),
                                Ok(Some(e)) => Err(format!("{e}; broadcast instead")),
                                Err(e) => Err(e.to_string()),
                            },
                            None => Err("no such interface".into()),
                        },
                        Action::Event { name, fields } => {
                            events::emit(name, fields.clone());
                            Ok(())
                        }
                    };
                    if let Err(e) = res {
                        send_failures += 1;
                        tracing::warn!("send failed: {e}");
                        events::emit("send-failed", json!({"error": e}));
                    }
                }
            }
            _ = hup.recv() => match Config::load(&args.config) {
                Ok(c) => {
                    if c.interfaces != config.interfaces {
                        tracing::warn!("interface changes need a restart; other keys reloaded");
                    }
                    relay.reconfigure(c);
                    tracing::info!(counters = ?relay.counters, "configuration reloaded");
                    events::emit("reloaded", json!({"counters": relay.counters}));
                }
                Err(e) => tracing::error!("reload failed, keeping the old configuration: {e}"),
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!(counters = ?relay.counters, send_failures, "stopping");
    events::emit(
        "stopped",
        json!({"counters": relay.counters, "send_failures": send_failures}),
    );
    Ok(())
}

/// Reads datagrams from `sock` into the relay's queue, tagged with where they arrived.
fn spawn_reader(
    sock: Arc<UdpSocket>,
    on: Option<usize>,
    tx: mpsc::Sender<(Option<usize>, Vec<u8>)>,
) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            match sock.recv_from(&mut buf).await {
                Ok((n, _)) => {
                    if tx.send((on, buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!("receive: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });
}

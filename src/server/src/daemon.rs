//! The tokio shell around [`crate::core::Server`]: one UDP socket on port 67 bound to the
//! interface, a batch loop with group commit, signals.
//!
//! Per batch: wait for one datagram, take every further datagram already queued (up to
//! [`BATCH`]), run them all through the core, write their journal records with one sync, and only
//! then send the replies and print the events. SIGTERM/SIGINT stop cleanly, SIGHUP reloads the
//! configuration (leases kept).
//!
//! Events (stdout, `bootlab_net::events`): `ready` {interface, address, port, leases} once the
//! socket is bound; per packet `offered`, `lease-acked`, `nak-sent`, `bootp-reply`, `informed`,
//! `declined`, `released`, `ignored` {reason}; `reloaded`, `send-failed`, and `stopped`
//! {counters} at exit.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bootlab_net::delivery::{self, Deliverer, Interface};
use bootlab_net::{clock::Clock, events};
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::Config;
use crate::core::{Action, Incoming, Server};
use crate::journal::Journal;

/// Most datagrams handled per batch (per journal sync).
pub const BATCH: usize = 256;

/// Runs the daemon for `args` until SIGTERM.
pub fn run(args: crate::Args) -> anyhow::Result<()> {
    bootlab_net::log::init();
    let config = load(&args)?;
    if args.check {
        println!(
            "{}: ok: interface {}, {} subnet(s), {} host(s), reply-policy {:?}, quirks {:?}",
            args.config.display(),
            config.interface,
            config.subnet.len(),
            config.host.len(),
            config.reply_policy,
            config.quirks
        );
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(serve(args, config))
}

fn load(args: &crate::Args) -> anyhow::Result<Config> {
    let mut config = Config::load(&args.config)?;
    if let Some(tab) = &args.bootptab {
        config.import_bootptab(tab)?;
    }
    Ok(config)
}

/// Protocol time since the epoch: the wall clock at start plus the scaled time since.
struct Now {
    base: Duration,
    clock: Clock,
}

impl Now {
    fn new(scale: f64) -> Self {
        Self {
            base: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            clock: Clock::new(scale),
        }
    }
    fn get(&self) -> Duration {
        self.base + self.clock.now()
    }
}

async fn serve(args: crate::Args, config: Config) -> anyhow::Result<()> {
    let iface = Interface::lookup(&config.interface)?;
    let now = Now::new(config.time_scale);
    let (mut journal, table) = match &config.lease_file {
        Some(path) => {
            let (j, t, n) = Journal::open(path, now.get().as_secs())?;
            tracing::info!(path = %path.display(), records = n, leases = t.len(), "lease journal replayed and compacted");
            (Some(j), t)
        }
        None => (None, Default::default()),
    };
    let leases = table.len();
    let mut server = Server::new(&config, iface.addrs.clone(), table)?;
    let std_socket = delivery::bind_udp(Some(&config.interface), bootlab_wire::bootp::SERVER_PORT)
        .with_context(|| format!("bind UDP port 67 on {}", config.interface))?;
    let socket = Arc::new(tokio::net::UdpSocket::from_std(std_socket)?);
    let deliverer = Deliverer::new(socket.clone(), iface.clone(), config.neighbour_state);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tracing::info!(interface = %iface.name, server_id = %server.server_id(), "listening on port 67");
    events::emit(
        "ready",
        json!({
            "interface": iface.name,
            "address": server.server_id().to_string(),
            "port": bootlab_wire::bootp::SERVER_PORT,
            "leases": leases,
        }),
    );

    let mut buf = vec![0u8; 65536];
    let mut actions = Vec::with_capacity(BATCH * 3);
    let mut send_failures = 0u64;
    let mut batch = events::Batch::default();
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, from) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("receive: {e}");
                        continue;
                    }
                };
                actions.clear();
                handle_one(&mut server, &now, &buf[..n], from, &mut actions);
                for _ in 1..BATCH {
                    match socket.try_recv_from(&mut buf) {
                        Ok((n, from)) => handle_one(&mut server, &now, &buf[..n], from, &mut actions),
                        Err(_) => break,
                    }
                }
                // Write-ahead with group commit: one sync for the whole batch, before any reply.
                if let Some(j) = journal.as_mut() {
                    for a in &actions {
                        if let Action::Journal(r) = a {
                            j.push(r);
                        }
                    }
                    if let Err(e) = j.commit() {
                        // Without durability no ACK of this batch may leave.
                        tracing::error!("{e}; dropping the replies of this batch");
                        events::emit("journal-failed", json!({"error": e.to_string()}));
                        continue;
                    }
                    if j.wants_compaction() {
                        match j.compact(server.table(), now.get().as_secs()) {
                            Ok(()) => tracing::info!(leases = server.table().len(), "lease journal compacted"),
                            Err(e) => tracing::error!("{e}"),
                        }
                    }
                }
                for a in actions.drain(..) {
                    match a {
                        Action::Send { message, dest } => {
                            let bytes = message.emit();
                            match deliverer.send_or_broadcast(dest, &bytes).await {
                                Ok(None) => tracing::debug!(xid = message.xid, %dest, "sent"),
                                Ok(Some(e)) => {
                                    send_failures += 1;
                                    tracing::warn!(xid = message.xid, %dest, "{e}; broadcast instead");
                                    batch.push("send-failed", json!({"xid": message.xid, "destination": dest.to_string(), "error": e.to_string(), "fallback": "broadcast"}));
                                }
                                Err(e) => {
                                    send_failures += 1;
                                    tracing::warn!(xid = message.xid, %dest, "send failed: {e}");
                                    batch.push("send-failed", json!({"xid": message.xid, "destination": dest.to_string(), "error": e.to_string()}));
                                }
                            }
                        }
                        Action::Event { name, fields } => batch.push(name, fields),
                        Action::Journal(_) => {}
                    }
                }
                // The batch's events in one write, after its replies.
                batch.flush();
            }
            _ = hup.recv() => {
                match load(&args) {
                    Ok(c) => {
                        if c.interface != config.interface || c.lease_file != config.lease_file {
                            tracing::warn!("interface and lease-file changes need a restart; other keys reloaded");
                        }
                        server.reconfigure(&c);
                        tracing::info!(counters = ?server.counters, "configuration reloaded");
                        events::emit("reloaded", json!({"counters": server.counters}));
                    }
                    Err(e) => tracing::error!("reload failed, keeping the old configuration: {e:#}"),
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    if let Some(j) = journal.as_mut() {
        j.commit()?;
    }
    tracing::info!(counters = ?server.counters, send_failures, "stopping");
    events::emit(
        "stopped",
        json!({"counters": server.counters, "send_failures": send_failures}),
    );
    Ok(())
}

fn handle_one(
    server: &mut Server,
    now: &Now,
    bytes: &[u8],
    from: std::net::SocketAddr,
    out: &mut Vec<Action>,
) {
    let source = match from {
        std::net::SocketAddr::V4(a) => a,
        std::net::SocketAddr::V6(_) => SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0),
    };
    server.handle(now.get(), Incoming { bytes, source }, out);
}

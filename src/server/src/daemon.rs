//! The tokio shell around [`crate::core::Server`]: one UDP socket on port 67 bound to the
//! interface, a batch loop with group commit, signals.
//!
//! Per batch: wait for one datagram, take every further datagram already queued (up to
//! [`BATCH`]) and run them all through the core. Their journal records are written and synced
//! with one `fdatasync` on a blocking thread, and only then do their replies leave and their
//! events print (write-ahead). While a sync is in flight the loop keeps receiving and handling;
//! everything handled meanwhile joins the next sync (pipelined group commit), so a slow disk
//! makes batches larger instead of stalling the loop. SIGTERM/SIGINT stop cleanly, SIGHUP reloads the
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

/// Most datagrams handled per batch (per journal sync); also the most handled while a sync is in
/// flight, so the replies released together stay a burst a client's (or relay's) socket buffer
/// can take. Beyond that, datagrams wait in (or overflow) our own socket buffer.
pub const BATCH: usize = 64;

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
    let (journal, table) = match &config.lease_file {
        Some(path) => {
            let (j, t, replay) = Journal::open(path, now.get().as_secs())?;
            tracing::info!(path = %path.display(), records = replay.records, leases = t.len(), "lease journal replayed and compacted");
            crate::journal::report(&replay);
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
            // The lease policy (RFC 2131 §4.3.1), for the lab's SRV-LEASE-02 check.
            "lease_time": config.lease_time,
            "max_lease_time": config.max_lease_time.max(config.lease_time),
            "lease_times_vary": config.subnet.iter().any(|s| s.lease_time.is_some()),
        }),
    );

    let mut buf = vec![0u8; 65536];
    // Actions of the datagrams handled since the last sync started; their journal records go
    // into the next sync, their replies leave when it is done.
    let mut pending: Vec<Action> = Vec::with_capacity(BATCH * 3);
    let mut out = Out {
        deliverer,
        events: events::Batch::default(),
        send_failures: 0,
    };
    let mut journal = journal.map(Commit::Idle);
    // Datagrams handled since the last sync started.
    let mut handled = 0usize;
    loop {
        let syncing = matches!(journal, Some(Commit::Syncing(..)));
        let room = !syncing || handled < BATCH;
        tokio::select! {
            r = socket.recv_from(&mut buf), if room => {
                let (n, from) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("receive: {e}");
                        continue;
                    }
                };
                handle_one(&mut server, &now, &buf[..n], from, &mut pending);
                handled += 1;
                while handled < BATCH {
                    match socket.try_recv_from(&mut buf) {
                        Ok((n, from)) => handle_one(&mut server, &now, &buf[..n], from, &mut pending),
                        Err(_) => break,
                    }
                    handled += 1;
                }
                match journal.take() {
                    // No lease file: nothing to wait for.
                    None => {
                        handled = 0;
                        out.release(&mut pending).await;
                    }
                    // Write-ahead: this batch's records are synced before any of its replies
                    // leaves; the sync runs on a blocking thread while more datagrams are handled.
                    Some(Commit::Idle(j)) => {
                        handled = 0;
                        journal = Some(Commit::start(j, &mut pending));
                    }
                    // A sync is in flight: this batch joins the next one (group commit).
                    Some(busy) => journal = Some(busy),
                }
            }
            done = async {
                match journal.as_mut() {
                    Some(Commit::Syncing(task, _)) => task.await,
                    _ => std::future::pending().await,
                }
            }, if syncing => {
                let Some(Commit::Syncing(_, mut synced)) = journal.take() else {
                    continue;
                };
                let mut j = match done {
                    Ok((j, Ok(()))) => {
                        out.release(&mut synced).await;
                        j
                    }
                    Ok((j, Err(e))) => {
                        // Without durability no ACK of that batch may leave.
                        tracing::error!("{e}; dropping the replies of a batch");
                        events::emit("journal-failed", json!({"error": e.to_string()}));
                        j
                    }
                    Err(e) => anyhow::bail!("lease journal sync task: {e}"),
                };
                if j.wants_compaction() {
                    match j.compact(server.table(), now.get().as_secs()) {
                        Ok(()) => tracing::info!(leases = server.table().len(), "lease journal compacted"),
                        Err(e) => tracing::error!("{e}"),
                    }
                }
                handled = 0;
                journal = Some(if pending.is_empty() {
                    Commit::Idle(j)
                } else {
                    Commit::start(j, &mut pending)
                });
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
    // Finish the sync in flight and commit what is left; the replies still waiting are dropped
    // (their clients retransmit to the next instance).
    let mut journal = match journal {
        Some(Commit::Syncing(task, _)) => Some(task.await?.0),
        Some(Commit::Idle(j)) => Some(j),
        None => None,
    };
    if let Some(j) = journal.as_mut() {
        for a in &pending {
            if let Action::Journal(r) = a {
                j.push(r);
            }
        }
        j.commit()?;
    }
    let send_failures = out.send_failures;
    tracing::info!(counters = ?server.counters, send_failures, "stopping");
    events::emit(
        "stopped",
        json!({"counters": server.counters, "send_failures": send_failures}),
    );
    Ok(())
}

/// The lease journal in the serve loop: at home, or away on a blocking thread syncing a batch
/// whose actions wait for it.
enum Commit {
    /// No sync in flight.
    Idle(Journal),
    /// A sync in flight and the actions (replies, events) released when it is done.
    Syncing(
        tokio::task::JoinHandle<(Journal, Result<(), crate::journal::JournalError>)>,
        Vec<Action>,
    ),
}

impl Commit {
    /// Queues the journal records of `actions` and starts their sync (write and one
    /// `fdatasync`) on a blocking thread; `actions` is left empty.
    fn start(mut j: Journal, actions: &mut Vec<Action>) -> Commit {
        for a in actions.iter() {
            if let Action::Journal(r) = a {
                j.push(r);
            }
        }
        let waiting = std::mem::take(actions);
        let task = tokio::task::spawn_blocking(move || {
            let r = j.commit();
            (j, r)
        });
        Commit::Syncing(task, waiting)
    }
}

/// Where released actions go: replies to the wire, events to stdout (one write per batch).
struct Out {
    deliverer: Deliverer,
    events: events::Batch,
    send_failures: u64,
}

impl Out {
    /// Sends the replies and prints the events of `actions`, in order; `actions` is left empty.
    async fn release(&mut self, actions: &mut Vec<Action>) {
        for a in actions.drain(..) {
            match a {
                Action::Send { message, dest } => {
                    let bytes = message.emit();
                    match self.deliverer.send_or_broadcast(dest, &bytes).await {
                        Ok(None) => tracing::debug!(xid = message.xid, %dest, "sent"),
                        Ok(Some(e)) => {
                            self.send_failures += 1;
                            tracing::warn!(xid = message.xid, %dest, "{e}; broadcast instead");
                            self.events.push("send-failed", json!({"xid": message.xid, "destination": dest.to_string(), "error": e.to_string(), "fallback": "broadcast"}));
                        }
                        Err(e) => {
                            self.send_failures += 1;
                            tracing::warn!(xid = message.xid, %dest, "send failed: {e}");
                            self.events.push("send-failed", json!({"xid": message.xid, "destination": dest.to_string(), "error": e.to_string()}));
                        }
                    }
                }
                Action::Event { name, fields } => self.events.push(name, fields),
                Action::Journal(_) => {}
            }
        }
        // The batch's events in one write, after its replies.
        self.events.flush();
    }
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

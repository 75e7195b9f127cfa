//! bootlab-rarp: RARP (RFC 903), the protocol BOOTP replaced. A RARP request is an Ethernet
//! broadcast, so it never crosses a router, and it carries only an address: the two reasons the
//! Linux remote-boot howto gives for using BOOTP instead (seed 002). The lab's
//! `rarp-vs-bootp-router` scenario shows the first.
//!
//! Pure cores ([`server::Server`], [`client::Client`]) and two thin daemons over AF_PACKET:
//! `bootlab rarpd --config F` and `bootlab rarp-client --interface IF`.
//!
//! rarpd config (TOML):
//!
//! ```toml
//! interface = "eth0"
//! address = "192.0.2.1"          # our IPv4 address, sent as ar$spa
//! [hosts]                        # hardware address -> IPv4 address
//! "02:00:00:00:00:0a" = "192.0.2.10"
//! ```
//!
//! Events: rarpd `ready`, `rarp-reply-sent`, `ignored` (unknown hardware address); the client
//! `rarp-reply-received` (address, server, server-mac) or `rarp-failed`.

pub mod client;
pub mod server;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bootlab_net::clock::Clock;
use bootlab_net::events;
use bootlab_sys::packet::{AsyncPacketSocket, EtherType, PacketSocket};
use bootlab_wire::ethernet::Address;
use serde::Deserialize;
use serde_json::json;

/// Command-line arguments of `bootlab rarpd`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Configuration file (TOML).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
}

/// The rarpd configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServerConfig {
    /// The interface to answer on.
    pub interface: String,
    /// Our IPv4 address (`ar$spa` of replies).
    pub address: Ipv4Addr,
    /// Hardware address (`02:00:00:00:00:0a`) to IPv4 address.
    #[serde(default)]
    pub hosts: HashMap<String, Ipv4Addr>,
}

impl ServerConfig {
    /// The table with parsed hardware addresses.
    pub fn table(&self) -> anyhow::Result<HashMap<Address, Ipv4Addr>> {
        self.hosts
            .iter()
            .map(|(m, ip)| {
                let mac = server::parse_mac(m)
                    .with_context(|| format!("hosts: {m:?} is not a MAC address"))?;
                Ok((mac, *ip))
            })
            .collect()
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Runs `bootlab rarpd` until SIGTERM. Builds its own tokio runtime.
pub fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    bootlab_net::log::init();
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let cfg: ServerConfig =
        toml::from_str(&text).with_context(|| format!("parsing {}", args.config.display()))?;
    runtime()?.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        serve(cfg, async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
        .await
    })
}

/// Answers RARP requests on the configured interface until `shutdown` completes; emits `ready`
/// once the socket is open.
pub async fn serve(
    cfg: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let mac = Address(bootlab_sys::iface::mac(&cfg.interface)?);
    let core = server::Server::new(mac, cfg.address, cfg.table()?);
    let sock = AsyncPacketSocket::new(PacketSocket::bind(&cfg.interface, EtherType::Rarp)?)?;
    tokio::pin!(shutdown);
    tracing::info!(interface = %cfg.interface, %mac, address = %cfg.address, hosts = cfg.hosts.len(), "rarpd listening");
    events::emit(
        "ready",
        json!({ "interface": cfg.interface, "mac": mac.to_string(), "address": cfg.address.to_string() }),
    );
    let mut buf = vec![0u8; 2048];
    loop {
        tokio::select! {
            r = sock.recv(&mut buf) => {
                let n = match r { Ok(r) => r.len, Err(e) => { tracing::warn!("recv: {e}"); continue; } };
                match core.handle_frame(&buf[..n]) {
                    server::Outcome::Reply { frame, tha, tpa, requester } => {
                        if let Err(e) = sock.send(&frame).await {
                            tracing::warn!("send: {e}");
                            continue;
                        }
                        tracing::info!(%tha, %tpa, %requester, "reply reverse sent");
                        events::emit("rarp-reply-sent", json!({ "mac": tha.to_string(), "address": tpa.to_string() }));
                    }
                    server::Outcome::Unknown { tha } => {
                        tracing::info!(%tha, "request reverse for an unknown hardware address: no reply (RFC 903)");
                        events::emit("ignored", json!({ "mac": tha.to_string(), "reason": "not in the table" }));
                    }
                    server::Outcome::Ignore(why) => tracing::debug!("ignored: {why}"),
                }
            }
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("rarpd stopping");
    Ok(())
}

/// Command-line arguments of `bootlab rarp-client`.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// The interface to ask on.
    #[arg(long, short = 'i')]
    pub interface: String,
    /// Ask for this hardware address instead of the interface's own.
    #[arg(long)]
    pub mac: Option<String>,
    /// Milliseconds between requests.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// Requests sent before giving up.
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,
    /// Protocol clock speed-up (scenarios).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
}

/// Runs `bootlab rarp-client`: one bounded request/reply exchange. Builds its own tokio runtime.
pub fn run_client(args: ClientArgs) -> anyhow::Result<()> {
    bootlab_net::log::init();
    runtime()?.block_on(ask(&args)).map(|_| ())
}

/// One bounded exchange on `args.interface`: emits `rarp-reply-received` and returns the reply,
/// or emits `rarp-failed` and returns an error.
pub async fn ask(args: &ClientArgs) -> anyhow::Result<client::Event> {
    let mac = match &args.mac {
        Some(m) => {
            server::parse_mac(m).with_context(|| format!("--mac {m:?} is not a MAC address"))?
        }
        None => Address(bootlab_sys::iface::mac(&args.interface)?),
    };
    let sock = AsyncPacketSocket::new(PacketSocket::bind(&args.interface, EtherType::Rarp)?)?;
    let clock = Clock::new(args.time_scale);
    let mut c = client::Client::new(
        clock.now(),
        mac,
        Duration::from_millis(args.interval_ms.max(1)),
        args.attempts,
    );
    let mut buf = vec![0u8; 2048];
    loop {
        while let Some(frame) = c.poll_transmit() {
            sock.send(&frame)
                .await
                .with_context(|| format!("sending on {}", args.interface))?;
            tracing::info!(%mac, interface = %args.interface, "request reverse sent");
        }
        if let Some(ev) = c.poll_event() {
            return match ev {
                client::Event::Reply {
                    address,
                    server,
                    server_mac,
                } => {
                    tracing::info!(%address, %server, %server_mac, "reply reverse received");
                    events::emit(
                        "rarp-reply-received",
                        json!({ "mac": mac.to_string(), "address": address.to_string(), "server": server.to_string(), "server-mac": server_mac.to_string() }),
                    );
                    Ok(client::Event::Reply {
                        address,
                        server,
                        server_mac,
                    })
                }
                client::Event::Failed { attempts } => {
                    events::emit(
                        "rarp-failed",
                        json!({ "mac": mac.to_string(), "attempts": attempts }),
                    );
                    anyhow::bail!("no RARP reply after {attempts} requests")
                }
            };
        }
        let Some(at) = c.poll_timeout() else {
            anyhow::bail!("RARP client stopped without an outcome")
        };
        let deadline = tokio::time::Instant::from_std(clock.instant_at(at));
        tokio::select! {
            r = sock.recv(&mut buf) => match r {
                Ok(r) => c.handle_frame(clock.now(), &buf[..r.len]),
                Err(e) => tracing::debug!("recv: {e}"),
            },
            _ = tokio::time::sleep_until(deadline) => c.handle_timeout(clock.now()),
        }
    }
}

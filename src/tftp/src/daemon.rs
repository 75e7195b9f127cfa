//! `bootlab tftpd`: the server daemon. A loop on port 69 admits requests through
//! [`crate::server::Server`] and starts one task with its own socket (TID) per transfer, so a
//! slow client never holds the others back. Logs go to stderr through `tracing`; events
//! (`ready`, `transfer-complete`, `transfer-failed`, `refused`) go to stdout.
//!
//! Config (TOML, kebab-case keys):
//!
//! ```toml
//! root = "/srv/tftp"        # required; served directory
//! address = "192.0.2.1"     # default 0.0.0.0
//! interface = "eth0"        # optional: SO_BINDTODEVICE
//! port = 69
//! allow-write = false       # WRQ creates new files only
//! max-blksize = 65464       # RFC 2348 ceiling granted
//! max-windowsize = 64       # RFC 7440 ceiling granted
//! timeout = 1.0             # seconds before a retransmission (doubles, at most x8)
//! retries = 5               # retries without progress before a transfer is abandoned
//! time-scale = 1.0          # protocol clock runs this much faster than real time
//! max-transfers = 64        # transfers running at once; more are refused (ERROR 0)
//! max-transfers-per-client = 4  # of them for one client address
//! ```

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use bootlab_net::clock::Clock;
use bootlab_net::events;
use bootlab_wire::tftp::{ErrorCode, MAX_BLKSIZE, MIN_BLKSIZE};
use serde::Deserialize;
use serde_json::json;
use tokio::net::UdpSocket;

use crate::options::Limits;
use crate::server::{Admission, Server, ServerConfig, Transfer, TransferEvent};

/// The daemon's configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DaemonConfig {
    /// The directory served.
    pub root: PathBuf,
    /// The address to listen on (0.0.0.0 by default).
    #[serde(default = "unspecified")]
    pub address: Ipv4Addr,
    /// Bind to this interface (SO_BINDTODEVICE).
    #[serde(default)]
    pub interface: Option<String>,
    /// The request port (69).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Accept WRQ (new files only).
    #[serde(default)]
    pub allow_write: bool,
    /// The largest blksize granted.
    #[serde(default = "default_max_blksize")]
    pub max_blksize: u16,
    /// The largest windowsize granted.
    #[serde(default = "default_max_windowsize")]
    pub max_windowsize: u16,
    /// Seconds before a retransmission.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Retries without progress.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Clock speed-up for scenarios.
    #[serde(default = "default_scale")]
    pub time_scale: f64,
    /// Transfers running at once.
    #[serde(default = "default_max_transfers")]
    pub max_transfers: usize,
    /// Transfers running at once for one client address.
    #[serde(default = "default_max_per_client")]
    pub max_transfers_per_client: usize,
}

fn default_max_transfers() -> usize {
    crate::slots::DEFAULT_MAX_TRANSFERS
}
fn default_max_per_client() -> usize {
    crate::slots::DEFAULT_MAX_PER_CLIENT
}

fn unspecified() -> Ipv4Addr {
    Ipv4Addr::UNSPECIFIED
}
fn default_port() -> u16 {
    bootlab_wire::tftp::SERVER_PORT
}
fn default_max_blksize() -> u16 {
    MAX_BLKSIZE
}
fn default_max_windowsize() -> u16 {
    64
}
fn default_timeout() -> f64 {
    1.0
}
fn default_retries() -> u32 {
    5
}
fn default_scale() -> f64 {
    1.0
}

impl DaemonConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let cfg: Self =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        anyhow::ensure!(
            (MIN_BLKSIZE..=MAX_BLKSIZE).contains(&cfg.max_blksize),
            "max-blksize {} outside {MIN_BLKSIZE}..={MAX_BLKSIZE}",
            cfg.max_blksize
        );
        anyhow::ensure!(cfg.max_windowsize >= 1, "max-windowsize must be at least 1");
        anyhow::ensure!(
            cfg.timeout.is_finite() && cfg.timeout > 0.0,
            "timeout must be positive"
        );
        anyhow::ensure!(
            cfg.time_scale.is_finite() && cfg.time_scale > 0.0,
            "time-scale must be positive"
        );
        Ok(cfg)
    }

    /// The core's view: the root made canonical.
    pub fn server_config(&self) -> anyhow::Result<ServerConfig> {
        let root = self
            .root
            .canonicalize()
            .with_context(|| format!("root {}", self.root.display()))?;
        anyhow::ensure!(root.is_dir(), "root {} is not a directory", root.display());
        Ok(ServerConfig {
            root,
            allow_write: self.allow_write,
            limits: Limits {
                max_blksize: self.max_blksize,
                max_windowsize: self.max_windowsize,
            },
            timeout: Duration::from_secs_f64(self.timeout),
            retries: self.retries,
        })
    }
}

/// Makes a UDP socket on `addr`, optionally bound to `interface`, with large buffers (windows of
/// large blocks overflow the default 208 KiB).
pub(crate) fn udp_socket(addr: SocketAddr, interface: Option<&str>) -> anyhow::Result<UdpSocket> {
    let std_sock = std::net::UdpSocket::bind(addr).with_context(|| format!("binding {addr}"))?;
    std_sock.set_nonblocking(true)?;
    use nix::sys::socket::{setsockopt, sockopt};
    // The *Force variants pass rmem_max/wmem_max with CAP_NET_ADMIN; without it, ask politely.
    const BUF: usize = 4 << 20;
    if setsockopt(&std_sock, sockopt::RcvBufForce, &BUF).is_err() {
        let _ = setsockopt(&std_sock, sockopt::RcvBuf, &BUF);
    }
    if setsockopt(&std_sock, sockopt::SndBufForce, &BUF).is_err() {
        let _ = setsockopt(&std_sock, sockopt::SndBuf, &BUF);
    }
    let sock = UdpSocket::from_std(std_sock)?;
    if let Some(ifname) = interface {
        sock.bind_device(Some(ifname.as_bytes()))
            .with_context(|| format!("binding to interface {ifname}"))?;
    }
    Ok(sock)
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    bootlab_net::log::init();
    let cfg = DaemonConfig::load(config_path)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let daemon = Daemon::bind(&cfg)?;
        daemon
            .serve(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            })
            .await
    })
}

/// A bound server: the request socket is open, `ready` has been emitted.
#[derive(Debug)]
pub struct Daemon {
    server: Server,
    clock: Clock,
    sock: UdpSocket,
    local: SocketAddr,
    interface: Option<String>,
    slots: crate::slots::Slots,
}

impl Daemon {
    /// Opens the request socket and emits `ready`. Call inside a tokio runtime.
    pub fn bind(cfg: &DaemonConfig) -> anyhow::Result<Self> {
        let server = Server::new(cfg.server_config()?);
        let listen = SocketAddr::new(IpAddr::V4(cfg.address), cfg.port);
        let sock = udp_socket(listen, cfg.interface.as_deref())?;
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::Ipv4PacketInfo, &true)
            .context("IP_PKTINFO")?;
        let local = sock.local_addr()?;
        let root = server.config().root.display().to_string();
        tracing::info!(%local, root, allow_write = cfg.allow_write, "tftpd listening");
        events::emit(
            "ready",
            // `allow_write` for the lab's SEC-PATH-02 check (RFC 1350 §8).
            json!({ "address": local.ip().to_string(), "port": local.port(), "root": root, "allow_write": cfg.allow_write }),
        );
        Ok(Self {
            server,
            clock: Clock::new(cfg.time_scale),
            sock,
            local,
            interface: cfg.interface.clone(),
            slots: crate::slots::Slots::new(cfg.max_transfers, cfg.max_transfers_per_client),
        })
    }

    /// The request socket's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serves requests until `shutdown` completes; running transfers are then dropped.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let Self {
            server,
            clock,
            sock,
            local,
            interface,
            mut slots,
        } = self;
        tokio::pin!(shutdown);
        let mut buf = vec![0u8; 65_536];
        let mut tasks = tokio::task::JoinSet::new();
        // Peers with a transfer running: a repeated request (its first answer was lost) is
        // ignored, the running transfer's own timer resends; a second WRQ would otherwise find
        // the file the first one created.
        let mut active = std::collections::HashSet::new();
        loop {
            tokio::select! {
                r = recv_request(&sock, &mut buf) => {
                    let (n, peer, dst) = match r {
                        Ok(x) => x,
                        Err(e) => { tracing::warn!("recv on {local}: {e}"); continue; }
                    };
                    // RFC 1123 §4.2.3.5: a request sent to a broadcast address is ignored. The
                    // header's destination is ours only when it equals the local address the
                    // kernel would answer from (IP_PKTINFO); answers leave from that address.
                    let reply_from = match dst {
                        Some((to, ours)) if to != ours => {
                            tracing::info!(%peer, %to, "request to a broadcast or foreign address ignored");
                            continue;
                        }
                        Some((to, _)) if local.ip().is_unspecified() => IpAddr::V4(to),
                        _ => local.ip(),
                    };
                    if active.contains(&peer) {
                        tracing::info!(%peer, "repeated request ignored: its transfer is running");
                        continue;
                    }
                    // RFC 1350 §5: opcodes 1 and 2 ask for a transfer; only they take a slot.
                    let asks = matches!(buf.get(..2), Some([0, 1 | 2]));
                    let admission = match asks.then(|| slots.take(peer.ip())) {
                        Some(Err(refused)) => Admission::Refuse {
                            filename: bootlab_wire::tftp::Packet::parse(&buf[..n])
                                .ok()
                                .and_then(|(p, _)| match p {
                                    bootlab_wire::tftp::Packet::Rrq(r) | bootlab_wire::tftp::Packet::Wrq(r) => Some(r.filename),
                                    _ => None,
                                })
                                .unwrap_or_default(),
                            error: bootlab_wire::tftp::Packet::error(refused.code, refused.reason.clone()).emit(),
                            refused,
                        },
                        taken => {
                            let a = server.request(clock.now(), peer, &buf[..n]);
                            if taken.is_some() && !matches!(a, Admission::Start(..)) {
                                slots.release(peer.ip());
                            }
                            a
                        }
                    };
                    match admission {
                        Admission::Start(t, file) => {
                            tracing::info!(%peer, file = t.filename(), write = t.is_write(), negotiated = ?t.negotiated(), "transfer start");
                            active.insert(peer);
                            tasks.spawn(run_transfer(*t, file, reply_from, interface.clone(), clock));
                        }
                        Admission::Refuse { filename, refused, error } => {
                            tracing::warn!(%peer, file = %filename, code = refused.code.value(), "refused: {}", refused.reason);
                            events::emit("refused", json!({
                                "file": filename, "peer": peer.to_string(),
                                "code": refused.code.value(), "reason": refused.reason,
                            }));
                            // The ERROR comes from a fresh port, like any answer (RFC 1350 §4).
                            match udp_socket(SocketAddr::new(reply_from, 0), interface.as_deref()) {
                                Ok(s) => { let _ = s.send_to(&error, peer).await; }
                                Err(e) => tracing::warn!("error socket: {e:#}"),
                            }
                        }
                        Admission::Ignore(why) => tracing::debug!(%peer, "ignored: {why}"),
                    }
                }
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok(peer) = done {
                        active.remove(&peer);
                        slots.release(peer.ip());
                    }
                }
                _ = &mut shutdown => break,
            }
        }
        tracing::info!(running = tasks.len(), "tftpd stopping");
        tasks.abort_all();
        Ok(())
    }
}

async fn run_transfer(
    mut t: Transfer,
    mut file: Option<std::fs::File>,
    local: IpAddr,
    iface: Option<String>,
    clock: Clock,
) -> SocketAddr {
    let peer = t.peer();
    let name = t.filename().to_string();
    let started = Instant::now();
    let sock = match udp_socket(SocketAddr::new(local, 0), iface.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%peer, file = %name, "no transfer socket: {e:#}");
            events::emit(
                "transfer-failed",
                json!({ "file": name, "peer": peer.to_string(), "reason": format!("{e:#}") }),
            );
            return peer;
        }
    };
    let mut buf = vec![0u8; 65_536];
    let mut timer = Timer::new();
    loop {
        // Received data reaches the file before its ACK leaves: a failed write becomes
        // ERROR 3 instead of an acknowledgment of lost data.
        if let Some(f) = file.as_mut() {
            let data = t.take_data();
            if !data.is_empty() {
                if let Err(e) = f.write_all(&data) {
                    while t.poll_transmit().is_some() {}
                    t.abort(ErrorCode::DiskFull, format!("write failed: {e}"));
                }
            }
        }
        while let Some(tx) = t.poll_transmit() {
            if let Err(e) = sock.send_to(&tx.payload, tx.dst).await {
                tracing::debug!(%peer, "send: {e}");
            }
        }
        while let Some(ev) = t.poll_event() {
            let n = t.negotiated();
            match ev {
                TransferEvent::Complete { bytes, blocks } => {
                    let secs = started.elapsed().as_secs_f64();
                    tracing::info!(%peer, file = %name, bytes, blocks, secs, "transfer complete");
                    events::emit(
                        "transfer-complete",
                        json!({
                            "file": name, "peer": peer.to_string(), "direction": if t.is_write() { "write" } else { "read" },
                            "bytes": bytes, "blocks": blocks, "blksize": n.blksize, "windowsize": n.windowsize,
                            "seconds": secs,
                        }),
                    );
                }
                TransferEvent::Failed(reason) => {
                    tracing::warn!(%peer, file = %name, "transfer failed: {reason}");
                    events::emit(
                        "transfer-failed",
                        json!({ "file": name, "peer": peer.to_string(), "reason": reason }),
                    );
                    if t.is_write() {
                        // A partial upload is not a file.
                        file = None;
                        let _ = std::fs::remove_file(t.path());
                    }
                }
                TransferEvent::Ignored(why) => {
                    tracing::debug!(%peer, file = %name, "ignored: {why}")
                }
            }
        }
        if t.is_closed() {
            while let Some(tx) = t.poll_transmit() {
                let _ = sock.send_to(&tx.payload, tx.dst).await;
            }
            break;
        }
        timer.arm(t.poll_timeout(), &clock);
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, from)) => t.handle(clock.now(), from, &buf[..n]),
                Err(e) => tracing::debug!(%peer, "recv: {e}"),
            },
            _ = timer.fired() => t.handle_timeout(clock.now()),
        }
    }
    if let Some(f) = file.as_mut() {
        let _ = f.sync_all();
    }
    peer
}

/// A request's length, source, and (header destination, local answering address).
type Incoming = (usize, SocketAddr, Option<(Ipv4Addr, Ipv4Addr)>);

/// Receives one request with the destination address of its IP header and the local address the
/// kernel would answer from (`IP_PKTINFO`'s `ipi_addr` and `ipi_spec_dst`).
async fn recv_request(sock: &UdpSocket, buf: &mut [u8]) -> std::io::Result<Incoming> {
    use std::os::fd::AsRawFd;
    loop {
        sock.readable().await?;
        match sock.try_io(tokio::io::Interest::READABLE, || {
            recv_pktinfo(sock.as_raw_fd(), buf)
        }) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

fn recv_pktinfo(fd: std::os::fd::RawFd, buf: &mut [u8]) -> std::io::Result<Incoming> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn};
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!(libc::in_pktinfo);
    let msg = recvmsg::<SockaddrIn>(fd, &mut iov, Some(&mut space), MsgFlags::empty())?;
    let peer = msg
        .address
        .map(|a| SocketAddr::V4(a.into()))
        .ok_or_else(|| std::io::Error::other("datagram without a source address"))?;
    let mut dst = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::Ipv4PacketInfo(info) = c {
            let to = Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
            let ours = Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr));
            dst = Some((to, ours));
        }
    }
    Ok((msg.bytes, peer, dst))
}

/// One timer per loop, re-armed only when the core's deadline changes (a fresh `sleep_until`
/// per datagram costs a timer-wheel insert and removal each time).
pub(crate) struct Timer {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    armed: Option<Duration>,
}

impl Timer {
    /// An unarmed timer.
    pub(crate) fn new() -> Self {
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
        Self {
            sleep: Box::pin(tokio::time::sleep_until(far)),
            armed: None,
        }
    }

    /// Follows the core's `poll_timeout` (protocol time on `clock`). A later deadline keeps the
    /// earlier one armed: it fires early, the core ignores a timeout that has not expired, and
    /// the timer is re-armed then. So a steady transfer resets it about once per timeout, not
    /// once per datagram.
    pub(crate) fn arm(&mut self, at: Option<Duration>, clock: &Clock) {
        match (self.armed, at) {
            (_, None) => self.armed = None,
            (Some(armed), Some(at)) if armed <= at => {}
            (_, Some(at)) => {
                self.sleep
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(clock.instant_at(at)));
                self.armed = Some(at);
            }
        }
    }

    /// Completes when the armed deadline passes; never when unarmed. Cancel-safe.
    pub(crate) async fn fired(&mut self) {
        if self.armed.is_none() {
            return std::future::pending().await;
        }
        self.sleep.as_mut().await;
        self.armed = None;
    }
}

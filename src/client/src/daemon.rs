//! The I/O shell around the client cores: an AF_PACKET socket on the interface for everything
//! received and for what leaves before the client has an address (RFC 2131 §4.1: from 0.0.0.0,
//! broadcast) or, for the boot ROM, for everything; a kernel UDP socket on port 68 for what a
//! configured DHCP/BOOTP client sends from its own address (renew, release, inform); rtnetlink
//! for the address; a time-scaled clock; events on stdout.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use bootlab_net::clock::Clock;
use bootlab_net::events::emit;
use bootlab_sys::packet::{EtherType, PacketSocket};
use bootlab_wire::bootp::{self, Message};
use bootlab_wire::ethernet::{self, Address};
use bootlab_wire::{arp, frame, ipv4, udp};
use serde_json::json;
use tokio::io::unix::AsyncFd;
use tokio::net::UdpSocket;
use tokio::signal::unix::{signal, SignalKind};

use crate::acd::{ArpOp, ArpPacket};
use crate::bootp::BootpClient;
use crate::config::{ClientConfig, Kind, StopAfter};
use crate::dhcp::{self, DhcpClient, Lease, State};
use crate::msg::{fnv1a64, prefix_len, Transmit};
use crate::netlink::Addresses;
use crate::rom::{self, Rom};

/// Command-line overrides of the file's keys.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--interface`.
    pub interface: Option<String>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--time-scale`.
    pub time_scale: Option<f64>,
}

enum Core {
    Dhcp(Box<DhcpClient>),
    Bootp(Box<BootpClient>),
    Rom(Box<Rom>),
}

impl Core {
    fn handle_timeout(&mut self, now: Duration) {
        match self {
            Core::Dhcp(c) => c.handle_timeout(now),
            Core::Bootp(c) => c.handle_timeout(now),
            Core::Rom(c) => c.handle_timeout(now),
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        match self {
            Core::Dhcp(c) => c.poll_timeout(),
            Core::Bootp(c) => c.poll_timeout(),
            Core::Rom(c) => c.poll_timeout(),
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        match self {
            Core::Dhcp(c) => c.poll_transmit(),
            Core::Bootp(c) => c.poll_transmit(),
            Core::Rom(c) => c.poll_transmit(),
        }
    }
}

/// A received frame, as far as the clients care.
enum Incoming<'a> {
    Arp(ArpPacket),
    Udp {
        src_mac: [u8; 6],
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
    },
}

/// Takes an Ethernet frame apart. Checksums are not verified: veth offload leaves them
/// unfinished on frames from the same host (DESIGN.md, kernel facts).
fn decode(frame: &[u8]) -> Option<Incoming<'_>> {
    let eth = ethernet::Packet::new_checked(frame).ok()?;
    let src_mac = eth.src_addr().0;
    match eth.ethertype() {
        ethernet::ethertype::ARP => {
            let (a, _) = arp::Repr::parse(&frame[ethernet::HEADER_LEN..]).ok()?;
            Some(Incoming::Arp(a))
        }
        ethernet::ethertype::IPV4 => {
            let ip = ipv4::Packet::new_checked(&frame[ethernet::HEADER_LEN..]).ok()?;
            if ip.protocol() != ipv4::PROTOCOL_UDP || ip.more_frags() || ip.frag_offset() != 0 {
                return None;
            }
            let (src_ip, dst_ip) = (ip.src_addr(), ip.dst_addr());
            let start = ethernet::HEADER_LEN + ip.header_len();
            let end = (ethernet::HEADER_LEN + usize::from(ip.total_len())).min(frame.len());
            let dgram = frame.get(start..end)?;
            let u = udp::Packet::new_checked(dgram).ok()?;
            let (src_port, dst_port) = (u.src_port(), u.dst_port());
            let len = usize::from(u.len()).clamp(8, dgram.len());
            Some(Incoming::Udp {
                src_mac,
                src_ip,
                dst_ip,
                src_port,
                dst_port,
                payload: &dgram[8..len],
            })
        }
        _ => None,
    }
}

fn mac_str(m: [u8; 6]) -> String {
    Address(m).to_string()
}

/// A UDP socket on 0.0.0.0:68 tied to the interface (`SO_BINDTODEVICE`), broadcast allowed.
fn kernel_udp(ifname: &str) -> anyhow::Result<UdpSocket> {
    use nix::sys::socket::{
        bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
    };
    let fd: OwnedFd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("socket(AF_INET, SOCK_DGRAM)")?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).context("SO_REUSEADDR")?;
    setsockopt(&fd, sockopt::Broadcast, &true).context("SO_BROADCAST")?;
    setsockopt(
        &fd,
        sockopt::BindToDevice,
        &std::ffi::OsString::from(ifname),
    )
    .with_context(|| format!("SO_BINDTODEVICE {ifname}"))?;
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::new(0, 0, 0, 0, bootp::CLIENT_PORT),
    )
    .context("bind 0.0.0.0:68")?;
    let std_sock = std::net::UdpSocket::from(fd);
    Ok(UdpSocket::from_std(std_sock)?)
}

struct Io {
    mac: [u8; 6],
    raw: AsyncFd<PacketSocket>,
    udp: Option<UdpSocket>,
    /// The boot ROM frames everything itself.
    raw_only: bool,
}

impl Io {
    async fn send(&self, t: Transmit) {
        let frame = match t {
            Transmit::Bootp { message, src, dst } => {
                let payload = message.emit();
                if !self.raw_only && !src.is_unspecified() {
                    if let Some(u) = &self.udp {
                        if let Err(e) = u
                            .send_to(&payload, SocketAddrV4::new(dst, bootp::SERVER_PORT))
                            .await
                        {
                            tracing::warn!(%dst, error = %e, "send to port 67 failed");
                        }
                        return;
                    }
                }
                // Without an address only broadcast reaches the server (RFC 2131 §4.1, RFC 951 §7.1).
                let dst_mac = Address::BROADCAST;
                frame::build_udp(
                    self.mac,
                    dst_mac,
                    src,
                    dst,
                    bootp::CLIENT_PORT,
                    bootp::SERVER_PORT,
                    &payload,
                )
            }
            Transmit::Arp(a) => {
                let dst = if a.operation == ArpOp::Reply {
                    a.target_hardware_addr
                } else {
                    Address::BROADCAST
                };
                frame::build_arp(self.mac, dst, &a)
            }
            Transmit::Udp {
                dst_mac,
                src_ip,
                dst_ip,
                src_port,
                dst_port,
                payload,
            } => frame::build_udp(
                self.mac, dst_mac, src_ip, dst_ip, src_port, dst_port, &payload,
            ),
        };
        // A full transmit queue is retried briefly; the protocols retransmit anyway.
        for _ in 0..10 {
            match self.raw.get_ref().send(&frame) {
                Ok(_) => return,
                Err(e) if e.would_block() => tokio::time::sleep(Duration::from_millis(2)).await,
                Err(e) => {
                    tracing::warn!(error = %e, "raw send failed");
                    return;
                }
            }
        }
    }
}

struct Shell {
    stop_after: StopAfter,
    nl: Option<Addresses>,
    lease_file: Option<PathBuf>,
    bound_once: bool,
}

impl Shell {
    async fn configure(&self, lease: &Lease) {
        if let Some(nl) = &self.nl {
            match nl.add(lease.address, lease.prefix_len).await {
                Ok(()) => {
                    tracing::info!(address = %lease.address, prefix = lease.prefix_len, "address installed")
                }
                Err(e) => tracing::error!(error = %e, "installing the address failed"),
            }
        }
        if let Some(path) = &self.lease_file {
            if let Err(e) = write_lease(path, lease) {
                tracing::error!(path = %path.display(), error = %e, "writing the lease file failed");
            }
        }
    }

    async fn deconfigure(&self, address: Ipv4Addr) {
        if let Some(nl) = &self.nl {
            match nl.remove(address).await {
                Ok(()) => tracing::info!(%address, "address removed"),
                Err(e) => tracing::error!(error = %e, "removing the address failed"),
            }
        }
        if let Some(path) = &self.lease_file {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "removing the lease file failed")
                }
            }
        }
    }

    /// Handles the DHCP core's events; `Some(status)` to exit.
    async fn dhcp_events(&mut self, c: &mut DhcpClient) -> Option<i32> {
        while let Some(e) = c.poll_event() {
            match e {
                dhcp::Event::Configure(lease) => self.configure(&lease).await,
                dhcp::Event::Deconfigure(a) => {
                    if c.state() == State::Released {
                        // Let the DHCPRELEASE leave from the address before it goes.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    self.deconfigure(a).await
                }
                other => emit_dhcp(&other),
            }
            if matches!(c.state(), State::Bound) {
                self.bound_once = true;
            }
        }
        match c.state() {
            State::Released | State::Informed => Some(0),
            State::Stopped => Some(1),
            State::Bound if self.stop_after != StopAfter::Never && !c.announcing() => Some(0),
            _ => None,
        }
    }
}

fn write_lease(path: &std::path::Path, lease: &Lease) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(lease).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn read_lease(path: &std::path::Path) -> Option<Lease> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable lease file");
            None
        }
    }
}

fn lease_json(l: &Lease) -> serde_json::Value {
    json!({
        "address": l.address.to_string(),
        "prefix_len": l.prefix_len,
        "server_id": l.server_id.map(|a| a.to_string()),
        "lease_time": l.lease_time,
        "t1": l.t1,
        "t2": l.t2,
        "routers": l.routers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "dns": l.dns.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "siaddr": l.siaddr.to_string(),
        "file": l.file,
        "bootp": l.bootp,
    })
}

fn ip_opt(a: Option<Ipv4Addr>) -> serde_json::Value {
    a.map_or(serde_json::Value::Null, |a| json!(a.to_string()))
}

fn emit_dhcp(e: &dhcp::Event) {
    use dhcp::Event as E;
    match e {
        E::OfferReceived {
            yiaddr,
            server_id,
            bootp,
        } => emit(
            "offer-received",
            json!({"yiaddr": yiaddr.to_string(), "server_id": ip_opt(*server_id), "bootp": bootp}),
        ),
        E::Bound { lease, from } => {
            let mut v = lease_json(lease);
            v["from"] = json!(from.name());
            emit("bound", v)
        }
        E::Renewed { lease } => emit("renewed", lease_json(lease)),
        E::Rebound { lease } => emit("rebound", lease_json(lease)),
        E::NakReceived {
            server_id,
            message,
            state,
        } => emit(
            "nak-received",
            json!({"server_id": ip_opt(*server_id), "message": message, "state": state.name()}),
        ),
        E::Conflict {
            address,
            mac,
            declined,
        } => emit(
            "conflict",
            json!({"address": address.to_string(), "mac": mac_str(*mac), "declined": declined}),
        ),
        E::Declined { address, server_id } => emit(
            "declined",
            json!({"address": address.to_string(), "server_id": ip_opt(*server_id)}),
        ),
        E::DeclineFailed { address, event_id } => emit(
            "decline-failed",
            json!({"address": address.to_string(), "event_id": event_id}),
        ),
        E::Expired { address } => emit("expired", json!({"address": address.to_string()})),
        E::Released { address, server_id } => emit(
            "released",
            json!({"address": address.to_string(), "server_id": ip_opt(*server_id)}),
        ),
        E::InformAcked {
            server_id,
            routers,
            dns,
        } => emit(
            "inform-acked",
            json!({
                "server_id": ip_opt(*server_id),
                "routers": routers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "dns": dns.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
        ),
        E::GaveUp { reason } => emit("gave-up", json!({"reason": reason})),
        E::Configure(_) | E::Deconfigure(_) => {}
    }
}

fn emit_rom(e: &rom::Event) {
    use rom::Event as E;
    match e {
        E::BootReplyReceived {
            yiaddr,
            siaddr,
            file,
            from_ip,
            from_mac,
            confirmation,
        } => emit(
            "boot-reply-received",
            json!({
                "yiaddr": yiaddr.to_string(), "siaddr": siaddr.to_string(), "file": file,
                "from_ip": from_ip.to_string(), "from_mac": mac_str(*from_mac), "confirmation": confirmation,
            }),
        ),
        E::Conflict { address, mac } => emit(
            "conflict",
            json!({"address": address.to_string(), "mac": mac_str(*mac), "declined": false}),
        ),
        E::ServerResolved { ip, mac, via } => emit(
            "server-resolved",
            json!({"ip": ip.to_string(), "mac": mac_str(*mac), "via": via}),
        ),
        E::ArpAnswered { to } => emit("arp-answered", json!({"to": to.to_string()})),
        E::TransferStarted { server, file, port } => emit(
            "transfer-started",
            json!({"server": server.to_string(), "file": file, "port": port}),
        ),
        E::BootFileReceived {
            file,
            size,
            fnv1a64,
            blocks,
            server,
        } => emit(
            "boot-file-received",
            json!({
                "file": file, "size": size, "fnv1a64": format!("{fnv1a64:016x}"),
                "blocks": blocks, "server": server.to_string(),
            }),
        ),
        E::TransferFailed { reason, phase } => emit(
            "transfer-failed",
            json!({"reason": reason, "phase": phase.name()}),
        ),
    }
}

/// Runs the configured client until it is done, times out or gets SIGTERM/SIGINT. Returns the
/// exit status: 0 when the goal was reached (or on a signal), 1 on failure or timeout.
pub async fn run(cfg: ClientConfig, over: Overrides) -> anyhow::Result<i32> {
    let ifname = over
        .interface
        .or(cfg.interface.clone())
        .context("no interface: set `interface` or --interface")?;
    let seed = over.seed.or(cfg.seed).unwrap_or(1);
    let scale = over.time_scale.or(cfg.time_scale).unwrap_or(1.0);
    let mac = bootlab_sys::iface::mac(&ifname)
        .with_context(|| format!("hardware address of {ifname}"))?;
    let ifindex =
        bootlab_sys::iface::index(&ifname).with_context(|| format!("index of {ifname}"))?;
    // Mix the hardware address in, so clients sharing a scenario seed still pick different xids.
    // A remembered lease is mixed in too, so a restart (INIT-REBOOT) picks a new xid
    // (CLI-XID-01) while the same scenario still reproduces.
    let remembered = match cfg.kind {
        Kind::Dhcp => cfg.lease_file.as_deref().and_then(read_lease),
        _ => None,
    };
    let lease_hash = remembered
        .as_ref()
        .map_or(0, |l| fnv1a64(format!("{l:?}").as_bytes()));
    let rng = bootlab_net::clock::rng(seed ^ fnv1a64(&mac) ^ lease_hash);
    let clock = Clock::new(scale);
    // The ROM core bounds itself (`give-up-after`, defaulting to `timeout`): `transfer-failed`.
    let timeout = cfg
        .timeout
        .filter(|t| t.is_finite() && *t > 0.0 && cfg.kind != Kind::Rom)
        .map(Duration::from_secs_f64);

    let sock = PacketSocket::bind(&ifname, EtherType::All)
        .with_context(|| format!("AF_PACKET on {ifname}"))?;
    sock.set_ignore_outgoing(true)
        .context("PACKET_IGNORE_OUTGOING")?;
    // `AsyncFd::new` is deprecated for types that may close their fd behind tokio's back; a
    // `PacketSocket` owns its fd for its whole life, and `register` would need `unsafe` here.
    #[allow(deprecated)]
    let raw = AsyncFd::new(sock)?;
    let raw_only = cfg.kind == Kind::Rom;
    let udp = if raw_only {
        None
    } else {
        Some(kernel_udp(&ifname)?)
    };
    let io = Io {
        mac,
        raw,
        udp,
        raw_only,
    };
    let configure = cfg.configure.unwrap_or(true) && cfg.kind != Kind::Rom;
    let nl = if configure {
        Some(Addresses::open(ifindex)?)
    } else {
        None
    };

    let default_stop = match cfg.kind {
        Kind::Dhcp => StopAfter::Never,
        Kind::Bootp | Kind::Rom => StopAfter::Reply,
    };
    let mut shell = Shell {
        stop_after: cfg.stop_after.unwrap_or(default_stop),
        nl,
        lease_file: cfg.lease_file.clone(),
        bound_once: false,
    };
    let now = clock.now();
    let mut core = match cfg.kind {
        Kind::Dhcp => {
            if let (Some((addr, prefix)), Some(nl)) = (cfg.inform_cidr(), &shell.nl) {
                nl.add(addr, prefix).await?;
            }
            Core::Dhcp(Box::new(DhcpClient::new(
                cfg.dhcp(mac)?,
                mac,
                rng,
                remembered,
                now,
            )))
        }
        Kind::Bootp => Core::Bootp(Box::new(BootpClient::new(
            cfg.bootp(Vec::new())?,
            mac,
            rng,
            now,
        ))),
        Kind::Rom => Core::Rom(Box::new(Rom::new(cfg.rom(mac)?, mac, rng, now))),
    };
    let kind_name = match cfg.kind {
        Kind::Dhcp => "dhcp",
        Kind::Bootp => "bootp",
        Kind::Rom => "rom",
    };
    tracing::info!(kind = kind_name, interface = %ifname, mac = %mac_str(mac), seed, scale, "client starting");
    emit(
        "ready",
        json!({"kind": kind_name, "interface": ifname, "mac": mac_str(mac)}),
    );

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut buf = vec![0u8; 65536];
    let mut ubuf = vec![0u8; 2048];
    let release_on_exit = cfg.release_on_exit.unwrap_or(false);

    for _round in 0u64.. {
        let now = clock.now();
        core.handle_timeout(now);
        while let Some(t) = core.poll_transmit() {
            io.send(t).await;
        }
        if let Some(status) = after_events(&mut core, &mut shell).await {
            // Whatever the last step queued (a final ACK, the second announcement) goes out.
            while let Some(t) = core.poll_transmit() {
                io.send(t).await;
            }
            return Ok(status);
        }
        // `timeout` bounds the wait for the goal: a DHCP client that bound once keeps running.
        if let Some(limit) = timeout.filter(|_| !shell.bound_once) {
            if now >= limit {
                emit(
                    "gave-up",
                    json!({"reason": format!("timeout after {} s", limit.as_secs_f64())}),
                );
                return Ok(1);
            }
        }
        let limit = timeout.filter(|_| !shell.bound_once);
        let next = [core.poll_timeout(), limit].into_iter().flatten().min();
        let wake = next.map(|t| tokio::time::Instant::from_std(clock.instant_at(t)));
        let sleep = async {
            match wake {
                Some(w) => tokio::time::sleep_until(w).await,
                None => std::future::pending().await,
            }
        };
        let udp_drain = async {
            match &io.udp {
                Some(u) => u.recv_from(&mut ubuf).await.map(|_| ()),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            r = io.raw.readable() => {
                let mut guard = r?;
                for _ in 0..256 {
                    match guard.get_inner().recv(&mut buf) {
                        Ok(rx) => {
                            let now = clock.now();
                            feed(&mut core, now, &buf[..rx.len], io.mac);
                        }
                        Err(e) if e.would_block() => {
                            guard.clear_ready();
                            break;
                        }
                        Err(e) => return Err(e).context("receiving on the packet socket"),
                    }
                }
            }
            // The kernel's copy of what the packet socket already saw: read and dropped, so
            // nothing piles up and no ICMP port-unreachable answers a unicast reply.
            _ = udp_drain => {}
            _ = sigterm.recv() => return Ok(on_signal(&mut core, &mut shell, &io, &clock, release_on_exit).await),
            _ = sigint.recv() => return Ok(on_signal(&mut core, &mut shell, &io, &clock, release_on_exit).await),
        }
    }
    Ok(1)
}

async fn on_signal(
    core: &mut Core,
    shell: &mut Shell,
    io: &Io,
    clock: &Clock,
    release: bool,
) -> i32 {
    tracing::info!("signal received, stopping");
    if let (Core::Dhcp(c), true) = (&mut *core, release) {
        c.release(clock.now());
        while let Some(t) = c.poll_transmit() {
            io.send(t).await;
        }
        let _ = shell.dhcp_events(c).await;
    }
    0
}

fn feed(core: &mut Core, now: Duration, frame: &[u8], mac: [u8; 6]) {
    let Some(inc) = decode(frame) else { return };
    match (core, inc) {
        (Core::Dhcp(c), Incoming::Arp(a)) => c.handle_arp(now, &a),
        (Core::Rom(r), Incoming::Arp(a)) => r.handle_arp(now, &a),
        (Core::Bootp(_), Incoming::Arp(_)) => {}
        (
            core,
            Incoming::Udp {
                src_mac,
                src_ip,
                dst_ip,
                src_port,
                dst_port,
                payload,
            },
        ) => {
            if src_mac == mac {
                return;
            }
            if dst_port == bootp::CLIENT_PORT && src_port == bootp::SERVER_PORT {
                let msg = match Message::parse(payload) {
                    Ok((m, devs)) => {
                        for d in devs {
                            tracing::debug!(deviation = %d, "reply deviation");
                        }
                        m
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "undecodable datagram on port 68");
                        return;
                    }
                };
                match core {
                    Core::Dhcp(c) => c.handle_reply(now, &msg),
                    Core::Bootp(c) => {
                        if c.handle_reply(now, &msg) {
                            emit_bootp_reply(&msg, src_ip, src_mac);
                        }
                    }
                    Core::Rom(r) => r.handle_bootp(now, &msg, src_ip, src_mac),
                }
            } else if let Core::Rom(r) = core {
                if Some(dst_ip) == r.address() {
                    r.handle_udp(now, src_ip, src_port, dst_port, payload);
                }
            }
        }
    }
}

fn emit_bootp_reply(m: &Message, from_ip: Ipv4Addr, from_mac: [u8; 6]) {
    let o = crate::msg::opts(m);
    emit(
        "boot-reply-received",
        json!({
            "yiaddr": m.yiaddr.to_string(), "siaddr": m.siaddr.to_string(), "file": m.boot_file_name(),
            "sname": m.server_name(), "from_ip": from_ip.to_string(), "from_mac": mac_str(from_mac),
            "dhcp_type": m.message_type().map(|t| t.to_string()),
            "subnet_mask": o.ip(bootp::code::SUBNET_MASK).map(|a| a.to_string()),
        }),
    );
}

/// Handles events and decides whether to exit.
async fn after_events(core: &mut Core, shell: &mut Shell) -> Option<i32> {
    match core {
        Core::Dhcp(c) => shell.dhcp_events(c).await,
        Core::Rom(r) => {
            while let Some(e) = r.poll_event() {
                emit_rom(&e);
            }
            r.is_finished()
                .then(|| if r.phase() == rom::Phase::Done { 0 } else { 1 })
        }
        Core::Bootp(c) => {
            if c.gave_up() {
                emit(
                    "gave-up",
                    json!({"reason": format!("no BOOTREPLY after {} requests", c.tries())}),
                );
                return Some(1);
            }
            let reply = c.reply()?.clone();
            if !shell.bound_once {
                shell.bound_once = true;
                let lease = Lease::from_reply(&reply, Duration::ZERO, None);
                let prefix = crate::msg::opts(&reply)
                    .ip(bootp::code::SUBNET_MASK)
                    .and_then(prefix_len);
                tracing::info!(address = %lease.address, ?prefix, "BOOTP reply applied");
                if !lease.address.is_unspecified() {
                    shell.configure(&lease).await;
                }
            }
            (shell.stop_after != StopAfter::Never).then_some(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_takes_udp_and_arp_frames_apart() {
        let f = frame::build_udp(
            [2, 0, 0, 0, 0, 1],
            Address::BROADCAST,
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::BROADCAST,
            67,
            68,
            b"hello",
        );
        match decode(&f) {
            Some(Incoming::Udp {
                src_mac,
                src_ip,
                dst_port,
                payload,
                ..
            }) => {
                assert_eq!(
                    (src_mac, src_ip, dst_port, payload),
                    (
                        [2, 0, 0, 0, 0, 1],
                        Ipv4Addr::new(192, 0, 2, 1),
                        68,
                        &b"hello"[..]
                    )
                );
            }
            _ => panic!("not decoded as UDP"),
        }
        let a = ArpPacket::probe([2, 0, 0, 0, 0, 1], Ipv4Addr::new(192, 0, 2, 9));
        let f = frame::build_arp([2, 0, 0, 0, 0, 1], Address::BROADCAST, &a);
        assert!(matches!(decode(&f), Some(Incoming::Arp(x)) if x == a));
        assert!(decode(&f[..10]).is_none());
    }

    #[test]
    fn lease_file_round_trips() {
        let dir = std::env::temp_dir().join(format!("bootlab-client-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("lease.json");
        let mut req = Message::new_request(1, [2, 0, 0, 0, 0, 1]);
        req.yiaddr = Ipv4Addr::new(192, 0, 2, 100);
        let lease = Lease::from_reply(&req, Duration::ZERO, Some(Ipv4Addr::new(192, 0, 2, 1)));
        write_lease(&path, &lease).expect("write");
        assert_eq!(read_lease(&path), Some(lease));
        std::fs::write(&path, "not json").expect("write");
        assert_eq!(read_lease(&path), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

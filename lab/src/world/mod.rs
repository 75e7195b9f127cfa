//! A built lab network: one network namespace per host and a "switch" namespace holding one
//! bridge per segment, joined by veth pairs; every segment captured; processes started inside
//! hosts; links impaired on demand. Namespaces are kept alive by their fds only (no bind mount
//! under `/run/netns`), so dropping the [`World`] or killing the lab reclaims everything.
//!
//! Several worlds can live in one lab process (one per scenario): each has its own switch
//! namespace, so bridge and veth names never clash.
//!
//! Namespaces belong to threads: every `setns`/`unshare` here runs on a short-lived
//! `std::thread` (see [`crate::world::netlink::on_thread`]), which also opens the netlink connections
//! and packet sockets that are then used from the runtime.

pub mod capture;
pub mod guest;
pub mod impair;
pub mod isolate;
pub mod netlink;
pub mod process;
pub mod topology;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bootlab_sys::ns::{self, ChildNamespaces, Kind};
use bootlab_sys::packet::{EtherType, PacketSocket};
use futures::future::try_join_all;
use rtnetlink::Handle;
use tokio::sync::broadcast;

use crate::plan::impairment::Impairment;
use crate::world::capture::{Capture, CaptureError, CaptureReport, Frame};
use crate::world::impair::{Impairer, Wire};
use crate::world::netlink::{NetlinkError, VethSpec};
use crate::world::process::{Process, ProcessError, ProcessEvent, ProcessSpec};
use crate::world::topology::{interface_name, Address, Arp, Ipv4Cidr, Topology, TopologyError};

/// How long [`World::shutdown`] gives a process between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// Frames kept for slow subscribers of [`World::frames`].
const FRAME_BACKLOG: usize = 16_384;

/// Why a world could not be built or used.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The topology is impossible.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A netlink request or namespace thread failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// A system call failed.
    #[error(transparent)]
    Sys(#[from] bootlab_sys::Error),
    /// A file of the run directory could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A capture failed.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// A process could not be started.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// No such host.
    #[error("no host named {0:?}")]
    UnknownHost(String),
    /// No such interface on a host.
    #[error("host {host:?} has no interface {interface:?}")]
    UnknownInterface {
        /// The host.
        host: String,
        /// The interface.
        interface: String,
    },
    /// The host has no interface on that segment.
    #[error("host {host:?} has no interface on segment {segment:?}")]
    NotOnSegment {
        /// The host.
        host: String,
        /// The segment.
        segment: String,
    },
    /// No such segment.
    #[error("no segment named {0:?}")]
    UnknownSegment(String),
    /// A readiness wait ran out of time.
    #[error("host {host:?}: no {what} within {timeout:?}")]
    NotReady {
        /// The host.
        host: String,
        /// What was awaited.
        what: String,
        /// The bound.
        timeout: Duration,
    },
    /// Some capture lost frames in the kernel: the trace is incomplete. The report is kept.
    #[error("{}", .report.check().err().map(|e| e.to_string()).unwrap_or_default())]
    CaptureLost {
        /// What the captures produced.
        report: CaptureReport,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WorldError + '_ {
    move |source| WorldError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A namespace with its netlink connection.
#[derive(Debug)]
struct NetNs {
    net: OwnedFd,
    nl: Handle,
}

#[derive(Debug)]
struct HostNs {
    net: NetNs,
    mnt: OwnedFd,
    uts: OwnedFd,
}

#[derive(Debug, Clone)]
struct IfaceState {
    /// Index inside the host.
    index: u32,
    /// Segment index in the topology.
    segment: usize,
    /// Name of the switch-side end.
    switch_end: String,
}

#[derive(Debug)]
struct HostState {
    name: String,
    ns: HostNs,
    ifaces: Vec<IfaceState>,
}

/// A built lab network. Dropping it tears it down without flushing captures; call
/// [`World::shutdown`] for the capture report.
#[derive(Debug)]
pub struct World {
    topology: Topology,
    run_dir: PathBuf,
    seed: u64,
    switch: NetNs,
    bridges: Vec<u32>,
    hosts: Vec<HostState>,
    captures: Mutex<Vec<Capture>>,
    injectors: Vec<PacketSocket>,
    frames: broadcast::Sender<Frame>,
    events: broadcast::Sender<ProcessEvent>,
    wires: tokio::sync::Mutex<BTreeMap<(usize, usize), Wire>>,
    processes: Mutex<Vec<Process>>,
}

fn disable_ipv6() -> Result<(), NetlinkError> {
    netlink::sysctl("net/ipv6/conf/all/disable_ipv6", "1")?;
    netlink::sysctl("net/ipv6/conf/default/disable_ipv6", "1")
}

/// Writes `text` to `dst` when `dst` is a regular file, by bind-mounting `src` (holding `text`)
/// over it; when `dst` is a symlink into a directory we have made private (e.g. `/run`), writes
/// the link's target instead.
fn private_file(src: &Path, dst: &Path, text: &str) -> Result<(), WorldError> {
    std::fs::write(src, text).map_err(io_err(src))?;
    let meta = match std::fs::symlink_metadata(dst) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(dst).map_err(io_err(dst))?;
        let target = dst.parent().unwrap_or(Path::new("/")).join(target);
        if target.starts_with("/run") {
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            }
            std::fs::write(&target, text).map_err(io_err(&target))?;
        } else if target.is_file() {
            ns::bind_mount(src, &target)?;
        }
        return Ok(());
    }
    if meta.is_file() {
        ns::bind_mount(src, dst)?;
    }
    Ok(())
}

/// Makes the calling thread's (fresh) mount namespace the host's private view: tmpfs over the
/// places daemons write, and its own `resolv.conf` and `hosts`.
fn private_files(dir: &Path, hosts_text: &str, host: &str) -> Result<(), WorldError> {
    for d in ["/run", "/var/run", "/var/lib/dhcp", "/var/lib/dhcpcd"] {
        let p = Path::new(d);
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => ns::mount_tmpfs(p)?,
            _ => {}
        }
    }
    let resolv = format!("# bootlab host {host}: no name service in the lab\n");
    private_file(
        &dir.join("resolv.conf"),
        Path::new("/etc/resolv.conf"),
        &resolv,
    )?;
    private_file(&dir.join("hosts"), Path::new("/etc/hosts"), hosts_text)
}

fn hosts_file(t: &Topology) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n");
    for h in &t.hosts {
        for i in &h.interfaces {
            if let Address::Static { address, .. } = i.address {
                let _ = writeln!(s, "{address}\t{}", h.hostname());
            }
        }
    }
    s
}

impl World {
    /// Builds `topology` with artefacts (pcaps, logs, private files) under `run_dir`; `seed`
    /// drives every random impairment. Must run inside an isolated lab process
    /// ([`crate::world::isolate::enter`]) on a tokio runtime.
    pub async fn build(
        topology: &Topology,
        run_dir: &Path,
        seed: u64,
    ) -> Result<World, WorldError> {
        topology.validate()?;
        let rt = tokio::runtime::Handle::current();
        std::fs::create_dir_all(run_dir).map_err(io_err(run_dir))?;
        let mut host_dirs = Vec::new();
        for h in &topology.hosts {
            let d = run_dir.join(&h.name);
            std::fs::create_dir_all(&d).map_err(io_err(&d))?;
            host_dirs.push(d);
        }

        let t0 = std::time::Instant::now();
        // 1. Namespaces, on one thread: the switch, then each host (net, mount, UTS).
        let plan: Vec<(String, bool, PathBuf)> = topology
            .hosts
            .iter()
            .zip(&host_dirs)
            .map(|(h, d)| (h.hostname().to_owned(), h.forwarding, d.clone()))
            .collect();
        let hosts_text = hosts_file(topology);
        let rt2 = rt.clone();
        let (switch, host_ns) = netlink::on_thread("build", move || {
            let lab_mnt = ns::open_current(Kind::Mnt)?;
            ns::unshare(&[Kind::Net])?;
            disable_ipv6()?;
            let switch = NetNs {
                net: ns::open_current(Kind::Net)?,
                nl: netlink::connect(&rt2)?,
            };
            let mut hosts = Vec::new();
            for (hostname, forwarding, dir) in plan {
                ns::unshare(&[Kind::Net])?;
                disable_ipv6()?;
                netlink::sysctl("net/ipv4/ip_forward", if forwarding { "1" } else { "0" })?;
                bootlab_sys::iface::set_up("lo", true)?;
                let net = NetNs {
                    net: ns::open_current(Kind::Net)?,
                    nl: netlink::connect(&rt2)?,
                };
                ns::setns(&lab_mnt, Kind::Mnt)?;
                ns::unshare(&[Kind::Mnt, Kind::Uts])?;
                ns::set_hostname(&hostname)?;
                private_files(&dir, &hosts_text, &hostname)
                    .map_err(|e| NetlinkError::Thread(e.to_string()))?;
                hosts.push(HostNs {
                    net,
                    mnt: ns::open_current(Kind::Mnt)?,
                    uts: ns::open_current(Kind::Uts)?,
                });
            }
            Ok((switch, hosts))
        })
        .await?;

        tracing::debug!(elapsed = ?t0.elapsed(), "world build: step 2");
        // 2. Bridges, each captured from the moment it exists.
        let mut bridges = Vec::new();
        for s in &topology.segments {
            bridges.push(netlink::add_bridge(&switch.nl, &s.name).await?);
        }
        let names: Vec<String> = topology.segments.iter().map(|s| s.name.clone()).collect();
        let (capture_socks, injectors) = netlink::in_netns("capture", &switch.net, move || {
            let mut caps = Vec::new();
            let mut injs = Vec::new();
            for n in &names {
                caps.push(PacketSocket::bind(n, EtherType::All)?);
                injs.push(PacketSocket::bind(n, EtherType::Other(0))?);
            }
            Ok((caps, injs))
        })
        .await?;
        let (frames, _) = broadcast::channel(FRAME_BACKLOG);
        let mut captures = Vec::new();
        for (s, sock) in topology.segments.iter().zip(capture_socks) {
            let path = run_dir.join(format!("{}.pcap", s.name));
            captures.push(Capture::start(&s.name, sock, path, frames.clone())?);
        }

        tracing::debug!(elapsed = ?t0.elapsed(), "world build: step 3");
        // 3. One veth pair per host interface, created in one request each: the switch end
        // enslaved to its bridge and up, the host end (`ethN`, its MAC, ARP flag) in the host.
        let mut links = Vec::new();
        for (hi, h) in topology.hosts.iter().enumerate() {
            for (ii, i) in h.interfaces.iter().enumerate() {
                let seg = topology
                    .segments
                    .iter()
                    .position(|s| s.name == i.segment)
                    .unwrap_or(0);
                links.push((
                    hi,
                    ii,
                    seg,
                    format!("v{hi}.{ii}"),
                    interface_name(ii),
                    h.mac(ii),
                    i.arp == Arp::Off,
                ));
            }
        }
        try_join_all(links.iter().map(|(hi, _, seg, local, peer, mac, noarp)| {
            let spec = VethSpec {
                local,
                controller: bridges.get(*seg).copied(),
                peer,
                peer_ns: Some(&host_ns[*hi].net.net),
                peer_mac: Some(mac.0),
                peer_noarp: *noarp,
            };
            let nl = switch.nl.clone();
            async move { netlink::add_veth(&nl, &spec).await }
        }))
        .await?;

        tracing::debug!(elapsed = ?t0.elapsed(), "world build: step 4");
        // 4. Checksum offload off on both ends of every veth; host-side indices.
        let host_fds: Vec<OwnedFd> = host_ns
            .iter()
            .map(|h| h.net.net.try_clone())
            .collect::<Result<_, _>>()
            .map_err(|e| bootlab_sys::Error::new("dup", "host namespace fd", e))?;
        let switch_fd = switch
            .net
            .try_clone()
            .map_err(|e| bootlab_sys::Error::new("dup", "switch fd", e))?;
        let plan: Vec<(usize, usize, String, String)> = links
            .iter()
            .map(|(hi, ii, _, local, peer, _, _)| (*hi, *ii, local.clone(), peer.clone()))
            .collect();
        let indices = netlink::on_thread("ethtool", move || {
            let mut indices = Vec::new();
            for (hi, _, _, peer) in &plan {
                ns::setns(&host_fds[*hi], Kind::Net)?;
                bootlab_sys::ethtool::set_tx_checksum(peer, false)?;
                indices.push(bootlab_sys::iface::index(peer)?);
            }
            ns::setns(&switch_fd, Kind::Net)?;
            for (_, _, local, _) in &plan {
                bootlab_sys::ethtool::set_tx_checksum(local, false)?;
            }
            Ok(indices)
        })
        .await?;

        let mut hosts: Vec<HostState> = topology
            .hosts
            .iter()
            .zip(host_ns)
            .map(|(h, ns)| HostState {
                name: h.name.clone(),
                ns,
                ifaces: Vec::new(),
            })
            .collect();
        for ((hi, _, seg, local, _, _, _), index) in links.iter().zip(indices) {
            hosts[*hi].ifaces.push(IfaceState {
                index,
                segment: *seg,
                switch_end: local.clone(),
            });
        }

        tracing::debug!(elapsed = ?t0.elapsed(), "world build: step 5");
        // 5. Host ends up, addresses, then routes and neighbours, all hosts at once.
        try_join_all(hosts.iter().zip(&topology.hosts).map(|(hs, h)| async move {
            for st in &hs.ifaces {
                netlink::set_up(&hs.ns.net.nl, st.index).await?;
            }
            for (ii, i) in h.interfaces.iter().enumerate() {
                if let Address::Static {
                    address,
                    prefix_len,
                } = i.address
                {
                    let seg = &topology.segments[hs.ifaces[ii].segment];
                    let len = prefix_len.unwrap_or(seg.subnet.prefix_len);
                    netlink::add_address(&hs.ns.net.nl, hs.ifaces[ii].index, address, len).await?;
                }
            }
            for r in &h.routes {
                netlink::add_route(
                    &hs.ns.net.nl,
                    r.destination.network(),
                    r.destination.prefix_len,
                    r.via,
                )
                .await?;
            }
            for n in &h.neighbours {
                let ii = match &n.interface {
                    Some(name) => crate::world::topology::interface_index(name),
                    None => topology.interface_for(h, n.address),
                };
                if let Some(st) = ii.and_then(|ii| hs.ifaces.get(ii)) {
                    netlink::add_neighbour(&hs.ns.net.nl, st.index, n.address, n.mac.0).await?;
                }
            }
            Ok::<(), NetlinkError>(())
        }))
        .await?;

        tracing::debug!(elapsed = ?t0.elapsed(), "world build: step 6");
        // 6. Wait until every link carries frames. The kernel attaches a device's queueing
        // discipline only when its link watcher processes the carrier change, which can lag
        // link-up by up to a second on a busy machine; until then every frame sent is dropped
        // silently (a client's first DISCOVER, a probe's first request, an ARP reply).
        try_join_all(hosts.iter().map(|hs| async move {
            let links: Vec<(u32, String)> = hs
                .ifaces
                .iter()
                .map(|i| (i.index, format!("{} interface {}", hs.name, i.index)))
                .collect();
            netlink::wait_oper_up(&hs.ns.net.nl, &links).await
        }))
        .await?;
        let switch_ends: Vec<(u32, String)> = hosts
            .iter()
            .flat_map(|h| h.ifaces.iter().map(|i| (0, i.switch_end.clone())))
            .collect();
        netlink::wait_oper_up(&switch.nl, &switch_ends).await?;

        let (events, _) = broadcast::channel(1024);
        tracing::debug!(elapsed = ?t0.elapsed(), "world built");
        Ok(World {
            topology: topology.clone(),
            run_dir: run_dir.to_owned(),
            seed,
            switch,
            bridges,
            hosts,
            captures: Mutex::new(captures),
            injectors,
            frames,
            events,
            wires: tokio::sync::Mutex::new(BTreeMap::new()),
            processes: Mutex::new(Vec::new()),
        })
    }

    /// The topology it was built from.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The run directory (pcaps, `<host>/<role>.stdout|.stderr`).
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    fn host(&self, name: &str) -> Result<(usize, &HostState), WorldError> {
        self.hosts
            .iter()
            .enumerate()
            .find(|(_, h)| h.name == name)
            .ok_or_else(|| WorldError::UnknownHost(name.to_owned()))
    }

    fn iface<'a>(&self, h: &'a HostState, iface: &str) -> Result<&'a IfaceState, WorldError> {
        crate::world::topology::interface_index(iface)
            .and_then(|i| h.ifaces.get(i))
            .ok_or_else(|| WorldError::UnknownInterface {
                host: h.name.clone(),
                interface: iface.to_owned(),
            })
    }

    /// Starts `spec` inside `host`: its network, UTS and mount namespaces (private `/run`,
    /// `/etc/resolv.conf`, ...), working directory `spec.cwd` or `<run_dir>/<host>`, output
    /// logged to `<run_dir>/<host>/<name>.stdout|.stderr`.
    pub fn spawn(&self, host: &str, spec: ProcessSpec) -> Result<Process, WorldError> {
        let (_, h) = self.host(host)?;
        let dup = |fd: &OwnedFd| {
            fd.try_clone()
                .map_err(|e| bootlab_sys::Error::new("dup", host, e))
        };
        let dir = self.run_dir.join(host);
        let nsfds = ChildNamespaces {
            net: Some(dup(&h.ns.net.net)?),
            uts: Some(dup(&h.ns.uts)?),
            mnt: Some(dup(&h.ns.mnt)?),
            cwd: Some(dir.clone()),
        };
        let p = process::spawn(host, spec, nsfds, &dir, self.events.clone())?;
        if let Ok(mut ps) = self.processes.lock() {
            ps.push(p.clone());
        }
        Ok(p)
    }

    /// A command that runs inside `host` (its network, UTS and mount namespaces, working
    /// directory `<run_dir>/<host>`) with the caller's stdin, stdout and stderr: for people
    /// stepping into the world (`bootlab shell`). The lab neither logs nor stops it.
    pub fn command(
        &self,
        host: &str,
        argv: &[String],
    ) -> Result<std::process::Command, WorldError> {
        let (_, h) = self.host(host)?;
        let dup = |fd: &OwnedFd| {
            fd.try_clone()
                .map_err(|e| bootlab_sys::Error::new("dup", host, e))
        };
        let nsfds = ChildNamespaces {
            net: Some(dup(&h.ns.net.net)?),
            uts: Some(dup(&h.ns.uts)?),
            mnt: Some(dup(&h.ns.mnt)?),
            cwd: Some(self.run_dir.join(host)),
        };
        let program = argv.first().map(String::as_str).unwrap_or("sh");
        let mut cmd = std::process::Command::new(program);
        cmd.args(argv.iter().skip(1));
        bootlab_sys::ns::enter_in_child(&mut cmd, nsfds)?;
        Ok(cmd)
    }

    /// Adds an address (`a.b.c.d/len`) to interface `iface` (`eth0`...) of `host`.
    pub async fn add_address(
        &self,
        host: &str,
        iface: &str,
        cidr: Ipv4Cidr,
    ) -> Result<(), WorldError> {
        let (_, h) = self.host(host)?;
        let i = self.iface(h, iface)?;
        Ok(netlink::add_address(&h.ns.net.nl, i.index, cidr.address, cidr.prefix_len).await?)
    }

    /// Removes an address from interface `iface` of `host`.
    pub async fn remove_address(
        &self,
        host: &str,
        iface: &str,
        cidr: Ipv4Cidr,
    ) -> Result<(), WorldError> {
        let (_, h) = self.host(host)?;
        let i = self.iface(h, iface)?;
        Ok(netlink::remove_address(&h.ns.net.nl, i.index, cidr.address, cidr.prefix_len).await?)
    }

    /// The hardware address of interface `iface` of `host`.
    pub fn mac(
        &self,
        host: &str,
        iface: &str,
    ) -> Result<crate::world::topology::MacAddr, WorldError> {
        let (hi, h) = self.host(host)?;
        let idx = crate::world::topology::interface_index(iface)
            .filter(|i| *i < h.ifaces.len())
            .ok_or_else(|| WorldError::UnknownInterface {
                host: host.to_owned(),
                interface: iface.to_owned(),
            })?;
        Ok(self.topology.hosts[hi].mac(idx))
    }

    /// Impairs the link between `host` and `segment` with `rules` (an empty list forwards
    /// unchanged). The first call for a link re-wires it through the lab's user-space wire;
    /// later calls replace the rules and restart their counters. Random rules draw from the
    /// world's seed, the segment and the host, so a run reproduces frame for frame.
    ///
    /// The segment's capture sees frames from the host after impairment and frames to the
    /// host before it.
    pub async fn set_impairment(
        &self,
        segment: &str,
        host: &str,
        rules: Impairment,
    ) -> Result<(), WorldError> {
        let (hi, h) = self.host(host)?;
        let si = self
            .topology
            .segments
            .iter()
            .position(|s| s.name == segment)
            .ok_or_else(|| WorldError::UnknownSegment(segment.to_owned()))?;
        let ii = h
            .ifaces
            .iter()
            .position(|i| i.segment == si)
            .ok_or_else(|| WorldError::NotOnSegment {
                host: host.to_owned(),
                segment: segment.to_owned(),
            })?;
        let seed = wire_seed(self.seed, segment, host);
        let mut wires = self.wires.lock().await;
        if let Some(w) = wires.get(&(hi, ii)) {
            w.set(Impairer::new(rules, seed));
            return Ok(());
        }
        let host_end = h.ifaces[ii].switch_end.clone();
        let (wire_end, bridge_port) = (format!("w{hi}.{ii}"), format!("x{hi}.{ii}"));
        let spec = VethSpec {
            local: &bridge_port,
            controller: None,
            peer: &wire_end,
            peer_ns: None,
            peer_mac: None,
            peer_noarp: true,
        };
        netlink::add_veth(&self.switch.nl, &spec).await?;
        let wire_idx = netlink::link_index(&self.switch.nl, &wire_end).await?;
        netlink::set_up(&self.switch.nl, wire_idx).await?;
        let (he, we, bp) = (host_end.clone(), wire_end.clone(), bridge_port.clone());
        let (host_sock, wire_sock) = netlink::in_netns("wire", &self.switch.net, move || {
            bootlab_sys::ethtool::set_tx_checksum(&we, false)?;
            bootlab_sys::ethtool::set_tx_checksum(&bp, false)?;
            Ok((
                PacketSocket::bind(&he, EtherType::All)?,
                PacketSocket::bind(&we, EtherType::All)?,
            ))
        })
        .await?;
        let wire = Wire::start(host_sock, wire_sock, Impairer::new(rules, seed))
            .map_err(|e| bootlab_sys::Error::new("wire", format!("{host}/{segment}"), e))?;
        let host_idx = netlink::link_index(&self.switch.nl, &host_end).await?;
        let port_idx = netlink::link_index(&self.switch.nl, &bridge_port).await?;
        netlink::set_controller(&self.switch.nl, host_idx, None).await?;
        netlink::set_controller(&self.switch.nl, port_idx, Some(self.bridges[si])).await?;
        wires.insert((hi, ii), wire);
        Ok(())
    }

    /// Every captured frame from now on, on every segment.
    pub fn frames(&self) -> broadcast::Receiver<Frame> {
        self.frames.subscribe()
    }

    /// Process exits from now on.
    pub fn events(&self) -> broadcast::Receiver<ProcessEvent> {
        self.events.subscribe()
    }

    /// Sends a whole Ethernet frame onto `segment` from the switch (as if from a host that is
    /// not in the topology).
    pub fn inject(&self, segment: &str, frame: &[u8]) -> Result<(), WorldError> {
        let si = self
            .topology
            .segments
            .iter()
            .position(|s| s.name == segment)
            .ok_or_else(|| WorldError::UnknownSegment(segment.to_owned()))?;
        self.injectors[si].send(frame)?;
        Ok(())
    }

    /// Runs `f` on a fresh thread inside `host`'s network namespace, e.g. to open a socket there
    /// that is then used from the runtime.
    pub async fn in_host<R, F>(&self, host: &str, f: F) -> Result<R, WorldError>
    where
        R: Send + 'static,
        F: FnOnce() -> Result<R, bootlab_sys::Error> + Send + 'static,
    {
        let (_, h) = self.host(host)?;
        Ok(netlink::in_netns(host, &h.ns.net.net, move || f().map_err(NetlinkError::from)).await?)
    }

    /// Whether a socket is bound to `port` in `host` (readiness of a daemon that prints
    /// nothing): reads the host's `/proc/thread-self/net/{udp,tcp}` from a thread inside it.
    pub async fn port_bound(
        &self,
        host: &str,
        proto: Proto,
        port: u16,
    ) -> Result<bool, WorldError> {
        self.in_host(host, move || {
            let file = match proto {
                Proto::Udp => "/proc/thread-self/net/udp",
                Proto::Tcp => "/proc/thread-self/net/tcp",
            };
            let table = std::fs::read_to_string(file)
                .map_err(|e| bootlab_sys::Error::new("read", file, e))?;
            Ok(table_has_port(&table, port))
        })
        .await
    }

    /// Waits up to `timeout` until a socket is bound to `port` in `host`.
    pub async fn wait_for_port(
        &self,
        host: &str,
        proto: Proto,
        port: u16,
        timeout: Duration,
    ) -> Result<(), WorldError> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Bounded by the deadline.
        while !self.port_bound(host, proto, port).await? {
            if tokio::time::Instant::now() >= deadline {
                return Err(WorldError::NotReady {
                    host: host.to_owned(),
                    what: format!("{proto:?} port {port} bound"),
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Whether `path` exists as `host` sees it (its private `/run`, `/var/lib/dhcp`...).
    pub async fn host_path_exists(&self, host: &str, path: &Path) -> Result<bool, WorldError> {
        let (_, h) = self.host(host)?;
        let mnt =
            h.ns.mnt
                .try_clone()
                .map_err(|e| bootlab_sys::Error::new("dup", host, e))?;
        let path = path.to_owned();
        Ok(netlink::on_thread(host, move || {
            ns::setns(&mnt, Kind::Mnt)?;
            Ok(path.exists())
        })
        .await?)
    }

    /// Waits up to `timeout` until `path` exists in `host` (a pid or lease file).
    pub async fn wait_for_file(
        &self,
        host: &str,
        path: &Path,
        timeout: Duration,
    ) -> Result<(), WorldError> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Bounded by the deadline.
        while !self.host_path_exists(host, path).await? {
            if tokio::time::Instant::now() >= deadline {
                return Err(WorldError::NotReady {
                    host: host.to_owned(),
                    what: format!("file {}", path.display()),
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Stops every process (SIGTERM, SIGKILL after [`STOP_GRACE`]) and every wire, flushes the
    /// captures and tears the network down. Fails with [`WorldError::CaptureLost`] (carrying the
    /// report) when a capture lost frames.
    pub async fn shutdown(self) -> Result<CaptureReport, WorldError> {
        let procs = self
            .processes
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        futures::future::join_all(procs.iter().map(|p| p.stop(STOP_GRACE))).await;
        let wires = std::mem::take(&mut *self.wires.lock().await);
        for (_, w) in wires {
            w.stop().await;
        }
        // Frames still in flight on veths reach the capture sockets within microseconds.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let caps = self
            .captures
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        let mut report = CaptureReport::default();
        for c in caps {
            report.segments.push(c.finish().await?);
        }
        tracing::debug!("world shutdown: captures flushed");
        drop(self);
        tracing::debug!("world shutdown: dropped");
        match report.check() {
            Ok(()) => Ok(report),
            Err(_) => Err(WorldError::CaptureLost { report }),
        }
    }
}

impl Drop for World {
    /// Kills the world's processes (SIGKILL; [`World::shutdown`] stops them gently), then
    /// closes the namespaces and sockets on a spare thread: the last close of each waits for
    /// the kernel (RCU grace periods, mount tear-down), which nobody needs to sit through.
    fn drop(&mut self) {
        // A world dropped without `shutdown` kills what it started.
        if let Ok(procs) = self.processes.lock() {
            for p in procs.iter() {
                p.kill();
            }
        }
        let hosts = std::mem::take(&mut self.hosts);
        let injectors = std::mem::take(&mut self.injectors);
        bootlab_sys::packet::close_in_background((hosts, injectors));
    }
}

/// A transport protocol, for [`World::wait_for_port`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// UDP (RFC 768).
    Udp,
    /// TCP (RFC 9293).
    Tcp,
}

/// Whether a `/proc/net/{udp,tcp}` table lists a local socket on `port` (TCP: listening).
fn table_has_port(table: &str, port: u16) -> bool {
    table.lines().skip(1).any(|l| {
        let mut cols = l.split_whitespace();
        let local = cols.nth(1).unwrap_or("");
        let state = cols.nth(1).unwrap_or("");
        let bound = local
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            == Some(port);
        // UDP sockets show state 07 (unconnected); TCP listeners 0A.
        bound && matches!(state, "07" | "0A")
    })
}

/// The seed of one link's wire: the world's seed mixed with the segment and host names
/// (FNV-1a), so each link draws its own reproducible sequence.
fn wire_seed(seed: u64, segment: &str, host: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in segment.bytes().chain([0]).chain(host.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Waits up to `timeout` for a frame satisfying `pred` on `rx` (subscribe with
/// [`World::frames`] before causing it).
pub async fn wait_for_frame(
    rx: &mut broadcast::Receiver<Frame>,
    mut pred: impl FnMut(&Frame) -> bool,
    timeout: Duration,
) -> Option<Frame> {
    let work = async {
        loop {
            match rx.recv().await {
                Ok(f) if pred(&f) => return Some(f),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    };
    tokio::time::timeout(timeout, work).await.ok().flatten()
}

/// The address of interface `iface` of `host` in `topology`, if static.
pub fn static_address(topology: &Topology, host: &str, iface: usize) -> Option<Ipv4Addr> {
    match topology.host(host)?.interfaces.get(iface)?.address {
        Address::Static { address, .. } => Some(address),
        Address::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tables_are_read() {
        let udp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                   1: 0A643A0A:1B58 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 12345 2 0000000000000000 0\n";
        assert!(table_has_port(udp, 7000));
        assert!(!table_has_port(udp, 67));
    }

    #[test]
    fn wire_seeds_differ_per_link_and_repeat() {
        assert_eq!(wire_seed(1, "lan", "rom"), wire_seed(1, "lan", "rom"));
        assert_ne!(wire_seed(1, "lan", "rom"), wire_seed(2, "lan", "rom"));
        assert_ne!(wire_seed(1, "lan", "rom"), wire_seed(1, "lanr", "om"));
    }

    #[test]
    fn hosts_file_lists_static_addresses() {
        let t: Topology = match toml::from_str(
            r#"
            segments = [{ name = "lan", subnet = "192.0.2.0/24" }]
            hosts = [
                { name = "server", interfaces = [{ segment = "lan", address = "192.0.2.1" }] },
                { name = "rom", interfaces = [{ segment = "lan" }] },
            ]
            "#,
        ) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let text = hosts_file(&t);
        assert!(text.contains("192.0.2.1\tserver\n"));
        assert!(!text.contains("rom"));
    }
}

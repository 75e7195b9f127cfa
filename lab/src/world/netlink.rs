//! Namespaces and links over rtnetlink: one netlink connection per namespace, opened on a
//! short-lived thread that entered it (a netlink socket stays in the namespace it was made in,
//! whichever thread uses it later), and the few link, address, route and neighbour requests the
//! lab makes.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, OwnedFd};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkMessage};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use bootlab_sys::ns::{self, Kind};

/// A netlink request that failed, with what it was for.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The kernel refused a request.
    #[error("netlink {op}: {source}")]
    Request {
        /// What was asked, e.g. `add veth v0.0`.
        op: String,
        /// The error.
        #[source]
        source: rtnetlink::Error,
    },
    /// A link looked up by name is missing.
    #[error("netlink: no link named {0:?}")]
    NoSuchLink(String),
    /// The connection could not be opened.
    #[error("netlink connection: {0}")]
    Connect(#[source] std::io::Error),
    /// A system call around the namespace failed.
    #[error(transparent)]
    Sys(#[from] bootlab_sys::Error),
    /// A namespace worker thread could not be started or died.
    #[error("namespace thread: {0}")]
    Thread(String),
}

type Result<T> = std::result::Result<T, NetlinkError>;

fn req(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetlinkError {
    let op = op.into();
    move |source| NetlinkError::Request { op, source }
}

/// Runs `f` on a fresh `std::thread` (never a runtime worker, whose namespace must not change)
/// and awaits its result. The thread may `setns`/`unshare` freely: it ends with `f`.
pub async fn on_thread<R, F>(name: &str, f: F) -> Result<R>
where
    R: Send + 'static,
    F: FnOnce() -> Result<R> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("ns-{name}"))
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| NetlinkError::Thread(e.to_string()))?;
    rx.await
        .map_err(|_| NetlinkError::Thread(format!("{name}: worker panicked")))?
}

/// Runs `f` on a fresh thread inside the network namespace `net`.
pub async fn in_netns<R, F>(name: &str, net: &OwnedFd, f: F) -> Result<R>
where
    R: Send + 'static,
    F: FnOnce() -> Result<R> + Send + 'static,
{
    let net = net
        .try_clone()
        .map_err(|e| NetlinkError::Thread(e.to_string()))?;
    on_thread(name, move || {
        ns::setns(&net, Kind::Net)?;
        f()
    })
    .await
}

/// Opens a netlink connection in the calling thread's network namespace and spawns its driver on
/// `rt`. Call on a namespace thread.
pub fn connect(rt: &tokio::runtime::Handle) -> Result<Handle> {
    let _enter = rt.enter();
    let (conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Connect)?;
    rt.spawn(conn);
    Ok(handle)
}

/// Writes a sysctl of the calling thread's network namespace (`/proc/sys/net/...` follows the
/// opener's namespace).
pub fn sysctl(path: &str, value: &str) -> Result<()> {
    let full = format!("/proc/sys/{path}");
    std::fs::write(&full, value)
        .map_err(|e| bootlab_sys::Error::new("write sysctl", full, e).into())
}

/// Creates a bridge named `name`, up, with multicast snooping off (so every frame floods like a
/// hub of old), and returns its index.
pub async fn add_bridge(h: &Handle, name: &str) -> Result<u32> {
    let msg = LinkBridge::new(name).mcast_snooping(false).build();
    h.link()
        .add(msg)
        .execute()
        .await
        .map_err(req(format!("add bridge {name}")))?;
    link_index(h, name).await
}

/// What a new veth pair looks like: `local` stays in the connection's namespace, `peer` goes to
/// the namespace `peer_ns`.
#[derive(Debug)]
pub struct VethSpec<'a> {
    /// Name of the end that stays.
    pub local: &'a str,
    /// Bridge to enslave the local end to.
    pub controller: Option<u32>,
    /// Name of the other end.
    pub peer: &'a str,
    /// Namespace of the other end (`None`: same as `local`).
    pub peer_ns: Option<&'a OwnedFd>,
    /// Hardware address of the other end.
    pub peer_mac: Option<[u8; 6]>,
    /// `IFF_NOARP` on the other end.
    pub peer_noarp: bool,
}

/// Creates a veth pair in one request, the local end up (and enslaved), the peer down in its
/// namespace with its address and ARP flag: the kernel opens the peer before it knows its other
/// half, so asking for it up here fails with `ENOTCONN`; set it up with [`set_up`].
pub async fn add_veth(h: &Handle, spec: &VethSpec<'_>) -> Result<()> {
    let mut peer = LinkMessageBuilder::<LinkUnspec>::new().name(spec.peer.to_owned());
    if let Some(fd) = spec.peer_ns {
        peer = peer.setns_by_fd(fd.as_raw_fd());
    }
    if let Some(mac) = spec.peer_mac {
        peer = peer.address(mac.to_vec());
    }
    if spec.peer_noarp {
        peer = peer.arp(false);
    }
    let mut local = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(spec.local.to_owned())
        .up()
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
    if let Some(c) = spec.controller {
        local = local.controller(c);
    }
    h.link()
        .add(local.build())
        .execute()
        .await
        .map_err(req(format!("add veth {}", spec.local)))
}

/// The index of the link named `name`.
pub async fn link_index(h: &Handle, name: &str) -> Result<u32> {
    let mut links = h.link().get().match_name(name.to_owned()).execute();
    match links.try_next().await {
        Ok(Some(LinkMessage { header, .. })) => Ok(header.index),
        Ok(None) => Err(NetlinkError::NoSuchLink(name.to_owned())),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => {
            Err(NetlinkError::NoSuchLink(name.to_owned()))
        }
        Err(e) => Err(req(format!("get link {name}"))(e)),
    }
}

/// Whether link `index` (or, with `index` 0, the link named `name`) has operational state UP.
/// The kernel sets it only when its link watcher processes the carrier change, in the same step
/// that attaches the device's queueing discipline (before that, frames sent are dropped);
/// `IFF_RUNNING` is no proof, since a new device's state UNKNOWN already counts as running.
pub async fn oper_up(h: &Handle, index: u32, name: &str) -> Result<bool> {
    let get = h.link().get();
    let get = if index != 0 {
        get.match_index(index)
    } else {
        get.match_name(name.to_owned())
    };
    let mut links = get.execute();
    match links.try_next().await {
        Ok(Some(m)) => Ok(m.attributes.iter().any(|a| {
            matches!(
                a,
                rtnetlink::packet_route::link::LinkAttribute::OperState(
                    rtnetlink::packet_route::link::State::Up
                )
            )
        })),
        Ok(None) => Err(NetlinkError::NoSuchLink(name.to_owned())),
        Err(e) => Err(req(format!("get link {name}"))(e)),
    }
}

/// Polls until every link is operationally up (see [`oper_up`]), for at most 5 s; a link that
/// never comes up is an error naming it.
pub async fn wait_oper_up(h: &Handle, links: &[(u32, String)]) -> Result<()> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    for (index, name) in links {
        while !oper_up(h, *index, name).await? {
            if tokio::time::Instant::now() >= deadline {
                return Err(NetlinkError::Thread(format!(
                    "link {name} did not come up (operational state) within 5 s"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
    Ok(())
}

/// Enslaves link `index` to bridge `controller`, or frees it (`None`).
pub async fn set_controller(h: &Handle, index: u32, controller: Option<u32>) -> Result<()> {
    let b = LinkUnspec::new_with_index(index);
    let msg = match controller {
        Some(c) => b.controller(c),
        None => b.nocontroller(),
    }
    .build();
    h.link()
        .set(msg)
        .execute()
        .await
        .map_err(req(format!("set controller of link {index}")))
}

/// Sets link `index` up.
pub async fn set_up(h: &Handle, index: u32) -> Result<()> {
    let msg = LinkUnspec::new_with_index(index).up().build();
    h.link()
        .set(msg)
        .execute()
        .await
        .map_err(req(format!("set link {index} up")))
}

/// Deletes link `index` (a veth's peer goes with it).
pub async fn delete_link(h: &Handle, index: u32) -> Result<()> {
    h.link()
        .del(index)
        .execute()
        .await
        .map_err(req(format!("delete link {index}")))
}

/// Adds `address/prefix_len` to link `index`.
pub async fn add_address(h: &Handle, index: u32, address: Ipv4Addr, prefix_len: u8) -> Result<()> {
    h.address()
        .add(index, IpAddr::V4(address), prefix_len)
        .execute()
        .await
        .map_err(req(format!(
            "add address {address}/{prefix_len} to link {index}"
        )))
}

/// Removes `address/prefix_len` from link `index`.
pub async fn remove_address(
    h: &Handle,
    index: u32,
    address: Ipv4Addr,
    prefix_len: u8,
) -> Result<()> {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.prefix_len = prefix_len;
    msg.header.index = index;
    msg.attributes
        .push(AddressAttribute::Local(IpAddr::V4(address)));
    msg.attributes
        .push(AddressAttribute::Address(IpAddr::V4(address)));
    h.address().del(msg).execute().await.map_err(req(format!(
        "remove address {address}/{prefix_len} from link {index}"
    )))
}

/// Adds a route to `destination/prefix_len` via `gateway`.
pub async fn add_route(
    h: &Handle,
    destination: Ipv4Addr,
    prefix_len: u8,
    gateway: Ipv4Addr,
) -> Result<()> {
    let msg = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(destination, prefix_len)
        .gateway(gateway)
        .build();
    h.route().add(msg).execute().await.map_err(req(format!(
        "add route {destination}/{prefix_len} via {gateway}"
    )))
}

/// Adds a permanent ARP entry `address` → `mac` on link `index` (RFC 826 cache, `NUD_PERMANENT`).
pub async fn add_neighbour(h: &Handle, index: u32, address: Ipv4Addr, mac: [u8; 6]) -> Result<()> {
    h.neighbours()
        .add(index, IpAddr::V4(address))
        .link_layer_address(&mac)
        .execute()
        .await
        .map_err(req(format!("add neighbour {address} on link {index}")))
}

//! Launching a third-party implementation from its profile inside a lab host: translating the
//! role's config (our daemons' keys) into the profile's [`RoleParams`], filling what the profile
//! needs from the world (interface, own address, MAC, segment subnet), rendering its files and
//! command line, and telling when it is ready. Also which scenario features a profile cannot do
//! ([`unsupported`]), so the interop matrix says n/a instead of failing.

use crate::plan::role_kind::RoleKind;
use crate::plan::scenario::Scenario;
use crate::roles::profile::{
    Binding, EventOn, Mac, Pool, Profile, ProfileSet, ReadyCheck, Rendered, RoleParams, Subnet,
};
use crate::world::process::{Process, ProcessSpec, Stream};
use crate::world::topology;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A peer ready to be spawned: the process spec and its rendered profile.
#[derive(Debug)]
pub struct Launch {
    /// What to spawn in the host.
    pub spec: ProcessSpec,
    /// The rendered profile (readiness, events).
    pub rendered: Rendered,
}

/// Renders profile `implementation` for a role of `kind` whose parameters are `config` (already in
/// [`RoleParams`] keys), writing its files into `state`. See [`prepare_role`] for a scenario role.
pub fn prepare(
    set: &ProfileSet,
    implementation: &str,
    kind: RoleKind,
    config: &toml::Table,
    state: &Path,
    name: &str,
) -> Result<Launch, String> {
    let params = RoleParams::from_config(config).map_err(|e| e.to_string())?;
    launch(set, implementation, kind, &params, state, name)
}

/// Renders profile `implementation` for scenario role `role_name`, whose `config` is the role's
/// substituted config in our daemons' keys: translated by [`role_params`].
pub fn prepare_role(
    sc: &Scenario,
    role_name: &str,
    set: &ProfileSet,
    implementation: &str,
    config: &toml::Table,
    state: &Path,
) -> Result<Launch, String> {
    let kind = sc
        .roles
        .get(role_name)
        .map(|r| *r.kind.get_ref())
        .ok_or_else(|| format!("no role {role_name}"))?;
    let params = role_params(sc, role_name, config)?;
    launch(set, implementation, kind, &params, state, role_name)
}

fn launch(
    set: &ProfileSet,
    implementation: &str,
    kind: RoleKind,
    params: &RoleParams,
    state: &Path,
    name: &str,
) -> Result<Launch, String> {
    let profile = set.get(implementation).map_err(|e| e.to_string())?;
    let role = kind;
    if !profile.fills(role) {
        return Err(format!("{implementation} cannot fill role kind {kind}"));
    }
    let rendered = profile
        .render(role, params, &set.render_env(state))
        .map_err(|e| e.to_string())?;
    let mut rendered = rendered;
    if role == RoleKind::BootpClient {
        rendered.events.push(bootp_reply_alias());
    }
    if role == RoleKind::RomClient {
        // Our ROM reports its BOOTP/DHCP reply as `boot-reply-received`; a ROM peer's profile
        // calls the same moment `bound`.
        let aliases: Vec<crate::roles::profile::CompiledEvent> = rendered
            .events
            .iter()
            .filter(|e| e.event == "bound")
            .map(|e| crate::roles::profile::CompiledEvent {
                event: "boot-reply-received".into(),
                on: e.on.clone(),
            })
            .collect();
        rendered.events.extend(aliases);
    }
    give_the_vm_the_hosts_mac(&mut rendered, params);
    rendered.write_files().map_err(|e| e.to_string())?;
    let mut argv = rendered.launch_argv();
    if rendered
        .events
        .iter()
        .any(|e| matches!(e.on, EventOn::Exit(_)))
    {
        let output = params
            .output
            .clone()
            .unwrap_or_else(|| state.join("download"));
        argv = reporting_exit(argv, &output);
    }
    let spec = ProcessSpec {
        argv,
        env: rendered.env.clone(),
        cwd: Some(rendered.state_dir.clone()),
        name: name.to_string(),
    };
    Ok(Launch { spec, rendered })
}

// ---------------------------------------------------------------------------------------------
// Our config keys -> RoleParams
// ---------------------------------------------------------------------------------------------

/// What the world says about one host interface: its name in the host, segment, subnet, address
/// and MAC.
#[derive(Debug, Clone)]
struct Port {
    name: String,
    subnet: Option<Subnet>,
    address: Option<Ipv4Addr>,
    mac: Mac,
}

fn ports(sc: &Scenario, host: &str) -> Vec<Port> {
    let Some(h) = sc.hosts.get(host) else {
        return Vec::new();
    };
    h.on.get_ref()
        .iter()
        .enumerate()
        .map(|(i, (seg, addr))| Port {
            name: topology::interface_name(i),
            subnet: sc
                .segments
                .get(seg)
                .and_then(|s| s.subnet.get_ref().parse().ok()),
            address: addr.parse().ok(),
            mac: topology::MacAddr::derived(host, i)
                .to_string()
                .parse()
                .unwrap_or(Mac([0; 6])),
        })
        .collect()
}

fn s<'a>(t: &'a toml::Table, k: &str) -> Option<&'a str> {
    t.get(k).and_then(|v| v.as_str())
}
fn ip(t: &toml::Table, k: &str) -> Option<Ipv4Addr> {
    s(t, k).and_then(|v| v.parse().ok())
}
fn int(t: &toml::Table, k: &str) -> Option<i64> {
    t.get(k).and_then(|v| v.as_integer())
}
fn tables<'a>(t: &'a toml::Table, k: &str) -> Vec<&'a toml::Table> {
    t.get(k)
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_table()).collect())
        .unwrap_or_default()
}
fn strings(t: &toml::Table, k: &str) -> Vec<String> {
    match t.get(k) {
        Some(toml::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        Some(toml::Value::String(x)) => vec![x.clone()],
        _ => Vec::new(),
    }
}
/// `options.routers[0]` of a table (RFC 2132 §3.5).
fn first_router(t: &toml::Table) -> Option<Ipv4Addr> {
    t.get("options")
        .and_then(|o| o.as_table())
        .and_then(|o| strings(o, "routers").first().and_then(|a| a.parse().ok()))
}
fn pool_of(range: &str) -> Option<Pool> {
    let (a, b) = range.split_once('-')?;
    Some(Pool {
        start: a.trim().parse().ok()?,
        end: b.trim().parse().ok()?,
    })
}
fn contains(sn: &Subnet, a: Ipv4Addr) -> bool {
    u32::from(a) & u32::from(sn.mask()) == u32::from(sn.network)
}

/// Translates a scenario role's config, written in our daemons' keys and already substituted
/// (`@segment`, `$files`, `$state`, `$mac:HOST`), into the [`RoleParams`] profiles render from,
/// adding what the world knows: the host's interface, its address and subnet on that segment, its
/// MAC. Keys a profile cannot express are left out (the matrix reports them through
/// [`unsupported`]).
///
/// Servers (RFC 2131 §4.3, RFC 951): `subnet[] {network, pools, options.routers}`, `host[]
/// {hardware, address, boot-file, host-name}`, `next-server`, `boot-file`, `boot-dir`,
/// `lease-time`, `secs-threshold`, `bootp-dynamic`, `options.routers`, `conflict-check`.
/// Relays (RFC 1542 §4): `interfaces`, `servers`, `hop-limit`. Clients: `interface`, `arp-check`.
/// TFTP: `root`, `address`, `server`, `file`, `output`.
pub fn role_params(
    sc: &Scenario,
    role_name: &str,
    config: &toml::Table,
) -> Result<RoleParams, String> {
    let role = sc
        .roles
        .get(role_name)
        .ok_or_else(|| format!("no role {role_name}"))?;
    let kind = *role.kind.get_ref();
    let host = role.host.get_ref();
    let ports = ports(sc, host);
    let by_name = |n: &str| ports.iter().find(|p| p.name == n).cloned();
    let named = s(config, "interface").and_then(by_name);
    let first = ports.first().cloned();
    let mut p = RoleParams::default();
    match kind {
        RoleKind::DhcpServer | RoleKind::BootpServer => {
            let port = named
                .or(first)
                .ok_or_else(|| format!("host {host} has no interface"))?;
            p.interface = Some(port.name.clone());
            p.server_address = ip(config, "server-id").or(port.address);
            p.bindings = tables(config, "host")
                .iter()
                .filter_map(|h| {
                    Some(Binding {
                        mac: s(h, "hardware")?.parse().ok()?,
                        address: ip(h, "address")?,
                        bootfile: s(h, "boot-file").map(String::from),
                        hostname: s(h, "host-name").map(String::from),
                    })
                })
                .collect();
            // The served subnet: the one with a pool, else the one holding the bindings, else the
            // server's own segment. Our server may declare several; the profiles take one plus the
            // server's own segment (`server_subnet`) when the served one is behind a relay.
            let subnets: Vec<(Subnet, &toml::Table)> = tables(config, "subnet")
                .into_iter()
                .filter_map(|t| Some((s(t, "network")?.parse().ok()?, t)))
                .collect();
            let served = subnets
                .iter()
                .find(|(_, t)| !strings(t, "pools").is_empty())
                .or_else(|| {
                    p.bindings
                        .first()
                        .and_then(|b| subnets.iter().find(|(sn, _)| contains(sn, b.address)))
                })
                .or_else(|| {
                    port.address
                        .and_then(|a| subnets.iter().find(|(sn, _)| contains(sn, a)))
                })
                .cloned();
            let served_subnet = served
                .as_ref()
                .map(|(sn, _)| *sn)
                .or_else(|| {
                    p.bindings.first().and_then(|b| {
                        ports
                            .iter()
                            .filter_map(|q| q.subnet)
                            .find(|sn| contains(sn, b.address))
                    })
                })
                .or(port.subnet);
            p.subnet = served_subnet;
            if let (Some(own), Some(sn)) = (port.subnet, served_subnet) {
                if own != sn {
                    p.server_subnet = Some(own);
                }
            }
            if let Some((_, t)) = &served {
                p.pool = strings(t, "pools").first().and_then(|r| pool_of(r));
                p.router = first_router(t);
                p.lease_time = int(t, "lease-time").and_then(|v| u32::try_from(v).ok());
            }
            p.router = p.router.or_else(|| first_router(config));
            p.lease_time = p
                .lease_time
                .or_else(|| int(config, "lease-time").and_then(|v| u32::try_from(v).ok()));
            p.next_server = ip(config, "next-server");
            p.boot_file = s(config, "boot-file").map(String::from);
            p.tftp_root = s(config, "boot-dir").map(PathBuf::from);
            p.secs_threshold = int(config, "secs-threshold")
                .and_then(|v| u16::try_from(v).ok())
                .filter(|v| *v > 0);
            p.bootp_dynamic = config
                .get("bootp-dynamic")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            // Our server never probes an address before offering it: turn the peers' pre-offer
            // checks off too (ICMP echo or ARP, 1–3 s each) unless the role says otherwise, so the
            // scenario tests what it was written for.
            p.conflict_check = Some(
                config
                    .get("conflict-check")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
            );
        }
        RoleKind::Relay => {
            let client_if = strings(config, "interfaces")
                .into_iter()
                .next()
                .or_else(|| s(config, "interface").map(String::from));
            let cport = client_if
                .as_deref()
                .and_then(by_name)
                .or(first.clone())
                .ok_or_else(|| format!("host {host} has no interface"))?;
            let sport = ports.iter().find(|q| q.name != cport.name).cloned();
            p.client_interface = Some(cport.name.clone());
            p.server_interface = sport.as_ref().map(|q| q.name.clone());
            p.interface = Some(cport.name.clone());
            p.address = cport.address;
            p.servers = strings(config, "servers")
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect();
            p.hop_limit = int(config, "hop-limit").and_then(|v| u8::try_from(v).ok());
            p.secs_threshold = int(config, "secs-threshold")
                .and_then(|v| u16::try_from(v).ok())
                .filter(|v| *v > 0);
        }
        // An NFS server takes the same two: the directory it exports and its address.
        RoleKind::TftpServer | RoleKind::NfsServer => {
            let port = named.or(first);
            p.interface = port.as_ref().map(|q| q.name.clone());
            p.address = ip(config, "address").or(port.as_ref().and_then(|q| q.address));
            p.root = s(config, "root").map(PathBuf::from);
        }
        RoleKind::TftpClient => {
            let port = named.or(first);
            p.interface = port.as_ref().map(|q| q.name.clone());
            p.address = port.as_ref().and_then(|q| q.address);
            p.server = ip(config, "server");
            p.file = s(config, "file").map(String::from);
            p.output = s(config, "output").map(PathBuf::from);
            // The RFC 2347 options the client asks for (our client's `blksize`, `windowsize`,
            // `tsize` keys); a profile that cannot ask for one declares `tftp-options` unsupported.
            let u16_of = |k: &str| int(config, k).and_then(|v| u16::try_from(v).ok());
            p.blksize = u16_of("blksize");
            p.windowsize = u16_of("windowsize");
            p.tsize = config.get("tsize").and_then(|v| v.as_bool()) == Some(true);
        }
        _ => {
            // Clients (DHCP, BOOTP, ROM, RARP): the interface and its MAC.
            let port = named
                .or(first)
                .ok_or_else(|| format!("host {host} has no interface"))?;
            p.interface = Some(port.name.clone());
            p.mac = Some(port.mac);
            // Our DHCP client probes (RFC 5227) unless `arp-check = false`: ask the peer for the
            // same (profiles that cannot probe ignore it, and the matrix shows CLI-ACD-01 n/a).
            p.conflict_check = Some(
                config
                    .get("arp-check")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(kind == RoleKind::DhcpClient),
            );
            // A DHCP client skips its own start-up wait unless the scenario judges it.
            // (The scenario's own table: the filled `config` has our daemon's keys.)
            p.quick_start = kind == RoleKind::DhcpClient && !super::own_start_delay(&role.config);
            p.file = s(config, "file").map(String::from);
        }
    }
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// Scenario features and what a profile cannot do
// ---------------------------------------------------------------------------------------------

/// Features no peer can be given in the lab: historic behaviours only our daemons reproduce,
/// and parameters [`RoleParams`] has no field for (so no profile can render them).
const OURS_ONLY: &[(&str, &str)] = &[
    (
        "quirks",
        "the scenario reproduces a historic bug with our daemon's quirks; no peer has them",
    ),
    (
        "scaled-time",
        "the scenario runs the client's lease timers faster than real time (time-scale); a peer renews at the real T1",
    ),
    (
        "broadcast-flag",
        "the client must set the BROADCAST flag (RFC 2131 §4.1), which profiles cannot be given yet (no RoleParams field)",
    ),
    (
        "inform",
        "the client must send DHCPINFORM from a configured address (RFC 2131 §3.4), which profiles cannot be asked for yet (no RoleParams field)",
    ),
    (
        "option-82",
        "the relay must insert option 82 (RFC 3046), which profiles cannot be given yet (no RoleParams field)",
    ),
    (
        "broadcast-replies",
        "the scenario configures our server to broadcast every reply (reply-policy = \"broadcast\") and expects the ADDR-UNI-01 failure that policy causes; a peer delivers replies its own way",
    ),
];

/// The scenario features (profile `unsupported` names, see `lab/profiles/README.md`) that the roles
/// of `kind` use in `sc`, i.e. what a peer replacing them must do.
pub fn features(sc: &Scenario, kind: RoleKind) -> BTreeSet<&'static str> {
    let mut f = BTreeSet::new();
    let replaced: Vec<&crate::plan::scenario::Role> = sc
        .roles
        .values()
        .filter(|r| *r.kind.get_ref() == kind)
        .collect();
    let has_kind = |k: RoleKind| sc.roles.values().any(|r| *r.kind.get_ref() == k);
    if replaced.is_empty() {
        return f;
    }
    let server = kind.is_server();
    let client = kind.is_client();
    if client
        && sc.time_scale > 1.0
        && replaced
            .iter()
            .any(|r| r.config.contains_key("renew") || r.config.contains_key("release-after"))
    {
        f.insert("scaled-time");
    }
    // A relay forwarding to more than one server (RFC 1542 §4.1.1 "one or more").
    if kind == RoleKind::Relay
        && replaced
            .iter()
            .any(|r| strings(&r.config, "servers").len() > 1)
    {
        f.insert("multiple-servers");
    }
    for r in &replaced {
        let c = &r.config;
        if server && c.get("reply-policy").and_then(|v| v.as_str()) == Some("broadcast") {
            f.insert("broadcast-replies");
        }
        if int(c, "secs-threshold").unwrap_or(0) > 0 {
            f.insert("secs-threshold");
        }
        if !strings(c, "quirks").is_empty() {
            f.insert("quirks");
        }
        if client && c.get("broadcast-flag").and_then(|v| v.as_bool()) == Some(true) {
            f.insert("broadcast-flag");
        }
        if client && c.contains_key("inform") {
            f.insert("inform");
        }
        // RFC 2347 options in the client's request: blksize/tsize (RFC 2348, 2349) and the later
        // windowsize (RFC 7440), which fewer clients know.
        if kind == RoleKind::TftpClient
            && ["blksize", "windowsize", "tsize"]
                .iter()
                .any(|k| c.contains_key(*k))
        {
            f.insert("tftp-options");
        }
        if kind == RoleKind::TftpClient && c.contains_key("windowsize") {
            f.insert("tftp-windowsize");
        }
        // blksize below 24 (RFC 2348 allows 8): some clients refuse to ask for it.
        if kind == RoleKind::TftpClient && int(c, "blksize").is_some_and(|v| v < 24) {
            f.insert("tftp-small-blksize");
        }
        if c.contains_key("hop-limit") {
            f.insert("hop-limit");
        }
        let inserts_82 = c
            .get("option82")
            .and_then(|v| v.as_table())
            .is_some_and(|t| t.get("insert").and_then(|v| v.as_bool()) == Some(true));
        if inserts_82 || c.contains_key("option-82") || c.contains_key("relay-agent-information") {
            f.insert("option-82");
        }
        if server {
            let subnets = tables(c, "subnet");
            if subnets.iter().any(|t| !strings(t, "pools").is_empty()) {
                f.insert("dynamic-pool");
            }
            if c.get("bootp-dynamic").and_then(|v| v.as_bool()) == Some(true) {
                f.insert("bootp-dynamic");
            }
            let short = |t: &toml::Table| int(t, "lease-time").is_some_and(|v| v < 120);
            if short(c) || subnets.iter().any(|t| short(t)) {
                f.insert("short-lease");
            }
        }
    }
    if server {
        if has_kind(RoleKind::Relay) {
            f.insert("relay");
        }
        if has_kind(RoleKind::DhcpClient) {
            f.insert("dhcp");
        }
        // Our boot ROM speaks BOOTP; a scenario that pins a ROM profile (iPXE, which speaks DHCP
        // only) asks the server for DHCP instead.
        let pinned_rom = |r: &crate::plan::scenario::Role| {
            *r.kind.get_ref() == RoleKind::RomClient
                && r.implementation.as_deref().is_some_and(|i| i != "ours")
        };
        if sc.roles.values().any(pinned_rom) {
            f.insert("dhcp");
        }
        if has_kind(RoleKind::BootpClient)
            || sc
                .roles
                .values()
                .any(|r| *r.kind.get_ref() == RoleKind::RomClient && !pinned_rom(r))
        {
            f.insert("bootp");
        }
    }
    f
}

/// Why `profile` cannot replace the roles of `kind` in `sc`: the first scenario feature its
/// `unsupported` list names (or one only our daemons have), as `feature: reason`. `None`: it can
/// try (the run decides pass or fail).
pub fn unsupported(profile: &Profile, sc: &Scenario, kind: RoleKind) -> Option<String> {
    claimed_unsupported(profile, sc, kind).or_else(|| lab_cannot(sc, kind))
}

/// The profile's own claim that it cannot do a feature the scenario uses, as `feature: reason`.
/// A claim is not a verdict: the matrix tries the cell anyway and keeps the n/a only when the run
/// fails (proven n/a).
pub fn claimed_unsupported(profile: &Profile, sc: &Scenario, kind: RoleKind) -> Option<String> {
    features(sc, kind).iter().find_map(|feat| {
        profile
            .unsupported_reason(feat)
            .map(|why| format!("{feat}: {why}"))
    })
}

/// A feature the lab cannot yet give any third-party profile (or that only our daemons have, such
/// as a historic quirk), as `feature: reason`: such a cell is not run, and says so.
pub fn lab_cannot(sc: &Scenario, kind: RoleKind) -> Option<String> {
    let feats = features(sc, kind);
    OURS_ONLY
        .iter()
        .find(|(feat, _)| feats.contains(feat))
        .map(|(feat, why)| format!("{feat}: {why}"))
}

// ---------------------------------------------------------------------------------------------
// Readiness and events
// ---------------------------------------------------------------------------------------------

/// Whether `text` is the line by which a peer says it is ready (profiles whose readiness is a
/// log line; `false` for every other kind of readiness check).
pub fn is_ready_line(rendered: &Rendered, text: &str) -> bool {
    matches!(rendered.ready, ReadyCheck::Log(_)) && rendered.ready_on_line(text)
}

/// Waits until the peer is ready, as its profile says.
pub async fn wait_ready(
    rendered: &Rendered,
    process: &Process,
    within: Duration,
) -> Result<(), String> {
    match &rendered.ready {
        ReadyCheck::Started => Ok(()),
        ReadyCheck::Log(_) => process
            .wait_for_line(|l| rendered.ready_on_line(&l.text), within)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        ReadyCheck::UdpPort(port) => {
            poll(within, || {
                crate::roles::profile::udp_port_bound(process.pid(), *port).unwrap_or(false)
            })
            .await
        }
        ReadyCheck::File(path) => poll(within, || path.exists()).await,
    }
}

async fn poll(within: Duration, mut ready: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("not ready within {within:?}"))
}

/// A boot ROM in a VM (`needs = ["tun"]`: qemu on a tap bridged with the host's lab interface)
/// takes the host's MAC, which the scenario's bindings name (`$mac:HOST`); the host's own
/// interface then gets another one (last octet 0xfe, an index no lab interface has), or the
/// bridge would keep every frame for that MAC to itself and the VM would receive nothing. Done as
/// the first command of the profile's setup script, before the bridge is made.
fn give_the_vm_the_hosts_mac(rendered: &mut Rendered, params: &RoleParams) {
    let (Some(mac), Some(interface), Some(setup)) =
        (params.mac, &params.interface, &rendered.setup)
    else {
        return;
    };
    if !rendered.needs.contains(&crate::roles::profile::Need::Tun) {
        return;
    }
    let mut other = mac;
    other.0[5] = 0xfe;
    for f in rendered.files.iter_mut().filter(|f| &f.path == setup) {
        f.contents = format!(
            "ip link set dev {interface} address {other}\n{}",
            f.contents
        );
    }
}

/// A BOOTP client peer reports a binding through its hook as `bound {address, server}`; BOOTP
/// scenarios wait for our client's `boot-reply-received {yiaddr, siaddr}` (RFC 951 §3 field
/// names): the same event under that name, for the role kind `bootp-client`.
fn bootp_reply_alias() -> crate::roles::profile::CompiledEvent {
    let re = regex::Regex::new(
        r#"^\{"event":"bound","address":"(?P<yiaddr>[0-9.]+)"(?:.*"server":"(?P<siaddr>[0-9.]+)")?"#,
    )
    .unwrap_or_else(|_| unreachable!("a constant, valid regex"));
    crate::roles::profile::CompiledEvent {
        event: "boot-reply-received".into(),
        on: EventOn::Log(re),
    }
}

/// The line [`reporting_exit`]'s wrapper prints when the program exits: `bootlab-exit STATUS BYTES`.
pub const EXIT_MARK: &str = "bootlab-exit ";

/// Wraps `argv` so that the program's exit status (and the size of `output`, -1 when absent) is
/// printed as a last stdout line, [`EXIT_MARK`]: the runner only sees output lines, and a
/// profile's `exit` event rules (TFTP clients) need the status. The wrapper shares the program's
/// process group, so stopping it stops both.
pub fn reporting_exit(argv: Vec<String>, output: &Path) -> Vec<String> {
    let out = output.display().to_string().replace('\'', "'\\''");
    let script = format!(
        "\"$@\"; s=$?; b=$(stat -c %s '{out}' 2>/dev/null || echo -1); echo \"{EXIT_MARK}$s $b\"; exit $s"
    );
    let mut v = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        script,
        "bootlab-peer".to_string(),
    ];
    v.extend(argv);
    v
}

/// Events a peer's output line carries: its hook's event lines, its profile's log rules, and on
/// the [`EXIT_MARK`] line its `exit` rules (with `bytes`, the size of the file a TFTP client
/// wrote) plus `exited {status}`. A TFTP client (done = `transfer-complete`) that exits non-zero
/// without a rule for that status reports `transfer-failed {status}`.
pub fn line_events(rendered: &Rendered, stream: Stream, text: &str) -> Vec<serde_json::Value> {
    if stream == Stream::Stdout {
        if let Some(rest) = text.strip_prefix(EXIT_MARK) {
            let mut it = rest.split_whitespace().map(|x| x.parse::<i64>().ok());
            let status = it.next().flatten().unwrap_or(-1);
            let bytes = it.next().flatten().unwrap_or(-1);
            let code = i32::try_from(status).unwrap_or(-1);
            let mut out = rendered.events_on_exit(code);
            for e in &mut out {
                if let (Some(m), true) = (e.as_object_mut(), bytes >= 0) {
                    m.insert("bytes".into(), serde_json::Value::from(bytes));
                }
            }
            if out.is_empty() && code != 0 && rendered.done.as_deref() == Some("transfer-complete")
            {
                out.push(serde_json::json!({"event": "transfer-failed", "status": code}));
            }
            out.push(serde_json::json!({"event": "exited", "status": code}));
            return out;
        }
    }
    rendered.events_on_line(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(name: &str) -> Scenario {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios")
            .join(format!("{name}.toml"));
        crate::plan::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn substituted(sc: &Scenario, role: &str) -> toml::Table {
        // What the runner hands over: `$mac:HOST` substituted, `@segment` -> ethN.
        let text = toml::to_string(&sc.roles[role].config).unwrap_or_default();
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("$mac:") {
            out.push_str(&rest[..i]);
            let tail = &rest[i + 5..];
            let end = tail.find('"').unwrap_or(tail.len());
            out.push_str(&topology::MacAddr::derived(&tail[..end], 0).to_string());
            rest = &tail[end..];
        }
        out.push_str(rest);
        let mut t: toml::Table =
            toml::from_str(&out.replace("@clients", "eth0")).unwrap_or_default();
        t.entry("interface")
            .or_insert(toml::Value::String("eth0".into()));
        t
    }

    #[test]
    fn dora_server_gets_subnet_pool_address_and_lease() {
        let sc = scenario("dhcp-dora");
        let p = role_params(&sc, "dhcpd", &substituted(&sc, "dhcpd")).unwrap_or_default();
        assert_eq!(
            p.subnet.map(|s| s.to_string()).as_deref(),
            Some("192.0.2.0/24")
        );
        assert_eq!(
            p.pool.map(|x| (x.start.to_string(), x.end.to_string())),
            Some(("192.0.2.100".into(), "192.0.2.110".into()))
        );
        assert_eq!(p.server_address, Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(p.lease_time, Some(600));
        assert_eq!(p.interface.as_deref(), Some("eth0"));
        assert_eq!(p.conflict_check, Some(false));
    }

    #[test]
    fn relayed_server_serves_the_pool_subnet_and_declares_its_own() {
        let sc = scenario("relay-one-hop");
        let p = role_params(&sc, "dhcpd", &substituted(&sc, "dhcpd")).unwrap_or_default();
        assert_eq!(
            p.subnet.map(|s| s.to_string()).as_deref(),
            Some("198.51.100.0/24")
        );
        assert_eq!(
            p.server_subnet.map(|s| s.to_string()).as_deref(),
            Some("192.0.2.0/24")
        );
        assert_eq!(p.router, Some(Ipv4Addr::new(198, 51, 100, 1)));
        let r = role_params(&sc, "relay", &substituted(&sc, "relay")).unwrap_or_default();
        // router is on clients (eth0) and servers (eth1), in segment-name order.
        assert_eq!(r.client_interface.as_deref(), Some("eth0"));
        assert_eq!(r.server_interface.as_deref(), Some("eth1"));
        assert_eq!(r.address, Some(Ipv4Addr::new(198, 51, 100, 1)));
        assert_eq!(r.servers, vec![Ipv4Addr::new(192, 0, 2, 1)]);
    }

    #[test]
    fn static_bindings_carry_mac_file_and_name() {
        let sc = scenario("bootp-static-binding");
        let p = role_params(&sc, "bootpd", &substituted(&sc, "bootpd")).unwrap_or_default();
        assert_eq!(p.bindings.len(), 1);
        assert_eq!(
            p.bindings[0].mac.to_string(),
            topology::MacAddr::derived("client", 0).to_string()
        );
        assert_eq!(p.bindings[0].bootfile.as_deref(), Some("unix"));
        assert_eq!(p.bindings[0].hostname.as_deref(), Some("client"));
        assert_eq!(
            p.subnet.map(|s| s.to_string()).as_deref(),
            Some("192.0.2.0/24")
        );
        assert_eq!(p.next_server, Some(Ipv4Addr::new(192, 0, 2, 1)));
    }

    #[test]
    fn features_name_what_peers_may_lack() {
        let f = features(
            &scenario("backup-server-secs-threshold"),
            RoleKind::BootpServer,
        );
        assert!(f.contains("secs-threshold") && f.contains("bootp"), "{f:?}");
        let f = features(&scenario("q164394-nt4-arp-cache"), RoleKind::BootpServer);
        assert!(f.contains("quirks"), "{f:?}");
        let f = features(&scenario("relay-one-hop"), RoleKind::DhcpServer);
        assert!(
            f.contains("relay") && f.contains("dhcp") && f.contains("dynamic-pool"),
            "{f:?}"
        );
        assert!(features(&scenario("dhcp-dora"), RoleKind::Relay).is_empty());
        // iPXE, pinned in nfs-root-boot, speaks DHCP: the server is not asked for BOOTP.
        let f = features(&scenario("nfs-root-boot"), RoleKind::DhcpServer);
        assert!(f.contains("dhcp") && !f.contains("bootp"), "{f:?}");
        // Two relays with one server each is not "multiple servers".
        assert!(
            !features(&scenario("relay-two-hops"), RoleKind::Relay).contains("multiple-servers")
        );
    }

    #[test]
    fn unsupported_uses_the_profiles_reasons() {
        let Ok(set) = ProfileSet::load_default() else {
            return;
        };
        let sc = scenario("relay-one-hop");
        let why = set
            .get("udhcpd")
            .ok()
            .and_then(|p| unsupported(p, &sc, RoleKind::DhcpServer));
        assert!(why.is_some_and(|w| w.starts_with("relay:")));
        let sc = scenario("q164394-nt4-arp-cache");
        assert!(set
            .get("isc-dhcpd")
            .ok()
            .and_then(|p| unsupported(p, &sc, RoleKind::BootpServer))
            .is_some_and(|w| w.starts_with("quirks")));
        let sc = scenario("dhcp-dora");
        assert_eq!(
            set.get("isc-dhcpd")
                .ok()
                .and_then(|p| unsupported(p, &sc, RoleKind::DhcpServer)),
            None
        );
    }

    #[test]
    fn exit_line_becomes_the_profiles_exit_events_with_bytes() {
        let Ok(set) = ProfileSet::load_default() else {
            return;
        };
        let Ok(p) = set.get("atftp") else { return };
        let params = RoleParams {
            file: Some("f".into()),
            server: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..RoleParams::default()
        };
        let Ok(r) = p.render(RoleKind::TftpClient, &params, &set.render_env("/tmp/x")) else {
            return;
        };
        let ok = line_events(&r, Stream::Stdout, "bootlab-exit 0 2000");
        assert_eq!(ok[0]["event"], "transfer-complete");
        assert_eq!(ok[0]["bytes"], 2000);
        let bad = line_events(&r, Stream::Stdout, "bootlab-exit 1 -1");
        assert_eq!(bad[0]["event"], "transfer-failed");
        let argv = reporting_exit(vec!["/usr/bin/atftp".into()], Path::new("/tmp/x/download"));
        assert_eq!(argv[0], "/bin/sh");
        assert_eq!(argv.last().map(String::as_str), Some("/usr/bin/atftp"));
    }

    #[test]
    fn a_bootp_client_peers_binding_is_a_boot_reply() {
        let alias = bootp_reply_alias();
        let EventOn::Log(re) = &alias.on else {
            panic!("a log rule")
        };
        let line =
            r#"{"event":"bound","address":"192.0.2.20","interface":"eth0","server":"192.0.2.1"}"#;
        let caps = re.captures(line);
        assert_eq!(
            caps.as_ref()
                .and_then(|c| c.name("yiaddr"))
                .map(|m| m.as_str()),
            Some("192.0.2.20")
        );
        assert_eq!(
            caps.as_ref()
                .and_then(|c| c.name("siaddr"))
                .map(|m| m.as_str()),
            Some("192.0.2.1")
        );
    }
}

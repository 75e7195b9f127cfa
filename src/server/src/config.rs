//! The server's configuration file (TOML) and its validation.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use bootlab_net::delivery::{NeighbourState, ReplyPolicy};
use serde::Deserialize;

use crate::quirks::Quirk;

/// `bootlab server` configuration (TOML, keys in kebab-case). Every key but `interface` is
/// optional. The scenario runner writes this file, and third-party profiles read the same keys.
///
/// ```toml
/// interface = "eth0"                 # the one interface served (SO_BINDTODEVICE), required
/// server-id = "192.0.2.1"            # option 54 (RFC 2132 §9.7); default: interface address
/// reply-policy = "rfc1542"           # rfc1542 | neighbour | raw | broadcast (RFC 1542 §5.4)
/// neighbour-state = "reachable"      # reachable | permanent: state of installed ARP entries
/// secs-threshold = 0                 # backup mode: ignore requests with secs below (RFC 951 §7.1)
/// hop-limit = 16                     # drop relayed requests with more hops (RFC 1542 §4.1.1)
/// min-message-size = 300             # drop shorter requests (RFC 1542 §2.1); 236..299 is an
///                                    # opt-in tolerance for senders like perfdhcp (262 octets)
/// quirks = ["nt4-sp2"]               # historic behaviours, see `quirks.rs`
/// lease-file = "/var/lib/bootlab/leases.journal"   # durable lease journal; none: memory only
/// lease-time = 3600                  # default lease, seconds (option 51)
/// max-lease-time = 86400             # cap on a lease time the client asks for
/// decline-probation = 600            # seconds a DECLINEd address is unusable (RFC 2131 §4.3.3)
/// offer-hold = 30                    # seconds an OFFERed address stays reserved (RFC 2131 §4.3.1)
/// time-scale = 1.0                   # protocol clock speed (lab: bootlab_net::clock)
/// seed = 0                           # seeded randomness
/// next-server = "192.0.2.1"          # siaddr, the TFTP server (RFC 951 §3); default: server-id
/// server-name = "boothost"           # sname
/// boot-file = "pxelinux.0"           # default boot file (`file`, RFC 951 §7.3)
/// boot-dir = "/tftpboot"             # home directory for generic boot-file names (RFC 951 §7.3)
/// bootp = true                       # answer BOOTP (no option 53) at all (RFC 1534 §2)
/// bootp-dynamic = false              # BOOTP clients without a binding get a pool address (RFC 1534 §2); off by default
/// bootp-lease-time = 0               # lease for them, seconds (4294967295: infinite, RFC 1534 §2); absent: the subnet's lease-time
/// bootptab = "/etc/bootptab"         # import CMU bootptab host entries as [[host]]s
/// events = true                      # machine-readable events on stdout per lease
///
/// [options]                          # global options (RFC 2132), overridden per subnet and host
/// routers = ["192.0.2.1"]            # 3
/// domain-name-servers = ["192.0.2.1"]  # 6
/// domain-name = "lab.example"        # 15
/// ntp-servers = []                   # 42
/// time-offset = 0                    # 2
/// root-path = "/export/root"         # 17
/// interface-mtu = 1500               # 26
/// raw = { "43" = "01:04:de:ad:be:ef" } # any option by code, hex bytes
///
/// [[subnet]]
/// network = "192.0.2.0/24"           # subnet mask (1) and broadcast (28) derive from it
/// pools = ["192.0.2.100-192.0.2.199"]
/// lease-time = 600                   # optional override
/// [subnet.options]                   # as [options]
///
/// [[host]]                           # a static binding (RFC 951 bootptab entry)
/// hardware = "02:00:00:00:00:10"     # and/or client-id = "01:02:00:00:00:00:10" (option 61)
/// address = "192.0.2.10"
/// host-name = "rom"                  # option 12
/// boot-file = "unix"                 # generic name, resolved under home-dir / boot-dir
/// home-dir = "/tftpboot"             # per-host boot directory (bootptab `hd`)
/// next-server = "192.0.2.1"
/// [host.options]                     # as [options]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// The interface served.
    pub interface: String,
    /// Server identifier (option 54); default: the interface's first address.
    #[serde(default)]
    pub server_id: Option<Ipv4Addr>,
    /// Delivery for clients without an address.
    #[serde(default)]
    pub reply_policy: ReplyPolicy,
    /// State of neighbour entries installed for `neighbour` delivery.
    #[serde(default)]
    pub neighbour_state: NeighbourState,
    /// Backup-server `secs` threshold (RFC 951 §7.1, RFC 1542 §5.2).
    #[serde(default)]
    pub secs_threshold: u16,
    /// Maximum `hops` accepted (RFC 1542 §4.1.1 allows at most 16).
    #[serde(default = "default_hop_limit")]
    pub hop_limit: u8,
    /// Requests shorter than this many octets are dropped. The default, 300, is RFC 1542 §2.1's
    /// "discard shorter messages"; a value down to 236 (the fixed header, RFC 951 §3) is a
    /// deliberate tolerance for senders that omit the vendor-area padding (perfdhcp sends 262
    /// octets). The lab's FMT-SIZE-01 still reports such a sender: this only decides whether
    /// our server answers it.
    #[serde(default = "default_min_message_size")]
    pub min_message_size: usize,
    /// Historic behaviours by name.
    #[serde(default)]
    pub quirks: Vec<Quirk>,
    /// Lease journal path; `None` keeps leases in memory only.
    #[serde(default)]
    pub lease_file: Option<PathBuf>,
    /// Default lease time in seconds.
    #[serde(default = "default_lease_time")]
    pub lease_time: u32,
    /// Longest lease a client may ask for, seconds.
    #[serde(default = "default_max_lease_time")]
    pub max_lease_time: u32,
    /// Seconds a declined address stays unusable.
    #[serde(default = "default_decline_probation")]
    pub decline_probation: u64,
    /// Seconds an offered address stays reserved for its client.
    #[serde(default = "default_offer_hold")]
    pub offer_hold: u64,
    /// Protocol clock speed factor.
    #[serde(default = "default_time_scale")]
    pub time_scale: f64,
    /// Seed for randomness.
    #[serde(default)]
    pub seed: u64,
    /// `siaddr`: the next (TFTP) server.
    #[serde(default)]
    pub next_server: Option<Ipv4Addr>,
    /// `sname`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Default boot file.
    #[serde(default)]
    pub boot_file: Option<String>,
    /// Home directory for generic boot-file names.
    #[serde(default)]
    pub boot_dir: Option<String>,
    /// Answer BOOTP clients.
    #[serde(default = "yes")]
    pub bootp: bool,
    /// Serve BOOTP clients without a binding from dynamic pools (RFC 1534 §2). Off by default,
    /// as in ISC dhcpd (`dynamic-bootp` ranges), dnsmasq (`bootp-dynamic`) and Kea: a BOOTP
    /// request binds an address at once, with no OFFER to overbook, so a burst of requests
    /// from new hardware addresses would bind the whole pool.
    #[serde(default)]
    pub bootp_dynamic: bool,
    /// Lease time of dynamic BOOTP bindings (4294967295 is infinite, RFC 1534 §2); `None`: the
    /// subnet's lease time.
    #[serde(default)]
    pub bootp_lease_time: Option<u32>,
    /// A CMU bootptab to import.
    #[serde(default)]
    pub bootptab: Option<PathBuf>,
    /// Emit per-lease events on stdout.
    #[serde(default = "yes")]
    pub events: bool,
    /// Global options.
    #[serde(default)]
    pub options: OptionSet,
    /// Subnets with their pools.
    #[serde(default)]
    pub subnet: Vec<Subnet>,
    /// Static bindings.
    #[serde(default)]
    pub host: Vec<Host>,
}

fn default_hop_limit() -> u8 {
    16
}
fn default_min_message_size() -> usize {
    bootlab_wire::bootp::MIN_MESSAGE_LEN
}
fn default_lease_time() -> u32 {
    3600
}
fn default_max_lease_time() -> u32 {
    86400
}
fn default_decline_probation() -> u64 {
    600
}
fn default_offer_hold() -> u64 {
    30
}
fn default_time_scale() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

/// Options a server hands out (RFC 2132), layered global < subnet < host.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OptionSet {
    /// Option 3.
    #[serde(default)]
    pub routers: Option<Vec<Ipv4Addr>>,
    /// Option 6.
    #[serde(default)]
    pub domain_name_servers: Option<Vec<Ipv4Addr>>,
    /// Option 15.
    #[serde(default)]
    pub domain_name: Option<String>,
    /// Option 42.
    #[serde(default)]
    pub ntp_servers: Option<Vec<Ipv4Addr>>,
    /// Option 2, seconds east of UTC.
    #[serde(default)]
    pub time_offset: Option<i32>,
    /// Option 17.
    #[serde(default)]
    pub root_path: Option<String>,
    /// Option 26.
    #[serde(default)]
    pub interface_mtu: Option<u16>,
    /// Any option by decimal code, value as hex bytes (`"01:02"` or `"0102"`).
    #[serde(default)]
    pub raw: BTreeMap<String, String>,
}

impl OptionSet {
    /// `self` with every field `over` sets replaced.
    pub fn overlay(&self, over: &OptionSet) -> OptionSet {
        let mut raw = self.raw.clone();
        raw.extend(over.raw.clone());
        OptionSet {
            routers: over.routers.clone().or_else(|| self.routers.clone()),
            domain_name_servers: over
                .domain_name_servers
                .clone()
                .or_else(|| self.domain_name_servers.clone()),
            domain_name: over
                .domain_name
                .clone()
                .or_else(|| self.domain_name.clone()),
            ntp_servers: over
                .ntp_servers
                .clone()
                .or_else(|| self.ntp_servers.clone()),
            time_offset: over.time_offset.or(self.time_offset),
            root_path: over.root_path.clone().or_else(|| self.root_path.clone()),
            interface_mtu: over.interface_mtu.or(self.interface_mtu),
            raw,
        }
    }
}

/// An IPv4 network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// Network address.
    pub addr: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// The subnet mask (option 1).
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(prefix_mask(self.prefix))
    }
    /// Whether `a` is inside.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        let m = prefix_mask(self.prefix);
        u32::from(a) & m == u32::from(self.addr) & m
    }
    /// The directed broadcast address (option 28).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !prefix_mask(self.prefix))
    }
}

fn prefix_mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected a.b.c.d/len"))?;
        let addr: Ipv4Addr = a.parse().map_err(|e| format!("{a:?}: {e}"))?;
        let prefix: u8 = p.parse().map_err(|e| format!("prefix {p:?}: {e}"))?;
        if prefix > 32 {
            return Err(format!("prefix {prefix} is longer than 32"));
        }
        Ok(Self { addr, prefix })
    }
}

/// An inclusive address range `first-last` (or a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First address.
    pub first: Ipv4Addr,
    /// Last address.
    pub last: Ipv4Addr,
}

impl std::str::FromStr for Range {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let first: Ipv4Addr = a.trim().parse().map_err(|e| format!("{a:?}: {e}"))?;
        let last: Ipv4Addr = b.trim().parse().map_err(|e| format!("{b:?}: {e}"))?;
        if u32::from(first) > u32::from(last) {
            return Err(format!("range {s:?} ends before it starts"));
        }
        Ok(Self { first, last })
    }
}

/// Bytes written as hex, with or without `:` separators.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HexBytes(pub Vec<u8>);

impl std::str::FromStr for HexBytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex(s).map(HexBytes)
    }
}

/// Parses `01:02:0a`, `01-02-0a`, `01020a` or `0x01020a` into bytes.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let t = s.trim().trim_start_matches("0x");
    let digits: String = t
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.' | ' '))
        .collect();
    let sep = digits.len() != t.len();
    if sep {
        // With separators each group may be one or two digits (`2:0:0:0:0:a`).
        return t
            .split([':', '-', '.', ' '])
            .filter(|g| !g.is_empty())
            .map(|g| u8::from_str_radix(g, 16).map_err(|_| format!("{s:?}: bad hex byte {g:?}")))
            .collect();
    }
    if digits.len() % 2 != 0 {
        return Err(format!("{s:?}: odd number of hex digits"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| format!("{s:?}: bad hex digits"))
        })
        .collect()
}

macro_rules! deserialize_from_str {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
deserialize_from_str!(Cidr);
deserialize_from_str!(Range);
deserialize_from_str!(HexBytes);

/// One subnet with its dynamic pools (RFC 2131 §4.3.1: selected by giaddr or the receiving
/// interface).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Subnet {
    /// The network.
    pub network: Cidr,
    /// Address ranges handed out dynamically.
    #[serde(default)]
    pub pools: Vec<toml::Spanned<Range>>,
    /// Lease time override.
    #[serde(default)]
    pub lease_time: Option<u32>,
    /// Options for this subnet.
    #[serde(default)]
    pub options: OptionSet,
}

/// A static binding (a bootptab entry, RFC 951 §7): hardware address and/or client id to an
/// address and boot parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Host {
    /// Ethernet address (`chaddr`).
    #[serde(default)]
    pub hardware: Option<HexBytes>,
    /// Client identifier (option 61, RFC 2132 §9.14).
    #[serde(default)]
    pub client_id: Option<HexBytes>,
    /// The address bound.
    pub address: Ipv4Addr,
    /// Option 12.
    #[serde(default)]
    pub host_name: Option<String>,
    /// Boot file (generic name or path).
    #[serde(default)]
    pub boot_file: Option<String>,
    /// Home directory for this host's boot files.
    #[serde(default)]
    pub home_dir: Option<String>,
    /// `siaddr` for this host.
    #[serde(default)]
    pub next_server: Option<Ipv4Addr>,
    /// Subnet mask for a host outside any configured subnet (bootptab `sm`).
    #[serde(default)]
    pub subnet_mask: Option<Ipv4Addr>,
    /// Options for this host.
    #[serde(default)]
    pub options: OptionSet,
}

/// A configuration problem, naming the file, the line and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file itself (see [`bootlab_net::config::ConfigError`]).
    #[error(transparent)]
    File(#[from] bootlab_net::config::ConfigError),
    /// The imported bootptab is wrong.
    #[error("{path}:{line}: {message}")]
    Bootptab {
        /// File.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads, parses and validates `path`, importing its `bootptab` if one is named.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            bootlab_net::config::ConfigError::Read {
                path: path.into(),
                source,
            }
        })?;
        let mut config = Self::parse(&text, path)?;
        if let Some(tab) = config.bootptab.clone() {
            let tab = if tab.is_relative() {
                path.parent().unwrap_or(Path::new(".")).join(tab)
            } else {
                tab
            };
            config.import_bootptab(&tab)?;
        }
        Ok(config)
    }

    /// Parses and validates TOML `text`; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = bootlab_net::config::parse(text, path)?;
        bootlab_net::config::check_min_message_size(text, path, config.min_message_size)?;
        for s in &config.subnet {
            for p in &s.pools {
                let r = p.get_ref();
                if !s.network.contains(r.first) || !s.network.contains(r.last) {
                    return Err(bootlab_net::config::invalid_at(
                        text,
                        path,
                        p.span().start,
                        &format!(
                            "pool {}-{} is not inside {}/{}",
                            r.first, r.last, s.network.addr, s.network.prefix
                        ),
                    )
                    .into());
                }
            }
        }
        for (i, h) in config.host.iter().enumerate() {
            if h.hardware.is_none() && h.client_id.is_none() {
                // The i-th `[[host]]` header, when hosts are written as tables.
                let line = text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| l.trim() == "[[host]]")
                    .nth(i)
                    .map(|(n, _)| n + 1)
                    .unwrap_or(0);
                return Err(bootlab_net::config::ConfigError::Invalid {
                    path: path.into(),
                    line,
                    column: 0,
                    key: format!("host[{i}]"),
                    message: "needs `hardware` or `client-id`".into(),
                }
                .into());
            }
        }
        for set in std::iter::once(&config.options)
            .chain(config.subnet.iter().map(|s| &s.options))
            .chain(config.host.iter().map(|h| &h.options))
        {
            for (code, value) in &set.raw {
                let bad = code
                    .parse::<u8>()
                    .map(|c| c == 0 || c == 255)
                    .unwrap_or(true);
                if bad || parse_hex(value).is_err() {
                    return Err(bootlab_net::config::invalid_key(
                        text,
                        path,
                        &format!("\"{code}\""),
                        "raw options need a code 1-254 and hex bytes",
                    )
                    .into());
                }
            }
        }
        Ok(config)
    }

    /// Appends the host entries of the CMU bootptab at `path` (see [`crate::bootptab`]).
    pub fn import_bootptab(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            bootlab_net::config::ConfigError::Read {
                path: path.into(),
                source,
            }
        })?;
        let hosts = crate::bootptab::parse(&text).map_err(|e| ConfigError::Bootptab {
            path: path.into(),
            line: e.line,
            message: e.message,
        })?;
        self.host.extend(hosts);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_config_parses() {
        let text = r#"
interface = "eth0"
server-id = "192.0.2.1"
reply-policy = "neighbour"
quirks = ["nt4-sp2"]
secs-threshold = 4
boot-dir = "/tftpboot"
[options]
routers = ["192.0.2.1"]
raw = { "43" = "01:02" }
[[subnet]]
network = "192.0.2.0/24"
pools = ["192.0.2.100-192.0.2.150"]
[subnet.options]
domain-name = "lab.example"
[[host]]
hardware = "02:00:00:00:00:10"
address = "192.0.2.10"
boot-file = "unix"
"#;
        let c = Config::parse(text, Path::new("s.toml")).expect("valid");
        assert_eq!(c.reply_policy, ReplyPolicy::Neighbour);
        assert_eq!(c.quirks, vec![Quirk::Nt4Sp2]);
        assert_eq!(
            c.subnet[0].pools[0].get_ref().last,
            Ipv4Addr::new(192, 0, 2, 150)
        );
        assert_eq!(
            c.host[0].hardware,
            Some(HexBytes(vec![2, 0, 0, 0, 0, 0x10]))
        );
        assert_eq!(c.lease_time, 3600);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text = "interface = \"eth0\"\n[[subnet]]\nnetwork = \"192.0.2.0/24\"\npools = [\"192.0.2.300-192.0.2.4\"]\n";
        let e = Config::parse(text, Path::new("lab.toml")).expect_err("bad pool");
        let s = e.to_string();
        assert!(s.starts_with("lab.toml:4:"), "{s}");
        assert!(s.contains("subnet.pools"), "{s}");
        let e = Config::parse(
            "interface = \"e\"\nreply-policy = \"arp\"\n",
            Path::new("x.toml"),
        )
        .expect_err("bad policy");
        assert!(e.to_string().starts_with("x.toml:2:"), "{e}");
        assert!(e.to_string().contains("reply-policy"), "{e}");
    }

    #[test]
    fn pool_outside_network_is_rejected() {
        let text = "interface = \"e\"\n[[subnet]]\nnetwork = \"192.0.2.0/25\"\npools = [\"192.0.2.100-192.0.2.200\"]\n";
        let e = Config::parse(text, Path::new("c.toml")).expect_err("outside");
        assert!(e.to_string().contains("c.toml:4:"), "{e}");
    }

    #[test]
    fn hex_forms() {
        assert_eq!(parse_hex("2:0:0:0:0:a"), Ok(vec![2, 0, 0, 0, 0, 10]));
        assert_eq!(parse_hex("0x0102"), Ok(vec![1, 2]));
        assert!(parse_hex("123").is_err());
    }
}

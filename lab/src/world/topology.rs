//! A lab network described as data: segments (each a bridge), hosts with interfaces on them,
//! routers, routes and static neighbour entries. Scenario files embed these types; [`validate`]
//! rejects impossible networks with an error naming the culprit.
//!
//! [`validate`]: Topology::validate

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest segment name: segments become bridges, whose interface names hold 15 bytes.
pub const MAX_SEGMENT_NAME: usize = 15;
/// Longest host name (a host name label, RFC 1035 §2.3.4).
pub const MAX_HOST_NAME: usize = 63;

/// A whole lab network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// The segments (broadcast domains), each a bridge.
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// The hosts, each its own network namespace.
    #[serde(default)]
    pub hosts: Vec<Host>,
}

/// One broadcast domain (an Ethernet segment, realised as a bridge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Segment name; also the bridge's interface name (at most 15 bytes).
    pub name: String,
    /// The IPv4 subnet of the segment.
    pub subnet: Ipv4Cidr,
}

/// One host: a network namespace with interfaces, and optionally a router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Host name; also its UTS host name unless `hostname` is given.
    pub name: String,
    /// Interfaces, named `eth0`, `eth1`, ... in this order.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// IPv4 forwarding (a router, RFC 1812).
    #[serde(default)]
    pub forwarding: bool,
    /// Static routes.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Static (permanent) ARP entries.
    #[serde(default)]
    pub neighbours: Vec<Neighbour>,
    /// Host name of its UTS namespace, when it differs from `name`.
    #[serde(default)]
    pub hostname: Option<String>,
}

/// One host interface, attached to a segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// The segment it is attached to.
    pub segment: String,
    /// Its IPv4 address: `"none"` (a boot ROM, a DHCP client) or a static address, with or
    /// without `/prefix` (the segment's prefix when omitted).
    #[serde(default)]
    pub address: Address,
    /// Whether it answers and uses ARP (`off` sets `IFF_NOARP`, RFC 826).
    #[serde(default)]
    pub arp: Arp,
    /// Hardware address; derived from the host name and interface index when absent.
    #[serde(default)]
    pub mac: Option<MacAddr>,
}

/// The IPv4 address of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Address {
    /// No address: the interface is up but unnumbered.
    #[default]
    None,
    /// A static address; `prefix_len` `None` takes the segment's.
    Static {
        /// The address.
        address: Ipv4Addr,
        /// The prefix length, when given.
        prefix_len: Option<u8>,
    },
}

/// ARP on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arp {
    /// Normal ARP.
    #[default]
    On,
    /// `IFF_NOARP`: neither answers nor sends ARP.
    Off,
}

/// A static route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Destination; `"default"` is `0.0.0.0/0`.
    pub destination: Ipv4Cidr,
    /// Next hop, on one of the host's segments.
    pub via: Ipv4Addr,
}

/// A permanent ARP entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neighbour {
    /// The IPv4 address.
    pub address: Ipv4Addr,
    /// Its hardware address.
    pub mac: MacAddr,
    /// Interface name (`eth0`...); the one whose segment holds `address` when absent.
    #[serde(default)]
    pub interface: Option<String>,
}

/// An IPv4 prefix, written `a.b.c.d/len` (or `default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Cidr {
    /// The address part.
    pub address: Ipv4Addr,
    /// The prefix length, 0..=32.
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    /// The netmask as a number.
    pub fn mask(self) -> u32 {
        if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix_len))
        }
    }

    /// The network address.
    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.address) & self.mask())
    }

    /// Whether `addr` is inside this prefix.
    pub fn contains(self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == u32::from(self.network())
    }

    /// The directed broadcast address.
    pub fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) | !self.mask())
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "default" {
            return Ok(Ipv4Cidr {
                address: Ipv4Addr::UNSPECIFIED,
                prefix_len: 0,
            });
        }
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected a.b.c.d/len"))?;
        let address = a.parse().map_err(|_| format!("{s:?}: bad IPv4 address"))?;
        let prefix_len = l.parse::<u8>().ok().filter(|l| *l <= 32);
        let prefix_len =
            prefix_len.ok_or_else(|| format!("{s:?}: prefix length must be 0..=32"))?;
        Ok(Ipv4Cidr {
            address,
            prefix_len,
        })
    }
}

impl TryFrom<String> for Ipv4Cidr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Ipv4Cidr> for String {
    fn from(c: Ipv4Cidr) -> String {
        c.to_string()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::None => f.write_str("none"),
            Address::Static {
                address,
                prefix_len: None,
            } => write!(f, "{address}"),
            Address::Static {
                address,
                prefix_len: Some(l),
            } => write!(f, "{address}/{l}"),
        }
    }
}

impl FromStr for Address {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "none" {
            return Ok(Address::None);
        }
        if s.contains('/') {
            let c: Ipv4Cidr = s.parse()?;
            return Ok(Address::Static {
                address: c.address,
                prefix_len: Some(c.prefix_len),
            });
        }
        let address = s
            .parse()
            .map_err(|_| format!("{s:?}: expected \"none\" or an IPv4 address"))?;
        Ok(Address::Static {
            address,
            prefix_len: None,
        })
    }
}

impl TryFrom<String> for Address {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.to_string()
    }
}

/// An Ethernet address (IEEE 802), written `02:00:5e:00:00:01`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The lab's deterministic address of interface `index` of `host`: locally administered
    /// unicast (`02:`), then 32 bits of FNV-1a over the host name, then the index.
    pub fn derived(host: &str, index: usize) -> MacAddr {
        let mut h: u32 = 0x811c_9dc5;
        for b in host.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        let [a, b, c, d] = h.to_be_bytes();
        MacAddr([0x02, a, b, c, d, (index & 0xff) as u8])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut m = [0u8; 6];
        let mut parts = s.split(':');
        for byte in m.iter_mut() {
            let p = parts
                .next()
                .ok_or_else(|| format!("{s:?}: expected six hex bytes"))?;
            *byte = u8::from_str_radix(p, 16).map_err(|_| format!("{s:?}: bad hex byte {p:?}"))?;
        }
        if parts.next().is_some() {
            return Err(format!("{s:?}: expected six hex bytes"));
        }
        Ok(MacAddr(m))
    }
}

impl TryFrom<String> for MacAddr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<MacAddr> for String {
    fn from(m: MacAddr) -> String {
        m.to_string()
    }
}

/// Why a topology cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Two segments or two hosts share a name.
    #[error("duplicate {kind} name {name:?}")]
    DuplicateName {
        /// `"segment"` or `"host"`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A name is empty, too long or has characters outside `[A-Za-z0-9_-]`.
    #[error("{kind} name {name:?} is invalid: {why}")]
    BadName {
        /// `"segment"` or `"host"`.
        kind: &'static str,
        /// The name.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// An interface names a segment that does not exist.
    #[error("host {host:?} eth{index}: unknown segment {segment:?}")]
    UnknownSegment {
        /// The host.
        host: String,
        /// The interface index.
        index: usize,
        /// The segment name.
        segment: String,
    },
    /// A static address lies outside its segment's subnet.
    #[error(
        "host {host:?} eth{index}: address {address} is outside segment {segment:?} ({subnet})"
    )]
    AddressOutsideSubnet {
        /// The host.
        host: String,
        /// The interface index.
        index: usize,
        /// The address.
        address: Ipv4Addr,
        /// The segment.
        segment: String,
        /// Its subnet.
        subnet: Ipv4Cidr,
    },
    /// A static address is the subnet's network or broadcast address.
    #[error("host {host:?} eth{index}: address {address} is the network or broadcast address of {subnet}")]
    ReservedAddress {
        /// The host.
        host: String,
        /// The interface index.
        index: usize,
        /// The address.
        address: Ipv4Addr,
        /// The subnet.
        subnet: Ipv4Cidr,
    },
    /// Two interfaces carry the same address.
    #[error("address {address} is used by both {first} and {second}")]
    DuplicateAddress {
        /// The address.
        address: Ipv4Addr,
        /// `host/ethN` of the first user.
        first: String,
        /// `host/ethN` of the second.
        second: String,
    },
    /// Two interfaces carry the same hardware address.
    #[error("hardware address {mac} is used by both {first} and {second}")]
    DuplicateMac {
        /// The address.
        mac: MacAddr,
        /// `host/ethN` of the first user.
        first: String,
        /// `host/ethN` of the second.
        second: String,
    },
    /// A route's next hop is on none of the host's segments.
    #[error(
        "host {host:?}: route to {destination} via {via}: next hop is on none of its segments"
    )]
    UnreachableGateway {
        /// The host.
        host: String,
        /// The route destination.
        destination: Ipv4Cidr,
        /// The next hop.
        via: Ipv4Addr,
    },
    /// A neighbour entry's interface does not exist or no interface's segment holds its address.
    #[error("host {host:?}: neighbour {address}: {why}")]
    BadNeighbour {
        /// The host.
        host: String,
        /// The neighbour's address.
        address: Ipv4Addr,
        /// What is wrong.
        why: String,
    },
    /// A host has more interfaces than the lab names (`eth0`..`eth99`).
    #[error("host {host:?} has {count} interfaces; at most 100")]
    TooManyInterfaces {
        /// The host.
        host: String,
        /// How many it has.
        count: usize,
    },
}

fn check_name(kind: &'static str, name: &str, max: usize) -> Result<(), TopologyError> {
    let bad = |why: String| TopologyError::BadName {
        kind,
        name: name.to_owned(),
        why,
    };
    if name.is_empty() {
        return Err(bad("empty".into()));
    }
    if name.len() > max {
        return Err(bad(format!("{} bytes, at most {max}", name.len())));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(bad("only letters, digits, '-' and '_' are allowed".into()));
    }
    if name == "lo" {
        return Err(bad("reserved".into()));
    }
    Ok(())
}

impl Topology {
    /// Parses a topology from TOML.
    pub fn from_toml(text: &str) -> Result<Topology, toml::de::Error> {
        toml::from_str(text)
    }

    /// The segment named `name`.
    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Checks that the network can be built, naming the first problem found.
    pub fn validate(&self) -> Result<(), TopologyError> {
        let mut seen = BTreeSet::new();
        for s in &self.segments {
            check_name("segment", &s.name, MAX_SEGMENT_NAME)?;
            if !seen.insert(s.name.as_str()) {
                return Err(TopologyError::DuplicateName {
                    kind: "segment",
                    name: s.name.clone(),
                });
            }
        }
        let mut hosts = BTreeSet::new();
        let mut addrs: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
        let mut macs: BTreeMap<MacAddr, String> = BTreeMap::new();
        for h in &self.hosts {
            check_name("host", &h.name, MAX_HOST_NAME)?;
            if let Some(n) = &h.hostname {
                check_name("host", n, MAX_HOST_NAME)?;
            }
            if !hosts.insert(h.name.as_str()) {
                return Err(TopologyError::DuplicateName {
                    kind: "host",
                    name: h.name.clone(),
                });
            }
            if h.interfaces.len() > 100 {
                return Err(TopologyError::TooManyInterfaces {
                    host: h.name.clone(),
                    count: h.interfaces.len(),
                });
            }
            for (index, i) in h.interfaces.iter().enumerate() {
                let where_ = format!("{}/eth{index}", h.name);
                let seg =
                    self.segment(&i.segment)
                        .ok_or_else(|| TopologyError::UnknownSegment {
                            host: h.name.clone(),
                            index,
                            segment: i.segment.clone(),
                        })?;
                if let Address::Static { address, .. } = i.address {
                    if !seg.subnet.contains(address) {
                        return Err(TopologyError::AddressOutsideSubnet {
                            host: h.name.clone(),
                            index,
                            address,
                            segment: seg.name.clone(),
                            subnet: seg.subnet,
                        });
                    }
                    if seg.subnet.prefix_len < 31
                        && (address == seg.subnet.network() || address == seg.subnet.broadcast())
                    {
                        return Err(TopologyError::ReservedAddress {
                            host: h.name.clone(),
                            index,
                            address,
                            subnet: seg.subnet,
                        });
                    }
                    if let Some(first) = addrs.insert(address, where_.clone()) {
                        return Err(TopologyError::DuplicateAddress {
                            address,
                            first,
                            second: where_,
                        });
                    }
                }
                let mac = i.mac.unwrap_or_else(|| MacAddr::derived(&h.name, index));
                if let Some(first) = macs.insert(mac, where_.clone()) {
                    return Err(TopologyError::DuplicateMac {
                        mac,
                        first,
                        second: where_,
                    });
                }
            }
            for r in &h.routes {
                if self.interface_for(h, r.via).is_none() {
                    return Err(TopologyError::UnreachableGateway {
                        host: h.name.clone(),
                        destination: r.destination,
                        via: r.via,
                    });
                }
            }
            for n in &h.neighbours {
                let bad = |why: &str| TopologyError::BadNeighbour {
                    host: h.name.clone(),
                    address: n.address,
                    why: why.to_owned(),
                };
                match &n.interface {
                    Some(name) => {
                        if interface_index(name).is_none_or(|i| i >= h.interfaces.len()) {
                            return Err(bad(&format!("no interface {name:?}")));
                        }
                    }
                    None => {
                        if self.interface_for(h, n.address).is_none() {
                            return Err(bad("no interface's segment holds it; name the interface"));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The index of the interface of `host` whose segment's subnet holds `addr`.
    pub fn interface_for(&self, host: &Host, addr: Ipv4Addr) -> Option<usize> {
        host.interfaces.iter().position(|i| {
            self.segment(&i.segment)
                .is_some_and(|s| s.subnet.contains(addr))
        })
    }
}

impl Host {
    /// The hardware address of interface `index` (override or derived).
    pub fn mac(&self, index: usize) -> MacAddr {
        self.interfaces
            .get(index)
            .and_then(|i| i.mac)
            .unwrap_or_else(|| MacAddr::derived(&self.name, index))
    }

    /// The UTS host name.
    pub fn hostname(&self) -> &str {
        self.hostname.as_deref().unwrap_or(&self.name)
    }
}

/// The in-host name of interface `index`: `eth0`, `eth1`, ...
pub fn interface_name(index: usize) -> String {
    format!("eth{index}")
}

/// The index of an in-host interface name (`eth3` is 3).
pub fn interface_index(name: &str) -> Option<usize> {
    name.strip_prefix("eth")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_SEGMENTS: &str = r#"
        [[segments]]
        name = "lan"
        subnet = "192.0.2.0/24"
        [[segments]]
        name = "far"
        subnet = "198.51.100.0/24"

        [[hosts]]
        name = "router"
        forwarding = true
        interfaces = [
            { segment = "lan", address = "192.0.2.1" },
            { segment = "far", address = "198.51.100.1/24" },
        ]

        [[hosts]]
        name = "rom"
        interfaces = [{ segment = "lan", arp = "off" }]
        routes = [{ destination = "default", via = "192.0.2.1" }]
        neighbours = [{ address = "192.0.2.1", mac = "02:00:00:00:00:01" }]
    "#;

    fn parse(s: &str) -> Topology {
        match Topology::from_toml(s) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn parses_and_validates() {
        let t = parse(TWO_SEGMENTS);
        assert_eq!(t.validate(), Ok(()));
        let rom = &t.hosts[1];
        assert_eq!(rom.interfaces[0].address, Address::None);
        assert_eq!(rom.interfaces[0].arp, Arp::Off);
        assert_eq!(rom.routes[0].destination.prefix_len, 0);
        assert_eq!(
            t.hosts[0].interfaces[1].address,
            Address::Static {
                address: Ipv4Addr::new(198, 51, 100, 1),
                prefix_len: Some(24)
            }
        );
    }

    #[test]
    fn macs_are_deterministic_local_unicast() {
        let a = MacAddr::derived("rom", 0);
        assert_eq!(a, MacAddr::derived("rom", 0));
        assert_ne!(a, MacAddr::derived("rom", 1));
        assert_ne!(a, MacAddr::derived("server", 0));
        assert_eq!(a.0[0], 0x02);
        assert_eq!(a.to_string().parse::<MacAddr>(), Ok(a));
    }

    #[test]
    fn address_outside_subnet_is_named() {
        let mut t = parse(TWO_SEGMENTS);
        t.hosts[1].interfaces[0].address = "198.51.100.7".parse().unwrap_or_default();
        let e = t
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("198.51.100.7") && e.contains("\"lan\""), "{e}");
    }

    #[test]
    fn unknown_segment_and_duplicates_are_rejected() {
        let mut t = parse(TWO_SEGMENTS);
        t.hosts[1].interfaces[0].segment = "nowhere".into();
        assert!(matches!(
            t.validate(),
            Err(TopologyError::UnknownSegment { .. })
        ));

        let mut t = parse(TWO_SEGMENTS);
        t.hosts[1].name = "router".into();
        assert!(matches!(
            t.validate(),
            Err(TopologyError::DuplicateName { kind: "host", .. })
        ));

        let mut t = parse(TWO_SEGMENTS);
        t.hosts[1].interfaces[0].address = "192.0.2.1".parse().unwrap_or_default();
        assert!(matches!(
            t.validate(),
            Err(TopologyError::DuplicateAddress { .. })
        ));
    }

    #[test]
    fn long_segment_names_are_rejected() {
        let mut t = parse(TWO_SEGMENTS);
        t.segments[0].name = "a-very-long-segment".into();
        assert!(matches!(
            t.validate(),
            Err(TopologyError::BadName {
                kind: "segment",
                ..
            })
        ));
    }

    #[test]
    fn gateway_must_be_on_a_segment() {
        let mut t = parse(TWO_SEGMENTS);
        t.hosts[1].routes[0].via = Ipv4Addr::new(203, 0, 113, 1);
        assert!(matches!(
            t.validate(),
            Err(TopologyError::UnreachableGateway { .. })
        ));
    }

    #[test]
    fn cidr_arithmetic() {
        let c: Ipv4Cidr = "192.0.2.77/26".parse().unwrap_or(Ipv4Cidr {
            address: Ipv4Addr::UNSPECIFIED,
            prefix_len: 0,
        });
        assert_eq!(c.network(), Ipv4Addr::new(192, 0, 2, 64));
        assert_eq!(c.broadcast(), Ipv4Addr::new(192, 0, 2, 127));
        assert!(c.contains(Ipv4Addr::new(192, 0, 2, 100)));
        assert!(!c.contains(Ipv4Addr::new(192, 0, 2, 128)));
    }
}

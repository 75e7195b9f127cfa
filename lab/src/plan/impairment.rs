//! Impairment rules as a scenario states them: which frames of a link to drop, duplicate, delay
//! or reorder. The lab's user-space wire (`world::impair`) applies them.
//!
//! In a scenario (TOML), rules read:
//!
//! ```toml
//! rules = [
//!     { direction = "to-host", match = { dhcp = "offer" }, when = { nth = 1 }, action = "drop" },
//!     { match = { tftp = { opcode = "ack", block = 5 } }, action = "duplicate" },
//!     { match = { tftp = { opcode = "data" } }, action = { delay-ms = 200 } },
//!     { match = { udp = { dst_port = 69 } }, when = { first = 2 }, action = "reorder" },
//!     { match = "arp", when = { chance = 0.3 }, action = "drop" },
//! ]
//! ```
//!
//! `direction` is `both` (default), `to-host` or `from-host`; `match` is `any` (default), `arp`,
//! `{ arp = { op, sender-ip, target-ip } }`, `rarp`, `{ udp = { src_port, dst_port } }`, `{ bootp = { op } }`, `{ dhcp = "discover" |
//! "offer" | "request" | "decline" | "ack" | "nak" | "release" | "inform" }` or `{ tftp = {
//! opcode, block } }`; `when` is `every` (default), `{ nth = n }` (1-based, counted per rule),
//! `{ first = n }` or `{ chance = p }`. BOOTP, DHCP and TFTP are recognised by the wire decoder
//! (`bootlab_wire::frame`), which follows TFTP transfers to their ephemeral ports.

use serde::{Deserialize, Serialize};

/// The rules of one impaired link; an empty list forwards everything unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impairment {
    /// Rules in order: the first whose match and `when` hold decides a frame's fate.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One impairment rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Which way the frames travel.
    #[serde(default)]
    pub direction: Direction,
    /// Which frames the rule is about.
    #[serde(default, rename = "match", deserialize_with = "deserialize_match")]
    pub matches: Match,
    /// Which of the matching frames it applies to.
    #[serde(default)]
    pub when: When,
    /// What happens to them.
    pub action: Action,
}

/// Direction of a frame relative to the impaired host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Both ways.
    #[default]
    Both,
    /// From the segment to the host.
    ToHost,
    /// From the host to the segment.
    FromHost,
}

/// A predicate on a decoded frame.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Match {
    /// Every frame.
    #[default]
    Any,
    /// ARP frames (RFC 826), all of them (`"arp"`) or by field (`{ arp = { sender-ip =
    /// "0.0.0.0" } }`: the probes of RFC 5227 §2.1.1).
    Arp(ArpMatch),
    /// RARP frames (RFC 903).
    Rarp,
    /// IPv4 UDP datagrams by port.
    Udp {
        /// Source port.
        #[serde(default)]
        src_port: Option<u16>,
        /// Destination port.
        #[serde(default)]
        dst_port: Option<u16>,
    },
    /// BOOTP messages (UDP 67/68, RFC 951) of an op (1 request, 2 reply), or all.
    Bootp {
        /// `op`, when given.
        #[serde(default)]
        op: Option<u8>,
    },
    /// DHCP messages of a type (option 53, RFC 2132 §9.6).
    Dhcp(DhcpType),
    /// TFTP packets (RFC 1350) by opcode and block number.
    Tftp {
        /// Opcode, when given.
        #[serde(default)]
        opcode: Option<TftpOpcode>,
        /// Block number of DATA/ACK, when given.
        #[serde(default)]
        block: Option<u16>,
    },
}

/// Fields of an ARP packet (RFC 826) a rule can require; absent fields match anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ArpMatch {
    /// `ar$op`: 1 request, 2 reply.
    #[serde(default)]
    pub op: Option<u16>,
    /// `ar$spa`, the sender protocol address; `0.0.0.0` in an RFC 5227 probe.
    #[serde(default)]
    pub sender_ip: Option<std::net::Ipv4Addr>,
    /// `ar$tpa`, the target protocol address.
    #[serde(default)]
    pub target_ip: Option<std::net::Ipv4Addr>,
}

/// Reads a [`Match`]: a bare name (`"any"`, `"arp"`, `"rarp"`) or a one-key table. `"arp"` is
/// the same as `{ arp = {} }`.
fn deserialize_match<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Match, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Match;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(r#""any", "arp", "rarp" or a table such as { dhcp = "offer" }"#)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Match, E> {
            match v {
                "arp" => Ok(Match::Arp(ArpMatch::default())),
                other => Match::deserialize(serde::de::value::StrDeserializer::new(other)),
            }
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Match, A::Error> {
            Match::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(Visitor)
}

/// DHCP message types (RFC 2132 §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum DhcpType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
}

impl DhcpType {
    /// The option 53 value.
    pub fn value(self) -> u8 {
        match self {
            DhcpType::Discover => 1,
            DhcpType::Offer => 2,
            DhcpType::Request => 3,
            DhcpType::Decline => 4,
            DhcpType::Ack => 5,
            DhcpType::Nak => 6,
            DhcpType::Release => 7,
            DhcpType::Inform => 8,
        }
    }
}

/// TFTP opcodes (RFC 1350 §5, RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum TftpOpcode {
    Rrq,
    Wrq,
    Data,
    Ack,
    Error,
    Oack,
}

impl TftpOpcode {
    /// The opcode value.
    pub fn value(self) -> u16 {
        match self {
            TftpOpcode::Rrq => 1,
            TftpOpcode::Wrq => 2,
            TftpOpcode::Data => 3,
            TftpOpcode::Ack => 4,
            TftpOpcode::Error => 5,
            TftpOpcode::Oack => 6,
        }
    }
}

/// Which of the matching frames a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum When {
    /// Every one.
    #[default]
    Every,
    /// Only the n-th (1-based).
    Nth(u32),
    /// The first n.
    First(u32),
    /// Each with this probability (0.0..=1.0), drawn from the seeded generator.
    Chance(f64),
}

/// What happens to a frame a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// Never delivered.
    Drop,
    /// Delivered twice.
    Duplicate,
    /// Delivered, and once more right after the next frame that travels the other way: a
    /// duplicate that arrives after the peer has answered the original, whatever the machine's
    /// speed (the delayed duplicate ACK of the Sorcerer's Apprentice, RFC 1123 §4.2.3.1).
    DuplicateAfterReply,
    /// Delivered after this many milliseconds.
    DelayMs(u64),
    /// Held back and delivered after the next frame in the same direction.
    Reorder,
}

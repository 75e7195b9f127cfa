//! BOOTP (RFC 951, RFC 1542) with DHCP options (RFC 2131, RFC 2132, RFC 3046, RFC 3396, RFC 4578).
//!
//! CONTRACT (shared with the server, relay and client crates): the names and types below are
//! stable; parse/emit internals may change. Additions are fine, renames are not.
//!
//! Parsing is lenient ([`Message::parse`] returns [`Deviation`]s); [`Message::emit`] builds a
//! correct message and [`Message::emit_with`] a deliberately wrong one for fault scenarios.

use std::fmt;
use std::net::Ipv4Addr;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::{Deviation, Severity};

/// UDP port of BOOTP/DHCP servers (RFC 951 §3).
pub const SERVER_PORT: u16 = 67;
/// UDP port of BOOTP/DHCP clients (RFC 951 §3).
pub const CLIENT_PORT: u16 = 68;
/// The fixed header before the vendor area: 236 bytes (RFC 951 §3).
pub const HEADER_LEN: usize = 236;
/// The smallest BOOTP message: a 64-byte vendor area makes 300 bytes (RFC 951 §3, RFC 1542 §2.1).
pub const MIN_MESSAGE_LEN: usize = 300;
/// The RFC 1048 magic cookie 99.130.83.99 that starts an options vendor area.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// The broadcast bit of `flags` (RFC 1542 §3.1.1).
pub const FLAG_BROADCAST: u16 = 0x8000;

/// `op` (RFC 951 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// 1
    BootRequest,
    /// 2
    BootReply,
    /// Any other value (a deviation).
    Unknown(u8),
}

/// DHCP message type, option 53 (RFC 2132 §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// 1
    Discover,
    /// 2
    Offer,
    /// 3
    Request,
    /// 4
    Decline,
    /// 5
    Ack,
    /// 6
    Nak,
    /// 7
    Release,
    /// 8
    Inform,
    /// Any other value.
    Unknown(u8),
}

/// One option as it appeared in the vendor area (or `sname`/`file` under overload), in order.
/// Unknown options keep their bytes and are emitted unchanged. An RFC 3396 option split into
/// several instances is kept as separate `DhcpOption`s; [`Options::get`] concatenates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpOption {
    /// The option code (RFC 2132); 0 (pad) and 255 (end) are not stored here.
    pub code: u8,
    /// The data bytes, without code and length.
    pub data: Vec<u8>,
}

/// Well-known option codes (RFC 2132 and others), named after the RFCs.
#[allow(missing_docs)]
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DOMAIN_NAME_SERVER: u8 = 6;
    pub const HOST_NAME: u8 = 12;
    pub const BOOT_FILE_SIZE: u8 = 13;
    pub const DOMAIN_NAME: u8 = 15;
    pub const BROADCAST_ADDRESS: u8 = 28;
    pub const REQUESTED_IP_ADDRESS: u8 = 50;
    pub const IP_ADDRESS_LEASE_TIME: u8 = 51;
    pub const OPTION_OVERLOAD: u8 = 52;
    pub const DHCP_MESSAGE_TYPE: u8 = 53;
    pub const SERVER_IDENTIFIER: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const MAXIMUM_DHCP_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME_VALUE: u8 = 58;
    pub const REBINDING_TIME_VALUE: u8 = 59;
    pub const VENDOR_CLASS_IDENTIFIER: u8 = 60;
    pub const CLIENT_IDENTIFIER: u8 = 61;
    pub const TFTP_SERVER_NAME: u8 = 66;
    pub const BOOTFILE_NAME: u8 = 67;
    pub const RELAY_AGENT_INFORMATION: u8 = 82;
    pub const CLIENT_SYSTEM_ARCHITECTURE: u8 = 93;
    pub const CLIENT_NETWORK_INTERFACE_ID: u8 = 94;
    pub const CLIENT_MACHINE_ID: u8 = 97;
    pub const TIME_OFFSET: u8 = 2;
    pub const TIME_SERVER: u8 = 4;
    pub const LOG_SERVER: u8 = 7;
    pub const NTP_SERVERS: u8 = 42;
    pub const VENDOR_SPECIFIC_INFORMATION: u8 = 43;
    pub const INTERFACE_MTU: u8 = 26;
    pub const STATIC_ROUTE: u8 = 33;
    pub const ROOT_PATH: u8 = 17;
    pub const SWAP_SERVER: u8 = 16;
    pub const USER_CLASS: u8 = 77;
    pub const END: u8 = 255;
}

/// The options of a message, in wire order, duplicates kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options(pub Vec<DhcpOption>);

/// What the vendor area (`vend`, RFC 951 / RFC 1048) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vendor {
    /// Starts with the magic cookie: options follow (RFC 1048, RFC 2132 §2).
    Options(Options),
    /// No cookie: opaque vendor bytes (plain RFC 951 BOOTP), kept as they were.
    Raw(Vec<u8>),
}

/// A decoded BOOTP/DHCP message (RFC 951 §3, RFC 2131 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Request or reply.
    pub op: Op,
    /// Hardware address type, 1 for Ethernet.
    pub htype: u8,
    /// Hardware address length, 6 for Ethernet.
    pub hlen: u8,
    /// Relay hop count (RFC 1542 §4.1.1).
    pub hops: u8,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began booting (RFC 951 §7 backup servers use it).
    pub secs: u16,
    /// Flags; bit 15 is broadcast (RFC 1542 §3.1.1).
    pub flags: u16,
    /// Client address, when the client already has one.
    pub ciaddr: Ipv4Addr,
    /// "Your" address: the one the server assigns.
    pub yiaddr: Ipv4Addr,
    /// Next server (boot/TFTP server).
    pub siaddr: Ipv4Addr,
    /// Relay agent address (RFC 1542 §4.1.1).
    pub giaddr: Ipv4Addr,
    /// Client hardware address, 16 bytes as on the wire.
    pub chaddr: [u8; 16],
    /// Server host name field, 64 bytes as on the wire (NUL-padded).
    pub sname: [u8; 64],
    /// Boot file name field, 128 bytes as on the wire (NUL-padded).
    pub file: [u8; 128],
    /// The vendor area.
    pub vend: Vendor,
}

/// Why a BOOTP message could not be decoded at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the fixed header.
    #[error(
        "BOOTP message truncated: {len} bytes, the fixed header needs {HEADER_LEN} (RFC 951 §3)"
    )]
    Truncated {
        /// Bytes available.
        len: usize,
    },
}

/// Byte ranges of the fixed header (RFC 951 §3).
mod field {
    use std::ops::Range;
    pub(super) const OP: usize = 0;
    pub(super) const HTYPE: usize = 1;
    pub(super) const HLEN: usize = 2;
    pub(super) const HOPS: usize = 3;
    pub(super) const XID: Range<usize> = 4..8;
    pub(super) const SECS: Range<usize> = 8..10;
    pub(super) const FLAGS: Range<usize> = 10..12;
    pub(super) const CIADDR: Range<usize> = 12..16;
    pub(super) const YIADDR: Range<usize> = 16..20;
    pub(super) const SIADDR: Range<usize> = 20..24;
    pub(super) const GIADDR: Range<usize> = 24..28;
    pub(super) const CHADDR: Range<usize> = 28..44;
    pub(super) const SNAME: Range<usize> = 44..108;
    pub(super) const FILE: Range<usize> = 108..236;
    pub(super) const VEND: usize = 236;
    pub(super) const OPTIONS: usize = 240;
}

impl From<u8> for Op {
    fn from(v: u8) -> Op {
        match v {
            1 => Op::BootRequest,
            2 => Op::BootReply,
            v => Op::Unknown(v),
        }
    }
}

impl From<Op> for u8 {
    fn from(op: Op) -> u8 {
        match op {
            Op::BootRequest => 1,
            Op::BootReply => 2,
            Op::Unknown(v) => v,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::BootRequest => f.write_str("BOOTREQUEST"),
            Op::BootReply => f.write_str("BOOTREPLY"),
            Op::Unknown(v) => write!(f, "BOOTP-op-{v}"),
        }
    }
}

impl From<u8> for MessageType {
    fn from(v: u8) -> MessageType {
        match v {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            v => MessageType::Unknown(v),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        match t {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::Unknown(v) => v,
        }
    }
}

impl MessageType {
    /// The `op` a message of this type carries (RFC 2131 §3, Table 1): client messages are
    /// BOOTREQUEST, server messages BOOTREPLY.
    pub fn op(self) -> Op {
        match self {
            MessageType::Offer | MessageType::Ack | MessageType::Nak => Op::BootReply,
            _ => Op::BootRequest,
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            MessageType::Discover => "DHCPDISCOVER",
            MessageType::Offer => "DHCPOFFER",
            MessageType::Request => "DHCPREQUEST",
            MessageType::Decline => "DHCPDECLINE",
            MessageType::Ack => "DHCPACK",
            MessageType::Nak => "DHCPNAK",
            MessageType::Release => "DHCPRELEASE",
            MessageType::Inform => "DHCPINFORM",
            MessageType::Unknown(v) => return write!(f, "DHCP-type-{v}"),
        };
        f.write_str(name)
    }
}

/// A short name for an option code (RFC 2132 and the RFCs cited in [`code`]), `None` if unknown.
pub fn option_name(c: u8) -> Option<&'static str> {
    Some(match c {
        code::PAD => "pad",
        code::SUBNET_MASK => "subnet-mask",
        code::TIME_OFFSET => "time-offset",
        code::ROUTER => "router",
        code::TIME_SERVER => "time-server",
        code::DOMAIN_NAME_SERVER => "domain-name-server",
        code::LOG_SERVER => "log-server",
        code::HOST_NAME => "host-name",
        code::BOOT_FILE_SIZE => "boot-file-size",
        code::DOMAIN_NAME => "domain-name",
        code::SWAP_SERVER => "swap-server",
        code::ROOT_PATH => "root-path",
        code::INTERFACE_MTU => "interface-mtu",
        code::BROADCAST_ADDRESS => "broadcast-address",
        code::STATIC_ROUTE => "static-route",
        code::NTP_SERVERS => "ntp-servers",
        code::VENDOR_SPECIFIC_INFORMATION => "vendor-specific-information",
        code::REQUESTED_IP_ADDRESS => "requested-ip-address",
        code::IP_ADDRESS_LEASE_TIME => "ip-address-lease-time",
        code::OPTION_OVERLOAD => "option-overload",
        code::DHCP_MESSAGE_TYPE => "dhcp-message-type",
        code::SERVER_IDENTIFIER => "server-identifier",
        code::PARAMETER_REQUEST_LIST => "parameter-request-list",
        code::MESSAGE => "message",
        code::MAXIMUM_DHCP_MESSAGE_SIZE => "maximum-dhcp-message-size",
        code::RENEWAL_TIME_VALUE => "renewal-time-value",
        code::REBINDING_TIME_VALUE => "rebinding-time-value",
        code::VENDOR_CLASS_IDENTIFIER => "vendor-class-identifier",
        code::CLIENT_IDENTIFIER => "client-identifier",
        code::TFTP_SERVER_NAME => "tftp-server-name",
        code::BOOTFILE_NAME => "bootfile-name",
        code::USER_CLASS => "user-class",
        code::RELAY_AGENT_INFORMATION => "relay-agent-information",
        code::CLIENT_SYSTEM_ARCHITECTURE => "client-system-architecture",
        code::CLIENT_NETWORK_INTERFACE_ID => "client-network-interface-identifier",
        code::CLIENT_MACHINE_ID => "client-machine-identifier",
        code::END => "end",
        _ => return None,
    })
}

/// Where in the message an option area lies (RFC 2131 §4.1: options, then `file`, then `sname`
/// under overload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    /// The options field after the magic cookie.
    Options,
    /// The `file` field, overloaded by option 52 value 1 or 3.
    File,
    /// The `sname` field, overloaded by option 52 value 2 or 3.
    Sname,
}

impl Area {
    fn name(self) -> &'static str {
        match self {
            Area::Options => "options",
            Area::File => "file",
            Area::Sname => "sname",
        }
    }
}

fn deviation(
    field: impl Into<String>,
    offset: Option<usize>,
    message: impl Into<String>,
    rule: &'static str,
    severity: Severity,
) -> Deviation {
    Deviation {
        field: field.into(),
        offset,
        message: message.into(),
        rule,
        severity,
    }
}

/// Walks one option area (RFC 2132 §2): code/length/value triples, pad and end single octets.
/// `base` is the area's offset within the message, for the deviations' offsets.
fn walk_area(area: &[u8], base: usize, which: Area, devs: &mut Vec<Deviation>) -> Vec<DhcpOption> {
    let mut opts = Vec::new();
    let mut i = 0;
    loop {
        let Some(&c) = area.get(i) else {
            devs.push(deviation(
                which.name(),
                Some(base + area.len()),
                "no end option",
                "RFC 2131 §4.1; RFC 2132 §3.2",
                Severity::Error,
            ));
            break;
        };
        match c {
            code::PAD => i += 1,
            code::END => {
                let rest = &area[i + 1..];
                let junk = rest.iter().filter(|&&b| b != 0).count();
                if junk > 0 {
                    devs.push(deviation(
                        which.name(),
                        Some(base + i + 1),
                        format!("{junk} non-pad bytes after the end option"),
                        "RFC 2131 §4.1; RFC 2132 §3.2",
                        Severity::Warning,
                    ));
                }
                break;
            }
            _ => {
                let Some(&len) = area.get(i + 1) else {
                    devs.push(deviation(
                        format!("option {c}"),
                        Some(base + i),
                        format!("length octet missing: {} ends", which.name()),
                        "RFC 2132 §2",
                        Severity::Error,
                    ));
                    break;
                };
                let start = i + 2;
                let end = start + len as usize;
                if end > area.len() {
                    devs.push(deviation(
                        format!("option {c}"),
                        Some(base + i),
                        format!(
                            "length {len} runs past the end of {} ({} bytes left)",
                            which.name(),
                            area.len() - start
                        ),
                        "RFC 2132 §2",
                        Severity::Error,
                    ));
                    opts.push(DhcpOption {
                        code: c,
                        data: area[start..].to_vec(),
                    });
                    break;
                }
                opts.push(DhcpOption {
                    code: c,
                    data: area[start..end].to_vec(),
                });
                i = end;
            }
        }
    }
    opts
}

/// One sub-option of the relay agent information option 82 (RFC 3046 §2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubOption {
    /// Sub-option code: 1 circuit id, 2 remote id (RFC 3046 §3).
    pub code: u8,
    /// The sub-option's data.
    pub data: Vec<u8>,
}

/// Sub-option codes of option 82 (RFC 3046 §3).
pub mod agent {
    /// Agent Circuit ID (RFC 3046 §3.1).
    pub const CIRCUIT_ID: u8 = 1;
    /// Agent Remote ID (RFC 3046 §3.2).
    pub const REMOTE_ID: u8 = 2;
}

/// Splits option 82's data into sub-options (RFC 3046 §2), with the deviations found.
pub fn parse_relay_agent_information(data: &[u8]) -> (Vec<SubOption>, Vec<Deviation>) {
    let mut subs = Vec::new();
    let mut devs = Vec::new();
    let field = "option 82";
    if data.len() < 2 {
        devs.push(deviation(
            field,
            None,
            format!("length {}, expected at least 2", data.len()),
            "RFC 3046 §2",
            Severity::Error,
        ));
    }
    let mut i = 0;
    while i < data.len() {
        let c = data[i];
        if c == code::PAD || c == code::END {
            devs.push(deviation(
                field,
                Some(i),
                format!("sub-option code {c} (pad/end are not allowed inside option 82)"),
                "RFC 3046 §2",
                Severity::Error,
            ));
        }
        let Some(&len) = data.get(i + 1) else {
            devs.push(deviation(
                field,
                Some(i),
                format!("sub-option {c}: length octet missing"),
                "RFC 3046 §2",
                Severity::Error,
            ));
            break;
        };
        let start = i + 2;
        let end = start + len as usize;
        if end > data.len() {
            devs.push(deviation(
                field,
                Some(i),
                format!(
                    "sub-option {c}: length {len} runs past the end of the option ({} bytes left)",
                    data.len() - start
                ),
                "RFC 3046 §2",
                Severity::Error,
            ));
            subs.push(SubOption {
                code: c,
                data: data[start..].to_vec(),
            });
            break;
        }
        subs.push(SubOption {
            code: c,
            data: data[start..end].to_vec(),
        });
        i = end;
    }
    (subs, devs)
}

/// Encodes sub-options as option 82's data (RFC 3046 §2). Sub-options longer than 255 bytes are
/// cut to 255.
pub fn emit_relay_agent_information(subs: &[SubOption]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in subs {
        let data = &s.data[..s.data.len().min(255)];
        out.push(s.code);
        out.push(data.len() as u8);
        out.extend_from_slice(data);
    }
    out
}

/// Checks the value of each option code against its definition (RFC 2132 and others), on the
/// value concatenated over all instances (RFC 3396 §5).
fn check_options(opts: &Options, devs: &mut Vec<Deviation>) {
    let mut seen: Vec<u8> = Vec::new();
    for o in &opts.0 {
        if !seen.contains(&o.code) {
            seen.push(o.code);
        }
    }
    for &c in &seen {
        let count = opts.count(c);
        let data = opts.get(c).unwrap_or_default();
        let field = format!("option {c}");
        let fixed = |len: usize, rule: &'static str, devs: &mut Vec<Deviation>| {
            if data.len() != len {
                devs.push(deviation(
                    field.clone(),
                    None,
                    format!("length {}, expected {len}", data.len()),
                    rule,
                    Severity::Error,
                ));
            }
        };
        let multiple = |unit: usize, min: usize, rule: &'static str, devs: &mut Vec<Deviation>| {
            if data.len() < min || data.len() % unit != 0 {
                devs.push(deviation(
                    field.clone(),
                    None,
                    format!(
                        "length {}, expected a multiple of {unit}, at least {min}",
                        data.len()
                    ),
                    rule,
                    Severity::Error,
                ));
            }
        };
        let at_least = |min: usize, rule: &'static str, devs: &mut Vec<Deviation>| {
            if data.len() < min {
                devs.push(deviation(
                    field.clone(),
                    None,
                    format!("length {}, expected at least {min}", data.len()),
                    rule,
                    Severity::Error,
                ));
            }
        };
        let text = |rule: &'static str, devs: &mut Vec<Deviation>| {
            if data.is_empty() {
                devs.push(deviation(
                    field.clone(),
                    None,
                    "length 0, expected at least 1",
                    rule,
                    Severity::Error,
                ));
            } else if data.last() == Some(&0) {
                devs.push(deviation(
                    field.clone(),
                    None,
                    "text ends with a NUL",
                    "RFC 2132 §2",
                    Severity::Warning,
                ));
            }
        };
        match c {
            code::SUBNET_MASK => fixed(4, "RFC 2132 §3.3", devs),
            code::TIME_OFFSET => fixed(4, "RFC 2132 §3.4", devs),
            code::ROUTER => multiple(4, 4, "RFC 2132 §3.5", devs),
            code::TIME_SERVER => multiple(4, 4, "RFC 2132 §3.6", devs),
            code::DOMAIN_NAME_SERVER => multiple(4, 4, "RFC 2132 §3.8", devs),
            code::LOG_SERVER => multiple(4, 4, "RFC 2132 §3.9", devs),
            code::HOST_NAME => text("RFC 2132 §3.14", devs),
            code::BOOT_FILE_SIZE => fixed(2, "RFC 2132 §3.15", devs),
            code::DOMAIN_NAME => text("RFC 2132 §3.17", devs),
            code::SWAP_SERVER => fixed(4, "RFC 2132 §3.18", devs),
            code::ROOT_PATH => text("RFC 2132 §3.19", devs),
            code::INTERFACE_MTU => fixed(2, "RFC 2132 §5.1", devs),
            code::BROADCAST_ADDRESS => fixed(4, "RFC 2132 §5.3", devs),
            code::STATIC_ROUTE => multiple(8, 8, "RFC 2132 §5.8", devs),
            code::NTP_SERVERS => multiple(4, 4, "RFC 2132 §8.3", devs),
            code::REQUESTED_IP_ADDRESS => fixed(4, "RFC 2132 §9.1", devs),
            code::IP_ADDRESS_LEASE_TIME => fixed(4, "RFC 2132 §9.2", devs),
            code::OPTION_OVERLOAD => {
                fixed(1, "RFC 2132 §9.3", devs);
                if let Some(&v) = data.first() {
                    if !(1..=3).contains(&v) {
                        devs.push(deviation(
                            field.clone(),
                            None,
                            format!("value {v}, expected 1, 2 or 3"),
                            "RFC 2132 §9.3",
                            Severity::Error,
                        ));
                    }
                }
            }
            code::DHCP_MESSAGE_TYPE => {
                fixed(1, "RFC 2132 §9.6", devs);
                if count > 1 {
                    devs.push(deviation(
                        field.clone(),
                        None,
                        format!("appears {count} times, expected once"),
                        "RFC 2131 §3; RFC 2132 §9.6",
                        Severity::Error,
                    ));
                }
                if let Some(&v) = data.first() {
                    if !(1..=8).contains(&v) {
                        devs.push(deviation(
                            field.clone(),
                            None,
                            format!("unknown message type {v}"),
                            "RFC 2132 §9.6",
                            Severity::Error,
                        ));
                    }
                }
            }
            code::SERVER_IDENTIFIER => fixed(4, "RFC 2132 §9.7", devs),
            code::PARAMETER_REQUEST_LIST => at_least(1, "RFC 2132 §9.8", devs),
            code::MESSAGE => text("RFC 2132 §9.9", devs),
            code::MAXIMUM_DHCP_MESSAGE_SIZE => {
                fixed(2, "RFC 2132 §9.10", devs);
                if data.len() == 2 {
                    let v = u16::from_be_bytes([data[0], data[1]]);
                    if v < 576 {
                        devs.push(deviation(
                            field.clone(),
                            None,
                            format!("value {v}, expected at least 576"),
                            "RFC 2132 §9.10",
                            Severity::Error,
                        ));
                    }
                }
            }
            code::RENEWAL_TIME_VALUE => fixed(4, "RFC 2132 §9.11", devs),
            code::REBINDING_TIME_VALUE => fixed(4, "RFC 2132 §9.12", devs),
            code::VENDOR_CLASS_IDENTIFIER => at_least(1, "RFC 2132 §9.13", devs),
            code::CLIENT_IDENTIFIER => at_least(2, "RFC 2132 §9.14", devs),
            code::TFTP_SERVER_NAME => text("RFC 2132 §9.4", devs),
            code::BOOTFILE_NAME => text("RFC 2132 §9.5", devs),
            code::RELAY_AGENT_INFORMATION => {
                let (_, sub_devs) = parse_relay_agent_information(&data);
                devs.extend(sub_devs);
            }
            code::CLIENT_SYSTEM_ARCHITECTURE => multiple(2, 2, "RFC 4578 §2.1", devs),
            code::CLIENT_NETWORK_INTERFACE_ID => {
                fixed(3, "RFC 4578 §2.2", devs);
                if let Some(&t) = data.first() {
                    if t != 1 {
                        devs.push(deviation(
                            field.clone(),
                            None,
                            format!("interface type {t}, expected 1 (UNDI)"),
                            "RFC 4578 §2.2",
                            Severity::Error,
                        ));
                    }
                }
            }
            code::CLIENT_MACHINE_ID => {
                fixed(17, "RFC 4578 §2.3", devs);
                if let Some(&t) = data.first() {
                    if t != 0 {
                        devs.push(deviation(
                            field.clone(),
                            None,
                            format!("type {t}, expected 0 (GUID)"),
                            "RFC 4578 §2.3",
                            Severity::Error,
                        ));
                    }
                }
            }
            _ => {}
        }
        if count > 1 && c != code::DHCP_MESSAGE_TYPE {
            devs.push(deviation(
                field,
                None,
                format!("split over {count} instances, concatenated"),
                "RFC 3396 §5",
                Severity::Warning,
            ));
        }
    }
}

/// Options decoded from `file`/`sname` under overload, in RFC 2131 §4.1 order (file, then sname),
/// each with the area it came from. Returns nothing without a valid option 52.
fn overloaded_options(
    overload: Option<u8>,
    file: &[u8; 128],
    sname: &[u8; 64],
    devs: &mut Vec<Deviation>,
) -> Vec<(Area, DhcpOption)> {
    let mut out = Vec::new();
    let Some(v) = overload.filter(|v| (1..=3).contains(v)) else {
        return out;
    };
    let areas: [(u8, Area, &[u8], usize); 2] = [
        (1, Area::File, &file[..], field::FILE.start),
        (2, Area::Sname, &sname[..], field::SNAME.start),
    ];
    for (bit, area, bytes, base) in areas {
        if v & bit == 0 {
            continue;
        }
        for o in walk_area(bytes, base, area, devs) {
            if o.code == code::OPTION_OVERLOAD {
                devs.push(deviation(
                    "option 52",
                    None,
                    format!(
                        "found inside {}, allowed only in the options field",
                        area.name()
                    ),
                    "RFC 2132 §9.3",
                    Severity::Error,
                ));
            }
            out.push((area, o));
        }
    }
    out
}

/// Deliberate malformations for the lab's fault scenarios, applied by [`Message::emit_with`].
/// The default is a correct message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Write these 4 bytes instead of the magic cookie.
    pub cookie: Option<[u8; 4]>,
    /// Leave out the end option.
    pub omit_end: bool,
    /// `(code, len)`: write `len` as the length octet of the first instance of `code`, whatever
    /// the data's true length (the data is written in full).
    pub lengths: Vec<(u8, u8)>,
    /// Bytes written right after the end option (before padding).
    pub after_end: Vec<u8>,
    /// Do not pad the message to 300 bytes.
    pub no_padding: bool,
    /// Cut the finished message to this many bytes (e.g. 299 for a short message).
    pub truncate: Option<usize>,
}

impl Message {
    /// A BOOTREQUEST from an Ethernet client (`htype` 1, `hlen` 6) with the magic cookie and no
    /// options yet (RFC 951 §3, RFC 1542 §3.5).
    pub fn new_request(xid: u32, mac: [u8; 6]) -> Message {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&mac);
        Message {
            op: Op::BootRequest,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            sname: [0; 64],
            file: [0; 128],
            vend: Vendor::Options(Options::default()),
        }
    }

    /// A DHCP message of type `t` (option 53 first), with the `op` the type implies (RFC 2131 §3).
    pub fn new_dhcp(t: MessageType, xid: u32, mac: [u8; 6]) -> Message {
        let mut m = Message::new_request(xid, mac);
        m.op = t.op();
        m.vend = Vendor::Options(Options(vec![DhcpOption {
            code: code::DHCP_MESSAGE_TYPE,
            data: vec![t.into()],
        }]));
        m
    }

    /// A BOOTREPLY answering `request`: same htype, hlen, xid, flags, giaddr and chaddr (RFC 951
    /// §3, RFC 2131 §4.3.1 Table 3); the vendor area follows the request's format (RFC 1542 §3.5):
    /// empty options after the cookie, or 64 zero bytes when the request had no cookie.
    pub fn new_reply(request: &Message) -> Message {
        Message {
            op: Op::BootReply,
            htype: request.htype,
            hlen: request.hlen,
            hops: 0,
            xid: request.xid,
            secs: 0,
            flags: request.flags,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: request.giaddr,
            chaddr: request.chaddr,
            sname: [0; 64],
            file: [0; 128],
            vend: match request.vend {
                Vendor::Options(_) => Vendor::Options(Options::default()),
                Vendor::Raw(_) => Vendor::Raw(vec![0; MIN_MESSAGE_LEN - HEADER_LEN]),
            },
        }
    }

    /// Decodes a message leniently: everything decodable plus the deviations found.
    /// Fails only below the 236-byte fixed header (RFC 951 §3). Options overloaded into `file`
    /// and `sname` (option 52) are appended to the options in RFC 2131 §4.1 order; the fields
    /// keep their raw bytes too.
    pub fn parse(bytes: &[u8]) -> Result<(Message, Vec<crate::Deviation>), Error> {
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated { len: bytes.len() });
        }
        let mut devs = Vec::new();
        if bytes.len() < MIN_MESSAGE_LEN {
            devs.push(deviation(
                "message",
                None,
                format!("message shorter than 300 bytes ({} bytes)", bytes.len()),
                "RFC 951 §3; RFC 1542 §2.1",
                Severity::Error,
            ));
        }
        let ip = |r: std::ops::Range<usize>| {
            Ipv4Addr::new(
                bytes[r.start],
                bytes[r.start + 1],
                bytes[r.start + 2],
                bytes[r.start + 3],
            )
        };
        let mut chaddr = [0u8; 16];
        chaddr.copy_from_slice(&bytes[field::CHADDR]);
        let mut sname = [0u8; 64];
        sname.copy_from_slice(&bytes[field::SNAME]);
        let mut file = [0u8; 128];
        file.copy_from_slice(&bytes[field::FILE]);
        let op = Op::from(bytes[field::OP]);
        if let Op::Unknown(v) = op {
            devs.push(deviation(
                "op",
                Some(field::OP),
                format!("unknown op {v}, expected 1 or 2"),
                "RFC 951 §3",
                Severity::Error,
            ));
        }
        let htype = bytes[field::HTYPE];
        let hlen = bytes[field::HLEN];
        if hlen > 16 {
            devs.push(deviation(
                "hlen",
                Some(field::HLEN),
                format!("hlen {hlen} exceeds the 16-byte chaddr"),
                "RFC 951 §3",
                Severity::Error,
            ));
        } else if htype == 1 && hlen != 6 {
            devs.push(deviation(
                "hlen",
                Some(field::HLEN),
                format!("hlen {hlen} for Ethernet (htype 1), expected 6"),
                "RFC 951 §3; RFC 1700",
                Severity::Warning,
            ));
        }
        let flags = u16::from_be_bytes([bytes[field::FLAGS.start], bytes[field::FLAGS.start + 1]]);
        if flags & !FLAG_BROADCAST != 0 {
            devs.push(deviation(
                "flags",
                Some(field::FLAGS.start),
                format!(
                    "reserved flag bits 0x{:04x} set, must be zero",
                    flags & !FLAG_BROADCAST
                ),
                "RFC 1542 §3.1.1; RFC 2131 §2",
                Severity::Error,
            ));
        }
        let vend_bytes = &bytes[field::VEND..];
        let vend = if vend_bytes.len() >= 4 && vend_bytes[..4] == MAGIC_COOKIE {
            let mut opts = Options(walk_area(
                &vend_bytes[4..],
                field::OPTIONS,
                Area::Options,
                &mut devs,
            ));
            let overload = opts
                .get(code::OPTION_OVERLOAD)
                .and_then(|d| d.first().copied());
            for (_, o) in overloaded_options(overload, &file, &sname, &mut devs) {
                opts.0.push(o);
            }
            check_options(&opts, &mut devs);
            Vendor::Options(opts)
        } else {
            let found = if vend_bytes.len() >= 4 {
                format!("vend starts {}", crate::text::hex(&vend_bytes[..4]))
            } else {
                format!("vend is {} bytes", vend_bytes.len())
            };
            devs.push(deviation(
                "vend",
                Some(field::VEND),
                format!("no magic cookie 99.130.83.99 ({found})"),
                "RFC 1542 §3.5; RFC 2132 §2",
                Severity::Warning,
            ));
            Vendor::Raw(vend_bytes.to_vec())
        };
        let m = Message {
            op,
            htype,
            hlen,
            hops: bytes[field::HOPS],
            xid: u32::from_be_bytes([
                bytes[field::XID.start],
                bytes[field::XID.start + 1],
                bytes[field::XID.start + 2],
                bytes[field::XID.start + 3],
            ]),
            secs: u16::from_be_bytes([bytes[field::SECS.start], bytes[field::SECS.start + 1]]),
            flags,
            ciaddr: ip(field::CIADDR),
            yiaddr: ip(field::YIADDR),
            siaddr: ip(field::SIADDR),
            giaddr: ip(field::GIADDR),
            chaddr,
            sname,
            file,
            vend,
        };
        Ok((m, devs))
    }

    /// Encodes the message: options followed by end, padded to [`MIN_MESSAGE_LEN`]. Options
    /// longer than 255 bytes are split into several instances (RFC 3396 §5). Under overload
    /// (option 52), `sname`/`file` are written as they are and the options decoded from them are
    /// not written again in the options field.
    pub fn emit(&self) -> Vec<u8> {
        self.emit_with(&Faults::default())
    }

    /// Like [`Message::emit`], with deliberate malformations for fault scenarios.
    pub fn emit_with(&self, faults: &Faults) -> Vec<u8> {
        let mut out = Vec::with_capacity(MIN_MESSAGE_LEN);
        out.push(self.op.into());
        out.push(self.htype);
        out.push(self.hlen);
        out.push(self.hops);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&a.octets());
        }
        out.extend_from_slice(&self.chaddr);
        out.extend_from_slice(&self.sname);
        out.extend_from_slice(&self.file);
        match &self.vend {
            Vendor::Raw(raw) => out.extend_from_slice(raw),
            Vendor::Options(opts) => {
                out.extend_from_slice(&faults.cookie.unwrap_or(MAGIC_COOKIE));
                let mut overridden: Vec<u8> = Vec::new();
                for o in self.main_area_options(opts) {
                    let over = faults
                        .lengths
                        .iter()
                        .find(|(c, _)| *c == o.code && !overridden.contains(c))
                        .map(|&(_, l)| l);
                    if let Some(l) = over {
                        overridden.push(o.code);
                        out.push(o.code);
                        out.push(l);
                        out.extend_from_slice(&o.data);
                        continue;
                    }
                    if o.data.is_empty() {
                        out.extend_from_slice(&[o.code, 0]);
                    }
                    for chunk in o.data.chunks(255) {
                        out.push(o.code);
                        out.push(chunk.len() as u8);
                        out.extend_from_slice(chunk);
                    }
                }
                if !faults.omit_end {
                    out.push(code::END);
                }
                out.extend_from_slice(&faults.after_end);
            }
        }
        if !faults.no_padding && out.len() < MIN_MESSAGE_LEN {
            out.resize(MIN_MESSAGE_LEN, 0);
        }
        if let Some(n) = faults.truncate {
            out.truncate(n);
        }
        out
    }

    /// The options that belong in the options field: all of them, less the trailing ones that
    /// `file`/`sname` already hold under overload.
    fn main_area_options<'a>(&self, opts: &'a Options) -> &'a [DhcpOption] {
        let n = opts.0.len() - self.spilled(opts).len();
        &opts.0[..n]
    }

    /// The areas of the trailing options that `file`/`sname` hold under overload, in order;
    /// empty when the options do not end with exactly what those fields decode to.
    fn spilled(&self, opts: &Options) -> Vec<Area> {
        let mut scratch = Vec::new();
        let spilled = overloaded_options(opts.overload(), &self.file, &self.sname, &mut scratch);
        let n = opts.0.len();
        let k = spilled.len();
        if k > 0 && k <= n && opts.0[n - k..].iter().eq(spilled.iter().map(|(_, o)| o)) {
            spilled.into_iter().map(|(a, _)| a).collect()
        } else {
            Vec::new()
        }
    }

    /// Each option with the area it came from: the options field, or `file`/`sname` under
    /// overload (RFC 2131 §4.1 order). Empty for a vendor area without cookie.
    pub fn options_with_area(&self) -> Vec<(Area, &DhcpOption)> {
        let Some(opts) = self.options() else {
            return Vec::new();
        };
        let spilled = self.spilled(opts);
        let main = opts.0.len() - spilled.len();
        opts.0
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let area = if i < main {
                    Area::Options
                } else {
                    spilled[i - main]
                };
                (area, o)
            })
            .collect()
    }

    /// The DHCP message type (option 53), or `None` for plain BOOTP.
    pub fn message_type(&self) -> Option<MessageType> {
        self.options()?.message_type()
    }

    /// The options, or `None` when the vendor area has no magic cookie.
    pub fn options(&self) -> Option<&Options> {
        match &self.vend {
            Vendor::Options(o) => Some(o),
            Vendor::Raw(_) => None,
        }
    }

    /// The options for editing; a vendor area without cookie is replaced by empty options.
    pub fn options_mut(&mut self) -> &mut Options {
        if let Vendor::Raw(_) = self.vend {
            self.vend = Vendor::Options(Options::default());
        }
        match &mut self.vend {
            Vendor::Options(o) => o,
            Vendor::Raw(_) => unreachable!("replaced just above"),
        }
    }

    /// The client hardware address as 6 Ethernet bytes (the first `hlen` bytes of `chaddr`).
    pub fn chaddr_mac(&self) -> [u8; 6] {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.chaddr[..6]);
        m
    }

    /// Whether the broadcast flag is set (RFC 1542 §3.1.1).
    pub fn broadcast(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }

    /// `sname` as text, up to the first NUL (RFC 951 §3).
    pub fn sname_str(&self) -> String {
        crate::text::nul_terminated(&self.sname)
    }

    /// `file` as text, up to the first NUL (RFC 951 §3).
    pub fn file_str(&self) -> String {
        crate::text::nul_terminated(&self.file)
    }

    /// Whether option 52 says the field `bit` (1 `file`, 2 `sname`) carries options (RFC 2132
    /// §9.3).
    pub fn overloaded(&self, bit: u8) -> bool {
        self.options()
            .and_then(|o| o.overload())
            .is_some_and(|v| v & bit != 0)
    }

    /// The server host name in `sname`, or empty when option 52 says `sname` holds options
    /// (RFC 2131 §4.1: it is then no name at all).
    pub fn server_name(&self) -> String {
        if self.overloaded(2) {
            String::new()
        } else {
            self.sname_str()
        }
    }

    /// The boot file name in `file`, or empty when option 52 says `file` holds options (RFC 2131
    /// §4.1).
    pub fn boot_file_name(&self) -> String {
        if self.overloaded(1) {
            String::new()
        } else {
            self.file_str()
        }
    }

    /// Sets `sname`, NUL-padded; text longer than 63 bytes is cut to keep a terminating NUL.
    pub fn set_sname(&mut self, name: &str) {
        self.sname = [0; 64];
        let b = name.as_bytes();
        let n = b.len().min(63);
        self.sname[..n].copy_from_slice(&b[..n]);
    }

    /// Sets `file`, NUL-padded; text longer than 127 bytes is cut to keep a terminating NUL.
    pub fn set_file(&mut self, name: &str) {
        self.file = [0; 128];
        let b = name.as_bytes();
        let n = b.len().min(127);
        self.file[..n].copy_from_slice(&b[..n]);
    }
}

fn ipv4_of(d: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(d).ok().map(Ipv4Addr::from)
}

impl Options {
    /// The data of option `code`, with every instance concatenated (RFC 3396 §5).
    pub fn get(&self, code: u8) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for o in self.0.iter().filter(|o| o.code == code) {
            out.get_or_insert_with(Vec::new).extend_from_slice(&o.data);
        }
        out
    }

    /// How many instances of `code` there are.
    pub fn count(&self, code: u8) -> usize {
        self.0.iter().filter(|o| o.code == code).count()
    }

    /// Whether option `code` is present.
    pub fn contains(&self, code: u8) -> bool {
        self.0.iter().any(|o| o.code == code)
    }

    /// The option codes in wire order, duplicates kept.
    pub fn codes(&self) -> Vec<u8> {
        self.0.iter().map(|o| o.code).collect()
    }

    /// Appends an option (after any existing instance of the same code).
    pub fn push(&mut self, code: u8, data: impl Into<Vec<u8>>) {
        self.0.push(DhcpOption {
            code,
            data: data.into(),
        });
    }

    /// Builder form of [`Options::push`].
    pub fn with(mut self, code: u8, data: impl Into<Vec<u8>>) -> Options {
        self.push(code, data);
        self
    }

    /// Replaces every instance of `code` by one carrying `data`, at the first instance's place,
    /// or appends it when absent.
    pub fn set(&mut self, code: u8, data: impl Into<Vec<u8>>) {
        let data = data.into();
        match self.0.iter().position(|o| o.code == code) {
            Some(i) => {
                self.0[i].data = data;
                let mut k = 0;
                self.0.retain(|o| {
                    k += 1;
                    o.code != code || k - 1 == i
                });
            }
            None => self.push(code, data),
        }
    }

    /// Removes every instance of `code`; returns whether there was one.
    pub fn remove(&mut self, code: u8) -> bool {
        let before = self.0.len();
        self.0.retain(|o| o.code != code);
        self.0.len() != before
    }

    /// The IPv4 address held by a 4-byte option, `None` if absent or of another length.
    pub fn ip(&self, code: u8) -> Option<Ipv4Addr> {
        ipv4_of(&self.get(code)?)
    }

    /// The list of IPv4 addresses held by an option such as 3 or 6 (RFC 2132 §3.5, §3.8).
    pub fn ips(&self, code: u8) -> Option<Vec<Ipv4Addr>> {
        let d = self.get(code)?;
        if d.len() % 4 != 0 {
            return None;
        }
        Some(d.chunks_exact(4).filter_map(ipv4_of).collect())
    }

    /// The value of a 4-byte integer option, `None` if absent or of another length.
    pub fn u32(&self, code: u8) -> Option<u32> {
        <[u8; 4]>::try_from(self.get(code)?.as_slice())
            .ok()
            .map(u32::from_be_bytes)
    }

    /// The value of a 2-byte integer option, `None` if absent or of another length.
    pub fn u16(&self, code: u8) -> Option<u16> {
        <[u8; 2]>::try_from(self.get(code)?.as_slice())
            .ok()
            .map(u16::from_be_bytes)
    }

    /// A text option (RFC 2132 §2 NVT ASCII), one trailing NUL stripped.
    pub fn text(&self, code: u8) -> Option<String> {
        let mut d = self.get(code)?;
        if d.last() == Some(&0) {
            d.pop();
        }
        Some(String::from_utf8_lossy(&d).into_owned())
    }

    /// The DHCP message type, option 53 (RFC 2132 §9.6): the first data byte.
    pub fn message_type(&self) -> Option<MessageType> {
        self.get(code::DHCP_MESSAGE_TYPE)?
            .first()
            .map(|&v| MessageType::from(v))
    }

    /// Requested IP address, option 50 (RFC 2132 §9.1).
    pub fn requested_ip_address(&self) -> Option<Ipv4Addr> {
        self.ip(code::REQUESTED_IP_ADDRESS)
    }

    /// IP address lease time in seconds, option 51 (RFC 2132 §9.2).
    pub fn lease_time(&self) -> Option<u32> {
        self.u32(code::IP_ADDRESS_LEASE_TIME)
    }

    /// Option overload value, option 52 (RFC 2132 §9.3): 1 file, 2 sname, 3 both.
    pub fn overload(&self) -> Option<u8> {
        self.get(code::OPTION_OVERLOAD)?.first().copied()
    }

    /// Server identifier, option 54 (RFC 2132 §9.7).
    pub fn server_identifier(&self) -> Option<Ipv4Addr> {
        self.ip(code::SERVER_IDENTIFIER)
    }

    /// Parameter request list, option 55 (RFC 2132 §9.8).
    pub fn parameter_request_list(&self) -> Option<Vec<u8>> {
        self.get(code::PARAMETER_REQUEST_LIST)
    }

    /// Maximum DHCP message size, option 57 (RFC 2132 §9.10).
    pub fn maximum_message_size(&self) -> Option<u16> {
        self.u16(code::MAXIMUM_DHCP_MESSAGE_SIZE)
    }

    /// Renewal (T1) time in seconds, option 58 (RFC 2132 §9.11).
    pub fn renewal_time(&self) -> Option<u32> {
        self.u32(code::RENEWAL_TIME_VALUE)
    }

    /// Rebinding (T2) time in seconds, option 59 (RFC 2132 §9.12).
    pub fn rebinding_time(&self) -> Option<u32> {
        self.u32(code::REBINDING_TIME_VALUE)
    }

    /// Client identifier, option 61 (RFC 2132 §9.14): type byte then identifier.
    pub fn client_identifier(&self) -> Option<Vec<u8>> {
        self.get(code::CLIENT_IDENTIFIER)
    }

    /// Relay agent information sub-options, option 82 (RFC 3046 §2).
    pub fn relay_agent_information(&self) -> Option<Vec<SubOption>> {
        self.get(code::RELAY_AGENT_INFORMATION)
            .map(|d| parse_relay_agent_information(&d).0)
    }

    /// Client system architecture types, option 93 (RFC 4578 §2.1).
    pub fn client_system_architecture(&self) -> Option<Vec<u16>> {
        let d = self.get(code::CLIENT_SYSTEM_ARCHITECTURE)?;
        Some(
            d.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect(),
        )
    }

    /// Sets option 53 (RFC 2132 §9.6).
    pub fn set_message_type(&mut self, t: MessageType) {
        self.set(code::DHCP_MESSAGE_TYPE, [u8::from(t)]);
    }

    /// Sets a 4-byte address option such as 50 or 54.
    pub fn set_ip(&mut self, code: u8, addr: Ipv4Addr) {
        self.set(code, addr.octets());
    }

    /// Sets a 4-byte integer option such as 51, 58 or 59.
    pub fn set_u32(&mut self, code: u8, v: u32) {
        self.set(code, v.to_be_bytes());
    }

    /// Sets a 2-byte integer option such as 57.
    pub fn set_u16(&mut self, code: u8, v: u16) {
        self.set(code, v.to_be_bytes());
    }
}

/// A typed view of an option's value for the JSON output, `None` when the code is unknown or
/// the data does not fit the definition.
fn option_value(c: u8, data: &[u8]) -> Option<serde_json::Value> {
    use serde_json::{json, Value};
    let ips = |d: &[u8]| -> Option<Value> {
        (!d.is_empty() && d.len() % 4 == 0).then(|| {
            Value::from(
                d.chunks_exact(4)
                    .filter_map(ipv4_of)
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>(),
            )
        })
    };
    let one_ip = |d: &[u8]| ipv4_of(d).map(|a| Value::from(a.to_string()));
    let u32v = |d: &[u8]| {
        <[u8; 4]>::try_from(d)
            .ok()
            .map(|b| Value::from(u32::from_be_bytes(b)))
    };
    let u16v = |d: &[u8]| {
        <[u8; 2]>::try_from(d)
            .ok()
            .map(|b| Value::from(u16::from_be_bytes(b)))
    };
    let text = |d: &[u8]| Some(Value::from(String::from_utf8_lossy(d).into_owned()));
    match c {
        code::SUBNET_MASK | code::BROADCAST_ADDRESS | code::SWAP_SERVER => one_ip(data),
        code::REQUESTED_IP_ADDRESS | code::SERVER_IDENTIFIER => one_ip(data),
        code::ROUTER | code::TIME_SERVER | code::DOMAIN_NAME_SERVER | code::LOG_SERVER => ips(data),
        code::NTP_SERVERS => ips(data),
        code::TIME_OFFSET => <[u8; 4]>::try_from(data)
            .ok()
            .map(|b| Value::from(i32::from_be_bytes(b))),
        code::IP_ADDRESS_LEASE_TIME | code::RENEWAL_TIME_VALUE | code::REBINDING_TIME_VALUE => {
            u32v(data)
        }
        code::BOOT_FILE_SIZE | code::INTERFACE_MTU | code::MAXIMUM_DHCP_MESSAGE_SIZE => u16v(data),
        code::HOST_NAME | code::DOMAIN_NAME | code::ROOT_PATH | code::MESSAGE => text(data),
        code::VENDOR_CLASS_IDENTIFIER | code::TFTP_SERVER_NAME | code::BOOTFILE_NAME => text(data),
        code::OPTION_OVERLOAD => (data.len() == 1).then(|| Value::from(data[0])),
        code::DHCP_MESSAGE_TYPE => (data.len() == 1)
            .then(|| json!({"type": data[0], "name": MessageType::from(data[0]).to_string()})),
        code::PARAMETER_REQUEST_LIST => Some(Value::from(data.to_vec())),
        code::CLIENT_IDENTIFIER => {
            (data.len() >= 2).then(|| json!({"type": data[0], "id": crate::text::hex(&data[1..])}))
        }
        code::RELAY_AGENT_INFORMATION => {
            let (subs, _) = parse_relay_agent_information(data);
            Some(Value::from(
                subs.iter()
                    .map(|s| json!({"code": s.code, "data": crate::text::hex(&s.data)}))
                    .collect::<Vec<_>>(),
            ))
        }
        code::CLIENT_SYSTEM_ARCHITECTURE => (data.len() % 2 == 0).then(|| {
            Value::from(
                data.chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect::<Vec<_>>(),
            )
        }),
        code::CLIENT_NETWORK_INTERFACE_ID => {
            (data.len() == 3).then(|| json!({"type": data[0], "major": data[1], "minor": data[2]}))
        }
        code::CLIENT_MACHINE_ID => (data.len() == 17)
            .then(|| json!({"type": data[0], "guid": crate::text::hex(&data[1..])})),
        _ => None,
    }
}

/// An option with its area, for the JSON view of a message.
struct OptionView<'a> {
    area: Area,
    option: &'a DhcpOption,
}

impl Serialize for OptionView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let o = self.option;
        let mut st = s.serialize_struct("DhcpOption", 6)?;
        st.serialize_field("code", &o.code)?;
        st.serialize_field("name", &option_name(o.code))?;
        st.serialize_field("area", &self.area)?;
        st.serialize_field("length", &o.data.len())?;
        st.serialize_field("data", &crate::text::hex(&o.data))?;
        st.serialize_field("value", &option_value(o.code, &o.data))?;
        st.end()
    }
}

impl Serialize for DhcpOption {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("DhcpOption", 5)?;
        st.serialize_field("code", &self.code)?;
        st.serialize_field("name", &option_name(self.code))?;
        st.serialize_field("length", &self.data.len())?;
        st.serialize_field("data", &crate::text::hex(&self.data))?;
        st.serialize_field("value", &option_value(self.code, &self.data))?;
        st.end()
    }
}

impl Serialize for Options {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Serialize for Message {
    /// Every field, addresses as dotted quads, `chaddr` as colon hex of `hlen` bytes (all 16
    /// in `chaddr_raw`), `sname`/`file` as text up to the first NUL (null when overloaded with
    /// options), options with typed values.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Message", 19)?;
        st.serialize_field("op", &u8::from(self.op))?;
        st.serialize_field("op_name", &self.op.to_string())?;
        st.serialize_field("htype", &self.htype)?;
        st.serialize_field("hlen", &self.hlen)?;
        st.serialize_field("hops", &self.hops)?;
        st.serialize_field("xid", &self.xid)?;
        st.serialize_field("secs", &self.secs)?;
        st.serialize_field("flags", &self.flags)?;
        st.serialize_field("broadcast", &self.broadcast())?;
        st.serialize_field("ciaddr", &self.ciaddr.to_string())?;
        st.serialize_field("yiaddr", &self.yiaddr.to_string())?;
        st.serialize_field("siaddr", &self.siaddr.to_string())?;
        st.serialize_field("giaddr", &self.giaddr.to_string())?;
        let hl = (self.hlen as usize).min(16);
        st.serialize_field("chaddr", &crate::text::colon_hex(&self.chaddr[..hl]))?;
        st.serialize_field("chaddr_raw", &crate::text::hex(&self.chaddr))?;
        // Under overload (option 52) the fields hold options, listed with the others.
        let sname = (!self.overloaded(2)).then(|| self.sname_str());
        let file = (!self.overloaded(1)).then(|| self.file_str());
        st.serialize_field("sname", &sname)?;
        st.serialize_field("file", &file)?;
        st.serialize_field("message_type", &self.message_type().map(|t| t.to_string()))?;
        match &self.vend {
            Vendor::Options(_) => {
                st.serialize_field("cookie", &true)?;
                let with_area: Vec<OptionView<'_>> = self
                    .options_with_area()
                    .into_iter()
                    .map(|(area, option)| OptionView { area, option })
                    .collect();
                st.serialize_field("options", &with_area)?;
            }
            Vendor::Raw(r) => {
                st.serialize_field("cookie", &false)?;
                st.serialize_field("vend", &crate::text::hex(r))?;
            }
        }
        st.end()
    }
}

impl fmt::Display for Message {
    /// One line: type, xid, the non-zero addresses, chaddr, `sname`/`file` when set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message_type() {
            Some(t) => write!(f, "{t}")?,
            None => write!(f, "{}", self.op)?,
        }
        write!(f, " xid=0x{:08x}", self.xid)?;
        if self.secs != 0 {
            write!(f, " secs={}", self.secs)?;
        }
        if self.broadcast() {
            f.write_str(" B")?;
        }
        if self.hops != 0 {
            write!(f, " hops={}", self.hops)?;
        }
        for (name, a) in [
            ("ciaddr", self.ciaddr),
            ("yiaddr", self.yiaddr),
            ("siaddr", self.siaddr),
            ("giaddr", self.giaddr),
        ] {
            if !a.is_unspecified() {
                write!(f, " {name}={a}")?;
            }
        }
        let hl = (self.hlen as usize).min(16);
        write!(f, " chaddr={}", crate::text::colon_hex(&self.chaddr[..hl]))?;
        let overload = self.options().and_then(|o| o.overload()).unwrap_or(0);
        if overload & 2 == 0 && self.sname[0] != 0 {
            write!(f, " sname={:?}", self.sname_str())?;
        }
        if overload & 1 == 0 && self.file[0] != 0 {
            write!(f, " file={:?}", self.file_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

    fn fields(devs: &[Deviation]) -> Vec<String> {
        devs.iter().map(|d| d.to_string()).collect()
    }

    fn roundtrip(m: &Message) -> Message {
        let bytes = m.emit();
        let (back, devs) = Message::parse(&bytes).expect("parse");
        assert!(devs.is_empty(), "{:?}", fields(&devs));
        assert_eq!(back.emit(), bytes);
        back
    }

    #[test]
    fn every_message_type_round_trips() {
        for t in 1..=8u8 {
            let t = MessageType::from(t);
            let mut m = Message::new_dhcp(t, 0x1234_5678, MAC);
            let o = m.options_mut();
            o.set_ip(code::SERVER_IDENTIFIER, Ipv4Addr::new(192, 0, 2, 1));
            o.set_u32(code::IP_ADDRESS_LEASE_TIME, 3600);
            o.push(code::PARAMETER_REQUEST_LIST, vec![1, 3, 6]);
            let back = roundtrip(&m);
            assert_eq!(back, m);
            assert_eq!(back.message_type(), Some(t));
            assert_eq!(back.op, t.op());
        }
    }

    #[test]
    fn plain_bootp_request_and_reply_round_trip() {
        let mut req = Message::new_request(7, MAC);
        req.vend = Vendor::Options(Options::default());
        let back = roundtrip(&req);
        assert_eq!(back.message_type(), None);
        let mut reply = Message::new_reply(&req);
        reply.yiaddr = Ipv4Addr::new(192, 0, 2, 10);
        reply.siaddr = Ipv4Addr::new(192, 0, 2, 1);
        reply.set_file("boot/rom.img");
        let back = roundtrip(&reply);
        assert_eq!(back.file_str(), "boot/rom.img");
        assert_eq!(back.emit().len(), MIN_MESSAGE_LEN);
    }

    #[test]
    fn known_bytes_are_taken_apart() {
        let mut b = vec![0u8; 300];
        b[0] = 1;
        b[1] = 1;
        b[2] = 6;
        b[4..8].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        b[10] = 0x80;
        b[28..34].copy_from_slice(&MAC);
        b[236..240].copy_from_slice(&MAGIC_COOKIE);
        b[240..244].copy_from_slice(&[53, 1, 1, 255]);
        let (m, devs) = Message::parse(&b).expect("parse");
        assert!(devs.is_empty(), "{:?}", fields(&devs));
        assert_eq!(m.xid, 0xdead_beef);
        assert!(m.broadcast());
        assert_eq!(m.chaddr_mac(), MAC);
        assert_eq!(m.message_type(), Some(MessageType::Discover));
        assert_eq!(m.emit(), b);
        assert_eq!(
            m.to_string(),
            "DHCPDISCOVER xid=0xdeadbeef B chaddr=02:00:00:00:00:01"
        );
    }

    #[test]
    fn unknown_options_keep_order_duplicates_and_bytes() {
        let mut m = Message::new_dhcp(MessageType::Request, 1, MAC);
        let o = m.options_mut();
        o.push(200, vec![9, 9]);
        o.push(3, vec![192, 0, 2, 1]);
        o.push(200, vec![]);
        o.push(3, vec![192, 0, 2, 2]);
        let bytes = m.emit();
        let (back, devs) = Message::parse(&bytes).expect("parse");
        assert_eq!(back, m);
        assert_eq!(back.emit(), bytes);
        assert_eq!(
            back.options().map(|o| o.codes()),
            Some(vec![53, 200, 3, 200, 3])
        );
        assert_eq!(
            back.options().and_then(|o| o.ips(code::ROUTER)),
            Some(vec![
                Ipv4Addr::new(192, 0, 2, 1),
                Ipv4Addr::new(192, 0, 2, 2)
            ])
        );
        let d = fields(&devs);
        assert!(
            d.contains(&"option 3: split over 2 instances, concatenated (RFC 3396 §5)".into()),
            "{d:?}"
        );
    }

    #[test]
    fn long_option_is_split_and_concatenated() {
        let mut m = Message::new_dhcp(MessageType::Ack, 1, MAC);
        m.options_mut()
            .push(code::VENDOR_SPECIFIC_INFORMATION, vec![7u8; 600]);
        let bytes = m.emit();
        let (back, _) = Message::parse(&bytes).expect("parse");
        let o = back.options().expect("options");
        assert_eq!(o.count(43), 3);
        assert_eq!(o.get(43), Some(vec![7u8; 600]));
    }

    #[test]
    fn bad_option_53_length_is_reported() {
        let mut m = Message::new_dhcp(MessageType::Discover, 1, MAC);
        m.options_mut().set(code::DHCP_MESSAGE_TYPE, vec![1, 0]);
        let (_, devs) = Message::parse(&m.emit()).expect("parse");
        assert_eq!(
            fields(&devs),
            vec!["option 53: length 2, expected 1 (RFC 2132 §9.6)"]
        );
    }

    #[test]
    fn faults_make_the_promised_deviations() {
        let m = Message::new_dhcp(MessageType::Discover, 1, MAC);
        let no_end = Faults {
            omit_end: true,
            ..Faults::default()
        };
        let (_, devs) = Message::parse(&m.emit_with(&no_end)).expect("parse");
        assert_eq!(
            fields(&devs),
            vec!["options: no end option (RFC 2131 §4.1; RFC 2132 §3.2)"]
        );
        let short = Faults {
            truncate: Some(299),
            ..Faults::default()
        };
        let (_, devs) = Message::parse(&m.emit_with(&short)).expect("parse");
        assert_eq!(
            fields(&devs),
            vec!["message: message shorter than 300 bytes (299 bytes) (RFC 951 §3; RFC 1542 §2.1)"]
        );
        let cookie = Faults {
            cookie: Some([1, 2, 3, 4]),
            ..Faults::default()
        };
        let (back, devs) = Message::parse(&m.emit_with(&cookie)).expect("parse");
        assert!(back.options().is_none());
        assert_eq!(devs.len(), 1);
        assert!(devs[0].message.contains("01020304"));
        let lie = Faults {
            lengths: vec![(53, 200)],
            ..Faults::default()
        };
        let (_, devs) = Message::parse(&m.emit_with(&lie)).expect("parse");
        assert!(fields(&devs)[0].starts_with("option 53: length 200 runs past the end of options"));
        assert_eq!(
            Message::parse(&m.emit()[..235]),
            Err(Error::Truncated { len: 235 })
        );
    }

    #[test]
    fn overload_into_file_and_sname_is_decoded_and_re_emitted() {
        let mut m = Message::new_dhcp(MessageType::Offer, 1, MAC);
        m.options_mut().push(code::OPTION_OVERLOAD, vec![3]);
        // file: host name, end; sname: domain name, end.
        m.file[..7].copy_from_slice(&[12, 4, b'r', b'o', b'm', b'1', 255]);
        m.sname[..8].copy_from_slice(&[15, 5, b'l', b'a', b'b', b'.', b'x', 255]);
        let bytes = m.emit();
        let (back, devs) = Message::parse(&bytes).expect("parse");
        assert!(devs.is_empty(), "{:?}", fields(&devs));
        let o = back.options().expect("options");
        assert_eq!(o.codes(), vec![53, 52, 12, 15]);
        assert_eq!(o.text(code::HOST_NAME).as_deref(), Some("rom1"));
        assert_eq!(
            back.emit(),
            bytes,
            "overloaded options are not written twice"
        );
        let areas: Vec<Area> = back.options_with_area().iter().map(|(a, _)| *a).collect();
        assert_eq!(
            areas,
            vec![Area::Options, Area::Options, Area::File, Area::Sname]
        );
        let json = serde_json::to_value(&back).expect("json");
        assert_eq!(json["options"][2]["area"], "file");
        assert_eq!(json["file"], serde_json::Value::Null);
        assert!(!back.to_string().contains("file="));
    }

    #[test]
    fn overload_area_without_end_is_reported() {
        let mut m = Message::new_dhcp(MessageType::Offer, 1, MAC);
        m.options_mut().push(code::OPTION_OVERLOAD, vec![1]);
        m.file = [0; 128];
        m.file[..3].copy_from_slice(&[52, 1, 2]);
        let (_, devs) = Message::parse(&m.emit()).expect("parse");
        let d = fields(&devs);
        assert!(
            d.contains(&"file: no end option (RFC 2131 §4.1; RFC 2132 §3.2)".into()),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|x| x.starts_with("option 52: found inside file")),
            "{d:?}"
        );
    }

    #[test]
    fn relay_agent_information_sub_options() {
        let subs = vec![
            SubOption {
                code: agent::CIRCUIT_ID,
                data: b"eth0".to_vec(),
            },
            SubOption {
                code: agent::REMOTE_ID,
                data: MAC.to_vec(),
            },
        ];
        let mut m = Message::new_dhcp(MessageType::Discover, 1, MAC);
        m.giaddr = Ipv4Addr::new(198, 51, 100, 1);
        m.hops = 1;
        m.options_mut().push(
            code::RELAY_AGENT_INFORMATION,
            emit_relay_agent_information(&subs),
        );
        let back = roundtrip(&m);
        assert_eq!(
            back.options().and_then(|o| o.relay_agent_information()),
            Some(subs)
        );
        let (_, devs) = parse_relay_agent_information(&[1, 9, 0]);
        assert!(devs[0].message.contains("sub-option 1: length 9 runs past"));
        let (_, devs) = parse_relay_agent_information(&[0, 0]);
        assert!(devs[0].message.contains("pad/end"));
    }

    #[test]
    fn pxe_options_shapes() {
        let mut m = Message::new_dhcp(MessageType::Discover, 1, MAC);
        let o = m.options_mut();
        o.push(
            code::VENDOR_CLASS_IDENTIFIER,
            b"PXEClient:Arch:00000:UNDI:002001".to_vec(),
        );
        o.push(code::CLIENT_SYSTEM_ARCHITECTURE, vec![0, 0]);
        o.push(code::CLIENT_NETWORK_INTERFACE_ID, vec![1, 2, 1]);
        let mut guid = vec![0u8];
        guid.extend_from_slice(&[0xab; 16]);
        o.push(code::CLIENT_MACHINE_ID, guid);
        let back = roundtrip(&m);
        assert_eq!(
            back.options().and_then(|o| o.client_system_architecture()),
            Some(vec![0])
        );
        let mut bad = Message::new_dhcp(MessageType::Discover, 1, MAC);
        let o = bad.options_mut();
        o.push(code::CLIENT_SYSTEM_ARCHITECTURE, vec![0]);
        o.push(code::CLIENT_NETWORK_INTERFACE_ID, vec![2, 2, 1]);
        o.push(code::CLIENT_MACHINE_ID, vec![1; 16]);
        let (_, devs) = Message::parse(&bad.emit()).expect("parse");
        assert_eq!(
            fields(&devs),
            vec![
                "option 93: length 1, expected a multiple of 2, at least 2 (RFC 4578 §2.1)",
                "option 94: interface type 2, expected 1 (UNDI) (RFC 4578 §2.2)",
                "option 97: length 16, expected 17 (RFC 4578 §2.3)",
                "option 97: type 1, expected 0 (GUID) (RFC 4578 §2.3)",
            ]
        );
    }

    #[test]
    fn header_deviations() {
        let mut m = Message::new_request(1, MAC);
        m.op = Op::Unknown(3);
        m.hlen = 17;
        m.flags = 0x8001;
        m.vend = Vendor::Raw(vec![0; 64]);
        let (back, devs) = Message::parse(&m.emit()).expect("parse");
        assert_eq!(back, m);
        assert_eq!(
            devs.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(),
            vec!["op", "hlen", "flags", "vend"]
        );
    }

    #[test]
    fn json_view_has_every_field() {
        let mut m = Message::new_dhcp(MessageType::Discover, 0x42, MAC);
        m.options_mut()
            .set_u16(code::MAXIMUM_DHCP_MESSAGE_SIZE, 1500);
        let v = serde_json::to_value(&m).expect("json");
        assert_eq!(v["xid"], 0x42);
        assert_eq!(v["chaddr"], "02:00:00:00:00:01");
        assert_eq!(v["options"][0]["value"]["name"], "DHCPDISCOVER");
        assert_eq!(v["options"][1]["value"], 1500);
    }

    #[test]
    fn options_set_replaces_all_instances_in_place() {
        let mut o = Options::default().with(1, [1]).with(2, [2]).with(1, [3]);
        o.set(1, [9]);
        assert_eq!(o.codes(), vec![1, 2]);
        assert_eq!(o.get(1), Some(vec![9]));
        assert!(o.remove(2));
        assert!(!o.remove(2));
    }

    fn arb_message() -> impl proptest::strategy::Strategy<Value = Message> {
        use proptest::prelude::*;
        // Any codes but pad, end and overload (which changes where options live), any data up
        // to 300 bytes (longer than 255 is split on emit and comes back as several instances,
        // so keep it to one instance here).
        let option = (1u8..=254)
            .prop_filter("not overload", |c| *c != code::OPTION_OVERLOAD)
            .prop_flat_map(|c| (Just(c), proptest::collection::vec(any::<u8>(), 0..=255)))
            .prop_map(|(code, data)| DhcpOption { code, data });
        (
            any::<(u8, u8, u8, u8, u32, u16, u16)>(),
            any::<[u32; 4]>(),
            any::<[u8; 16]>(),
            proptest::collection::vec(option, 0..8),
        )
            .prop_map(
                |((op, htype, hlen, hops, xid, secs, flags), addrs, chaddr, opts)| {
                    let mut m = Message::new_request(xid, [0; 6]);
                    m.op = Op::from(op);
                    m.htype = htype;
                    m.hlen = hlen;
                    m.hops = hops;
                    m.secs = secs;
                    m.flags = flags;
                    m.ciaddr = Ipv4Addr::from(addrs[0]);
                    m.yiaddr = Ipv4Addr::from(addrs[1]);
                    m.siaddr = Ipv4Addr::from(addrs[2]);
                    m.giaddr = Ipv4Addr::from(addrs[3]);
                    m.chaddr = chaddr;
                    m.vend = Vendor::Options(Options(opts));
                    m
                },
            )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        #[test]
        fn emit_then_parse_is_identity(m in arb_message()) {
            let bytes = m.emit();
            let (back, _) = Message::parse(&bytes).expect("an emitted message parses");
            proptest::prop_assert_eq!(&back, &m);
            proptest::prop_assert_eq!(back.emit(), bytes);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..700)) {
            if let Ok((m, _)) = Message::parse(&bytes) {
                let _ = m.emit();
                let _ = m.to_string();
                let _ = serde_json::to_string(&m);
            }
        }

        #[test]
        fn options_area_parse_never_panics(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut b = Message::new_request(1, MAC).emit();
            b.truncate(240);
            b.extend_from_slice(&tail);
            if let Ok((m, _)) = Message::parse(&b) {
                let _ = m.emit();
                let _ = serde_json::to_string(&m);
            }
        }
    }
}

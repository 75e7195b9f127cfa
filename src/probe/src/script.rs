//! The probe's script: its configuration file, and the pure part of `send` — turning a template
//! into the bytes of one Ethernet frame with the codecs of `bootlab-wire` (their fault builders
//! included, so a field or option can be set to a value no conforming sender would use).
//!
//! Every scalar in a template may name a variable captured by an earlier `expect`
//! (`yiaddr = "$offered"`); see [`Value`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use bootlab_wire::bootp::{self, DhcpOption, Faults, Message, MessageType, Op, Options, Vendor};
use bootlab_wire::ethernet::{self, Address};
use bootlab_wire::frame::{FrameFaults, UdpEndpoints};
use bootlab_wire::{arp, ipv4, tftp};
use serde::Deserialize;

/// Why a template could not be turned into a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// `$name` names no variable captured or declared so far.
    #[error(
        "{field}: no variable ${name} (capture it in an earlier expect, or declare it in [vars])"
    )]
    UnknownVariable {
        /// The template field.
        field: String,
        /// The variable.
        name: String,
    },
    /// A value of the wrong shape for its field.
    #[error("{field}: {value:?} is not {what}")]
    Bad {
        /// The template field.
        field: String,
        /// The value written (after variable substitution).
        value: String,
        /// What the field takes.
        what: &'static str,
    },
    /// A template that misses what its protocol needs.
    #[error("{0}")]
    Incomplete(String),
}

/// A scalar in a template or a match: a number, a flag, a string (`$name` is a variable), or a
/// list (option data).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// `xid = 7`.
    Int(i64),
    /// `omit = true`.
    Bool(bool),
    /// `ciaddr = "192.0.2.5"`, `chaddr = "$mac"`.
    Text(String),
    /// `ips = ["192.0.2.1", "192.0.2.2"]`.
    List(Vec<Value>),
}

/// Captured and declared variables, by name without the `$`.
pub type Vars = BTreeMap<String, String>;

impl Value {
    /// The value as text, a `$name` replaced by the variable's value.
    pub fn text(&self, field: &str, vars: &Vars) -> Result<String, ScriptError> {
        match self {
            Value::Int(i) => Ok(i.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Text(s) => match s.strip_prefix('$') {
                Some(name) => vars
                    .get(name)
                    .cloned()
                    .ok_or_else(|| ScriptError::UnknownVariable {
                        field: field.into(),
                        name: name.into(),
                    }),
                None => Ok(s.clone()),
            },
            Value::List(l) => {
                let parts: Result<Vec<String>, _> = l.iter().map(|v| v.text(field, vars)).collect();
                Ok(parts?.join(","))
            }
        }
    }

    /// The value as an unsigned integer no larger than `max`; text may be decimal or `0x` hex.
    pub fn uint(&self, field: &str, vars: &Vars, max: u64) -> Result<u64, ScriptError> {
        let t = self.text(field, vars)?;
        let n = match t.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => t.parse::<u64>().ok(),
        };
        n.filter(|n| *n <= max).ok_or(ScriptError::Bad {
            field: field.into(),
            value: t,
            what: "an unsigned number in range",
        })
    }

    /// The value as an IPv4 address.
    pub fn ip(&self, field: &str, vars: &Vars) -> Result<Ipv4Addr, ScriptError> {
        let t = self.text(field, vars)?;
        t.parse().map_err(|_| ScriptError::Bad {
            field: field.into(),
            value: t,
            what: "an IPv4 address",
        })
    }

    /// The value as a hardware address `02:00:00:00:00:0a` (1 to 16 octets).
    pub fn hw(&self, field: &str, vars: &Vars) -> Result<Vec<u8>, ScriptError> {
        let t = self.text(field, vars)?;
        let bytes: Option<Vec<u8>> = t
            .split(':')
            .map(|p| u8::from_str_radix(p, 16).ok())
            .collect();
        bytes
            .filter(|b| !b.is_empty() && b.len() <= 16)
            .ok_or(ScriptError::Bad {
                field: field.into(),
                value: t,
                what: "a hardware address (hex octets separated by ':')",
            })
    }

    /// The value as hex bytes (`"01 02 0a"` or `"01020a"`).
    pub fn hex(&self, field: &str, vars: &Vars) -> Result<Vec<u8>, ScriptError> {
        let t = self.text(field, vars)?;
        parse_hex(&t).ok_or(ScriptError::Bad {
            field: field.into(),
            value: t,
            what: "hex octets",
        })
    }
}

/// Parses hex octets, ignoring spaces and colons.
pub fn parse_hex(t: &str) -> Option<Vec<u8>> {
    let digits: String = t.chars().filter(|c| !matches!(c, ' ' | ':')).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The probe's configuration file: where it sits and its script.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// The interface it sends and receives on.
    pub interface: String,
    /// Its own hardware address (default: the interface's).
    #[serde(default)]
    pub mac: Option<String>,
    /// Its IPv4 address, the default source of UDP and ICMP frames (default 0.0.0.0). When the
    /// kernel owns it too, the probe holds the UDP ports it sends from so the kernel does not
    /// answer replies with ICMP port unreachable.
    #[serde(default)]
    pub address: Option<Ipv4Addr>,
    /// UDP ports held on `address` from the start (a probe playing a TFTP server holds 69), so
    /// the kernel does not answer requests to them with ICMP port unreachable.
    #[serde(default)]
    pub hold: Vec<u16>,
    /// Real time to wait after `ready` before the first step (default 0). Frames that were
    /// captured on the bridge but never delivered in the first moments of a run were the
    /// bridge forwarding to a veth whose carrier change the kernel's link watcher had not yet
    /// processed (`QDISC_DROP`); the lab now waits for that before a run starts, so no settling
    /// is needed, and a settle would delay a probe playing a server past the client's first
    /// retransmission under a fast `time-scale`.
    #[serde(default = "settle")]
    pub settle_ms: u64,
    /// How much faster than real time `within` and `sleep` run (the lab's `time-scale`).
    #[serde(default = "one")]
    pub time_scale: f64,
    /// Variables known from the start.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// The script, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
}

fn one() -> f64 {
    1.0
}

fn settle() -> u64 {
    0
}

/// One step of the script: exactly one of `send`, `expect`, `sleep`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Step {
    /// Send one frame (or `repeat` copies).
    pub send: Option<Send>,
    /// Wait for a frame matching constraints, or make sure none comes.
    pub expect: Option<Expect>,
    /// Let protocol time pass (`2s`, `500ms`).
    pub sleep: Option<String>,
}

/// What kind of frame a template builds or an expectation looks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proto {
    /// A DHCP message: BOOTP with option 53 (RFC 2131).
    #[default]
    Dhcp,
    /// Any BOOTP message (RFC 951), with or without option 53.
    Bootp,
    /// ARP (RFC 826).
    Arp,
    /// RARP (RFC 903).
    Rarp,
    /// ICMP (RFC 792, RFC 950).
    Icmp,
    /// TFTP (RFC 1350, RFC 2347).
    Tftp,
    /// Any frame (expect only).
    Any,
}

/// A frame template. Unset fields take the value a conforming sender would use.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Send {
    /// What to build.
    #[serde(default)]
    pub proto: Proto,
    /// Send this many copies (a duplicated message).
    #[serde(default)]
    pub repeat: Option<u32>,
    /// Ethernet source (default: ours).
    pub eth_src: Option<Value>,
    /// Ethernet destination (default: broadcast).
    pub eth_dst: Option<Value>,
    /// IPv4 source (default: our address or 0.0.0.0).
    pub ip_src: Option<Value>,
    /// IPv4 destination (default 255.255.255.255).
    pub ip_dst: Option<Value>,
    /// UDP source port.
    pub src_port: Option<Value>,
    /// UDP destination port.
    pub dst_port: Option<Value>,
    /// IPv4 TTL.
    pub ttl: Option<Value>,
    /// UDP checksum written instead of the right one (0: none, RFC 768).
    pub udp_checksum: Option<Value>,
    /// BOOTP `op` (default from the message type: 1, or 2 for OFFER/ACK/NAK).
    pub op: Option<Value>,
    /// BOOTP `htype`.
    pub htype: Option<Value>,
    /// BOOTP `hlen`.
    pub hlen: Option<Value>,
    /// BOOTP `hops`.
    pub hops: Option<Value>,
    /// BOOTP `xid`.
    pub xid: Option<Value>,
    /// BOOTP `secs`.
    pub secs: Option<Value>,
    /// BOOTP `flags` (0x8000 is the broadcast bit).
    pub flags: Option<Value>,
    /// BOOTP `ciaddr`.
    pub ciaddr: Option<Value>,
    /// BOOTP `yiaddr`.
    pub yiaddr: Option<Value>,
    /// BOOTP `siaddr`.
    pub siaddr: Option<Value>,
    /// BOOTP `giaddr`.
    pub giaddr: Option<Value>,
    /// BOOTP `chaddr` (default: our MAC).
    pub chaddr: Option<Value>,
    /// BOOTP `sname` as text.
    pub sname: Option<Value>,
    /// BOOTP `file` as text.
    pub file: Option<Value>,
    /// DHCP message type (option 53, written first): `discover`, `offer`, ... or a number.
    pub message_type: Option<Value>,
    /// Options after 53, in order; the same code twice is an RFC 3396 split option.
    #[serde(default)]
    pub options: Vec<OptionSpec>,
    /// Options written into `sname` under overload (RFC 2131 §4.1; set option 52 yourself).
    #[serde(default)]
    pub sname_options: Vec<OptionSpec>,
    /// Options written into `file` under overload.
    #[serde(default)]
    pub file_options: Vec<OptionSpec>,
    /// Four octets written instead of the magic cookie (hex), or `"none"` for a plain RFC 951
    /// vendor area of 64 zero octets.
    pub cookie: Option<Value>,
    /// Leave out the end option.
    #[serde(default)]
    pub omit_end: bool,
    /// The BOOTP payload is padded with zeros or cut to exactly this many octets.
    pub size: Option<Value>,
    /// ARP/RARP `ar$op`: `request`, `reply`, `rarp-request`, `rarp-reply` or a number.
    pub operation: Option<Value>,
    /// `ar$sha`.
    pub sha: Option<Value>,
    /// `ar$spa`.
    pub spa: Option<Value>,
    /// `ar$tha`.
    pub tha: Option<Value>,
    /// `ar$tpa`.
    pub tpa: Option<Value>,
    /// ICMP type (17: address mask request, RFC 950).
    pub icmp_type: Option<Value>,
    /// ICMP code.
    pub icmp_code: Option<Value>,
    /// ICMP identifier.
    pub icmp_id: Option<Value>,
    /// ICMP sequence number.
    pub icmp_seq: Option<Value>,
    /// ICMP address mask (types 17/18).
    pub mask: Option<Value>,
    /// TFTP opcode: `rrq`, `wrq`, `data`, `ack`, `error`, `oack` or a number.
    pub opcode: Option<Value>,
    /// TFTP file name.
    pub filename: Option<Value>,
    /// TFTP mode (default `octet`).
    pub mode: Option<Value>,
    /// TFTP options `[name, value]`, in order.
    #[serde(default)]
    pub tftp_options: Vec<(Value, Value)>,
    /// TFTP block number.
    pub block: Option<Value>,
    /// TFTP DATA payload size (filled with a fixed pattern).
    pub data_size: Option<Value>,
    /// TFTP error code.
    pub error_code: Option<Value>,
    /// TFTP error message.
    pub error_message: Option<Value>,
    /// Hex bytes sent as the UDP payload instead of the built one (a malformed packet).
    pub raw: Option<Value>,
}

/// One option of a template: a code (number or name) and its data in one of several shapes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OptionSpec {
    /// The code, a number or a name (`server-id`, `requested-address`...).
    pub code: Value,
    /// One IPv4 address.
    pub ip: Option<Value>,
    /// Several IPv4 addresses.
    pub ips: Option<Vec<Value>>,
    /// One octet.
    pub u8: Option<Value>,
    /// A 16-bit number.
    pub u16: Option<Value>,
    /// A 32-bit number.
    pub u32: Option<Value>,
    /// Text.
    pub text: Option<Value>,
    /// Hex octets.
    pub hex: Option<Value>,
    /// Octets as numbers.
    pub bytes: Option<Vec<Value>>,
    /// This many filler octets (`x`) after the data above: a long option.
    pub fill: Option<usize>,
    /// A length octet written instead of the true one (a fault; first instance of the code).
    pub len: Option<Value>,
}

/// An expectation: a frame of `proto` matching every constraint, within a protocol time; or,
/// with `none`, no such frame.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Expect {
    /// What kind of frame.
    #[serde(default)]
    pub proto: Proto,
    /// How long to wait, in protocol time (`4s`).
    pub within: String,
    /// Succeed only if no matching frame arrives.
    #[serde(default)]
    pub none: bool,
    /// Field -> wanted value (see [`crate::matcher`] for field names; `"absent"`, `"present"`
    /// and `"!value"` are special).
    #[serde(default, rename = "match")]
    pub fields: BTreeMap<String, Value>,
    /// Variable -> field whose value is kept for later steps.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

/// Option names the scripts may use instead of codes (RFC 2132, RFC 3046, RFC 4578).
pub const OPTION_NAMES: &[(&str, u8)] = &[
    ("subnet-mask", 1),
    ("router", 3),
    ("dns", 6),
    ("host-name", 12),
    ("domain-name", 15),
    ("broadcast-address", 28),
    ("requested-address", 50),
    ("lease-time", 51),
    ("overload", 52),
    ("message-type", 53),
    ("server-id", 54),
    ("parameter-request-list", 55),
    ("message", 56),
    ("max-message-size", 57),
    ("renewal-time", 58),
    ("rebinding-time", 59),
    ("vendor-class", 60),
    ("client-id", 61),
    ("tftp-server", 66),
    ("bootfile", 67),
    ("agent-info", 82),
    ("client-arch", 93),
    ("client-ndi", 94),
    ("client-guid", 97),
];

/// The code of an option written as a number or a name.
pub fn option_code(v: &Value, vars: &Vars) -> Result<u8, ScriptError> {
    let t = v.text("options.code", vars)?;
    if let Ok(n) = t.parse::<u8>() {
        return Ok(n);
    }
    OPTION_NAMES
        .iter()
        .find(|(n, _)| *n == t)
        .map(|(_, c)| *c)
        .ok_or(ScriptError::Bad {
            field: "options.code".into(),
            value: t,
            what: "an option code or name",
        })
}

/// A DHCP message type by name (RFC 2132 §9.6) or number.
pub fn message_type(v: &Value, vars: &Vars) -> Result<MessageType, ScriptError> {
    let t = v.text("message-type", vars)?.to_ascii_lowercase();
    let n = match t.as_str() {
        "discover" => 1,
        "offer" => 2,
        "request" => 3,
        "decline" => 4,
        "ack" => 5,
        "nak" => 6,
        "release" => 7,
        "inform" => 8,
        other => other.parse::<u8>().map_err(|_| ScriptError::Bad {
            field: "message-type".into(),
            value: t.clone(),
            what: "a DHCP message type",
        })?,
    };
    Ok(MessageType::from(n))
}

impl OptionSpec {
    /// The option's code and data.
    pub fn build(&self, vars: &Vars) -> Result<DhcpOption, ScriptError> {
        let code = option_code(&self.code, vars)?;
        let f = |s: &str| format!("options[{code}].{s}");
        let mut data = Vec::new();
        if let Some(v) = &self.ip {
            data.extend(v.ip(&f("ip"), vars)?.octets());
        }
        for v in self.ips.iter().flatten() {
            data.extend(v.ip(&f("ips"), vars)?.octets());
        }
        if let Some(v) = &self.u8 {
            data.push(v.uint(&f("u8"), vars, 0xff)? as u8);
        }
        if let Some(v) = &self.u16 {
            data.extend((v.uint(&f("u16"), vars, 0xffff)? as u16).to_be_bytes());
        }
        if let Some(v) = &self.u32 {
            data.extend((v.uint(&f("u32"), vars, 0xffff_ffff)? as u32).to_be_bytes());
        }
        if let Some(v) = &self.text {
            data.extend(v.text(&f("text"), vars)?.into_bytes());
        }
        if let Some(v) = &self.hex {
            data.extend(v.hex(&f("hex"), vars)?);
        }
        for v in self.bytes.iter().flatten() {
            data.push(v.uint(&f("bytes"), vars, 0xff)? as u8);
        }
        if let Some(n) = self.fill {
            data.extend(std::iter::repeat_n(b'x', n));
        }
        Ok(DhcpOption { code, data })
    }
}

/// What `send` needs to know about the probe itself.
#[derive(Debug, Clone, Copy)]
pub struct Me {
    /// Our hardware address.
    pub mac: Address,
    /// Our IPv4 address, 0.0.0.0 when none.
    pub address: Ipv4Addr,
}

/// One frame ready to send, and the UDP source it uses (to hold the port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The whole Ethernet frame.
    pub frame: Vec<u8>,
    /// `(address, port)` the frame is sent from, when UDP.
    pub udp_source: Option<(Ipv4Addr, u16)>,
}

fn opt<T>(
    v: &Option<Value>,
    default: T,
    f: impl FnOnce(&Value) -> Result<T, ScriptError>,
) -> Result<T, ScriptError> {
    v.as_ref().map(f).unwrap_or(Ok(default))
}

/// Writes options (code, length, data) into a fixed field followed by End and Pad octets
/// (RFC 2131 §4.1 overload); cut at the field's size.
fn overload_field<const N: usize>(
    specs: &[OptionSpec],
    vars: &Vars,
) -> Result<[u8; N], ScriptError> {
    let mut bytes = Vec::new();
    for s in specs {
        let o = s.build(vars)?;
        bytes.push(o.code);
        bytes.push(o.data.len().min(255) as u8);
        bytes.extend(o.data);
    }
    bytes.push(bootp::code::END);
    let mut field = [0u8; N];
    let n = bytes.len().min(N);
    field[..n].copy_from_slice(&bytes[..n]);
    Ok(field)
}

fn text_field<const N: usize>(v: &Value, field: &str, vars: &Vars) -> Result<[u8; N], ScriptError> {
    let t = v.text(field, vars)?;
    let mut out = [0u8; N];
    let n = t.len().min(N);
    out[..n].copy_from_slice(&t.as_bytes()[..n]);
    Ok(out)
}

impl Send {
    /// Builds the frame this template describes.
    pub fn build(&self, me: &Me, vars: &Vars) -> Result<Built, ScriptError> {
        let eth_src = match &self.eth_src {
            Some(v) => mac6(v, "eth-src", vars)?,
            None => me.mac,
        };
        let eth_dst = match &self.eth_dst {
            Some(v) => mac6(v, "eth-dst", vars)?,
            None => Address::BROADCAST,
        };
        match self.proto {
            Proto::Arp | Proto::Rarp => self.build_arp(me, eth_src, eth_dst, vars),
            Proto::Icmp => self.build_icmp(me, eth_src, eth_dst, vars),
            Proto::Dhcp | Proto::Bootp => {
                let payload = match &self.raw {
                    Some(r) => r.hex("raw", vars)?,
                    None => self.build_bootp(me, vars)?,
                };
                let request = self.bootp_is_request(vars)?;
                let (sp, dp) = if request { (68, 67) } else { (67, 68) };
                self.udp(me, eth_src, eth_dst, sp, dp, &payload, vars)
            }
            Proto::Tftp => {
                let payload = match &self.raw {
                    Some(r) => r.hex("raw", vars)?,
                    None => self.build_tftp(vars)?,
                };
                self.udp(me, eth_src, eth_dst, 2000, 69, &payload, vars)
            }
            Proto::Any => Err(ScriptError::Incomplete(
                "send: proto \"any\" is for expectations only".into(),
            )),
        }
    }

    fn bootp_is_request(&self, vars: &Vars) -> Result<bool, ScriptError> {
        if let Some(op) = &self.op {
            return Ok(op.uint("op", vars, 0xff)? != 2);
        }
        Ok(match &self.message_type {
            Some(t) => message_type(t, vars)?.op() == Op::BootRequest,
            None => true,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn udp(
        &self,
        me: &Me,
        eth_src: Address,
        eth_dst: Address,
        default_src_port: u16,
        default_dst_port: u16,
        payload: &[u8],
        vars: &Vars,
    ) -> Result<Built, ScriptError> {
        let src_ip = opt(&self.ip_src, me.address, |v| v.ip("ip-src", vars))?;
        let ends = UdpEndpoints {
            src_mac: eth_src,
            dst_mac: eth_dst,
            src_ip,
            dst_ip: opt(&self.ip_dst, Ipv4Addr::BROADCAST, |v| v.ip("ip-dst", vars))?,
            src_port: opt(&self.src_port, default_src_port, |v| {
                Ok(v.uint("src-port", vars, 0xffff)? as u16)
            })?,
            dst_port: opt(&self.dst_port, default_dst_port, |v| {
                Ok(v.uint("dst-port", vars, 0xffff)? as u16)
            })?,
        };
        let faults = FrameFaults {
            udp_checksum: self
                .udp_checksum
                .as_ref()
                .map(|v| v.uint("udp-checksum", vars, 0xffff).map(|n| n as u16))
                .transpose()?,
            ttl: self
                .ttl
                .as_ref()
                .map(|v| v.uint("ttl", vars, 0xff).map(|n| n as u8))
                .transpose()?,
            ..FrameFaults::default()
        };
        Ok(Built {
            frame: ends.build_with(payload, &faults),
            udp_source: Some((src_ip, ends.src_port)),
        })
    }

    /// The BOOTP/DHCP payload (RFC 951 §3, RFC 2131 §2, RFC 2132).
    pub fn build_bootp(&self, me: &Me, vars: &Vars) -> Result<Vec<u8>, ScriptError> {
        let mtype = self
            .message_type
            .as_ref()
            .map(|t| message_type(t, vars))
            .transpose()?;
        if self.proto == Proto::Dhcp && mtype.is_none() && self.options.is_empty() {
            return Err(ScriptError::Incomplete(
                "send: a dhcp message needs message-type (or proto = \"bootp\")".into(),
            ));
        }
        let mut m = Message::new_request(0, me.mac.0);
        m.op = match &self.op {
            Some(v) => Op::from(v.uint("op", vars, 0xff)? as u8),
            None => mtype.map(MessageType::op).unwrap_or(Op::BootRequest),
        };
        m.htype = opt(&self.htype, 1, |v| Ok(v.uint("htype", vars, 0xff)? as u8))?;
        m.hlen = opt(&self.hlen, 6, |v| Ok(v.uint("hlen", vars, 0xff)? as u8))?;
        m.hops = opt(&self.hops, 0, |v| Ok(v.uint("hops", vars, 0xff)? as u8))?;
        m.xid = opt(&self.xid, 0x6c61_6200, |v| {
            Ok(v.uint("xid", vars, 0xffff_ffff)? as u32)
        })?;
        m.secs = opt(&self.secs, 0, |v| Ok(v.uint("secs", vars, 0xffff)? as u16))?;
        m.flags = opt(
            &self.flags,
            0,
            |v| Ok(v.uint("flags", vars, 0xffff)? as u16),
        )?;
        m.ciaddr = opt(&self.ciaddr, Ipv4Addr::UNSPECIFIED, |v| {
            v.ip("ciaddr", vars)
        })?;
        m.yiaddr = opt(&self.yiaddr, Ipv4Addr::UNSPECIFIED, |v| {
            v.ip("yiaddr", vars)
        })?;
        m.siaddr = opt(&self.siaddr, Ipv4Addr::UNSPECIFIED, |v| {
            v.ip("siaddr", vars)
        })?;
        m.giaddr = opt(&self.giaddr, Ipv4Addr::UNSPECIFIED, |v| {
            v.ip("giaddr", vars)
        })?;
        if let Some(v) = &self.chaddr {
            let hw = v.hw("chaddr", vars)?;
            m.chaddr = [0; 16];
            m.chaddr[..hw.len()].copy_from_slice(&hw);
        }
        if let Some(v) = &self.sname {
            m.sname = text_field(v, "sname", vars)?;
        }
        if let Some(v) = &self.file {
            m.file = text_field(v, "file", vars)?;
        }
        if !self.sname_options.is_empty() {
            m.sname = overload_field(&self.sname_options, vars)?;
        }
        if !self.file_options.is_empty() {
            m.file = overload_field(&self.file_options, vars)?;
        }
        let mut faults = Faults {
            omit_end: self.omit_end,
            ..Faults::default()
        };
        let cookie = self
            .cookie
            .as_ref()
            .map(|c| c.text("cookie", vars))
            .transpose()?;
        if cookie.as_deref() == Some("none") {
            m.vend = Vendor::Raw(vec![0; bootp::MIN_MESSAGE_LEN - bootp::HEADER_LEN]);
        } else {
            if let Some(c) = &self.cookie {
                let b = c.hex("cookie", vars)?;
                let four: [u8; 4] = b.try_into().map_err(|_| ScriptError::Bad {
                    field: "cookie".into(),
                    value: cookie.clone().unwrap_or_default(),
                    what: "four hex octets or \"none\"",
                })?;
                faults.cookie = Some(four);
            }
            let mut opts = Options::default();
            if let Some(t) = mtype {
                opts.push(bootp::code::DHCP_MESSAGE_TYPE, vec![u8::from(t)]);
            }
            for s in &self.options {
                let o = s.build(vars)?;
                if let Some(l) = &s.len {
                    faults
                        .lengths
                        .push((o.code, l.uint("options.len", vars, 0xff)? as u8));
                }
                opts.0.push(o);
            }
            m.vend = Vendor::Options(opts);
        }
        let mut out = m.emit_with(&faults);
        if let Some(s) = &self.size {
            let n = s.uint("size", vars, 65_000)? as usize;
            out.resize(n, 0);
        }
        Ok(out)
    }

    fn build_arp(
        &self,
        me: &Me,
        eth_src: Address,
        eth_dst: Address,
        vars: &Vars,
    ) -> Result<Built, ScriptError> {
        let rarp = self.proto == Proto::Rarp;
        let operation = match &self.operation {
            Some(v) => match v.text("operation", vars)?.as_str() {
                "request" => arp::Operation::Request,
                "reply" => arp::Operation::Reply,
                "rarp-request" => arp::Operation::RarpRequest,
                "rarp-reply" => arp::Operation::RarpReply,
                _ => arp::Operation::from(v.uint("operation", vars, 0xffff)? as u16),
            },
            None if rarp => arp::Operation::RarpRequest,
            None => arp::Operation::Request,
        };
        let repr = arp::Repr {
            operation,
            source_hardware_addr: match &self.sha {
                Some(v) => mac6(v, "sha", vars)?,
                None => me.mac,
            },
            source_protocol_addr: opt(&self.spa, me.address, |v| v.ip("spa", vars))?,
            target_hardware_addr: match &self.tha {
                Some(v) => mac6(v, "tha", vars)?,
                None if rarp => me.mac,
                None => Address::ZERO,
            },
            target_protocol_addr: opt(&self.tpa, Ipv4Addr::UNSPECIFIED, |v| v.ip("tpa", vars))?,
        };
        let ethertype = if rarp {
            ethernet::ethertype::RARP
        } else {
            ethernet::ethertype::ARP
        };
        let frame = ethernet::Repr {
            src_addr: eth_src,
            dst_addr: eth_dst,
            ethertype,
        }
        .frame(&repr.emit());
        Ok(Built {
            frame,
            udp_source: None,
        })
    }

    /// An ICMP message (RFC 792); type 17 is an address mask request and 18 its reply, with a
    /// 32-bit mask after identifier and sequence number (RFC 950 appendix I).
    fn build_icmp(
        &self,
        me: &Me,
        eth_src: Address,
        eth_dst: Address,
        vars: &Vars,
    ) -> Result<Built, ScriptError> {
        let ty = opt(&self.icmp_type, 17, |v| {
            Ok(v.uint("icmp-type", vars, 0xff)? as u8)
        })?;
        let code = opt(&self.icmp_code, 0, |v| {
            Ok(v.uint("icmp-code", vars, 0xff)? as u8)
        })?;
        let id = opt(&self.icmp_id, 1, |v| {
            Ok(v.uint("icmp-id", vars, 0xffff)? as u16)
        })?;
        let seq = opt(&self.icmp_seq, 1, |v| {
            Ok(v.uint("icmp-seq", vars, 0xffff)? as u16)
        })?;
        let mut icmp = vec![ty, code, 0, 0];
        icmp.extend(id.to_be_bytes());
        icmp.extend(seq.to_be_bytes());
        if matches!(ty, 17 | 18) || self.mask.is_some() {
            let mask = opt(&self.mask, Ipv4Addr::UNSPECIFIED, |v| v.ip("mask", vars))?;
            icmp.extend(mask.octets());
        }
        let c = ipv4::checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut ip = ipv4::Repr::udp(
            opt(&self.ip_src, me.address, |v| v.ip("ip-src", vars))?,
            opt(&self.ip_dst, Ipv4Addr::BROADCAST, |v| v.ip("ip-dst", vars))?,
            icmp.len(),
        );
        ip.protocol = 1;
        if let Some(t) = &self.ttl {
            ip.ttl = t.uint("ttl", vars, 0xff)? as u8;
        }
        let mut packet = ip.emit().to_vec();
        packet.extend(icmp);
        let frame = ethernet::Repr {
            src_addr: eth_src,
            dst_addr: eth_dst,
            ethertype: ethernet::ethertype::IPV4,
        }
        .frame(&packet);
        Ok(Built {
            frame,
            udp_source: None,
        })
    }

    /// A TFTP packet (RFC 1350 §5, RFC 2347).
    pub fn build_tftp(&self, vars: &Vars) -> Result<Vec<u8>, ScriptError> {
        let opcode = match &self.opcode {
            Some(v) => v.text("opcode", vars)?,
            None => "rrq".into(),
        };
        let options: Result<Vec<tftp::TftpOption>, ScriptError> = self
            .tftp_options
            .iter()
            .map(|(n, v)| {
                Ok(tftp::TftpOption {
                    name: n.text("tftp-options", vars)?,
                    value: v.text("tftp-options", vars)?,
                })
            })
            .collect();
        let block = opt(
            &self.block,
            0,
            |v| Ok(v.uint("block", vars, 0xffff)? as u16),
        )?;
        let request = || -> Result<tftp::Request, ScriptError> {
            Ok(tftp::Request {
                filename: opt(&self.filename, String::new(), |v| v.text("filename", vars))?,
                mode: tftp::Mode::from_name(&opt(&self.mode, "octet".into(), |v| {
                    v.text("mode", vars)
                })?),
                options: options.clone()?,
            })
        };
        let p = match opcode.as_str() {
            "rrq" => tftp::Packet::Rrq(request()?),
            "wrq" => tftp::Packet::Wrq(request()?),
            "ack" => tftp::Packet::Ack { block },
            "data" => {
                let n = opt(&self.data_size, 0, |v| {
                    Ok(v.uint("data-size", vars, 65_535)? as usize)
                })?;
                tftp::Packet::Data {
                    block,
                    data: (0..n).map(|i| (i % 251) as u8).collect(),
                }
            }
            "error" => tftp::Packet::Error {
                code: tftp::ErrorCode::from_value(opt(&self.error_code, 0, |v| {
                    Ok(v.uint("error-code", vars, 0xffff)? as u16)
                })?),
                message: opt(&self.error_message, String::new(), |v| {
                    v.text("error-message", vars)
                })?,
            },
            "oack" => tftp::Packet::Oack { options: options? },
            other => {
                return Err(ScriptError::Bad {
                    field: "opcode".into(),
                    value: other.into(),
                    what: "rrq, wrq, data, ack, error or oack",
                })
            }
        };
        Ok(p.emit())
    }
}

fn mac6(v: &Value, field: &str, vars: &Vars) -> Result<Address, ScriptError> {
    let hw = v.hw(field, vars)?;
    Address::from_bytes(&hw).ok_or(ScriptError::Bad {
        field: field.into(),
        value: v.text(field, vars)?,
        what: "a 6-octet Ethernet address",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Me {
        Me {
            mac: Address([2, 0, 0, 0, 0, 0x50]),
            address: Ipv4Addr::UNSPECIFIED,
        }
    }

    fn send(toml_text: &str) -> Send {
        toml::from_str(toml_text).expect("a template")
    }

    #[test]
    fn a_discover_is_a_broadcast_bootrequest_from_port_68() {
        let b = send("message-type = \"discover\"\nxid = 7")
            .build(&me(), &Vars::new())
            .expect("built");
        let d = bootlab_wire::frame::Decoder::default().decode(&b.frame);
        let m = d.bootp().expect("bootp");
        assert_eq!(m.op, Op::BootRequest);
        assert_eq!(m.xid, 7);
        assert_eq!(m.message_type(), Some(MessageType::Discover));
        assert_eq!(d.udp.map(|u| (u.src_port, u.dst_port)), Some((68, 67)));
        assert_eq!(b.udp_source, Some((Ipv4Addr::UNSPECIFIED, 68)));
    }

    #[test]
    fn size_and_variables_shape_the_message() {
        let mut vars = Vars::new();
        vars.insert("offered".into(), "192.0.2.100".into());
        let t = send(
            "message-type = \"request\"\nsize = 299\noptions = [{ code = \"requested-address\", ip = \"$offered\" }]",
        );
        let p = t.build_bootp(&me(), &vars).expect("built");
        assert_eq!(p.len(), 299);
        let (m, _) = Message::parse(&p).expect("parses");
        assert_eq!(
            m.options().and_then(|o| o.requested_ip_address()),
            Some(Ipv4Addr::new(192, 0, 2, 100))
        );
        let missing =
            send("message-type = \"request\"\nciaddr = \"$nope\"").build_bootp(&me(), &Vars::new());
        assert!(matches!(missing, Err(ScriptError::UnknownVariable { .. })));
    }

    #[test]
    fn overloaded_options_land_in_file_and_split_options_stay_split() {
        let t = send(
            "message-type = \"discover\"\noptions = [{ code = 52, u8 = 1 }, { code = 12, text = \"ab\" }, { code = 12, text = \"cd\" }]\nfile-options = [{ code = 15, text = \"lab\" }]",
        );
        let p = t.build_bootp(&me(), &Vars::new()).expect("built");
        let (m, _) = Message::parse(&p).expect("parses");
        let o = m.options().expect("options");
        assert_eq!(o.count(12), 2);
        assert_eq!(o.text(12).as_deref(), Some("abcd"));
        assert_eq!(o.text(15).as_deref(), Some("lab"));
        assert_eq!(&p[108..114], &[15, 3, b'l', b'a', b'b', 255]);
    }

    #[test]
    fn tftp_rrq_carries_options_in_order() {
        let t = send("proto = \"tftp\"\nfilename = \"f\"\ntftp-options = [[\"blksize\", \"7\"], [\"tsize\", \"0\"]]");
        let p = t.build_tftp(&Vars::new()).expect("built");
        assert_eq!(
            p,
            b"\x00\x01f\x00octet\x00blksize\x007\x00tsize\x000\x00".to_vec()
        );
    }

    #[test]
    fn an_address_mask_request_has_a_valid_icmp_checksum() {
        let b = send("proto = \"icmp\"")
            .build(&me(), &Vars::new())
            .expect("built");
        let icmp = &b.frame[14 + 20..];
        assert_eq!(icmp[0], 17);
        assert_eq!(icmp.len(), 12);
        assert_eq!(ipv4::checksum(icmp), 0);
    }
}

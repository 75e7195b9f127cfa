//! The pure part of `expect`: a received frame as named fields, and the comparison of those
//! fields with an expectation's constraints.
//!
//! Field names: `eth.src`, `eth.dst`, `ip.src`, `ip.dst`, `ip.ttl`, `ip.proto`, `udp.src`,
//! `udp.dst`, `size` (UDP payload octets); BOOTP `op` (1/2), `htype`, `hlen`, `hops`, `xid`,
//! `secs`, `flags`, `broadcast` (true/false), `ciaddr`, `yiaddr`, `siaddr`, `giaddr`, `chaddr`,
//! `sname`, `file`, `cookie` (true/false), `message-type` (`offer`...), `options` (codes in
//! order), `option.N` or `option.NAME` (addresses dotted, times and sizes decimal, 53 by name,
//! 55 as a list, text as text, anything else hex), `option.N.len`, `option.N.count` (instances);
//! ARP/RARP `arp.op`, `arp.sha`, `arp.spa`, `arp.tha`, `arp.tpa`; ICMP `icmp.type`, `icmp.code`,
//! `icmp.mask`; TFTP `tftp.opcode`, `tftp.block`, `tftp.error-code`, `tftp.error-message`,
//! `tftp.data-len`, `tftp.options` (names in order), `tftp.option.NAME`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use bootlab_wire::bootp::{MessageType, Op, Vendor};
use bootlab_wire::frame::Decoded;
use bootlab_wire::{arp, tftp};

use crate::script::{Proto, ScriptError, Value, Vars, OPTION_NAMES};

/// A frame as named fields.
pub type Fields = BTreeMap<String, String>;

fn message_type_name(t: MessageType) -> String {
    match t {
        MessageType::Discover => "discover".into(),
        MessageType::Offer => "offer".into(),
        MessageType::Request => "request".into(),
        MessageType::Decline => "decline".into(),
        MessageType::Ack => "ack".into(),
        MessageType::Nak => "nak".into(),
        MessageType::Release => "release".into(),
        MessageType::Inform => "inform".into(),
        MessageType::Unknown(n) => n.to_string(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An option's data as text, in the shape its code has (RFC 2132).
pub fn option_text(code: u8, data: &[u8]) -> String {
    let ips = |d: &[u8]| {
        d.chunks(4)
            .map(|c| match c {
                [a, b, c2, e] => Ipv4Addr::new(*a, *b, *c2, *e).to_string(),
                _ => hex(c),
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    match (code, data.len()) {
        (53, 1) => message_type_name(MessageType::from(data[0])),
        (1 | 3 | 4 | 6 | 7 | 16 | 28 | 42 | 50 | 54, n) if n % 4 == 0 && n > 0 => ips(data),
        (2 | 51 | 58 | 59, 4) => {
            u32::from_be_bytes([data[0], data[1], data[2], data[3]]).to_string()
        }
        (57 | 13 | 26, 2) => u16::from_be_bytes([data[0], data[1]]).to_string(),
        (52, 1) => data[0].to_string(),
        (55, _) => data
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(","),
        (12 | 15 | 17 | 56 | 60 | 66 | 67, _) => String::from_utf8_lossy(data).into_owned(),
        _ => hex(data),
    }
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The frame's kind, for an expectation's `proto`.
pub fn is_kind(d: &Decoded, raw: &[u8], proto: Proto) -> bool {
    match proto {
        Proto::Any => true,
        Proto::Bootp => d.bootp().is_some(),
        Proto::Dhcp => d.bootp().is_some_and(|m| m.message_type().is_some()),
        Proto::Arp => d.eth.is_some_and(|e| e.ethertype == 0x0806),
        Proto::Rarp => d.eth.is_some_and(|e| e.ethertype == 0x8035),
        Proto::Icmp => d.ipv4.as_ref().is_some_and(|i| i.protocol == 1) && icmp(d, raw).is_some(),
        Proto::Tftp => d.tftp().is_some(),
    }
}

/// The ICMP message of an IPv4 frame: the bytes after the IP header.
fn icmp<'a>(d: &Decoded, raw: &'a [u8]) -> Option<&'a [u8]> {
    let ip = d.ipv4.as_ref()?;
    raw.get(14 + ip.header_len..).filter(|b| b.len() >= 8)
}

/// Every field of a frame, by name.
pub fn fields(d: &Decoded, raw: &[u8]) -> Fields {
    let mut f = Fields::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_string(), v);
    };
    if let Some(e) = &d.eth {
        put("eth.src", e.src_addr.to_string());
        put("eth.dst", e.dst_addr.to_string());
    }
    if let Some(a) = &d.arp {
        put(
            "arp.op",
            match a.operation {
                arp::Operation::Request => "request".into(),
                arp::Operation::Reply => "reply".into(),
                arp::Operation::RarpRequest => "rarp-request".into(),
                arp::Operation::RarpReply => "rarp-reply".into(),
                arp::Operation::Unknown(n) => n.to_string(),
            },
        );
        put("arp.sha", a.source_hardware_addr.to_string());
        put("arp.spa", a.source_protocol_addr.to_string());
        put("arp.tha", a.target_hardware_addr.to_string());
        put("arp.tpa", a.target_protocol_addr.to_string());
    }
    if let Some(ip) = &d.ipv4 {
        put("ip.src", ip.src.to_string());
        put("ip.dst", ip.dst.to_string());
        put("ip.ttl", ip.ttl.to_string());
        put("ip.proto", ip.protocol.to_string());
        if ip.protocol == 1 {
            if let Some(m) = icmp(d, raw) {
                put("icmp.type", m[0].to_string());
                put("icmp.code", m[1].to_string());
                if m.len() >= 12 {
                    put(
                        "icmp.mask",
                        Ipv4Addr::new(m[8], m[9], m[10], m[11]).to_string(),
                    );
                }
            }
        }
    }
    if let Some(u) = &d.udp {
        put("udp.src", u.src_port.to_string());
        put("udp.dst", u.dst_port.to_string());
        put("size", u.payload_len.to_string());
    }
    if let Some(m) = d.bootp() {
        put(
            "op",
            match m.op {
                Op::BootRequest => "1".into(),
                Op::BootReply => "2".into(),
                Op::Unknown(n) => n.to_string(),
            },
        );
        put("htype", m.htype.to_string());
        put("hlen", m.hlen.to_string());
        put("hops", m.hops.to_string());
        put("xid", m.xid.to_string());
        put("secs", m.secs.to_string());
        put("flags", m.flags.to_string());
        put("broadcast", m.broadcast().to_string());
        put("ciaddr", m.ciaddr.to_string());
        put("yiaddr", m.yiaddr.to_string());
        put("siaddr", m.siaddr.to_string());
        put("giaddr", m.giaddr.to_string());
        let hl = usize::from(m.hlen).min(16);
        put("chaddr", mac(&m.chaddr[..hl]));
        put("sname", cstr(&m.sname));
        put("file", cstr(&m.file));
        put("cookie", matches!(m.vend, Vendor::Options(_)).to_string());
        if let Some(t) = m.message_type() {
            put("message-type", message_type_name(t));
        }
        if let Some(o) = m.options() {
            let codes = o.0.iter().map(|o| o.code.to_string()).collect::<Vec<_>>();
            put("options", codes.join(","));
            for c in o.codes() {
                let data = o.get(c).unwrap_or_default();
                put(&format!("option.{c}.len"), data.len().to_string());
                put(&format!("option.{c}.count"), o.count(c).to_string());
                put(&format!("option.{c}"), option_text(c, &data));
            }
        }
    }
    if let Some(p) = d.tftp() {
        let (op, block) = match p {
            tftp::Packet::Rrq(_) => ("rrq", None),
            tftp::Packet::Wrq(_) => ("wrq", None),
            tftp::Packet::Data { block, data } => {
                put("tftp.data-len", data.len().to_string());
                ("data", Some(*block))
            }
            tftp::Packet::Ack { block } => ("ack", Some(*block)),
            tftp::Packet::Error { code, message } => {
                put("tftp.error-code", code.value().to_string());
                put("tftp.error-message", message.clone());
                ("error", None)
            }
            tftp::Packet::Oack { .. } => ("oack", None),
        };
        put("tftp.opcode", op.into());
        if let Some(b) = block {
            put("tftp.block", b.to_string());
        }
        let opts: &[tftp::TftpOption] = match p {
            tftp::Packet::Rrq(r) | tftp::Packet::Wrq(r) => {
                put("tftp.filename", r.filename.clone());
                put("tftp.mode", r.mode.name().to_string());
                &r.options
            }
            tftp::Packet::Oack { options } => options,
            _ => &[],
        };
        if matches!(
            p,
            tftp::Packet::Oack { .. } | tftp::Packet::Rrq(_) | tftp::Packet::Wrq(_)
        ) {
            let names: Vec<String> = opts.iter().map(|o| o.name.to_ascii_lowercase()).collect();
            put("tftp.options", names.join(","));
        }
        for o in opts {
            put(
                &format!("tftp.option.{}", o.name.to_ascii_lowercase()),
                o.value.clone(),
            );
        }
    }
    f
}

/// `option.server-id` -> `option.54` (names from [`OPTION_NAMES`]).
pub fn canonical(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("option.") {
        let (name, tail) = match rest.split_once('.') {
            Some((n, t)) => (n, Some(t)),
            None => (rest, None),
        };
        if let Some((_, c)) = OPTION_NAMES.iter().find(|(n, _)| *n == name) {
            return match tail {
                Some(t) => format!("option.{c}.{t}"),
                None => format!("option.{c}"),
            };
        }
    }
    field.to_string()
}

/// The first constraint a frame breaks: `(field, got, want)`; `None` when it meets them all.
pub fn mismatch(
    fields: &Fields,
    want: &BTreeMap<String, Value>,
    vars: &Vars,
) -> Result<Option<(String, String, String)>, ScriptError> {
    // The message's kind first, so a report names "message-type" rather than a detail of the
    // wrong message.
    let rank = |k: &str| match k {
        "message-type" | "op" | "tftp.opcode" | "arp.op" | "icmp.type" => 0,
        "xid" => 1,
        _ => 2,
    };
    let mut order: Vec<(&String, &Value)> = want.iter().collect();
    order.sort_by_key(|(k, _)| rank(k));
    for (k, v) in order {
        let key = canonical(k);
        let w = v.text(k, vars)?;
        let got = fields.get(&key);
        let ok = match (w.as_str(), got) {
            ("absent", g) => g.is_none(),
            ("present", g) => g.is_some(),
            (_, None) => false,
            (w, Some(g)) => match w.strip_prefix('!') {
                Some(not) => !same(not, g),
                None => same(w, g),
            },
        };
        if !ok {
            let got = got.cloned().unwrap_or_else(|| "(absent)".into());
            return Ok(Some((k.clone(), got, w)));
        }
    }
    Ok(None)
}

/// Equal as text, or as numbers (`0x8000` and `32768`), or as MACs in any case.
fn same(want: &str, got: &str) -> bool {
    if want.eq_ignore_ascii_case(got) {
        return true;
    }
    let num = |s: &str| match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse::<u64>().ok(),
    };
    matches!((num(want), num(got)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{Me, Send};
    use bootlab_wire::ethernet::Address;

    fn frame(toml_text: &str) -> (Decoded, Vec<u8>) {
        let s: Send = toml::from_str(toml_text).expect("template");
        let me = Me {
            mac: Address([2, 0, 0, 0, 0, 1]),
            address: Ipv4Addr::new(192, 0, 2, 1),
        };
        let b = s.build(&me, &Vars::new()).expect("built");
        (
            bootlab_wire::frame::Decoder::default().decode(&b.frame),
            b.frame,
        )
    }

    #[test]
    fn an_offer_reads_as_fields() {
        let (d, raw) = frame(
            "message-type = \"offer\"\nyiaddr = \"192.0.2.100\"\noptions = [{ code = 54, ip = \"192.0.2.1\" }, { code = 51, u32 = 60 }]",
        );
        let f = fields(&d, &raw);
        assert_eq!(f["message-type"], "offer");
        assert_eq!(f["op"], "2");
        assert_eq!(f["yiaddr"], "192.0.2.100");
        assert_eq!(f["option.54"], "192.0.2.1");
        assert_eq!(f["option.51"], "60");
        assert_eq!(f["udp.src"], "67");
    }

    #[test]
    fn mismatch_names_the_field_and_both_values() {
        let (d, raw) = frame("message-type = \"nak\"\nflags = 0");
        let f = fields(&d, &raw);
        let mut want = BTreeMap::new();
        want.insert("message-type".to_string(), Value::Text("nak".into()));
        want.insert("flags".to_string(), Value::Text("0x8000".into()));
        let m = mismatch(&f, &want, &Vars::new()).expect("no variables");
        assert_eq!(m, Some(("flags".into(), "0".into(), "0x8000".into())));
        want.insert("flags".to_string(), Value::Int(0));
        want.insert("option.server-id".to_string(), Value::Text("absent".into()));
        assert_eq!(mismatch(&f, &want, &Vars::new()).expect("ok"), None);
    }

    #[test]
    fn icmp_mask_replies_are_read() {
        let (d, raw) = frame("proto = \"icmp\"\nicmp-type = 18\nmask = \"255.255.255.0\"");
        assert!(is_kind(&d, &raw, Proto::Icmp));
        let f = fields(&d, &raw);
        assert_eq!(f["icmp.type"], "18");
        assert_eq!(f["icmp.mask"], "255.255.255.0");
    }
}

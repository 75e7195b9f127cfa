//! Import of a classic CMU `bootptab` (bootpd(8), bootptab(5)) as static bindings, so users of
//! CMU bootpd can move over.
//!
//! Entries are `name:tag=value:tag=value:...`, continued with a trailing `\`, `#` comments.
//! Understood tags: `tc` (template, may be defined anywhere), `ht` (must be ethernet/ether/1),
//! `ha`, `ip`, `bf`, `hd`, `sm`, `gw`, `ds`, `dn`, `to`, `rp`, `sa`, `hn` (send the entry name as
//! host name), `ci` (client id, hex) and generic `Tnnn=` options (decimal code; `"text"` or hex).
//! `tag@` removes a tag a template set. Entries without `ha`/`ci` are templates only. Other tags
//! are ignored with a warning, as bootpd does for tags it lacks.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use crate::config::{parse_hex, HexBytes, Host, OptionSet};

/// A bootptab problem at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootptabError {
    /// 1-based line where the entry starts.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

struct Entry {
    name: String,
    line: usize,
    tags: Vec<(String, Option<String>)>,
}

/// Parses bootptab `text` into host bindings.
pub fn parse(text: &str) -> Result<Vec<Host>, BootptabError> {
    let entries = split_entries(text);
    let by_name: HashMap<&str, &Entry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let mut hosts = Vec::new();
    for e in &entries {
        let tags = resolve(e, &by_name, 0)?;
        if !tags.contains_key("ha") && !tags.contains_key("ci") {
            continue;
        }
        hosts.push(to_host(e, &tags)?);
    }
    Ok(hosts)
}

fn split_entries(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if buf.is_empty() {
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            start = i + 1;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            buf.push_str(cont.trim());
            continue;
        }
        buf.push_str(line.trim());
        out.push(parse_entry(&buf, start));
        buf.clear();
    }
    if !buf.is_empty() {
        out.push(parse_entry(&buf, start));
    }
    out
}

fn parse_entry(s: &str, line: usize) -> Entry {
    let mut fields = split_fields(s).into_iter();
    let name = fields.next().unwrap_or_default().trim().to_string();
    let tags = fields
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .map(|f| match f.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
            None => (f, None),
        })
        .collect();
    Entry { name, line, tags }
}

/// Splits on `:` outside double quotes.
fn split_fields(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
            ':' if !quoted => out.push(String::new()),
            _ => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out
}

fn resolve(
    e: &Entry,
    by_name: &HashMap<&str, &Entry>,
    depth: usize,
) -> Result<BTreeMap<String, Option<String>>, BootptabError> {
    if depth > 16 {
        return Err(BootptabError {
            line: e.line,
            message: format!("{}: tc= loop", e.name),
        });
    }
    let mut tags = BTreeMap::new();
    for (k, v) in &e.tags {
        if k == "tc" {
            let t = v.as_deref().unwrap_or("");
            let tpl = by_name.get(t).ok_or_else(|| BootptabError {
                line: e.line,
                message: format!("{}: tc={t}: no such entry", e.name),
            })?;
            tags.extend(resolve(tpl, by_name, depth + 1)?);
        } else if let Some(removed) = k.strip_suffix('@') {
            tags.remove(removed);
        } else {
            tags.insert(k.clone(), v.clone());
        }
    }
    Ok(tags)
}

fn to_host(e: &Entry, tags: &BTreeMap<String, Option<String>>) -> Result<Host, BootptabError> {
    let err = |tag: &str, msg: String| BootptabError {
        line: e.line,
        message: format!("{}: {tag}: {msg}", e.name),
    };
    let val = |tag: &str| tags.get(tag).cloned().flatten();
    let ip = |tag: &str| -> Result<Option<Ipv4Addr>, BootptabError> {
        val(tag)
            .map(|v| v.parse().map_err(|x| err(tag, format!("{v:?}: {x}"))))
            .transpose()
    };
    let ips = |tag: &str| -> Result<Option<Vec<Ipv4Addr>>, BootptabError> {
        val(tag)
            .map(|v| {
                v.split_whitespace()
                    .map(|a| a.parse().map_err(|x| err(tag, format!("{a:?}: {x}"))))
                    .collect()
            })
            .transpose()
    };
    if let Some(ht) = val("ht") {
        if !matches!(
            ht.to_ascii_lowercase().as_str(),
            "ethernet" | "ether" | "ethernet2" | "1"
        ) {
            return Err(err("ht", format!("{ht:?}: only Ethernet is supported")));
        }
    }
    let hardware = val("ha")
        .map(|v| parse_hex(&v).map(HexBytes).map_err(|m| err("ha", m)))
        .transpose()?;
    if hardware.as_ref().is_some_and(|h| h.0.len() != 6) {
        return Err(err("ha", "an Ethernet address has 6 bytes".into()));
    }
    let client_id = val("ci")
        .map(|v| parse_hex(&v).map(HexBytes).map_err(|m| err("ci", m)))
        .transpose()?;
    let address = ip("ip")?.ok_or_else(|| err("ip", "missing".into()))?;
    let mut raw = BTreeMap::new();
    for (k, v) in tags {
        if let Some(code) = k.strip_prefix('T') {
            let c: u8 = code
                .parse()
                .map_err(|_| err(k, "generic tag needs a decimal code".into()))?;
            let v = v.clone().unwrap_or_default();
            let hex = match v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(text) => text.bytes().map(|b| format!("{b:02x}")).collect::<String>(),
                None => {
                    parse_hex(&v).map_err(|m| err(k, m))?;
                    v
                }
            };
            raw.insert(c.to_string(), hex);
        } else if !matches!(
            k.as_str(),
            "ht" | "ha"
                | "ip"
                | "bf"
                | "hd"
                | "sm"
                | "gw"
                | "ds"
                | "dn"
                | "to"
                | "rp"
                | "sa"
                | "hn"
                | "ci"
        ) {
            tracing::warn!(entry = %e.name, tag = %k, "bootptab tag not supported, ignored");
        }
    }
    let time_offset = val("to")
        .map(|v| {
            v.parse::<i32>()
                .map_err(|x| err("to", format!("{v:?}: {x}")))
        })
        .transpose()?;
    Ok(Host {
        hardware,
        client_id,
        address,
        host_name: tags.contains_key("hn").then(|| e.name.clone()),
        boot_file: val("bf"),
        home_dir: val("hd"),
        next_server: ip("sa")?,
        subnet_mask: ip("sm")?,
        options: OptionSet {
            routers: ips("gw")?,
            domain_name_servers: ips("ds")?,
            domain_name: val("dn"),
            ntp_servers: None,
            time_offset,
            root_path: val("rp"),
            interface_mtu: None,
            raw,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAB: &str = r#"
# CMU bootptab
.default:\
	:sm=255.255.255.0:gw=192.0.2.1:\
	:hd=/tftpboot:ds=192.0.2.1 192.0.2.2:
rom:tc=.default:ht=ethernet:ha=020000000010:ip=192.0.2.10:bf=unix:hn:T51=0x00000e10:
sun:tc=.default:ht=1:ha=02.00.00.00.00.11:ip=192.0.2.11:gw@:T66="boot.example":
"#;

    #[test]
    fn templates_tags_and_generic_options() {
        let hosts = parse(TAB).expect("valid");
        assert_eq!(hosts.len(), 2);
        let rom = &hosts[0];
        assert_eq!(rom.hardware, Some(HexBytes(vec![2, 0, 0, 0, 0, 0x10])));
        assert_eq!(rom.address, Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(rom.boot_file.as_deref(), Some("unix"));
        assert_eq!(rom.home_dir.as_deref(), Some("/tftpboot"));
        assert_eq!(rom.host_name.as_deref(), Some("rom"));
        assert_eq!(rom.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(
            rom.options.domain_name_servers.as_ref().map(Vec::len),
            Some(2)
        );
        assert_eq!(
            rom.options.raw.get("51").map(String::as_str),
            Some("0x00000e10")
        );
        let sun = &hosts[1];
        assert_eq!(
            sun.options.routers, None,
            "gw@ removed the template's router"
        );
        assert_eq!(
            sun.options.raw.get("66").map(String::as_str),
            Some("626f6f742e6578616d706c65")
        );
    }

    #[test]
    fn errors_carry_the_line() {
        let e = parse("\n\nx:ha=0200:ip=192.0.2.1:\n").expect_err("short ha");
        assert_eq!(e.line, 3);
        let e = parse("y:tc=nope:ha=020000000001:ip=192.0.2.1:\n").expect_err("missing tc");
        assert!(e.message.contains("nope"));
    }
}

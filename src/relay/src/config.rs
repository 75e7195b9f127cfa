//! The relay agent's configuration file (TOML).

use std::net::Ipv4Addr;
use std::path::Path;

use bootlab_net::config::{invalid_key, ConfigError};
use bootlab_net::delivery::{NeighbourState, ReplyPolicy};
use serde::Deserialize;

/// `bootlab relay` configuration (TOML, keys in kebab-case).
///
/// ```toml
/// interfaces = ["c0", "c1"]        # client-side interfaces: requests are taken there, giaddr is
///                                  # the interface's first address (RFC 1542 §4.1.1), required
/// interface = "c0"                 # accepted instead of `interfaces` for a one-armed relay
/// servers = ["198.51.100.1"]       # every request goes to all of them, port 67; required
/// hop-limit = 4                    # drop requests with more hops (RFC 1542 §4.1.1; at most 16)
/// min-message-size = 300          # drop shorter requests and replies (RFC 1542 §2.1); 236..299
///                                  # is an opt-in tolerance (Kea's replies are 262 octets)
/// secs-threshold = 0               # forward only once secs reaches this (RFC 1542 §4.1.1)
/// reply-policy = "rfc1542"         # client-link delivery: rfc1542 | neighbour | raw | broadcast
/// neighbour-state = "reachable"    # reachable | permanent
/// events = true                   # per-packet events (forwarded, reply-relayed) on stdout
/// time-scale = 1.0                 # accepted for symmetry with the other daemons
/// seed = 0
///
/// [option82]                       # RFC 3046 relay agent information
/// insert = false                   # add option 82 to requests (off by default, RFC 3046 §2.1)
/// circuit-id = "{interface}"       # sub-option 1; `{interface}` is the receiving interface name;
///                                  # "0x..." gives raw hex bytes
/// remote-id = "relay-1"            # sub-option 2, same syntax
/// existing = "keep"                # a client request that already has option 82 (giaddr 0):
///                                  # keep | replace | drop (RFC 3046 §2.1 untrusted circuit)
/// strip-replies = true             # remove option 82 from replies before delivery (§2.1)
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Client-side interfaces.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// One client-side interface (the lab's default key); joined to `interfaces`.
    #[serde(default)]
    pub interface: Option<String>,
    /// BOOTP/DHCP servers (or next relays).
    pub servers: Vec<Ipv4Addr>,
    /// Hop limit.
    #[serde(default = "default_hop_limit")]
    pub hop_limit: u8,
    /// Messages (requests and replies) shorter than this many octets are dropped. The default,
    /// 300, is RFC 1542 §2.1's "discard shorter messages"; down to 236 (the fixed header) is a
    /// deliberate tolerance, e.g. to relay Kea's 262-octet replies. The lab's FMT-SIZE-01 still
    /// reports the sender; this only decides whether our relay passes the message on.
    #[serde(default = "default_min_message_size")]
    pub min_message_size: usize,
    /// Minimum `secs` to forward.
    #[serde(default)]
    pub secs_threshold: u16,
    /// Client-link delivery for clients without an address.
    #[serde(default)]
    pub reply_policy: ReplyPolicy,
    /// State of neighbour entries installed.
    #[serde(default)]
    pub neighbour_state: NeighbourState,
    /// Emit per-packet events.
    #[serde(default = "yes")]
    pub events: bool,
    /// Protocol clock speed (unused by the relay, accepted).
    #[serde(default = "default_time_scale")]
    pub time_scale: f64,
    /// Seed (unused by the relay, accepted).
    #[serde(default)]
    pub seed: u64,
    /// Option 82 handling.
    #[serde(default)]
    pub option82: Option82,
}

fn default_hop_limit() -> u8 {
    4
}
fn default_min_message_size() -> usize {
    bootlab_wire::bootp::MIN_MESSAGE_LEN
}
fn default_time_scale() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

/// Relay agent information handling (RFC 3046).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Option82 {
    /// Insert option 82 into requests this relay is first to handle.
    #[serde(default)]
    pub insert: bool,
    /// Agent circuit id (sub-option 1) template.
    #[serde(default)]
    pub circuit_id: Option<String>,
    /// Agent remote id (sub-option 2) template.
    #[serde(default)]
    pub remote_id: Option<String>,
    /// What to do with a client request that already carries option 82.
    #[serde(default)]
    pub existing: Existing,
    /// Strip option 82 from replies.
    #[serde(default = "yes")]
    pub strip_replies: bool,
}

impl Default for Option82 {
    fn default() -> Self {
        Self {
            insert: false,
            circuit_id: None,
            remote_id: None,
            existing: Existing::Keep,
            strip_replies: true,
        }
    }
}

/// Policy for a request that arrives with option 82 and giaddr 0 (RFC 3046 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Existing {
    /// Forward it unchanged, adding nothing.
    #[default]
    Keep,
    /// Replace it by ours.
    Replace,
    /// Drop the request (the circuit is untrusted).
    Drop,
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let (mut c, text): (Config, String) = bootlab_net::config::load(path)?;
        c.validate(&text, path)?;
        Ok(c)
    }

    /// Parses and validates TOML `text`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut c: Config = bootlab_net::config::parse(text, path)?;
        c.validate(text, path)?;
        Ok(c)
    }

    fn validate(&mut self, text: &str, path: &Path) -> Result<(), ConfigError> {
        if let Some(i) = self.interface.take() {
            if !self.interfaces.contains(&i) {
                self.interfaces.push(i);
            }
        }
        if self.interfaces.is_empty() {
            return Err(invalid_key(
                text,
                path,
                "interfaces",
                "name at least one client-side interface",
            ));
        }
        if self.servers.is_empty() {
            // RFC 1542 §4.1.1: relaying is off until destinations are configured.
            return Err(invalid_key(
                text,
                path,
                "servers",
                "name at least one server",
            ));
        }
        if let Some(s) = self
            .servers
            .iter()
            .find(|s| s.is_broadcast() || s.is_unspecified())
        {
            return Err(invalid_key(
                text,
                path,
                "servers",
                &format!("{s}: a relay forwards to unicast addresses only"),
            ));
        }
        bootlab_net::config::check_min_message_size(text, path, self.min_message_size)?;
        if self.hop_limit > 16 {
            return Err(invalid_key(
                text,
                path,
                "hop-limit",
                "RFC 1542 §4.1.1 allows at most 16",
            ));
        }
        for (key, v) in [
            ("circuit-id", &self.option82.circuit_id),
            ("remote-id", &self.option82.remote_id),
        ] {
            if let Some(v) = v {
                if sub_option_bytes(v, "x")
                    .map(|b| b.is_empty() || b.len() > 255)
                    .unwrap_or(true)
                {
                    return Err(invalid_key(
                        text,
                        path,
                        key,
                        "1 to 255 bytes of text, or 0x followed by hex",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The bytes of a circuit-id/remote-id template for `interface`: `0x...` is hex, anything else
/// text with `{interface}` replaced. `None` for bad hex.
pub fn sub_option_bytes(template: &str, interface: &str) -> Option<Vec<u8>> {
    if let Some(hex) = template.strip_prefix("0x") {
        if hex.len() % 2 != 0 {
            return None;
        }
        return (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|d| u8::from_str_radix(d, 16).ok())
            })
            .collect();
    }
    Some(template.replace("{interface}", interface).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_defaults() {
        let c = Config::parse(
            "interfaces = [\"c0\"]\nservers = [\"198.51.100.1\"]\n[option82]\ninsert = true\ncircuit-id = \"{interface}\"\n",
            Path::new("r.toml"),
        )
        .expect("valid");
        assert_eq!(c.hop_limit, 4);
        assert!(c.option82.insert && c.option82.strip_replies);
        assert_eq!(c.option82.existing, Existing::Keep);
    }

    #[test]
    fn a_single_interface_key_is_accepted() {
        let c = Config::parse(
            "interface = \"eth0\"\nservers = [\"192.0.2.1\"]\n",
            Path::new("r.toml"),
        )
        .expect("valid");
        assert_eq!(c.interfaces, vec!["eth0".to_string()]);
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::parse("interfaces = [\"c0\"]\nservers = []\n", Path::new("r.toml"))
            .expect_err("no servers");
        assert!(e.to_string().starts_with("r.toml:2:"), "{e}");
        let e = Config::parse(
            "interfaces = [\"c0\"]\nservers = [\"192.0.2.1\"]\nhop-limit = 17\n",
            Path::new("r.toml"),
        )
        .expect_err("hops");
        assert!(e.to_string().contains("hop-limit"), "{e}");
    }

    #[test]
    fn sub_option_templates() {
        assert_eq!(sub_option_bytes("{interface}", "c0"), Some(b"c0".to_vec()));
        assert_eq!(sub_option_bytes("0x0102", "c0"), Some(vec![1, 2]));
        assert_eq!(sub_option_bytes("0x012", "c0"), None);
    }
}

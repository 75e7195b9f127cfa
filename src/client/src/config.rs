//! The configuration file of `bootlab client` (TOML, kebab-case keys). One flat table; `kind`
//! selects the client and which keys apply. Durations are in seconds (fractions allowed) of
//! protocol time: `time-scale` speeds every timer up while packets keep protocol-correct values.
//!
//! ```toml
//! kind = "dhcp"                # "dhcp" | "bootp" | "rom"
//! interface = "eth0"
//! seed = 7
//! time-scale = 10.0
//! lease-file = "/run/bootlab/client.lease"
//! stop-after = "bound"         # "bound" | "reply" | "never"
//! release-after = 5
//! quirks = ["q162396-no-decline"]
//! ```

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use bootlab_net::config::ConfigError;
use bootlab_wire::bootp::DhcpOption;
use serde::Deserialize;

use crate::acd::AcdTiming;
use crate::backoff::Backoff;
use crate::bootp::{BootpConfig, VendorArea};
use crate::dhcp::{DhcpConfig, DhcpQuirks, RenewMode};
use crate::rom::{pxe_options, ArpMode, RomConfig, Sequence, ServerMac};

/// Which client runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The RFC 2131 DHCP client.
    Dhcp,
    /// The RFC 951 BOOTP client.
    Bootp,
    /// The boot ROM: raw Ethernet, BOOTP then TFTP.
    Rom,
}

/// When the daemon exits by itself (it always exits on SIGTERM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopAfter {
    /// DHCP: once bound and the announcements are out. BOOTP: once the reply is applied.
    Bound,
    /// BOOTP: once a reply arrived (same as `bound`).
    Reply,
    /// Keep running (renewing, rebinding) until SIGTERM, a release or the end of the work.
    Never,
}

/// A value out of range, or a key that does not fit the kind. [`ClientConfig::load`] turns it
/// into a `bootlab_net::config::ConfigError` naming the file and line.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyError {
    /// The key.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

/// The whole file. Keys that do not apply to `kind` are rejected by [`ClientConfig::validate`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClientConfig {
    /// Which client.
    pub kind: Kind,
    /// The interface (or `--interface`).
    pub interface: Option<String>,
    /// Seed of every random choice (or `--seed`); default 1.
    pub seed: Option<u64>,
    /// Timers run this many times faster than real time (or `--time-scale`); default 1.
    pub time_scale: Option<f64>,
    /// Give up after this many seconds without reaching the goal (DHCP: without binding once;
    /// exit status 1, event `gave-up`).
    pub timeout: Option<f64>,
    /// When to exit by itself.
    pub stop_after: Option<StopAfter>,
    /// Put the address on the interface over netlink when bound (DHCP, BOOTP); default true.
    pub configure: Option<bool>,
    /// Random wait before the first message, seconds: uniform in [min(1, max), max]. DHCP
    /// defaults to 10 (1 to 10 s, RFC 2131 §4.4.1); BOOTP and the ROM to 0; 0 turns it off.
    pub start_delay: Option<f64>,
    /// Named historic behaviours: `q162396-no-decline` (DHCP), `secs-zero` (BOOTP, ROM).
    #[serde(default)]
    pub quirks: Vec<String>,
    /// Set the B flag (RFC 1542 §3.1.1).
    pub broadcast_flag: Option<bool>,

    // --- DHCP ---
    /// Where the lease is kept across runs (INIT-REBOOT).
    pub lease_file: Option<PathBuf>,
    /// Option 61: `"mac"` (type 1 + hardware address) or hex bytes.
    pub client_id: Option<String>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 60.
    pub vendor_class: Option<String>,
    /// Option 55 codes.
    pub parameter_request_list: Option<Vec<u8>>,
    /// Option 57; 0 leaves it out.
    pub max_message_size: Option<u16>,
    /// Option 50 in DHCPDISCOVER.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 51 in DHCPDISCOVER/REQUEST.
    pub requested_lease: Option<u32>,
    /// Seconds to collect offers after the first.
    pub select_wait: Option<f64>,
    /// Unanswered REQUESTs before INIT.
    pub request_tries: Option<u32>,
    /// RFC 5227 probing before use; default true.
    pub arp_check: Option<bool>,
    /// PROBE_WAIT.
    pub probe_wait: Option<f64>,
    /// PROBE_NUM.
    pub probe_num: Option<u32>,
    /// PROBE_MIN.
    pub probe_min: Option<f64>,
    /// PROBE_MAX.
    pub probe_max: Option<f64>,
    /// ANNOUNCE_WAIT.
    pub announce_wait: Option<f64>,
    /// ANNOUNCE_NUM.
    pub announce_num: Option<u32>,
    /// ANNOUNCE_INTERVAL.
    pub announce_interval: Option<f64>,
    /// Wait after DHCPDECLINE (10 s).
    pub decline_wait: Option<f64>,
    /// MAX_CONFLICTS.
    pub max_conflicts: Option<u32>,
    /// RATE_LIMIT_INTERVAL.
    pub rate_limit_interval: Option<f64>,
    /// `"normal"`, `"skip-renew"` or `"never"`.
    pub renew: Option<RenewMode>,
    /// Release this many seconds after binding.
    pub release_after: Option<f64>,
    /// Send DHCPRELEASE on SIGTERM.
    pub release_on_exit: Option<bool>,
    /// INFORM mode: the address (with prefix, `192.0.2.50/24`) configured by other means.
    pub inform: Option<String>,
    /// Where DHCPINFORM goes (default broadcast).
    pub inform_server: Option<Ipv4Addr>,
    /// Accept a BOOTP reply as an infinite lease; default true.
    pub accept_bootp: Option<bool>,

    // --- BOOTP and ROM ---
    /// `"rfc1048"` (cookie) or `"plain"`.
    pub vendor: Option<VendorArea>,
    /// A generic boot file name to ask for in the request's `file`.
    pub file: Option<String>,
    /// A server name to ask for in the request's `sname`.
    pub sname: Option<String>,
    /// BOOTREQUESTs before giving up; 0 never.
    pub max_tries: Option<u32>,

    // --- ROM ---
    /// `"silent"` or `"answer"`.
    pub arp: Option<ArpMode>,
    /// `"reply"` or `"arp"`.
    pub server_mac: Option<ServerMac>,
    /// `"simple"` or `"seed-10-step"`.
    pub sequence: Option<Sequence>,
    /// Add PXE options 60/93/94/97 (RFC 4578).
    pub pxe: Option<bool>,
    /// Option 93 architecture (0 = x86 BIOS).
    pub pxe_arch: Option<u16>,
    /// Give up the boot after this many seconds (default `timeout`, else 60), with `transfer-failed`.
    pub give_up_after: Option<f64>,
    /// Read this file instead of the reply's `file`.
    pub boot_file: Option<String>,
    /// TFTP blksize to ask for (RFC 2348).
    pub tftp_blksize: Option<u16>,
    /// Ask for tsize (RFC 2349).
    pub tftp_tsize: Option<bool>,
    /// TFTP first retransmission timeout, seconds.
    pub tftp_timeout: Option<f64>,
    /// TFTP retries.
    pub tftp_retries: Option<u32>,
    /// Seconds between the checks and the second BOOTREQUEST (seed-10-step, 0.5).
    pub confirm_wait: Option<f64>,
    /// ARP requests for the server before giving up.
    pub arp_tries: Option<u32>,
}

fn dur(key: &'static str, v: Option<f64>) -> Result<Option<Duration>, KeyError> {
    match v {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => Err(KeyError {
            key,
            message: format!("{s} is not a duration in seconds"),
        }),
    }
}

fn parse_hex(key: &'static str, s: &str) -> Result<Vec<u8>, KeyError> {
    let clean: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if clean.len() % 2 != 0 || clean.is_empty() {
        return Err(KeyError {
            key,
            message: format!("{s:?} is not hex bytes"),
        });
    }
    (0..clean.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&clean[i..i + 2], 16).map_err(|e| KeyError {
                key,
                message: e.to_string(),
            })
        })
        .collect()
}

const DHCP_ONLY: &[&str] = &[
    "lease-file",
    "client-id",
    "hostname",
    "vendor-class",
    "parameter-request-list",
    "max-message-size",
    "requested-ip",
    "requested-lease",
    "select-wait",
    "request-tries",
    "decline-wait",
    "max-conflicts",
    "rate-limit-interval",
    "renew",
    "release-after",
    "release-on-exit",
    "inform",
    "inform-server",
    "accept-bootp",
];
const ROM_ONLY: &[&str] = &[
    "arp",
    "server-mac",
    "sequence",
    "pxe",
    "pxe-arch",
    "give-up-after",
    "boot-file",
    "tftp-blksize",
    "tftp-tsize",
    "tftp-timeout",
    "tftp-retries",
    "confirm-wait",
    "arp-tries",
];
const BOOTP_ROM: &[&str] = &["vendor", "file", "sname", "max-tries"];

impl ClientConfig {
    /// Reads and validates a file: syntax, unknown keys, keys that do not fit `kind`, values.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let (_, text): (toml::Table, String) = bootlab_net::config::load(path)?;
        Self::parse(&text, path)
    }

    /// Parses and validates TOML `text` as [`ClientConfig::load`] does; `path` is only used in
    /// errors.
    pub fn parse(text: &str, path: &std::path::Path) -> Result<Self, ConfigError> {
        let cfg: ClientConfig = bootlab_net::config::parse(text, path)?;
        let checked = cfg.validate().and_then(|()| match cfg.kind {
            Kind::Dhcp => cfg.dhcp([0; 6]).map(drop),
            Kind::Bootp => cfg.bootp(Vec::new()).map(drop),
            Kind::Rom => cfg.rom([0; 6]).map(drop),
        });
        checked.map_err(|e| bootlab_net::config::invalid_key(text, path, e.key, &e.message))?;
        Ok(cfg)
    }

    fn present(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut k = |name: &'static str, set: bool| {
            if set {
                v.push(name)
            }
        };
        k("lease-file", self.lease_file.is_some());
        k("client-id", self.client_id.is_some());
        k("hostname", self.hostname.is_some());
        k("vendor-class", self.vendor_class.is_some());
        k(
            "parameter-request-list",
            self.parameter_request_list.is_some(),
        );
        k("max-message-size", self.max_message_size.is_some());
        k("requested-ip", self.requested_ip.is_some());
        k("requested-lease", self.requested_lease.is_some());
        k("select-wait", self.select_wait.is_some());
        k("request-tries", self.request_tries.is_some());
        k("decline-wait", self.decline_wait.is_some());
        k("max-conflicts", self.max_conflicts.is_some());
        k("rate-limit-interval", self.rate_limit_interval.is_some());
        k("renew", self.renew.is_some());
        k("release-after", self.release_after.is_some());
        k("release-on-exit", self.release_on_exit.is_some());
        k("inform", self.inform.is_some());
        k("inform-server", self.inform_server.is_some());
        k("accept-bootp", self.accept_bootp.is_some());
        k("arp", self.arp.is_some());
        k("server-mac", self.server_mac.is_some());
        k("sequence", self.sequence.is_some());
        k("pxe", self.pxe.is_some());
        k("pxe-arch", self.pxe_arch.is_some());
        k("give-up-after", self.give_up_after.is_some());
        k("boot-file", self.boot_file.is_some());
        k("tftp-blksize", self.tftp_blksize.is_some());
        k("tftp-tsize", self.tftp_tsize.is_some());
        k("tftp-timeout", self.tftp_timeout.is_some());
        k("tftp-retries", self.tftp_retries.is_some());
        k("confirm-wait", self.confirm_wait.is_some());
        k("arp-tries", self.arp_tries.is_some());
        k("vendor", self.vendor.is_some());
        k("file", self.file.is_some());
        k("sname", self.sname.is_some());
        k("max-tries", self.max_tries.is_some());
        v
    }

    /// Checks that every key fits `kind` and every quirk is known.
    pub fn validate(&self) -> Result<(), KeyError> {
        for key in self.present() {
            let ok = match self.kind {
                Kind::Dhcp => !ROM_ONLY.contains(&key) && !BOOTP_ROM.contains(&key),
                Kind::Bootp => !ROM_ONLY.contains(&key) && !DHCP_ONLY.contains(&key),
                Kind::Rom => !DHCP_ONLY.contains(&key),
            };
            if !ok {
                return Err(KeyError {
                    key,
                    message: format!("does not apply to kind {:?}", self.kind),
                });
            }
        }
        for q in &self.quirks {
            let ok = match q.as_str() {
                "q162396-no-decline" => self.kind == Kind::Dhcp,
                "secs-zero" => self.kind != Kind::Dhcp,
                _ => false,
            };
            if !ok {
                return Err(KeyError {
                    key: "quirks",
                    message: format!("unknown quirk `{q}` for this kind"),
                });
            }
        }
        if let Some(i) = &self.inform {
            parse_cidr(i)?;
        }
        Ok(())
    }

    fn quirk(&self, name: &str) -> bool {
        self.quirks.iter().any(|q| q == name)
    }

    /// The start delay's bounds; `default_max` when the key is absent.
    fn start_delay(&self, default_max: Duration) -> Result<(Duration, Duration), KeyError> {
        Ok(
            match dur("start-delay", self.start_delay)?.or(Some(default_max)) {
                Some(max) if !max.is_zero() => (max.min(Duration::from_secs(1)), max),
                _ => (Duration::ZERO, Duration::ZERO),
            },
        )
    }

    fn acd(&self) -> Result<AcdTiming, KeyError> {
        let d = AcdTiming::rfc5227();
        Ok(AcdTiming {
            probe_wait: dur("probe-wait", self.probe_wait)?.unwrap_or(d.probe_wait),
            probe_num: self.probe_num.unwrap_or(d.probe_num),
            probe_min: dur("probe-min", self.probe_min)?.unwrap_or(d.probe_min),
            probe_max: dur("probe-max", self.probe_max)?.unwrap_or(d.probe_max),
            announce_wait: dur("announce-wait", self.announce_wait)?.unwrap_or(d.announce_wait),
            announce_num: self.announce_num.unwrap_or(d.announce_num),
            announce_interval: dur("announce-interval", self.announce_interval)?
                .unwrap_or(d.announce_interval),
        })
    }

    /// The DHCP core settings; `mac` feeds `client-id = "mac"`.
    pub fn dhcp(&self, mac: [u8; 6]) -> Result<DhcpConfig, KeyError> {
        let d = DhcpConfig::default();
        let client_id = match self.client_id.as_deref() {
            None => None,
            Some("mac") => {
                let mut v = vec![1u8];
                v.extend_from_slice(&mac);
                Some(v)
            }
            Some(hex) => Some(parse_hex("client-id", hex)?),
        };
        Ok(DhcpConfig {
            client_id,
            hostname: self.hostname.clone(),
            vendor_class: self.vendor_class.clone(),
            parameter_request_list: self
                .parameter_request_list
                .clone()
                .unwrap_or(d.parameter_request_list),
            max_message_size: match self.max_message_size {
                Some(0) => None,
                Some(n) => Some(n),
                None => d.max_message_size,
            },
            broadcast_flag: self.broadcast_flag.unwrap_or(false),
            requested_ip: self.requested_ip,
            requested_lease: self.requested_lease,
            // RFC 2131 §4.4.1: wait a random 1 to 10 s before the first DISCOVER.
            start_delay: self.start_delay(Duration::from_secs(10))?,
            select_wait: dur("select-wait", self.select_wait)?.unwrap_or(d.select_wait),
            request_tries: self.request_tries.unwrap_or(d.request_tries),
            inform_tries: d.inform_tries,
            arp_check: self.arp_check.unwrap_or(true),
            acd: self.acd()?,
            decline_wait: dur("decline-wait", self.decline_wait)?.unwrap_or(d.decline_wait),
            max_conflicts: self.max_conflicts.unwrap_or(d.max_conflicts),
            rate_limit_interval: dur("rate-limit-interval", self.rate_limit_interval)?
                .unwrap_or(d.rate_limit_interval),
            renew: self.renew.unwrap_or_default(),
            release_after: dur("release-after", self.release_after)?,
            inform: self
                .inform
                .as_deref()
                .map(parse_cidr)
                .transpose()?
                .map(|(a, _)| a),
            inform_server: self.inform_server,
            accept_bootp: self.accept_bootp.unwrap_or(true),
            backoff: Backoff::default(),
            quirks: DhcpQuirks {
                q162396_no_decline: self.quirk("q162396-no-decline"),
            },
        })
    }

    /// The INFORM address and prefix, when in INFORM mode.
    pub fn inform_cidr(&self) -> Option<(Ipv4Addr, u8)> {
        self.inform.as_deref().and_then(|s| parse_cidr(s).ok())
    }

    /// The BOOTP core settings (also the ROM's BOOTP phase); `options` go after the cookie.
    pub fn bootp(&self, options: Vec<DhcpOption>) -> Result<BootpConfig, KeyError> {
        let d = BootpConfig::default();
        Ok(BootpConfig {
            vendor: self.vendor.unwrap_or_default(),
            options,
            secs_zero: self.quirk("secs-zero"),
            broadcast_flag: self.broadcast_flag.unwrap_or(false),
            file: self.file.clone(),
            sname: self.sname.clone(),
            start_delay: self.start_delay(Duration::ZERO)?,
            backoff: d.backoff,
            max_tries: self.max_tries.unwrap_or(0),
        })
    }

    /// The boot ROM core settings; `mac` makes the PXE machine id.
    pub fn rom(&self, mac: [u8; 6]) -> Result<RomConfig, KeyError> {
        let d = RomConfig::default();
        let options = if self.pxe.unwrap_or(false) {
            let mut guid = [0u8; 16];
            guid[10..].copy_from_slice(&mac);
            pxe_options(self.pxe_arch.unwrap_or(0), guid)
        } else {
            Vec::new()
        };
        let mut tftp = d.tftp.clone();
        tftp.blksize = self.tftp_blksize;
        tftp.tsize = self.tftp_tsize.unwrap_or(false);
        if let Some(t) = dur("tftp-timeout", self.tftp_timeout)? {
            tftp.retransmit = t;
        }
        if let Some(r) = self.tftp_retries {
            tftp.retries = r;
        }
        Ok(RomConfig {
            bootp: self.bootp(options)?,
            arp: self.arp.unwrap_or_default(),
            server_mac: self.server_mac.unwrap_or_default(),
            sequence: self.sequence.unwrap_or_default(),
            checks: d.checks,
            confirm_wait: dur("confirm-wait", self.confirm_wait)?.unwrap_or(d.confirm_wait),
            arp_tries: self.arp_tries.unwrap_or(d.arp_tries),
            arp_interval: d.arp_interval,
            // For the ROM `timeout` is the same bound: it ends in `transfer-failed` (Q164394).
            give_up_after: dur("give-up-after", self.give_up_after)?
                .or(dur("timeout", self.timeout)?)
                .unwrap_or(d.give_up_after),
            tftp,
            file_override: self.boot_file.clone(),
        })
    }
}

/// `a.b.c.d/len` (or a bare address: /32).
fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), KeyError> {
    let bad = || KeyError {
        key: "inform",
        message: format!("{s:?} is not an IPv4 address/prefix"),
    };
    let (a, p) = s.split_once('/').unwrap_or((s, "32"));
    let a: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
    let p: u8 = p.trim().parse().map_err(|_| bad())?;
    if p > 32 {
        return Err(bad());
    }
    Ok((a, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ClientConfig, String> {
        let c: ClientConfig = bootlab_net::config::parse(s, std::path::Path::new("t.toml"))
            .map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn dhcp_keys_map_to_the_core() {
        let c = parse(
            r#"
            kind = "dhcp"
            interface = "c0"
            client-id = "mac"
            decline-wait = 2.5
            renew = "skip-renew"
            release-after = 5
            quirks = ["q162396-no-decline"]
            "#,
        )
        .expect("valid");
        let d = c.dhcp([2, 0, 0, 0, 0, 1]).expect("dhcp");
        assert_eq!(d.client_id, Some(vec![1, 2, 0, 0, 0, 0, 1]));
        assert_eq!(d.decline_wait, Duration::from_millis(2500));
        assert_eq!(d.renew, RenewMode::SkipRenew);
        assert_eq!(d.release_after, Some(Duration::from_secs(5)));
        assert!(d.quirks.q162396_no_decline);
    }

    #[test]
    fn rom_keys_and_kind_checks() {
        let c = parse(
            r#"
            kind = "rom"
            arp = "answer"
            server-mac = "arp"
            sequence = "seed-10-step"
            pxe = true
            quirks = ["secs-zero"]
            "#,
        )
        .expect("valid");
        let r = c.rom([2, 0, 0, 0, 0, 1]).expect("rom");
        assert_eq!(
            (r.arp, r.server_mac, r.sequence),
            (ArpMode::Answer, ServerMac::Arp, Sequence::Seed10Step)
        );
        assert!(r.bootp.secs_zero);
        assert_eq!(r.bootp.options.len(), 4);
        assert!(
            parse("kind = \"rom\"\nrenew = \"never\"").is_err(),
            "DHCP key on a ROM"
        );
        assert!(parse("kind = \"dhcp\"\nquirks = [\"secs-zero\"]").is_err());
        let e = parse("kind = \"dhcp\"\nno-such-key = 1").expect_err("unknown key");
        assert!(e.starts_with("t.toml:2:"), "{e}");
        assert!(parse("kind = \"dhcp\"\ninform = \"192.0.2.50/24\"").is_ok());
        assert!(parse("kind = \"dhcp\"\ninform = \"192.0.2.50/33\"").is_err());
    }
}

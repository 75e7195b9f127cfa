//! Third-party implementations described by data (`lab/profiles/*.toml`): which roles a program can
//! fill, the config files and command line it needs (templates filled from the scenario's
//! [`RoleParams`]), how to tell it is ready, which events it reports, and which scenario features
//! it does not support. Adding a vendor is writing a profile, not Rust code.
//!
//! A scenario engineer launches a peer with
//! [`ProfileSet::load_default`] → [`ProfileSet::get`] → [`Profile::render`] (pure) →
//! [`Rendered::write_files`] → [`Rendered::command`] (or `program`/`argv`/`env` for a custom
//! spawn inside the host's namespace), then feeds every stdout/stderr line to
//! [`Rendered::ready_on_line`] and [`Rendered::events_on_line`], and the exit status to
//! [`Rendered::events_on_exit`]. See `lab/profiles/README.md` for the file format.

use crate::plan::role_kind::RoleKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The shell library every client hook sources (`lab/profiles/hooks/`): `bootlab_event NAME k v...`.
pub const HOOK_LIBRARY: &str = "bootlab-event.sh";

/// Default directory of the conflicting peers unpacked by `ci/install-debian-packages.sh`.
pub const DEFAULT_PEERS_DIR: &str = "/opt/bootlab-peers";

/// Errors from loading or rendering a profile; each names the profile (or file) and the field.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A profile file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A profile file is not valid TOML or does not match the format.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What toml/serde said (includes the line).
        message: String,
    },
    /// A profile is well-formed TOML but inconsistent.
    #[error("profile {profile}: {field}: {message}")]
    Invalid {
        /// The profile name.
        profile: String,
        /// The field, e.g. `ready.log`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A template failed to render.
    #[error("profile {profile}: {field}: {source}")]
    Template {
        /// The profile name.
        profile: String,
        /// Which template (`files[dhcpd.conf]`, `command[3]`, `env.KEA_PIDFILE_DIR`...).
        field: String,
        /// The template error.
        source: TemplateError,
    },
    /// Writing a rendered file into the state directory failed.
    #[error("profile {profile}: writing {path}: {source}")]
    Write {
        /// The profile name.
        profile: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No profile by that name.
    #[error("no profile named {0:?}")]
    Unknown(String),
}

// ---------------------------------------------------------------------------------------------
// Role parameters
// ---------------------------------------------------------------------------------------------

/// An IPv4 subnet, written `192.0.2.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    /// The network address (host bits zero).
    pub network: Ipv4Addr,
    /// The prefix length, 0..=32.
    pub prefix: u8,
}

impl Subnet {
    /// The netmask, e.g. 255.255.255.0 for /24.
    pub fn mask(&self) -> Ipv4Addr {
        let bits = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        Ipv4Addr::from(bits)
    }
    /// The template form: `network`, `prefix`, `mask`, `broadcast`, `cidr`.
    pub fn context(&self) -> serde_json::Value {
        serde_json::json!({
            "network": self.network.to_string(), "prefix": self.prefix, "mask": self.mask().to_string(),
            "broadcast": self.broadcast().to_string(), "cidr": self.to_string(),
        })
    }
    /// The directed broadcast address (RFC 919).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !u32::from(self.mask()))
    }
}

impl FromStr for Subnet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("subnet {s:?}: expected ADDRESS/PREFIX"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("subnet {s:?}: bad address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("subnet {s:?}: bad prefix"))?;
        let mut sn = Subnet {
            network: addr,
            prefix,
        };
        sn.network = Ipv4Addr::from(u32::from(addr) & u32::from(sn.mask()));
        Ok(sn)
    }
}
impl TryFrom<String> for Subnet {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}
impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}
impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// An Ethernet hardware address (`chaddr` for htype 1), written `02:00:00:00:00:01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = [0u8; 6];
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(format!(
                "MAC {s:?}: expected six hex octets separated by ':'"
            ));
        }
        for (o, p) in out.iter_mut().zip(parts) {
            *o = u8::from_str_radix(p, 16).map_err(|_| format!("MAC {s:?}: bad octet {p:?}"))?;
        }
        Ok(Mac(out))
    }
}
impl TryFrom<String> for Mac {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}
impl From<Mac> for String {
    fn from(m: Mac) -> String {
        m.to_string()
    }
}
impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// A dynamic address pool (RFC 2131 §4.3.1 "available addresses"), inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// First address.
    pub start: Ipv4Addr,
    /// Last address.
    pub end: Ipv4Addr,
}

/// A static binding (RFC 951 bootptab entry; RFC 2131 §4.3.1 manual allocation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The client's hardware address.
    pub mac: Mac,
    /// The address it gets (`yiaddr`).
    pub address: Ipv4Addr,
    /// Its boot file (`file`), if it differs from the role's `boot_file`.
    #[serde(default)]
    pub bootfile: Option<String>,
    /// Its host name (option 12; the bootptab entry name).
    #[serde(default)]
    pub hostname: Option<String>,
}

/// What a role's templates can use: one flat set of parameters for every role kind, filled from
/// the scenario (`roles.NAME.config`), shared by our implementations and the peers' profiles.
/// Unknown keys are ignored (a role's config may carry keys for our daemons only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoleParams {
    // --- every role ---
    /// The lab interface this role uses (server, client, TFTP).
    pub interface: Option<String>,
    /// This host's hardware address on `interface` (clients; iPXE's NIC).
    pub mac: Option<Mac>,
    // --- servers (DHCP/BOOTP) ---
    /// The server's own address on `interface` (`siaddr`/server identifier).
    pub server_address: Option<Ipv4Addr>,
    /// The served subnet.
    pub subnet: Option<Subnet>,
    /// The dynamic pool.
    pub pool: Option<Pool>,
    /// Static bindings.
    pub bindings: Vec<Binding>,
    /// `siaddr` for boot replies (RFC 951 §3; option 66's address).
    pub next_server: Option<Ipv4Addr>,
    /// The default boot file (`file`).
    pub boot_file: Option<String>,
    /// The directory boot files are served from (`tftp_root`, RFC 951 "bootdir").
    #[serde(alias = "boot_dir")]
    pub tftp_root: Option<PathBuf>,
    /// Lease time in seconds (option 51).
    pub lease_time: Option<u32>,
    /// Do not answer requests whose `secs` is below this (RFC 1542 §4.1.1 / RFC 951 §8).
    pub secs_threshold: Option<u16>,
    /// The router option (3).
    pub router: Option<Ipv4Addr>,
    /// The subnet of the server's own interface when it differs from `subnet` (a server behind a
    /// relay must declare its own segment too).
    pub server_subnet: Option<Subnet>,
    /// The pre-offer address check (servers: ICMP echo/ARP; clients: RFC 5227 probe): unset = the
    /// implementation's default, `false` = off (faster runs), `true` = on.
    pub conflict_check: Option<bool>,
    /// Serve BOOTP clients from the dynamic pool too (RFC 1534), not only static bindings.
    pub bootp_dynamic: bool,
    // --- relays ---
    /// The relay's client-side interface.
    pub client_interface: Option<String>,
    /// The relay's server-side interface.
    pub server_interface: Option<String>,
    /// The servers requests are forwarded to.
    pub servers: Vec<Ipv4Addr>,
    /// Maximum `hops` before a request is discarded (RFC 1542 §4.1.1).
    pub hop_limit: Option<u8>,
    // --- clients ---
    /// The hook script the client runs; when unset, the profile's own hook (lab/profiles/hooks/) is used.
    pub hook: Option<PathBuf>,
    /// The lab asks a DHCP client to skip its own random wait before the first DISCOVER
    /// (RFC 2131 §4.4.1), so the run's timing is fixed; false where the scenario judges that wait
    /// (`start-delay = "own"`). A profile that honours it says `quick-start = true`.
    pub quick_start: bool,
    // --- TFTP ---
    /// The TFTP server's root directory.
    pub root: Option<PathBuf>,
    /// This host's address (TFTP server bind address; a relay's client-side address).
    pub address: Option<Ipv4Addr>,
    /// The file a TFTP client fetches.
    pub file: Option<String>,
    /// The server a TFTP client fetches from.
    pub server: Option<Ipv4Addr>,
    /// Where a TFTP client writes the file (default: `STATE_DIR/download`).
    pub output: Option<PathBuf>,
    /// The block size a TFTP client asks for (RFC 2348 `blksize`).
    pub blksize: Option<u16>,
    /// The window size a TFTP client asks for (RFC 7440 `windowsize`).
    pub windowsize: Option<u16>,
    /// A TFTP client asks for the transfer size (RFC 2349 `tsize` 0 in a read request).
    pub tsize: bool,
}

impl RoleParams {
    /// Reads the parameters from a scenario role's `config` table; keys may be written
    /// `kebab-case` or `snake_case`.
    pub fn from_config(config: &toml::Table) -> Result<RoleParams, toml::de::Error> {
        fn snake(v: &toml::Value) -> toml::Value {
            match v {
                toml::Value::Table(t) => toml::Value::Table(
                    t.iter()
                        .map(|(k, v)| (k.replace('-', "_"), snake(v)))
                        .collect(),
                ),
                toml::Value::Array(a) => toml::Value::Array(a.iter().map(snake).collect()),
                other => other.clone(),
            }
        }
        snake(&toml::Value::Table(config.clone())).try_into()
    }

    /// The template context: every parameter plus derived forms (`subnet.mask`,
    /// `bindings[].mac_hex`, `pool.size`...). Unset parameters are absent, so `{{x}}` on one is an
    /// error and `{{#if x}}` is false.
    pub fn context(&self) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            if !v.is_null() {
                m.insert(k.to_string(), v);
            }
        };
        let s = |x: &Option<Ipv4Addr>| {
            x.map(|a| Value::String(a.to_string()))
                .unwrap_or(Value::Null)
        };
        let p = |x: &Option<PathBuf>| {
            x.as_ref()
                .map(|a| Value::String(a.display().to_string()))
                .unwrap_or(Value::Null)
        };
        put(
            "interface",
            self.interface
                .clone()
                .map(Value::String)
                .unwrap_or(Value::Null),
        );
        if let Some(mac) = self.mac {
            put("mac", mac_json(mac));
        }
        put("server_address", s(&self.server_address));
        if let Some(sn) = self.subnet {
            put("subnet", sn.context());
        }
        if let Some(pool) = self.pool {
            let size = u32::from(pool.end).saturating_sub(u32::from(pool.start)) + 1;
            put(
                "pool",
                json!({"start": pool.start.to_string(), "end": pool.end.to_string(), "size": size}),
            );
        }
        let bindings: Vec<Value> = self
            .bindings
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mut o = Map::new();
                o.insert("address".into(), Value::String(b.address.to_string()));
                if let Value::Object(mac) = mac_json(b.mac) {
                    o.insert("mac".into(), mac["colon"].clone());
                    o.insert("mac_hex".into(), mac["hex"].clone());
                }
                if let Some(f) = b.bootfile.as_ref().or(self.boot_file.as_ref()) {
                    o.insert("bootfile".into(), Value::String(f.clone()));
                }
                let name = b
                    .hostname
                    .clone()
                    .unwrap_or_else(|| format!("host{}", i + 1));
                if let Some(h) = &b.hostname {
                    o.insert("hostname".into(), Value::String(h.clone()));
                }
                o.insert("name".into(), Value::String(name));
                Value::Object(o)
            })
            .collect();
        put("bindings", Value::Array(bindings));
        put("next_server", s(&self.next_server));
        put(
            "boot_file",
            self.boot_file
                .clone()
                .map(Value::String)
                .unwrap_or(Value::Null),
        );
        put("tftp_root", p(&self.tftp_root));
        put("boot_dir", p(&self.tftp_root));
        put(
            "lease_time",
            self.lease_time.map(Value::from).unwrap_or(Value::Null),
        );
        put(
            "secs_threshold",
            self.secs_threshold.map(Value::from).unwrap_or(Value::Null),
        );
        put("router", s(&self.router));
        if let Some(sn) = self.server_subnet {
            put("server_subnet", sn.context());
        }
        put(
            "conflict_check",
            self.conflict_check.map(Value::Bool).unwrap_or(Value::Null),
        );
        put(
            "no_conflict_check",
            Value::Bool(self.conflict_check == Some(false)),
        );
        put("bootp_dynamic", Value::Bool(self.bootp_dynamic));
        if let Some(t) = self.lease_time {
            put("lease_time_hex", Value::String(format!("{t:08x}")));
        }
        put(
            "client_interface",
            self.client_interface
                .clone()
                .map(Value::String)
                .unwrap_or(Value::Null),
        );
        put(
            "server_interface",
            self.server_interface
                .clone()
                .map(Value::String)
                .unwrap_or(Value::Null),
        );
        put(
            "servers",
            Value::Array(
                self.servers
                    .iter()
                    .map(|a| Value::String(a.to_string()))
                    .collect(),
            ),
        );
        put(
            "hop_limit",
            self.hop_limit.map(Value::from).unwrap_or(Value::Null),
        );
        put("hook", p(&self.hook));
        if self.quick_start {
            put("quick_start", Value::Bool(true));
        }
        put("root", p(&self.root));
        put("address", s(&self.address));
        put(
            "file",
            self.file.clone().map(Value::String).unwrap_or(Value::Null),
        );
        put("server", s(&self.server));
        put("output", p(&self.output));
        put(
            "blksize",
            self.blksize.map(Value::from).unwrap_or(Value::Null),
        );
        put(
            "windowsize",
            self.windowsize.map(Value::from).unwrap_or(Value::Null),
        );
        if self.tsize {
            put("tsize", Value::Bool(true));
        }
        Value::Object(m)
    }
}

/// A MAC in the spellings configs want: `{{mac}}` is not allowed (an object); use `{{mac.colon}}`
/// (`02:00:00:00:00:01`), `{{mac.hex}}` (`020000000001`, bootptab `ha=`) or `{{mac.dash}}`.
fn mac_json(mac: Mac) -> serde_json::Value {
    let hex: String = mac.0.iter().map(|b| format!("{b:02x}")).collect();
    serde_json::json!({"colon": mac.to_string(), "hex": hex, "dash": mac.to_string().replace(':', "-")})
}

// ---------------------------------------------------------------------------------------------
// The profile file
// ---------------------------------------------------------------------------------------------

/// Isolation a peer needs beyond its host's network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    /// A private UTS namespace with [`Profile::hostname`] set (and usually `/etc/hosts` bound
    /// over): CMU bootpd/bootpgw take their own address from `gethostname()`.
    PrivateHostname,
    /// A private mount namespace with [`Profile::tmpfs`] and [`Profile::bind`] applied.
    PrivateMounts,
    /// A usable `/dev/net/tun` (root-only on the lab machines): qemu with a tap.
    Tun,
    /// A `/dev/log` datagram sink: the daemon logs only to syslog (tftpd-hpa).
    DevLog,
}

/// A scenario feature the implementation does not support: the matrix shows n/a with `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unsupported {
    /// The feature name (kebab-case, e.g. `secs-threshold`, `option-82`, `bootp-dynamic`).
    pub feature: String,
    /// Why, for the matrix.
    pub reason: String,
}

/// A file written into the state directory before launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTemplate {
    /// The path, relative to the state directory (no `..`).
    pub path: String,
    /// The contents, a template (may be empty: e.g. a lease file that must exist).
    #[serde(default)]
    pub template: String,
    /// Unix mode, e.g. `0o755` for a script (default 0o644).
    #[serde(default)]
    pub mode: Option<u32>,
}

/// A bind mount in the peer's private mount namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindMount {
    /// The source (a template, usually a file in `{{state_dir}}`).
    pub source: String,
    /// The target (an absolute system path, e.g. `/etc/hosts`).
    pub target: String,
}

/// One command-line element: a string (dropped when it renders empty), or a group of strings
/// repeated for each element of a list or kept only under a condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Arg {
    /// One argument (a template).
    One(String),
    /// Several arguments under a condition or a loop.
    Group(ArgGroup),
}

/// `{ if = "x", args = [...] }`, `{ unless = "x", args = [...] }` or `{ each = "servers", args = ["{{this}}"] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgGroup {
    /// Kept only if this path is truthy.
    #[serde(default, rename = "if")]
    pub if_: Option<String>,
    /// Kept only if this path is falsy.
    #[serde(default)]
    pub unless: Option<String>,
    /// Repeated for each element of this list (`{{this}}` is the element).
    #[serde(default)]
    pub each: Option<String>,
    /// The arguments (templates).
    pub args: Vec<String>,
}

/// How to tell the program is ready to serve (servers, relays) — checked by the lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Ready {
    /// A line on stdout or stderr matches this regex.
    Log(String),
    /// A UDP socket bound to this port shows in the program's network namespace.
    UdpPort(u16),
    /// This file (a template, usually under `{{state_dir}}`) appears.
    File(String),
    /// Ready as soon as it is started (clients).
    Started,
}

/// A rule turning program output or exit into a lab event (`{"event": NAME, ...}`), for programs
/// that cannot print event lines themselves. Named regex groups become event fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRule {
    /// The event name (see `bootlab_net::events`).
    pub event: String,
    /// Emitted when a stdout/stderr line matches this regex.
    #[serde(default)]
    pub log: Option<String>,
    /// Emitted when the program exits with this status.
    #[serde(default)]
    pub exit: Option<i32>,
}

/// One implementation of one or more roles, as read from `lab/profiles/NAME.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Profile {
    /// The name scenarios and `--impl` use (the file stem).
    pub name: String,
    /// One line for people.
    pub about: String,
    /// The Debian package that ships it.
    pub package: String,
    /// The executable; `{{peers_dir}}` expands to the private unpack directory.
    pub binary: String,
    /// Other files that must exist for it to run (e.g. iPXE's ROM image); checked by
    /// [`Profile::installation`] like the binary.
    #[serde(default)]
    pub requires: Vec<String>,
    /// Arguments that print its version (for reports), if any.
    #[serde(default)]
    pub version_args: Vec<String>,
    /// The roles it can fill.
    pub roles: Vec<RoleKind>,
    /// True when it cannot run in a rootless (user namespace) lab.
    #[serde(default)]
    pub needs_root: bool,
    /// Why it needs root (for the matrix).
    #[serde(default)]
    pub needs_root_reason: Option<String>,
    /// Isolation beyond a network namespace.
    #[serde(default)]
    pub needs: Vec<Need>,
    /// The private hostname (template) when `needs` has `private-hostname`.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Directories to cover with a private tmpfs (`private-mounts`).
    #[serde(default)]
    pub tmpfs: Vec<String>,
    /// Bind mounts (`private-mounts`).
    #[serde(default)]
    pub bind: Vec<BindMount>,
    /// A hook script from `lab/profiles/hooks/` copied into the state directory as `{{hook}}`,
    /// unless the role's parameters name one.
    #[serde(default)]
    pub hook: Option<String>,
    /// Files written into the state directory.
    #[serde(default)]
    pub files: Vec<FileTemplate>,
    /// The command line after the binary.
    pub args: Vec<Arg>,
    /// Environment variables (templates), added to a cleared environment with PATH.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How to tell it is ready.
    pub ready: Ready,
    /// The event that means a client has done its job (`bound`, `transfer-complete`...).
    #[serde(default)]
    pub done: Option<String>,
    /// Output/exit rules that produce events.
    #[serde(default)]
    pub events: Vec<EventRule>,
    /// The signal that stops it cleanly (default `TERM`).
    #[serde(default = "default_stop")]
    pub stop_signal: String,
    /// Scenario features it does not support.
    #[serde(default)]
    pub unsupported: Vec<Unsupported>,
    /// A file from `files` the lab runs with `/bin/sh` inside the host (after the private
    /// mounts/hostname, before the program): e.g. iPXE's tap and bridge.
    #[serde(default)]
    pub setup: Option<String>,
    /// Free-form notes for people.
    #[serde(default)]
    pub notes: Option<String>,
    /// A DHCP client whose templates turn its own start-up wait off when the lab sets
    /// `quick_start` (dhcpcd's `nodelay`): CLI-DELAY-01 then does not judge the wait the lab
    /// shortened.
    #[serde(default)]
    pub quick_start: bool,
    /// The line a DHCP client logs when its own start-up wait begins (RFC 2131 §4.4.1; dhcpcd:
    /// `delaying IPv4 for`). CLI-DELAY-01 measures the wait from when the lab read it rather than
    /// from the process start, so start-up work before it (dhcpcd runs two hook scripts, which
    /// take long on a loaded machine) is not counted as waiting.
    #[serde(default)]
    pub start_wait_log: Option<String>,
}

fn default_stop() -> String {
    "TERM".into()
}

/// Whether a profile's program is present on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installation {
    /// The executable exists.
    Installed(PathBuf),
    /// It does not: install `package` (ci/install-debian-packages.sh).
    NotInstalled {
        /// Where it was looked for.
        binary: PathBuf,
        /// The Debian package that provides it.
        package: String,
    },
}

/// Where a render happens: the per-run state directory and the lookup directories.
#[derive(Debug, Clone)]
pub struct RenderEnv {
    /// The per-run state directory of this role (under the run directory); created by
    /// [`Rendered::write_files`]. All config, lease, pid and log files go here.
    pub state_dir: PathBuf,
    /// The directory holding the unpacked conflicting peers.
    pub peers_dir: PathBuf,
    /// The profiles directory (hooks are in `hooks/` under it).
    pub profiles_dir: PathBuf,
}

impl RenderEnv {
    /// The defaults: `$BOOTLAB_PEERS_DIR` or [`DEFAULT_PEERS_DIR`], and [`default_profiles_dir`].
    pub fn new(state_dir: impl Into<PathBuf>) -> RenderEnv {
        RenderEnv {
            state_dir: state_dir.into(),
            peers_dir: peers_dir(),
            profiles_dir: default_profiles_dir(),
        }
    }
}

/// `$BOOTLAB_PEERS_DIR` or [`DEFAULT_PEERS_DIR`].
pub fn peers_dir() -> PathBuf {
    std::env::var_os("BOOTLAB_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PEERS_DIR))
}

/// `$BOOTLAB_PROFILES`, else found as the scenarios are ([`crate::plan::dirs`]: a checkout's
/// `lab/profiles/`, an installed data directory's `profiles/`, this crate's `profiles/`); when
/// none exists, the last place looked (so the load error names a path).
pub fn default_profiles_dir() -> PathBuf {
    crate::plan::dirs::find(crate::plan::dirs::Data::Profiles, None)
        .unwrap_or_else(|e| e.looked.last().cloned().unwrap_or_default())
}

impl Profile {
    /// Parses one profile file's text; `path` is for error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Profile, ProfileError> {
        let p: Profile = toml::from_str(text).map_err(|e| ProfileError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        p.validate()?;
        Ok(p)
    }

    /// Reads and parses one profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Profile::parse(path, &text)
    }

    fn invalid(&self, field: &str, message: impl Into<String>) -> ProfileError {
        ProfileError::Invalid {
            profile: self.name.clone(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// Checks what serde cannot: templates parse, regexes compile, needs match their fields.
    pub fn validate(&self) -> Result<(), ProfileError> {
        if self.roles.is_empty() {
            return Err(self.invalid("roles", "at least one role"));
        }
        let tmpl = |field: String, t: &str| {
            Template::parse(t)
                .map(|_| ())
                .map_err(|source| ProfileError::Template {
                    profile: self.name.clone(),
                    field,
                    source,
                })
        };
        tmpl("binary".into(), &self.binary)?;
        for f in &self.files {
            if f.path.is_empty() || f.path.starts_with('/') || f.path.split('/').any(|c| c == "..")
            {
                return Err(self.invalid(
                    &format!("files[{}].path", f.path),
                    "must be relative to the state directory, without ..",
                ));
            }
            tmpl(format!("files[{}]", f.path), &f.template)?;
        }
        for (i, a) in self.args.iter().enumerate() {
            match a {
                Arg::One(s) => tmpl(format!("args[{i}]"), s)?,
                Arg::Group(g) => {
                    if [&g.if_, &g.unless, &g.each]
                        .iter()
                        .filter(|x| x.is_some())
                        .count()
                        != 1
                    {
                        return Err(self.invalid(
                            &format!("args[{i}]"),
                            "a group needs exactly one of if, unless, each",
                        ));
                    }
                    for s in &g.args {
                        tmpl(format!("args[{i}]"), s)?;
                    }
                }
            }
        }
        for (k, v) in &self.env {
            tmpl(format!("env.{k}"), v)?;
        }
        if let Some(h) = &self.hostname {
            tmpl("hostname".into(), h)?;
        }
        for b in &self.bind {
            tmpl("bind.source".into(), &b.source)?;
        }
        let re = |field: &str, r: &str| {
            regex::Regex::new(r)
                .map(|_| ())
                .map_err(|e| self.invalid(field, e.to_string()))
        };
        match &self.ready {
            Ready::Log(r) => re("ready.log", r)?,
            Ready::File(f) => tmpl("ready.file".into(), f)?,
            Ready::UdpPort(_) | Ready::Started => {}
        }
        if let Some(r) = &self.start_wait_log {
            re("start-wait-log", r)?;
        }
        for (i, e) in self.events.iter().enumerate() {
            if e.log.is_some() == e.exit.is_some() {
                return Err(self.invalid(&format!("events[{i}]"), "exactly one of log, exit"));
            }
            if let Some(r) = &e.log {
                re(&format!("events[{i}].log"), r)?;
            }
        }
        let has = |n: Need| self.needs.contains(&n);
        if self.hostname.is_some() != has(Need::PrivateHostname) {
            return Err(self.invalid(
                "hostname",
                "set hostname exactly when needs has private-hostname",
            ));
        }
        if (!self.tmpfs.is_empty() || !self.bind.is_empty()) && !has(Need::PrivateMounts) {
            return Err(self.invalid("needs", "tmpfs/bind need private-mounts"));
        }
        let is_client = self.roles.iter().any(|r| {
            matches!(
                r,
                RoleKind::DhcpClient
                    | RoleKind::BootpClient
                    | RoleKind::RomClient
                    | RoleKind::TftpClient
            )
        });
        if is_client && self.done.is_none() {
            return Err(self.invalid("done", "a client profile says which event means done"));
        }
        if let Some(h) = &self.hook {
            if h.contains('/') {
                return Err(self.invalid("hook", "a file name in lab/profiles/hooks/"));
            }
        }
        if let Some(setup) = &self.setup {
            if !self.files.iter().any(|f| &f.path == setup) {
                return Err(self.invalid("setup", "must name one of files[].path"));
            }
        }
        if self.needs_root && self.needs_root_reason.is_none() {
            return Err(self.invalid("needs-root-reason", "say why it needs root"));
        }
        Ok(())
    }

    /// The executable's path on this machine.
    pub fn binary_path(&self, peers_dir: &Path) -> PathBuf {
        let ctx = serde_json::json!({"peers_dir": peers_dir.display().to_string()});
        // validate() parsed it; a render error here can only be a missing variable.
        PathBuf::from(
            Template::parse(&self.binary)
                .and_then(|t| t.render(&ctx))
                .unwrap_or_else(|_| self.binary.clone()),
        )
    }

    /// Whether the executable is present.
    pub fn installation(&self, peers_dir: &Path) -> Installation {
        let binary = self.binary_path(peers_dir);
        if !is_executable(&binary) {
            return Installation::NotInstalled {
                binary,
                package: self.package.clone(),
            };
        }
        match self.requires.iter().find(|f| !Path::new(f).exists()) {
            Some(missing) => Installation::NotInstalled {
                binary: PathBuf::from(missing),
                package: self.package.clone(),
            },
            None => Installation::Installed(binary),
        }
    }

    /// The event names its rules report.
    pub fn event_names(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(|e| e.event.as_str())
    }

    /// Whether this profile can play `role`.
    pub fn fills(&self, role: RoleKind) -> bool {
        self.roles.contains(&role)
    }

    /// `Some(reason)` when the scenario feature is not supported (matrix: n/a).
    pub fn unsupported_reason(&self, feature: &str) -> Option<&str> {
        self.unsupported
            .iter()
            .find(|u| u.feature == feature)
            .map(|u| u.reason.as_str())
    }

    /// Fills every template for one role instance (`role` is one of [`Profile::roles`]; templates
    /// see it as `{{role}}` and `{{#if role_is.bootp_client}}`). Pure: nothing is written until
    /// [`Rendered::write_files`].
    pub fn render(
        &self,
        role: RoleKind,
        params: &RoleParams,
        env: &RenderEnv,
    ) -> Result<Rendered, ProfileError> {
        if !self.fills(role) {
            return Err(self.invalid("roles", format!("does not fill role {}", role.as_str())));
        }
        let state = &env.state_dir;
        let program = self.binary_path(&env.peers_dir);
        // The profile's hook and the shell library it sources, copied next to each other.
        let hook_copy: Vec<(PathBuf, PathBuf)> = match (&params.hook, &self.hook) {
            (Some(_), _) | (None, None) => Vec::new(),
            (None, Some(h)) => [h.as_str(), HOOK_LIBRARY]
                .iter()
                .map(|f| (env.profiles_dir.join("hooks").join(f), state.join(f)))
                .collect(),
        };
        let mut ctx = params.context();
        if let serde_json::Value::Object(m) = &mut ctx {
            let s = |p: &Path| serde_json::Value::String(p.display().to_string());
            m.insert("state_dir".into(), s(state));
            m.insert("peers_dir".into(), s(&env.peers_dir));
            m.insert("binary".into(), s(&program));
            m.insert(
                "profile".into(),
                serde_json::Value::String(self.name.clone()),
            );
            m.insert(
                "role".into(),
                serde_json::Value::String(role.as_str().into()),
            );
            m.insert(
                "role_is".into(),
                serde_json::json!({ role.as_str().replace('-', "_"): true }),
            );
            if let Some((_, dst)) = hook_copy.first() {
                m.insert("hook".into(), s(dst));
            }
            if !m.contains_key("output") {
                m.insert("output".into(), s(&state.join("download")));
            }
        }
        let r = |field: String, t: &str, ctx: &serde_json::Value| {
            Template::parse(t)
                .and_then(|t| t.render(ctx))
                .map_err(|source| ProfileError::Template {
                    profile: self.name.clone(),
                    field,
                    source,
                })
        };
        let mut files = Vec::new();
        for f in &self.files {
            files.push(RenderedFile {
                path: state.join(&f.path),
                contents: r(format!("files[{}]", f.path), &f.template, &ctx)?,
                mode: f.mode.unwrap_or(0o644),
            });
        }
        let mut argv = vec![program.display().to_string()];
        for (i, a) in self.args.iter().enumerate() {
            match a {
                Arg::One(s) => {
                    let v = r(format!("args[{i}]"), s, &ctx)?;
                    if !v.is_empty() {
                        argv.push(v);
                    }
                }
                Arg::Group(g) => {
                    let scopes: Vec<serde_json::Value> = if let Some(each) = &g.each {
                        match lookup(&[&ctx], each) {
                            Some(serde_json::Value::Array(items)) => items.clone(),
                            Some(serde_json::Value::Null) | None => Vec::new(),
                            Some(_) => {
                                return Err(ProfileError::Template {
                                    profile: self.name.clone(),
                                    field: format!("args[{i}]"),
                                    source: TemplateError::NotAList {
                                        path: each.clone(),
                                        offset: 0,
                                    },
                                })
                            }
                        }
                    } else {
                        let cond = g
                            .if_
                            .as_ref()
                            .or(g.unless.as_ref())
                            .map(|p| truthy(lookup(&[&ctx], p)))
                            .unwrap_or(false);
                        if cond == g.if_.is_some() {
                            vec![serde_json::Value::Null]
                        } else {
                            Vec::new()
                        }
                    };
                    for item in scopes {
                        let mut local = ctx.clone();
                        if let serde_json::Value::Object(m) = &mut local {
                            m.insert("this".into(), item);
                        }
                        for s in &g.args {
                            let v = r(format!("args[{i}]"), s, &local)?;
                            if !v.is_empty() {
                                argv.push(v);
                            }
                        }
                    }
                }
            }
        }
        let mut envs = vec![(
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        )];
        for (k, v) in &self.env {
            envs.push((k.clone(), r(format!("env.{k}"), v, &ctx)?));
        }
        let hostname = self
            .hostname
            .as_ref()
            .map(|h| r("hostname".into(), h, &ctx))
            .transpose()?;
        let mut binds = Vec::new();
        for b in &self.bind {
            binds.push((
                PathBuf::from(r("bind.source".into(), &b.source, &ctx)?),
                PathBuf::from(&b.target),
            ));
        }
        let compile = |field: &str, re: &str| {
            regex::Regex::new(re).map_err(|e| self.invalid(field, e.to_string()))
        };
        let ready = match &self.ready {
            Ready::Log(re) => ReadyCheck::Log(compile("ready.log", re)?),
            Ready::UdpPort(p) => ReadyCheck::UdpPort(*p),
            Ready::File(f) => ReadyCheck::File(PathBuf::from(r("ready.file".into(), f, &ctx)?)),
            Ready::Started => ReadyCheck::Started,
        };
        let start_wait = self
            .start_wait_log
            .as_ref()
            .map(|re| compile("start-wait-log", re))
            .transpose()?;
        let mut events = Vec::new();
        for (i, e) in self.events.iter().enumerate() {
            let on = match (&e.log, e.exit) {
                (Some(re), _) => EventOn::Log(compile(&format!("events[{i}].log"), re)?),
                (None, Some(code)) => EventOn::Exit(code),
                (None, None) => {
                    return Err(self.invalid(&format!("events[{i}]"), "exactly one of log, exit"))
                }
            };
            events.push(CompiledEvent {
                event: e.event.clone(),
                on,
            });
        }
        Ok(Rendered {
            profile: self.name.clone(),
            program,
            argv,
            env: envs,
            state_dir: state.clone(),
            files,
            hook_copy,
            hostname,
            tmpfs: self.tmpfs.iter().map(PathBuf::from).collect(),
            binds,
            needs: self.needs.clone(),
            needs_root: self.needs_root,
            ready,
            done: self.done.clone(),
            events,
            stop_signal: self.stop_signal.clone(),
            setup: self.setup.as_ref().map(|f| state.join(f)),
            start_delay_shortened: self.quick_start && params.quick_start,
            start_wait,
        })
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Every profile in a directory, by name.
#[derive(Debug, Clone, Default)]
pub struct ProfileSet {
    /// The profiles, by name.
    pub profiles: BTreeMap<String, Profile>,
    /// Where they were read from (hooks are in `hooks/` under it).
    pub dir: PathBuf,
}

impl ProfileSet {
    /// Loads every `*.toml` in `dir`; a profile's `name` must equal its file stem.
    pub fn load_dir(dir: &Path) -> Result<ProfileSet, ProfileError> {
        let rd = std::fs::read_dir(dir).map_err(|source| ProfileError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut profiles = BTreeMap::new();
        let mut paths: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let p = Profile::load(&path)?;
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if p.name != stem {
                return Err(ProfileError::Invalid {
                    profile: p.name.clone(),
                    field: "name".into(),
                    message: format!("must equal the file stem {stem:?}"),
                });
            }
            if let Some(h) = &p.hook {
                let hp = dir.join("hooks").join(h);
                if !hp.is_file() {
                    return Err(ProfileError::Invalid {
                        profile: p.name.clone(),
                        field: "hook".into(),
                        message: format!("{} does not exist", hp.display()),
                    });
                }
            }
            profiles.insert(p.name.clone(), p);
        }
        Ok(ProfileSet {
            profiles,
            dir: dir.to_path_buf(),
        })
    }

    /// Loads [`default_profiles_dir`].
    pub fn load_default() -> Result<ProfileSet, ProfileError> {
        ProfileSet::load_dir(&default_profiles_dir())
    }

    /// The profile called `name`.
    pub fn get(&self, name: &str) -> Result<&Profile, ProfileError> {
        self.profiles
            .get(name)
            .ok_or_else(|| ProfileError::Unknown(name.to_string()))
    }

    /// Every profile that can fill `role`, by name.
    pub fn for_role(&self, role: RoleKind) -> impl Iterator<Item = &Profile> {
        self.profiles.values().filter(move |p| p.fills(role))
    }

    /// A render environment for `state_dir` using this set's directory.
    pub fn render_env(&self, state_dir: impl Into<PathBuf>) -> RenderEnv {
        RenderEnv {
            state_dir: state_dir.into(),
            peers_dir: peers_dir(),
            profiles_dir: self.dir.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A rendered profile: what the lab launches
// ---------------------------------------------------------------------------------------------

/// A file to write before launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Absolute path under the state directory.
    pub path: PathBuf,
    /// Contents.
    pub contents: String,
    /// Unix mode.
    pub mode: u32,
}

/// The rendered readiness check.
#[derive(Debug, Clone)]
pub enum ReadyCheck {
    /// A stdout/stderr line matches.
    Log(regex::Regex),
    /// A UDP socket on this port exists in the program's namespace (see [`udp_port_bound`]).
    UdpPort(u16),
    /// This file exists.
    File(PathBuf),
    /// Ready once started.
    Started,
}

/// What triggers a synthesized event.
#[derive(Debug, Clone)]
pub enum EventOn {
    /// A stdout/stderr line matches (named groups become fields).
    Log(regex::Regex),
    /// The program exits with this status.
    Exit(i32),
}

/// A compiled event rule.
#[derive(Debug, Clone)]
pub struct CompiledEvent {
    /// The event name.
    pub event: String,
    /// Its trigger.
    pub on: EventOn,
}

/// One role instance of a profile, ready to launch inside its host's namespaces.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The profile name.
    pub profile: String,
    /// The executable.
    pub program: PathBuf,
    /// The full argv (`argv[0]` is `program`).
    pub argv: Vec<String>,
    /// The complete environment (start from an empty one).
    pub env: Vec<(String, String)>,
    /// The per-run state directory.
    pub state_dir: PathBuf,
    /// Files to write.
    pub files: Vec<RenderedFile>,
    /// The profile hook and its library, copied into the state dir: (source, destination).
    pub hook_copy: Vec<(PathBuf, PathBuf)>,
    /// The private hostname to set (`Need::PrivateHostname`).
    pub hostname: Option<String>,
    /// Directories to cover with tmpfs (`Need::PrivateMounts`).
    pub tmpfs: Vec<PathBuf>,
    /// Bind mounts (source, target) (`Need::PrivateMounts`).
    pub binds: Vec<(PathBuf, PathBuf)>,
    /// The isolation it needs.
    pub needs: Vec<Need>,
    /// True if it cannot run rootless.
    pub needs_root: bool,
    /// The readiness check.
    pub ready: ReadyCheck,
    /// The event meaning a client is done.
    pub done: Option<String>,
    /// Event rules.
    pub events: Vec<CompiledEvent>,
    /// The stop signal name (`TERM`, `INT`...).
    pub stop_signal: String,
    /// A script to run with `/bin/sh` in the host before the program (see [`Profile::setup`]).
    pub setup: Option<PathBuf>,
    /// The lab asked the client to skip its start-up wait and the profile honours that
    /// ([`Profile::quick_start`]).
    pub start_delay_shortened: bool,
    /// The line by which a DHCP client says its start-up wait begins
    /// ([`Profile::start_wait_log`]).
    pub start_wait: Option<regex::Regex>,
}

impl Rendered {
    /// Creates the state directory, writes every file and copies the hook.
    pub fn write_files(&self) -> Result<(), ProfileError> {
        use std::os::unix::fs::PermissionsExt;
        let werr = |path: &Path, source| ProfileError::Write {
            profile: self.profile.clone(),
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(&self.state_dir).map_err(|e| werr(&self.state_dir, e))?;
        for f in &self.files {
            if let Some(parent) = f.path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| werr(parent, e))?;
            }
            std::fs::write(&f.path, &f.contents).map_err(|e| werr(&f.path, e))?;
            std::fs::set_permissions(&f.path, std::fs::Permissions::from_mode(f.mode))
                .map_err(|e| werr(&f.path, e))?;
        }
        for (src, dst) in &self.hook_copy {
            std::fs::copy(src, dst).map_err(|e| werr(src, e))?;
            std::fs::set_permissions(dst, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| werr(dst, e))?;
        }
        Ok(())
    }

    /// A `Command` for argv/env with the state directory as working directory. It does not
    /// enter any namespace: spawn it from inside the host (or wrap it, see [`Rendered::isolation_script`]).
    pub fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(&self.program);
        c.args(&self.argv[1..])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.state_dir);
        c
    }

    /// True when the program must start through [`Rendered::launch_argv`]'s wrapper (private
    /// hostname or mounts, or a setup script).
    pub fn needs_wrapper(&self) -> bool {
        self.setup.is_some()
            || self
                .needs
                .iter()
                .any(|n| matches!(n, Need::PrivateHostname | Need::PrivateMounts))
    }

    /// The argv to exec inside the host's namespaces: [`Rendered::argv`] itself, or, when
    /// [`Rendered::needs_wrapper`], `unshare --mount --uts --propagation private -- /bin/sh -c
    /// SCRIPT` running [`Rendered::isolation_script`] (which ends by exec'ing the program, so the
    /// PID stays the program's). Needs CAP_SYS_ADMIN in the host's user namespace (root, or the
    /// lab's own user namespace).
    pub fn launch_argv(&self) -> Vec<String> {
        if !self.needs_wrapper() {
            return self.argv.clone();
        }
        let mut v: Vec<String> = [
            "unshare",
            "--mount",
            "--uts",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push(self.isolation_script());
        v
    }

    /// A `sh -c` script that applies the private hostname and mounts, runs the setup script,
    /// then execs the program; see [`Rendered::launch_argv`].
    pub fn isolation_script(&self) -> String {
        let mut s = String::from("set -e\n");
        if self.needs.contains(&Need::PrivateMounts) || self.needs.contains(&Need::PrivateHostname)
        {
            s.push_str("mount --make-rprivate / 2>/dev/null || true\n");
        }
        for t in &self.tmpfs {
            s.push_str(&format!(
                "mkdir -p {0} && mount -t tmpfs tmpfs {0}\n",
                shell_quote(&t.display().to_string())
            ));
        }
        for (src, dst) in &self.binds {
            s.push_str(&format!(
                "mount --bind {} {}\n",
                shell_quote(&src.display().to_string()),
                shell_quote(&dst.display().to_string())
            ));
        }
        if let Some(h) = &self.hostname {
            s.push_str(&format!("hostname {}\n", shell_quote(h)));
        }
        if let Some(setup) = &self.setup {
            s.push_str(&format!(
                "/bin/sh {}\n",
                shell_quote(&setup.display().to_string())
            ));
        }
        s.push_str("exec");
        for a in &self.argv {
            s.push(' ');
            s.push_str(&shell_quote(a));
        }
        s.push('\n');
        s
    }

    /// True when this stdout/stderr line says the client's start-up wait begins.
    pub fn start_wait_on_line(&self, line: &str) -> bool {
        self.start_wait.as_ref().is_some_and(|re| re.is_match(line))
    }

    /// True when this stdout/stderr line is the readiness signal.
    pub fn ready_on_line(&self, line: &str) -> bool {
        matches!(&self.ready, ReadyCheck::Log(re) if re.is_match(line))
    }

    /// The events this stdout/stderr line carries: an event line printed by a hook
    /// (`{"event":"bound",...}`, passed through) and any rule whose regex matches.
    pub fn events_on_line(&self, line: &str) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        if let Some((_, v)) = bootlab_net::events::parse(line) {
            out.push(v);
        }
        for e in &self.events {
            if let EventOn::Log(re) = &e.on {
                if let Some(caps) = re.captures(line) {
                    let mut m = serde_json::Map::new();
                    m.insert("event".into(), serde_json::Value::String(e.event.clone()));
                    for name in re.capture_names().flatten() {
                        if let Some(c) = caps.name(name) {
                            m.insert(
                                name.to_string(),
                                serde_json::Value::String(c.as_str().to_string()),
                            );
                        }
                    }
                    out.push(serde_json::Value::Object(m));
                }
            }
        }
        out
    }

    /// The events its exit with `status` produces.
    pub fn events_on_exit(&self, status: i32) -> Vec<serde_json::Value> {
        self.events
            .iter()
            .filter(|e| matches!(e.on, EventOn::Exit(c) if c == status))
            .map(|e| serde_json::json!({"event": e.event, "status": status}))
            .collect()
    }
}

/// True when `/proc/PID/net/udp` (the namespace of process `pid`) lists a socket bound to `port`.
pub fn udp_port_bound(pid: u32, port: u16) -> std::io::Result<bool> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/udp"))?;
    Ok(proc_net_udp_has_port(&text, port))
}

/// Parses `/proc/net/udp` text: any `local_address` ending in `:PORT` (hex).
fn proc_net_udp_has_port(text: &str, port: u16) -> bool {
    let want = format!(":{port:04X}");
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .any(|local| local.ends_with(&want))
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

// ---------------------------------------------------------------------------------------------
// The template language
// ---------------------------------------------------------------------------------------------

/// Template errors, with the byte offset in the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without `}}`.
    #[error("offset {offset}: unclosed {{{{")]
    Unclosed {
        /// Byte offset of the `{{`.
        offset: usize,
    },
    /// A tag that is not known.
    #[error("offset {offset}: bad tag {tag:?}")]
    BadTag {
        /// The tag text.
        tag: String,
        /// Byte offset.
        offset: usize,
    },
    /// A block closed with the wrong name or never closed.
    #[error("offset {offset}: {message}")]
    Unbalanced {
        /// What is wrong.
        message: String,
        /// Byte offset.
        offset: usize,
    },
    /// `{{x}}` where `x` is not set (use `{{#if x}}` for optional parameters).
    #[error("offset {offset}: {path} is not set")]
    Missing {
        /// The variable path.
        path: String,
        /// Byte offset.
        offset: usize,
    },
    /// `{{x}}` where `x` is a list or table.
    #[error("offset {offset}: {path} is not a scalar (use {{{{#each}}}} or {{{{json ...}}}})")]
    NotScalar {
        /// The variable path.
        path: String,
        /// Byte offset.
        offset: usize,
    },
    /// `{{#each x}}` where `x` is not a list.
    #[error("offset {offset}: {path} is not a list")]
    NotAList {
        /// The variable path.
        path: String,
        /// Byte offset.
        offset: usize,
    },
}

/// A parsed template. The language, mustache-like:
/// `{{path}}` (dotted, e.g. `subnet.mask`; `this` is the current `#each` element, `@index`,
/// `@first`, `@last` its position), `{{json path}}` (JSON-encoded), `{{#if path}}…{{else}}…{{/if}}`,
/// `{{#unless path}}…{{/unless}}`, `{{#each path}}…{{/each}}`, `{{! comment}}`. False is: unset,
/// null, `false`, `""`, `[]`. A block tag alone on its line removes the whole line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Var {
        path: String,
        json: bool,
        offset: usize,
    },
    If {
        path: String,
        negate: bool,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Each {
        path: String,
        body: Vec<Node>,
        offset: usize,
    },
}

#[derive(Debug)]
enum Tok {
    Text(String),
    Var {
        path: String,
        json: bool,
        offset: usize,
    },
    Open {
        kind: String,
        path: String,
        offset: usize,
    },
    Else {
        offset: usize,
    },
    Close {
        kind: String,
        offset: usize,
    },
}

impl Template {
    /// Parses template text.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let toks = tokenize(src)?;
        let mut it = toks.into_iter().peekable();
        let (nodes, end) = parse_nodes(&mut it)?;
        match end {
            None => Ok(Template { nodes }),
            Some((what, offset)) => Err(TemplateError::Unbalanced {
                message: format!("unexpected {what}"),
                offset,
            }),
        }
    }

    /// Renders with `ctx` (a JSON object, e.g. [`RoleParams::context`]).
    pub fn render(&self, ctx: &serde_json::Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        render_nodes(&self.nodes, &mut vec![ctx.clone()], &mut out)?;
        Ok(out)
    }
}

fn tokenize(src: &str) -> Result<Vec<Tok>, TemplateError> {
    let mut toks = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while let Some(rel) = src[i..].find("{{") {
        let start = i + rel;
        let close = src[start + 2..]
            .find("}}")
            .ok_or(TemplateError::Unclosed { offset: start })?;
        let end = start + 2 + close + 2;
        let inner = src[start + 2..end - 2].trim();
        text.push_str(&src[i..start]);
        let is_block = inner.starts_with('#')
            || inner.starts_with('/')
            || inner == "else"
            || inner.starts_with('!');
        let mut next = end;
        if is_block {
            // Standalone: only blanks between the previous newline and the tag, and between the
            // tag and the next newline: the whole line goes.
            let line_start = src[..start].rfind('\n').map(|p| p + 1).unwrap_or(0);
            let before = &src[line_start..start];
            let rest = &src[end..];
            let line_end = rest.find('\n');
            let after = &rest[..line_end.unwrap_or(rest.len())];
            let blank = |s: &str| s.chars().all(|c| c == ' ' || c == '\t' || c == '\r');
            if blank(before) && blank(after) {
                text.truncate(text.len().saturating_sub(before.len()));
                next = end + line_end.map(|p| p + 1).unwrap_or(rest.len());
            }
        }
        if !text.is_empty() {
            toks.push(Tok::Text(std::mem::take(&mut text)));
        }
        let bad = || TemplateError::BadTag {
            tag: inner.to_string(),
            offset: start,
        };
        if let Some(rest) = inner.strip_prefix('#') {
            let (kind, path) = rest.split_once(char::is_whitespace).ok_or_else(bad)?;
            let path = path.trim();
            if !matches!(kind, "if" | "unless" | "each") || !valid_path(path) {
                return Err(bad());
            }
            toks.push(Tok::Open {
                kind: kind.into(),
                path: path.into(),
                offset: start,
            });
        } else if let Some(kind) = inner.strip_prefix('/') {
            if !matches!(kind.trim(), "if" | "unless" | "each") {
                return Err(bad());
            }
            toks.push(Tok::Close {
                kind: kind.trim().into(),
                offset: start,
            });
        } else if inner == "else" {
            toks.push(Tok::Else { offset: start });
        } else if inner.starts_with('!') {
            // comment
        } else if let Some(path) = inner.strip_prefix("json ") {
            let path = path.trim();
            if !valid_path(path) {
                return Err(bad());
            }
            toks.push(Tok::Var {
                path: path.into(),
                json: true,
                offset: start,
            });
        } else {
            if !valid_path(inner) {
                return Err(bad());
            }
            toks.push(Tok::Var {
                path: inner.into(),
                json: false,
                offset: start,
            });
        }
        i = next;
    }
    text.push_str(&src[i..]);
    if !text.is_empty() {
        toks.push(Tok::Text(text));
    }
    Ok(toks)
}

fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && p.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .trim_start_matches('@')
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

type Toks = std::iter::Peekable<std::vec::IntoIter<Tok>>;

/// Parses until a close or else tag (returned) or the end (None).
/// The tag that ended a block (`else` or `/kind`) and its offset.
type BlockEnd = Option<(String, usize)>;

fn parse_nodes(it: &mut Toks) -> Result<(Vec<Node>, BlockEnd), TemplateError> {
    let mut nodes = Vec::new();
    while let Some(tok) = it.next() {
        match tok {
            Tok::Text(t) => nodes.push(Node::Text(t)),
            Tok::Var { path, json, offset } => nodes.push(Node::Var { path, json, offset }),
            Tok::Else { offset } => return Ok((nodes, Some(("else".into(), offset)))),
            Tok::Close { kind, offset } => return Ok((nodes, Some((format!("/{kind}"), offset)))),
            Tok::Open { kind, path, offset } => {
                let (body, end) = parse_nodes(it)?;
                let unclosed = || TemplateError::Unbalanced {
                    message: format!("{{{{#{kind} {path}}}}} is never closed"),
                    offset,
                };
                let (end_tag, end_off) = end.ok_or_else(unclosed)?;
                let close_tag = format!("/{kind}");
                if kind == "each" {
                    if end_tag != close_tag {
                        return Err(TemplateError::Unbalanced {
                            message: format!("expected {{{{/each}}}}, found {end_tag}"),
                            offset: end_off,
                        });
                    }
                    nodes.push(Node::Each { path, body, offset });
                } else {
                    let otherwise = if end_tag == "else" {
                        let (o, end2) = parse_nodes(it)?;
                        let (t2, off2) = end2.ok_or_else(unclosed)?;
                        if t2 != close_tag {
                            return Err(TemplateError::Unbalanced {
                                message: format!("expected {{{{{close_tag}}}}}, found {t2}"),
                                offset: off2,
                            });
                        }
                        o
                    } else if end_tag == close_tag {
                        Vec::new()
                    } else {
                        return Err(TemplateError::Unbalanced {
                            message: format!("expected {{{{{close_tag}}}}}, found {end_tag}"),
                            offset: end_off,
                        });
                    };
                    nodes.push(Node::If {
                        path,
                        negate: kind == "unless",
                        then: body,
                        otherwise,
                    });
                }
            }
        }
    }
    Ok((nodes, None))
}

/// Looks a dotted path up, innermost scope first (the first segment decides the scope).
fn lookup<'a>(scopes: &[&'a serde_json::Value], path: &str) -> Option<&'a serde_json::Value> {
    let mut segs = path.split('.');
    let first = segs.next()?;
    let mut v = scopes.iter().rev().find_map(|s| s.get(first))?;
    for seg in segs {
        v = match v {
            serde_json::Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            other => other.get(seg)?,
        };
    }
    Some(v)
}

fn truthy(v: Option<&serde_json::Value>) -> bool {
    use serde_json::Value;
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

fn render_nodes(
    nodes: &[Node],
    scopes: &mut Vec<serde_json::Value>,
    out: &mut String,
) -> Result<(), TemplateError> {
    use serde_json::Value;
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Var { path, json, offset } => {
                let refs: Vec<&Value> = scopes.iter().collect();
                let v = lookup(&refs, path).filter(|v| !v.is_null());
                match (v, json) {
                    (None, _) => {
                        return Err(TemplateError::Missing {
                            path: path.clone(),
                            offset: *offset,
                        })
                    }
                    (Some(v), true) => out.push_str(&v.to_string()),
                    (Some(Value::String(s)), false) => out.push_str(s),
                    (Some(v @ (Value::Number(_) | Value::Bool(_))), false) => {
                        out.push_str(&v.to_string())
                    }
                    (Some(_), false) => {
                        return Err(TemplateError::NotScalar {
                            path: path.clone(),
                            offset: *offset,
                        })
                    }
                }
            }
            Node::If {
                path,
                negate,
                then,
                otherwise,
            } => {
                let refs: Vec<&Value> = scopes.iter().collect();
                let t = truthy(lookup(&refs, path)) != *negate;
                render_nodes(if t { then } else { otherwise }, scopes, out)?;
            }
            Node::Each { path, body, offset } => {
                let refs: Vec<&Value> = scopes.iter().collect();
                let items = match lookup(&refs, path) {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(a)) => a.clone(),
                    Some(_) => {
                        return Err(TemplateError::NotAList {
                            path: path.clone(),
                            offset: *offset,
                        })
                    }
                };
                let n = items.len();
                for (i, item) in items.into_iter().enumerate() {
                    let mut scope = serde_json::Map::new();
                    if let Value::Object(fields) = &item {
                        scope.extend(fields.clone());
                    }
                    scope.insert("this".into(), item);
                    scope.insert("@index".into(), Value::from(i));
                    scope.insert("@first".into(), Value::Bool(i == 0));
                    scope.insert("@last".into(), Value::Bool(i + 1 == n));
                    scopes.push(Value::Object(scope));
                    let r = render_nodes(body, scopes, out);
                    scopes.pop();
                    r?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, ctx: serde_json::Value) -> Result<String, TemplateError> {
        Template::parse(t)?.render(&ctx)
    }

    #[test]
    fn variables_and_paths() {
        let ctx = json!({"a": "x", "n": 5, "s": {"mask": "255.255.255.0"}});
        assert_eq!(
            render("{{a}}-{{ n }}-{{s.mask}}", ctx.clone()),
            Ok("x-5-255.255.255.0".into())
        );
        assert_eq!(render("{{json a}}", ctx.clone()), Ok("\"x\"".into()));
        assert!(
            matches!(render("{{nope}}", ctx.clone()), Err(TemplateError::Missing { path, offset: 0 }) if path == "nope")
        );
        assert!(matches!(
            render("{{s}}", ctx),
            Err(TemplateError::NotScalar { .. })
        ));
    }

    #[test]
    fn conditionals_and_else() {
        let ctx = json!({"yes": "1", "empty": "", "list": []});
        assert_eq!(
            render("{{#if yes}}Y{{else}}N{{/if}}", ctx.clone()),
            Ok("Y".into())
        );
        assert_eq!(
            render("{{#if empty}}Y{{else}}N{{/if}}", ctx.clone()),
            Ok("N".into())
        );
        assert_eq!(
            render("{{#if list}}Y{{/if}}{{#unless missing}}U{{/unless}}", ctx),
            Ok("U".into())
        );
    }

    #[test]
    fn each_with_position_helpers_and_outer_scope() {
        let ctx = json!({"sep": ";", "xs": [{"v": 1}, {"v": 2}, {"v": 3}], "plain": ["a", "b"]});
        assert_eq!(
            render(
                "[{{#each xs}}{{v}}{{#unless @last}},{{/unless}}{{/each}}]",
                ctx.clone()
            ),
            Ok("[1,2,3]".into())
        );
        assert_eq!(
            render(
                "{{#each plain}}{{this}}{{sep}}{{@index}} {{/each}}",
                ctx.clone()
            ),
            Ok("a;0 b;1 ".into())
        );
        assert!(matches!(
            render("{{#each sep}}{{/each}}", ctx),
            Err(TemplateError::NotAList { .. })
        ));
    }

    #[test]
    fn standalone_block_lines_vanish() {
        let t = "a\n{{#each xs}}\n  host {{this}}\n{{/each}}\nb\n";
        assert_eq!(
            render(t, json!({"xs": ["p", "q"]})),
            Ok("a\n  host p\n  host q\nb\n".into())
        );
        let t = "  {{#if x}}\nX\n  {{/if}}\nend";
        assert_eq!(render(t, json!({})), Ok("end".into()));
        // Inline blocks keep their surroundings.
        assert_eq!(
            render("a {{#if x}}X{{/if}} b\n", json!({"x": true})),
            Ok("a X b\n".into())
        );
    }

    #[test]
    fn unbalanced_and_bad_tags_are_errors() {
        assert!(matches!(
            Template::parse("{{#if x}}"),
            Err(TemplateError::Unbalanced { .. })
        ));
        assert!(matches!(
            Template::parse("{{#if x}}{{/each}}"),
            Err(TemplateError::Unbalanced { .. })
        ));
        assert!(matches!(
            Template::parse("{{/if}}"),
            Err(TemplateError::Unbalanced { .. })
        ));
        assert!(matches!(
            Template::parse("{{x"),
            Err(TemplateError::Unclosed { offset: 0 })
        ));
        assert!(matches!(
            Template::parse("{{#loop x}}{{/loop}}"),
            Err(TemplateError::BadTag { .. })
        ));
        assert!(matches!(
            Template::parse("{{a b}}"),
            Err(TemplateError::BadTag { .. })
        ));
        assert_eq!(render("{{! note }}ok", json!({})), Ok("ok".into()));
    }

    #[test]
    fn subnet_mac_and_context() {
        let sn: Subnet = "192.0.2.77/24".parse().expect("valid");
        assert_eq!(sn.network, Ipv4Addr::new(192, 0, 2, 0));
        assert_eq!(sn.mask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(sn.broadcast(), Ipv4Addr::new(192, 0, 2, 255));
        assert!("192.0.2.0/33".parse::<Subnet>().is_err());
        let mac: Mac = "02:00:C0:00:02:0a".parse().expect("valid");
        assert_eq!(mac.to_string(), "02:00:c0:00:02:0a");
        assert!("02:00".parse::<Mac>().is_err());
        let p = RoleParams {
            subnet: Some(sn),
            bindings: vec![Binding {
                mac,
                address: Ipv4Addr::new(192, 0, 2, 10),
                bootfile: None,
                hostname: None,
            }],
            boot_file: Some("pxe.0".into()),
            ..RoleParams::default()
        };
        let c = p.context();
        assert_eq!(c["subnet"]["prefix"], 24);
        assert_eq!(c["bindings"][0]["mac_hex"], "0200c000020a");
        assert_eq!(c["bindings"][0]["bootfile"], "pxe.0");
        assert_eq!(c["bindings"][0]["name"], "host1");
        assert!(c.get("router").is_none());
    }

    #[test]
    fn role_params_from_kebab_config() {
        let t: toml::Table = toml::from_str(
            "server-address = \"192.0.2.1\"\nsubnet = \"192.0.2.0/24\"\npool = { start = \"192.0.2.100\", end = \"192.0.2.150\" }\n\
             bindings = [{ mac = \"02:00:00:00:00:01\", address = \"192.0.2.10\" }]\nboot-dir = \"/srv/tftp\"\nours-only = 3\n",
        )
        .expect("toml");
        let p = RoleParams::from_config(&t).expect("params");
        assert_eq!(p.server_address, Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(p.pool.map(|p| p.end), Some(Ipv4Addr::new(192, 0, 2, 150)));
        assert_eq!(p.tftp_root, Some(PathBuf::from("/srv/tftp")));
        assert_eq!(p.bindings.len(), 1);
    }

    #[test]
    fn proc_net_udp_parsing() {
        let t = "  sl  local_address rem_address   st\n  1: 00000000:0043 00000000:0000 07\n";
        assert!(proc_net_udp_has_port(t, 67));
        assert!(!proc_net_udp_has_port(t, 68));
    }

    const SAMPLE: &str = r#"
name = "demo"
about = "A demo."
package = "demo"
binary = "{{peers_dir}}/demo/usr/sbin/demo"
roles = ["relay"]
args = ["-i", "{{client_interface}}", { each = "servers", args = ["{{this}}"] }, { if = "hop_limit", args = ["-c", "{{hop_limit}}"] }, "{{#if nope}}x{{/if}}"]
ready = { log = "^listening on (?P<ifname>\\S+)" }
events = [{ event = "forwarded", log = "to (?P<to>\\S+)" }, { event = "done", exit = 0 }]
[[files]]
path = "demo.conf"
template = "servers {{#each servers}}{{this}} {{/each}}\n"
"#;

    #[test]
    fn a_profile_renders_argv_files_and_events() {
        let p = Profile::parse(Path::new("demo.toml"), SAMPLE).expect("valid");
        let params = RoleParams {
            client_interface: Some("c0".into()),
            servers: vec![
                Ipv4Addr::new(198, 51, 100, 1),
                Ipv4Addr::new(198, 51, 100, 2),
            ],
            ..RoleParams::default()
        };
        let env = RenderEnv {
            state_dir: "/run/x".into(),
            peers_dir: "/opt/p".into(),
            profiles_dir: "/nowhere".into(),
        };
        let r = p.render(RoleKind::Relay, &params, &env).expect("renders");
        assert_eq!(
            r.argv,
            [
                "/opt/p/demo/usr/sbin/demo",
                "-i",
                "c0",
                "198.51.100.1",
                "198.51.100.2"
            ]
        );
        assert_eq!(r.files[0].path, PathBuf::from("/run/x/demo.conf"));
        assert_eq!(r.files[0].contents, "servers 198.51.100.1 198.51.100.2 \n");
        assert!(r.ready_on_line("listening on c0"));
        assert!(!r.ready_on_line("starting"));
        let ev = r.events_on_line("sent to 198.51.100.1");
        assert_eq!(
            ev,
            vec![json!({"event": "forwarded", "to": "198.51.100.1"})]
        );
        assert_eq!(
            r.events_on_line(r#"{"event":"bound","address":"192.0.2.5"}"#)[0]["event"],
            "bound"
        );
        assert_eq!(
            r.events_on_exit(0),
            vec![json!({"event": "done", "status": 0})]
        );
        assert!(r.events_on_exit(1).is_empty());
        assert!(!r.needs_wrapper());
        assert_eq!(r.launch_argv(), r.argv);
        let mut with_hops = params;
        with_hops.hop_limit = Some(4);
        let r = p
            .render(RoleKind::Relay, &with_hops, &env)
            .expect("renders");
        assert_eq!(r.argv[r.argv.len() - 2..], ["-c", "4"]);
    }

    #[test]
    fn inconsistent_profiles_are_rejected() {
        let bad = SAMPLE.replace(
            "roles = [\"relay\"]",
            "roles = [\"relay\"]\nneeds = [\"private-hostname\"]",
        );
        assert!(
            matches!(Profile::parse(Path::new("d.toml"), &bad), Err(ProfileError::Invalid { field, .. }) if field == "hostname")
        );
        let bad = SAMPLE.replace("(?P<ifname>", "(?P<ifname");
        assert!(matches!(
            Profile::parse(Path::new("d.toml"), &bad),
            Err(ProfileError::Invalid { .. })
        ));
        let bad = SAMPLE.replace("{{this}} {{/each}}", "{{this}}");
        assert!(matches!(
            Profile::parse(Path::new("d.toml"), &bad),
            Err(ProfileError::Template { .. })
        ));
        let bad = SAMPLE.replace("roles = [\"relay\"]", "roles = [\"dhcp-client\"]");
        assert!(
            matches!(Profile::parse(Path::new("d.toml"), &bad), Err(ProfileError::Invalid { field, .. }) if field == "done")
        );
        let bad = SAMPLE.replace("package = \"demo\"", "package = \"demo\"\nbogus = 1");
        assert!(matches!(
            Profile::parse(Path::new("d.toml"), &bad),
            Err(ProfileError::Parse { .. })
        ));
    }
}

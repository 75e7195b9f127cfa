//! Scenario files (`scenarios/*.toml`): the topology, the roles, the steps and the expectations of
//! one conformance run, written by people. Every mistake is reported with the file, the line and
//! the field (`scenarios/demo.toml:12: roles.dhcpd.host: unknown host "srv"`).

use serde::Deserialize;

use crate::plan::role_kind::RoleKind;
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A scenario mistake, located in its file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why (not a `source`: the message already says it, once).
        error: std::io::Error,
    },
    /// A syntax or type error, or a wrong value.
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending value.
        line: usize,
        /// The dotted path of the field, e.g. `roles.dhcpd.host`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// A scenario file, as parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    /// The scenario's name: what it proves, kebab-case (`arp-less-client`).
    pub name: String,
    /// One line: what it proves and which seed or RFC it comes from.
    pub about: String,
    /// Where the behaviour comes from (seed documents, RFC sections, KB articles).
    #[serde(default)]
    pub source: Vec<String>,
    /// Seed for every random choice of our implementations and the impairment wire.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How much faster than real time our implementations run their timers.
    #[serde(default = "default_time_scale")]
    pub time_scale: f64,
    /// An upper bound for the whole run.
    #[serde(default = "default_timeout")]
    pub timeout: Spanned<String>,
    /// How repeated lines are folded in the normalized trace.
    #[serde(default)]
    pub collapse: Collapse,
    /// The network segments, each an IPv4 subnet on one bridge.
    pub segments: BTreeMap<String, Segment>,
    /// The hosts, each a network namespace.
    pub hosts: BTreeMap<String, Host>,
    /// The programs run on the hosts.
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
    /// Files made for the run (boot images), under the run's `files/` directory, which role
    /// configs name as `$files`. Their content is deterministic, derived from the name.
    #[serde(default)]
    pub files: BTreeMap<String, FileSpec>,
    /// What happens, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// What must hold at the end.
    #[serde(default)]
    pub expect: Expect,
    /// Programs outside the `bootlab` build the scenario runs (in a host's `setup`), e.g.
    /// `[{ program = "nft", package = "nftables" }]`: when one is missing from `PATH` the run is
    /// skipped, naming it, instead of failing.
    #[serde(default)]
    pub needs: Vec<Need>,
    /// The file it came from (set by [`load`]).
    #[serde(skip)]
    pub path: PathBuf,
    #[serde(skip)]
    source_text: String,
}

/// A program a scenario needs that the `bootlab` build does not provide.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Need {
    /// The program, looked up on `PATH` (`nft`).
    pub program: String,
    /// The Debian package that provides it (`nftables`).
    pub package: String,
}

impl Need {
    /// Whether the program is found on `PATH` (or, when it names a path, exists there).
    pub fn is_met(&self) -> bool {
        let program = Path::new(&self.program);
        if program.components().count() > 1 {
            return program.is_file();
        }
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    }
}

impl Scenario {
    /// The needs whose program is missing here; the run is skipped when any is.
    pub fn missing_needs(&self) -> Vec<&Need> {
        self.needs.iter().filter(|n| !n.is_met()).collect()
    }
}

fn default_seed() -> u64 {
    1
}
fn default_time_scale() -> f64 {
    1.0
}
fn default_timeout() -> Spanned<String> {
    Spanned::new(0..0, "60s".to_string())
}

/// How the trace folds repeated lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Collapse {
    /// Every frame is a line.
    None,
    /// A run of identical consecutive lines becomes one line marked `(repeated)`.
    #[default]
    Runs,
    /// Each distinct line appears once, at its first place, marked `(repeated)` when seen again:
    /// for scenarios whose retransmission timing legitimately varies (unanswered ARP, retries).
    Dedupe,
}

/// A file made for the run: exactly one of `size`, `text` or `guest`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileSpec {
    /// Its size in octets (content derived from the name, the same on every run).
    #[serde(default)]
    pub size: Option<usize>,
    /// Its text, as written (an iPXE script, a config).
    #[serde(default)]
    pub text: Option<String>,
    /// A part of the Linux guest built from Debian's packages ([`crate::world::guest`]).
    #[serde(default)]
    pub guest: Option<crate::world::guest::GuestPart>,
}

/// A segment: one bridge with one subnet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Segment {
    /// The subnet, `192.0.2.0/24`.
    pub subnet: Spanned<String>,
}

/// A host: one network namespace with an interface on each segment it is `on`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Host {
    /// Segment name -> the interface's address (`"192.0.2.1"`), or `"none"` for an interface that
    /// is up with no address (a boot ROM, a DHCP client before it binds).
    pub on: Spanned<BTreeMap<String, String>>,
    /// Whether the kernel answers ARP on this host's interfaces (`off` sets IFF_NOARP).
    #[serde(default = "default_true")]
    pub arp: bool,
    /// Forward IPv4 between its interfaces (a router).
    #[serde(default)]
    pub forwarding: bool,
    /// Static routes.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Network sysctls of the host's namespace, e.g. `{ "net/ipv4/conf/all/arp_ignore" = "2" }`
    /// (paths under `/proc/sys/net`), applied before any role starts.
    #[serde(default)]
    pub sysctl: BTreeMap<String, String>,
    /// Commands run in the host, in order, before any role starts (each must exit 0), e.g. an
    /// `nft` rule set that makes a host behave like a historic one. A program that is not part
    /// of `bootlab` must be listed in the scenario's `needs`.
    #[serde(default)]
    pub setup: Vec<Vec<String>>,
    /// Impairment rules on the host's links from the start, before any role runs: segment ->
    /// rules (see [`crate::plan::impairment::Rule`]), e.g. a host that ignores RFC 5227 probes:
    /// `impair = { lan = [{ direction = "to-host", match = { arp = { sender-ip = "0.0.0.0" } },
    /// action = "drop" }] }`.
    #[serde(default)]
    pub impair: BTreeMap<String, Vec<crate::plan::impairment::Rule>>,
}

fn default_true() -> bool {
    true
}

/// A static route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Route {
    /// Destination prefix, `198.51.100.0/24` (or `default`).
    pub to: String,
    /// Gateway address.
    pub via: Ipv4Addr,
}

/// A program on a host: one of our implementations or a third-party one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Role {
    /// The host it runs on.
    pub host: Spanned<String>,
    /// What it is: `dhcp-server`, `bootp-server`, `relay`, `dhcp-client`, `bootp-client`,
    /// `rom-client`, `tftp-server`, `tftp-client`, `rarp-server`, `rarp-client`.
    pub kind: Spanned<RoleKind>,
    /// The implementation (`ours` by default; a profile name from `lab/profiles/`); `--impl` on the
    /// command line overrides it per kind.
    #[serde(default)]
    pub implementation: Option<String>,
    /// Started when the scenario starts (default) or only by a `start` step.
    #[serde(default = "default_true")]
    pub autostart: bool,
    /// The role's parameters: our daemon's configuration keys; third-party profiles read the
    /// common ones (subnet, pool, bindings, boot file...).
    #[serde(default)]
    pub config: toml::Table,
}

/// One step. Exactly one of the fields is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Step {
    /// Wait until a role prints an event (or a frame is seen), within a bound.
    pub wait: Option<Wait>,
    /// Make sure an event does NOT happen within a bound (a reproduced failure).
    pub absent: Option<Wait>,
    /// Start a role.
    pub start: Option<Spanned<String>>,
    /// Stop a role (SIGTERM, then SIGKILL after a bound).
    pub stop: Option<Spanned<String>>,
    /// Kill a role (SIGKILL).
    pub kill: Option<Spanned<String>>,
    /// Let protocol time pass: only where the protocol demands it.
    pub sleep: Option<Spanned<String>>,
    /// Impair a host's link.
    pub impair: Option<Impair>,
}

/// A wait for an event printed by a role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Wait {
    /// The role that prints the event.
    pub role: Spanned<String>,
    /// The event name (`bound`, `boot-file-received`...).
    pub event: Spanned<String>,
    /// Optional field values the event must carry (`{ address = "192.0.2.100" }`).
    #[serde(default)]
    pub with: toml::Table,
    /// The bound, `10s` or `500ms`.
    pub within: Spanned<String>,
}

/// Link impairment rules for one host's interface on a segment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Impair {
    /// The host whose link is impaired.
    pub host: Spanned<String>,
    /// The segment of that link.
    pub segment: Spanned<String>,
    /// The rules, as the impairment wire reads them (see [`crate::plan::impairment::Rule`]).
    pub rules: Vec<crate::plan::impairment::Rule>,
}

/// What must hold at the end of the run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expect {
    /// Compare the normalized trace with `golden/<name>.snap` (default on).
    #[serde(default = "default_true")]
    pub golden: bool,
    /// Rules evaluated on the trace and the outcome each must have: `"pass"` or, for a bug
    /// reproduction, `{ outcome = "fail", why = "..." }`. Every rule is evaluated; one that fails
    /// without being listed here fails the run.
    #[serde(default)]
    pub rules: BTreeMap<String, Spanned<ExpectedRule>>,
}

/// What a scenario expects of one rule: `"pass"`, or `{ outcome = "fail", why = "..." }` for a
/// failure the scenario reproduces on purpose (a failure always comes with its reason).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ExpectedRule {
    /// `"pass"`.
    Word(String),
    /// `{ outcome = "pass" | "fail", why = "..." }`.
    Full {
        /// `pass` or `fail`.
        outcome: String,
        /// Why this outcome is expected (required for `fail`).
        #[serde(default)]
        why: Option<String>,
    },
}

impl ExpectedRule {
    /// `pass` or `fail` (validated at load).
    pub fn outcome(&self) -> &str {
        match self {
            ExpectedRule::Word(w) => w,
            ExpectedRule::Full { outcome, .. } => outcome,
        }
    }

    /// The reason given for the expectation.
    pub fn why(&self) -> Option<&str> {
        match self {
            ExpectedRule::Word(_) => None,
            ExpectedRule::Full { why, .. } => why.as_deref(),
        }
    }
}

impl Default for Expect {
    /// A scenario without an `[expect]` table still compares its golden trace.
    fn default() -> Self {
        Expect {
            golden: true,
            rules: BTreeMap::new(),
        }
    }
}

/// Parses a duration written as `10s`, `500ms`, `2m` or `1.5s`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => return None,
    };
    let n: f64 = num.trim().parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// An IPv4 prefix `a.b.c.d/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// The network address (host bits cleared).
    pub network: Ipv4Addr,
    /// The prefix length, 0..=32.
    pub len: u8,
}

impl Prefix {
    /// Parses `192.0.2.0/24`.
    pub fn parse(s: &str) -> Option<Prefix> {
        let (a, l) = s.split_once('/')?;
        let addr: Ipv4Addr = a.trim().parse().ok()?;
        let len: u8 = l.trim().parse().ok()?;
        if len > 32 {
            return None;
        }
        Some(Prefix {
            network: Ipv4Addr::from(u32::from(addr) & Self::mask_bits(len)),
            len,
        })
    }

    fn mask_bits(len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        }
    }

    /// The netmask.
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(Self::mask_bits(self.len))
    }

    /// Whether `a` lies inside the prefix.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & Self::mask_bits(self.len) == u32::from(self.network)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

/// Reads, parses and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|error| ScenarioError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    parse(path, &text)
}

/// Parses and validates scenario text; `path` is used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let mut sc: Scenario = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
        let msg = e.message().to_string();
        // toml reports the key path in its message for unknown fields/types; keep it verbatim.
        ScenarioError::Invalid {
            path: path.to_path_buf(),
            line,
            field: field_of_error(text, &e),
            message: msg,
        }
    })?;
    sc.path = path.to_path_buf();
    sc.source_text = text.to_string();
    sc.validate()?;
    // `bootlab run NAME` finds `scenarios/NAME.toml`: the two must agree.
    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
        if path.extension().is_some_and(|e| e == "toml") && stem != sc.name {
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with("name"))
                .map(|i| i + 1)
                .unwrap_or(0);
            return Err(ScenarioError::Invalid {
                path: path.to_path_buf(),
                line,
                field: "name".into(),
                message: format!("{:?} differs from the file name {stem:?}", sc.name),
            });
        }
    }
    Ok(sc)
}

fn field_of_error(text: &str, e: &toml::de::Error) -> String {
    // The key at the error's line, best effort: `key = value` -> `key`; `[table]` -> `table`.
    let Some(span) = e.span() else {
        return "(file)".into();
    };
    let line_start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    let line = text[line_start..].lines().next().unwrap_or("");
    let t = line.trim();
    if let Some(rest) = t.strip_prefix('[') {
        return rest.trim_matches(|c| c == '[' || c == ']').to_string();
    }
    t.split('=').next().unwrap_or("").trim().to_string()
}

/// 1-based line number of byte offset `at`.
/// Whether TOML line `l` sets `key` (bare or quoted, at the start or inside an inline table).
fn mentions_key(l: &str, key: &str) -> bool {
    let mut rest = l;
    while let Some(at) = rest.find(key) {
        let before = rest[..at].trim_end();
        let after = rest[at + key.len()..].trim_start();
        let after = after.strip_prefix('"').unwrap_or(after).trim_start();
        let before = before.strip_suffix('"').unwrap_or(before).trim_end();
        let starts = before.is_empty() || before.ends_with('{') || before.ends_with(',');
        if starts && after.starts_with('=') {
            return true;
        }
        rest = &rest[at + key.len()..];
    }
    false
}

fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Scenario {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Result<T, ScenarioError> {
        Err(ScenarioError::Invalid {
            path: self.path.clone(),
            line: if span.end == 0 {
                0
            } else {
                line_of(&self.source_text, span.start)
            },
            field: field.into(),
            message: message.into(),
        })
    }

    /// An error at a step's field whose value sits at `span` (e.g. a wait's event name).
    pub fn step_error(
        &self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        match self.err::<()>(span, field, message) {
            Err(e) => e,
            Ok(()) => unreachable!("err always fails"),
        }
    }

    /// An error in role `role`'s `config`: at the line where `key` (its last dotted part) is
    /// written inside that role's table, else at the role's header.
    pub fn role_config_error(&self, role: &str, key: &str, message: &str) -> ScenarioError {
        let text = &self.source_text;
        let header = format!("[roles.{role}]");
        let leaf = key.rsplit('.').next().unwrap_or(key);
        let mut line = 0;
        let mut inside = false;
        for (i, l) in text.lines().enumerate() {
            let t = l.trim_start();
            if t.starts_with('[') {
                if inside {
                    break;
                }
                inside = t.starts_with(&header);
                if inside {
                    line = i + 1;
                }
                continue;
            }
            if inside && !leaf.is_empty() && mentions_key(l, leaf) {
                line = i + 1;
                break;
            }
        }
        let field = if key.is_empty() {
            format!("roles.{role}.config")
        } else {
            format!("roles.{role}.config.{key}")
        };
        ScenarioError::Invalid {
            path: self.path.clone(),
            line,
            field,
            message: message.to_string(),
        }
    }

    /// The overall bound on the run.
    pub fn timeout(&self) -> Duration {
        parse_duration(self.timeout.get_ref()).unwrap_or(Duration::from_secs(60))
    }

    /// Checks references and values that serde cannot.
    fn validate(&self) -> Result<(), ScenarioError> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return self.err(
                0..0,
                "name",
                format!("{:?}: use kebab-case letters, digits and '-'", self.name),
            );
        }
        if parse_duration(self.timeout.get_ref()).is_none() {
            return self.err(
                self.timeout.span(),
                "timeout",
                format!("{:?} is not a duration like 30s", self.timeout.get_ref()),
            );
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return self.err(0..0, "time-scale", "must be a positive number");
        }
        let mut prefixes = BTreeMap::new();
        for (name, seg) in &self.segments {
            check_name(self, name, &format!("segments.{name}"))?;
            match Prefix::parse(seg.subnet.get_ref()) {
                Some(p) => {
                    prefixes.insert(name.clone(), p);
                }
                None => {
                    return self.err(
                        seg.subnet.span(),
                        format!("segments.{name}.subnet"),
                        format!(
                            "{:?} is not an IPv4 prefix like 192.0.2.0/24",
                            seg.subnet.get_ref()
                        ),
                    )
                }
            }
        }
        for (hname, host) in &self.hosts {
            check_name(self, hname, &format!("hosts.{hname}"))?;
            if host.on.get_ref().is_empty() {
                return self.err(
                    host.on.span(),
                    format!("hosts.{hname}.on"),
                    "a host needs at least one segment",
                );
            }
            for (seg, addr) in host.on.get_ref() {
                let field = format!("hosts.{hname}.on.{seg}");
                let Some(prefix) = prefixes.get(seg) else {
                    return self.err(host.on.span(), field, format!("unknown segment {seg:?}"));
                };
                if addr != "none" {
                    let Ok(a) = addr.parse::<Ipv4Addr>() else {
                        return self.err(
                            host.on.span(),
                            field,
                            format!("{addr:?} is neither an IPv4 address nor \"none\""),
                        );
                    };
                    if !prefix.contains(a) {
                        return self.err(
                            host.on.span(),
                            field,
                            format!("{a} is outside the segment's subnet {prefix}"),
                        );
                    }
                }
            }
            for key in host.sysctl.keys() {
                let ok = key.starts_with("net/")
                    && key
                        .split('/')
                        .all(|p| !p.is_empty() && p != "." && p != "..");
                if !ok {
                    return self.err(
                        host.on.span(),
                        format!("hosts.{hname}.sysctl.{key}"),
                        "sysctls are paths under /proc/sys/net, like net/ipv4/conf/all/arp_ignore",
                    );
                }
            }
            for seg in host.impair.keys() {
                if !host.on.get_ref().contains_key(seg) {
                    return self.err(
                        host.on.span(),
                        format!("hosts.{hname}.impair.{seg}"),
                        format!("the host is not on segment {seg:?}"),
                    );
                }
            }
            for (i, r) in host.routes.iter().enumerate() {
                if r.to != "default" && Prefix::parse(&r.to).is_none() {
                    return self.err(
                        host.on.span(),
                        format!("hosts.{hname}.routes[{i}].to"),
                        format!("{:?} is not a prefix", r.to),
                    );
                }
            }
        }
        for (fname, f) in &self.files {
            let set = [f.size.is_some(), f.text.is_some(), f.guest.is_some()];
            if set.iter().filter(|b| **b).count() != 1 {
                return self.err(
                    0..0,
                    format!("files.{fname:?}"),
                    "give exactly one of size = N, text = \"...\", guest = \"kernel\" | \"initramfs\" | \"root\"",
                );
            }
        }
        for (rname, role) in &self.roles {
            check_name(self, rname, &format!("roles.{rname}"))?;
            if !self.hosts.contains_key(role.host.get_ref()) {
                return self.err(
                    role.host.span(),
                    format!("roles.{rname}.host"),
                    format!("unknown host {:?}", role.host.get_ref()),
                );
            }
            let kind = *role.kind.get_ref();
            if !kind.has_ours() && matches!(role.implementation.as_deref(), None | Some("ours")) {
                return self.err(
                    role.kind.span(),
                    format!("roles.{rname}.implementation"),
                    format!(
                        "bootlab has no {kind} of its own: name a profile from lab/profiles/ \
                         (e.g. implementation = \"nfs-ganesha\")"
                    ),
                );
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            let f = format!("steps[{i}]");
            let set = [
                step.wait.is_some(),
                step.absent.is_some(),
                step.start.is_some(),
                step.stop.is_some(),
                step.kill.is_some(),
                step.sleep.is_some(),
                step.impair.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if set != 1 {
                return self.err(
                    0..0,
                    f,
                    "a step has exactly one of wait, absent, start, stop, kill, sleep, impair",
                );
            }
            for (kind, w) in [("wait", &step.wait), ("absent", &step.absent)] {
                if let Some(w) = w {
                    self.check_role(&w.role, &format!("{f}.{kind}.role"))?;
                    if parse_duration(w.within.get_ref()).is_none() {
                        return self.err(
                            w.within.span(),
                            format!("{f}.{kind}.within"),
                            format!("{:?} is not a duration like 10s", w.within.get_ref()),
                        );
                    }
                }
            }
            for (kind, r) in [
                ("start", &step.start),
                ("stop", &step.stop),
                ("kill", &step.kill),
            ] {
                if let Some(r) = r {
                    self.check_role(r, &format!("{f}.{kind}"))?;
                }
            }
            if let Some(s) = &step.sleep {
                if parse_duration(s.get_ref()).is_none() {
                    return self.err(
                        s.span(),
                        format!("{f}.sleep"),
                        format!("{:?} is not a duration", s.get_ref()),
                    );
                }
            }
            if let Some(imp) = &step.impair {
                if !self.hosts.contains_key(imp.host.get_ref()) {
                    return self.err(
                        imp.host.span(),
                        format!("{f}.impair.host"),
                        format!("unknown host {:?}", imp.host.get_ref()),
                    );
                }
                if !self.segments.contains_key(imp.segment.get_ref()) {
                    return self.err(
                        imp.segment.span(),
                        format!("{f}.impair.segment"),
                        format!("unknown segment {:?}", imp.segment.get_ref()),
                    );
                }
            }
        }
        for (id, outcome) in &self.expect.rules {
            let e = outcome.get_ref();
            if !matches!(e.outcome(), "pass" | "fail") {
                return self.err(
                    outcome.span(),
                    format!("expect.rules.{id}"),
                    "must be \"pass\" or { outcome = \"fail\", why = \"...\" }",
                );
            }
            if e.outcome() == "fail" && e.why().is_none_or(|w| w.trim().is_empty()) {
                return self.err(
                    outcome.span(),
                    format!("expect.rules.{id}"),
                    "a rule expected to fail needs its reason: { outcome = \"fail\", why = \"...\" }",
                );
            }
            if crate::plan::checklist::find(id).is_none() {
                return self.err(
                    outcome.span(),
                    format!("expect.rules.{id}"),
                    "no such rule (see `bootlab rules`)",
                );
            }
        }
        Ok(())
    }

    fn check_role(&self, r: &Spanned<String>, field: &str) -> Result<(), ScenarioError> {
        if self.roles.contains_key(r.get_ref()) {
            Ok(())
        } else {
            self.err(r.span(), field, format!("unknown role {:?}", r.get_ref()))
        }
    }

    /// The subnet of a segment.
    pub fn prefix(&self, segment: &str) -> Option<Prefix> {
        self.segments
            .get(segment)
            .and_then(|s| Prefix::parse(s.subnet.get_ref()))
    }
}

fn check_name(sc: &Scenario, name: &str, field: &str) -> Result<(), ScenarioError> {
    if name.is_empty()
        || name.len() > 12
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return sc.err(
            0..0,
            field,
            format!(
                "{name:?}: names are 1-12 letters, digits or '-' (they become interface names)"
            ),
        );
    }
    Ok(())
}

/// Finds scenario files: a name (looked up in `scenarios/`), a file, or a directory of `.toml`.
pub fn resolve(args: &[String], dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut out = Vec::new();
    let list_dir = |d: &Path, out: &mut Vec<PathBuf>| -> Result<(), ScenarioError> {
        let rd = std::fs::read_dir(d).map_err(|error| ScenarioError::Io {
            path: d.to_path_buf(),
            error,
        })?;
        let mut v: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        v.sort();
        out.extend(v);
        Ok(())
    };
    if args.is_empty() {
        list_dir(dir, &mut out)?;
    }
    for a in args {
        let p = PathBuf::from(a);
        if p.is_dir() {
            list_dir(&p, &mut out)?;
        } else if p.is_file() {
            out.push(p);
        } else {
            let named = dir.join(format!("{a}.toml"));
            if named.is_file() {
                out.push(named);
            } else {
                return Err(ScenarioError::Io {
                    path: p,
                    error: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such scenario, file or directory",
                    ),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "demo"
about = "A demo."

[segments.lan]
subnet = "192.0.2.0/24"

[hosts.server]
on = { lan = "192.0.2.1" }

[hosts.rom]
on = { lan = "none" }

[roles.dhcpd]
host = "server"
kind = "bootp-server"

[[steps]]
wait = { role = "dhcpd", event = "ready", within = "5s" }
"#;

    fn err_of(text: &str) -> String {
        match parse(Path::new("scenarios/demo.toml"), text) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_good_scenario_parses() {
        let sc = parse(Path::new("demo.toml"), GOOD).expect("valid");
        assert!(
            sc.expect.golden,
            "golden comparison is on without an [expect] table"
        );
        assert_eq!(sc.name, "demo");
        assert_eq!(sc.steps.len(), 1);
        assert_eq!(
            sc.prefix("lan").map(|p| p.to_string()),
            Some("192.0.2.0/24".into())
        );
    }

    #[test]
    fn unknown_host_names_file_line_and_field() {
        let e = err_of(&GOOD.replace("host = \"server\"", "host = \"srv\""));
        assert_eq!(
            e,
            "scenarios/demo.toml:15: roles.dhcpd.host: unknown host \"srv\""
        );
    }

    #[test]
    fn address_outside_subnet_is_refused() {
        let e = err_of(&GOOD.replace("192.0.2.1\"", "198.51.100.1\""));
        assert!(
            e.starts_with("scenarios/demo.toml:9: hosts.server.on.lan: 198.51.100.1 is outside"),
            "{e}"
        );
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        let e = err_of(&GOOD.replace(
            "kind = \"bootp-server\"",
            "kind = \"bootp-server\"\nkidn = 1",
        ));
        assert!(
            e.starts_with("scenarios/demo.toml:17: kidn: unknown field `kidn`"),
            "{e}"
        );
    }

    #[test]
    fn bad_duration_is_refused() {
        let e = err_of(&GOOD.replace("within = \"5s\"", "within = \"5 parsecs\""));
        assert!(e.contains(":19: steps[0].wait.within:"), "{e}");
    }

    #[test]
    fn durations_and_prefixes() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("x"), None);
        let p = Prefix::parse("192.0.2.7/24").expect("prefix");
        assert_eq!(p.network, Ipv4Addr::new(192, 0, 2, 0));
        assert!(p.contains(Ipv4Addr::new(192, 0, 2, 200)));
        assert!(!p.contains(Ipv4Addr::new(198, 51, 100, 1)));
    }
}

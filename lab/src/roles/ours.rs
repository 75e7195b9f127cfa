//! Our implementations as roles: the config file (or flags) each of our daemons gets from a
//! scenario role, and the check that a role's config is one our daemon accepts, made when the
//! scenario loads so a typo is reported at its line rather than as a role that never got ready.

use crate::plan::role_kind::RoleKind;
use crate::plan::scenario::{Role, Scenario};
use crate::world::topology;
use std::path::Path;

/// Fills a role's config for one of our daemons: `@segment` strings become the host's interface on
/// that segment, `$files` the run's file directory, `$state` the role's state directory and
/// `$mac:HOST` the MAC of HOST's first interface; the
/// keys the daemon takes from the lab (`interface`, `seed`, `time-scale`, a client's `kind`, a DHCP
/// client's `start-delay` of 1 s) are added when absent; `start-delay = "own"` is removed, leaving
/// the daemon's default.
pub fn config(
    sc: &Scenario,
    role_name: &str,
    role: &Role,
    files: &Path,
    state: &Path,
) -> toml::Table {
    let host = &sc.hosts[role.host.get_ref()];
    let segs: Vec<&String> = host.on.get_ref().keys().collect();
    let subst = |v: &toml::Value| substitute(v, &segs, files, state);
    let mut t: toml::Table = role
        .config
        .iter()
        .map(|(k, v)| (k.clone(), subst(v)))
        .collect();
    let kind = *role.kind.get_ref();
    if let Some(k) = kind.our_client_kind() {
        t.entry("kind").or_insert(toml::Value::String(k.into()));
    }
    if !t.contains_key("interface") && segs.len() == 1 && kind != RoleKind::TftpClient {
        t.insert(
            "interface".into(),
            toml::Value::String(topology::interface_name(0)),
        );
    }
    if kind.our_takes_seed() {
        let seed = sc.seed ^ fnv(role_name);
        t.entry("seed")
            .or_insert(toml::Value::Integer((seed & 0x7fff_ffff_ffff_ffff) as i64));
    }
    if kind.our_clock_is_scaled() {
        t.entry("time-scale")
            .or_insert(toml::Value::Float(sc.time_scale));
    }
    if kind == RoleKind::DhcpClient {
        if crate::roles::own_start_delay(&t) {
            // The scenario judges the daemon's own wait (a random 1 to 10 s).
            t.remove("start-delay");
        } else {
            // The shortest wait before the first DISCOVER that RFC 2131 §4.4.1 allows: runs
            // stay quick; CLI-DELAY-01 is judged where a scenario says `start-delay = "own"`.
            t.entry("start-delay").or_insert(toml::Value::Float(1.0));
        }
    }
    t
}

/// Command-line flags for our daemons that take no config file (`tftp get`, `rarp-client`):
/// `key = value` becomes `--key value`, `key = true` becomes `--key`; a tftp-client's `file` is the
/// positional argument and its `output` defaults to the state directory.
pub fn flags(kind: RoleKind, config: &toml::Table, state: &Path) -> Vec<String> {
    let tftp = kind == RoleKind::TftpClient;
    let mut a = if tftp {
        vec!["get".to_string()]
    } else {
        vec![]
    };
    let s = |v: &toml::Value| match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for (k, v) in config {
        match (k.as_str(), v) {
            ("file", _) => {}
            (_, toml::Value::Boolean(true)) => a.push(format!("--{k}")),
            (_, toml::Value::Boolean(false)) => {}
            _ => {
                a.push(format!("--{k}"));
                a.push(s(v));
            }
        }
    }
    if tftp {
        if !config.contains_key("output") {
            a.push("--output".into());
            a.push(state.join("download").to_string_lossy().into_owned());
        }
        a.push(config.get("file").map(s).unwrap_or_default());
    }
    a
}

fn substitute(v: &toml::Value, segs: &[&String], files: &Path, state: &Path) -> toml::Value {
    match v {
        toml::Value::String(s) if s.starts_with("$mac:") => {
            // `$mac:HOST`: the hardware address of HOST's first interface (names are derived).
            let host = &s["$mac:".len()..];
            toml::Value::String(topology::MacAddr::derived(host, 0).to_string())
        }
        toml::Value::String(s) => {
            if let Some(seg) = s.strip_prefix('@') {
                if let Some(i) = segs.iter().position(|x| x.as_str() == seg) {
                    return toml::Value::String(topology::interface_name(i));
                }
            }
            toml::Value::String(
                s.replace("$files", &files.to_string_lossy())
                    .replace("$state", &state.to_string_lossy()),
            )
        }
        toml::Value::Array(a) => toml::Value::Array(
            a.iter()
                .map(|x| substitute(x, segs, files, state))
                .collect(),
        ),
        toml::Value::Table(t) => toml::Value::Table(
            t.iter()
                .map(|(k, x)| {
                    let key = match substitute(&toml::Value::String(k.clone()), segs, files, state)
                    {
                        toml::Value::String(k2) => k2,
                        _ => k.clone(),
                    };
                    (key, substitute(x, segs, files, state))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// FNV-1a of `s`: per-role seeds and deterministic file contents.
pub fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A role's config that our daemon would refuse: the key (dotted, as far as the daemon tells)
/// and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key, e.g. `pool` or `option82.insert`; empty when the daemon names none.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Whether our daemon for `role` accepts its config as the runner would write it (with stand-in
/// directories for `$files` and `$state`): the same typed parse and validation the daemon does
/// at start, minus what needs the run's files.
pub fn check_config(sc: &Scenario, role_name: &str, role: &Role) -> Result<(), ConfigProblem> {
    let kind = *role.kind.get_ref();
    let files = Path::new("/nonexistent/bootlab-files");
    let state = Path::new("/nonexistent/bootlab-state");
    let table = config(sc, role_name, role, files, state);
    if kind.our_config_is_flags() {
        return check_flags(kind, &flags(kind, &table, state));
    }
    let text = toml::to_string(&table).map_err(|e| ConfigProblem {
        key: String::new(),
        message: e.to_string(),
    })?;
    let path = Path::new("config.toml");
    let r: Result<(), bootlab_net::config::ConfigError> = match kind {
        RoleKind::DhcpServer | RoleKind::BootpServer => {
            match bootlab_server::config::Config::parse(&text, path) {
                Ok(_) => Ok(()),
                Err(bootlab_server::config::ConfigError::File(e)) => Err(e),
                Err(other) => {
                    return Err(ConfigProblem {
                        key: String::new(),
                        message: other.to_string(),
                    })
                }
            }
        }
        RoleKind::Relay => bootlab_relay::config::Config::parse(&text, path).map(drop),
        RoleKind::DhcpClient | RoleKind::BootpClient | RoleKind::RomClient => {
            bootlab_client::config::ClientConfig::parse(&text, path).map(drop)
        }
        RoleKind::TftpServer => {
            bootlab_net::config::parse::<bootlab_tftp::daemon::DaemonConfig>(&text, path).map(drop)
        }
        RoleKind::RarpServer => {
            bootlab_net::config::parse::<bootlab_rarp::ServerConfig>(&text, path).map(drop)
        }
        RoleKind::Probe => {
            bootlab_net::config::parse::<bootlab_probe::script::Config>(&text, path).map(drop)
        }
        RoleKind::TftpClient | RoleKind::RarpClient => Ok(()),
        // No daemon of ours: the profile's own templates are checked by profile_render.
        RoleKind::NfsServer => Ok(()),
    };
    r.map_err(|e| match e {
        bootlab_net::config::ConfigError::Invalid { key, message, .. } => {
            ConfigProblem { key, message }
        }
        other => ConfigProblem {
            key: String::new(),
            message: other.to_string(),
        },
    })
}

/// The flags our `tftp get` or `rarp-client` would be started with, parsed as they would be.
fn check_flags(kind: RoleKind, argv: &[String]) -> Result<(), ConfigProblem> {
    #[derive(clap::Parser)]
    struct Tftp {
        #[command(flatten)]
        _a: bootlab_tftp::ClientArgs,
    }
    #[derive(clap::Parser)]
    struct Rarp {
        #[command(flatten)]
        _a: bootlab_rarp::ClientArgs,
    }
    use clap::Parser;
    let argv = std::iter::once(kind.our_subcommand().unwrap_or_default().to_string())
        .chain(argv.iter().cloned());
    let r = match kind {
        RoleKind::TftpClient => Tftp::try_parse_from(argv).map(drop),
        _ => Rarp::try_parse_from(argv).map(drop),
    };
    r.map_err(|e| {
        let key = match e.get(clap::error::ContextKind::InvalidArg) {
            Some(clap::error::ContextValue::String(s)) => s
                .trim_start_matches('-')
                .split([' ', '='])
                .next()
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        };
        let message = e
            .render()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_string();
        ConfigProblem { key, message }
    })
}

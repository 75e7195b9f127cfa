//! What each [`RoleKind`] means to the lab: which of our subcommands plays it, when it starts,
//! which events it can report, and which clock it runs on. Adding a role kind means a variant in
//! `plan/role_kind.rs` and its arms here.

use crate::plan::role_kind::RoleKind;

/// Events every role can report whatever its kind: the lab's own record of a role that ended, and
/// the count of event lines a daemon had to drop on an undrained stdout (`bootlab_net::events`).
const LAB_EVENTS: &[&str] = &["exited", "events-dropped"];

/// Events our server prints (`src/server`): readiness, replies, leases, refusals.
const SERVER_EVENTS: &[&str] = &[
    "ready",
    "stopped",
    "reloaded",
    "send-failed",
    "journal-failed",
    "journal-damaged",
    "pool-exhausted",
    "bootp-reply",
    "offered",
    "lease-acked",
    "nak-sent",
    "declined",
    "released",
    "informed",
    "ignored",
];

/// Events our relay prints (`src/relay`).
const RELAY_EVENTS: &[&str] = &[
    "ready",
    "stopped",
    "reloaded",
    "send-failed",
    "forwarded",
    "reply-relayed",
    "ignored",
];

/// Events our DHCP, BOOTP and boot-ROM clients print (`src/client`).
const CLIENT_EVENTS: &[&str] = &[
    "ready",
    "offer-received",
    "nak-received",
    "bound",
    "renewed",
    "rebound",
    "expired",
    "released",
    "declined",
    "decline-failed",
    "conflict",
    "inform-acked",
    "gave-up",
    "arp-answered",
    "boot-reply-received",
    "server-resolved",
    "transfer-started",
    "transfer-failed",
    "boot-file-received",
];

/// Events our TFTP server and client print (`src/tftp`).
const TFTP_EVENTS: &[&str] = &[
    "ready",
    "refused",
    "transfer-complete",
    "transfer-failed",
    "boot-file-received",
];

/// Events our RARP server and client print (`src/rarp`).
const RARP_EVENTS: &[&str] = &[
    "ready",
    "ignored",
    "rarp-reply-sent",
    "rarp-reply-received",
    "rarp-failed",
];

/// Events a probe prints (`src/probe`); per step N also `sent-N`, `expect-N-ok` and
/// `expect-N-failed`, see [`is_probe_step_event`].
const PROBE_EVENTS: &[&str] = &["ready", "script-done", "script-failed"];

/// Whether `name` is one of a probe's per-step events (`sent-3`, `expect-4-ok`, `expect-4-failed`).
pub fn is_probe_step_event(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if let Some(n) = name.strip_prefix("sent-") {
        return digits(n);
    }
    name.strip_prefix("expect-").is_some_and(|rest| {
        rest.strip_suffix("-ok")
            .or_else(|| rest.strip_suffix("-failed"))
            .is_some_and(digits)
    })
}

impl RoleKind {
    /// The `bootlab` subcommand of ours that plays this kind; `None` for a kind only third-party
    /// implementations play (see [`RoleKind::has_ours`]).
    pub fn our_subcommand(self) -> Option<&'static str> {
        Some(match self {
            RoleKind::NfsServer => return None,
            RoleKind::DhcpServer | RoleKind::BootpServer => "server",
            RoleKind::Relay => "relay",
            RoleKind::TftpServer => "tftpd",
            RoleKind::TftpClient => "tftp",
            RoleKind::RarpServer => "rarpd",
            RoleKind::RarpClient => "rarp-client",
            RoleKind::Probe => "probe",
            RoleKind::DhcpClient | RoleKind::BootpClient | RoleKind::RomClient => "client",
        })
    }

    /// Start order: lower first, so clients find their servers up.
    pub fn start_rank(self) -> u8 {
        match self {
            RoleKind::TftpServer | RoleKind::RarpServer | RoleKind::NfsServer => 0,
            RoleKind::DhcpServer | RoleKind::BootpServer => 1,
            RoleKind::Relay => 2,
            // A probe may play a server to the clients started after it.
            RoleKind::Probe => 3,
            _ => 4,
        }
    }

    /// Whether the role reports `ready` and is waited for before the steps start.
    pub fn waits_ready(self) -> bool {
        self.start_rank() < 4
    }

    /// The `kind` key our client daemon takes for this role (`dhcp`, `bootp`, `rom`).
    pub fn our_client_kind(self) -> Option<&'static str> {
        match self {
            RoleKind::DhcpClient => Some("dhcp"),
            RoleKind::BootpClient => Some("bootp"),
            RoleKind::RomClient => Some("rom"),
            _ => None,
        }
    }

    /// Whether ours takes its configuration as command-line flags, not a config file.
    pub fn our_config_is_flags(self) -> bool {
        matches!(self, RoleKind::TftpClient | RoleKind::RarpClient)
    }

    /// Whether ours draws random choices (xids, back-off, pool order) from a `seed`.
    pub fn our_takes_seed(self) -> bool {
        self.is_client() || self.is_server()
    }

    /// Whether ours runs on the scenario's scaled clock (`time-scale`). The others have no
    /// protocol timers worth scaling; every peer runs on real time.
    pub fn our_clock_is_scaled(self) -> bool {
        self.our_takes_seed()
            || matches!(
                self,
                RoleKind::TftpServer
                    | RoleKind::TftpClient
                    | RoleKind::RarpClient
                    | RoleKind::Probe
            )
    }

    /// The events our implementation of this kind can report (plus the lab's own).
    pub fn our_events(self) -> impl Iterator<Item = &'static str> {
        let own: &[&str] = match self {
            RoleKind::DhcpServer | RoleKind::BootpServer => SERVER_EVENTS,
            RoleKind::Relay => RELAY_EVENTS,
            RoleKind::DhcpClient | RoleKind::BootpClient | RoleKind::RomClient => CLIENT_EVENTS,
            RoleKind::TftpServer | RoleKind::TftpClient => TFTP_EVENTS,
            RoleKind::RarpServer | RoleKind::RarpClient => RARP_EVENTS,
            RoleKind::Probe => PROBE_EVENTS,
            RoleKind::NfsServer => &[],
        };
        own.iter().chain(LAB_EVENTS).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// Every event name a crate's sources emit: `emit("name"` and `name: "name"` (core actions).
    fn emitted(crate_dir: &str) -> BTreeSet<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(crate_dir)
            .join("src");
        let mut names = BTreeSet::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read crate sources").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                for marker in ["emit(", "name:"] {
                    for (i, _) in text.match_indices(marker) {
                        // `name: "..."` counts only inside a core's `Action::Event { .. }`.
                        let mut start = i.saturating_sub(48);
                        while !text.is_char_boundary(start) {
                            start -= 1;
                        }
                        let before = &text[start..i];
                        if marker == "name:" && !before.contains("Event") {
                            continue;
                        }
                        let rest = text[i + marker.len()..].trim_start();
                        let Some(rest) = rest.strip_prefix('"') else {
                            continue;
                        };
                        let Some(end) = rest.find('"') else { continue };
                        let name = &rest[..end];
                        if !name.is_empty()
                            && name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                        {
                            names.insert(name.to_string());
                        }
                    }
                }
            }
        }
        names
    }

    fn check(crate_dir: &str, kind: RoleKind, not_events: &[&str]) {
        let listed: BTreeSet<&str> = kind.our_events().collect();
        for name in emitted(crate_dir) {
            if not_events.contains(&name.as_str()) {
                continue;
            }
            assert!(
                listed.contains(name.as_str()),
                "{crate_dir} emits {name:?}, missing from the {kind} events in roles/kind.rs"
            );
        }
    }

    #[test]
    fn event_lists_cover_what_our_daemons_emit() {
        check("src/server", RoleKind::DhcpServer, &[]);
        check("src/relay", RoleKind::Relay, &[]);
        check("src/client", RoleKind::DhcpClient, &[]);
        check("src/tftp", RoleKind::TftpServer, &[]);
        check("src/rarp", RoleKind::RarpServer, &[]);
    }

    #[test]
    fn servers_start_before_relays_before_clients() {
        assert!(RoleKind::TftpServer.start_rank() < RoleKind::DhcpServer.start_rank());
        assert!(RoleKind::DhcpServer.start_rank() < RoleKind::Relay.start_rank());
        assert!(RoleKind::Relay.start_rank() < RoleKind::DhcpClient.start_rank());
        assert!(!RoleKind::RomClient.waits_ready());
    }
}

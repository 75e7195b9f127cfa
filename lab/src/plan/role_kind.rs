//! The role kinds a scenario can name: what part a program plays. What each kind means for the
//! lab (our subcommand, start order, events, clock) is in [`crate::roles::kind`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A role kind (the scenario's `kind`, a profile's `roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleKind {
    /// A DHCP server (RFC 2131).
    DhcpServer,
    /// A BOOTP server (RFC 951).
    BootpServer,
    /// A BOOTP/DHCP relay agent (RFC 1542 §4).
    Relay,
    /// A DHCP client (RFC 2131).
    DhcpClient,
    /// A BOOTP client (RFC 951).
    BootpClient,
    /// A boot ROM: BOOTP/DHCP then TFTP (PXE).
    RomClient,
    /// A TFTP server (RFC 1350).
    TftpServer,
    /// A TFTP client (RFC 1350).
    TftpClient,
    /// A RARP server (RFC 903).
    RarpServer,
    /// A RARP client (RFC 903).
    RarpClient,
    /// A scripted endpoint that sends hand-built frames and checks replies (`bootlab probe`).
    Probe,
    /// An NFS server exporting a guest's root file system (RFC 1813, RFC 7530): third-party only,
    /// the role names its profile (`implementation = "nfs-ganesha"`).
    NfsServer,
}

impl RoleKind {
    /// Every kind, in this order.
    pub const ALL: [RoleKind; 12] = [
        RoleKind::DhcpServer,
        RoleKind::BootpServer,
        RoleKind::Relay,
        RoleKind::DhcpClient,
        RoleKind::BootpClient,
        RoleKind::RomClient,
        RoleKind::TftpServer,
        RoleKind::TftpClient,
        RoleKind::RarpServer,
        RoleKind::RarpClient,
        RoleKind::Probe,
        RoleKind::NfsServer,
    ];

    /// The kebab-case name used in scenarios, profiles and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::DhcpServer => "dhcp-server",
            RoleKind::BootpServer => "bootp-server",
            RoleKind::Relay => "relay",
            RoleKind::DhcpClient => "dhcp-client",
            RoleKind::BootpClient => "bootp-client",
            RoleKind::RomClient => "rom-client",
            RoleKind::TftpServer => "tftp-server",
            RoleKind::TftpClient => "tftp-client",
            RoleKind::RarpServer => "rarp-server",
            RoleKind::RarpClient => "rarp-client",
            RoleKind::Probe => "probe",
            RoleKind::NfsServer => "nfs-server",
        }
    }

    /// The names of every kind, comma-separated (for error messages).
    pub fn names() -> String {
        RoleKind::ALL.map(RoleKind::as_str).join(", ")
    }

    /// A BOOTP or DHCP server.
    pub fn is_server(self) -> bool {
        matches!(self, RoleKind::DhcpServer | RoleKind::BootpServer)
    }

    /// A BOOTP, DHCP or boot-ROM client.
    pub fn is_client(self) -> bool {
        matches!(
            self,
            RoleKind::DhcpClient | RoleKind::BootpClient | RoleKind::RomClient
        )
    }

    /// Whether bootlab has an implementation of its own (`implementation = "ours"`).
    pub fn has_ours(self) -> bool {
        self != RoleKind::NfsServer
    }

    /// A TFTP server or client.
    pub fn is_tftp(self) -> bool {
        matches!(self, RoleKind::TftpServer | RoleKind::TftpClient)
    }
}

impl fmt::Display for RoleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RoleKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RoleKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown role kind {s:?} (one of {})", RoleKind::names()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        for k in RoleKind::ALL {
            let json = serde_json::to_string(&k).expect("serializes");
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(k.as_str().parse::<RoleKind>(), Ok(k));
        }
        assert!("dhcp-sever".parse::<RoleKind>().is_err());
    }
}

//! Historic server behaviours reproduced on demand, each named and documented with its source.
//!
//! A quirk is a deliberate deviation. To add one: a variant here with its source, its name in
//! [`Quirk::NAMES`], and a check of [`crate::core::Server::has_quirk`] at the point it changes.

use serde::Deserialize;

/// A named historic behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quirk {
    /// `nt4-sp2`: Windows NT 4.0 Service Pack 2 DHCP/BOOTP service (KB Q164394, "BOOTP Service
    /// Does Not Populate ARP Cache"). The BOOTREPLY to a client without an address reaches it by
    /// broadcast, but no neighbour (ARP) entry yiaddr -> chaddr is left on the server host. When
    /// the boot ROM then sends its TFTP read request, the TFTP server on the same host must ARP for
    /// the client, which cannot answer yet, so DATA never leaves and the boot fails. Our server
    /// with this quirk broadcasts every such reply and never installs a neighbour entry, whatever
    /// `reply-policy` says.
    #[serde(rename = "nt4-sp2")]
    Nt4Sp2,
}

impl Quirk {
    /// Every quirk name accepted in `quirks = [...]`.
    pub const NAMES: &'static [&'static str] = &["nt4-sp2"];
}

impl std::fmt::Display for Quirk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Quirk::Nt4Sp2 => "nt4-sp2",
        })
    }
}

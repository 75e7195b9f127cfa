//! bootlab-client: our DHCP client (RFC 2131), BOOTP client (RFC 951) and boot-ROM profile.
//!
//! Each protocol is a pure core (`dhcp`, `bootp`, `rom`) that takes protocol time and packets
//! and hands back packets to send, events and the next timer; `daemon` is the thin I/O shell
//! around them. All clients share one retransmission module ([`backoff`]) and one ARP
//! conflict-detection core ([`acd`]).

pub mod acd;
pub mod backoff;
pub mod bootp;
pub mod dhcp;
pub mod msg;
pub mod rom;

/// Command-line arguments of `bootlab client`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML).
    #[arg(long, short = 'c')]
    pub config: std::path::PathBuf,
}

/// Runs `bootlab client` until SIGTERM. Builds its own tokio runtime.
pub fn run(args: Args) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("bootlab client: not implemented yet")
}

//! bootlab-relay: an RFC 1542 BOOTP/DHCP relay agent with RFC 3046 option 82.
//!
//! [`core::Relay`] is the pure state machine, [`daemon`] the tokio shell behind
//! `bootlab relay --config F`; [`config::Config`] documents the file format.

pub mod config;
pub mod core;
pub mod daemon;

/// Command-line arguments of `bootlab relay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML, see `bootlab_relay::config::Config`).
    #[arg(long, short = 'c')]
    pub config: std::path::PathBuf,
    /// Parse the configuration, print the result and exit.
    #[arg(long)]
    pub check: bool,
}

/// Runs `bootlab relay` until SIGTERM. Builds its own tokio runtime.
pub fn run(args: Args) -> anyhow::Result<()> {
    daemon::run(args)
}

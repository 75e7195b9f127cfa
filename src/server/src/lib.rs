//! bootlab-server: a BOOTP/DHCPv4 server (RFC 951, 1542, 1534, 2131, 2132, 3046).
//!
//! [`core::Server`] is the pure state machine; [`journal`] keeps leases durable; [`daemon`] is the
//! tokio shell behind `bootlab server --config F`. [`config::Config`] documents the file format.

pub mod bootptab;
pub mod config;
pub mod core;
pub mod daemon;
pub mod journal;
pub mod leases;
pub mod quirks;

/// Command-line arguments of `bootlab server`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML, see `bootlab_server::config::Config`).
    #[arg(long, short = 'c')]
    pub config: std::path::PathBuf,
    /// Import host entries from a CMU bootptab in addition to the configuration's.
    #[arg(long)]
    pub bootptab: Option<std::path::PathBuf>,
    /// Parse the configuration (and bootptab), print the result and exit.
    #[arg(long)]
    pub check: bool,
}

/// Runs `bootlab server` until SIGTERM. Builds its own tokio runtime.
pub fn run(args: Args) -> anyhow::Result<()> {
    daemon::run(args)
}

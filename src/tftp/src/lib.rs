//! bootlab-tftp: TFTP (RFC 1350) with option negotiation (RFC 2347, 2348, 2349, 7440).
//!
//! Pure cores that take `now` and datagrams and return datagrams and timers: [`client::Client`]
//! (used by `bootlab tftp get` and the boot ROM) and the server transfers in [`server`]; the
//! daemons around them in [`daemon`] (`bootlab tftpd`) and [`get`] (`bootlab tftp get`).

pub mod client;
pub mod confine;
pub mod netascii;
pub mod options;
pub mod server;
pub mod window;

/// Command-line arguments of `bootlab tftpd`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Configuration file (TOML).
    #[arg(long, short = 'c')]
    pub config: std::path::PathBuf,
}

/// Runs `bootlab tftpd` until SIGTERM. Builds its own tokio runtime.
pub fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("bootlab tftpd: not implemented yet")
}

/// Command-line arguments of `bootlab tftp`.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// Configuration file (TOML).
    #[arg(long, short = 'c')]
    pub config: std::path::PathBuf,
}

/// Runs `bootlab tftp` until SIGTERM. Builds its own tokio runtime.
pub fn run_client(args: ClientArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("bootlab tftp: not implemented yet")
}

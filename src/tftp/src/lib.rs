//! bootlab-tftp.

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

//! bootlab-rarp.

/// Command-line arguments of `bootlab rarpd`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Configuration file (TOML).
    #[arg(long, short = 'c')]
    pub config: std::path::PathBuf,
}

/// Runs `bootlab rarpd` until SIGTERM. Builds its own tokio runtime.
pub fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("bootlab rarpd: not implemented yet")
}

/// Command-line arguments of `bootlab rarp-client`.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// Configuration file (TOML).
    #[arg(long, short = 'c')]
    pub config: std::path::PathBuf,
}

/// Runs `bootlab rarp-client` until SIGTERM. Builds its own tokio runtime.
pub fn run_client(args: ClientArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("bootlab rarp-client: not implemented yet")
}

//! bootlab-client.

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

//! bootlab-relay.

/// Command-line arguments of `bootlab relay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML).
    #[arg(long, short = 'c')]
    pub config: std::path::PathBuf,
}

/// Runs `bootlab relay` until SIGTERM. Builds its own tokio runtime.
pub fn run(args: Args) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("bootlab relay: not implemented yet")
}

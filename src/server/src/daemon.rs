//! The tokio shell around [`crate::core::Server`].

/// Runs the daemon.
pub fn run(args: crate::Args) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("not yet")
}

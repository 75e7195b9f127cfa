//! Logging set-up shared by the daemons: `tracing` to stderr, filtered by `RUST_LOG`
//! (default `info`). Events for machines go to stdout (see [`crate::events`]).

/// Installs the stderr subscriber; harmless if one is already installed.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

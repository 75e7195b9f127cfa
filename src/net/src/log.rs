//! Logging set-up shared by the daemons: `tracing` to stderr, filtered by `RUST_LOG`
//! (default `info`), coloured only on a terminal. Events for machines go to stdout (see [`crate::events`]).

/// Installs the stderr subscriber; harmless if one is already installed.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour only on a terminal: the lab keeps stderr in per-role log files.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

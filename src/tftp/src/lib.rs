//! bootlab-tftp: TFTP (RFC 1350) with option negotiation (RFC 2347, 2348, 2349, 7440).
//!
//! Pure cores that take `now` and datagrams and return datagrams and timers: [`client::Client`]
//! (used by `bootlab tftp get` and the boot ROM) and the server transfers in [`server`]; the
//! daemons around them in [`daemon`] (`bootlab tftpd`) and [`get`] (`bootlab tftp get`).

pub mod client;
pub mod confine;
pub mod daemon;
pub mod get;
pub mod netascii;
pub mod options;
pub mod server;
pub mod slots;
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
    daemon::run(&args.config)
}

/// Command-line arguments of `bootlab tftp`.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ClientCommand,
}

/// `bootlab tftp` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Download a file (RRQ) with optional RFC 2347 options.
    Get(get::GetArgs),
}

/// Runs `bootlab tftp ...` until the transfer ends. Builds its own tokio runtime.
pub fn run_client(args: ClientArgs) -> anyhow::Result<()> {
    match args.command {
        ClientCommand::Get(a) => get::run(&a),
    }
}

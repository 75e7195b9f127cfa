//! `bootlab`: the one user-facing command. Lab subcommands isolate themselves first (see
//! `lab::isolate`); daemon subcommands run our implementations as an administrator would.

use clap::{Parser, Subcommand};

/// A network-boot conformance lab.
#[derive(Debug, Parser)]
#[command(name = "bootlab", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run our BOOTP/DHCP server daemon.
    Server(bootlab_server::Args),
    /// Run our BOOTP/DHCP relay agent daemon.
    Relay(bootlab_relay::Args),
    /// Run one of our clients (DHCP, BOOTP, boot ROM).
    Client(bootlab_client::Args),
    /// Run our TFTP server daemon.
    Tftpd(bootlab_tftp::ServerArgs),
    /// Run our TFTP client.
    Tftp(bootlab_tftp::ClientArgs),
    /// Run our RARP server daemon.
    Rarpd(bootlab_rarp::ServerArgs),
    /// Run our RARP client.
    RarpClient(bootlab_rarp::ClientArgs),
    /// Decode a pcap/pcapng capture: one line per frame, or JSON with every field.
    Decode(bootlab_lab::decode::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(a) => bootlab_server::run(a),
        Command::Relay(a) => bootlab_relay::run(a),
        Command::Client(a) => bootlab_client::run(a),
        Command::Tftpd(a) => bootlab_tftp::run_server(a),
        Command::Tftp(a) => bootlab_tftp::run_client(a),
        Command::Rarpd(a) => bootlab_rarp::run_server(a),
        Command::RarpClient(a) => bootlab_rarp::run_client(a),
        Command::Decode(a) => bootlab_lab::decode::run(a),
    }
}

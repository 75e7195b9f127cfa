//! `bootlab bench`: benchmarks run inside the lab's own namespaces, each printing figures as
//! ratios against peers measured in the same run. `server` drives perfdhcp against our DHCP
//! server, the installed peers and a canned stateless responder (the limit); `storm` boots N ROMs
//! at once behind our relay against each server stack; `tftp` compares TFTP servers over a link
//! with added delay. Benchmarks, not
//! tests: nothing here asserts a speed.

pub mod canned;
pub mod server;
pub mod storm;
pub mod tftp;

use anyhow::Context;
use clap::Subcommand;

/// Arguments of `bootlab bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// DHCP throughput (DORA/s) with perfdhcp: canned limit, ours, every installed peer.
    Server(server::Args),
    /// A boot storm: N boot ROMs behind our relay, each BOOTP then TFTP of a 1 MiB file, per
    /// server stack (ours, dnsmasq, ISC dhcpd + tftpd-hpa, Kea + atftpd).
    Storm(storm::Args),
    /// TFTP over a slow link (the impairment wire's delay): ours with blksize and windowsize
    /// against tftpd-hpa at its best option set.
    Tftp(tftp::Args),
    /// The canned stateless responder (runs inside a bench host).
    #[command(hide = true)]
    Canned(canned::Args),
}

impl Args {
    /// Whether the subcommand builds worlds (and so must isolate itself first).
    pub fn needs_isolation(&self) -> bool {
        !matches!(self.command, BenchCommand::Canned(_))
    }
}

/// Runs `bootlab bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Canned(a) => canned::run(a),
        BenchCommand::Server(a) => runtime()?.block_on(server::run(a)),
        BenchCommand::Storm(a) => runtime()?.block_on(storm::run(a)),
        BenchCommand::Tftp(a) => runtime()?.block_on(tftp::run(a)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")
}

//! bootlab-client: our DHCP client (RFC 2131), BOOTP client (RFC 951) and boot-ROM profile.
//!
//! Each protocol is a pure core (`dhcp`, `bootp`, `rom`) that takes protocol time and packets
//! and hands back packets to send, events and the next timer; `daemon` is the thin I/O shell
//! around them. All clients share one retransmission module ([`backoff`]) and one ARP
//! conflict-detection core ([`acd`]).

pub mod acd;
pub mod backoff;
pub mod bootp;
pub mod config;
pub mod daemon;
pub mod dhcp;
pub mod msg;
pub mod netlink;
pub mod rom;

/// Command-line arguments of `bootlab client`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML); `kind = "dhcp" | "bootp" | "rom"` selects the client.
    #[arg(long, short = 'c')]
    pub config: std::path::PathBuf,
    /// The interface (overrides `interface`).
    #[arg(long, short = 'i')]
    pub interface: Option<String>,
    /// Seed of every random choice (overrides `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run timers this many times faster than real time (overrides `time-scale`).
    #[arg(long)]
    pub time_scale: Option<f64>,
}

/// Runs `bootlab client` until it is done or gets SIGTERM. Builds its own tokio runtime. Exits
/// the process with status 1 when the client failed (timeout, boot failure).
pub fn run(args: Args) -> anyhow::Result<()> {
    bootlab_net::log::init();
    let cfg = config::ClientConfig::load(&args.config)?;
    let over = daemon::Overrides {
        interface: args.interface,
        seed: args.seed,
        time_scale: args.time_scale,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = rt.block_on(daemon::run(cfg, over))?;
    if status != 0 {
        bootlab_net::log::flush(std::time::Duration::from_secs(1));
        std::process::exit(status);
    }
    Ok(())
}

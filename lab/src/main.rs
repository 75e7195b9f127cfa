//! `bootlab`: the one user-facing command. Lab subcommands isolate themselves first (see
//! `lab::isolate`); daemon subcommands run our implementations as an administrator would.

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;

/// `0.1.0 (abc1234)`: the version and the git commit it was built from (see `build.rs`).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BOOTLAB_COMMIT"), ")");

/// A network-boot conformance lab.
#[derive(Debug, Parser)]
#[command(name = "bootlab", version = VERSION, about)]
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
    /// Run a probe script: hand-built frames sent and replies checked (scenarios' `probe` role).
    Probe(bootlab_probe::Args),
    /// Run scenarios (all of `scenarios/` by default) on our implementations or the ones named.
    Run(bootlab_lab::cmd::run::Args),
    /// Run every applicable scenario with every installed third-party implementation of some role
    /// kinds (default the servers): the interop matrix (markdown, HTML, JSON).
    Matrix(bootlab_lab::cmd::matrix::Args),
    /// Review pending golden changes (`golden/*.snap.new`): accept or reject each difference.
    Review(bootlab_lab::cmd::review::Args),
    /// Join the results of shards (`run --shard K/N --json`, `matrix --shard K/N`) into one
    /// summary, JUnit, JSON and matrix report.
    Merge(bootlab_lab::cmd::merge::Args),
    /// List the scenarios: name, then what each proves.
    List(bootlab_lab::cmd::catalog::ListArgs),
    /// List the checklist's rules and which are checked.
    Rules(bootlab_lab::cmd::catalog::RulesArgs),
    /// List the third-party implementations (profiles): roles, Debian package, installed or not.
    Profiles(bootlab_lab::cmd::catalog::JsonArg),
    /// Decode a pcap/pcapng capture: one line per frame, or JSON with every field.
    Decode(bootlab_lab::cmd::decode::Args),
    /// Step into a scenario's world: build it, start its roles, and open a shell (or run a
    /// command) inside a host while every segment is captured; the world goes when it exits.
    Shell(bootlab_lab::cmd::shell::Args),
    /// Benchmarks inside the lab's namespaces: `server` (perfdhcp DORA/s against ours, the peers
    /// and a canned limit).
    Bench(bootlab_lab::bench::Args),
    /// Print a shell completion script: `bootlab completions bash > /etc/bash_completion.d/bootlab`.
    #[command(hide = true)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `bootlab man > /usr/local/share/man/man1/bootlab.1`.
    #[command(hide = true)]
    Man {
        /// Write one page per subcommand (`bootlab.1`, `bootlab-run.1`...) into this directory
        /// instead of printing `bootlab.1`.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

fn main() {
    let result = real_main();
    // Events and logs queued while a reader did not drain them get a last chance.
    bootlab_net::log::flush(std::time::Duration::from_secs(1));
    if let Err(e) = result {
        // Errors a user can act on (a scenario file:line, a config key): no backtrace.
        eprintln!("bootlab: {e:#}");
        std::process::exit(2);
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(a) => bootlab_server::run(a),
        Command::Relay(a) => bootlab_relay::run(a),
        Command::Client(a) => bootlab_client::run(a),
        Command::Tftpd(a) => bootlab_tftp::run_server(a),
        Command::Tftp(a) => bootlab_tftp::run_client(a),
        Command::Rarpd(a) => bootlab_rarp::run_server(a),
        Command::RarpClient(a) => bootlab_rarp::run_client(a),
        Command::Probe(a) => bootlab_probe::run(a),
        Command::Review(a) => {
            let dir = bootlab_lab::plan::dirs::find(
                bootlab_lab::plan::dirs::Data::Golden,
                a.golden_dir.as_deref(),
            )?;
            bootlab_lab::cmd::review::run(a, dir)
        }
        Command::Shell(a) => std::process::exit(bootlab_lab::cmd::shell::run(a)?),
        Command::Decode(a) => bootlab_lab::cmd::decode::run(a),
        Command::Run(a) => bootlab_lab::cmd::run::run(a),
        Command::Matrix(a) => bootlab_lab::cmd::matrix::run(a),
        Command::Merge(a) => bootlab_lab::cmd::merge::run(a),
        Command::List(a) => bootlab_lab::cmd::catalog::list(a),
        Command::Rules(a) => bootlab_lab::cmd::catalog::rules(a),
        Command::Profiles(a) => bootlab_lab::cmd::catalog::profiles(a),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "bootlab",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man { dir } => man(dir),
        Command::Bench(a) => {
            if a.needs_isolation() {
                bootlab_lab::world::isolate::enter()?;
            }
            bootlab_lab::bench::run(a)
        }
    }
}

/// Writes the man page of `bootlab` (and, into a directory, of each subcommand).
fn man(dir: Option<PathBuf>) -> anyhow::Result<()> {
    let cmd = Cli::command();
    match dir {
        None => {
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(cmd, &dir)?;
        }
    }
    Ok(())
}

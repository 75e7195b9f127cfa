//! `bootlab tftp get`: the client core over a UDP socket. Emits `transfer-complete` and
//! `boot-file-received` (with the size) or `transfer-failed`, one JSON line each on stdout.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use bootlab_net::clock::Clock;
use bootlab_net::events;
use bootlab_wire::tftp::Mode;
use serde_json::json;

use crate::client::{Client, ClientConfig, Event};
use crate::daemon::{udp_socket, Timer};

/// Arguments of `bootlab tftp get`.
#[derive(Debug, Clone, clap::Args)]
pub struct GetArgs {
    /// The server's address.
    #[arg(long, short = 's')]
    pub server: Ipv4Addr,
    /// The server's request port.
    #[arg(long, default_value_t = 69)]
    pub port: u16,
    /// The file to read, as named to the server.
    pub file: String,
    /// Where to write it (default: the file name's last component, in the current directory).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Transfer mode.
    #[arg(long, short = 'm', default_value = "octet", value_parser = ["octet", "netascii"])]
    pub mode: String,
    /// Ask for this blksize (RFC 2348, 8..=65464).
    #[arg(long, value_parser = clap::value_parser!(u16).range(8..=65464))]
    pub blksize: Option<u16>,
    /// Ask for this windowsize (RFC 7440).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub windowsize: Option<u16>,
    /// Ask for the file size (tsize 0, RFC 2349).
    #[arg(long)]
    pub tsize: bool,
    /// Ask for this retransmission timeout in seconds (RFC 2349 timeout option, 1..=255).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..))]
    pub timeout: Option<u8>,
    /// Our first retransmission timeout in milliseconds when none is negotiated.
    #[arg(long, default_value_t = 1000)]
    pub rexmt_ms: u64,
    /// Retries without progress before giving up.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// Local address to send from.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: Ipv4Addr,
    /// Bind to this interface (SO_BINDTODEVICE).
    #[arg(long)]
    pub interface: Option<String>,
    /// Protocol clock speed-up (scenarios).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
}

impl GetArgs {
    /// Defaults as on the command line: octet, no options, 1 s, 5 retries.
    pub fn new(server: Ipv4Addr, file: impl Into<String>, output: Option<PathBuf>) -> Self {
        Self {
            server,
            port: bootlab_wire::tftp::SERVER_PORT,
            file: file.into(),
            output,
            mode: "octet".into(),
            blksize: None,
            windowsize: None,
            tsize: false,
            timeout: None,
            rexmt_ms: 1000,
            retries: 5,
            bind: Ipv4Addr::UNSPECIFIED,
            interface: None,
            time_scale: 1.0,
        }
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new(self.file.clone());
        c.mode = Mode::from_name(&self.mode);
        c.blksize = self.blksize;
        c.windowsize = self.windowsize;
        c.tsize = self.tsize;
        c.timeout_option = self.timeout;
        c.retransmit = Duration::from_millis(self.rexmt_ms.max(1));
        c.retries = self.retries;
        c.server_port = self.port;
        c
    }

    fn output_path(&self) -> PathBuf {
        self.output.clone().unwrap_or_else(|| {
            let last = self
                .file
                .rsplit(['/', '\\'])
                .find(|s| !s.is_empty())
                .unwrap_or("tftp.out");
            PathBuf::from(last)
        })
    }
}

/// What a finished `get` reports (also used by the benchmark).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GetResult {
    /// Octets written.
    pub bytes: u64,
    /// Wall-clock duration of the transfer.
    pub elapsed: Duration,
}

/// Runs one download; emits the events and returns the size, or an error after `transfer-failed`.
pub async fn get(args: &GetArgs) -> anyhow::Result<GetResult> {
    let out_path = args.output_path();
    let result = download(args, &out_path).await;
    match &result {
        Ok(r) => {
            let secs = r.elapsed.as_secs_f64();
            let fields = json!({
                "file": args.file, "output": out_path.display().to_string(), "bytes": r.bytes,
                "size": r.bytes, "seconds": secs, "server": args.server.to_string(),
            });
            events::emit("transfer-complete", fields.clone());
            events::emit("boot-file-received", fields);
        }
        Err(e) => {
            let _ = std::fs::remove_file(&out_path);
            events::emit(
                "transfer-failed",
                json!({ "file": args.file, "server": args.server.to_string(), "reason": format!("{e:#}") }),
            );
        }
    }
    result
}

async fn download(args: &GetArgs, out_path: &std::path::Path) -> anyhow::Result<GetResult> {
    let clock = Clock::new(args.time_scale);
    let sock = udp_socket(
        SocketAddr::new(IpAddr::V4(args.bind), 0),
        args.interface.as_deref(),
    )?;
    let mut out = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(out_path)
            .with_context(|| format!("creating {}", out_path.display()))?,
    );
    let server_ip = IpAddr::V4(args.server);
    let started = Instant::now();
    let mut c = Client::new(clock.now(), args.client_config());
    let mut buf = vec![0u8; 65_536];
    let mut bytes = 0u64;
    let mut outcome: Option<Result<(), String>> = None;
    let mut timer = Timer::new();
    loop {
        while let Some(t) = c.poll_transmit() {
            if let Err(e) = sock
                .send_to(&t.payload, SocketAddr::new(server_ip, t.dst_port))
                .await
            {
                tracing::debug!("send: {e}");
            }
        }
        bytes += c
            .write_data_to(&mut out)
            .with_context(|| format!("writing {}", out_path.display()))? as u64;
        while let Some(ev) = c.poll_event() {
            match ev {
                Event::Negotiated { negotiated, oack } => {
                    tracing::info!(?negotiated, oack, "negotiated")
                }
                Event::Ignored(why) => tracing::debug!("ignored: {why}"),
                Event::Complete {
                    bytes: wire,
                    blocks,
                    tsize,
                } => {
                    tracing::info!(wire, blocks, ?tsize, "complete");
                    if let Some(ts) = tsize.filter(|&ts| ts != wire) {
                        tracing::warn!(
                            "server announced tsize {ts} but sent {wire} octets (RFC 2349)"
                        );
                    }
                    outcome = Some(Ok(()));
                }
                Event::Failed(f) => outcome = Some(Err(f.to_string())),
            }
        }
        // Done as soon as the file is complete: lingering only matters to a server whose final
        // ACK got lost, and a CLI user should not wait for it.
        if let Some(o) = outcome.take() {
            let elapsed = started.elapsed();
            o.map_err(anyhow::Error::msg)?;
            out.flush()?;
            return Ok(GetResult { bytes, elapsed });
        }
        if c.is_closed() {
            anyhow::bail!("transfer closed without completing");
        }
        timer.arm(c.poll_timeout(), &clock);
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, from)) if from.ip() == server_ip => c.handle(clock.now(), from.port(), &buf[..n]),
                Ok((_, from)) => tracing::debug!(%from, "datagram from another host ignored"),
                Err(e) => tracing::debug!("recv: {e}"),
            },
            _ = timer.fired() => c.handle_timeout(clock.now()),
        }
    }
}

/// Runs `bootlab tftp get` on a fresh single-thread runtime.
pub fn run(args: &GetArgs) -> anyhow::Result<()> {
    bootlab_net::log::init();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let r = rt.block_on(get(args))?;
    tracing::info!(
        bytes = r.bytes,
        secs = r.elapsed.as_secs_f64(),
        "received {}",
        args.file
    );
    Ok(())
}

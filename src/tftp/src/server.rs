//! The TFTP server core: admission of requests arriving on port 69 ([`Server::request`]) and one
//! pure [`Transfer`] state machine per accepted request, which owns its own port (TID, RFC 1350
//! §4). The daemon gives each transfer its own socket and task; tests drive them with a fake `now`.
//!
//! A read sends DATA from 1 (or an OACK first, RFC 2347), `windowsize` blocks at a time (RFC
//! 7440), repeats the window on timeout with back-off, never on a duplicate ACK (RFC 1123
//! §4.2.3.1), and wraps the block number past 65535 to 0 (as tftp-hpa). A write ACKs 0 (or sends
//! an OACK) and collects DATA until the short final block.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bootlab_wire::tftp::{ErrorCode, Mode, Packet, Request};

use crate::confine::{self, Refused};
use crate::options::{grant, Limits, Negotiated};
use crate::window::{AckOutcome, DataOutcome, Datagram, Receiver, Retransmit, Sender, ROLLOVER_TO};

/// What the server core needs to know (the daemon's config file adds addresses and ports).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The directory served; canonical (symlinks resolved).
    pub root: PathBuf,
    /// Whether WRQ is accepted (new files only).
    pub allow_write: bool,
    /// Limits on blksize and windowsize granted.
    pub limits: Limits,
    /// Retransmission timeout unless the client negotiates one (RFC 2349).
    pub timeout: Duration,
    /// Retries without progress before a transfer is abandoned.
    pub retries: u32,
}

impl ServerConfig {
    /// Defaults: read-only, 1 s timeout, 5 retries, blksize up to 65464, windowsize up to 64.
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            allow_write: false,
            limits: Limits::default(),
            timeout: Duration::from_secs(1),
            retries: 5,
        }
    }
}

/// What became of a datagram sent to port 69.
#[derive(Debug)]
pub enum Admission {
    /// A transfer starts; give it its own port and task. A write comes with the new file, into
    /// which the daemon drains [`Transfer::take_data`].
    Start(Box<Transfer>, Option<std::fs::File>),
    /// Refused: send `error` from a fresh port to the client, and log `refused`.
    Refuse {
        /// The file name asked for.
        filename: String,
        /// Code and reason.
        refused: Refused,
        /// The ERROR packet to send.
        error: Vec<u8>,
    },
    /// Not a request (or unparseable): dropped, with a reason for the log.
    Ignore(String),
}

/// The server's admission logic: parses a request, confines the path, opens the file and
/// negotiates options.
#[derive(Debug, Clone)]
pub struct Server {
    config: ServerConfig,
}

impl Server {
    /// A server over `config` (its root must be canonical).
    pub fn new(config: ServerConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Handles one datagram from `peer` to port 69.
    pub fn request(&self, now: Duration, peer: SocketAddr, payload: &[u8]) -> Admission {
        let packet = match Packet::parse(payload) {
            Ok((p, _)) => p,
            Err(e) => return Admission::Ignore(format!("from {peer}: {e}")),
        };
        let (req, write) = match packet {
            Packet::Rrq(r) => (r, false),
            Packet::Wrq(r) => (r, true),
            // RFC 1350 §4: anything else on port 69 is not a transfer; an ERROR is never answered.
            Packet::Error { .. } => {
                return Admission::Ignore(format!("ERROR from {peer} to port 69"))
            }
            p => {
                let refused = Refused {
                    code: ErrorCode::IllegalOperation,
                    reason: format!("{p} sent to port 69"),
                };
                return refuse(String::new(), refused);
            }
        };
        let refusal = |code, reason: String| refuse(req.filename.clone(), Refused { code, reason });
        let netascii = match &req.mode {
            Mode::Octet => false,
            Mode::Netascii => true,
            Mode::Mail => {
                return refusal(
                    ErrorCode::IllegalOperation,
                    "mail mode is not supported".into(),
                )
            }
            Mode::Other(m) => {
                return refusal(ErrorCode::IllegalOperation, format!("unknown mode {m:?}"))
            }
        };
        if write {
            if !self.config.allow_write {
                return refusal(
                    ErrorCode::AccessViolation,
                    format!("{:?}: writes are disabled", req.filename),
                );
            }
            let (file, path) = match confine::open_write(&self.config.root, &req.filename) {
                Ok(x) => x,
                Err(r) => return refuse(req.filename.clone(), r),
            };
            let t = Transfer::write(now, peer, &req, path, netascii, &self.config);
            return Admission::Start(Box::new(t), Some(file));
        }
        let (file, size, path) = match confine::open_read(&self.config.root, &req.filename) {
            Ok(x) => x,
            Err(r) => return refuse(req.filename.clone(), r),
        };
        let source: Box<dyn Read + Send> =
            // Blocks of 16 KiB and more are read straight from the file (BufReader bypasses its
            // buffer for reads at least as large), small ones through the buffer.
            Box::new(std::io::BufReader::with_capacity(16 * 1024, file));
        Admission::Start(
            Box::new(Transfer::read(
                now,
                peer,
                &req,
                path,
                source,
                Some(size),
                netascii,
                &self.config,
            )),
            None,
        )
    }
}

fn refuse(filename: String, refused: Refused) -> Admission {
    let error = Packet::error(refused.code, refused.reason.clone()).emit();
    Admission::Refuse {
        filename,
        refused,
        error,
    }
}

/// A datagram for the transfer's peer (or a stray sender that gets ERROR 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTransmit {
    /// Destination.
    pub dst: SocketAddr,
    /// The TFTP packet.
    pub payload: Datagram,
}

/// What happened in a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferEvent {
    /// The last block was acknowledged (read) or received (write).
    Complete {
        /// Octets on the wire.
        bytes: u64,
        /// DATA blocks.
        blocks: u64,
    },
    /// The transfer ended without completing.
    Failed(String),
    /// A packet was dropped or answered with ERROR 5.
    Ignored(String),
}

enum Role {
    /// RRQ: we send.
    Read(Sender),
    /// WRQ: we receive.
    Write(Receiver),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// OACK sent to an RRQ, waiting for ACK 0.
    AwaitOackAck,
    /// Moving data.
    Running,
    /// Write complete; re-ACK a repeated final DATA until the deadline.
    Lingering(Duration),
    /// Over.
    Closed,
}

/// One transfer, from its own port to one client (RFC 1350 §4).
pub struct Transfer {
    peer: SocketAddr,
    filename: String,
    path: PathBuf,
    write: bool,
    negotiated: Negotiated,
    role: Role,
    phase: Phase,
    timer: Retransmit,
    /// What a timeout resends: the OACK / the last ACK (writes); reads resend their window.
    last_control: Datagram,
    transmits: VecDeque<ServerTransmit>,
    events: VecDeque<TransferEvent>,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("peer", &self.peer)
            .field("filename", &self.filename)
            .field("write", &self.write)
            .field("negotiated", &self.negotiated)
            .field("phase", &self.phase)
            .finish()
    }
}

impl Transfer {
    /// Starts a read of `source` (netascii-encoded on the fly when asked): queues the OACK or
    /// the first window of DATA.
    #[allow(clippy::too_many_arguments)]
    pub fn read(
        now: Duration,
        peer: SocketAddr,
        req: &Request,
        path: PathBuf,
        source: Box<dyn Read + Send>,
        size: Option<u64>,
        netascii: bool,
        cfg: &ServerConfig,
    ) -> Self {
        // netascii changes the length on the wire: tsize is not offered then.
        let tsize = if netascii { None } else { size };
        let (negotiated, oack) = grant(&req.options, cfg.limits, tsize, false);
        let sender = if netascii {
            Sender::netascii(source, negotiated.blksize, negotiated.windowsize)
        } else {
            Sender::new(source, negotiated.blksize, negotiated.windowsize)
        };
        let mut t = Self::new(
            now,
            peer,
            req,
            path,
            false,
            negotiated,
            Role::Read(sender),
            cfg,
        );
        if oack.is_empty() {
            t.phase = Phase::Running;
            t.fill(now);
        } else {
            t.phase = Phase::AwaitOackAck;
            t.send_control(Packet::Oack { options: oack });
            t.timer.progress(now);
        }
        t
    }

    /// Starts a write into memory (the daemon drains [`Transfer::take_data`] into `path`):
    /// queues ACK 0 or the OACK.
    pub fn write(
        now: Duration,
        peer: SocketAddr,
        req: &Request,
        path: PathBuf,
        netascii: bool,
        cfg: &ServerConfig,
    ) -> Self {
        let (negotiated, oack) = grant(&req.options, cfg.limits, None, true);
        let receiver = Receiver::new(
            negotiated.blksize,
            negotiated.windowsize,
            netascii,
            ROLLOVER_TO,
        );
        let mut t = Self::new(
            now,
            peer,
            req,
            path,
            true,
            negotiated,
            Role::Write(receiver),
            cfg,
        );
        t.phase = Phase::Running;
        if oack.is_empty() {
            t.send_control(Packet::Ack { block: 0 });
        } else {
            t.send_control(Packet::Oack { options: oack });
        }
        t.timer.progress(now);
        t
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        _now: Duration,
        peer: SocketAddr,
        req: &Request,
        path: PathBuf,
        write: bool,
        negotiated: Negotiated,
        role: Role,
        cfg: &ServerConfig,
    ) -> Self {
        let base = negotiated
            .timeout
            .map_or(cfg.timeout, |s| Duration::from_secs(s.into()));
        Self {
            peer,
            filename: req.filename.clone(),
            path,
            write,
            negotiated,
            role,
            phase: Phase::Closed,
            timer: Retransmit::new(base, cfg.retries),
            last_control: Datagram::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    fn send_control(&mut self, p: Packet) {
        self.last_control = Datagram::new(p.emit());
        self.transmits.push_back(ServerTransmit {
            dst: self.peer,
            payload: Datagram::clone(&self.last_control),
        });
    }

    fn push_data(&mut self, out: Vec<Datagram>) {
        let peer = self.peer;
        self.transmits.extend(
            out.into_iter()
                .map(|payload| ServerTransmit { dst: peer, payload }),
        );
    }

    fn fill(&mut self, now: Duration) {
        let Role::Read(sender) = &mut self.role else {
            return;
        };
        let mut out = Vec::new();
        let r = sender.fill(&mut out);
        self.push_data(out);
        match r {
            Ok(()) => self.timer.progress(now),
            Err(e) => self.abort(ErrorCode::NotDefined, format!("read error: {e}")),
        }
    }

    /// Ends the transfer with an ERROR to the peer (e.g. the daemon could not write: code 3).
    pub fn abort(&mut self, code: ErrorCode, message: String) {
        self.send_control(Packet::error(code, message.clone()));
        self.close_failed(message);
    }

    fn close_failed(&mut self, why: String) {
        self.phase = Phase::Closed;
        self.timer.stop();
        self.events.push_back(TransferEvent::Failed(why));
    }

    fn complete(&mut self, bytes: u64, blocks: u64) {
        self.timer.stop();
        self.events
            .push_back(TransferEvent::Complete { bytes, blocks });
    }

    /// Handles one datagram that arrived on this transfer's port.
    pub fn handle(&mut self, now: Duration, from: SocketAddr, payload: &[u8]) {
        if from != self.peer {
            // RFC 1350 §4: ERROR 5 to the stranger; our transfer is not disturbed.
            let payload =
                Datagram::new(Packet::error(ErrorCode::UnknownTid, "unknown transfer ID").emit());
            self.transmits
                .push_back(ServerTransmit { dst: from, payload });
            self.events.push_back(TransferEvent::Ignored(format!(
                "packet from unknown TID {from}"
            )));
            return;
        }
        if self.phase == Phase::Closed {
            return;
        }
        let packet = match Packet::parse(payload) {
            Ok((p, _)) => p,
            Err(e) => {
                self.events.push_back(TransferEvent::Ignored(e.to_string()));
                return;
            }
        };
        match (self.phase, packet) {
            (_, Packet::Error { code, message }) => {
                self.close_failed(format!("peer sent ERROR {}: {message}", code.value()));
            }
            (Phase::AwaitOackAck, Packet::Ack { block: 0 }) => {
                self.phase = Phase::Running;
                self.fill(now);
            }
            (Phase::AwaitOackAck | Phase::Running, Packet::Ack { block }) if !self.write => {
                if self.phase == Phase::AwaitOackAck {
                    self.events.push_back(TransferEvent::Ignored(format!(
                        "ACK {block} while waiting for ACK 0"
                    )));
                    return;
                }
                let Role::Read(sender) = &mut self.role else {
                    return;
                };
                let mut out = Vec::new();
                let r = sender.on_ack(block, &mut out);
                let (bytes, blocks) = (sender.bytes(), sender.blocks());
                self.push_data(out);
                match r {
                    Ok(AckOutcome::Progress) => self.timer.progress(now),
                    Ok(AckOutcome::Done) => {
                        self.phase = Phase::Closed;
                        self.complete(bytes, blocks);
                    }
                    Ok(AckOutcome::Ignored) => self.events.push_back(TransferEvent::Ignored(
                        format!("duplicate or stale ACK {block}"),
                    )),
                    Err(e) => self.abort(ErrorCode::NotDefined, format!("read error: {e}")),
                }
            }
            (Phase::Running | Phase::Lingering(_), Packet::Data { block, data }) if self.write => {
                let Role::Write(receiver) = &mut self.role else {
                    return;
                };
                let outcome = receiver.on_data(block, &data);
                let (bytes, blocks) = (receiver.bytes(), receiver.blocks());
                match outcome {
                    DataOutcome::None => {}
                    DataOutcome::Ack(b) => {
                        self.send_control(Packet::Ack { block: b });
                        if self.phase == Phase::Running {
                            self.timer.progress(now);
                        }
                    }
                    DataOutcome::Done(b) => {
                        self.send_control(Packet::Ack { block: b });
                        self.phase = Phase::Lingering(now + self.timer_base());
                        self.complete(bytes, blocks);
                    }
                    DataOutcome::TooLong => self.abort(
                        ErrorCode::IllegalOperation,
                        format!(
                            "DATA {block} longer than blksize {}",
                            self.negotiated.blksize
                        ),
                    ),
                }
            }
            (_, p) => self.abort(ErrorCode::IllegalOperation, format!("unexpected {p}")),
        }
    }

    fn timer_base(&self) -> Duration {
        self.negotiated
            .timeout
            .map_or(Duration::from_secs(1), |s| Duration::from_secs(s.into()))
    }

    /// Handles the timer: resends the window, the OACK or the last ACK, or gives up.
    pub fn handle_timeout(&mut self, now: Duration) {
        match self.phase {
            Phase::Closed => {}
            Phase::Lingering(until) => {
                if now >= until {
                    self.phase = Phase::Closed;
                }
            }
            Phase::AwaitOackAck | Phase::Running => {
                if !self.timer.expired(now) {
                    return;
                }
                if !self.timer.retry(now) {
                    let retries = self.timer.attempts();
                    return self.close_failed(format!("timed out after {retries} retries"));
                }
                match (&mut self.role, self.phase) {
                    (Role::Read(sender), Phase::Running) => {
                        let mut out = Vec::new();
                        sender.resend(&mut out);
                        self.push_data(out);
                    }
                    (Role::Write(receiver), _) => {
                        receiver.reset_window();
                        self.transmits.push_back(ServerTransmit {
                            dst: self.peer,
                            payload: Datagram::clone(&self.last_control),
                        });
                    }
                    _ => self.transmits.push_back(ServerTransmit {
                        dst: self.peer,
                        payload: Datagram::clone(&self.last_control),
                    }),
                }
            }
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<ServerTransmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<TransferEvent> {
        self.events.pop_front()
    }

    /// When to call [`Transfer::handle_timeout`]; `None` once closed.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.phase {
            Phase::Closed => None,
            Phase::Lingering(t) => Some(t),
            _ => self.timer.deadline(),
        }
    }

    /// Whether the transfer is over (queued transmits should still be sent).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// For a write: the file bytes received since the last call.
    pub fn take_data(&mut self) -> Vec<u8> {
        match &mut self.role {
            Role::Write(r) => r.take(),
            Role::Read(_) => Vec::new(),
        }
    }

    /// The client.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The file name as requested.
    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// The resolved path under the root.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Whether this is a write (WRQ).
    pub fn is_write(&self) -> bool {
        self.write
    }

    /// The parameters in force.
    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Client, ClientConfig};
    use crate::confine::tests::TempDir;
    use bootlab_wire::tftp::TftpOption;

    fn peer() -> SocketAddr {
        "192.0.2.10:2000".parse().expect("literal")
    }

    fn rrq(name: &str, mode: Mode, options: &[(&str, &str)]) -> Vec<u8> {
        let options = options
            .iter()
            .map(|(n, v)| TftpOption::new(*n, v))
            .collect();
        Packet::Rrq(Request {
            filename: name.into(),
            mode,
            options,
        })
        .emit()
    }

    fn start(server: &Server, payload: &[u8]) -> Transfer {
        match server.request(Duration::ZERO, peer(), payload) {
            Admission::Start(t, _) => *t,
            other => panic!("not started: {other:?}"),
        }
    }

    fn sent(t: &mut Transfer) -> Vec<Packet> {
        std::iter::from_fn(|| t.poll_transmit())
            .map(|x| {
                assert_eq!(x.dst, peer());
                Packet::parse(&x.payload).expect("valid").0
            })
            .collect()
    }

    fn mem_read(file: Vec<u8>, options: &[(&str, &str)], mode: Mode) -> Transfer {
        let cfg = ServerConfig::new(PathBuf::from("/nonexistent"));
        let options: Vec<_> = options
            .iter()
            .map(|(n, v)| TftpOption::new(*n, v))
            .collect();
        let req = Request {
            filename: "f".into(),
            mode: mode.clone(),
            options,
        };
        let size = file.len() as u64;
        let netascii = mode == Mode::Netascii;
        Transfer::read(
            Duration::ZERO,
            peer(),
            &req,
            "f".into(),
            Box::new(std::io::Cursor::new(file)),
            Some(size),
            netascii,
            &cfg,
        )
    }

    /// A client whose RRQ has been taken (the test built the server transfer itself).
    fn fresh(cfg: ClientConfig) -> Client {
        let mut c = Client::new(Duration::ZERO, cfg);
        while c.poll_transmit().is_some() {}
        c
    }

    /// Runs a server transfer against our client core over a perfect in-memory link; returns
    /// the bytes received and the number of DATA packets the server sent.
    fn drive(mut server: Transfer, mut client: Client) -> (Vec<u8>, usize) {
        let mut got = Vec::new();
        let mut data_sent = 0;
        let now = Duration::ZERO;
        for _ in 0..2_000_000 {
            let mut moved = false;
            while let Some(t) = server.poll_transmit() {
                if matches!(Packet::parse(&t.payload), Ok((Packet::Data { .. }, _))) {
                    data_sent += 1;
                }
                client.handle(now, 7000, &t.payload);
                moved = true;
            }
            while let Some(t) = client.poll_transmit() {
                server.handle(now, peer(), &t.payload);
                moved = true;
            }
            got.extend(client.take_data());
            if !moved {
                break;
            }
        }
        assert!(client.is_complete(), "client did not complete");
        assert!(server.is_closed(), "server did not close");
        (got, data_sent)
    }

    #[test]
    fn plain_download_from_disk() {
        let dir = TempDir::new("plain");
        let content: Vec<u8> = (0..1300u32).map(|i| i as u8).collect();
        dir.file("boot/rom.img", &content);
        let server = Server::new(ServerConfig::new(dir.0.clone()));
        let mut t = start(&server, &rrq("boot/rom.img", Mode::Octet, &[]));
        let out = sent(&mut t);
        assert_eq!(
            out,
            [Packet::Data {
                block: 1,
                data: content[..512].to_vec()
            }]
        );
        t.handle(Duration::ZERO, peer(), &Packet::Ack { block: 1 }.emit());
        assert!(matches!(&sent(&mut t)[..], [Packet::Data { block: 2, .. }]));
        t.handle(Duration::ZERO, peer(), &Packet::Ack { block: 2 }.emit());
        assert!(
            matches!(&sent(&mut t)[..], [Packet::Data { block: 3, data }] if data.len() == 276)
        );
        t.handle(Duration::ZERO, peer(), &Packet::Ack { block: 3 }.emit());
        assert!(t.is_closed());
        assert_eq!(
            t.poll_event(),
            Some(TransferEvent::Complete {
                bytes: 1300,
                blocks: 3
            })
        );
    }

    #[test]
    fn exact_multiple_ends_with_an_empty_block() {
        let t = mem_read(vec![1; 1024], &[], Mode::Octet);
        let c = fresh(ClientConfig::new("f"));
        let (got, n) = drive(t, c);
        assert_eq!((got.len(), n), (1024, 3));
    }

    #[test]
    fn oack_with_blksize_tsize_windowsize_then_windows() {
        let dir = TempDir::new("oack");
        let content: Vec<u8> = (0..100u8).collect();
        dir.file("f", &content);
        let server = Server::new(ServerConfig::new(dir.0.clone()));
        let opts = [
            ("blksize", "8"),
            ("tsize", "0"),
            ("windowsize", "4"),
            ("x-unknown", "1"),
        ];
        let mut t = start(&server, &rrq("f", Mode::Octet, &opts));
        let out = sent(&mut t);
        let want = Packet::Oack {
            options: vec![
                TftpOption::new("blksize", 8),
                TftpOption::new("tsize", 100),
                TftpOption::new("windowsize", 4),
            ],
        };
        assert_eq!(out, [want]);
        t.handle(Duration::ZERO, peer(), &Packet::Ack { block: 0 }.emit());
        let blocks: Vec<u16> = sent(&mut t)
            .iter()
            .map(|p| match p {
                Packet::Data { block, .. } => *block,
                p => panic!("{p}"),
            })
            .collect();
        assert_eq!(blocks, [1, 2, 3, 4]);

        // End to end with our client.
        let mut t = start(&server, &rrq("f", Mode::Octet, &opts[..3]));
        let mut cfg = ClientConfig::new("f");
        (cfg.blksize, cfg.windowsize, cfg.tsize) = (Some(8), Some(4), true);
        let mut c = Client::new(Duration::ZERO, cfg);
        while c.poll_transmit().is_some() {}
        for tx in std::iter::from_fn(|| t.poll_transmit()) {
            c.handle(Duration::ZERO, 7000, &tx.payload);
        }
        let (got, n) = drive(t, c);
        assert_eq!(got, content);
        assert_eq!(n, 13);
    }

    #[test]
    fn lost_data_is_retransmitted_after_the_timeout() {
        let mut t = mem_read(vec![5; 600], &[], Mode::Octet);
        assert_eq!(sent(&mut t).len(), 1);
        assert_eq!(t.poll_timeout(), Some(Duration::from_secs(1)));
        t.handle_timeout(Duration::from_millis(500));
        assert!(sent(&mut t).is_empty(), "not yet");
        t.handle_timeout(Duration::from_secs(1));
        assert!(matches!(&sent(&mut t)[..], [Packet::Data { block: 1, .. }]));
        // Back-off: the next retry waits twice as long.
        assert_eq!(t.poll_timeout(), Some(Duration::from_secs(3)));
        t.handle(
            Duration::from_secs(2),
            peer(),
            &Packet::Ack { block: 1 }.emit(),
        );
        assert!(matches!(&sent(&mut t)[..], [Packet::Data { block: 2, .. }]));
    }

    #[test]
    fn duplicate_ack_does_not_cause_a_duplicate_data() {
        let mut t = mem_read(vec![5; 2000], &[], Mode::Octet);
        sent(&mut t);
        t.handle(Duration::ZERO, peer(), &Packet::Ack { block: 1 }.emit());
        assert!(matches!(&sent(&mut t)[..], [Packet::Data { block: 2, .. }]));
        // The delayed copy of ACK 1 arrives: Sorcerer's Apprentice says send nothing.
        t.handle(Duration::ZERO, peer(), &Packet::Ack { block: 1 }.emit());
        assert!(sent(&mut t).is_empty());
        t.handle(Duration::ZERO, peer(), &Packet::Ack { block: 2 }.emit());
        assert!(matches!(&sent(&mut t)[..], [Packet::Data { block: 3, .. }]));
    }

    #[test]
    fn block_numbers_roll_over_to_zero() {
        // 65536 + 3 full blocks of 8 octets and a short one: blocks 1..65535, 0, 1, 2, 3, 4.
        let len = (65_536 + 3) * 8 + 5;
        let content: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let t = mem_read(content.clone(), &[("blksize", "8")], Mode::Octet);
        let mut cfg = ClientConfig::new("f");
        cfg.blksize = Some(8);
        let mut c = Client::new(Duration::ZERO, cfg);
        let mut t = t;
        while c.poll_transmit().is_some() {}
        // Check the wrap on the wire as the transfer runs.
        let mut seen = Vec::new();
        let now = Duration::ZERO;
        let mut got = Vec::new();
        for _ in 0..200_000 {
            let mut moved = false;
            while let Some(tx) = t.poll_transmit() {
                if let Ok((Packet::Data { block, .. }, _)) = Packet::parse(&tx.payload) {
                    seen.push(block);
                }
                c.handle(now, 7000, &tx.payload);
                moved = true;
            }
            while let Some(tx) = c.poll_transmit() {
                t.handle(now, peer(), &tx.payload);
                moved = true;
            }
            got.extend(c.take_data());
            if !moved {
                break;
            }
        }
        assert_eq!(got, content);
        assert_eq!(seen.len(), 65_536 + 4);
        assert_eq!(&seen[65_533..], [65_534, 65_535, 0, 1, 2, 3, 4]);
        assert!(matches!(
            t.poll_event(),
            Some(TransferEvent::Complete { blocks: 65_540, .. })
        ));
    }

    #[test]
    fn netascii_is_converted_both_ways() {
        let text = b"one\ntwo\rthree\n".to_vec();
        let mut t = mem_read(text.clone(), &[("tsize", "0")], Mode::Netascii);
        let out = sent(&mut t);
        // No OACK: tsize is not offered in netascii mode, the only option asked.
        assert_eq!(
            out,
            [Packet::Data {
                block: 1,
                data: b"one\r\ntwo\r\0three\r\n".to_vec()
            }]
        );
        let t = mem_read(text.clone(), &[], Mode::Netascii);
        let mut cfg = ClientConfig::new("f");
        cfg.mode = Mode::Netascii;
        let (got, _) = drive(t, fresh(cfg));
        assert_eq!(got, text);
    }

    #[test]
    fn traversal_and_bad_requests_are_refused() {
        let dir = TempDir::new("refuse");
        let root = dir.0.join("root");
        dir.file("root/ok", b"x");
        dir.file("secret", b"s");
        std::os::unix::fs::symlink(dir.0.join("secret"), root.join("escape")).expect("symlink");
        std::os::unix::fs::symlink("/dev/zero", root.join("zero")).expect("symlink");
        let server = Server::new(ServerConfig::new(root.clone()));
        let cases = [
            ("../etc/passwd", ErrorCode::AccessViolation),
            ("/etc/passwd", ErrorCode::AccessViolation),
            ("escape", ErrorCode::AccessViolation),
            ("zero", ErrorCode::AccessViolation),
            ("/dev/null", ErrorCode::AccessViolation),
            ("missing", ErrorCode::FileNotFound),
        ];
        for (name, code) in cases {
            match server.request(Duration::ZERO, peer(), &rrq(name, Mode::Octet, &[])) {
                Admission::Refuse { refused, error, .. } => {
                    assert_eq!(refused.code, code, "{name}");
                    assert!(
                        matches!(Packet::parse(&error), Ok((Packet::Error { code: c, .. }, _)) if c == code)
                    );
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        let wrq = Packet::Wrq(Request {
            filename: "new".into(),
            mode: Mode::Octet,
            options: vec![],
        })
        .emit();
        assert!(
            matches!(server.request(Duration::ZERO, peer(), &wrq), Admission::Refuse { refused, .. } if refused.code == ErrorCode::AccessViolation)
        );
        let mail = rrq("ok", Mode::Mail, &[]);
        assert!(
            matches!(server.request(Duration::ZERO, peer(), &mail), Admission::Refuse { refused, .. } if refused.code == ErrorCode::IllegalOperation)
        );
        assert!(matches!(
            server.request(Duration::ZERO, peer(), b"\x00"),
            Admission::Ignore(_)
        ));
    }

    #[test]
    fn unknown_tid_gets_error_5() {
        let mut t = mem_read(vec![1; 600], &[], Mode::Octet);
        sent(&mut t);
        let stranger: SocketAddr = "192.0.2.99:3000".parse().expect("literal");
        t.handle(Duration::ZERO, stranger, &Packet::Ack { block: 1 }.emit());
        let tx = t.poll_transmit().expect("error 5");
        assert_eq!(tx.dst, stranger);
        assert!(matches!(
            Packet::parse(&tx.payload),
            Ok((
                Packet::Error {
                    code: ErrorCode::UnknownTid,
                    ..
                },
                _
            ))
        ));
        assert!(t.poll_transmit().is_none());
        assert!(!t.is_closed());
    }

    #[test]
    fn write_when_allowed_with_oack() {
        let dir = TempDir::new("write");
        let mut cfg = ServerConfig::new(dir.0.clone());
        cfg.allow_write = true;
        let server = Server::new(cfg);
        let wrq = Packet::Wrq(Request {
            filename: "up".into(),
            mode: Mode::Octet,
            options: vec![TftpOption::new("blksize", 8), TftpOption::new("tsize", 12)],
        });
        let mut t = start(&server, &wrq.emit());
        assert!(t.is_write());
        assert!(matches!(&sent(&mut t)[..], [Packet::Oack { options }] if options.len() == 2));
        t.handle(
            Duration::ZERO,
            peer(),
            &Packet::Data {
                block: 1,
                data: b"01234567".to_vec(),
            }
            .emit(),
        );
        assert_eq!(sent(&mut t), [Packet::Ack { block: 1 }]);
        t.handle(
            Duration::ZERO,
            peer(),
            &Packet::Data {
                block: 2,
                data: b"89ab".to_vec(),
            }
            .emit(),
        );
        assert_eq!(sent(&mut t), [Packet::Ack { block: 2 }]);
        assert_eq!(t.take_data(), b"0123456789ab");
        assert_eq!(
            t.poll_event(),
            Some(TransferEvent::Complete {
                bytes: 12,
                blocks: 2
            })
        );
        // Lingers to re-ACK a repeated final block, then closes.
        t.handle(
            Duration::ZERO,
            peer(),
            &Packet::Data {
                block: 2,
                data: b"89ab".to_vec(),
            }
            .emit(),
        );
        assert_eq!(sent(&mut t), [Packet::Ack { block: 2 }]);
        t.handle_timeout(Duration::from_secs(5));
        assert!(t.is_closed());
    }

    #[test]
    fn gives_up_after_bounded_retries() {
        let mut t = mem_read(vec![1; 10], &[], Mode::Octet);
        let mut sends = sent(&mut t).len();
        let mut n = 0;
        while let Some(at) = t.poll_timeout() {
            t.handle_timeout(at);
            sends += sent(&mut t).len();
            n += 1;
            assert!(n < 20);
        }
        assert_eq!(sends, 1 + 5);
        assert!(matches!(t.poll_event(), Some(TransferEvent::Failed(_))));
    }
}

//! The TFTP read client as a pure state machine (quinn style): it never touches a socket or a
//! clock. The boot ROM runs it over its own raw Ethernet/IPv4/UDP stack; `bootlab tftp get` runs
//! it over a UDP socket.
//!
//! ```text
//! let mut c = Client::new(now, ClientConfig::new("boot/rom.img"));
//! loop {
//!     while let Some(t) = c.poll_transmit() { send t.payload to (server ip, t.dst_port) }
//!     while let Some(e) = c.poll_event() { ... Event::Complete / Event::Failed ... }
//!     file.extend(c.take_data());
//!     if c.is_closed() { break }
//!     wait for a datagram (payload, source port) until c.poll_timeout():
//!         datagram => c.handle(now, src_port, &payload),
//!         timer    => c.handle_timeout(now),
//! }
//! ```
//!
//! The first packet (the RRQ) goes to `server_port` (69); the port the first answer comes from is
//! the server's TID and every later packet goes there (RFC 1350 §4). Packets from another port
//! get ERROR 5 and change nothing. The caller filters by source IP address.

use std::collections::VecDeque;
use std::time::Duration;

use bootlab_wire::tftp::{option, ErrorCode, Mode, Packet, Request, TftpOption, SERVER_PORT};

use crate::options::{accept_oack, Negotiated};
use crate::window::{DataOutcome, Receiver, Retransmit, ROLLOVER_TO};

/// What a client asks for and how patient it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The file to read, as sent in the RRQ.
    pub filename: String,
    /// `octet` or `netascii` (decoded to LF line ends on receipt).
    pub mode: Mode,
    /// blksize to ask for (RFC 2348), none for the RFC 1350 512.
    pub blksize: Option<u16>,
    /// windowsize to ask for (RFC 7440).
    pub windowsize: Option<u16>,
    /// timeout option to ask for, in seconds (RFC 2349 §1); when granted it is also ours.
    pub timeout_option: Option<u8>,
    /// Ask for the file size (tsize 0, RFC 2349 §2).
    pub tsize: bool,
    /// Extra options sent as they are (e.g. to test a server's handling of unknown options).
    pub extra_options: Vec<TftpOption>,
    /// First retransmission timeout (doubles on each retry, at most 8 times).
    pub retransmit: Duration,
    /// Retries without progress before giving up.
    pub retries: u32,
    /// Where the request goes (69).
    pub server_port: u16,
    /// The block number expected after 65535 (0, as tftp-hpa sends).
    pub rollover: u16,
    /// After an ERROR 8 answering an option-carrying RRQ, ask again without options (RFC 2347).
    pub retry_without_options: bool,
    /// How long to stay after the final ACK to re-ACK a repeated final DATA (RFC 1350 §6).
    pub linger: Duration,
}

impl ClientConfig {
    /// Octet mode, no options, 1 s retransmission, 5 retries, 69, rollover to 0.
    pub fn new(filename: impl Into<String>) -> Self {
        Self {
            filename: filename.into(),
            mode: Mode::Octet,
            blksize: None,
            windowsize: None,
            timeout_option: None,
            tsize: false,
            extra_options: Vec::new(),
            retransmit: Duration::from_secs(1),
            retries: 5,
            server_port: SERVER_PORT,
            rollover: ROLLOVER_TO,
            retry_without_options: true,
            linger: Duration::from_secs(1),
        }
    }

    fn options(&self) -> Vec<TftpOption> {
        let mut o = Vec::new();
        if let Some(b) = self.blksize {
            o.push(TftpOption::new(option::BLKSIZE, b));
        }
        if let Some(t) = self.timeout_option {
            o.push(TftpOption::new(option::TIMEOUT, t));
        }
        if self.tsize {
            o.push(TftpOption::new(option::TSIZE, 0));
        }
        if let Some(w) = self.windowsize {
            o.push(TftpOption::new(option::WINDOWSIZE, w));
        }
        o.extend(self.extra_options.iter().cloned());
        o
    }
}

/// A datagram to send: the payload and its destination UDP port (the server's address is the
/// caller's business).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination port: 69 for the RRQ, then the server's TID (or a stray sender's port for ERROR 5).
    pub dst_port: u16,
    /// The TFTP packet.
    pub payload: Vec<u8>,
}

/// Why a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The server answered with an ERROR packet (RFC 1350 §7).
    #[error("server error {}: {message}", code.value())]
    ServerError {
        /// The code sent.
        code: ErrorCode,
        /// The message sent.
        message: String,
    },
    /// No answer after the configured retries (RFC 1123 §4.2.3.2).
    #[error("timed out after {retries} retries waiting for {waiting}")]
    Timeout {
        /// Retries made.
        retries: u32,
        /// What was awaited, e.g. "DATA 5".
        waiting: String,
    },
    /// We aborted with an ERROR of our own (bad OACK, oversized block, protocol violation).
    #[error("aborted with error {}: {message}", code.value())]
    Aborted {
        /// The code we sent.
        code: ErrorCode,
        /// The message we sent.
        message: String,
    },
}

/// What happened, for the caller's log and events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The server's OACK was accepted (or the server answered DATA without one: defaults).
    Negotiated {
        /// The parameters in force.
        negotiated: Negotiated,
        /// Whether an OACK was received.
        oack: bool,
    },
    /// A packet was dropped or answered with ERROR 5; a reason for the log.
    Ignored(String),
    /// The final block arrived and was acknowledged.
    Complete {
        /// Octets received on the wire (the file size in octet mode).
        bytes: u64,
        /// DATA blocks received.
        blocks: u64,
        /// The size announced in the OACK's tsize, if any.
        tsize: Option<u64>,
    },
    /// The transfer failed.
    Failed(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// RRQ sent, nothing received yet.
    Requesting,
    /// Receiving DATA (after DATA 1, or after ACK 0 answered an OACK).
    Receiving,
    /// Final ACK sent; re-ACK a repeated final DATA until the linger deadline.
    Lingering,
    /// Finished (complete or failed).
    Closed,
}

/// The TFTP read client core. See the module documentation for the driving loop.
#[derive(Debug)]
pub struct Client {
    config: ConfigState,
    state: State,
    server_tid: Option<u16>,
    negotiated: Negotiated,
    receiver: Receiver,
    timer: Retransmit,
    last_sent: Vec<u8>,
    linger_until: Option<Duration>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

#[derive(Debug)]
struct ConfigState {
    cfg: ClientConfig,
    requested: Vec<TftpOption>,
}

impl Client {
    /// Starts a read: queues the RRQ and arms the retransmission timer.
    pub fn new(now: Duration, cfg: ClientConfig) -> Self {
        let requested = cfg.options();
        let netascii = cfg.mode == Mode::Netascii;
        let mut c = Self {
            receiver: Receiver::new(
                bootlab_wire::tftp::DEFAULT_BLKSIZE,
                1,
                netascii,
                cfg.rollover,
            ),
            timer: Retransmit::new(cfg.retransmit, cfg.retries),
            config: ConfigState { cfg, requested },
            state: State::Requesting,
            server_tid: None,
            negotiated: Negotiated::default(),
            last_sent: Vec::new(),
            linger_until: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        };
        c.send_request(now);
        c
    }

    fn send_request(&mut self, now: Duration) {
        let rrq = Packet::Rrq(Request {
            filename: self.config.cfg.filename.clone(),
            mode: self.config.cfg.mode.clone(),
            options: self.config.requested.clone(),
        });
        self.last_sent = rrq.emit();
        self.transmits.push_back(Transmit {
            dst_port: self.config.cfg.server_port,
            payload: self.last_sent.clone(),
        });
        self.timer.progress(now);
    }

    fn send_to_server(&mut self, packet: &Packet) {
        let payload = packet.emit();
        if let Some(port) = self.server_tid {
            self.transmits.push_back(Transmit {
                dst_port: port,
                payload: payload.clone(),
            });
        }
        self.last_sent = payload;
    }

    fn abort(&mut self, code: ErrorCode, message: String) {
        self.send_to_server(&Packet::error(code, message.clone()));
        self.close(Failure::Aborted { code, message });
    }

    fn close(&mut self, failure: Failure) {
        self.state = State::Closed;
        self.timer.stop();
        self.events.push_back(Event::Failed(failure));
    }

    fn start_receiving(&mut self, negotiated: Negotiated, oack: bool) {
        self.negotiated = negotiated;
        let netascii = self.config.cfg.mode == Mode::Netascii;
        self.receiver = Receiver::new(
            negotiated.blksize,
            negotiated.windowsize,
            netascii,
            self.config.cfg.rollover,
        );
        if let Some(t) = negotiated.timeout {
            self.timer.set_base(Duration::from_secs(t.into()));
        }
        self.state = State::Receiving;
        self.events
            .push_back(Event::Negotiated { negotiated, oack });
    }

    /// Handles one datagram payload that came from the server's address and UDP `src_port`.
    pub fn handle(&mut self, now: Duration, src_port: u16, payload: &[u8]) {
        if matches!(self.state, State::Closed) {
            return;
        }
        // Fast path for the steady state: DATA from the server's TID goes to the receiver
        // without being copied into a `Packet` first.
        if let [0, 3, hi, lo, data @ ..] = payload {
            if matches!(self.state, State::Receiving | State::Lingering)
                && self.server_tid == Some(src_port)
            {
                return self.on_data(now, u16::from_be_bytes([*hi, *lo]), data);
            }
        }
        let packet = match Packet::parse(payload) {
            Ok((p, _)) => p,
            Err(e) => {
                self.events
                    .push_back(Event::Ignored(format!("from port {src_port}: {e}")));
                return;
            }
        };
        match self.server_tid {
            None if self.state == State::Requesting => self.server_tid = Some(src_port),
            Some(tid) if tid == src_port => {}
            _ => {
                // RFC 1350 §4: a packet from an unknown TID gets ERROR 5; the transfer goes on.
                let err = Packet::error(ErrorCode::UnknownTid, "unknown transfer ID");
                self.transmits.push_back(Transmit {
                    dst_port: src_port,
                    payload: err.emit(),
                });
                self.events.push_back(Event::Ignored(format!(
                    "{packet} from unknown port {src_port}"
                )));
                return;
            }
        }
        match (self.state, packet) {
            (_, Packet::Error { code, message }) => {
                let asked_options = !self.config.requested.is_empty();
                if self.state == State::Requesting
                    && code == ErrorCode::OptionNegotiation
                    && asked_options
                    && self.config.cfg.retry_without_options
                {
                    // RFC 2347: a client may retry without options after ERROR 8.
                    self.events.push_back(Event::Ignored(format!(
                        "ERROR 8 {message:?}: retrying without options"
                    )));
                    self.config.requested.clear();
                    self.server_tid = None;
                    self.send_request(now);
                    return;
                }
                self.close(Failure::ServerError { code, message });
            }
            (State::Requesting, Packet::Oack { options }) => {
                if self.config.requested.is_empty() {
                    return self.abort(
                        ErrorCode::OptionNegotiation,
                        "OACK to a request without options".into(),
                    );
                }
                match accept_oack(&self.config.requested, &options) {
                    Ok(n) => {
                        self.start_receiving(n, true);
                        self.send_to_server(&Packet::Ack { block: 0 });
                        self.timer.progress(now);
                    }
                    Err(why) => self.abort(ErrorCode::OptionNegotiation, why),
                }
            }
            (State::Requesting, Packet::Data { block, data }) => {
                // No OACK: the server ignored our options (RFC 2347), RFC 1350 defaults apply.
                let n = Negotiated::default();
                self.start_receiving(n, false);
                self.on_data(now, block, &data);
            }
            (State::Receiving | State::Lingering, Packet::Data { block, data }) => {
                self.on_data(now, block, &data)
            }
            (_, p) => {
                self.abort(ErrorCode::IllegalOperation, format!("unexpected {p}"));
            }
        }
    }

    fn on_data(&mut self, now: Duration, block: u16, data: &[u8]) {
        match self.receiver.on_data(block, data) {
            DataOutcome::None => {}
            DataOutcome::Ack(b) => {
                self.send_to_server(&Packet::Ack { block: b });
                if self.state == State::Receiving {
                    self.timer.progress(now);
                }
            }
            DataOutcome::Done(b) => {
                self.send_to_server(&Packet::Ack { block: b });
                self.timer.stop();
                self.state = State::Lingering;
                self.linger_until = Some(now + self.config.cfg.linger);
                self.events.push_back(Event::Complete {
                    bytes: self.receiver.bytes(),
                    blocks: self.receiver.blocks(),
                    tsize: self.negotiated.tsize,
                });
            }
            DataOutcome::TooLong => self.abort(
                ErrorCode::IllegalOperation,
                format!(
                    "DATA {block} of {} octets exceeds blksize {}",
                    data.len(),
                    self.negotiated.blksize
                ),
            ),
        }
    }

    /// Handles the timer set by [`Client::poll_timeout`]: resends the last packet (RRQ, ACK) or
    /// gives up after the configured retries; ends the linger period.
    pub fn handle_timeout(&mut self, now: Duration) {
        match self.state {
            State::Closed => {}
            State::Lingering => {
                if self.linger_until.is_some_and(|t| now >= t) {
                    self.state = State::Closed;
                }
            }
            State::Requesting | State::Receiving => {
                if !self.timer.expired(now) {
                    return;
                }
                let waiting = match self.state {
                    State::Requesting => "the first answer to RRQ".to_string(),
                    _ => format!("DATA after {}", self.receiver.last_in_order()),
                };
                if !self.timer.retry(now) {
                    let retries = self.timer.attempts();
                    return self.close(Failure::Timeout { retries, waiting });
                }
                let dst_port = self.server_tid.unwrap_or(self.config.cfg.server_port);
                self.receiver.reset_window();
                self.transmits.push_back(Transmit {
                    dst_port,
                    payload: self.last_sent.clone(),
                });
            }
        }
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Client::handle_timeout`]; `None` once closed.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.state {
            State::Closed => None,
            State::Lingering => self.linger_until,
            _ => self.timer.deadline(),
        }
    }

    /// Takes the file bytes received since the last call (netascii already decoded).
    pub fn take_data(&mut self) -> Vec<u8> {
        self.receiver.take()
    }

    /// Writes the file bytes received since the last call to `w` (as [`Client::take_data`],
    /// without a fresh allocation per block); returns how many.
    pub fn write_data_to(&mut self, w: &mut impl std::io::Write) -> std::io::Result<usize> {
        self.receiver.drain_to(w)
    }

    /// Whether the transfer is over: complete and done lingering, or failed. Queued transmits
    /// (a final ERROR) should still be sent.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the whole file has arrived (true while lingering and after).
    pub fn is_complete(&self) -> bool {
        self.receiver.is_done()
    }

    /// The server's port for this transfer, once known.
    pub fn server_tid(&self) -> Option<u16> {
        self.server_tid
    }

    /// The parameters in force.
    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: u16 = 40000;

    fn data(block: u16, d: &[u8]) -> Vec<u8> {
        Packet::Data {
            block,
            data: d.to_vec(),
        }
        .emit()
    }

    fn sent(c: &mut Client) -> Vec<(u16, Packet)> {
        std::iter::from_fn(|| c.poll_transmit())
            .map(|t| {
                (
                    t.dst_port,
                    Packet::parse(&t.payload).expect("we emit valid packets").0,
                )
            })
            .collect()
    }

    fn events(c: &mut Client) -> Vec<Event> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    #[test]
    fn plain_download_without_options() {
        let t0 = Duration::ZERO;
        let mut c = Client::new(t0, ClientConfig::new("boot/rom.img"));
        let out = sent(&mut c);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 69);
        assert!(
            matches!(&out[0].1, Packet::Rrq(r) if r.filename == "boot/rom.img" && r.options.is_empty())
        );
        c.handle(t0, TID, &data(1, &[1; 512]));
        assert_eq!(sent(&mut c), [(TID, Packet::Ack { block: 1 })]);
        c.handle(t0, TID, &data(2, &[2; 100]));
        assert_eq!(sent(&mut c), [(TID, Packet::Ack { block: 2 })]);
        let ev = events(&mut c);
        assert!(
            ev.contains(&Event::Complete {
                bytes: 612,
                blocks: 2,
                tsize: None
            }),
            "{ev:?}"
        );
        assert_eq!(c.take_data().len(), 612);
        assert!(c.is_complete() && !c.is_closed());
        // A repeated final DATA (our ACK was lost) is ACKed again while lingering.
        c.handle(t0, TID, &data(2, &[2; 100]));
        assert_eq!(sent(&mut c), [(TID, Packet::Ack { block: 2 })]);
        c.handle_timeout(Duration::from_secs(2));
        assert!(c.is_closed());
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn oack_negotiation_then_ack_0() {
        let t0 = Duration::ZERO;
        let mut cfg = ClientConfig::new("f");
        cfg.blksize = Some(1428);
        cfg.windowsize = Some(4);
        cfg.tsize = true;
        let mut c = Client::new(t0, cfg);
        let rrq = sent(&mut c);
        let Packet::Rrq(r) = &rrq[0].1 else { panic!() };
        assert_eq!(r.option("tsize"), Some("0"));
        let oack = Packet::Oack {
            options: vec![
                TftpOption::new("blksize", 8),
                TftpOption::new("tsize", 20),
                TftpOption::new("windowsize", 2),
            ],
        };
        c.handle(t0, TID, &oack.emit());
        assert_eq!(sent(&mut c), [(TID, Packet::Ack { block: 0 })]);
        c.handle(t0, TID, &data(1, b"01234567"));
        assert!(sent(&mut c).is_empty(), "mid-window: no ACK");
        c.handle(t0, TID, &data(2, b"89abcdef"));
        assert_eq!(sent(&mut c), [(TID, Packet::Ack { block: 2 })]);
        c.handle(t0, TID, &data(3, b"ghij"));
        assert_eq!(sent(&mut c), [(TID, Packet::Ack { block: 3 })]);
        let ev = events(&mut c);
        assert!(
            ev.contains(&Event::Complete {
                bytes: 20,
                blocks: 3,
                tsize: Some(20)
            }),
            "{ev:?}"
        );
        assert_eq!(c.take_data(), b"0123456789abcdefghij");
    }

    #[test]
    fn bad_oack_is_refused_with_error_8() {
        let mut cfg = ClientConfig::new("f");
        cfg.blksize = Some(512);
        let mut c = Client::new(Duration::ZERO, cfg);
        sent(&mut c);
        c.handle(
            Duration::ZERO,
            TID,
            &Packet::Oack {
                options: vec![TftpOption::new("blksize", 1024)],
            }
            .emit(),
        );
        assert!(matches!(
            &sent(&mut c)[..],
            [(
                TID,
                Packet::Error {
                    code: ErrorCode::OptionNegotiation,
                    ..
                }
            )]
        ));
        assert!(c.is_closed());
    }

    #[test]
    fn error_8_leads_to_a_retry_without_options() {
        let mut cfg = ClientConfig::new("f");
        cfg.blksize = Some(1024);
        let mut c = Client::new(Duration::ZERO, cfg);
        sent(&mut c);
        c.handle(
            Duration::ZERO,
            TID,
            &Packet::error(ErrorCode::OptionNegotiation, "no").emit(),
        );
        let out = sent(&mut c);
        assert!(
            matches!(&out[..], [(69, Packet::Rrq(r))] if r.options.is_empty()),
            "{out:?}"
        );
        c.handle(Duration::ZERO, TID + 1, &data(1, b"x"));
        assert_eq!(sent(&mut c), [(TID + 1, Packet::Ack { block: 1 })]);
    }

    #[test]
    fn lost_data_is_recovered_by_resending_the_ack() {
        let t0 = Duration::ZERO;
        let mut c = Client::new(t0, ClientConfig::new("f"));
        sent(&mut c);
        c.handle(t0, TID, &data(1, &[0; 512]));
        sent(&mut c);
        // DATA 2 is lost: after the timeout the client repeats ACK 1.
        assert_eq!(c.poll_timeout(), Some(Duration::from_secs(1)));
        c.handle_timeout(Duration::from_secs(1));
        assert_eq!(sent(&mut c), [(TID, Packet::Ack { block: 1 })]);
        c.handle(Duration::from_secs(2), TID, &data(2, &[]));
        assert_eq!(sent(&mut c), [(TID, Packet::Ack { block: 2 })]);
        assert!(c.is_complete());
    }

    #[test]
    fn unknown_tid_gets_error_5_and_the_transfer_goes_on() {
        let t0 = Duration::ZERO;
        let mut c = Client::new(t0, ClientConfig::new("f"));
        sent(&mut c);
        c.handle(t0, TID, &data(1, &[0; 512]));
        sent(&mut c);
        c.handle(t0, 999, &data(2, &[0; 3]));
        assert!(matches!(
            &sent(&mut c)[..],
            [(
                999,
                Packet::Error {
                    code: ErrorCode::UnknownTid,
                    ..
                }
            )]
        ));
        c.handle(t0, TID, &data(2, &[0; 3]));
        assert_eq!(sent(&mut c), [(TID, Packet::Ack { block: 2 })]);
    }

    #[test]
    fn gives_up_after_the_retries() {
        let mut cfg = ClientConfig::new("f");
        cfg.retries = 2;
        let mut c = Client::new(Duration::ZERO, cfg);
        let mut n = 0;
        while let Some(t) = c.poll_timeout() {
            c.handle_timeout(t);
            n += sent(&mut c).len();
            assert!(n < 10);
        }
        assert_eq!(n, 1 + 2);
        assert!(events(&mut c)
            .iter()
            .any(|e| matches!(e, Event::Failed(Failure::Timeout { retries: 2, .. }))));
    }

    #[test]
    fn server_error_fails_the_transfer() {
        let mut c = Client::new(Duration::ZERO, ClientConfig::new("nope"));
        sent(&mut c);
        c.handle(
            Duration::ZERO,
            TID,
            &Packet::error(ErrorCode::FileNotFound, "no such file").emit(),
        );
        assert!(c.is_closed());
        assert!(sent(&mut c).is_empty(), "an ERROR is never answered");
        let ev = events(&mut c);
        assert!(matches!(
            &ev[..],
            [Event::Failed(Failure::ServerError {
                code: ErrorCode::FileNotFound,
                ..
            })]
        ));
    }

    #[test]
    fn netascii_is_decoded() {
        let mut cfg = ClientConfig::new("f");
        cfg.mode = Mode::Netascii;
        let mut c = Client::new(Duration::ZERO, cfg);
        sent(&mut c);
        c.handle(Duration::ZERO, TID, &data(1, b"a\r\nb\r\0c"));
        assert_eq!(c.take_data(), b"a\nb\rc");
    }
}

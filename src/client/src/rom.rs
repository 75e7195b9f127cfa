//! The boot ROM as a pure state machine: a diskless machine's PROM with no TCP/IP stack of its
//! own (RFC 951 §1, §5; seed 002; KB Q164394). It sends a BOOTREQUEST, takes the first reply
//! matching `xid` and `chaddr`, then reads its boot file over TFTP (RFC 1350) with its own
//! minimal IP/UDP. It learns the boot server's hardware address from the reply's Ethernet source
//! like real PROMs, or by ARP; it never answers ARP (`silent`) or answers only for its assigned
//! address (`answer`). The `seed-10-step` sequence follows the Linux remote-boot document: two
//! ARP checks of the offered address 0.5 s apart, a third with its own address as sender, a
//! second BOOTREQUEST from its own address, ARP for the server, then TFTP.
//!
//! Every wait is bounded: past `give_up_after` the ROM reports `TransferFailed` with a reason.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use bootlab_net::clock::Rng;
use bootlab_tftp::client::{Client as TftpClient, ClientConfig as TftpConfig, Event as TftpEvent};
use bootlab_wire::bootp::{code, Message};
use rand::Rng as _;
use serde::Deserialize;

use crate::acd::{reply_to, Acd, AcdStep, AcdTiming, ArpOp, ArpPacket};
use crate::bootp::{BootpClient, BootpConfig};
use crate::msg::{fnv1a64, opts, Transmit};

/// Whether the ROM answers ARP (RFC 826; CLI-ARP-01 is violated on purpose by `Silent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArpMode {
    /// Never answers ARP, like a PROM without a stack (the Q164394 client).
    #[default]
    Silent,
    /// Answers ARP requests for its address once it has one.
    Answer,
}

/// How the ROM finds the boot server's hardware address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerMac {
    /// The Ethernet source of the BOOTREPLY (when the reply came from the TFTP server's address;
    /// otherwise the ROM falls back to ARP).
    #[default]
    Reply,
    /// An ARP request for the server's address (seed 002, step 8).
    Arp,
}

/// Which boot sequence to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sequence {
    /// BOOTREQUEST, BOOTREPLY, TFTP.
    #[default]
    Simple,
    /// The 10 steps of the Linux remote-boot document (seed 002).
    #[serde(rename = "seed-10-step")]
    Seed10Step,
}

/// Settings of the boot ROM core.
#[derive(Debug, Clone)]
pub struct RomConfig {
    /// The BOOTP phase (PXE options 60/93/94/97 go into `bootp.options`).
    pub bootp: BootpConfig,
    /// ARP answering.
    pub arp: ArpMode,
    /// How the server's hardware address is learnt.
    pub server_mac: ServerMac,
    /// The sequence.
    pub sequence: Sequence,
    /// Timing of the address checks of `seed-10-step` (steps 3-5).
    pub checks: AcdTiming,
    /// Wait between the last check and the second BOOTREQUEST (step 6, 0.5 s).
    pub confirm_wait: Duration,
    /// ARP requests for the server before giving up.
    pub arp_tries: u32,
    /// Gap between ARP requests for the server.
    pub arp_interval: Duration,
    /// The bound on the whole boot: past it, `TransferFailed`.
    pub give_up_after: Duration,
    /// The TFTP read (its `filename` is replaced by the reply's `file` unless `file_override`).
    pub tftp: TftpConfig,
    /// Read this file whatever the reply says.
    pub file_override: Option<String>,
}

impl Default for RomConfig {
    fn default() -> Self {
        Self {
            bootp: BootpConfig::default(),
            arp: ArpMode::Silent,
            server_mac: ServerMac::Reply,
            sequence: Sequence::Simple,
            checks: AcdTiming::seed_002(),
            confirm_wait: Duration::from_millis(500),
            arp_tries: 4,
            arp_interval: Duration::from_secs(1),
            give_up_after: Duration::from_secs(60),
            tftp: TftpConfig::new(""),
            file_override: None,
        }
    }
}

/// Where the boot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Sending BOOTREQUESTs (step 1).
    Requesting,
    /// ARP checks of the offered address (steps 3-5).
    Checking,
    /// Waiting to send the second BOOTREQUEST (step 6).
    Confirming,
    /// Second BOOTREQUEST sent, waiting for the reply (step 7).
    AwaitingConfirmation,
    /// ARP for the server (steps 8-9).
    ResolvingServer,
    /// Reading the boot file (step 10).
    Transferring,
    /// The boot file arrived.
    Done,
    /// Gave up.
    Failed,
}

impl Phase {
    /// The name used in events.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Requesting => "requesting",
            Phase::Checking => "checking",
            Phase::Confirming => "confirming",
            Phase::AwaitingConfirmation => "awaiting-confirmation",
            Phase::ResolvingServer => "resolving-server",
            Phase::Transferring => "transferring",
            Phase::Done => "done",
            Phase::Failed => "failed",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A BOOTREPLY for us (steps 2 and 7).
    BootReplyReceived {
        /// Our address.
        yiaddr: Ipv4Addr,
        /// Next server.
        siaddr: Ipv4Addr,
        /// Boot file name.
        file: String,
        /// IP source of the reply.
        from_ip: Ipv4Addr,
        /// Ethernet source of the reply.
        from_mac: [u8; 6],
        /// Whether this answers the second BOOTREQUEST of `seed-10-step`.
        confirmation: bool,
    },
    /// Another host answered for the offered address during the checks.
    Conflict {
        /// The address.
        address: Ipv4Addr,
        /// The other host.
        mac: [u8; 6],
    },
    /// The boot server's hardware address is known.
    ServerResolved {
        /// The TFTP server.
        ip: Ipv4Addr,
        /// Its hardware address.
        mac: [u8; 6],
        /// `"reply"` or `"arp"`.
        via: &'static str,
    },
    /// We answered an ARP request for our address (`arp = "answer"`).
    ArpAnswered {
        /// Who asked.
        to: Ipv4Addr,
    },
    /// The TFTP transfer began (RRQ sent).
    TransferStarted {
        /// Server address.
        server: Ipv4Addr,
        /// File name asked for.
        file: String,
        /// Our TFTP port.
        port: u16,
    },
    /// The boot file arrived complete.
    BootFileReceived {
        /// File name.
        file: String,
        /// Octets.
        size: u64,
        /// FNV-1a 64 of the bytes.
        fnv1a64: u64,
        /// DATA blocks.
        blocks: u64,
        /// The server.
        server: Ipv4Addr,
    },
    /// The boot failed; `phase` is where it stood.
    TransferFailed {
        /// Why.
        reason: String,
        /// Where.
        phase: Phase,
    },
}

/// The boot ROM core.
#[derive(Debug)]
pub struct Rom {
    cfg: RomConfig,
    mac: [u8; 6],
    rng: Rng,
    phase: Phase,
    deadline: Duration,
    bootp: BootpClient,
    address: Option<Ipv4Addr>,
    server_ip: Ipv4Addr,
    server_mac: Option<[u8; 6]>,
    file: String,
    acd: Option<Acd>,
    next_at: Option<Duration>,
    arp_tries: u32,
    tftp: Option<TftpClient>,
    port: u16,
    data: Vec<u8>,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Rom {
    /// A ROM with hardware address `mac`, powered on at `now`.
    pub fn new(cfg: RomConfig, mac: [u8; 6], mut rng: Rng, now: Duration) -> Self {
        let bootp_rng = bootlab_net::clock::rng(rng.gen());
        let bootp = BootpClient::new(cfg.bootp.clone(), mac, bootp_rng, now);
        let port = rng.gen_range(1024..=65535);
        let deadline = now + cfg.give_up_after;
        Self {
            cfg,
            mac,
            rng,
            phase: Phase::Requesting,
            deadline,
            bootp,
            address: None,
            server_ip: Ipv4Addr::UNSPECIFIED,
            server_mac: None,
            file: String::new(),
            acd: None,
            next_at: None,
            arp_tries: 0,
            tftp: None,
            port,
            data: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Where the boot stands.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Our address, once a reply gave us one.
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.address
    }

    /// Our TFTP port (the transfer's TID, RFC 1350 §4).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the ROM has nothing left to do (after a success, once TFTP stopped lingering).
    pub fn is_finished(&self) -> bool {
        match self.phase {
            Phase::Failed => true,
            Phase::Done => self.tftp.as_ref().is_none_or(TftpClient::is_closed),
            _ => false,
        }
    }

    /// The boot file, once complete.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.pull_bootp();
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to run next.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.is_finished() {
            return None;
        }
        let phase_timer = match self.phase {
            Phase::Requesting | Phase::AwaitingConfirmation => self.bootp.poll_timeout(),
            Phase::Checking => self.acd.as_ref().and_then(Acd::poll_timeout),
            Phase::Confirming | Phase::ResolvingServer => self.next_at,
            Phase::Transferring | Phase::Done => {
                self.tftp.as_ref().and_then(TftpClient::poll_timeout)
            }
            Phase::Failed => None,
        };
        if self.phase == Phase::Done {
            return phase_timer;
        }
        Some(phase_timer.map_or(self.deadline, |t| t.min(self.deadline)))
    }

    fn pull_bootp(&mut self) {
        while let Some(t) = self.bootp.poll_transmit() {
            self.out.push_back(t);
        }
    }

    fn fail(&mut self, reason: impl Into<String>) {
        let reason = reason.into();
        tracing::warn!(phase = self.phase.name(), %reason, "boot failed");
        self.events.push_back(Event::TransferFailed {
            reason,
            phase: self.phase,
        });
        self.phase = Phase::Failed;
        self.acd = None;
        self.tftp = None;
        self.next_at = None;
    }

    /// Runs due timers, including the overall bound.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.is_finished() {
            return;
        }
        if now >= self.deadline && self.phase != Phase::Done {
            let reason = match self.phase {
                Phase::Requesting | Phase::AwaitingConfirmation => "no BOOTREPLY",
                Phase::ResolvingServer => "no ARP reply from the boot server",
                Phase::Transferring => "TFTP transfer did not complete",
                _ => "timed out",
            };
            self.fail(format!("{reason} within {:?}", self.cfg.give_up_after));
            return;
        }
        let due = |t: Option<Duration>| t.is_some_and(|t| t <= now);
        match self.phase {
            Phase::Requesting | Phase::AwaitingConfirmation => {
                self.bootp.handle_timeout(now);
                if self.bootp.gave_up() {
                    self.fail(format!(
                        "no BOOTREPLY after {} requests",
                        self.bootp.tries()
                    ));
                }
            }
            Phase::Checking => {
                let steps = match self.acd.as_mut() {
                    Some(acd) => acd.handle_timeout(now, &mut self.rng),
                    None => Vec::new(),
                };
                for step in steps {
                    match step {
                        AcdStep::Send(a) => self.out.push_back(Transmit::Arp(a)),
                        AcdStep::Usable => {
                            self.acd = None;
                            self.phase = Phase::Confirming;
                            self.next_at = Some(now + self.cfg.confirm_wait);
                        }
                    }
                }
            }
            Phase::Confirming if due(self.next_at) => {
                // Step 6: the same request again, with its own address in ciaddr and the IP header.
                let me = self.address.unwrap_or(Ipv4Addr::UNSPECIFIED);
                self.phase = Phase::AwaitingConfirmation;
                self.next_at = None;
                self.bootp.resend(now, me, me);
            }
            Phase::ResolvingServer if due(self.next_at) => self.arp_for_server(now),
            Phase::Transferring | Phase::Done => {
                if let Some(t) = self.tftp.as_mut() {
                    t.handle_timeout(now);
                }
                self.pump_tftp();
            }
            _ => {}
        }
    }

    fn arp_for_server(&mut self, now: Duration) {
        if self.arp_tries >= self.cfg.arp_tries {
            self.fail(format!(
                "no ARP reply from {} after {} requests",
                self.server_ip, self.arp_tries
            ));
            return;
        }
        let me = self.address.unwrap_or(Ipv4Addr::UNSPECIFIED);
        self.out.push_back(Transmit::Arp(ArpPacket::request(
            self.mac,
            me,
            self.server_ip,
        )));
        self.arp_tries += 1;
        self.next_at = Some(now + self.cfg.arp_interval);
    }

    /// Takes a BOOTREPLY with the IP and Ethernet source of its frame.
    pub fn handle_bootp(
        &mut self,
        now: Duration,
        reply: &Message,
        from_ip: Ipv4Addr,
        from_mac: [u8; 6],
    ) {
        if !matches!(self.phase, Phase::Requesting | Phase::AwaitingConfirmation) {
            return;
        }
        if !self.bootp.handle_reply(now, reply) {
            return;
        }
        let confirmation = self.phase == Phase::AwaitingConfirmation;
        self.events.push_back(Event::BootReplyReceived {
            yiaddr: reply.yiaddr,
            siaddr: reply.siaddr,
            file: reply.file_str(),
            from_ip,
            from_mac,
            confirmation,
        });
        if reply.yiaddr.is_unspecified() {
            self.fail("BOOTREPLY without an address (yiaddr 0.0.0.0)");
            return;
        }
        self.address = Some(reply.yiaddr);
        self.file = self
            .cfg
            .file_override
            .clone()
            .unwrap_or_else(|| reply.file_str());
        // The boot server: siaddr (RFC 951 §3), else the server identifier, else the sender.
        self.server_ip = [
            reply.siaddr,
            opts(reply)
                .server_identifier()
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
            from_ip,
        ]
        .into_iter()
        .find(|a| !a.is_unspecified())
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
        if self.file.is_empty() {
            self.fail("BOOTREPLY without a boot file name");
            return;
        }
        if self.cfg.sequence == Sequence::Seed10Step && !confirmation {
            // Steps 3-5.
            self.phase = Phase::Checking;
            self.acd = Some(Acd::start(
                self.cfg.checks.clone(),
                self.mac,
                reply.yiaddr,
                now,
                &mut self.rng,
            ));
            self.handle_timeout(now);
            return;
        }
        let arp =
            self.cfg.server_mac == ServerMac::Arp || self.cfg.sequence == Sequence::Seed10Step;
        if !arp && from_ip == self.server_ip {
            self.server_mac = Some(from_mac);
            self.events.push_back(Event::ServerResolved {
                ip: self.server_ip,
                mac: from_mac,
                via: "reply",
            });
            self.start_transfer(now);
        } else {
            if !arp {
                tracing::info!(server = %self.server_ip, reply_from = %from_ip, "boot server is not the replier: ARP for it");
            }
            self.phase = Phase::ResolvingServer;
            self.arp_tries = 0;
            self.arp_for_server(now);
        }
    }

    fn start_transfer(&mut self, now: Duration) {
        let mut cfg = self.cfg.tftp.clone();
        cfg.filename = self.file.clone();
        self.tftp = Some(TftpClient::new(now, cfg));
        self.phase = Phase::Transferring;
        self.events.push_back(Event::TransferStarted {
            server: self.server_ip,
            file: self.file.clone(),
            port: self.port,
        });
        self.pump_tftp();
    }

    fn pump_tftp(&mut self) {
        let Some(t) = self.tftp.as_mut() else { return };
        let (Some(me), Some(mac)) = (self.address, self.server_mac) else {
            return;
        };
        while let Some(tx) = t.poll_transmit() {
            self.out.push_back(Transmit::Udp {
                dst_mac: mac,
                src_ip: me,
                dst_ip: self.server_ip,
                src_port: self.port,
                dst_port: tx.dst_port,
                payload: tx.payload,
            });
        }
        self.data.extend(t.take_data());
        let mut finished = None;
        while let Some(e) = t.poll_event() {
            match e {
                TftpEvent::Complete { bytes, blocks, .. } => finished = Some(Ok((bytes, blocks))),
                TftpEvent::Failed(f) => finished = Some(Err(f.to_string())),
                TftpEvent::Ignored(why) => tracing::debug!(%why, "TFTP packet ignored"),
                TftpEvent::Negotiated { negotiated, oack } => {
                    tracing::debug!(?negotiated, oack, "TFTP negotiated")
                }
            }
        }
        if self.phase == Phase::Done {
            return;
        }
        match finished {
            Some(Ok((size, blocks))) => {
                self.events.push_back(Event::BootFileReceived {
                    file: self.file.clone(),
                    size,
                    fnv1a64: fnv1a64(&self.data),
                    blocks,
                    server: self.server_ip,
                });
                // The TFTP client stays to re-ACK a repeated final DATA while it lingers.
                self.phase = Phase::Done;
            }
            Some(Err(reason)) => self.fail(format!("TFTP: {reason}")),
            None => {}
        }
    }

    /// Takes an ARP packet seen on the link.
    pub fn handle_arp(&mut self, now: Duration, arp: &ArpPacket) {
        if arp.source_hardware_addr.0 == self.mac {
            return;
        }
        if self.phase == Phase::Checking {
            if let Some(mac) = self.acd.as_mut().and_then(|a| a.handle_arp(arp)) {
                let address = self.address.unwrap_or(Ipv4Addr::UNSPECIFIED);
                self.events.push_back(Event::Conflict { address, mac });
                self.fail(format!("address {address} in use by another host"));
                return;
            }
        }
        if self.phase == Phase::ResolvingServer
            && arp.operation == ArpOp::Reply
            && arp.source_protocol_addr == self.server_ip
        {
            let mac = arp.source_hardware_addr.0;
            self.server_mac = Some(mac);
            self.next_at = None;
            self.events.push_back(Event::ServerResolved {
                ip: self.server_ip,
                mac,
                via: "arp",
            });
            self.start_transfer(now);
            return;
        }
        if self.cfg.arp == ArpMode::Answer {
            if let Some(me) = self.address {
                if arp.operation == ArpOp::Request
                    && arp.target_protocol_addr == me
                    && !arp.source_protocol_addr.is_unspecified()
                    && arp.source_protocol_addr != me
                {
                    self.out
                        .push_back(Transmit::Arp(reply_to(arp, self.mac, me)));
                    self.events.push_back(Event::ArpAnswered {
                        to: arp.source_protocol_addr,
                    });
                }
            }
        }
    }

    /// Takes a UDP datagram addressed to us (our address, our TFTP port).
    pub fn handle_udp(
        &mut self,
        now: Duration,
        src_ip: Ipv4Addr,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
    ) {
        if !matches!(self.phase, Phase::Transferring | Phase::Done)
            || src_ip != self.server_ip
            || dst_port != self.port
        {
            return;
        }
        if let Some(t) = self.tftp.as_mut() {
            t.handle(now, src_port, payload);
        }
        self.pump_tftp();
    }
}

/// PXE client options for the BOOTREQUEST (RFC 4578 §2.1-2.3, PXE 2.1): vendor class
/// `PXEClient:Arch:aaaaa:UNDI:003016` (60), architecture (93), network interface id UNDI 3.16 (94)
/// and a client machine identifier (97, type 0 + 16-byte GUID).
pub fn pxe_options(arch: u16, guid: [u8; 16]) -> Vec<bootlab_wire::bootp::DhcpOption> {
    use bootlab_wire::bootp::DhcpOption;
    let mut machine_id = vec![0u8];
    machine_id.extend_from_slice(&guid);
    vec![
        DhcpOption {
            code: code::VENDOR_CLASS_IDENTIFIER,
            data: format!("PXEClient:Arch:{arch:05}:UNDI:003016").into_bytes(),
        },
        DhcpOption {
            code: code::CLIENT_SYSTEM_ARCHITECTURE,
            data: arch.to_be_bytes().to_vec(),
        },
        DhcpOption {
            code: code::CLIENT_NETWORK_INTERFACE_ID,
            data: vec![1, 3, 16],
        },
        DhcpOption {
            code: code::CLIENT_MACHINE_ID,
            data: machine_id,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use bootlab_wire::tftp::Packet as TftpPacket;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x30];
    const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    fn rom(cfg: RomConfig) -> Rom {
        Rom::new(cfg, MAC, bootlab_net::clock::rng(11), Duration::ZERO)
    }

    fn out(r: &mut Rom) -> Vec<Transmit> {
        std::iter::from_fn(|| r.poll_transmit()).collect()
    }

    fn events(r: &mut Rom) -> Vec<Event> {
        std::iter::from_fn(|| r.poll_event()).collect()
    }

    fn reply_to_request(req: &Message) -> Message {
        let mut r = Message::new_reply(req);
        r.yiaddr = ADDR;
        r.siaddr = SERVER;
        r.set_file("boot/rom.img");
        r
    }

    fn first_request(r: &mut Rom, now: Duration) -> Message {
        r.handle_timeout(now);
        match out(r).remove(0) {
            Transmit::Bootp { message, .. } => message,
            other => panic!("{other:?}"),
        }
    }

    /// Serves `file` to the ROM's TFTP client in 512-byte blocks from port 40000.
    fn serve(r: &mut Rom, now: Duration, file: &[u8]) {
        let rrq = out(r);
        assert!(
            matches!(
                &rrq[..],
                [Transmit::Udp {
                    dst_port: 69,
                    dst_mac: SERVER_MAC,
                    src_ip: ADDR,
                    ..
                }]
            ),
            "{rrq:?}"
        );
        let port = r.port();
        for (i, chunk) in file
            .chunks(512)
            .chain(if file.len() % 512 == 0 {
                Some(&[][..])
            } else {
                None
            })
            .enumerate()
        {
            let block = i as u16 + 1;
            let data = TftpPacket::emit_data(block, chunk);
            r.handle_udp(now, SERVER, 40000, port, &data);
            let acks = out(r);
            assert!(
                matches!(
                    &acks[..],
                    [Transmit::Udp {
                        dst_port: 40000,
                        ..
                    }]
                ),
                "{acks:?}"
            );
        }
    }

    #[test]
    fn simple_boot_learns_the_server_mac_from_the_reply_and_reads_the_file() {
        let mut r = rom(RomConfig::default());
        let req = first_request(&mut r, Duration::ZERO);
        assert!(req.message_type().is_none());
        r.handle_bootp(ms(100), &reply_to_request(&req), SERVER, SERVER_MAC);
        assert_eq!(r.phase(), Phase::Transferring);
        let file: Vec<u8> = (0..1300u32).map(|i| (i % 251) as u8).collect();
        serve(&mut r, ms(200), &file);
        assert_eq!(r.phase(), Phase::Done);
        assert_eq!(r.data(), &file[..]);
        let ev = events(&mut r);
        assert!(ev.contains(&Event::ServerResolved {
            ip: SERVER,
            mac: SERVER_MAC,
            via: "reply"
        }));
        assert!(ev.contains(&Event::BootFileReceived {
            file: "boot/rom.img".into(),
            size: 1300,
            fnv1a64: fnv1a64(&file),
            blocks: 3,
            server: SERVER,
        }));
    }

    #[test]
    fn silent_rom_never_answers_arp_answering_rom_does_once_addressed() {
        let who_has = ArpPacket::request(SERVER_MAC, SERVER, ADDR);
        for (mode, expect) in [(ArpMode::Silent, 0), (ArpMode::Answer, 1)] {
            let mut r = rom(RomConfig {
                arp: mode,
                ..RomConfig::default()
            });
            let req = first_request(&mut r, Duration::ZERO);
            r.handle_arp(ms(10), &who_has);
            assert!(out(&mut r).is_empty(), "no address yet: no answer");
            r.handle_bootp(ms(100), &reply_to_request(&req), SERVER, SERVER_MAC);
            out(&mut r);
            r.handle_arp(ms(150), &who_has);
            let answers: Vec<_> = out(&mut r)
                .into_iter()
                .filter(|t| matches!(t, Transmit::Arp(a) if a.operation == ArpOp::Reply))
                .collect();
            assert_eq!(answers.len(), expect, "{mode:?}");
            if let Some(Transmit::Arp(a)) = answers.first() {
                assert_eq!(
                    (a.source_protocol_addr, a.target_protocol_addr),
                    (ADDR, SERVER)
                );
                assert_eq!(a.target_hardware_addr.0, SERVER_MAC);
            }
        }
    }

    #[test]
    fn seed_10_step_sequence() {
        let mut r = rom(RomConfig {
            sequence: Sequence::Seed10Step,
            ..RomConfig::default()
        });
        let req = first_request(&mut r, Duration::ZERO); // step 1
        let t0 = ms(300);
        r.handle_bootp(t0, &reply_to_request(&req), SERVER, SERVER_MAC); // step 2
        let mut trace: Vec<(Duration, Transmit)> =
            out(&mut r).into_iter().map(|t| (t0, t)).collect();
        for _ in 0..10 {
            let Some(t) = r.poll_timeout() else { break };
            if r.phase() == Phase::AwaitingConfirmation {
                break;
            }
            r.handle_timeout(t);
            trace.extend(out(&mut r).into_iter().map(|x| (t, x)));
        }
        let summary: Vec<(Duration, String)> = trace
            .iter()
            .map(|(t, x)| {
                let what = match x {
                    Transmit::Arp(a) => format!(
                        "arp {} -> {}",
                        a.source_protocol_addr, a.target_protocol_addr
                    ),
                    Transmit::Bootp { message, src, .. } => {
                        format!("bootp from {src} ciaddr {}", message.ciaddr)
                    }
                    Transmit::Udp { .. } => "udp".into(),
                };
                (*t - t0, what)
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (ms(0), format!("arp 0.0.0.0 -> {ADDR}")),   // step 3
                (ms(500), format!("arp 0.0.0.0 -> {ADDR}")), // step 4
                (ms(1000), format!("arp {ADDR} -> {ADDR}")), // step 5
                (ms(1500), format!("bootp from {ADDR} ciaddr {ADDR}")), // step 6
            ]
        );
        let Transmit::Bootp { message: again, .. } = &trace[3].1 else {
            unreachable!()
        };
        assert_eq!(again.xid, req.xid);
        r.handle_bootp(ms(1900), &reply_to_request(again), SERVER, SERVER_MAC); // step 7
        let arp = out(&mut r); // step 8
        assert_eq!(
            arp,
            vec![Transmit::Arp(ArpPacket::request(MAC, ADDR, SERVER))]
        );
        let Transmit::Arp(q) = &arp[0] else {
            unreachable!()
        };
        r.handle_arp(ms(1950), &reply_to(q, SERVER_MAC, SERVER)); // step 9
        assert_eq!(r.phase(), Phase::Transferring); // step 10
        serve(&mut r, ms(2000), b"kernel");
        let ev = events(&mut r);
        assert!(ev.contains(&Event::ServerResolved {
            ip: SERVER,
            mac: SERVER_MAC,
            via: "arp"
        }));
        assert!(ev.iter().any(|e| matches!(
            e,
            Event::BootReplyReceived {
                confirmation: true,
                ..
            }
        )));
        assert!(ev
            .iter()
            .any(|e| matches!(e, Event::BootFileReceived { size: 6, .. })));
    }

    #[test]
    fn a_server_that_never_sends_data_ends_in_transfer_failed() {
        // Q164394: the server ARPs for the silent ROM instead of sending DATA.
        let cfg = RomConfig {
            give_up_after: Duration::from_secs(20),
            ..RomConfig::default()
        };
        let mut r = rom(cfg);
        let req = first_request(&mut r, Duration::ZERO);
        r.handle_bootp(ms(100), &reply_to_request(&req), SERVER, SERVER_MAC);
        let mut rrqs = 0;
        for _ in 0..50 {
            rrqs += out(&mut r)
                .iter()
                .filter(|t| matches!(t, Transmit::Udp { dst_port: 69, .. }))
                .count();
            let Some(t) = r.poll_timeout() else { break };
            r.handle_timeout(t);
        }
        assert!(rrqs >= 2, "the RRQ is retransmitted ({rrqs})");
        assert_eq!(r.phase(), Phase::Failed);
        let ev = events(&mut r);
        let failed: Vec<_> = ev
            .iter()
            .filter(|e| matches!(e, Event::TransferFailed { .. }))
            .collect();
        assert_eq!(failed.len(), 1);
        assert!(
            matches!(
                failed[0],
                Event::TransferFailed {
                    phase: Phase::Transferring,
                    ..
                }
            ),
            "{failed:?}"
        );
    }

    #[test]
    fn no_reply_at_all_gives_up_at_the_deadline() {
        let cfg = RomConfig {
            give_up_after: Duration::from_secs(10),
            ..RomConfig::default()
        };
        let mut r = rom(cfg);
        for _ in 0..20 {
            let Some(t) = r.poll_timeout() else { break };
            r.handle_timeout(t);
        }
        let ev = events(&mut r);
        assert!(
            matches!(&ev[..], [Event::TransferFailed { phase: Phase::Requesting, reason }] if reason.contains("no BOOTREPLY")),
            "{ev:?}"
        );
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn pxe_options_go_into_the_request() {
        let mut cfg = RomConfig::default();
        cfg.bootp.options = pxe_options(0, [7; 16]);
        let mut r = rom(cfg);
        let req = first_request(&mut r, Duration::ZERO);
        let o = opts(&req);
        assert_eq!(
            o.text(code::VENDOR_CLASS_IDENTIFIER).as_deref(),
            Some("PXEClient:Arch:00000:UNDI:003016")
        );
        assert_eq!(o.get(code::CLIENT_SYSTEM_ARCHITECTURE), Some(vec![0, 0]));
        assert_eq!(o.get(code::CLIENT_MACHINE_ID).map(|v| v.len()), Some(17));
    }

    #[test]
    fn a_reply_from_another_host_than_the_boot_server_resolves_it_by_arp() {
        let mut r = rom(RomConfig::default());
        let req = first_request(&mut r, Duration::ZERO);
        let relay = Ipv4Addr::new(192, 0, 2, 254);
        r.handle_bootp(
            ms(100),
            &reply_to_request(&req),
            relay,
            [2, 0, 0, 0, 0, 0xfe],
        );
        assert_eq!(r.phase(), Phase::ResolvingServer);
        assert_eq!(
            out(&mut r),
            vec![Transmit::Arp(ArpPacket::request(MAC, ADDR, SERVER))]
        );
    }
}

//! The DHCP client as a pure state machine (RFC 2131 §4.4, Figure 5): INIT, SELECTING,
//! REQUESTING, BOUND, RENEWING, REBINDING, INIT-REBOOT/REBOOTING, plus DHCPRELEASE, DHCPINFORM
//! and RFC 5227 conflict detection with DHCPDECLINE (RFC 2131 §3.1 (5), §4.4.1).
//!
//! Quinn style: [`DhcpClient::handle_reply`], [`DhcpClient::handle_arp`] and
//! [`DhcpClient::handle_timeout`] take `now` (protocol time, see `bootlab_net::clock`); output is
//! polled with [`DhcpClient::poll_transmit`], [`DhcpClient::poll_event`] and
//! [`DhcpClient::poll_timeout`]. The core never touches a socket, a clock or a file.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use bootlab_net::clock::Rng;
use bootlab_wire::bootp::{code, Message, MessageType, FLAG_BROADCAST};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::acd::{Acd, AcdPhase, AcdStep, AcdTiming, ArpPacket};
use crate::backoff::{half_remaining, Backoff};
use crate::msg::{classful_prefix, is_reply_for, opts, prefix_len, Transmit};

/// What the client does when T1 arrives (scenario control).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenewMode {
    /// Unicast renewal at T1, broadcast rebinding at T2 (RFC 2131 §4.4.5).
    #[default]
    Normal,
    /// No unicast renewal: go straight to REBINDING at T2 (to show rebinding against a live server).
    SkipRenew,
    /// Renew by unicast at the first T1 only, then skip to REBINDING at later T2s: one run shows
    /// both against a live server.
    Once,
    /// Neither renew nor rebind: let the lease expire (to show expiry).
    Never,
}

/// Historic behaviours a scenario can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DhcpQuirks {
    /// KB Q162396 (NT 4.0 SP2 with RAS): the client sees the duplicate address but never sends
    /// DHCPDECLINE; it logs event 1008 and starts over, so the server keeps offering the address.
    pub q162396_no_decline: bool,
}

/// Settings of the DHCP client core. Defaults follow RFC 2131 and RFC 5227.
#[derive(Debug, Clone)]
pub struct DhcpConfig {
    /// Client identifier, option 61 (RFC 2132 §9.14); sent unchanged in every message.
    pub client_id: Option<Vec<u8>>,
    /// Host name, option 12.
    pub hostname: Option<String>,
    /// Vendor class identifier, option 60.
    pub vendor_class: Option<String>,
    /// Parameter request list, option 55 (RFC 2132 §9.8); left out when empty.
    pub parameter_request_list: Vec<u8>,
    /// Maximum DHCP message size, option 57 (RFC 2132 §9.10), in DISCOVER/REQUEST/INFORM.
    pub max_message_size: Option<u16>,
    /// Set the B flag (RFC 1542 §3.1.1) while the client has no address.
    pub broadcast_flag: bool,
    /// Address to ask for in DHCPDISCOVER (option 50), e.g. the one used last time.
    pub requested_ip: Option<Ipv4Addr>,
    /// Lease time to ask for (option 51).
    pub requested_lease: Option<u32>,
    /// Random wait before the first message, uniform in `[lo, hi]` (RFC 2131 §4.4.1 says 1-10 s).
    pub start_delay: (Duration, Duration),
    /// How long to collect offers after the first one; zero takes the first offer.
    pub select_wait: Duration,
    /// Unanswered REQUESTs (SELECTING, INIT-REBOOT) before starting over at INIT (§3.1 (5)).
    pub request_tries: u32,
    /// Unanswered DHCPINFORMs before giving up.
    pub inform_tries: u32,
    /// Probe the address with ARP before using it (RFC 2131 §4.4.1, RFC 5227 §2.1).
    pub arp_check: bool,
    /// Probe and announcement timing.
    pub acd: AcdTiming,
    /// Wait after a DHCPDECLINE before a new DISCOVER (RFC 2131 §3.1 (5): at least 10 s).
    pub decline_wait: Duration,
    /// Conflicts after which new attempts are rate-limited (RFC 5227 §1.1 MAX_CONFLICTS, 10).
    pub max_conflicts: u32,
    /// The rate limit once `max_conflicts` is reached (RATE_LIMIT_INTERVAL, 60 s).
    pub rate_limit_interval: Duration,
    /// What happens at T1.
    pub renew: RenewMode,
    /// Release the lease this long after binding (scenario control).
    pub release_after: Option<Duration>,
    /// INFORM mode: the address configured by other means (RFC 2131 §3.4); no lease is sought.
    pub inform: Option<Ipv4Addr>,
    /// Where DHCPINFORM goes; broadcast when unset.
    pub inform_server: Option<Ipv4Addr>,
    /// Accept a plain BOOTP reply as an infinite lease (RFC 1534 §4).
    pub accept_bootp: bool,
    /// Retransmission schedule (RFC 2131 §4.1).
    pub backoff: Backoff,
    /// Historic behaviours.
    pub quirks: DhcpQuirks,
}

impl Default for DhcpConfig {
    fn default() -> Self {
        Self {
            client_id: None,
            hostname: None,
            vendor_class: None,
            parameter_request_list: vec![
                code::SUBNET_MASK,
                code::ROUTER,
                code::DOMAIN_NAME_SERVER,
                code::DOMAIN_NAME,
                code::BROADCAST_ADDRESS,
                code::IP_ADDRESS_LEASE_TIME,
                code::RENEWAL_TIME_VALUE,
                code::REBINDING_TIME_VALUE,
            ],
            max_message_size: Some(1500),
            broadcast_flag: false,
            requested_ip: None,
            requested_lease: None,
            start_delay: (Duration::ZERO, Duration::ZERO),
            select_wait: Duration::ZERO,
            request_tries: 4,
            inform_tries: 4,
            arp_check: true,
            acd: AcdTiming::rfc5227(),
            decline_wait: Duration::from_secs(10),
            max_conflicts: 10,
            rate_limit_interval: Duration::from_secs(60),
            renew: RenewMode::Normal,
            release_after: None,
            inform: None,
            inform_server: None,
            accept_bootp: true,
            backoff: Backoff::default(),
            quirks: DhcpQuirks::default(),
        }
    }
}

/// A lease as the client keeps it (RFC 2131 §4.4.1), also the content of the lease file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The leased address (`yiaddr`).
    pub address: Ipv4Addr,
    /// Prefix length from option 1, or the classful default.
    pub prefix_len: u8,
    /// Server identifier (option 54); `None` for a BOOTP lease.
    pub server_id: Option<Ipv4Addr>,
    /// Routers, option 3.
    pub routers: Vec<Ipv4Addr>,
    /// Name servers, option 6.
    pub dns: Vec<Ipv4Addr>,
    /// Lease time in seconds (option 51); `None` is infinite (BOOTP, RFC 1534 §4).
    pub lease_time: Option<u32>,
    /// T1 in seconds after the lease start (option 58 or 0.5 × lease, RFC 2131 §4.4.5).
    pub t1: Option<u32>,
    /// T2 in seconds after the lease start (option 59 or 0.875 × lease).
    pub t2: Option<u32>,
    /// Next server, `siaddr`.
    pub siaddr: Ipv4Addr,
    /// Boot file name, `file`.
    pub file: String,
    /// Whether this came from a BOOTP reply rather than a DHCPACK.
    pub bootp: bool,
    /// Protocol time at which the lease started (the first REQUEST of the exchange, §4.4.1).
    #[serde(skip)]
    pub start: Duration,
}

impl Lease {
    /// Builds a lease from a DHCPACK or BOOTREPLY; `start` is when the exchange's request went out.
    pub fn from_reply(reply: &Message, start: Duration, fallback_server: Option<Ipv4Addr>) -> Self {
        let o = opts(reply);
        let bootp = reply.message_type().is_none();
        let lease_time = if bootp {
            None
        } else {
            o.lease_time().filter(|&l| l != u32::MAX)
        };
        let (t1, t2) = match lease_time {
            Some(l) => {
                let d1 = l / 2;
                let d2 = (u64::from(l) * 7 / 8) as u32;
                let mut t1 = o.u32(code::RENEWAL_TIME_VALUE).unwrap_or(d1);
                let mut t2 = o.u32(code::REBINDING_TIME_VALUE).unwrap_or(d2);
                if t2 > l || t2 == 0 {
                    t2 = d2;
                }
                if t1 > t2 || t1 == 0 {
                    t1 = d1.min(t2);
                }
                (Some(t1), Some(t2))
            }
            None => (None, None),
        };
        let prefix_len = o
            .ip(code::SUBNET_MASK)
            .and_then(prefix_len)
            .unwrap_or_else(|| classful_prefix(reply.yiaddr));
        Lease {
            address: reply.yiaddr,
            prefix_len,
            server_id: o.server_identifier().or(fallback_server),
            routers: o.ips(code::ROUTER).unwrap_or_default(),
            dns: o.ips(code::DOMAIN_NAME_SERVER).unwrap_or_default(),
            lease_time,
            t1,
            t2,
            siaddr: reply.siaddr,
            // Under option 52 `file` holds options, not a name (RFC 2131 §4.1).
            file: reply.boot_file_name(),
            bootp,
            start,
        }
    }

    fn at(&self, secs: Option<u32>) -> Option<Duration> {
        secs.map(|s| self.start + Duration::from_secs(u64::from(s)))
    }

    /// When RENEWING starts (T1).
    pub fn t1_at(&self) -> Option<Duration> {
        self.at(self.t1)
    }

    /// When REBINDING starts (T2).
    pub fn t2_at(&self) -> Option<Duration> {
        self.at(self.t2)
    }

    /// When the lease runs out.
    pub fn expires_at(&self) -> Option<Duration> {
        self.at(self.lease_time)
    }
}

/// The states of RFC 2131 Figure 5, plus the extra states of this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting to send the first DHCPDISCOVER.
    Init,
    /// DHCPDISCOVER sent, collecting offers.
    Selecting,
    /// DHCPREQUEST for the chosen offer sent.
    Requesting,
    /// DHCPREQUEST for the remembered address sent (INIT-REBOOT/REBOOTING).
    InitReboot,
    /// DHCPACK received, probing the address with ARP (RFC 5227 §2.1).
    Probing,
    /// The address is in use.
    Bound,
    /// T1 passed: unicast DHCPREQUEST to the leasing server.
    Renewing,
    /// T2 passed: broadcast DHCPREQUEST.
    Rebinding,
    /// After a conflict, waiting before a new DISCOVER (RFC 2131 §3.1 (5)).
    Declined,
    /// DHCPINFORM sent.
    Informing,
    /// DHCPACK to our DHCPINFORM received: nothing left to do.
    Informed,
    /// DHCPRELEASE sent: nothing left to do.
    Released,
    /// Gave up (INFORM unanswered).
    Stopped,
}

impl State {
    /// The name used in events and logs.
    pub fn name(self) -> &'static str {
        match self {
            State::Init => "init",
            State::Selecting => "selecting",
            State::Requesting => "requesting",
            State::InitReboot => "init-reboot",
            State::Probing => "probing",
            State::Bound => "bound",
            State::Renewing => "renewing",
            State::Rebinding => "rebinding",
            State::Declined => "declined",
            State::Informing => "informing",
            State::Informed => "informed",
            State::Released => "released",
            State::Stopped => "stopped",
        }
    }
}

/// What happened, for events on stdout and for the daemon to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A DHCPOFFER (or BOOTP reply) for us arrived in SELECTING.
    OfferReceived {
        /// Offered address.
        yiaddr: Ipv4Addr,
        /// Option 54 of the offer.
        server_id: Option<Ipv4Addr>,
        /// A BOOTP reply rather than a DHCPOFFER.
        bootp: bool,
    },
    /// The address is ours and usable; `from` is the state that led here.
    Bound {
        /// The lease.
        lease: Lease,
        /// `Requesting`, `InitReboot` or `Selecting` (BOOTP reply).
        from: State,
    },
    /// A DHCPACK in RENEWING.
    Renewed {
        /// The extended lease.
        lease: Lease,
    },
    /// A DHCPACK in REBINDING.
    Rebound {
        /// The extended lease.
        lease: Lease,
    },
    /// A DHCPNAK for us.
    NakReceived {
        /// Option 54 of the NAK.
        server_id: Option<Ipv4Addr>,
        /// Option 56, if any.
        message: Option<String>,
        /// The state the NAK arrived in.
        state: State,
    },
    /// ARP showed another host on the address (RFC 5227 §2.1.1).
    Conflict {
        /// The contested address.
        address: Ipv4Addr,
        /// The other host's hardware address.
        mac: [u8; 6],
        /// Whether a DHCPDECLINE follows.
        declined: bool,
    },
    /// DHCPDECLINE sent (RFC 2131 §4.4.1).
    Declined {
        /// The declined address.
        address: Ipv4Addr,
        /// The server it was declined to.
        server_id: Option<Ipv4Addr>,
    },
    /// Q162396 quirk: the decline never left; NT logged event 1008.
    DeclineFailed {
        /// The contested address.
        address: Ipv4Addr,
        /// The Windows NT event id, 1008.
        event_id: u32,
    },
    /// The lease ran out without a DHCPACK (RFC 2131 §4.4.5).
    Expired {
        /// The address given up.
        address: Ipv4Addr,
    },
    /// DHCPRELEASE sent (RFC 2131 §4.4.6).
    Released {
        /// The released address.
        address: Ipv4Addr,
        /// The server it was released to.
        server_id: Option<Ipv4Addr>,
    },
    /// DHCPACK to DHCPINFORM (RFC 2131 §3.4).
    InformAcked {
        /// Option 54 of the ACK.
        server_id: Option<Ipv4Addr>,
        /// Routers, option 3.
        routers: Vec<Ipv4Addr>,
        /// Name servers, option 6.
        dns: Vec<Ipv4Addr>,
    },
    /// Stopped trying (e.g. DHCPINFORM unanswered).
    GaveUp {
        /// Why.
        reason: String,
    },
    /// For the daemon: put the lease's address on the interface and store the lease.
    Configure(Lease),
    /// For the daemon: remove the address from the interface and forget the stored lease.
    Deconfigure(Ipv4Addr),
}

/// The DHCP client core (RFC 2131 §4.4).
#[derive(Debug)]
pub struct DhcpClient {
    cfg: DhcpConfig,
    mac: [u8; 6],
    rng: Rng,
    state: State,
    xid: u32,
    /// When the current exchange began (its first message): `secs` counts from here.
    exchange_start: Duration,
    /// `secs` of the last DHCPDISCOVER, repeated in the SELECTING REQUEST (§3.1 (3)).
    discover_secs: u16,
    next_tx: Option<Duration>,
    tries: u32,
    offers: Vec<Message>,
    decide_at: Option<Duration>,
    chosen: Option<Message>,
    remembered: Option<Ipv4Addr>,
    lease: Option<Lease>,
    acd: Option<Acd>,
    conflicts: u32,
    release_at: Option<Duration>,
    bound_from: State,
    renewed_once: bool,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl DhcpClient {
    /// A client for hardware address `mac`. With `remembered` it starts in INIT-REBOOT (RFC 2131
    /// §3.2), with `cfg.inform` it sends DHCPINFORM (§3.4), else it starts in INIT. The first
    /// DISCOVER leaves after the configured start delay; INIT-REBOOT and INFORM do not wait.
    pub fn new(
        cfg: DhcpConfig,
        mac: [u8; 6],
        mut rng: Rng,
        remembered: Option<Lease>,
        now: Duration,
    ) -> Self {
        let state = if cfg.inform.is_some() {
            State::Informing
        } else if remembered.is_some() {
            State::InitReboot
        } else {
            State::Init
        };
        // RFC 2131 §4.4.1: the random wait desynchronizes DISCOVERs at start-up; a client that
        // remembers its lease asks for it at once (§4.4.2 asks for no wait; dhcpcd does the same).
        let delay = if state == State::Init {
            crate::acd::uniform(&mut rng, cfg.start_delay.0, cfg.start_delay.1)
        } else {
            Duration::ZERO
        };
        let xid = rng.gen();
        Self {
            cfg,
            mac,
            rng,
            state,
            xid,
            exchange_start: now,
            discover_secs: 0,
            next_tx: Some(now + delay),
            tries: 0,
            offers: Vec::new(),
            decide_at: None,
            chosen: None,
            remembered: remembered.map(|l| l.address),
            lease: None,
            acd: None,
            conflicts: 0,
            release_at: None,
            bound_from: State::Init,
            renewed_once: false,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The current lease, once bound.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// What happens at the next T1: `Once` is `Normal` until the first renewal, then `SkipRenew`.
    fn renew_mode(&self) -> RenewMode {
        match self.cfg.renew {
            RenewMode::Once if self.renewed_once => RenewMode::SkipRenew,
            RenewMode::Once => RenewMode::Normal,
            other => other,
        }
    }

    /// Whether probes or announcements are still pending (RFC 5227 §2.3).
    pub fn announcing(&self) -> bool {
        self.acd.is_some()
    }

    /// The transaction id of the current exchange.
    pub fn xid(&self) -> u32 {
        self.xid
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to run next.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let lease_timer = self.lease.as_ref().and_then(|l| match self.state {
            State::Bound => match self.renew_mode() {
                RenewMode::Normal => l.t1_at(),
                RenewMode::SkipRenew => l.t2_at(),
                RenewMode::Never => l.expires_at(),
                RenewMode::Once => None,
            },
            State::Renewing => l.t2_at(),
            State::Rebinding => l.expires_at(),
            _ => None,
        });
        let release = if self.state == State::Bound {
            self.release_at
        } else {
            None
        };
        [
            self.next_tx,
            self.decide_at,
            self.acd.as_ref().and_then(Acd::poll_timeout),
            lease_timer,
            release,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn secs(&self, now: Duration) -> u16 {
        now.saturating_sub(self.exchange_start)
            .as_secs()
            .min(u64::from(u16::MAX)) as u16
    }

    fn new_exchange(&mut self, now: Duration) {
        self.xid = self.rng.gen();
        self.exchange_start = now;
        self.tries = 0;
        self.cfg.backoff.reset();
    }

    fn schedule_retransmit(&mut self, now: Duration) {
        self.tries += 1;
        self.next_tx = Some(now + self.cfg.backoff.next_delay(&mut self.rng));
    }

    /// A message of type `t` with the fields every client message shares (RFC 2131 Table 5).
    fn base(&self, t: MessageType, secs: u16, ciaddr: Ipv4Addr) -> Message {
        let mut m = Message::new_dhcp(t, self.xid, self.mac);
        m.secs = secs;
        m.ciaddr = ciaddr;
        if self.cfg.broadcast_flag && ciaddr.is_unspecified() && t != MessageType::Decline {
            m.flags = FLAG_BROADCAST;
        }
        if let Some(id) = &self.cfg.client_id {
            m.options_mut().push(code::CLIENT_IDENTIFIER, id.clone());
        }
        m
    }

    /// Options 57, 12, 60 and 55, which DISCOVER, REQUEST and INFORM carry (§3.5, §4.4.1).
    fn add_parameters(&self, m: &mut Message) {
        let o = m.options_mut();
        if let Some(size) = self.cfg.max_message_size {
            o.push(code::MAXIMUM_DHCP_MESSAGE_SIZE, size.to_be_bytes());
        }
        if let Some(h) = &self.cfg.hostname {
            o.push(code::HOST_NAME, h.as_bytes());
        }
        if let Some(v) = &self.cfg.vendor_class {
            o.push(code::VENDOR_CLASS_IDENTIFIER, v.as_bytes());
        }
        if !self.cfg.parameter_request_list.is_empty() {
            o.push(
                code::PARAMETER_REQUEST_LIST,
                self.cfg.parameter_request_list.clone(),
            );
        }
    }

    fn broadcast(&mut self, message: Message, src: Ipv4Addr) {
        self.out.push_back(Transmit::Bootp {
            message,
            src,
            dst: Ipv4Addr::BROADCAST,
        });
    }

    fn send_discover(&mut self, now: Duration) {
        let secs = self.secs(now);
        self.discover_secs = secs;
        let mut m = self.base(MessageType::Discover, secs, Ipv4Addr::UNSPECIFIED);
        if let Some(ip) = self.remembered.or(self.cfg.requested_ip) {
            m.options_mut()
                .push(code::REQUESTED_IP_ADDRESS, ip.octets());
        }
        if let Some(l) = self.cfg.requested_lease {
            m.options_mut()
                .push(code::IP_ADDRESS_LEASE_TIME, l.to_be_bytes());
        }
        self.add_parameters(&mut m);
        self.broadcast(m, Ipv4Addr::UNSPECIFIED);
        self.schedule_retransmit(now);
    }

    fn start_init(&mut self, now: Duration) {
        self.state = State::Selecting;
        self.offers.clear();
        self.decide_at = None;
        self.chosen = None;
        self.new_exchange(now);
        self.send_discover(now);
    }

    /// SELECTING REQUEST (§3.1 (3), §4.3.2): broadcast, option 50 = offered address, option 54 of
    /// the chosen server, ciaddr 0, the DISCOVER's `secs`.
    fn send_selecting_request(&mut self, now: Duration) {
        let Some(offer) = &self.chosen else { return };
        let (yiaddr, sid) = (offer.yiaddr, opts(offer).server_identifier());
        let mut m = self.base(
            MessageType::Request,
            self.discover_secs,
            Ipv4Addr::UNSPECIFIED,
        );
        m.options_mut()
            .push(code::REQUESTED_IP_ADDRESS, yiaddr.octets());
        if let Some(sid) = sid {
            m.options_mut().push(code::SERVER_IDENTIFIER, sid.octets());
        }
        if let Some(l) = self.cfg.requested_lease {
            m.options_mut()
                .push(code::IP_ADDRESS_LEASE_TIME, l.to_be_bytes());
        }
        self.add_parameters(&mut m);
        self.broadcast(m, Ipv4Addr::UNSPECIFIED);
        self.schedule_retransmit(now);
    }

    /// INIT-REBOOT REQUEST (§3.2, §4.3.2): broadcast, option 50 = remembered address, no server
    /// identifier, ciaddr 0.
    fn send_reboot_request(&mut self, now: Duration) {
        let Some(addr) = self.remembered else { return };
        let mut m = self.base(MessageType::Request, self.secs(now), Ipv4Addr::UNSPECIFIED);
        m.options_mut()
            .push(code::REQUESTED_IP_ADDRESS, addr.octets());
        self.add_parameters(&mut m);
        self.broadcast(m, Ipv4Addr::UNSPECIFIED);
        self.schedule_retransmit(now);
    }

    /// RENEWING/REBINDING REQUEST (§4.3.2, §4.4.5): ciaddr = our address, no option 50 or 54;
    /// unicast to the server while renewing, broadcast while rebinding.
    fn send_extend_request(&mut self, now: Duration) {
        let Some(lease) = self.lease.clone() else {
            return;
        };
        let mut m = self.base(MessageType::Request, self.secs(now), lease.address);
        self.add_parameters(&mut m);
        let (dst, deadline) = match (self.state, lease.server_id) {
            (State::Renewing, Some(sid)) => (sid, lease.t2_at()),
            _ => (Ipv4Addr::BROADCAST, lease.expires_at()),
        };
        self.out.push_back(Transmit::Bootp {
            message: m,
            src: lease.address,
            dst,
        });
        self.tries += 1;
        self.next_tx = deadline
            .and_then(|d| half_remaining(now, d, Duration::from_secs(60)))
            .map(|d| now + d);
    }

    /// DHCPINFORM (§3.4, §4.4.3): ciaddr = the configured address, no option 50/54.
    fn send_inform(&mut self, now: Duration) {
        let Some(addr) = self.cfg.inform else { return };
        let mut m = self.base(MessageType::Inform, self.secs(now), addr);
        self.add_parameters(&mut m);
        let dst = self.cfg.inform_server.unwrap_or(Ipv4Addr::BROADCAST);
        self.out.push_back(Transmit::Bootp {
            message: m,
            src: addr,
            dst,
        });
        self.schedule_retransmit(now);
    }

    /// DHCPDECLINE (§4.4.1, Table 5): broadcast from 0.0.0.0, ciaddr 0, secs 0, option 50 = the
    /// address, option 54; no parameter list, lease time or maximum size.
    fn send_decline(&mut self, lease: &Lease) {
        let mut m = self.base(MessageType::Decline, 0, Ipv4Addr::UNSPECIFIED);
        m.options_mut()
            .push(code::REQUESTED_IP_ADDRESS, lease.address.octets());
        if let Some(sid) = lease.server_id {
            m.options_mut().push(code::SERVER_IDENTIFIER, sid.octets());
        }
        self.broadcast(m, Ipv4Addr::UNSPECIFIED);
    }

    /// Runs whatever timers are due.
    pub fn handle_timeout(&mut self, now: Duration) {
        if let Some(acd) = self.acd.as_mut() {
            if acd.poll_timeout().is_some_and(|t| t <= now) {
                let steps = acd.handle_timeout(now, &mut self.rng);
                for step in steps {
                    match step {
                        AcdStep::Send(a) => self.out.push_back(Transmit::Arp(a)),
                        AcdStep::Usable => self.bind(now),
                    }
                }
                if self
                    .acd
                    .as_ref()
                    .is_some_and(|a| a.phase() == AcdPhase::Done)
                {
                    self.acd = None;
                }
            }
        }
        if self.decide_at.is_some_and(|t| t <= now) && self.state == State::Selecting {
            self.decide_at = None;
            self.choose_offer(now);
        }
        let due = |t: Option<Duration>| t.is_some_and(|t| t <= now);
        match self.state {
            State::Init if due(self.next_tx) => self.start_init(now),
            State::Declined if due(self.next_tx) => self.start_init(now),
            State::Selecting if due(self.next_tx) => self.send_discover(now),
            State::Requesting if due(self.next_tx) => {
                if self.tries >= self.cfg.request_tries {
                    tracing::info!(
                        tries = self.tries,
                        "no DHCPACK to our REQUEST, back to INIT"
                    );
                    self.start_init(now);
                } else {
                    self.send_selecting_request(now);
                }
            }
            State::InitReboot if due(self.next_tx) => {
                if self.tries == 0 {
                    self.new_exchange(now);
                    self.send_reboot_request(now);
                } else if self.tries >= self.cfg.request_tries {
                    tracing::info!(tries = self.tries, "no answer in INIT-REBOOT, back to INIT");
                    self.start_init(now);
                } else {
                    self.send_reboot_request(now);
                }
            }
            State::Informing if due(self.next_tx) => {
                if self.tries == 0 {
                    self.new_exchange(now);
                    self.send_inform(now);
                } else if self.tries >= self.cfg.inform_tries {
                    self.state = State::Stopped;
                    self.next_tx = None;
                    self.events.push_back(Event::GaveUp {
                        reason: "no DHCPACK to DHCPINFORM".into(),
                    });
                } else {
                    self.send_inform(now);
                }
            }
            State::Bound => self.bound_timers(now),
            State::Renewing => {
                if self
                    .lease
                    .as_ref()
                    .and_then(Lease::t2_at)
                    .is_some_and(|t| t <= now)
                {
                    self.state = State::Rebinding;
                    self.new_exchange(now);
                    self.send_extend_request(now);
                } else if due(self.next_tx) {
                    self.send_extend_request(now);
                }
            }
            State::Rebinding => {
                if self
                    .lease
                    .as_ref()
                    .and_then(Lease::expires_at)
                    .is_some_and(|t| t <= now)
                {
                    self.expire(now);
                } else if due(self.next_tx) {
                    self.send_extend_request(now);
                }
            }
            _ => {}
        }
    }

    fn bound_timers(&mut self, now: Duration) {
        if self.release_at.is_some_and(|t| t <= now) {
            self.release(now);
            return;
        }
        let Some(lease) = self.lease.clone() else {
            return;
        };
        let due = |t: Option<Duration>| t.is_some_and(|t| t <= now);
        if due(lease.expires_at()) {
            self.expire(now);
        } else if due(lease.t2_at()) && self.renew_mode() != RenewMode::Never {
            self.state = State::Rebinding;
            self.new_exchange(now);
            self.send_extend_request(now);
        } else if due(lease.t1_at()) && self.renew_mode() == RenewMode::Normal {
            self.state = if lease.server_id.is_some() {
                State::Renewing
            } else {
                State::Rebinding
            };
            self.new_exchange(now);
            self.send_extend_request(now);
        }
    }

    fn expire(&mut self, now: Duration) {
        if let Some(lease) = self.lease.take() {
            self.events.push_back(Event::Expired {
                address: lease.address,
            });
            self.deconfigure(lease.address);
        }
        self.remembered = None;
        self.start_init(now);
    }

    fn deconfigure(&mut self, address: Ipv4Addr) {
        self.events.push_back(Event::Deconfigure(address));
    }

    /// Sends DHCPRELEASE (RFC 2131 §4.4.6): unicast to the server, ciaddr = our address, option
    /// 54, secs 0; then the address is removed. Does nothing without a lease.
    pub fn release(&mut self, _now: Duration) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        if let Some(sid) = lease.server_id.filter(|_| !lease.bootp) {
            self.xid = self.rng.gen();
            let mut m = self.base(MessageType::Release, 0, lease.address);
            m.options_mut().push(code::SERVER_IDENTIFIER, sid.octets());
            self.out.push_back(Transmit::Bootp {
                message: m,
                src: lease.address,
                dst: sid,
            });
        }
        self.events.push_back(Event::Released {
            address: lease.address,
            server_id: lease.server_id,
        });
        self.deconfigure(lease.address);
        self.state = State::Released;
        self.next_tx = None;
        self.acd = None;
    }

    fn choose_offer(&mut self, now: Duration) {
        // Prefer a DHCP offer over a BOOTP reply (RFC 1534 §4), else the first to arrive.
        let pick = self
            .offers
            .iter()
            .position(|o| o.message_type().is_some())
            .or(if self.offers.is_empty() {
                None
            } else {
                Some(0)
            });
        let Some(i) = pick else { return };
        let offer = self.offers.swap_remove(i);
        self.offers.clear();
        if offer.message_type().is_none() {
            // BOOTP: the reply is the binding; no REQUEST round (RFC 1534 §2).
            let lease = Lease::from_reply(&offer, self.exchange_start, None);
            self.check_then_bind(lease, State::Selecting, now);
            return;
        }
        self.chosen = Some(offer);
        self.state = State::Requesting;
        self.tries = 0;
        self.cfg.backoff.reset();
        self.send_selecting_request(now);
    }

    fn check_then_bind(&mut self, lease: Lease, from: State, now: Duration) {
        self.lease = Some(lease.clone());
        self.bound_from = from;
        self.next_tx = None;
        if self.cfg.arp_check {
            self.state = State::Probing;
            self.acd = Some(Acd::start(
                self.cfg.acd.clone(),
                self.mac,
                lease.address,
                now,
                &mut self.rng,
            ));
        } else {
            self.acd = None;
            self.bind(now);
        }
    }

    fn bind(&mut self, now: Duration) {
        let Some(lease) = self.lease.clone() else {
            return;
        };
        self.state = State::Bound;
        self.next_tx = None;
        self.remembered = Some(lease.address);
        self.events.push_back(Event::Configure(lease.clone()));
        self.events.push_back(Event::Bound {
            lease,
            from: self.bound_from,
        });
        if self.release_at.is_none() {
            self.release_at = self.cfg.release_after.map(|d| now + d);
        }
    }

    /// Takes a BOOTREPLY received on UDP 68. Replies for another xid or chaddr, or with a foreign
    /// client identifier, are ignored (RFC 2131 §4.4.1, RFC 6842 §3).
    pub fn handle_reply(&mut self, now: Duration, reply: &Message) {
        if !is_reply_for(reply, self.xid, self.mac) {
            return;
        }
        if let (Some(ours), Some(theirs)) = (
            &self.cfg.client_id,
            opts(reply).get(code::CLIENT_IDENTIFIER),
        ) {
            if *ours != theirs {
                tracing::debug!("reply with a foreign client identifier ignored (RFC 6842 §3)");
                return;
            }
        }
        let t = reply.message_type();
        match (self.state, t) {
            (State::Selecting, Some(MessageType::Offer)) | (State::Selecting, None) => {
                if (t.is_none() && !self.cfg.accept_bootp) || reply.yiaddr.is_unspecified() {
                    return;
                }
                let server_id = opts(reply).server_identifier();
                self.events.push_back(Event::OfferReceived {
                    yiaddr: reply.yiaddr,
                    server_id,
                    bootp: t.is_none(),
                });
                self.offers.push(reply.clone());
                if self.cfg.select_wait.is_zero() {
                    self.choose_offer(now);
                } else if self.decide_at.is_none() {
                    self.decide_at = Some(now + self.cfg.select_wait);
                }
            }
            (State::Requesting | State::InitReboot, Some(MessageType::Ack)) => {
                let fallback = self
                    .chosen
                    .as_ref()
                    .and_then(|o| opts(o).server_identifier());
                let lease = Lease::from_reply(reply, self.exchange_start, fallback);
                let from = self.state;
                self.check_then_bind(lease, from, now);
            }
            (State::Renewing | State::Rebinding, Some(MessageType::Ack)) => {
                let Some(old) = self.lease.clone() else {
                    return;
                };
                let lease = Lease::from_reply(reply, self.exchange_start, old.server_id);
                if lease.address != old.address {
                    self.deconfigure(old.address);
                }
                self.lease = Some(lease.clone());
                self.events.push_back(Event::Configure(lease.clone()));
                self.events.push_back(if self.state == State::Renewing {
                    self.renewed_once = true;
                    Event::Renewed { lease }
                } else {
                    Event::Rebound { lease }
                });
                self.state = State::Bound;
                self.next_tx = None;
            }
            (
                State::Requesting | State::InitReboot | State::Renewing | State::Rebinding,
                Some(MessageType::Nak),
            ) => {
                let o = opts(reply);
                self.events.push_back(Event::NakReceived {
                    server_id: o.server_identifier(),
                    message: o.text(code::MESSAGE),
                    state: self.state,
                });
                if let Some(lease) = self.lease.take() {
                    self.deconfigure(lease.address);
                } else if self.state == State::InitReboot {
                    if let Some(addr) = self.remembered {
                        // A previous run may have left the address on the interface.
                        self.deconfigure(addr);
                    }
                }
                self.remembered = None;
                self.start_init(now);
            }
            (State::Informing, Some(MessageType::Ack)) => {
                let o = opts(reply);
                self.events.push_back(Event::InformAcked {
                    server_id: o.server_identifier(),
                    routers: o.ips(code::ROUTER).unwrap_or_default(),
                    dns: o.ips(code::DOMAIN_NAME_SERVER).unwrap_or_default(),
                });
                self.state = State::Informed;
                self.next_tx = None;
            }
            _ => tracing::debug!(state = self.state.name(), ?t, "reply ignored in this state"),
        }
    }

    /// Takes an ARP packet seen on the link; while probing, a conflict leads to DHCPDECLINE (or,
    /// with the Q162396 quirk, to event 1008 and no DECLINE) and a wait before a new DISCOVER.
    pub fn handle_arp(&mut self, now: Duration, arp: &ArpPacket) {
        if self.state != State::Probing {
            return;
        }
        let Some(mac) = self.acd.as_mut().and_then(|a| a.handle_arp(arp)) else {
            return;
        };
        self.acd = None;
        let Some(lease) = self.lease.take() else {
            return;
        };
        self.conflicts += 1;
        let declined = !self.cfg.quirks.q162396_no_decline;
        self.events.push_back(Event::Conflict {
            address: lease.address,
            mac,
            declined,
        });
        if declined {
            self.send_decline(&lease);
            self.events.push_back(Event::Declined {
                address: lease.address,
                server_id: lease.server_id,
            });
        } else {
            tracing::error!(
                address = %lease.address,
                "event 1008: the address is in use by another host; DHCPDECLINE not sent (Q162396 quirk)"
            );
            self.events.push_back(Event::DeclineFailed {
                address: lease.address,
                event_id: 1008,
            });
        }
        self.remembered = None;
        self.chosen = None;
        self.state = State::Declined;
        let wait = if self.conflicts >= self.cfg.max_conflicts {
            self.cfg.decline_wait.max(self.cfg.rate_limit_interval)
        } else {
            self.cfg.decline_wait
        };
        self.next_tx = Some(now + wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acd::{reply_to, ArpOp};

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
    const SQUATTER: [u8; 6] = [2, 0, 0, 0, 0, 0x66];
    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    /// A scripted server's reply of type `t` to `req`, leasing `ADDR` for `lease` seconds.
    fn reply(req: &Message, t: MessageType, lease: u32) -> Message {
        let mut r = Message::new_reply(req);
        r.yiaddr = if t == MessageType::Nak {
            Ipv4Addr::UNSPECIFIED
        } else {
            ADDR
        };
        let o = r.options_mut();
        o.push(code::DHCP_MESSAGE_TYPE, [u8::from(t)]);
        o.push(code::SERVER_IDENTIFIER, SERVER.octets());
        if t != MessageType::Nak {
            o.push(code::IP_ADDRESS_LEASE_TIME, lease.to_be_bytes());
            o.push(code::SUBNET_MASK, [255, 255, 255, 0]);
            o.push(code::ROUTER, SERVER.octets());
        }
        r
    }

    fn dhcp_out(c: &mut DhcpClient) -> Vec<(Message, Ipv4Addr, Ipv4Addr)> {
        let mut v = Vec::new();
        while let Some(t) = c.poll_transmit() {
            if let Transmit::Bootp { message, src, dst } = t {
                v.push((message, src, dst));
            }
        }
        v
    }

    fn arp_out(c: &mut DhcpClient) -> Vec<ArpPacket> {
        let mut v = Vec::new();
        while let Some(t) = c.poll_transmit() {
            if let Transmit::Arp(a) = t {
                v.push(a);
            }
        }
        v
    }

    fn events(c: &mut DhcpClient) -> Vec<Event> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    fn no_probe() -> DhcpConfig {
        DhcpConfig {
            arp_check: false,
            ..DhcpConfig::default()
        }
    }

    fn client(cfg: DhcpConfig) -> DhcpClient {
        DhcpClient::new(cfg, MAC, bootlab_net::clock::rng(42), None, Duration::ZERO)
    }

    /// Runs the client to BOUND through DORA at t=0 and returns the REQUEST it sent.
    fn dora(c: &mut DhcpClient, lease: u32) -> Message {
        c.handle_timeout(s(0));
        let (discover, _, _) = dhcp_out(c).remove(0);
        c.handle_reply(s(0), &reply(&discover, MessageType::Offer, lease));
        let (request, _, _) = dhcp_out(c).remove(0);
        c.handle_reply(s(0), &reply(&request, MessageType::Ack, lease));
        request
    }

    #[test]
    fn dora_broadcasts_from_zero_and_binds() {
        let mut c = client(no_probe());
        assert_eq!(c.poll_timeout(), Some(s(0)));
        c.handle_timeout(s(0));
        let out = dhcp_out(&mut c);
        assert_eq!(out.len(), 1);
        let (discover, src, dst) = &out[0];
        assert_eq!((*src, *dst), (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST));
        assert_eq!(discover.message_type(), Some(MessageType::Discover));
        assert_eq!(discover.secs, 0);
        assert_eq!(opts(discover).maximum_message_size(), Some(1500));
        assert_eq!(c.state(), State::Selecting);

        // An offer for another xid or chaddr is ignored (CLI-XID-02).
        let mut wrong = reply(discover, MessageType::Offer, 600);
        wrong.xid ^= 1;
        c.handle_reply(s(1), &wrong);
        let mut other = reply(discover, MessageType::Offer, 600);
        other.chaddr[5] ^= 1;
        c.handle_reply(s(1), &other);
        assert_eq!(c.state(), State::Selecting);
        // An ACK in SELECTING is ignored too.
        c.handle_reply(s(1), &reply(discover, MessageType::Ack, 600));
        assert_eq!(c.state(), State::Selecting);

        c.handle_reply(s(2), &reply(discover, MessageType::Offer, 600));
        let (request, src, dst) = dhcp_out(&mut c).remove(0);
        assert_eq!((src, dst), (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST));
        assert_eq!(request.message_type(), Some(MessageType::Request));
        assert_eq!(
            request.xid, discover.xid,
            "the SELECTING REQUEST reuses the xid (CLI-XID-01)"
        );
        assert_eq!(
            request.secs, discover.secs,
            "and the DISCOVER's secs (CLI-SECS-04)"
        );
        assert_eq!(request.ciaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(opts(&request).requested_ip_address(), Some(ADDR));
        assert_eq!(opts(&request).server_identifier(), Some(SERVER));
        assert_eq!(
            opts(&request).parameter_request_list(),
            opts(discover).parameter_request_list()
        );
        assert_eq!(c.state(), State::Requesting);

        c.handle_reply(s(3), &reply(&request, MessageType::Ack, 600));
        assert_eq!(c.state(), State::Bound);
        let ev = events(&mut c);
        assert!(matches!(
            ev[0],
            Event::OfferReceived {
                yiaddr: ADDR,
                bootp: false,
                ..
            }
        ));
        assert!(matches!(&ev[1], Event::Configure(l) if l.address == ADDR && l.prefix_len == 24));
        let Event::Bound { lease, from } = &ev[2] else {
            panic!("{ev:?}")
        };
        assert_eq!(*from, State::Requesting);
        assert_eq!(
            (lease.lease_time, lease.t1, lease.t2),
            (Some(600), Some(300), Some(525))
        );
        assert_eq!(
            lease.start,
            s(0),
            "the lease starts when the exchange began"
        );
        assert_eq!(c.poll_timeout(), Some(s(300)));
    }

    #[test]
    fn discover_retransmits_with_backoff_and_growing_secs() {
        let mut c = client(no_probe());
        let mut now = s(0);
        let mut sent = Vec::new();
        for _ in 0..6 {
            c.handle_timeout(now);
            for (m, _, _) in dhcp_out(&mut c) {
                sent.push((now, m));
            }
            now = c.poll_timeout().expect("a retransmission timer");
        }
        assert_eq!(sent.len(), 6);
        let xid = sent[0].1.xid;
        for (i, w) in sent.windows(2).enumerate() {
            let gap = w[1].0 - w[0].0;
            let nominal = (4u64 << i).min(64);
            assert!(
                gap >= s(nominal - 1) && gap <= s(nominal + 1),
                "gap {i}: {gap:?}"
            );
            assert!(w[1].1.secs > w[0].1.secs, "secs grows (CLI-SECS-02)");
            assert_eq!(w[1].1.xid, xid);
        }
        for (t, m) in &sent {
            assert_eq!(
                u64::from(m.secs),
                t.as_secs(),
                "secs = seconds since the first DISCOVER"
            );
        }
    }

    #[test]
    fn renews_unicast_at_t1_and_rebinds_broadcast_at_t2() {
        let mut c = client(no_probe());
        dora(&mut c, 1000);
        events(&mut c);
        assert_eq!(c.poll_timeout(), Some(s(500)));
        c.handle_timeout(s(500));
        assert_eq!(c.state(), State::Renewing);
        let (renew, src, dst) = dhcp_out(&mut c).remove(0);
        assert_eq!(
            (src, dst),
            (ADDR, SERVER),
            "unicast to the server from our address (CLI-RENEW-01)"
        );
        assert_eq!(renew.ciaddr, ADDR);
        assert_eq!(renew.secs, 0);
        assert!(opts(&renew).server_identifier().is_none());
        assert!(opts(&renew).requested_ip_address().is_none());
        // Retransmission after half the time to T2 (875 - 500 = 375 / 2 = 187.5 s).
        assert_eq!(
            c.poll_timeout(),
            Some(s(500) + Duration::from_millis(187_500))
        );
        c.handle_timeout(s(700));
        let (again, _, dst) = dhcp_out(&mut c).remove(0);
        assert_eq!(dst, SERVER);
        assert_eq!(again.secs, 200, "secs counts from the start of the renewal");
        // No answer: REBINDING at T2, broadcast (CLI-REBIND-01).
        c.handle_timeout(s(875));
        assert_eq!(c.state(), State::Rebinding);
        let (rebind, src, dst) = dhcp_out(&mut c).remove(0);
        assert_eq!((src, dst), (ADDR, Ipv4Addr::BROADCAST));
        assert_eq!(rebind.ciaddr, ADDR);
        assert!(opts(&rebind).server_identifier().is_none());
        c.handle_reply(s(880), &reply(&rebind, MessageType::Ack, 1000));
        assert_eq!(c.state(), State::Bound);
        let ev = events(&mut c);
        assert!(ev
            .iter()
            .any(|e| matches!(e, Event::Rebound { lease } if lease.start == s(875))));
        assert_eq!(c.poll_timeout(), Some(s(875 + 500)));

        // Renewal answered.
        c.handle_timeout(s(1375));
        let (renew, _, _) = dhcp_out(&mut c).remove(0);
        c.handle_reply(s(1376), &reply(&renew, MessageType::Ack, 1000));
        assert!(events(&mut c)
            .iter()
            .any(|e| matches!(e, Event::Renewed { .. })));
        assert_eq!(c.state(), State::Bound);
    }

    #[test]
    fn lease_expiry_deconfigures_and_restarts() {
        let mut c = client(DhcpConfig {
            renew: RenewMode::Never,
            ..no_probe()
        });
        dora(&mut c, 100);
        events(&mut c);
        assert_eq!(c.poll_timeout(), Some(s(100)));
        c.handle_timeout(s(100));
        let ev = events(&mut c);
        assert!(ev.contains(&Event::Expired { address: ADDR }));
        assert!(ev.contains(&Event::Deconfigure(ADDR)));
        assert_eq!(c.state(), State::Selecting);
        let (d, _, _) = dhcp_out(&mut c).remove(0);
        assert_eq!(d.message_type(), Some(MessageType::Discover));
    }

    #[test]
    fn skip_renew_goes_straight_to_rebinding() {
        let mut c = client(DhcpConfig {
            renew: RenewMode::SkipRenew,
            ..no_probe()
        });
        dora(&mut c, 800);
        assert_eq!(c.poll_timeout(), Some(s(700)));
        c.handle_timeout(s(700));
        assert_eq!(c.state(), State::Rebinding);
        assert_eq!(dhcp_out(&mut c).remove(0).2, Ipv4Addr::BROADCAST);
    }

    #[test]
    fn nak_sends_the_client_back_to_init() {
        let mut c = client(no_probe());
        c.handle_timeout(s(0));
        let (d, _, _) = dhcp_out(&mut c).remove(0);
        c.handle_reply(s(0), &reply(&d, MessageType::Offer, 600));
        let (r, _, _) = dhcp_out(&mut c).remove(0);
        c.handle_reply(s(1), &reply(&r, MessageType::Nak, 0));
        assert!(events(&mut c).iter().any(|e| matches!(
            e,
            Event::NakReceived {
                state: State::Requesting,
                ..
            }
        )));
        assert_eq!(c.state(), State::Selecting);
        let (d2, _, _) = dhcp_out(&mut c).remove(0);
        assert_eq!(d2.message_type(), Some(MessageType::Discover));
        assert_ne!(d2.xid, d.xid);

        // A NAK while renewing removes the address.
        let mut c = client(no_probe());
        dora(&mut c, 100);
        events(&mut c);
        c.handle_timeout(s(50));
        let (renew, _, _) = dhcp_out(&mut c).remove(0);
        c.handle_reply(s(50), &reply(&renew, MessageType::Nak, 0));
        assert!(events(&mut c).contains(&Event::Deconfigure(ADDR)));
        assert_eq!(c.state(), State::Selecting);
    }

    #[test]
    fn unanswered_requests_fall_back_to_init() {
        let mut c = client(no_probe());
        c.handle_timeout(s(0));
        let (d, _, _) = dhcp_out(&mut c).remove(0);
        c.handle_reply(s(0), &reply(&d, MessageType::Offer, 600));
        let mut requests = dhcp_out(&mut c).len();
        for _ in 0..10 {
            let Some(t) = c.poll_timeout() else { break };
            c.handle_timeout(t);
            let out = dhcp_out(&mut c);
            if out
                .iter()
                .any(|(m, _, _)| m.message_type() == Some(MessageType::Discover))
            {
                break;
            }
            requests += out.len();
        }
        assert_eq!(requests, 4, "4 REQUESTs, then a new DISCOVER (CLI-RTX-02)");
        assert_eq!(c.state(), State::Selecting);
    }

    #[test]
    fn conflict_declines_waits_ten_seconds_and_rediscovers() {
        let mut c = client(DhcpConfig::default());
        dora(&mut c, 600);
        assert_eq!(c.state(), State::Probing);
        let t = c.poll_timeout().expect("probe timer");
        assert!(t <= s(1), "first probe within PROBE_WAIT");
        c.handle_timeout(t);
        let probes = arp_out(&mut c);
        assert_eq!(
            probes,
            vec![ArpPacket::request(MAC, Ipv4Addr::UNSPECIFIED, ADDR)]
        );
        // The squatter answers.
        let answer = reply_to(&probes[0], SQUATTER, ADDR);
        c.handle_arp(t, &answer);
        let ev = events(&mut c);
        assert!(ev.contains(&Event::Conflict {
            address: ADDR,
            mac: SQUATTER,
            declined: true
        }));
        assert!(ev.contains(&Event::Declined {
            address: ADDR,
            server_id: Some(SERVER)
        }));
        assert!(!ev
            .iter()
            .any(|e| matches!(e, Event::Bound { .. } | Event::Configure(_))));
        let (decline, src, dst) = dhcp_out(&mut c).remove(0);
        assert_eq!(decline.message_type(), Some(MessageType::Decline));
        assert_eq!((src, dst), (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST));
        assert_eq!((decline.ciaddr, decline.secs), (Ipv4Addr::UNSPECIFIED, 0));
        let o = opts(&decline);
        assert_eq!(o.requested_ip_address(), Some(ADDR));
        assert_eq!(o.server_identifier(), Some(SERVER));
        assert!(o.parameter_request_list().is_none() && o.maximum_message_size().is_none());
        assert!(o.lease_time().is_none());
        assert_eq!(c.state(), State::Declined);
        assert_eq!(
            c.poll_timeout(),
            Some(t + s(10)),
            "10 s before restarting (CLI-DECL-03)"
        );
        c.handle_timeout(t + s(10));
        let (d, _, _) = dhcp_out(&mut c).remove(0);
        assert_eq!(d.message_type(), Some(MessageType::Discover));
        assert!(
            opts(&d).requested_ip_address().is_none(),
            "the declined address is not asked for again"
        );
    }

    #[test]
    fn q162396_quirk_sees_the_conflict_but_never_declines() {
        let mut cfg = DhcpConfig::default();
        cfg.quirks.q162396_no_decline = true;
        let mut c = client(cfg);
        dora(&mut c, 600);
        let t = c.poll_timeout().expect("probe timer");
        c.handle_timeout(t);
        let probe = arp_out(&mut c).remove(0);
        c.handle_arp(t, &reply_to(&probe, SQUATTER, ADDR));
        let ev = events(&mut c);
        assert!(ev.contains(&Event::Conflict {
            address: ADDR,
            mac: SQUATTER,
            declined: false
        }));
        assert!(ev.contains(&Event::DeclineFailed {
            address: ADDR,
            event_id: 1008
        }));
        assert!(dhcp_out(&mut c).is_empty(), "no DHCPDECLINE leaves");
        assert_eq!(c.state(), State::Declined);
    }

    #[test]
    fn clean_probe_binds_after_announce_wait_and_announces() {
        let mut c = client(DhcpConfig::default());
        dora(&mut c, 600);
        events(&mut c);
        let mut arps = Vec::new();
        let mut bound_at = None;
        for _ in 0..10 {
            let Some(t) = c.poll_timeout() else { break };
            if t > s(30) {
                break;
            }
            c.handle_timeout(t);
            arps.extend(arp_out(&mut c).into_iter().map(|a| (t, a)));
            if bound_at.is_none()
                && events(&mut c)
                    .iter()
                    .any(|e| matches!(e, Event::Bound { .. }))
            {
                bound_at = Some(t);
            }
        }
        let probes: Vec<_> = arps
            .iter()
            .filter(|(_, a)| a.source_protocol_addr.is_unspecified())
            .collect();
        let announces: Vec<_> = arps
            .iter()
            .filter(|(_, a)| a.source_protocol_addr == ADDR)
            .collect();
        assert_eq!((probes.len(), announces.len()), (3, 2));
        assert!(probes
            .iter()
            .all(|(_, a)| a.operation == ArpOp::Request && a.target_protocol_addr == ADDR));
        assert_eq!(
            bound_at,
            Some(probes[2].0 + s(2)),
            "bound ANNOUNCE_WAIT after the last probe"
        );
        assert_eq!(announces[0].0, probes[2].0 + s(2));
        assert_eq!(c.state(), State::Bound);
    }

    #[test]
    fn init_reboot_requests_the_remembered_address() {
        let remembered = Lease::from_reply(
            &reply(&Message::new_request(1, MAC), MessageType::Ack, 600),
            s(0),
            None,
        );
        let mut c = DhcpClient::new(
            no_probe(),
            MAC,
            bootlab_net::clock::rng(1),
            Some(remembered),
            s(0),
        );
        assert_eq!(c.state(), State::InitReboot);
        c.handle_timeout(s(0));
        let (r, src, dst) = dhcp_out(&mut c).remove(0);
        assert_eq!((src, dst), (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST));
        assert_eq!(r.message_type(), Some(MessageType::Request));
        assert_eq!(r.ciaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(opts(&r).requested_ip_address(), Some(ADDR));
        assert!(
            opts(&r).server_identifier().is_none(),
            "no server identifier (CLI-REBOOT-01)"
        );
        c.handle_reply(s(1), &reply(&r, MessageType::Ack, 600));
        assert!(events(&mut c).iter().any(|e| matches!(
            e,
            Event::Bound {
                from: State::InitReboot,
                ..
            }
        )));

        // A NAK to INIT-REBOOT forgets the address and starts over.
        let remembered = Lease::from_reply(
            &reply(&Message::new_request(1, MAC), MessageType::Ack, 600),
            s(0),
            None,
        );
        let mut c = DhcpClient::new(
            no_probe(),
            MAC,
            bootlab_net::clock::rng(1),
            Some(remembered),
            s(0),
        );
        c.handle_timeout(s(0));
        let (r, _, _) = dhcp_out(&mut c).remove(0);
        c.handle_reply(s(1), &reply(&r, MessageType::Nak, 0));
        assert!(events(&mut c).contains(&Event::Deconfigure(ADDR)));
        let (d, _, _) = dhcp_out(&mut c).remove(0);
        assert_eq!(d.message_type(), Some(MessageType::Discover));
        assert!(opts(&d).requested_ip_address().is_none());
    }

    #[test]
    fn release_after_unicasts_release_and_deconfigures() {
        let mut c = client(DhcpConfig {
            release_after: Some(s(5)),
            ..no_probe()
        });
        dora(&mut c, 600);
        events(&mut c);
        assert_eq!(c.poll_timeout(), Some(s(5)));
        c.handle_timeout(s(5));
        let (rel, src, dst) = dhcp_out(&mut c).remove(0);
        assert_eq!(rel.message_type(), Some(MessageType::Release));
        assert_eq!((src, dst), (ADDR, SERVER));
        assert_eq!((rel.ciaddr, rel.secs), (ADDR, 0));
        assert_eq!(opts(&rel).server_identifier(), Some(SERVER));
        assert!(opts(&rel).requested_ip_address().is_none());
        let ev = events(&mut c);
        assert!(ev.contains(&Event::Released {
            address: ADDR,
            server_id: Some(SERVER)
        }));
        assert!(ev.contains(&Event::Deconfigure(ADDR)));
        assert_eq!(c.state(), State::Released);
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn inform_asks_for_parameters_without_a_lease() {
        let cfg = DhcpConfig {
            inform: Some(Ipv4Addr::new(192, 0, 2, 50)),
            ..no_probe()
        };
        let mut c = client(cfg);
        c.handle_timeout(s(0));
        let (inf, src, dst) = dhcp_out(&mut c).remove(0);
        assert_eq!(inf.message_type(), Some(MessageType::Inform));
        assert_eq!(
            (src, dst, inf.ciaddr),
            (Ipv4Addr::new(192, 0, 2, 50), Ipv4Addr::BROADCAST, src)
        );
        assert!(
            opts(&inf).requested_ip_address().is_none() && opts(&inf).server_identifier().is_none()
        );
        let mut ack = reply(&inf, MessageType::Ack, 0);
        ack.yiaddr = Ipv4Addr::UNSPECIFIED;
        c.handle_reply(s(1), &ack);
        let ev = events(&mut c);
        assert!(
            matches!(&ev[0], Event::InformAcked { server_id: Some(SERVER), routers, .. } if routers == &vec![SERVER])
        );
        assert_eq!(c.state(), State::Informed);
    }

    #[test]
    fn a_bootp_reply_binds_with_an_infinite_lease() {
        let mut c = client(no_probe());
        c.handle_timeout(s(0));
        let (d, _, _) = dhcp_out(&mut c).remove(0);
        let mut r = Message::new_reply(&d);
        r.yiaddr = ADDR;
        c.handle_reply(s(1), &r);
        let ev = events(&mut c);
        let Some(Event::Bound {
            lease,
            from: State::Selecting,
        }) = ev.iter().find(|e| matches!(e, Event::Bound { .. }))
        else {
            panic!("{ev:?}")
        };
        assert!(lease.bootp && lease.lease_time.is_none());
        assert_eq!(
            c.poll_timeout(),
            None,
            "an infinite lease is never renewed (CLI-BOOTP-01)"
        );
    }

    #[test]
    fn client_identifier_is_sent_and_foreign_ones_are_dropped() {
        let cfg = DhcpConfig {
            client_id: Some(vec![1, 2, 0, 0, 0, 0, 0x10]),
            ..no_probe()
        };
        let mut c = client(cfg);
        c.handle_timeout(s(0));
        let (d, _, _) = dhcp_out(&mut c).remove(0);
        assert_eq!(
            opts(&d).get(code::CLIENT_IDENTIFIER),
            Some(vec![1, 2, 0, 0, 0, 0, 0x10])
        );
        let mut offer = reply(&d, MessageType::Offer, 600);
        offer
            .options_mut()
            .push(code::CLIENT_IDENTIFIER, [1, 9, 9, 9, 9, 9, 9]);
        c.handle_reply(s(0), &offer);
        assert_eq!(
            c.state(),
            State::Selecting,
            "foreign option 61 dropped (CLI-CID-02)"
        );
    }

    #[test]
    fn select_wait_prefers_a_dhcp_offer_over_an_earlier_bootp_reply() {
        let mut c = client(DhcpConfig {
            select_wait: s(2),
            ..no_probe()
        });
        c.handle_timeout(s(0));
        let (d, _, _) = dhcp_out(&mut c).remove(0);
        let mut bootp = Message::new_reply(&d);
        bootp.yiaddr = Ipv4Addr::new(192, 0, 2, 200);
        c.handle_reply(s(0), &bootp);
        c.handle_reply(s(1), &reply(&d, MessageType::Offer, 600));
        assert!(dhcp_out(&mut c).is_empty(), "still collecting offers");
        assert_eq!(c.poll_timeout(), Some(s(2)));
        c.handle_timeout(s(2));
        let (r, _, _) = dhcp_out(&mut c).remove(0);
        assert_eq!(
            opts(&r).requested_ip_address(),
            Some(ADDR),
            "the DHCP offer wins (RFC 1534 §4)"
        );
    }

    #[test]
    fn after_max_conflicts_attempts_are_rate_limited() {
        let mut c = client(DhcpConfig {
            max_conflicts: 2,
            ..DhcpConfig::default()
        });
        let mut now = s(0);
        let mut waits = Vec::new();
        for _ in 0..3 {
            // Drive to probing, then conflict.
            for _ in 0..10 {
                if c.state() == State::Probing {
                    break;
                }
                let t = c.poll_timeout().expect("timer");
                now = now.max(t);
                c.handle_timeout(now);
                for (m, _, _) in dhcp_out(&mut c) {
                    match m.message_type() {
                        Some(MessageType::Discover) => {
                            c.handle_reply(now, &reply(&m, MessageType::Offer, 600))
                        }
                        Some(MessageType::Request) => {
                            c.handle_reply(now, &reply(&m, MessageType::Ack, 600))
                        }
                        _ => {}
                    }
                }
                dhcp_out(&mut c);
            }
            assert_eq!(c.state(), State::Probing);
            c.handle_arp(now, &ArpPacket::announcement(SQUATTER, ADDR));
            waits.push(c.poll_timeout().expect("decline wait") - now);
            dhcp_out(&mut c);
        }
        assert_eq!(
            waits,
            vec![s(10), s(60), s(60)],
            "RATE_LIMIT_INTERVAL after MAX_CONFLICTS (CLI-ACD-05)"
        );
    }

    #[test]
    fn renew_once_renews_at_the_first_t1_then_rebinds() {
        let mut c = client(DhcpConfig {
            renew: RenewMode::Once,
            ..no_probe()
        });
        dora(&mut c, 100);
        c.handle_timeout(s(50));
        let (renew, _, dst) = dhcp_out(&mut c).remove(0);
        assert_eq!((c.state(), dst), (State::Renewing, SERVER));
        c.handle_reply(s(50), &reply(&renew, MessageType::Ack, 100));
        assert_eq!(
            c.poll_timeout(),
            Some(s(50 + 87)),
            "next stop is T2, not T1"
        );
        c.handle_timeout(s(137));
        let (_, _, dst) = dhcp_out(&mut c).remove(0);
        assert_eq!((c.state(), dst), (State::Rebinding, Ipv4Addr::BROADCAST));
    }

    #[test]
    fn seeded_runs_reproduce() {
        let xids = |seed| {
            let mut c = DhcpClient::new(no_probe(), MAC, bootlab_net::clock::rng(seed), None, s(0));
            c.handle_timeout(s(0));
            dhcp_out(&mut c).remove(0).0.xid
        };
        assert_eq!(xids(5), xids(5));
        assert_ne!(xids(5), xids(6));
    }
}

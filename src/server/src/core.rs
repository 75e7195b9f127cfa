//! The server's pure core: a state machine from received datagrams to [`Action`]s, with no socket,
//! file or clock (quinn style). The daemon feeds it `now` and bytes and carries the actions out.
//!
//! BOOTP (RFC 951, RFC 1542) from static bindings, or from pools with an infinite lease (RFC 1534);
//! DHCPv4 (RFC 2131, RFC 2132): DISCOVER/OFFER with a held reservation, REQUEST in SELECTING,
//! INIT-REBOOT, RENEWING and REBINDING, DECLINE with probation, RELEASE, INFORM; option 82
//! echoed to relays (RFC 3046 §2.2); backup mode by `secs` (RFC 951 §7.1).

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use bootlab_net::delivery::{self, format_mac, Destination, ReplyPolicy};
use bootlab_wire::bootp::{code, Message, MessageType, Op, Options, Vendor};
use serde_json::json;

use crate::config::{parse_hex, Cidr, Config, Host, OptionSet};
use crate::leases::{hex, ClientKey, Lease, Record, State, Table};
use crate::quirks::Quirk;

/// RFC 2132 §9.2: an infinite lease.
pub const INFINITE: u32 = 0xffff_ffff;

/// One received datagram.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The UDP payload.
    pub bytes: &'a [u8],
    /// Who sent it.
    pub source: SocketAddrV4,
}

/// What the core asks the daemon to do, in order: journal records of a batch must be durable
/// before any `Send` of that batch leaves (write-ahead).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send `message` to `dest`.
    Send {
        /// The reply (boxed: it is large next to the other variants).
        message: Box<Message>,
        /// How it is delivered.
        dest: Destination,
    },
    /// Append a lease record to the journal.
    Journal(Record),
    /// Emit a machine-readable event (see `bootlab_net::events`).
    Event {
        /// Event name.
        name: &'static str,
        /// Fields.
        fields: serde_json::Value,
    },
}

/// Counters, reported on SIGHUP and at exit.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Datagrams handed to the core.
    pub received: u64,
    /// Undecodable, too short, or with a broken option 53 (RFC 1542 §2.1).
    pub dropped_malformed: u64,
    /// `op` other than BOOTREQUEST (RFC 951 §3).
    pub dropped_op: u64,
    /// `hops` above the limit (RFC 1542 §4.1.1).
    pub dropped_hops: u64,
    /// Backup mode: `secs` below the threshold (RFC 951 §7.1).
    pub ignored_secs: u64,
    /// No binding, no pool, no subnet, or no record of the client.
    pub ignored_no_binding: u64,
    /// REQUESTs naming another server (RFC 2131 §3.1 (4)).
    pub ignored_other_server: u64,
    /// DECLINE/RELEASE for an address the client does not hold.
    pub ignored_not_owner: u64,
    /// Pool exhausted.
    pub pool_exhausted: u64,
    /// OFFERs of an address reserved for another client, made when nothing was free
    /// (starvation defence).
    pub offers_overbooked: u64,
    /// Lenient-parse deviations seen (not fatal).
    pub deviations: u64,
    /// OFFERs sent.
    pub offers: u64,
    /// ACKs sent (including to INFORM).
    pub acks: u64,
    /// NAKs sent.
    pub naks: u64,
    /// BOOTREPLYs to BOOTP clients.
    pub bootp_replies: u64,
    /// DECLINEs honoured.
    pub declines: u64,
    /// RELEASEs honoured.
    pub releases: u64,
}

#[derive(Debug, Clone)]
struct Pool {
    network: Cidr,
    ranges: Vec<(u32, u32)>,
    size: u64,
    lease_time: u32,
    options: OptionSet,
    cursor: u64,
}

impl Pool {
    fn contains(&self, a: Ipv4Addr) -> bool {
        let a = u32::from(a);
        self.ranges.iter().any(|(f, l)| *f <= a && a <= *l)
    }
    fn nth(&self, mut i: u64) -> Option<Ipv4Addr> {
        for (f, l) in &self.ranges {
            let n = u64::from(l - f) + 1;
            if i < n {
                return Some(Ipv4Addr::from(f + i as u32));
            }
            i -= n;
        }
        None
    }
}

/// How long a DISCOVER that found the pool exhausted is remembered, protocol seconds: longer
/// than the 64 s cap of RFC 2131 §4.1's retransmission back-off.
const ASKED_MEMORY: u64 = 64;
/// At most this many such DISCOVERs are remembered (about 2 MiB).
const ASKED_CAP: usize = 65_536;

/// The BOOTP/DHCP server state machine.
#[derive(Debug)]
pub struct Server {
    server_id: Ipv4Addr,
    local: Vec<(Ipv4Addr, u8)>,
    policy: ReplyPolicy,
    quirks: HashSet<Quirk>,
    secs_threshold: u16,
    hop_limit: u8,
    min_message_size: usize,
    lease_time: u32,
    max_lease_time: u32,
    decline_probation: u64,
    offer_hold: u64,
    next_server: Option<Ipv4Addr>,
    server_name: Option<String>,
    boot_file: Option<String>,
    boot_dir: Option<String>,
    bootp: bool,
    bootp_dynamic: bool,
    bootp_lease_time: Option<u32>,
    events: bool,
    global: OptionSet,
    pools: Vec<Pool>,
    hosts: Vec<Host>,
    host_by_hw: HashMap<Vec<u8>, usize>,
    host_by_cid: HashMap<Vec<u8>, usize>,
    static_addrs: HashSet<Ipv4Addr>,
    table: Table,
    /// Rate limit of the per-packet `ignored` logs and events (a flood must not fill the disk).
    limiter: bootlab_net::log::Limiter,
    /// Protocol time of the packet being handled.
    now: Duration,
    /// Addresses offered again while reserved for another client (at most the pools' size).
    contested: HashSet<Ipv4Addr>,
    /// Hardware addresses whose DISCOVER found the pool exhausted, with when (protocol
    /// seconds): only a client that asks again is offered an overbooked address (at most
    /// [`ASKED_CAP`] entries).
    asked_when_exhausted: HashMap<[u8; 16], u64>,
    /// Counters since start.
    pub counters: Counters,
}

/// Why a core could not be built from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No `server-id` and the interface has no address.
    #[error("no server identifier: set `server-id` or give interface {0} an IPv4 address")]
    NoServerId(String),
}

impl Server {
    /// A server for `config`, whose interface holds the addresses `local`, starting from the
    /// lease `table` (replayed from the journal).
    pub fn new(
        config: &Config,
        local: Vec<(Ipv4Addr, u8)>,
        table: Table,
    ) -> Result<Self, SetupError> {
        let server_id = config
            .server_id
            .or_else(|| local.first().map(|(a, _)| *a))
            .ok_or_else(|| SetupError::NoServerId(config.interface.clone()))?;
        let mut s = Server {
            server_id,
            local,
            policy: ReplyPolicy::default(),
            quirks: HashSet::new(),
            secs_threshold: 0,
            hop_limit: 16,
            min_message_size: bootlab_wire::bootp::MIN_MESSAGE_LEN,
            lease_time: 0,
            max_lease_time: 0,
            decline_probation: 0,
            offer_hold: 0,
            next_server: None,
            server_name: None,
            boot_file: None,
            boot_dir: None,
            bootp: true,
            bootp_dynamic: false,
            bootp_lease_time: None,
            events: true,
            global: OptionSet::default(),
            pools: Vec::new(),
            hosts: Vec::new(),
            host_by_hw: HashMap::new(),
            host_by_cid: HashMap::new(),
            static_addrs: HashSet::new(),
            table,
            limiter: bootlab_net::log::Limiter::default(),
            now: Duration::ZERO,
            contested: HashSet::new(),
            asked_when_exhausted: HashMap::new(),
            counters: Counters::default(),
        };
        s.reconfigure(config);
        Ok(s)
    }

    /// Applies a new configuration (SIGHUP), keeping leases and counters.
    pub fn reconfigure(&mut self, c: &Config) {
        if let Some(id) = c.server_id {
            self.server_id = id;
        }
        self.policy = c.reply_policy;
        self.quirks = c.quirks.iter().copied().collect();
        self.secs_threshold = c.secs_threshold;
        self.hop_limit = c.hop_limit.min(16);
        self.min_message_size = c.min_message_size;
        self.lease_time = c.lease_time;
        self.max_lease_time = c.max_lease_time.max(c.lease_time);
        self.decline_probation = c.decline_probation;
        self.offer_hold = c.offer_hold;
        self.next_server = c.next_server;
        self.server_name = c.server_name.clone();
        self.boot_file = c.boot_file.clone();
        self.boot_dir = c.boot_dir.clone();
        self.bootp = c.bootp;
        self.bootp_dynamic = c.bootp_dynamic;
        self.bootp_lease_time = c.bootp_lease_time;
        self.events = c.events;
        self.global = c.options.clone();
        self.hosts = c.host.clone();
        self.host_by_hw.clear();
        self.host_by_cid.clear();
        self.static_addrs.clear();
        for (i, h) in self.hosts.iter().enumerate() {
            if let Some(hw) = &h.hardware {
                self.host_by_hw.insert(hw.0.clone(), i);
            }
            if let Some(cid) = &h.client_id {
                self.host_by_cid.insert(cid.0.clone(), i);
            }
            self.static_addrs.insert(h.address);
        }
        self.pools = c
            .subnet
            .iter()
            .map(|s| {
                let ranges: Vec<(u32, u32)> = s
                    .pools
                    .iter()
                    .map(|r| (u32::from(r.get_ref().first), u32::from(r.get_ref().last)))
                    .collect();
                Pool {
                    network: s.network,
                    size: ranges.iter().map(|(f, l)| u64::from(l - f) + 1).sum(),
                    ranges,
                    lease_time: s.lease_time.unwrap_or(c.lease_time),
                    options: self.global.overlay(&s.options),
                    cursor: 0,
                }
            })
            .collect();
    }

    /// The lease table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Whether quirk `q` is on.
    pub fn has_quirk(&self, q: Quirk) -> bool {
        self.quirks.contains(&q)
    }

    /// The server identifier (option 54).
    pub fn server_id(&self) -> Ipv4Addr {
        self.server_id
    }

    /// Handles one datagram at protocol time `now` (since the epoch), appending to `out`.
    pub fn handle(&mut self, now: Duration, incoming: Incoming<'_>, out: &mut Vec<Action>) {
        self.now = now;
        self.counters.received += 1;
        let (msg, devs) = match Message::parse(incoming.bytes) {
            Ok(m) => m,
            Err(e) => {
                self.counters.dropped_malformed += 1;
                self.drop_event(out, "malformed", &e.to_string(), incoming.source);
                return;
            }
        };
        self.counters.deviations += devs.len() as u64;
        if incoming.bytes.len() < self.min_message_size {
            self.counters.dropped_malformed += 1;
            let detail = format!(
                "{} bytes, below min-message-size {} (RFC 1542 §2.1)",
                incoming.bytes.len(),
                self.min_message_size
            );
            self.drop_event(out, "short", &detail, incoming.source);
            return;
        }
        let fatal = devs
            .iter()
            .find(|d| d.field == "hlen" || d.field.starts_with("option 53"));
        if let Some(d) = fatal {
            self.counters.dropped_malformed += 1;
            self.drop_event(out, "malformed", &d.to_string(), incoming.source);
            return;
        }
        for d in &devs {
            tracing::debug!(source = %incoming.source, xid = msg.xid, "deviation: {d}");
        }
        self.handle_message(now, &msg, out);
    }

    /// Handles one decoded message (the core of [`Server::handle`]).
    pub fn handle_message(&mut self, now: Duration, msg: &Message, out: &mut Vec<Action>) {
        self.now = now;
        let now = now.as_secs();
        if msg.op != Op::BootRequest {
            self.counters.dropped_op += 1;
            self.ignore(out, msg, "wrong-op");
            return;
        }
        if msg.hops > self.hop_limit {
            self.counters.dropped_hops += 1;
            self.ignore(out, msg, "hop-limit");
            return;
        }
        // RFC 951 §7.2: a request naming another server in `sname` is not ours to answer; under
        // option 52 (RFC 2131 §4.1) `sname` holds options, not a name.
        let sname = msg.server_name();
        if !sname.is_empty() && self.server_name.as_deref().is_some_and(|n| n != sname) {
            self.counters.ignored_other_server += 1;
            self.ignore(out, msg, "other-server-name");
            return;
        }
        let mt = msg.message_type();
        let initial = matches!(
            mt,
            None | Some(MessageType::Discover | MessageType::Request)
        );
        if initial && msg.secs < self.secs_threshold {
            self.counters.ignored_secs += 1;
            self.ignore(out, msg, "secs-below-threshold");
            return;
        }
        match mt {
            None => self.bootp(now, msg, out),
            Some(MessageType::Discover) => self.discover(now, msg, out),
            Some(MessageType::Request) => self.request(now, msg, out),
            Some(MessageType::Decline) => self.decline(now, msg, out),
            Some(MessageType::Release) => self.release(msg, out),
            Some(MessageType::Inform) => self.inform(msg, out),
            Some(_) => {
                self.counters.dropped_op += 1;
                self.ignore(out, msg, "not-a-request-type");
            }
        }
    }

    // ----- lookups -----

    fn client_key(msg: &Message) -> ClientKey {
        if let Some(cid) = msg.options().and_then(|o| o.client_identifier()) {
            return cid;
        }
        let n = usize::from(msg.hlen).min(16);
        let mut k = vec![msg.htype];
        k.extend_from_slice(&msg.chaddr[..n]);
        k
    }

    fn hw(msg: &Message) -> Vec<u8> {
        msg.chaddr[..usize::from(msg.hlen).min(16)].to_vec()
    }

    fn host_for(&self, msg: &Message) -> Option<&Host> {
        let cid = msg.options().and_then(|o| o.client_identifier());
        let i = cid
            .and_then(|c| self.host_by_cid.get(&c))
            .or_else(|| self.host_by_hw.get(&Self::hw(msg)))?;
        let h = self.hosts.get(*i)?;
        // A binding on another subnet than the client's does not apply there (RFC 2131 §4.3.1).
        let network = self.pool_for(msg).map(|p| self.pools[p].network);
        if network.is_some_and(|n| !n.contains(h.address)) {
            tracing::debug!(address = %h.address, "static binding not on the client's subnet");
            return None;
        }
        Some(h)
    }

    /// RFC 2131 §4.3.1: the subnet of giaddr when relayed; else of ciaddr when the client has an
    /// address we know a subnet for (RENEWING may arrive routed, RFC 2131 §4.3.2 trusts ciaddr);
    /// else of the receiving interface.
    fn pool_for(&self, msg: &Message) -> Option<usize> {
        if !msg.giaddr.is_unspecified() {
            return self
                .pools
                .iter()
                .position(|p| p.network.contains(msg.giaddr));
        }
        if !msg.ciaddr.is_unspecified() {
            if let Some(p) = self
                .pools
                .iter()
                .position(|p| p.network.contains(msg.ciaddr))
            {
                return Some(p);
            }
        }
        self.pools
            .iter()
            .position(|p| self.local.iter().any(|(a, _)| p.network.contains(*a)))
    }

    fn is_ours(&self, a: Ipv4Addr) -> bool {
        a == self.server_id || self.local.iter().any(|(l, _)| *l == a)
    }

    // ----- allocation -----

    fn allocate(
        &mut self,
        p: usize,
        client: &[u8],
        requested: Option<Ipv4Addr>,
        now: u64,
    ) -> Option<Ipv4Addr> {
        let pool = &self.pools[p];
        let usable = |a: Ipv4Addr, t: &Table| {
            pool.contains(a) && !self.static_addrs.contains(&a) && t.available_to(a, client, now)
        };
        if let Some(l) = self.table.of_client(client) {
            if usable(l.addr, &self.table) {
                return Some(l.addr);
            }
        }
        if let Some(r) = requested.filter(|r| usable(*r, &self.table)) {
            return Some(r);
        }
        // First never-used addresses from a rotating cursor, then reclaimable ones.
        let size = pool.size;
        let start = pool.cursor;
        let mut found = None;
        for pass in 0..2 {
            for k in 0..size {
                let i = (start + k) % size;
                let Some(a) = pool.nth(i) else { continue };
                let ok = if pass == 0 {
                    self.table.is_untouched(a) && !self.static_addrs.contains(&a)
                } else {
                    usable(a, &self.table)
                };
                if ok {
                    found = Some((i, a));
                    break;
                }
            }
            if found.is_some() {
                break;
            }
        }
        let (i, a) = found?;
        self.pools[p].cursor = (i + 1) % size.max(1);
        Some(a)
    }

    /// Starvation defence: with no address left, the oldest offer reservation of the segment
    /// is offered again without moving the reservation, and the address is marked contested:
    /// the first client to REQUEST it gets it (an OFFER binds nobody, RFC 2131 §4.3.1). A burst
    /// of DISCOVERs from new client ids that never REQUEST then holds nothing a real client
    /// cannot take, and churns no state.
    fn overbook(&mut self, p: usize, client: &[u8], now: u64) -> Option<Ipv4Addr> {
        let pool = &self.pools[p];
        let a = self.table.oldest_offer(now, client, |a| {
            pool.contains(a) && !self.static_addrs.contains(&a)
        })?;
        self.contested.insert(a);
        self.counters.offers_overbooked += 1;
        Some(a)
    }

    /// Whether the machine with hardware address `hw` sent a DISCOVER that found the pool
    /// exhausted within the last [`ASKED_MEMORY`] seconds; remembers this one otherwise. Bounded:
    /// at [`ASKED_CAP`] entries the old ones go, and if a burst filled it within
    /// [`ASKED_MEMORY`] it starts again (a real client then asks once more).
    fn asked_before(&mut self, hw: &[u8], now: u64) -> bool {
        let mut key = [0u8; 16];
        let n = hw.len().min(16);
        key[..n].copy_from_slice(&hw[..n]);
        if let Some(&at) = self.asked_when_exhausted.get(&key) {
            if now.saturating_sub(at) <= ASKED_MEMORY {
                return true;
            }
        }
        if self.asked_when_exhausted.len() >= ASKED_CAP {
            self.asked_when_exhausted
                .retain(|_, at| now.saturating_sub(*at) <= ASKED_MEMORY);
            if self.asked_when_exhausted.len() >= ASKED_CAP {
                self.asked_when_exhausted.clear();
            }
        }
        self.asked_when_exhausted.insert(key, now);
        false
    }

    /// Whether `client` may take `addr` although it is reserved for another client's OFFER:
    /// it was offered to both (see [`Server::overbook`]) and nobody REQUESTed it yet.
    fn may_take_contested(&self, addr: Ipv4Addr, client: &[u8], now: u64) -> bool {
        self.contested.contains(&addr)
            && self.table.get(addr).is_some_and(|l| {
                l.client != client && matches!(l.state, State::Offered { until } if now < until)
            })
    }

    /// Reports an exhausted pool as a `pool-exhausted` event, rate-limited.
    fn exhausted(&mut self, p: usize, now: u64, out: &mut Vec<Action>) {
        let Some(suppressed) = self.limiter.allow("pool-exhausted-event", self.now) else {
            return;
        };
        let pool = &self.pools[p];
        let bound = self
            .table
            .bound(now)
            .filter(|l| pool.contains(l.addr))
            .count();
        let network = format!("{}/{}", pool.network.addr, pool.network.prefix);
        tracing::warn!(
            network,
            size = pool.size,
            bound,
            suppressed,
            "pool exhausted"
        );
        out.push(Action::Event {
            name: "pool-exhausted",
            fields: json!({"network": network, "size": pool.size, "bound": bound, "suppressed": suppressed}),
        });
    }

    fn lease_time_for(&self, msg: &Message, p: Option<usize>) -> u32 {
        let base = p
            .map(|p| self.pools[p].lease_time)
            .unwrap_or(self.lease_time);
        match msg.options().and_then(|o| o.lease_time()) {
            Some(t) if t > 0 => t.min(self.max_lease_time),
            _ => base,
        }
    }

    // ----- message handlers -----

    fn bootp(&mut self, now: u64, msg: &Message, out: &mut Vec<Action>) {
        if !self.bootp {
            self.counters.ignored_no_binding += 1;
            self.ignore(out, msg, "bootp-disabled");
            return;
        }
        let client = Self::client_key(msg);
        let p = self.pool_for(msg);
        let host = self.host_for(msg).cloned();
        let addr = match &host {
            Some(h) => h.address,
            None => {
                let Some(p) = p.filter(|_| self.bootp_dynamic) else {
                    self.counters.ignored_no_binding += 1;
                    self.ignore(out, msg, "no-binding");
                    return;
                };
                let Some(a) = self.allocate(p, &client, None, now) else {
                    self.counters.pool_exhausted += 1;
                    self.ignore(out, msg, "pool-exhausted");
                    return;
                };
                // RFC 1534 §2: a BOOTP client's dynamic address is bound at once. Infinite only
                // when configured so: by default the segment's lease time, so a burst of BOOTP
                // requests cannot leave permanent bindings behind.
                let time = self
                    .bootp_lease_time
                    .unwrap_or_else(|| self.pools[p].lease_time);
                let expires = (time != INFINITE).then(|| now + u64::from(time));
                self.bind(a, &client, msg, expires, out);
                a
            }
        };
        let Some(file) = self.boot_file_for(msg, host.as_ref()) else {
            self.counters.ignored_no_binding += 1;
            self.ignore(out, msg, "no-boot-file");
            return;
        };
        let mut reply = Message::new_reply(msg);
        reply.ciaddr = msg.ciaddr;
        reply.yiaddr = addr;
        self.fill_boot_fields(&mut reply, host.as_ref(), &file);
        if let Vendor::Options(_) = reply.vend {
            let set = self.option_set(p, host.as_ref());
            let avail = self.available_options(&set, p, host.as_ref(), addr);
            let opts = reply.options_mut();
            for (c, d) in avail {
                opts.push(c, d);
            }
            if !msg.giaddr.is_unspecified() {
                echo_82(msg, opts);
            }
        }
        self.counters.bootp_replies += 1;
        if self.events {
            out.push(Action::Event {
                name: "bootp-reply",
                fields: json!({
                    "address": addr.to_string(),
                    "hwaddr": format_mac(&Self::hw(msg)),
                    "file": file,
                    "xid": msg.xid,
                }),
            });
        }
        self.send(reply, out);
    }

    fn discover(&mut self, now: u64, msg: &Message, out: &mut Vec<Action>) {
        let client = Self::client_key(msg);
        let p = self.pool_for(msg);
        let host = self.host_for(msg).cloned();
        let addr = if let Some(h) = &host {
            h.address
        } else {
            let Some(p) = p else {
                self.counters.ignored_no_binding += 1;
                self.ignore(out, msg, "no-subnet");
                return;
            };
            let requested = msg.options().and_then(|o| o.requested_ip_address());
            // One machine holds one reservation, whatever client identifiers it cycles through.
            for a in self.table.offers_to_hw(now, &Self::hw(msg), &client) {
                self.table.remove(a);
            }
            let Some(a) = self.allocate(p, &client, requested, now) else {
                // A client retransmits an unanswered DISCOVER (RFC 2131 §4.1): with the pool
                // exhausted only one that asks again is offered an overbooked address. A burst
                // of one-shot client ids (spoofed hardware addresses) gets nothing, so the
                // server does not answer it with a flood of OFFERs to unknown MACs, which every
                // switch floods to every port and which drowned a real client's ACK.
                if !self.asked_before(&Self::hw(msg), now) {
                    self.counters.pool_exhausted += 1;
                    self.exhausted(p, now, out);
                    self.ignore(out, msg, "pool-exhausted-first-discover");
                    return;
                }
                if let Some(a) = self.overbook(p, &client, now) {
                    let lease = self.lease_time_for(msg, Some(p));
                    let mut reply =
                        self.dhcp_reply(msg, MessageType::Offer, Some(p), None, a, Some(lease));
                    reply.yiaddr = a;
                    self.counters.offers += 1;
                    if self.events {
                        out.push(Action::Event {
                            name: "offered",
                            fields: json!({"address": a.to_string(), "hwaddr": format_mac(&Self::hw(msg)), "xid": msg.xid, "overbooked": true}),
                        });
                    }
                    self.send(reply, out);
                    return;
                }
                self.counters.pool_exhausted += 1;
                self.exhausted(p, now, out);
                self.ignore(out, msg, "pool-exhausted");
                return;
            };
            // Keep an existing binding as it is; otherwise reserve the offer (RFC 2131 §4.3.1).
            let bound = self
                .table
                .get(a)
                .is_some_and(|l| l.client == client && l.is_bound(now));
            if !bound {
                self.table.insert(Lease {
                    addr: a,
                    client: client.clone(),
                    hw: Self::hw(msg),
                    state: State::Offered {
                        until: now + self.offer_hold,
                    },
                });
            }
            a
        };
        let lease = self.lease_time_for(msg, p);
        let mut reply =
            self.dhcp_reply(msg, MessageType::Offer, p, host.as_ref(), addr, Some(lease));
        reply.yiaddr = addr;
        self.counters.offers += 1;
        if self.events {
            out.push(Action::Event {
                name: "offered",
                fields: json!({"address": addr.to_string(), "hwaddr": format_mac(&Self::hw(msg)), "xid": msg.xid}),
            });
        }
        self.send(reply, out);
    }

    fn request(&mut self, now: u64, msg: &Message, out: &mut Vec<Action>) {
        let client = Self::client_key(msg);
        let opts = msg.options();
        let sid = opts.and_then(|o| o.server_identifier());
        let requested = opts.and_then(|o| o.requested_ip_address());
        let p = self.pool_for(msg);
        let host = self.host_for(msg).cloned();
        let network = p.map(|p| self.pools[p].network);
        let on_subnet = |a: Ipv4Addr| network.is_none_or(|n| n.contains(a));

        if let Some(sid) = sid {
            if !self.is_ours(sid) {
                // RFC 2131 §3.1 (4): the client chose another server; our offer is declined.
                if self
                    .table
                    .of_client(&client)
                    .is_some_and(|l| matches!(l.state, State::Offered { .. }))
                {
                    if let Some(a) = self.table.of_client(&client).map(|l| l.addr) {
                        self.table.remove(a);
                    }
                }
                self.counters.ignored_other_server += 1;
                self.ignore(out, msg, "other-server");
                return;
            }
        }
        let (addr, state) = match (sid, requested, msg.ciaddr.is_unspecified()) {
            (Some(_), r, _) => (r.unwrap_or(msg.ciaddr), "selecting"),
            (None, Some(r), true) => (r, "init-reboot"),
            (None, _, false) => (msg.ciaddr, "renewing"),
            (None, None, true) => {
                self.counters.dropped_malformed += 1;
                self.ignore(out, msg, "request-without-address");
                return;
            }
        };
        if addr.is_unspecified() {
            return self.nak(msg, p, "no requested address", out);
        }
        if let Some(h) = &host {
            if h.address == addr {
                return self.ack(now, msg, p, Some(h), addr, false, out);
            }
            return self.nak(msg, p, "address not bound to this client", out);
        }
        if !on_subnet(addr) {
            return self.nak(msg, p, "requested address not on this subnet", out);
        }
        let Some(pi) = p else {
            self.counters.ignored_no_binding += 1;
            self.ignore(out, msg, "no-subnet");
            return;
        };
        let mine = self
            .table
            .of_client(&client)
            .filter(|l| l.addr == addr)
            .cloned();
        match state {
            "selecting" => {
                if self.pools[pi].contains(addr)
                    && !self.static_addrs.contains(&addr)
                    && (self.table.available_to(addr, &client, now)
                        || self.may_take_contested(addr, &client, now))
                {
                    self.contested.remove(&addr);
                    self.ack(now, msg, p, None, addr, true, out)
                } else {
                    self.nak(msg, p, "address not available", out)
                }
            }
            _ => match mine {
                Some(l) if l.is_held(now) || self.table.available_to(addr, &client, now) => {
                    self.ack(now, msg, p, None, addr, true, out)
                }
                Some(_) => self.nak(msg, p, "lease lost", out),
                None if self.table.of_client(&client).is_some() => {
                    self.nak(msg, p, "address not bound to this client", out)
                }
                None => {
                    // RFC 2131 §4.3.2: no record of the client: stay silent.
                    self.counters.ignored_no_binding += 1;
                    self.ignore(out, msg, "no-record");
                }
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ack(
        &mut self,
        now: u64,
        msg: &Message,
        p: Option<usize>,
        host: Option<&Host>,
        addr: Ipv4Addr,
        dynamic: bool,
        out: &mut Vec<Action>,
    ) {
        let lease = self.lease_time_for(msg, p);
        if dynamic {
            let expires = (lease != INFINITE).then(|| now + u64::from(lease));
            self.bind(addr, &Self::client_key(msg), msg, expires, out);
        }
        let mut reply = self.dhcp_reply(msg, MessageType::Ack, p, host, addr, Some(lease));
        reply.ciaddr = msg.ciaddr;
        reply.yiaddr = addr;
        self.counters.acks += 1;
        if self.events {
            out.push(Action::Event {
                name: "lease-acked",
                fields: json!({
                    "address": addr.to_string(),
                    "hwaddr": format_mac(&Self::hw(msg)),
                    "lease": lease,
                    "xid": msg.xid,
                }),
            });
        }
        self.send(reply, out);
    }

    fn nak(&mut self, msg: &Message, p: Option<usize>, why: &str, out: &mut Vec<Action>) {
        let mut reply = Message::new_reply(msg);
        let opts = reply.options_mut();
        opts.set_message_type(MessageType::Nak);
        opts.set_ip(code::SERVER_IDENTIFIER, self.server_id);
        opts.push(code::MESSAGE, why.as_bytes().to_vec());
        if let Some(cid) = msg.options().and_then(|o| o.client_identifier()) {
            opts.push(code::CLIENT_IDENTIFIER, cid);
        }
        if !msg.giaddr.is_unspecified() {
            echo_82(msg, opts);
            // RFC 2131 §4.3.2: a NAK through a relay has the broadcast bit set.
            reply.flags |= bootlab_wire::bootp::FLAG_BROADCAST;
        }
        let _ = p;
        self.counters.naks += 1;
        if self.events {
            out.push(Action::Event {
                name: "nak-sent",
                fields: json!({"hwaddr": format_mac(&Self::hw(msg)), "reason": why, "xid": msg.xid}),
            });
        }
        tracing::info!(xid = msg.xid, hwaddr = %format_mac(&Self::hw(msg)), "DHCPNAK: {why}");
        self.send(reply, out);
    }

    fn decline(&mut self, now: u64, msg: &Message, out: &mut Vec<Action>) {
        let client = Self::client_key(msg);
        let opts = msg.options();
        let sid_ok = opts
            .and_then(|o| o.server_identifier())
            .is_none_or(|s| self.is_ours(s));
        let Some(addr) = opts.and_then(|o| o.requested_ip_address()) else {
            self.counters.dropped_malformed += 1;
            self.ignore(out, msg, "decline-without-address");
            return;
        };
        // Honoured only from the client that was offered or leased the address (SEC-DECL-01).
        let owner = self
            .table
            .get(addr)
            .is_some_and(|l| l.client == client && l.is_held(now));
        if !sid_ok || !owner {
            self.counters.ignored_not_owner += 1;
            self.ignore(out, msg, "decline-not-owner");
            return;
        }
        let until = now + self.decline_probation;
        let r = Record::Decline { addr, until };
        self.table.apply(&r);
        out.push(Action::Journal(r));
        self.counters.declines += 1;
        let message = msg
            .options()
            .and_then(|o| o.text(code::MESSAGE))
            .unwrap_or_default();
        tracing::warn!(
            address = %addr,
            hwaddr = %format_mac(&Self::hw(msg)),
            probation_s = self.decline_probation,
            "DHCPDECLINE: address in use by another host, unusable until probation ends {message}"
        );
        out.push(Action::Event {
            name: "declined",
            fields: json!({
                "address": addr.to_string(),
                "hwaddr": format_mac(&Self::hw(msg)),
                "probation": self.decline_probation,
            }),
        });
    }

    fn release(&mut self, msg: &Message, out: &mut Vec<Action>) {
        let client = Self::client_key(msg);
        let addr = msg.ciaddr;
        let owner = self
            .table
            .get(addr)
            .is_some_and(|l| l.client == client && matches!(l.state, State::Bound { .. }));
        if !owner {
            self.counters.ignored_not_owner += 1;
            self.ignore(out, msg, "release-not-owner");
            return;
        }
        let r = Record::Free {
            addr,
            client: hex(&client),
        };
        self.table.apply(&r);
        out.push(Action::Journal(r));
        self.counters.releases += 1;
        out.push(Action::Event {
            name: "released",
            fields: json!({"address": addr.to_string(), "hwaddr": format_mac(&Self::hw(msg))}),
        });
    }

    fn inform(&mut self, msg: &Message, out: &mut Vec<Action>) {
        let p = self.pool_for(msg);
        let host = self.host_for(msg).cloned();
        // RFC 2131 §4.3.5: no lease time, yiaddr 0, ciaddr kept.
        let mut reply = self.dhcp_reply(msg, MessageType::Ack, p, host.as_ref(), msg.ciaddr, None);
        reply.ciaddr = msg.ciaddr;
        self.counters.acks += 1;
        if self.events {
            out.push(Action::Event {
                name: "informed",
                fields: json!({"address": msg.ciaddr.to_string(), "xid": msg.xid}),
            });
        }
        self.send(reply, out);
    }

    // ----- reply building -----

    fn bind(
        &mut self,
        addr: Ipv4Addr,
        client: &[u8],
        msg: &Message,
        expires: Option<u64>,
        out: &mut Vec<Action>,
    ) {
        let r = Record::Bind {
            addr,
            client: hex(client),
            hw: hex(&Self::hw(msg)),
            expires,
        };
        self.table.apply(&r);
        out.push(Action::Journal(r));
    }

    fn send(&self, message: Message, out: &mut Vec<Action>) {
        let no_address = message.giaddr.is_unspecified() && message.ciaddr.is_unspecified();
        let dest = if no_address && self.has_quirk(Quirk::Nt4Sp2) {
            // KB Q164394: the reply is broadcast and no neighbour entry is left behind.
            Destination::Broadcast(bootlab_wire::bootp::CLIENT_PORT)
        } else {
            delivery::server_destination(self.policy, &message)
        };
        out.push(Action::Send {
            message: Box::new(message),
            dest,
        });
    }

    fn dhcp_reply(
        &self,
        msg: &Message,
        t: MessageType,
        p: Option<usize>,
        host: Option<&Host>,
        addr: Ipv4Addr,
        lease: Option<u32>,
    ) -> Message {
        let mut reply = Message::new_reply(msg);
        let file = self.boot_file_for(msg, host).unwrap_or_default();
        self.fill_boot_fields(&mut reply, host, &file);
        let set = self.option_set(p, host);
        let avail = self.available_options(&set, p, host, addr);
        let opts = reply.options_mut();
        opts.set_message_type(t);
        opts.set_ip(code::SERVER_IDENTIFIER, self.server_id);
        if let Some(l) = lease {
            opts.set_u32(code::IP_ADDRESS_LEASE_TIME, l);
            if l != INFINITE {
                // RFC 2131 §4.4.5 defaults: T1 = 0.5, T2 = 0.875 of the lease.
                opts.set_u32(code::RENEWAL_TIME_VALUE, l / 2);
                opts.set_u32(code::REBINDING_TIME_VALUE, (u64::from(l) * 7 / 8) as u32);
            }
        }
        let prl = msg.options().and_then(|o| o.parameter_request_list());
        match prl {
            // RFC 2131 §4.3.1, RFC 2132 §9.8: in the client's order, each once, unknown ones left out.
            Some(prl) => {
                let mut seen = HashSet::new();
                for c in prl {
                    if !seen.insert(c) {
                        continue;
                    }
                    if let Some((_, d)) = avail.iter().find(|(k, _)| *k == c) {
                        opts.push(c, d.clone());
                    }
                }
            }
            None => {
                for (c, d) in avail {
                    opts.push(c, d);
                }
            }
        }
        if let Some(cid) = msg.options().and_then(|o| o.client_identifier()) {
            // RFC 6842 §3.
            opts.push(code::CLIENT_IDENTIFIER, cid);
        }
        if !msg.giaddr.is_unspecified() {
            echo_82(msg, opts);
        }
        reply
    }

    fn option_set(&self, p: Option<usize>, host: Option<&Host>) -> OptionSet {
        let base = p
            .map(|p| self.pools[p].options.clone())
            .unwrap_or_else(|| self.global.clone());
        match host {
            Some(h) => base.overlay(&h.options),
            None => base,
        }
    }

    /// The options this server can supply for `addr`, in a canonical order.
    fn available_options(
        &self,
        set: &OptionSet,
        p: Option<usize>,
        host: Option<&Host>,
        addr: Ipv4Addr,
    ) -> Vec<(u8, Vec<u8>)> {
        let mut v: Vec<(u8, Vec<u8>)> = Vec::new();
        let network = p
            .map(|p| self.pools[p].network)
            .filter(|n| n.contains(addr))
            .or_else(|| {
                host.and_then(|h| h.subnet_mask).map(|m| Cidr {
                    addr,
                    prefix: u32::from(m).count_ones() as u8,
                })
            })
            .or_else(|| {
                // No subnet configured: the prefix of our own interface address, if it covers.
                self.local
                    .iter()
                    .map(|(a, p)| Cidr {
                        addr: *a,
                        prefix: *p,
                    })
                    .find(|n| n.contains(addr))
            });
        let ips = |l: &Vec<Ipv4Addr>| l.iter().flat_map(|a| a.octets()).collect::<Vec<u8>>();
        if let Some(n) = network {
            v.push((code::SUBNET_MASK, n.mask().octets().to_vec()));
        }
        if let Some(t) = set.time_offset {
            v.push((code::TIME_OFFSET, t.to_be_bytes().to_vec()));
        }
        if let Some(r) = set.routers.as_ref().filter(|r| !r.is_empty()) {
            v.push((code::ROUTER, ips(r)));
        }
        if let Some(r) = set.domain_name_servers.as_ref().filter(|r| !r.is_empty()) {
            v.push((code::DOMAIN_NAME_SERVER, ips(r)));
        }
        if let Some(h) = host.and_then(|h| h.host_name.as_ref()) {
            v.push((code::HOST_NAME, h.as_bytes().to_vec()));
        }
        if let Some(d) = &set.domain_name {
            v.push((code::DOMAIN_NAME, d.as_bytes().to_vec()));
        }
        if let Some(r) = &set.root_path {
            v.push((code::ROOT_PATH, r.as_bytes().to_vec()));
        }
        if let Some(m) = set.interface_mtu {
            v.push((code::INTERFACE_MTU, m.to_be_bytes().to_vec()));
        }
        if let Some(n) = network {
            v.push((code::BROADCAST_ADDRESS, n.broadcast().octets().to_vec()));
        }
        if let Some(r) = set.ntp_servers.as_ref().filter(|r| !r.is_empty()) {
            v.push((code::NTP_SERVERS, ips(r)));
        }
        for (c, d) in &set.raw {
            let (Ok(c), Ok(d)) = (c.parse::<u8>(), parse_hex(d)) else {
                continue;
            };
            // Lease and identity options are the server's own business.
            if matches!(c, 50..=55 | 57..=59 | 61 | 82) {
                continue;
            }
            match v.iter_mut().find(|(k, _)| *k == c) {
                Some(e) => e.1 = d,
                None => v.push((c, d)),
            }
        }
        v
    }

    /// RFC 951 §7.3: an empty `file` gets the default boot file; a generic name ("unix") is
    /// answered with its full path in the home directory. `None`: the request names a file and
    /// there is nowhere to resolve it, which leaves the request to another server.
    fn boot_file_for(&self, msg: &Message, host: Option<&Host>) -> Option<String> {
        // Under option 52 (RFC 2131 §4.1) `file` holds options, not a name: never echo it.
        let requested = msg.boot_file_name();
        let home = host
            .and_then(|h| h.home_dir.clone())
            .or_else(|| self.boot_dir.clone());
        let name = if requested.is_empty() {
            match host
                .and_then(|h| h.boot_file.clone())
                .or_else(|| self.boot_file.clone())
            {
                Some(n) => n,
                None => return Some(String::new()),
            }
        } else {
            requested
        };
        Some(resolve_boot_file(&name, home.as_deref()))
    }

    fn fill_boot_fields(&self, reply: &mut Message, host: Option<&Host>, file: &str) {
        reply.siaddr = host
            .and_then(|h| h.next_server)
            .or(self.next_server)
            .unwrap_or(self.server_id);
        if let Some(n) = &self.server_name {
            reply.set_sname(n);
        }
        reply.set_file(file);
    }

    /// Logs and reports an ignored request, rate-limited per reason (the counters count all).
    fn ignore(&mut self, out: &mut Vec<Action>, msg: &Message, reason: &'static str) {
        let Some(suppressed) = self.limiter.allow(reason, self.now) else {
            return;
        };
        tracing::info!(
            xid = format_args!("{:#010x}", msg.xid),
            hwaddr = %format_mac(&Self::hw(msg)),
            secs = msg.secs,
            hops = msg.hops,
            suppressed,
            "ignored: {reason}"
        );
        if !self.events {
            return;
        }
        out.push(Action::Event {
            name: "ignored",
            fields: json!({
                "reason": reason,
                "xid": msg.xid,
                "hwaddr": format_mac(&Self::hw(msg)),
                "secs": msg.secs,
                "hops": msg.hops,
            }),
        });
    }

    /// Logs and reports an undecodable datagram, rate-limited per reason.
    fn drop_event(
        &mut self,
        out: &mut Vec<Action>,
        reason: &'static str,
        detail: &str,
        from: SocketAddrV4,
    ) {
        let Some(suppressed) = self.limiter.allow(reason, self.now) else {
            return;
        };
        tracing::warn!(source = %from, suppressed, "dropped {reason} packet: {detail}");
        if !self.events {
            return;
        }
        out.push(Action::Event {
            name: "ignored",
            fields: json!({"reason": reason, "detail": detail, "source": from.to_string()}),
        });
    }
}

/// RFC 3046 §2.2: echo the relay agent information option last, verbatim.
fn echo_82(request: &Message, reply: &mut Options) {
    if let Some(o82) = request
        .options()
        .and_then(|o| o.get(code::RELAY_AGENT_INFORMATION))
    {
        reply.push(code::RELAY_AGENT_INFORMATION, o82);
    }
}

/// Joins a generic boot-file `name` to the `home` directory (RFC 951 §7.3, CMU bootptab `hd`);
/// absolute names and names without a home are returned as they are.
pub fn resolve_boot_file(name: &str, home: Option<&str>) -> String {
    match home {
        Some(h) if !name.starts_with('/') && !h.is_empty() => {
            format!("{}/{}", h.trim_end_matches('/'), name)
        }
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests;

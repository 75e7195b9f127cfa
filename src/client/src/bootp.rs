//! The BOOTP client as a pure state machine (RFC 951 §7, RFC 1542 §3): one BOOTREQUEST,
//! retransmitted with the shared randomized exponential back-off until the first BOOTREPLY that
//! matches `xid` and `chaddr`. `secs` counts seconds since the first request (RFC 951 §7.1,
//! RFC 1542 §3.2), unless the `secs-zero` quirk keeps it at 0 as some boot ROMs do.
//! The boot ROM core drives its BOOTP phase with this client.

use std::net::Ipv4Addr;
use std::time::Duration;

use bootlab_net::clock::Rng;
use bootlab_wire::bootp::{
    DhcpOption, Message, Options, Vendor, FLAG_BROADCAST, HEADER_LEN, MIN_MESSAGE_LEN,
};
use rand::Rng as _;
use serde::Deserialize;

use crate::backoff::Backoff;
use crate::msg::{is_reply_for, Transmit};

/// What the request's vendor area holds (RFC 951 §3, RFC 1048, RFC 1542 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VendorArea {
    /// The magic cookie 99.130.83.99, any configured options, then End.
    #[default]
    Rfc1048,
    /// 64 zero bytes, no cookie: plain RFC 951.
    Plain,
}

/// Settings of the BOOTP client core.
#[derive(Debug, Clone)]
pub struct BootpConfig {
    /// The vendor area format.
    pub vendor: VendorArea,
    /// Options after the cookie (e.g. PXE options 60, 93, 94, 97 of RFC 4578); ignored for `Plain`.
    pub options: Vec<DhcpOption>,
    /// Quirk `secs-zero`: keep `secs` at 0 in every request.
    pub secs_zero: bool,
    /// Set the B flag (RFC 1542 §3.1.1).
    pub broadcast_flag: bool,
    /// A generic boot file name to ask for (RFC 951 §3 `file` in the request).
    pub file: Option<String>,
    /// A particular server to ask (RFC 951 §3 `sname` in the request).
    pub sname: Option<String>,
    /// Random wait before the first request, uniform in `[lo, hi]` (RFC 951 §7.2).
    pub start_delay: (Duration, Duration),
    /// Retransmission schedule (RFC 951 §7.2: exponential, randomized, capped about 60 s).
    pub backoff: Backoff,
    /// Requests sent before giving up; 0 never gives up.
    pub max_tries: u32,
}

impl Default for BootpConfig {
    fn default() -> Self {
        Self {
            vendor: VendorArea::Rfc1048,
            options: Vec::new(),
            secs_zero: false,
            broadcast_flag: false,
            file: None,
            sname: None,
            start_delay: (Duration::ZERO, Duration::ZERO),
            backoff: Backoff::new(
                Duration::from_secs(4),
                Duration::from_secs(60),
                Duration::from_secs(1),
            ),
            max_tries: 0,
        }
    }
}

/// The BOOTP client core (RFC 951 §7).
#[derive(Debug)]
pub struct BootpClient {
    cfg: BootpConfig,
    mac: [u8; 6],
    rng: Rng,
    xid: u32,
    first_sent: Option<Duration>,
    ciaddr: Ipv4Addr,
    src: Ipv4Addr,
    next_tx: Option<Duration>,
    tries: u32,
    reply: Option<Message>,
    gave_up: bool,
    out: Vec<Transmit>,
}

impl BootpClient {
    /// A client for hardware address `mac`; the first request leaves after the start delay.
    pub fn new(cfg: BootpConfig, mac: [u8; 6], mut rng: Rng, now: Duration) -> Self {
        let delay = crate::acd::uniform(&mut rng, cfg.start_delay.0, cfg.start_delay.1);
        let xid = rng.gen();
        Self {
            cfg,
            mac,
            rng,
            xid,
            first_sent: None,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            src: Ipv4Addr::UNSPECIFIED,
            next_tx: Some(now + delay),
            tries: 0,
            reply: None,
            gave_up: false,
            out: Vec::new(),
        }
    }

    /// The transaction id.
    pub fn xid(&self) -> u32 {
        self.xid
    }

    /// The accepted reply, once one arrived.
    pub fn reply(&self) -> Option<&Message> {
        self.reply.as_ref()
    }

    /// Whether `max_tries` requests went unanswered.
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// Requests sent in the current round.
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.remove(0))
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to run next.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.next_tx
    }

    /// The BOOTREQUEST as sent at `now`.
    fn request(&self, now: Duration) -> Message {
        let mut m = Message::new_request(self.xid, self.mac);
        let since = self
            .first_sent
            .map_or(Duration::ZERO, |t| now.saturating_sub(t));
        m.secs = if self.cfg.secs_zero {
            0
        } else {
            since.as_secs().min(u64::from(u16::MAX)) as u16
        };
        m.ciaddr = self.ciaddr;
        if self.cfg.broadcast_flag {
            m.flags = FLAG_BROADCAST;
        }
        if let Some(f) = &self.cfg.file {
            m.set_file(f);
        }
        if let Some(s) = &self.cfg.sname {
            m.set_sname(s);
        }
        m.vend = match self.cfg.vendor {
            VendorArea::Rfc1048 => Vendor::Options(Options(self.cfg.options.clone())),
            VendorArea::Plain => Vendor::Raw(vec![0; MIN_MESSAGE_LEN - HEADER_LEN]),
        };
        m
    }

    /// Sends (or resends) the request when its timer is due.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.next_tx.is_none_or(|t| t > now) {
            return;
        }
        if self.cfg.max_tries > 0 && self.tries >= self.cfg.max_tries {
            self.next_tx = None;
            self.gave_up = true;
            return;
        }
        if self.first_sent.is_none() {
            self.first_sent = Some(now);
        }
        let message = self.request(now);
        self.out.push(Transmit::Bootp {
            message,
            src: self.src,
            dst: Ipv4Addr::BROADCAST,
        });
        self.tries += 1;
        self.next_tx = Some(now + self.cfg.backoff.next_delay(&mut self.rng));
    }

    /// Takes a BOOTREPLY; returns true when it is the first one matching our `xid` and `chaddr`
    /// (RFC 951 §7.5). Later replies are ignored until [`resend`](Self::resend).
    pub fn handle_reply(&mut self, _now: Duration, reply: &Message) -> bool {
        if self.reply.is_some()
            || self.next_tx.is_none() && self.tries > 0
            || !is_reply_for(reply, self.xid, self.mac)
        {
            return false;
        }
        self.reply = Some(reply.clone());
        self.next_tx = None;
        true
    }

    /// Starts another round at once with `ciaddr` set and sent from `src` (seed 002, step 6: the
    /// client asks again with its own address in the IP header), same `xid`.
    pub fn resend(&mut self, now: Duration, ciaddr: Ipv4Addr, src: Ipv4Addr) {
        self.ciaddr = ciaddr;
        self.src = src;
        self.reply = None;
        self.gave_up = false;
        self.tries = 0;
        self.cfg.backoff.reset();
        self.next_tx = Some(now);
        self.handle_timeout(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bootlab_wire::bootp::MAGIC_COOKIE;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x20];

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    fn sent(c: &mut BootpClient) -> Vec<(Message, Ipv4Addr)> {
        std::iter::from_fn(|| c.poll_transmit())
            .filter_map(|t| match t {
                Transmit::Bootp { message, src, .. } => Some((message, src)),
                _ => None,
            })
            .collect()
    }

    fn run(cfg: BootpConfig, n: usize) -> Vec<(Duration, Message)> {
        let mut c = BootpClient::new(cfg, MAC, bootlab_net::clock::rng(9), s(0));
        let mut out = Vec::new();
        for _ in 0..n {
            let Some(t) = c.poll_timeout() else { break };
            c.handle_timeout(t);
            out.extend(sent(&mut c).into_iter().map(|(m, _)| (t, m)));
        }
        out
    }

    #[test]
    fn retransmits_with_backoff_and_secs_counts_seconds() {
        let out = run(BootpConfig::default(), 7);
        assert_eq!(out.len(), 7);
        assert_eq!(out[0].1.secs, 0);
        for (i, w) in out.windows(2).enumerate() {
            let gap = w[1].0 - w[0].0;
            let nominal = (4u64 << i).min(60);
            assert!(
                gap >= s(nominal - 1) && gap <= s(nominal + 1),
                "gap {i} {gap:?}"
            );
            assert!(w[1].1.secs > w[0].1.secs);
            assert_eq!(w[1].1.xid, w[0].1.xid);
        }
        for (t, m) in &out {
            assert_eq!(u64::from(m.secs), t.as_secs());
            assert!(m.message_type().is_none(), "no option 53 in BOOTP");
            assert_eq!((m.hops, m.ciaddr), (0, Ipv4Addr::UNSPECIFIED));
        }
    }

    #[test]
    fn secs_zero_quirk_keeps_secs_at_zero() {
        let out = run(
            BootpConfig {
                secs_zero: true,
                ..BootpConfig::default()
            },
            5,
        );
        assert!(out.iter().all(|(_, m)| m.secs == 0));
        assert!(out.last().is_some_and(|(t, _)| *t > s(20)));
    }

    #[test]
    fn vendor_area_with_cookie_or_plain() {
        let out = run(BootpConfig::default(), 1);
        assert_eq!(out[0].1.vend, Vendor::Options(Options::default()));
        let bytes = out[0].1.emit();
        assert_eq!(&bytes[HEADER_LEN..HEADER_LEN + 4], &MAGIC_COOKIE);
        assert_eq!(bytes.len(), MIN_MESSAGE_LEN);
        let out = run(
            BootpConfig {
                vendor: VendorArea::Plain,
                ..BootpConfig::default()
            },
            1,
        );
        assert!(
            matches!(&out[0].1.vend, Vendor::Raw(v) if v.iter().all(|&b| b == 0) && v.len() == 64)
        );
    }

    #[test]
    fn takes_the_first_matching_reply_only() {
        let mut c = BootpClient::new(
            BootpConfig::default(),
            MAC,
            bootlab_net::clock::rng(9),
            s(0),
        );
        c.handle_timeout(s(0));
        let (req, src) = sent(&mut c).remove(0);
        assert_eq!(src, Ipv4Addr::UNSPECIFIED);
        let mut other = Message::new_reply(&req);
        other.chaddr[0] ^= 0xff;
        assert!(!c.handle_reply(s(1), &other));
        let mut r = Message::new_reply(&req);
        r.yiaddr = Ipv4Addr::new(192, 0, 2, 10);
        assert!(c.handle_reply(s(1), &r));
        assert!(!c.handle_reply(s(1), &r), "a duplicate is ignored");
        assert_eq!(c.poll_timeout(), None);
        c.resend(s(2), r.yiaddr, r.yiaddr);
        let (again, src) = sent(&mut c).remove(0);
        assert_eq!(
            (again.ciaddr, src, again.xid),
            (r.yiaddr, r.yiaddr, req.xid)
        );
        assert_eq!(again.secs, 2);
    }

    #[test]
    fn gives_up_after_max_tries() {
        let mut c = BootpClient::new(
            BootpConfig {
                max_tries: 2,
                ..BootpConfig::default()
            },
            MAC,
            bootlab_net::clock::rng(9),
            s(0),
        );
        for _ in 0..5 {
            let Some(t) = c.poll_timeout() else { break };
            c.handle_timeout(t);
        }
        assert_eq!(sent(&mut c).len(), 2);
        assert!(c.gave_up());
    }
}

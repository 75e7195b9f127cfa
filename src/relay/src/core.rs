//! The relay agent's pure core (RFC 1542 §4, RFC 3046): requests in, copies to the servers out;
//! replies in, deliveries on the client link out. No socket, no clock.
//!
//! Requests are edited in place, byte for byte: only `hops`, `giaddr` and an appended option 82
//! change (RELAY-FIELDS-01); replies only lose option 82 (RFC 1542 §4.1.2, RFC 3046 §2.1).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use bootlab_net::delivery::{self, format_mac, Destination};
use bootlab_wire::bootp::{
    self, agent, code, Message, Op, SubOption, MAGIC_COOKIE, MIN_MESSAGE_LEN,
};
use serde_json::json;

use crate::config::{sub_option_bytes, Config, Existing};

/// Largest request the relay makes by adding option 82 (UDP payload in a 1500-byte MTU,
/// RFC 3046 §2.1: never exceed the MTU; forward without the option instead).
pub const MAX_FORWARD_LEN: usize = 1500 - 28;

/// Byte offset of `hops` (RFC 951 §3).
const HOPS: usize = 3;
/// Byte range of `giaddr` (RFC 951 §3).
const GIADDR: std::ops::Range<usize> = 24..28;
/// Where options start, after the magic cookie (RFC 2131 §3).
const OPTIONS: usize = bootp::HEADER_LEN + 4;

/// A client-side interface of the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayInterface {
    /// Interface name.
    pub name: String,
    /// Its address, written into giaddr (RFC 1542 §4.1.1).
    pub addr: Ipv4Addr,
}

/// What the core asks the daemon to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a request to a server (or the next relay), port 67.
    Forward {
        /// Server address and port.
        to: SocketAddrV4,
        /// The edited request.
        bytes: Vec<u8>,
    },
    /// Deliver a reply on a client-side interface.
    Deliver {
        /// Index into the relay's interfaces.
        interface: usize,
        /// How (RFC 1542 §4.1.2 / §5.4).
        dest: Destination,
        /// The reply, option 82 removed.
        bytes: Vec<u8>,
    },
    /// Emit a machine-readable event.
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
    /// Requests received on client-side interfaces.
    pub requests: u64,
    /// Requests forwarded (once per request, whatever the number of servers).
    pub forwarded: u64,
    /// Replies received.
    pub replies: u64,
    /// Replies delivered to a client link.
    pub delivered: u64,
    /// Undecodable or shorter than 300 bytes (RFC 1542 §2.1).
    pub dropped_malformed: u64,
    /// `op` not fitting where it arrived.
    pub dropped_op: u64,
    /// Over the hop limit (RFC 1542 §4.1.1).
    pub dropped_hops: u64,
    /// `secs` below the threshold.
    pub dropped_secs: u64,
    /// giaddr is our own address: a loop (RFC 3046 §2.1.1).
    pub dropped_loop: u64,
    /// Option 82 from an untrusted circuit (RFC 3046 §2.1).
    pub dropped_option82: u64,
    /// Replies whose giaddr is not one of our client-side addresses (RFC 1542 §4.1.2).
    pub dropped_foreign_giaddr: u64,
    /// Requests seen on a non-client interface (ignored).
    pub ignored_uplink_requests: u64,
    /// Option 82 inserted.
    pub option82_inserted: u64,
    /// Option 82 not inserted because the message would grow too large.
    pub option82_too_big: u64,
}

/// The relay agent state machine.
#[derive(Debug)]
pub struct Relay {
    config: Config,
    interfaces: Vec<RelayInterface>,
    /// Counters since start.
    pub counters: Counters,
}

impl Relay {
    /// A relay for `config` with its client-side interfaces resolved.
    pub fn new(config: Config, interfaces: Vec<RelayInterface>) -> Self {
        Self {
            config,
            interfaces,
            counters: Counters::default(),
        }
    }

    /// Applies a new configuration (SIGHUP); interfaces stay as they were opened.
    pub fn reconfigure(&mut self, config: Config) {
        self.config = config;
    }

    /// The client-side interfaces.
    pub fn interfaces(&self) -> &[RelayInterface] {
        &self.interfaces
    }

    /// Handles a datagram that arrived on port 67; `arrived_on` is the index of the client-side
    /// interface it came in on, `None` for the uplink.
    pub fn handle(
        &mut self,
        now: Duration,
        bytes: &[u8],
        arrived_on: Option<usize>,
        out: &mut Vec<Action>,
    ) {
        let _ = now;
        let msg = match Message::parse(bytes) {
            Ok((m, _)) if bytes.len() >= self.config.min_message_size => m,
            Ok(_) => return self.drop(out, None, "short", |c| &mut c.dropped_malformed),
            Err(_) => return self.drop(out, None, "malformed", |c| &mut c.dropped_malformed),
        };
        match (msg.op, arrived_on) {
            (Op::BootRequest, Some(i)) => self.request(&msg, bytes, i, out),
            (Op::BootRequest, None) => {
                self.counters.ignored_uplink_requests += 1;
                tracing::debug!(xid = msg.xid, "request on a non-client interface ignored");
            }
            (Op::BootReply, _) => self.reply(&msg, bytes, out),
            (Op::Unknown(_), _) => self.drop(out, Some(&msg), "wrong-op", |c| &mut c.dropped_op),
        }
    }

    fn request(&mut self, msg: &Message, bytes: &[u8], i: usize, out: &mut Vec<Action>) {
        self.counters.requests += 1;
        let Some(iface) = self.interfaces.get(i).cloned() else {
            return;
        };
        // RFC 1542 §4.1.1: discard above the hop limit (never more than 16).
        if msg.hops > self.config.hop_limit.min(16) {
            tracing::warn!(
                xid = msg.xid,
                hops = msg.hops,
                limit = self.config.hop_limit,
                "hop limit exceeded, request dropped"
            );
            return self.drop(out, Some(msg), "hop-limit", |c| &mut c.dropped_hops);
        }
        if msg.secs < self.config.secs_threshold {
            return self.drop(out, Some(msg), "secs-below-threshold", |c| {
                &mut c.dropped_secs
            });
        }
        if self.interfaces.iter().any(|f| f.addr == msg.giaddr) {
            return self.drop(out, Some(msg), "own-giaddr", |c| &mut c.dropped_loop);
        }
        let mut fwd = bytes.to_vec();
        let first_relay = msg.giaddr.is_unspecified();
        if first_relay {
            fwd[GIADDR].copy_from_slice(&iface.addr.octets());
            let has_82 = msg
                .options()
                .is_some_and(|o| o.contains(code::RELAY_AGENT_INFORMATION));
            let o82 = &self.config.option82;
            let mut add = o82.insert;
            if has_82 {
                match o82.existing {
                    Existing::Drop => {
                        return self.drop(out, Some(msg), "option82-untrusted", |c| {
                            &mut c.dropped_option82
                        })
                    }
                    Existing::Keep => add = false,
                    Existing::Replace => {
                        if let Some(stripped) = strip_option(&fwd, code::RELAY_AGENT_INFORMATION) {
                            fwd = stripped;
                        }
                    }
                }
            }
            if add {
                let data = self.option82_data(&iface.name);
                match insert_option(&fwd, code::RELAY_AGENT_INFORMATION, &data) {
                    Some(b) if b.len() <= MAX_FORWARD_LEN => {
                        fwd = b;
                        self.counters.option82_inserted += 1;
                    }
                    _ => {
                        self.counters.option82_too_big += 1;
                        tracing::info!(
                            xid = msg.xid,
                            "option 82 would not fit; forwarded without it"
                        );
                    }
                }
            }
        }
        // RFC 1542 §4.1.1 / RFC 951 §8: one more hop.
        fwd[HOPS] = msg.hops.saturating_add(1);
        self.counters.forwarded += 1;
        if self.config.events {
            out.push(Action::Event {
            name: "forwarded",
            fields: json!({
                "xid": msg.xid,
                "hwaddr": format_mac(&msg.chaddr[..usize::from(msg.hlen).min(16)]),
                "interface": iface.name,
                "giaddr": Ipv4Addr::from(<[u8; 4]>::try_from(&fwd[GIADDR]).unwrap_or_default()).to_string(),
                "hops": fwd[HOPS],
                "servers": self.config.servers.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            }),
        });
        }
        for s in &self.config.servers {
            out.push(Action::Forward {
                to: SocketAddrV4::new(*s, bootp::SERVER_PORT),
                bytes: fwd.clone(),
            });
        }
    }

    fn reply(&mut self, msg: &Message, bytes: &[u8], out: &mut Vec<Action>) {
        self.counters.replies += 1;
        // RFC 1542 §4.1.2: only replies for one of our client-side addresses are relayed.
        let Some(i) = self
            .interfaces
            .iter()
            .position(|f| f.addr == msg.giaddr && !f.addr.is_unspecified())
        else {
            return self.drop(out, Some(msg), "foreign-giaddr", |c| {
                &mut c.dropped_foreign_giaddr
            });
        };
        let mut b = bytes.to_vec();
        if self.config.option82.strip_replies {
            if let Some(s) = strip_option(&b, code::RELAY_AGENT_INFORMATION) {
                b = s;
            }
        }
        let dest = delivery::client_destination(self.config.reply_policy, msg);
        self.counters.delivered += 1;
        if self.config.events {
            out.push(Action::Event {
                name: "reply-relayed",
                fields: json!({
                    "xid": msg.xid,
                    "interface": self.interfaces[i].name,
                    "destination": dest.to_string(),
                }),
            });
        }
        out.push(Action::Deliver {
            interface: i,
            dest,
            bytes: b,
        });
    }

    fn option82_data(&self, interface: &str) -> Vec<u8> {
        let o = &self.config.option82;
        let mut subs = Vec::new();
        let circuit = o.circuit_id.as_deref().unwrap_or("{interface}");
        if let Some(d) = sub_option_bytes(circuit, interface) {
            subs.push(SubOption {
                code: agent::CIRCUIT_ID,
                data: d,
            });
        }
        if let Some(d) = o
            .remote_id
            .as_deref()
            .and_then(|r| sub_option_bytes(r, interface))
        {
            subs.push(SubOption {
                code: agent::REMOTE_ID,
                data: d,
            });
        }
        bootp::emit_relay_agent_information(&subs)
    }

    fn drop(
        &mut self,
        out: &mut Vec<Action>,
        msg: Option<&Message>,
        reason: &'static str,
        counter: impl FnOnce(&mut Counters) -> &mut u64,
    ) {
        *counter(&mut self.counters) += 1;
        tracing::info!(
            xid = msg.map(|m| m.xid),
            hops = msg.map(|m| m.hops),
            "dropped: {reason}"
        );
        out.push(Action::Event {
            name: "ignored",
            fields: json!({
                "reason": reason,
                "xid": msg.map(|m| m.xid),
                "hops": msg.map(|m| m.hops),
            }),
        });
    }
}

/// One option's code and byte span `start..end` (code and length octets included).
type Span = (u8, usize, usize);

/// The options of the main area as [`Span`]s and the offset of End, or `None` without a cookie
/// or with an option running past the end.
fn walk(b: &[u8]) -> Option<(Vec<Span>, Option<usize>)> {
    if b.get(bootp::HEADER_LEN..OPTIONS)? != MAGIC_COOKIE {
        return None;
    }
    let mut spans = Vec::new();
    let mut i = OPTIONS;
    while i < b.len() {
        match b[i] {
            code::PAD => i += 1,
            code::END => return Some((spans, Some(i))),
            c => {
                let len = usize::from(*b.get(i + 1)?);
                let end = i + 2 + len;
                if end > b.len() {
                    return None;
                }
                spans.push((c, i, end));
                i = end;
            }
        }
    }
    Some((spans, None))
}

/// `b` with option `c` (`data`) added as the last option before End (RFC 3046 §2.1), trailing
/// padding reused so the message grows only as needed (never below 300 bytes).
pub fn insert_option(b: &[u8], c: u8, data: &[u8]) -> Option<Vec<u8>> {
    let (_, end) = walk(b)?;
    let data = &data[..data.len().min(255)];
    let mut tlv = vec![c, data.len() as u8];
    tlv.extend_from_slice(data);
    let mut out = b.to_vec();
    match end {
        Some(e) => {
            out.splice(e..e, tlv.iter().copied());
            // Give back padding after End, as much as was added.
            let mut spare = tlv.len();
            while spare > 0
                && out.len() > MIN_MESSAGE_LEN
                && out.last() == Some(&0)
                && out.len() - 1 > e + tlv.len()
            {
                out.pop();
                spare -= 1;
            }
        }
        None => {
            out.extend_from_slice(&tlv);
            out.push(code::END);
        }
    }
    Some(out)
}

/// `b` without any instance of option `c` in the main area, padded back to its length; `None`
/// when there was none (or the options cannot be walked).
pub fn strip_option(b: &[u8], c: u8) -> Option<Vec<u8>> {
    let (spans, _) = walk(b)?;
    if !spans.iter().any(|(k, _, _)| *k == c) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len());
    let mut at = 0;
    for (k, s, e) in spans {
        if k == c {
            out.extend_from_slice(&b[at..s]);
            at = e;
        }
    }
    out.extend_from_slice(&b[at..]);
    out.resize(b.len(), 0);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Option82;
    use bootlab_wire::bootp::{MessageType, FLAG_BROADCAST};
    use std::path::Path;

    fn relay(extra: &str) -> Relay {
        let text = format!("interfaces = [\"c0\", \"c1\"]\nservers = [\"198.51.100.1\", \"198.51.100.2\"]\n{extra}");
        let c = Config::parse(&text, Path::new("relay.toml")).expect("config");
        Relay::new(
            c,
            vec![
                RelayInterface {
                    name: "c0".into(),
                    addr: Ipv4Addr::new(192, 0, 2, 1),
                },
                RelayInterface {
                    name: "c1".into(),
                    addr: Ipv4Addr::new(203, 0, 113, 1),
                },
            ],
        )
    }

    fn discover() -> Message {
        let mut m = Message::new_dhcp(MessageType::Discover, 7, [2, 0, 0, 0, 0, 1]);
        m.secs = 3;
        m.options_mut()
            .push(code::PARAMETER_REQUEST_LIST, vec![1, 3]);
        m
    }

    fn run(r: &mut Relay, m: &[u8], on: Option<usize>) -> Vec<Action> {
        let mut out = Vec::new();
        r.handle(Duration::ZERO, m, on, &mut out);
        out
    }

    fn forwards(a: &[Action]) -> Vec<(SocketAddrV4, Vec<u8>)> {
        a.iter()
            .filter_map(|x| match x {
                Action::Forward { to, bytes } => Some((*to, bytes.clone())),
                _ => None,
            })
            .collect()
    }

    fn reason(a: &[Action]) -> Option<String> {
        a.iter().find_map(|x| match x {
            Action::Event {
                name: "ignored",
                fields,
            } => fields["reason"].as_str().map(String::from),
            _ => None,
        })
    }

    #[test]
    fn first_relay_sets_giaddr_adds_a_hop_and_forwards_to_every_server() {
        let mut r = relay("");
        let input = discover().emit();
        let f = forwards(&run(&mut r, &input, Some(1)));
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].0, "198.51.100.1:67".parse().expect("addr"));
        assert_eq!(f[1].0, "198.51.100.2:67".parse().expect("addr"));
        let (m, _) = Message::parse(&f[0].1).expect("parse");
        assert_eq!(
            m.giaddr,
            Ipv4Addr::new(203, 0, 113, 1),
            "address of the receiving interface"
        );
        assert_eq!(m.hops, 1);
        // Nothing else changed (RELAY-FIELDS-01).
        let mut expect = input.clone();
        expect[HOPS] = 1;
        expect[GIADDR].copy_from_slice(&[203, 0, 113, 1]);
        assert_eq!(f[0].1, expect);
    }

    #[test]
    fn second_relay_keeps_giaddr_and_adds_no_option_82() {
        let mut r = relay("[option82]\ninsert = true\n");
        let mut m = discover();
        m.giaddr = Ipv4Addr::new(198, 51, 100, 77);
        m.hops = 1;
        let f = forwards(&run(&mut r, &m.emit(), Some(0)));
        let (out, _) = Message::parse(&f[0].1).expect("parse");
        assert_eq!(out.giaddr, Ipv4Addr::new(198, 51, 100, 77));
        assert_eq!(out.hops, 2);
        assert!(!out.options().expect("opts").contains(82));
    }

    #[test]
    fn hop_limit_drops_above_the_limit_only() {
        let mut r = relay("");
        let mut m = discover();
        m.hops = 4;
        assert_eq!(
            forwards(&run(&mut r, &m.emit(), Some(0))).len(),
            2,
            "hops = limit is forwarded"
        );
        m.hops = 5;
        let a = run(&mut r, &m.emit(), Some(0));
        assert!(forwards(&a).is_empty());
        assert_eq!(reason(&a).as_deref(), Some("hop-limit"));
        assert_eq!(r.counters.dropped_hops, 1);
    }

    #[test]
    fn secs_threshold_holds_requests_back() {
        let mut r = relay("secs-threshold = 4");
        let mut m = discover();
        assert_eq!(
            reason(&run(&mut r, &m.emit(), Some(0))).as_deref(),
            Some("secs-below-threshold")
        );
        m.secs = 4;
        assert_eq!(forwards(&run(&mut r, &m.emit(), Some(0))).len(), 2);
    }

    #[test]
    fn own_giaddr_is_a_loop() {
        let mut r = relay("");
        let mut m = discover();
        m.giaddr = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(
            reason(&run(&mut r, &m.emit(), Some(1))).as_deref(),
            Some("own-giaddr")
        );
    }

    #[test]
    fn option_82_inserted_last_and_policies_for_an_existing_one() {
        let mut r = relay("[option82]\ninsert = true\nremote-id = \"relay-1\"\n");
        let input = discover().emit();
        let f = forwards(&run(&mut r, &input, Some(0)));
        let (m, _) = Message::parse(&f[0].1).expect("parse");
        let o = m.options().expect("opts");
        assert_eq!(o.codes().last(), Some(&82), "last option before End");
        let subs = o.relay_agent_information().expect("82");
        assert_eq!(
            subs[0],
            SubOption {
                code: 1,
                data: b"c0".to_vec()
            }
        );
        assert_eq!(
            subs[1],
            SubOption {
                code: 2,
                data: b"relay-1".to_vec()
            }
        );
        assert_eq!(f[0].1.len(), input.len(), "padding reused");

        let mut with82 = discover();
        with82.options_mut().push(82, vec![1, 1, b'x']);
        let keep = forwards(&run(&mut r, &with82.emit(), Some(0)));
        let (m, _) = Message::parse(&keep[0].1).expect("parse");
        assert_eq!(m.options().expect("o").get(82), Some(vec![1, 1, b'x']));

        r.reconfigure(Config {
            option82: Option82 {
                insert: true,
                existing: Existing::Replace,
                ..Option82::default()
            },
            ..r.config.clone()
        });
        let rep = forwards(&run(&mut r, &with82.emit(), Some(0)));
        let (m, _) = Message::parse(&rep[0].1).expect("parse");
        assert_eq!(
            m.options().expect("o").get(82),
            Some(vec![1, 2, b'c', b'0'])
        );

        r.reconfigure(Config {
            option82: Option82 {
                existing: Existing::Drop,
                ..Option82::default()
            },
            ..r.config.clone()
        });
        let a = run(&mut r, &with82.emit(), Some(0));
        assert_eq!(reason(&a).as_deref(), Some("option82-untrusted"));
    }

    fn offer(giaddr: Ipv4Addr, flags: u16, ciaddr: Ipv4Addr) -> Message {
        let req = discover();
        let mut m = Message::new_reply(&req);
        m.giaddr = giaddr;
        m.flags = flags;
        m.ciaddr = ciaddr;
        m.yiaddr = Ipv4Addr::new(192, 0, 2, 50);
        m.options_mut().set_message_type(MessageType::Offer);
        m.options_mut().push(82, vec![1, 2, b'c', b'0']);
        m
    }

    #[test]
    fn replies_go_back_on_the_giaddr_interface_without_option_82() {
        let mut r = relay("");
        let m = offer(Ipv4Addr::new(192, 0, 2, 1), 0, Ipv4Addr::UNSPECIFIED);
        let input = m.emit();
        let a = run(&mut r, &input, None);
        let Some(Action::Deliver {
            interface,
            dest,
            bytes,
        }) = a.iter().find(|x| matches!(x, Action::Deliver { .. }))
        else {
            panic!("no delivery in {a:?}");
        };
        assert_eq!(*interface, 0);
        assert_eq!(
            *dest,
            Destination::Neighbour {
                addr: "192.0.2.50:68".parse().expect("a"),
                hwaddr: [2, 0, 0, 0, 0, 1]
            }
        );
        let (out, _) = Message::parse(bytes).expect("parse");
        assert!(!out.options().expect("o").contains(82));
        assert_eq!(bytes.len(), input.len());
        assert_eq!(out.giaddr, m.giaddr, "no BOOTP field changes");
        // Broadcast flag -> broadcast; ciaddr known -> unicast to it.
        let b = run(
            &mut r,
            &offer(
                Ipv4Addr::new(192, 0, 2, 1),
                FLAG_BROADCAST,
                Ipv4Addr::UNSPECIFIED,
            )
            .emit(),
            None,
        );
        assert!(b.iter().any(|x| matches!(
            x,
            Action::Deliver {
                dest: Destination::Broadcast(68),
                ..
            }
        )));
        let c = run(
            &mut r,
            &offer(Ipv4Addr::new(192, 0, 2, 1), 0, Ipv4Addr::new(192, 0, 2, 9)).emit(),
            None,
        );
        assert!(c.iter().any(|x| matches!(
            x,
            Action::Deliver {
                dest: Destination::Unicast(_),
                ..
            }
        )));
    }

    #[test]
    fn foreign_replies_and_broken_packets_are_counted_and_dropped() {
        let mut r = relay("");
        let a = run(
            &mut r,
            &offer(Ipv4Addr::new(198, 51, 100, 9), 0, Ipv4Addr::UNSPECIFIED).emit(),
            None,
        );
        assert_eq!(reason(&a).as_deref(), Some("foreign-giaddr"));
        let d = discover().emit();
        assert_eq!(
            reason(&run(&mut r, &d[..299], Some(0))).as_deref(),
            Some("short")
        );
        assert_eq!(
            reason(&run(&mut r, &d[..10], Some(0))).as_deref(),
            Some("malformed")
        );
        let mut bad = d.clone();
        bad[0] = 3;
        assert_eq!(
            reason(&run(&mut r, &bad, Some(0))).as_deref(),
            Some("wrong-op")
        );
        assert!(
            run(&mut r, &d, None).is_empty(),
            "requests on the uplink are not relayed"
        );
        assert_eq!(r.counters.dropped_malformed, 2);
        assert_eq!(
            forwards(&run(&mut r, &d, Some(0))).len(),
            2,
            "still relaying"
        );
    }

    /// A reply as Kea sends it: options, End, no padding (262 octets here, as perfdhcp's
    /// requests are).
    fn short_offer() -> Vec<u8> {
        let mut m = Message::new_reply(&discover());
        m.giaddr = Ipv4Addr::new(192, 0, 2, 1);
        m.yiaddr = Ipv4Addr::new(192, 0, 2, 50);
        m.options_mut().set_message_type(MessageType::Offer);
        let mut b = m.emit();
        let (_, end) = walk(&b).expect("walk");
        b.truncate(end.expect("end") + 1);
        assert!(b.len() < 300, "{} octets", b.len());
        b
    }

    /// RFC 1542 §2.1: by default a reply shorter than 300 octets is discarded, not relayed.
    #[test]
    fn short_replies_are_dropped_by_default() {
        let mut r = relay("");
        let out = run(&mut r, &short_offer(), None);
        assert_eq!(reason(&out).as_deref(), Some("short"));
        assert!(!out.iter().any(|a| matches!(a, Action::Deliver { .. })));
        assert_eq!(r.counters.dropped_malformed, 1);
    }

    /// `min-message-size = 236` is the documented opt-in: a reply that holds the fixed header
    /// is relayed unchanged (the sender's deviation stays on the wire for FMT-SIZE-01), and so
    /// is a short request.
    #[test]
    fn min_message_size_opt_in_relays_short_messages_unchanged() {
        let mut r = relay("min-message-size = 236");
        let short = short_offer();
        let out = run(&mut r, &short, None);
        let Some(Action::Deliver { bytes, .. }) =
            out.iter().find(|a| matches!(a, Action::Deliver { .. }))
        else {
            panic!("not delivered: {out:?}");
        };
        assert_eq!(bytes, &short, "relayed as received, not padded");
        let mut d = discover().emit();
        let (_, end) = walk(&d).expect("walk");
        d.truncate(end.expect("end") + 1);
        assert_eq!(forwards(&run(&mut r, &d, Some(0))).len(), 2);
        // Below the fixed header nothing can be parsed, whatever the setting.
        assert_eq!(
            reason(&run(&mut r, &d[..235], Some(0))).as_deref(),
            Some("malformed")
        );
    }

    #[test]
    fn min_message_size_outside_236_to_300_is_a_config_error() {
        for bad in [235, 301] {
            let text = format!(
                "interfaces = [\"c0\"]\nservers = [\"192.0.2.9\"]\nmin-message-size = {bad}\n"
            );
            let e = Config::parse(&text, Path::new("r.toml")).expect_err("out of range");
            assert!(e.to_string().contains("r.toml:3:"), "{e}");
            assert!(e.to_string().contains("min-message-size"), "{e}");
        }
    }

    #[test]
    fn byte_surgery_edges() {
        // No End option: appended with an End.
        let mut b = discover().emit();
        let (_, end) = walk(&b).expect("walk");
        let e = end.expect("end");
        b.truncate(e);
        let out = insert_option(&b, 82, &[1, 1, 9]).expect("insert");
        assert_eq!(&out[e..], &[82, 3, 1, 1, 9, 255]);
        // No cookie: nothing to edit.
        let mut raw = Message::new_request(1, [2, 0, 0, 0, 0, 1]);
        raw.vend = bootlab_wire::bootp::Vendor::Raw(vec![0; 64]);
        assert!(insert_option(&raw.emit(), 82, &[1, 1, 9]).is_none());
        assert!(strip_option(&discover().emit(), 82).is_none());
    }

    proptest::proptest! {
        /// Garbage in any position never panics the relay, and the byte surgery stays in bounds.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..700), keep in 0usize..600) {
            let mut r = relay("[option82]\ninsert = true\n");
            run(&mut r, &bytes, Some(0));
            run(&mut r, &bytes, None);
            let mut m = discover().emit();
            m.truncate(240);
            m.extend_from_slice(&bytes[..keep.min(bytes.len())]);
            m.resize(m.len().max(300), 0);
            run(&mut r, &m, Some(0));
            m[0] = 2;
            m[GIADDR].copy_from_slice(&[192, 0, 2, 1]);
            run(&mut r, &m, None);
            let _ = strip_option(&m, 82);
            let _ = insert_option(&m, 82, &bytes);
        }
    }
}

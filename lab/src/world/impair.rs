//! Impairments as a seeded user-space wire: frames between a host interface and its segment
//! are forwarded over AF_PACKET by the lab, which drops, duplicates, delays or reorders them by
//! exact rule ("drop the first OFFER", "duplicate the ACK of block 5") or by chance drawn from the
//! scenario's seed ("lose 30%"), so a faulty run reproduces frame for frame. (This kernel has no
//! netem.)
//!
//! [`Impairer`] is the pure decision core; [`Wire`] is the forwarding loop around it.
//!
//! The rules themselves are part of the plan: [`crate::plan::impairment`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::plan::impairment::{
    Action, ArpMatch, Direction, Impairment, Match, Rule, TftpOpcode, When,
};
use bootlab_sys::packet::{AsyncPacketSocket, PacketSocket};
use bootlab_wire::frame::{Decoded, Decoder};
use bootlab_wire::{tftp, ChecksumPolicy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::net::Ipv4Addr;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a frame held back for reordering waits for a successor before it is sent anyway.
pub const REORDER_HOLD: Duration = Duration::from_millis(500);

/// The fate of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Forward unchanged.
    Pass,
    /// The rule's action, with the index of the rule that decided.
    Act {
        /// The action.
        action: Action,
        /// Index of the rule in [`Impairment::rules`].
        rule: usize,
    },
}

/// The pure decision core: rules, their match counters, the seeded generator and the frame
/// decoder (`bootlab_wire::frame`, which follows TFTP conversations to their ephemeral ports).
#[derive(Debug)]
pub struct Impairer {
    rules: Vec<Rule>,
    matched: Vec<u32>,
    rng: ChaCha8Rng,
    decoder: Decoder,
    decode: bool,
}

impl Impairer {
    /// A core for `impairment` whose chances are drawn from `seed`.
    pub fn new(impairment: Impairment, seed: u64) -> Impairer {
        let matched = vec![0; impairment.rules.len()];
        let decode = impairment.rules.iter().any(|r| {
            matches!(
                r.matches,
                Match::Bootp { .. } | Match::Dhcp(_) | Match::Tftp { .. }
            )
        });
        Impairer {
            rules: impairment.rules,
            matched,
            rng: ChaCha8Rng::seed_from_u64(seed),
            decoder: Decoder::new(ChecksumPolicy::Ignore),
            decode,
        }
    }

    /// Decides the fate of `frame` travelling in `direction` (`ToHost` or `FromHost`).
    pub fn decide(&mut self, direction: Direction, frame: &[u8]) -> Verdict {
        // Every frame goes through the decoder when a rule needs it, so that it sees the TFTP
        // requests that open conversations.
        let decoded = self.decode.then(|| self.decoder.decode(frame));
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.direction != Direction::Both && rule.direction != direction {
                continue;
            }
            if !matches(&rule.matches, frame, decoded.as_ref()) {
                continue;
            }
            self.matched[i] = self.matched[i].saturating_add(1);
            let n = self.matched[i];
            let applies = match rule.when {
                When::Every => true,
                When::Nth(k) => n == k,
                When::First(k) => n <= k,
                When::Chance(p) => self.rng.gen_bool(p.clamp(0.0, 1.0)),
            };
            if applies {
                return Verdict::Act {
                    action: rule.action,
                    rule: i,
                };
            }
        }
        Verdict::Pass
    }
}

/// The ports of an IPv4/UDP Ethernet frame (no VLAN tag, first fragment), or `None`.
fn udp_ports(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    if ip.get(9)? != &17 || ihl < 20 {
        return None;
    }
    let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x1fff;
    if frag != 0 {
        return None;
    }
    let u = ip.get(ihl..)?;
    let src = u16::from_be_bytes([*u.first()?, *u.get(1)?]);
    let dst = u16::from_be_bytes([*u.get(2)?, *u.get(3)?]);
    Some((src, dst))
}

/// Whether an ARP frame (RFC 826 over Ethernet: op at octet 6 of the packet, the sender protocol
/// address at 14, the target's at 24) carries the fields `want` names.
fn arp_matches(want: &ArpMatch, frame: &[u8]) -> bool {
    let Some(arp) = frame.get(14..42) else {
        return want.op.is_none() && want.sender_ip.is_none() && want.target_ip.is_none();
    };
    let ip = |at: usize| Ipv4Addr::new(arp[at], arp[at + 1], arp[at + 2], arp[at + 3]);
    want.op
        .is_none_or(|op| op == u16::from_be_bytes([arp[6], arp[7]]))
        && want.sender_ip.is_none_or(|a| a == ip(14))
        && want.target_ip.is_none_or(|a| a == ip(24))
}

fn matches(m: &Match, frame: &[u8], decoded: Option<&Decoded>) -> bool {
    let ethertype = frame.get(12..14).map(|t| u16::from_be_bytes([t[0], t[1]]));
    match m {
        Match::Any => true,
        Match::Arp(want) => ethertype == Some(0x0806) && arp_matches(want, frame),
        Match::Rarp => ethertype == Some(0x8035),
        Match::Udp { src_port, dst_port } => udp_ports(frame).is_some_and(|(s, d)| {
            src_port.is_none_or(|p| p == s) && dst_port.is_none_or(|p| p == d)
        }),
        Match::Bootp { op } => decoded
            .and_then(Decoded::bootp)
            .is_some_and(|b| op.is_none_or(|op| u8::from(b.op) == op)),
        Match::Dhcp(t) => decoded
            .and_then(Decoded::bootp)
            .and_then(|b| b.message_type())
            .is_some_and(|mt| u8::from(mt) == t.value()),
        Match::Tftp { opcode, block } => decoded.and_then(Decoded::tftp).is_some_and(|p| {
            let (op, blk) = match p {
                tftp::Packet::Rrq(_) => (TftpOpcode::Rrq, None),
                tftp::Packet::Wrq(_) => (TftpOpcode::Wrq, None),
                tftp::Packet::Data { block, .. } => (TftpOpcode::Data, Some(*block)),
                tftp::Packet::Ack { block } => (TftpOpcode::Ack, Some(*block)),
                tftp::Packet::Error { .. } => (TftpOpcode::Error, None),
                tftp::Packet::Oack { .. } => (TftpOpcode::Oack, None),
            };
            opcode.is_none_or(|o| o == op) && block.is_none_or(|b| blk == Some(b))
        }),
    }
}

/// A running wire: forwards between the host's link end and the bridge's, applying rules.
#[derive(Debug)]
pub(crate) struct Wire {
    rules: Arc<Mutex<Impairer>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Wire {
    /// Starts forwarding between `host_end` (frames from the host arrive here) and `bridge_end`
    /// (frames from the segment arrive here).
    pub(crate) fn start(
        host_end: PacketSocket,
        bridge_end: PacketSocket,
        impairer: Impairer,
    ) -> std::io::Result<Wire> {
        for s in [&host_end, &bridge_end] {
            s.set_ignore_outgoing(true)?;
            s.set_promiscuous(true)?;
            s.set_recv_buffer(4 << 20)?;
        }
        let host_end = Arc::new(AsyncPacketSocket::new(host_end)?);
        let bridge_end = Arc::new(AsyncPacketSocket::new(bridge_end)?);
        let rules = Arc::new(Mutex::new(impairer));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(forward(host_end, bridge_end, rules.clone(), stop_rx));
        Ok(Wire { rules, stop, task })
    }

    /// Replaces the rules (their counters start again).
    pub(crate) fn set(&self, impairer: Impairer) {
        if let Ok(mut r) = self.rules.lock() {
            *r = impairer;
        }
    }

    /// Stops forwarding.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn send(to: &AsyncPacketSocket, frame: &[u8]) {
    // A frame that cannot be sent is lost, as on a real wire.
    let _ = to.send(frame).await;
}

type Held = Option<(Vec<u8>, tokio::time::Instant)>;

/// Delayed frames of one direction, sent when due, in order of (due time, arrival): frames with
/// the same delay leave in the order they came (one task per frame would let two frames due in
/// the same millisecond swap, and a windowed TFTP transfer then sees reordering nobody asked for).
#[derive(Debug, Clone)]
struct DelayLine {
    tx: tokio::sync::mpsc::UnboundedSender<(tokio::time::Instant, Vec<u8>)>,
}

impl DelayLine {
    /// A delay line sending to `to`; it ends when the last clone is dropped.
    fn start(to: Arc<AsyncPacketSocket>) -> DelayLine {
        let (tx, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
        tokio::spawn(async move {
            let mut due: BTreeMap<(tokio::time::Instant, u64), Vec<u8>> = BTreeMap::new();
            let mut seq = 0u64;
            loop {
                let first = due.keys().next().map(|(t, _)| *t);
                tokio::select! {
                    item = rx.recv() => match item {
                        Some((t, f)) => {
                            seq += 1;
                            due.insert((t, seq), f);
                        }
                        None => break,
                    },
                    _ = async {
                        match first {
                            Some(t) => tokio::time::sleep_until(t).await,
                            None => std::future::pending().await,
                        }
                    } => {
                        if let Some((_, f)) = due.pop_first() {
                            send(&to, &f).await;
                        }
                    }
                }
            }
        });
        DelayLine { tx }
    }

    fn push(&self, frame: &[u8], delay: Duration) {
        let _ = self
            .tx
            .send((tokio::time::Instant::now() + delay, frame.to_vec()));
    }
}

async fn forward(
    host_end: Arc<AsyncPacketSocket>,
    bridge_end: Arc<AsyncPacketSocket>,
    rules: Arc<Mutex<Impairer>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut from_host = vec![0u8; 65_536];
    let mut to_host = vec![0u8; 65_536];
    // Frames held for reordering, per direction: (to host, from host).
    let mut held: [Held; 2] = [None, None];
    // Copies waiting for the next frame the other way (`duplicate-after-reply`), per direction.
    let mut after_reply: [Option<Vec<u8>>; 2] = [None, None];
    // Delayed frames, per direction: (to host, from host).
    let delays = [
        DelayLine::start(host_end.clone()),
        DelayLine::start(bridge_end.clone()),
    ];
    while !*stop.borrow() {
        let deadline = held.iter().flatten().map(|(_, t)| *t).min();
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let (direction, r, to, buf) = tokio::select! {
            _ = stop.changed() => break,
            _ = sleep => {
                let now = tokio::time::Instant::now();
                for (i, slot) in held.iter_mut().enumerate() {
                    if slot.as_ref().is_some_and(|(_, t)| *t <= now) {
                        if let Some((f, _)) = slot.take() {
                            send(if i == 0 { &host_end } else { &bridge_end }, &f).await;
                        }
                    }
                }
                continue;
            }
            r = host_end.recv(&mut from_host) => (Direction::FromHost, r, &bridge_end, &from_host),
            r = bridge_end.recv(&mut to_host) => (Direction::ToHost, r, &host_end, &to_host),
        };
        let slot = usize::from(direction == Direction::FromHost);
        {
            let Ok(r) = r else { break };
            let frame = &buf[..r.len];
            let verdict = match rules.lock() {
                Ok(mut r) => r.decide(direction, frame),
                Err(_) => Verdict::Pass,
            };
            match verdict {
                Verdict::Pass => send(to, frame).await,
                Verdict::Act {
                    action: Action::Drop,
                    ..
                } => {}
                Verdict::Act {
                    action: Action::Duplicate,
                    ..
                } => {
                    send(to, frame).await;
                    send(to, frame).await;
                }
                Verdict::Act {
                    action: Action::DuplicateAfterReply,
                    ..
                } => {
                    send(to, frame).await;
                    after_reply[slot] = Some(frame.to_vec());
                    continue;
                }
                Verdict::Act {
                    action: Action::DelayMs(ms),
                    ..
                } => delays[slot].push(frame, Duration::from_millis(ms)),
                Verdict::Act {
                    action: Action::Reorder,
                    ..
                } => {
                    if let Some((prev, _)) = held[slot].take() {
                        send(to, &prev).await;
                    }
                    held[slot] = Some((frame.to_vec(), tokio::time::Instant::now() + REORDER_HOLD));
                    continue;
                }
            }
            if let Some((prev, _)) = held[slot].take() {
                send(to, &prev).await;
            }
            // A frame went this way: release the other way's duplicate waiting for a reply.
            if let Some(copy) = after_reply[1 - slot].take() {
                send(if slot == 1 { &host_end } else { &bridge_end }, &copy).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet/IPv4/UDP frame with the given ports and payload (checksums left zero).
    fn udp_frame(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
        udp_frame_between([192, 0, 2, 1], [192, 0, 2, 2], src, dst, payload)
    }

    fn udp_frame_between(
        src_ip: [u8; 4],
        dst_ip: [u8; 4],
        src: u16,
        dst: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend([2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let total = (20 + 8 + payload.len()) as u16;
        f.extend([
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
        ]);
        f.extend(src_ip);
        f.extend(dst_ip);
        f.extend(src.to_be_bytes());
        f.extend(dst.to_be_bytes());
        f.extend(((8 + payload.len()) as u16).to_be_bytes());
        f.extend([0, 0]);
        f.extend(payload);
        f
    }

    fn dhcp(kind: u8) -> Vec<u8> {
        let mut p = vec![0u8; 240];
        p[0] = 2;
        p[236..240].copy_from_slice(&[99, 130, 83, 99]);
        p.extend([53, 1, kind, 255]);
        udp_frame(67, 68, &p)
    }

    /// A TFTP packet of the conversation opened by [`rrq`]: DATA from the server's port
    /// 50000, anything else from the client's port 40000.
    fn tftp(op: u16, block: u16) -> Vec<u8> {
        let mut p = op.to_be_bytes().to_vec();
        p.extend(block.to_be_bytes());
        let (client, server) = ([192, 0, 2, 1], [192, 0, 2, 2]);
        if op == 3 {
            udp_frame_between(server, client, 50000, 40000, &p)
        } else {
            udp_frame_between(client, server, 40000, 50000, &p)
        }
    }

    /// The read request that opens the TFTP conversation (RFC 1350 §4).
    fn rrq() -> Vec<u8> {
        udp_frame(40000, 69, b"\x00\x01boot.img\x00octet\x00")
    }

    fn parse(toml_text: &str) -> Impairment {
        match toml::from_str(toml_text) {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_documented_example_parses() {
        let imp = parse(
            r#"rules = [
                { direction = "to-host", match = { dhcp = "offer" }, when = { nth = 1 }, action = "drop" },
                { match = { tftp = { opcode = "ack", block = 5 } }, action = "duplicate" },
                { match = { tftp = { opcode = "data" } }, action = { delay-ms = 200 } },
                { match = { udp = { dst_port = 69 } }, when = { first = 2 }, action = "reorder" },
                { match = "arp", when = { chance = 0.3 }, action = "drop" },
            ]"#,
        );
        assert_eq!(imp.rules.len(), 5);
        assert_eq!(imp.rules[4].when, When::Chance(0.3));
    }

    #[test]
    fn drop_the_first_offer_only() {
        let imp = parse(
            r#"rules = [{ direction = "to-host", match = { dhcp = "offer" }, when = { nth = 1 }, action = "drop" }]"#,
        );
        let mut core = Impairer::new(imp, 7);
        assert_eq!(core.decide(Direction::ToHost, &dhcp(5)), Verdict::Pass);
        assert_eq!(core.decide(Direction::FromHost, &dhcp(2)), Verdict::Pass);
        assert_eq!(
            core.decide(Direction::ToHost, &dhcp(2)),
            Verdict::Act {
                action: Action::Drop,
                rule: 0
            }
        );
        assert_eq!(core.decide(Direction::ToHost, &dhcp(2)), Verdict::Pass);
    }

    #[test]
    fn duplicate_ack_2_after_the_reply() {
        let imp = parse(
            r#"rules = [{ match = { tftp = { opcode = "ack", block = 2 } }, when = { nth = 1 }, action = "duplicate-after-reply" }]"#,
        );
        let mut core = Impairer::new(imp, 0);
        assert_eq!(core.decide(Direction::FromHost, &rrq()), Verdict::Pass);
        assert_eq!(
            core.decide(Direction::FromHost, &tftp(4, 2)),
            Verdict::Act {
                action: Action::DuplicateAfterReply,
                rule: 0
            }
        );
        assert_eq!(core.decide(Direction::FromHost, &tftp(4, 2)), Verdict::Pass);
    }

    #[test]
    fn duplicate_the_ack_of_block_5() {
        let imp = parse(
            r#"rules = [{ match = { tftp = { opcode = "ack", block = 5 } }, action = "duplicate" }]"#,
        );
        let mut core = Impairer::new(imp, 0);
        assert_eq!(core.decide(Direction::FromHost, &rrq()), Verdict::Pass);
        assert_eq!(core.decide(Direction::FromHost, &tftp(4, 4)), Verdict::Pass);
        assert_eq!(core.decide(Direction::FromHost, &tftp(3, 5)), Verdict::Pass);
        assert_eq!(
            core.decide(Direction::FromHost, &tftp(4, 5)),
            Verdict::Act {
                action: Action::Duplicate,
                rule: 0
            }
        );
        // BOOTP is never mistaken for TFTP.
        assert_eq!(core.decide(Direction::FromHost, &dhcp(4)), Verdict::Pass);
    }

    #[test]
    fn delay_every_data() {
        let imp = parse(
            r#"rules = [{ match = { tftp = { opcode = "data" } }, action = { delay-ms = 200 } }]"#,
        );
        let mut core = Impairer::new(imp, 0);
        assert_eq!(core.decide(Direction::FromHost, &rrq()), Verdict::Pass);
        for b in 1..5 {
            assert_eq!(
                core.decide(Direction::ToHost, &tftp(3, b)),
                Verdict::Act {
                    action: Action::DelayMs(200),
                    rule: 0
                }
            );
        }
    }

    #[test]
    fn random_loss_reproduces_from_the_seed() {
        let imp = parse(r#"rules = [{ when = { chance = 0.3 }, action = "drop" }]"#);
        let run = |seed| {
            let mut core = Impairer::new(imp.clone(), seed);
            (0..1000)
                .map(|i| core.decide(Direction::ToHost, &tftp(3, i)) != Verdict::Pass)
                .collect::<Vec<_>>()
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
        let lost = a.iter().filter(|d| **d).count();
        assert!((230..370).contains(&lost), "{lost}");
    }

    /// An ARP packet over Ethernet (RFC 826): `op`, sender and target protocol addresses.
    fn arp(op: u16, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend([2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        f.extend([0, 1, 0x08, 0x00, 6, 4]);
        f.extend(op.to_be_bytes());
        f.extend([2, 0, 0, 0, 0, 1]);
        f.extend(sender);
        f.extend([0; 6]);
        f.extend(target);
        f
    }

    #[test]
    fn arp_probes_are_told_from_ordinary_requests() {
        let imp = parse(
            r#"rules = [{ direction = "to-host", match = { arp = { op = 1, sender-ip = "0.0.0.0" } }, action = "drop" }]"#,
        );
        let mut core = Impairer::new(imp, 0);
        let drop = Verdict::Act {
            action: Action::Drop,
            rule: 0,
        };
        let probe = arp(1, [0, 0, 0, 0], [192, 0, 2, 100]);
        assert_eq!(core.decide(Direction::ToHost, &probe), drop);
        assert_eq!(core.decide(Direction::FromHost, &probe), Verdict::Pass);
        let request = arp(1, [192, 0, 2, 1], [192, 0, 2, 100]);
        assert_eq!(core.decide(Direction::ToHost, &request), Verdict::Pass);
        let reply_from_zero = arp(2, [0, 0, 0, 0], [192, 0, 2, 100]);
        assert_eq!(
            core.decide(Direction::ToHost, &reply_from_zero),
            Verdict::Pass
        );
        // A truncated ARP frame carries no sender address, so it is no probe.
        assert_eq!(core.decide(Direction::ToHost, &probe[..30]), Verdict::Pass);
        // `"arp"` still means every ARP frame.
        let all = parse(r#"rules = [{ match = "arp", action = "drop" }]"#);
        assert_eq!(all.rules[0].matches, Match::Arp(ArpMatch::default()));
        let bad = toml::from_str::<Impairment>(
            r#"rules = [{ match = { arp = { sender = "0.0.0.0" } }, action = "drop" }]"#,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn udp_ports_and_arp() {
        let imp = parse(
            r#"rules = [
                { match = "arp", action = "drop" },
                { match = { udp = { dst_port = 69 } }, when = { first = 2 }, action = "reorder" },
            ]"#,
        );
        let mut core = Impairer::new(imp, 0);
        let mut arp = vec![0xff; 12];
        arp.extend([0x08, 0x06]);
        arp.extend([0; 28]);
        assert_eq!(
            core.decide(Direction::Both, &arp),
            Verdict::Act {
                action: Action::Drop,
                rule: 0
            }
        );
        let rrq = udp_frame(3000, 69, b"\x00\x01boot\x00octet\x00");
        let reorder = Verdict::Act {
            action: Action::Reorder,
            rule: 1,
        };
        assert_eq!(core.decide(Direction::FromHost, &rrq), reorder);
        assert_eq!(core.decide(Direction::FromHost, &rrq), reorder);
        assert_eq!(core.decide(Direction::FromHost, &rrq), Verdict::Pass);
    }
}

//! Checks of the checklist's TFTP group (RFC 1350, RFC 1123 §4.2.3, RFC 2347-2349).

use super::{fail, Check, Outcome};
use crate::trace::{Frame, Trace};
use bootlab_wire::tftp::{self, Packet};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[("TFTP-TID-01", tid_01), ("TFTP-FLOW-01", flow_01), ("TFTP-LEN-01", len_01), ("TFTP-SAS-01", sas_01)];

/// The frames of each TFTP conversation keyed by the client's (address, port), in order.
fn conversations(t: &Trace) -> Vec<((Ipv4Addr, u16), Vec<(&Frame, &Packet)>)> {
    let mut convs: Vec<((Ipv4Addr, u16), Vec<(&Frame, &Packet)>)> = Vec::new();
    for (f, p) in t.tftp() {
        let (Some(ip), Some(udp)) = (&f.decoded.ipv4, &f.decoded.udp) else { continue };
        let key = match p {
            Packet::Rrq(_) | Packet::Wrq(_) | Packet::Ack { .. } => (ip.src, udp.src_port),
            _ => (ip.dst, udp.dst_port),
        };
        let key = if matches!(p, Packet::Error { .. }) && udp.dst_port == tftp::SERVER_PORT { (ip.src, udp.src_port) } else { key };
        match convs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push((f, p)),
            None => convs.push((key, vec![(f, p)])),
        }
    }
    convs
}

/// TFTP-TID-01: the server answers from a port other than 69.
fn tid_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, p) in t.tftp() {
        if matches!(p, Packet::Data { .. } | Packet::Oack { .. }) {
            any = true;
            if f.decoded.udp.as_ref().is_some_and(|u| u.src_port == tftp::SERVER_PORT) {
                return fail(&f.segment, f.number, "server answers from port 69 instead of a new TID");
            }
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

/// TFTP-FLOW-01: DATA blocks start at 1 and go up by one (wrapping past 65535).
fn flow_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (_, conv) in conversations(t) {
        let mut expect: Option<u16> = None;
        for (f, p) in conv {
            if let Packet::Data { block, .. } = p {
                any = true;
                let e = expect.unwrap_or(1);
                if *block == e {
                    expect = Some(e.wrapping_add(1));
                } else if Some(*block) != expect.map(|x| x.wrapping_sub(1)) && *block > e {
                    return fail(&f.segment, f.number, format!("DATA {block} where {e} was due"));
                }
            }
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

/// TFTP-LEN-01: every DATA holds blksize octets except the last.
fn len_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (_, conv) in conversations(t) {
        let blksize = conv
            .iter()
            .find_map(|(_, p)| match p {
                Packet::Oack { options } => tftp::find_option(options, "blksize").and_then(|v| v.parse::<usize>().ok()),
                _ => None,
            })
            .unwrap_or(512);
        let datas: Vec<_> = conv.iter().filter_map(|(f, p)| if let Packet::Data { block, data } = p { Some((f, *block, data.len())) } else { None }).collect();
        let Some(last) = datas.iter().map(|d| d.1).last() else { continue };
        any = true;
        for (f, block, len) in &datas {
            if *block != last && *len != blksize {
                return fail(&f.segment, f.number, format!("DATA {block} holds {len} octets, blksize is {blksize}"));
            }
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

/// TFTP-SAS-01 (RFC 1123 §4.2.3.1): a duplicate ACK never makes the sender resend the next block:
/// a second copy of DATA n+1 following a duplicate ACK n at once (well before any timeout) fails.
fn sas_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (_, conv) in conversations(t) {
        let mut acks_seen: Vec<u16> = Vec::new();
        let mut data_sent: Vec<(u16, Duration)> = Vec::new();
        for (i, (f, p)) in conv.iter().enumerate() {
            match p {
                Packet::Ack { block } => {
                    let dup = acks_seen.contains(block);
                    acks_seen.push(*block);
                    if !dup {
                        continue;
                    }
                    any = true;
                    if let Some((g, Packet::Data { block: b, .. })) = conv.get(i + 1) {
                        // A reaction, not a timeout: the copy follows the duplicate ACK at once and
                        // the previous copy of the same block went out only just before.
                        let quick = g.time.saturating_sub(f.time) < Duration::from_millis(100);
                        let prev = data_sent.iter().rev().find(|(x, _)| x == b).map(|(_, t)| *t);
                        let soon = prev.is_some_and(|t| g.time.saturating_sub(t) < Duration::from_millis(150));
                        if *b == block.wrapping_add(1) && quick && soon {
                            return fail(&g.segment, g.number, format!("DATA {b} resent right after a duplicate ACK {block} (Sorcerer's Apprentice)"));
                        }
                    }
                }
                Packet::Data { block, .. } => data_sent.push((*block, f.time)),
                _ => {}
            }
        }
    }
    if any { Outcome::Pass } else { Outcome::NotApplicable }
}

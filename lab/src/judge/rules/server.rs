//! Checks of the checklist's SRV group: server behaviour (RFC 2131 §4.3, RFC 1534, KB Q162396).

use super::query::{ip_dst, maybe_before};
use super::{fail, verdict, Check, Outcome};
use crate::judge::trace::{Frame, Trace};
use bootlab_wire::bootp::{code, Message, MessageType, Op};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[
    ("SRV-DECL-01", decl_01),
    ("SRV-DECL-02", decl_02),
    ("SRV-BOOTP-01", bootp_01),
    ("SRV-ECHO-01", echo_01),
    ("SRV-SID-01", sid_01),
    ("SRV-LEASE-01", lease_01),
    ("SRV-T12-01", t12_01),
    ("SRV-OPT-01", opt_01),
    ("SRV-PRL-01", prl_01),
    ("SRV-ALLOC-01", alloc_01),
    ("SRV-ALLOC-02", alloc_02),
    ("SRV-SEL-01", sel_01),
    ("SRV-RENEW-01", renew_01),
    ("SRV-REL-01", rel_01),
    ("SRV-INF-01", inf_01),
    ("SRV-CID-02", cid_02),
    ("SRV-82-01", r82_01),
    ("SRV-BOOTP-02", bootp_02),
    ("SRV-BOOTP-03", bootp_03),
    ("SRV-SECS-01", secs_01),
    ("SRV-IN-01", in_01),
    ("SRV-REQ-01", req_01),
    ("SRV-CID-01", cid_01),
    ("SRV-REBIND-01", rebind_01),
    ("SRV-REBOOT-01", reboot_01),
    ("SRV-PING-01", ping_01),
    ("SRV-LEASE-02", lease_02),
];

fn is_type(m: &Message, ty: MessageType) -> bool {
    m.message_type() == Some(ty)
}

/// Replies as a server sent them: BOOTREPLY from port 67, either to a client (giaddr 0) or to
/// a relay (port 67); a relay's delivery on the client link is left out, and so are replies
/// the lab's probe sent while playing a server to question a client ([`Trace::is_lab_probe`]):
/// server rules judge servers.
fn server_replies(t: &Trace) -> impl Iterator<Item = (&Frame, &Message)> {
    t.bootp().filter(|(f, m)| {
        m.op == Op::BootReply
            && f.decoded.udp.as_ref().is_some_and(|u| {
                u.src_port == 67 && (u.dst_port == 67 || m.giaddr.is_unspecified())
            })
            && !f
                .decoded
                .eth
                .as_ref()
                .is_some_and(|e| t.is_lab_probe(e.src_addr.0))
    })
}

/// The request a server reply answers: the latest request with its xid and chaddr that was
/// on its way to a server (port 67), captured before the reply.
fn request_of<'a>(t: &'a Trace, f: &Frame, m: &Message) -> Option<(&'a Frame, &'a Message)> {
    t.bootp()
        .filter(|(g, n)| {
            n.op == Op::BootRequest
                && n.xid == m.xid
                && n.chaddr == m.chaddr
                && maybe_before(g, f)
                && g.decoded.udp.as_ref().is_some_and(|u| u.dst_port == 67)
        })
        .max_by_key(|(g, _)| (g.segment == f.segment, g.number))
}

/// Addresses given to a client: OFFER/ACK/BOOTREPLY yiaddr with its chaddr, in time order.
fn grants(t: &Trace) -> Vec<(&Frame, &Message)> {
    let mut v: Vec<_> = server_replies(t)
        .filter(|(_, m)| {
            !m.yiaddr.is_unspecified()
                && (m.message_type().is_none()
                    || is_type(m, MessageType::Offer)
                    || is_type(m, MessageType::Ack))
        })
        .collect();
    v.sort_by_key(|(f, _)| f.time);
    v
}

/// Whether `chaddr` gave `addr` back (RELEASE or DECLINE) between two times.
fn gave_back(t: &Trace, chaddr: [u8; 16], addr: Ipv4Addr, from: Duration, to: Duration) -> bool {
    t.bootp().any(|(g, n)| {
        n.chaddr == chaddr
            && g.time > from
            && g.time < to
            && ((is_type(n, MessageType::Release) && n.ciaddr == addr)
                || (is_type(n, MessageType::Decline)
                    && n.options().and_then(|o| o.requested_ip_address()) == Some(addr)))
    })
}

/// Whether `chaddr` was offered or given `addr` before `at`: a DECLINE or RELEASE from anyone
/// else is a stranger's, which SEC-DECL-01 says not to honour.
fn was_granted(t: &Trace, chaddr: [u8; 16], addr: Ipv4Addr, at: Duration) -> bool {
    grants(t)
        .iter()
        .any(|(g, n)| n.chaddr == chaddr && n.yiaddr == addr && g.time < at)
}

/// SRV-DECL-01: an address its client declined is offered to nobody afterwards (within the
/// run); a stranger's DECLINE is SEC-DECL-01's concern.
fn decl_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| is_type(m, MessageType::Decline)) {
        let Some(addr) = m.options().and_then(|o| o.ip(code::REQUESTED_IP_ADDRESS)) else {
            continue;
        };
        if !was_granted(t, m.chaddr, addr, f.time) {
            continue;
        }
        any = true;
        if let Some((g, _)) = server_replies(t)
            .find(|(g, n)| g.time > f.time && is_type(n, MessageType::Offer) && n.yiaddr == addr)
        {
            return fail(
                &g.segment,
                g.number,
                format!("declined address {addr} offered again"),
            );
        }
    }
    verdict(any)
}

/// SRV-DECL-02: a DECLINE gets no reply and the client's next DISCOVER gets another address.
fn decl_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| is_type(m, MessageType::Decline)) {
        any = true;
        if let Some((g, _)) = server_replies(t).find(|(g, n)| {
            g.time > f.time
                && n.xid == m.xid
                && matches!(n.message_type(), Some(MessageType::Ack | MessageType::Nak))
        }) {
            return fail(&g.segment, g.number, "the server answered a DHCPDECLINE");
        }
    }
    verdict(any)
}

/// SRV-BOOTP-01: a request without option 53 gets a BOOTREPLY without DHCP round trips.
fn bootp_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t
        .bootp()
        .filter(|(_, m)| m.op == Op::BootRequest && m.message_type().is_none())
    {
        any = true;
        if let Some((g, _)) =
            server_replies(t).find(|(_, n)| n.xid == m.xid && n.message_type().is_some())
        {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "BOOTP request (frame {}) answered with a DHCP message",
                    f.number
                ),
            );
        }
    }
    verdict(any)
}

/// SRV-ECHO-01 (RFC 2131 Table 3, RFC 1542 §5.3): replies copy htype, hlen, chaddr, flags and
/// giaddr; DHCP replies have hops and secs 0; an ACK copies ciaddr, OFFER and NAK leave it 0; a
/// BOOTP reply keeps ciaddr.
fn echo_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in server_replies(t) {
        let Some((_, q)) = request_of(t, f, m) else {
            continue;
        };
        any = true;
        let ty = m.message_type();
        let nak = ty == Some(MessageType::Nak);
        let want_ciaddr = match ty {
            None | Some(MessageType::Ack) => q.ciaddr,
            _ => Ipv4Addr::UNSPECIFIED,
        };
        let bad = [
            (m.htype != q.htype || m.hlen != q.hlen, "htype/hlen"),
            (m.chaddr != q.chaddr, "chaddr"),
            (m.giaddr != q.giaddr, "giaddr"),
            (!nak && m.flags != q.flags, "flags"),
            (ty.is_some() && m.hops != 0, "hops (not 0)"),
            (ty.is_some() && m.secs != 0, "secs (not 0)"),
            (m.ciaddr != want_ciaddr, "ciaddr"),
        ];
        if let Some((_, what)) = bad.iter().find(|(b, _)| *b) {
            return fail(
                &f.segment,
                f.number,
                format!("reply does not echo the request's {what}"),
            );
        }
    }
    verdict(any)
}

/// SRV-SID-01 (RFC 2131 §4.1, Table 3): OFFER, ACK and NAK carry a server identifier that is an
/// address of the replying server.
fn sid_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in server_replies(t).filter(|(_, m)| {
        matches!(
            m.message_type(),
            Some(MessageType::Offer | MessageType::Ack | MessageType::Nak)
        )
    }) {
        any = true;
        let Some(sid) = m.options().and_then(|o| o.server_identifier()) else {
            return fail(&f.segment, f.number, "reply without server identifier (54)");
        };
        let sender = f
            .decoded
            .ipv4
            .as_ref()
            .and_then(|i| t.names.ips.get(&i.src));
        if let Some(host) = sender {
            if t.names.ips.get(&sid) != Some(host) {
                return fail(
                    &f.segment,
                    f.number,
                    format!("server identifier {sid} is not an address of {host}"),
                );
            }
        }
    }
    verdict(any)
}

/// Whether the reply answers a DHCPINFORM.
fn answers_inform(t: &Trace, f: &Frame, m: &Message) -> bool {
    request_of(t, f, m).is_some_and(|(_, q)| is_type(q, MessageType::Inform))
}

/// SRV-LEASE-01 (RFC 2131 Table 3): option 51 in OFFER and in ACK to REQUEST, never in NAK or in
/// the ACK to INFORM.
fn lease_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in server_replies(t) {
        let has = m
            .options()
            .is_some_and(|o| o.contains(code::IP_ADDRESS_LEASE_TIME));
        let want = match m.message_type() {
            Some(MessageType::Offer) => true,
            Some(MessageType::Ack) => !answers_inform(t, f, m),
            Some(MessageType::Nak) => false,
            _ => continue,
        };
        any = true;
        if has != want {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "{} {} option 51",
                    m.message_type().map(|x| x.to_string()).unwrap_or_default(),
                    if has { "carries" } else { "lacks" }
                ),
            );
        }
    }
    verdict(any)
}

/// SRV-T12-01 (RFC 2131 §4.4.5): T1 < T2 < lease when the server sends them.
fn t12_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in server_replies(t) {
        let Some(o) = m.options() else { continue };
        let (t1, t2, l) = (o.renewal_time(), o.rebinding_time(), o.lease_time());
        if t1.is_none() && t2.is_none() {
            continue;
        }
        any = true;
        let order = [t1, t2, l];
        let known: Vec<u32> = order.iter().flatten().copied().collect();
        if known.windows(2).any(|w| w[0] >= w[1] && w[1] != u32::MAX) {
            return fail(
                &f.segment,
                f.number,
                format!("T1 {t1:?}, T2 {t2:?}, lease {l:?} not increasing"),
            );
        }
    }
    verdict(any)
}

/// SRV-OPT-01 (RFC 2131 Table 3): no 50, 55 or 57 in replies; a NAK carries only 53, 54, 56, 60,
/// 61 (and an echoed 82).
fn opt_01(t: &Trace) -> Outcome {
    const NAK_ALLOWED: [u8; 6] = [53, 54, 56, 60, 61, 82];
    let mut any = false;
    for (f, m) in server_replies(t) {
        let Some(o) = m.options() else { continue };
        any = true;
        if let Some(c) = [50u8, 55, 57].into_iter().find(|c| o.contains(*c)) {
            return fail(&f.segment, f.number, format!("reply carries option {c}"));
        }
        if is_type(m, MessageType::Nak) {
            if let Some(c) = o.codes().into_iter().find(|c| !NAK_ALLOWED.contains(c)) {
                return fail(&f.segment, f.number, format!("DHCPNAK carries option {c}"));
            }
        }
    }
    verdict(any)
}

/// SRV-PRL-01 (RFC 2131 §4.3.1, RFC 2132 §9.8): requested parameters come back once each and,
/// apart from the ones a server always sends first (51, 54, 58, 59), in the client's order.
fn prl_01(t: &Trace) -> Outcome {
    const ALWAYS: [u8; 7] = [51, 52, 53, 54, 58, 59, 61];
    let mut any = false;
    for (f, m) in server_replies(t) {
        let Some((_, q)) = request_of(t, f, m) else {
            continue;
        };
        let Some(prl) = q.options().and_then(|o| o.parameter_request_list()) else {
            continue;
        };
        let Some(o) = m.options() else { continue };
        any = true;
        let mut positions = Vec::new();
        for (i, opt) in o.0.iter().enumerate() {
            if !prl.contains(&opt.code) {
                continue;
            }
            if o.0[..i].iter().any(|x| x.code == opt.code)
                && o.get(opt.code).is_some_and(|d| d.len() <= 255)
            {
                return fail(
                    &f.segment,
                    f.number,
                    format!("requested option {} returned twice", opt.code),
                );
            }
            if !ALWAYS.contains(&opt.code) {
                positions.push(prl.iter().position(|c| *c == opt.code).unwrap_or(0));
            }
        }
        if positions.windows(2).any(|w| w[0] > w[1]) {
            return fail(
                &f.segment,
                f.number,
                "requested options not in the order of the parameter request list",
            );
        }
    }
    verdict(any)
}

/// SRV-ALLOC-01 (RFC 2131 §4.3.1): a client that had an address is offered it again on its next
/// DISCOVER, unless it gave it back or it went to another client.
fn alloc_01(t: &Trace) -> Outcome {
    let g = grants(t);
    let mut any = false;
    for (i, (f, m)) in g
        .iter()
        .enumerate()
        .filter(|(_, (_, m))| is_type(m, MessageType::Offer))
    {
        // The same client: same chaddr and the same client identifier (echoed, RFC 6842), which
        // keys the binding when present (RFC 2131 §4.2).
        let cid = |x: &Message| x.options().and_then(|o| o.client_identifier());
        let prev = g[..i].iter().rev().find(|(h, n)| {
            n.chaddr == m.chaddr
                && cid(n) == cid(m)
                && is_type(n, MessageType::Ack)
                && n.xid != m.xid
                && h.time < f.time
        });
        let Some((h, n)) = prev else { continue };
        let a = n.yiaddr;
        if gave_back(t, m.chaddr, a, h.time, f.time)
            && !t
                .bootp()
                .any(|(_, x)| is_type(x, MessageType::Release) && x.chaddr == m.chaddr)
        {
            continue;
        }
        if g[..i]
            .iter()
            .any(|(k, x)| k.time > h.time && x.chaddr != m.chaddr && x.yiaddr == a)
        {
            continue;
        }
        any = true;
        if m.yiaddr != a {
            return fail(
                &f.segment,
                f.number,
                format!("returning client offered {}, it had {a}", m.yiaddr),
            );
        }
    }
    verdict(any)
}

/// SRV-ALLOC-02 (RFC 2131 §3.1, §4.3.1): an address offered or leased to one client is not given
/// to another unless the first gave it back.
fn alloc_02(t: &Trace) -> Outcome {
    let g = grants(t);
    let mut any = false;
    for (i, (f, m)) in g.iter().enumerate() {
        any = true;
        let earlier = g[..i]
            .iter()
            .rev()
            .find(|(h, n)| n.yiaddr == m.yiaddr && n.chaddr != m.chaddr && h.time < f.time);
        if let Some((h, n)) = earlier {
            if !gave_back(t, n.chaddr, m.yiaddr, h.time, f.time) {
                return fail(
                    &f.segment,
                    f.number,
                    format!(
                        "{} given to {} while another client holds it (frame {})",
                        m.yiaddr,
                        t.names.mac(m.chaddr_mac()),
                        h.number
                    ),
                );
            }
        }
    }
    verdict(any)
}

/// SRV-SEL-01 (RFC 2131 §3.1 (4)): a server not named in a SELECTING REQUEST sends nothing for
/// it.
fn sel_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(f, m)| {
        is_type(m, MessageType::Request)
            && m.ciaddr.is_unspecified()
            && f.decoded.udp.as_ref().is_some_and(|u| u.src_port == 68)
    }) {
        let Some(sid) = m.options().and_then(|o| o.server_identifier()) else {
            continue;
        };
        any = true;
        let other = server_replies(t).find(|(g, n)| {
            g.time > f.time
                && n.xid == m.xid
                && matches!(n.message_type(), Some(MessageType::Ack | MessageType::Nak))
                && n.options()
                    .and_then(|o| o.server_identifier())
                    .is_some_and(|s| s != sid)
        });
        if let Some((g, _)) = other {
            return fail(
                &g.segment,
                g.number,
                format!("a server other than {sid} answered a REQUEST naming {sid}"),
            );
        }
    }
    verdict(any)
}

/// SRV-RENEW-01 (RFC 2131 §4.3.2): a RENEWING REQUEST is answered by an ACK unicast to ciaddr.
fn renew_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in server_replies(t) {
        let Some((g, q)) = request_of(t, f, m) else {
            continue;
        };
        let renewing = is_type(q, MessageType::Request)
            && !q.ciaddr.is_unspecified()
            && ip_dst(g) != Some(Ipv4Addr::BROADCAST)
            && q.giaddr.is_unspecified();
        if !renewing {
            continue;
        }
        any = true;
        if is_type(m, MessageType::Ack) && (ip_dst(f) != Some(q.ciaddr) || m.yiaddr != q.ciaddr) {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "ACK to a renewal of {} sent to {:?} with yiaddr {}",
                    q.ciaddr,
                    ip_dst(f),
                    m.yiaddr
                ),
            );
        }
        if !matches!(m.message_type(), Some(MessageType::Ack | MessageType::Nak)) {
            return fail(
                &f.segment,
                f.number,
                "renewal answered with neither ACK nor NAK",
            );
        }
    }
    verdict(any)
}

/// SRV-REL-01 (RFC 2131 §4.3.4): RELEASE gets no reply, and the released address goes back to
/// the same client first.
fn rel_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| is_type(m, MessageType::Release)) {
        any = true;
        if let Some((g, _)) = server_replies(t).find(|(g, n)| g.time > f.time && n.xid == m.xid) {
            return fail(&g.segment, g.number, "the server answered a DHCPRELEASE");
        }
        // A stranger's RELEASE frees nothing (SEC-DECL-01), so only the holder's counts here.
        if !was_granted(t, m.chaddr, m.ciaddr, f.time) {
            continue;
        }
        let next = grants(t)
            .into_iter()
            .find(|(g, n)| g.time > f.time && (n.yiaddr == m.ciaddr || n.chaddr == m.chaddr));
        if let Some((g, n)) = next {
            if n.chaddr != m.chaddr || n.yiaddr != m.ciaddr {
                return fail(
                    &g.segment,
                    g.number,
                    format!(
                        "released {} went to {} / the client got {}",
                        m.ciaddr,
                        t.names.mac(n.chaddr_mac()),
                        n.yiaddr
                    ),
                );
            }
        }
    }
    verdict(any)
}

/// SRV-INF-01 (RFC 2131 §3.4, §4.3.5): the ACK to an INFORM has no lease time and yiaddr 0.
fn inf_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in server_replies(t).filter(|(f, m)| answers_inform(t, f, m)) {
        any = true;
        if !m.yiaddr.is_unspecified()
            || m.options()
                .is_some_and(|o| o.contains(code::IP_ADDRESS_LEASE_TIME))
        {
            return fail(
                &f.segment,
                f.number,
                "ACK to an INFORM with yiaddr or lease time",
            );
        }
    }
    verdict(any)
}

/// SRV-CID-02 (RFC 6842 §3): OFFER, ACK and NAK echo the client's option 61 unchanged.
fn cid_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in server_replies(t).filter(|(_, m)| {
        matches!(
            m.message_type(),
            Some(MessageType::Offer | MessageType::Ack | MessageType::Nak)
        )
    }) {
        let Some((_, q)) = request_of(t, f, m) else {
            continue;
        };
        let Some(cid) = q.options().and_then(|o| o.client_identifier()) else {
            continue;
        };
        any = true;
        if m.options().and_then(|o| o.client_identifier()) != Some(cid) {
            return fail(
                &f.segment,
                f.number,
                "reply does not echo the client identifier (61)",
            );
        }
    }
    verdict(any)
}

/// SRV-82-01 (RFC 3046 §2.2): a reply to a relayed request with option 82 echoes it verbatim in
/// the options field.
fn r82_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in
        server_replies(t).filter(|(f, _)| f.decoded.udp.as_ref().is_some_and(|u| u.dst_port == 67))
    {
        let Some((_, q)) = request_of(t, f, m) else {
            continue;
        };
        let Some(want) = q
            .options()
            .and_then(|o| o.get(code::RELAY_AGENT_INFORMATION))
        else {
            continue;
        };
        any = true;
        if m.options()
            .and_then(|o| o.get(code::RELAY_AGENT_INFORMATION))
            != Some(want)
        {
            return fail(&f.segment, f.number, "reply does not echo option 82");
        }
    }
    verdict(any)
}

/// SRV-BOOTP-02 (RFC 1534 §2, RFC 951 §7.3): an address given to a BOOTP client is permanent:
/// nobody else gets it afterwards.
fn bootp_02(t: &Trace) -> Outcome {
    let g = grants(t);
    let mut any = false;
    for (f, m) in g.iter().filter(|(_, m)| m.message_type().is_none()) {
        any = true;
        if let Some((h, _)) = g
            .iter()
            .find(|(h, n)| h.time > f.time && n.yiaddr == m.yiaddr && n.chaddr != m.chaddr)
        {
            return fail(
                &h.segment,
                h.number,
                format!(
                    "{} given away after a BOOTP client got it (frame {})",
                    m.yiaddr, f.number
                ),
            );
        }
    }
    verdict(any)
}

/// SRV-BOOTP-03 (RFC 951 §7.3): a BOOTREPLY naming a boot file names its server in siaddr.
fn bootp_03(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in
        server_replies(t).filter(|(_, m)| m.message_type().is_none() && !m.file_str().is_empty())
    {
        any = true;
        if m.siaddr.is_unspecified() {
            return fail(
                &f.segment,
                f.number,
                format!("BOOTREPLY names file {:?} but siaddr is 0", m.file_str()),
            );
        }
    }
    verdict(any)
}

/// SRV-SECS-01 (RFC 1542 §5.2, RFC 951 §7.1): a server configured with a secs threshold T (the
/// role's `secs-threshold`) answers no DISCOVER/BOOTREQUEST whose secs is below T; and any
/// server's threshold is consistent: while it is answering a client, it never ignores a request
/// with secs at least as high as one it answered.
fn secs_01(t: &Trace) -> Outcome {
    let reqs: Vec<(&Frame, &Message)> = t
        .bootp()
        .filter(|(f, m)| {
            f.decoded
                .udp
                .as_ref()
                .is_some_and(|u| u.src_port == 68 && u.dst_port == 67 && u.payload_len >= 300)
                && (m.message_type().is_none() || is_type(m, MessageType::Discover))
        })
        .collect();
    // Which server (by IP source) answered which request: the first reply with its xid after it
    // and before the next copy.
    let answered_by = |i: usize| -> Vec<Ipv4Addr> {
        let (f, m) = reqs[i];
        let next = reqs[i + 1..]
            .iter()
            .find(|(_, n)| n.xid == m.xid && n.chaddr == m.chaddr)
            .map(|(g, _)| g.time)
            .unwrap_or(Duration::MAX);
        server_replies(t)
            .filter(|(g, n)| n.xid == m.xid && g.time > f.time && g.time < next)
            .filter_map(|(g, _)| g.decoded.ipv4.as_ref().map(|i| i.src))
            .collect()
    };
    let answers: Vec<Vec<Ipv4Addr>> = (0..reqs.len()).map(answered_by).collect();
    let mut any = false;
    for role in t.roles.values().filter(|r| r.kind.is_server()) {
        let Some(threshold) = role.secs_threshold else {
            continue;
        };
        for (i, (f, m)) in reqs.iter().enumerate() {
            any = true;
            let by_role = answers[i]
                .iter()
                .find(|ip| t.names.ips.get(ip).is_some_and(|h| *h == role.host));
            if let (true, Some(ip)) = (m.secs < threshold, by_role) {
                return fail(
                    &f.segment,
                    f.number,
                    format!(
                        "request with secs {} answered by {} ({ip}), whose secs threshold is {threshold}",
                        m.secs, role.host
                    ),
                );
            }
        }
    }
    let mut servers: Vec<Ipv4Addr> = answers.iter().flatten().copied().collect();
    servers.sort();
    servers.dedup();
    any |= !servers.is_empty();
    for s in servers {
        for (i, (f, m)) in reqs.iter().enumerate() {
            if answers[i].contains(&s) {
                continue;
            }
            // Ignored by s while it was alive (it answered something later), although it
            // answered a request of the same client with no more secs.
            let alive = reqs
                .iter()
                .enumerate()
                .any(|(j, (g, _))| g.time > f.time && answers[j].contains(&s));
            let later = reqs.iter().enumerate().find(|(j, (_, n))| {
                n.chaddr == m.chaddr && n.secs <= m.secs && answers[*j].contains(&s)
            });
            if let (true, Some((_, (g, n)))) = (alive, later) {
                return fail(&f.segment, f.number, format!("{s} ignored this request with secs {} but answered one with secs {} (frame {})", m.secs, n.secs, g.number));
            }
        }
    }
    verdict(any)
}

/// Server replies to the request at `f`: same xid, captured after it and before the next copy
/// of a request with that xid on the same segment.
fn replies_to<'a>(
    t: &'a Trace,
    f: &'a Frame,
    m: &'a Message,
) -> impl Iterator<Item = (&'a Frame, &'a Message)> + 'a {
    let next = t
        .bootp()
        .find(|(g, n)| {
            g.segment == f.segment && g.number > f.number && n.op != Op::BootReply && n.xid == m.xid
        })
        .map(|(g, _)| g.number)
        .unwrap_or(usize::MAX);
    server_replies(t).filter(move |(g, n)| {
        n.xid == m.xid && maybe_before(f, g) && (g.segment != f.segment || g.number < next)
    })
}

/// SRV-IN-01 (RFC 1542 §5.1, §2.1): messages shorter than 300 octets or with an unknown op are
/// dropped silently.
fn in_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t
        .bootp()
        .filter(|(f, _)| f.decoded.udp.as_ref().is_some_and(|u| u.dst_port == 67))
    {
        let len = f.decoded.udp.as_ref().map(|u| u.payload_len).unwrap_or(0);
        let bad = len < bootlab_wire::bootp::MIN_MESSAGE_LEN || matches!(m.op, Op::Unknown(_));
        if !bad {
            continue;
        }
        any = true;
        if let Some((g, _)) = replies_to(t, f, m).next() {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "server answered a malformed request (frame {}: {len} octets, op {:?})",
                    f.number, m.op
                ),
            );
        }
    }
    verdict(any)
}

/// Who holds an address at a time: the chaddr of the last grant (OFFER/ACK/BOOTREPLY) of it, unless
/// given back since.
fn holder(t: &Trace, addr: Ipv4Addr, at: &Frame) -> Option<[u8; 16]> {
    let (h, n) = grants(t)
        .into_iter()
        .rfind(|(g, n)| n.yiaddr == addr && g.time < at.time && !is_type(n, MessageType::Offer))?;
    (!gave_back(t, n.chaddr, addr, h.time, at.time)).then_some(n.chaddr)
}

/// SRV-REQ-01 (RFC 2131 §3.1 (4), §3.5): a REQUEST for an address another client holds is
/// answered with a DHCPNAK, never an ACK.
fn req_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(f, m)| {
        is_type(m, MessageType::Request)
            && m.ciaddr.is_unspecified()
            && f.decoded.udp.as_ref().is_some_and(|u| u.src_port == 68)
    }) {
        let Some(a) = m.options().and_then(|o| o.requested_ip_address()) else {
            continue;
        };
        let Some(owner) = holder(t, a, f) else {
            continue;
        };
        if owner == m.chaddr {
            continue;
        }
        any = true;
        if let Some((g, _)) = replies_to(t, f, m).find(|(_, n)| is_type(n, MessageType::Ack)) {
            return fail(
                &g.segment,
                g.number,
                format!("ACK for {a}, which another client holds"),
            );
        }
    }
    verdict(any)
}

/// SRV-CID-01 (RFC 2131 §4.2): bindings follow the client identifier when there is one: the same
/// identifier keeps its address across chaddrs, two identifiers behind one chaddr get two.
fn cid_01(t: &Trace) -> Outcome {
    let mut any = false;
    let acks: Vec<(&Frame, &Message, Vec<u8>)> = server_replies(t)
        .filter(|(_, m)| is_type(m, MessageType::Ack) && !m.yiaddr.is_unspecified())
        .filter_map(|(f, m)| {
            let (_, q) = request_of(t, f, m)?;
            q.options()
                .and_then(|o| o.client_identifier())
                .map(|c| (f, m, c))
        })
        .collect();
    for (i, (f, m, c)) in acks.iter().enumerate() {
        for (g, n, d) in &acks[..i] {
            let released = gave_back(t, n.chaddr, n.yiaddr, g.time, f.time);
            if released {
                continue;
            }
            if c == d && m.chaddr != n.chaddr {
                any = true;
                if m.yiaddr != n.yiaddr {
                    return fail(
                        &f.segment,
                        f.number,
                        format!(
                            "same client identifier, other chaddr: {} instead of {}",
                            m.yiaddr, n.yiaddr
                        ),
                    );
                }
            }
            if c != d && m.chaddr == n.chaddr {
                any = true;
                if m.yiaddr == n.yiaddr {
                    return fail(
                        &f.segment,
                        f.number,
                        format!(
                            "two client identifiers behind one chaddr share {}",
                            m.yiaddr
                        ),
                    );
                }
            }
        }
    }
    verdict(any)
}

/// Whether a server role reported leases it loaded from an earlier run (our server's `ready`
/// event, `leases` > 0): its records then reach before the trace.
fn preloaded(t: &Trace) -> bool {
    t.roles.iter().any(|(name, r)| {
        r.kind.is_server()
            && t.events_of(name, "ready")
                .any(|e| e.fields.get("leases").and_then(|v| v.as_u64()).unwrap_or(0) > 0)
    })
}

/// Whether the trace has a DHCP or BOOTP server role, so a request's silence means something.
fn has_server(t: &Trace) -> bool {
    t.roles.values().any(|r| r.kind.is_server())
}

/// Whether `chaddr` was ACKed `addr` before `f` by a server (the server's record of the binding).
fn acked_before(t: &Trace, chaddr: [u8; 16], addr: Ipv4Addr, f: &Frame) -> bool {
    grants(t).iter().any(|(g, n)| {
        n.chaddr == chaddr && n.yiaddr == addr && !is_type(n, MessageType::Offer) && g.time < f.time
    })
}

/// SRV-REBIND-01 (RFC 2131 §4.3.2): a REBINDING request (broadcast, `ciaddr` set, no server
/// identifier, no requested address) is ACKed only for a lease the server granted that client.
fn rebind_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        let o = m.options();
        if !is_type(m, MessageType::Request)
            || m.ciaddr.is_unspecified()
            || !super::query::from_client(f, m)
            || ip_dst(f) != Some(Ipv4Addr::BROADCAST)
            || o.and_then(|o| o.server_identifier()).is_some()
            || o.and_then(|o| o.requested_ip_address()).is_some()
            || !has_server(t)
        {
            continue;
        }
        any = true;
        if preloaded(t) || acked_before(t, m.chaddr, m.ciaddr, f) {
            continue;
        }
        if let Some((g, _)) = replies_to(t, f, m).find(|(_, n)| is_type(n, MessageType::Ack)) {
            return fail(
                &g.segment,
                g.number,
                format!(
                    "ACK to a REBINDING request (frame {}) for {}, a lease no server of the run granted that client",
                    f.number, m.ciaddr
                ),
            );
        }
    }
    verdict(any)
}

/// The network of `addr` as a server told it: the subnet mask of a reply by the server that
/// offered or acknowledged an address (yiaddr & option 1), when that network holds `addr`.
fn known_network_holds(t: &Trace, server: Option<Ipv4Addr>, addr: Ipv4Addr) -> Option<bool> {
    let mut seen = None;
    for (_, n) in server_replies(t) {
        let Some(o) = n.options() else { continue };
        if server.is_some() && o.server_identifier() != server {
            continue;
        }
        let (Some(mask), false) = (o.ip(code::SUBNET_MASK), n.yiaddr.is_unspecified()) else {
            continue;
        };
        let m = u32::from(mask);
        let inside = u32::from(n.yiaddr) & m == u32::from(addr) & m;
        seen = Some(seen.unwrap_or(false) || inside);
    }
    seen
}

/// SRV-REBOOT-01 (RFC 2131 §4.3.2): to an INIT-REBOOT request (no server identifier, a
/// requested address, `ciaddr` 0) a server ACKs only that client's own address, NAKs an address
/// that is not the client's, and stays silent about a client it has no record of (unless the
/// address is on the wrong network, which earns a NAK).
fn reboot_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        let Some(o) = m.options() else { continue };
        let Some(want) = o.requested_ip_address() else {
            continue;
        };
        if !is_type(m, MessageType::Request)
            || !m.ciaddr.is_unspecified()
            || o.server_identifier().is_some()
            || !super::query::from_client(f, m)
            || !has_server(t)
        {
            continue;
        }
        any = true;
        let record = preloaded(t)
            || grants(t).iter().any(|(g, n)| {
                n.chaddr == m.chaddr && !is_type(n, MessageType::Offer) && g.time < f.time
            });
        for (g, r) in replies_to(t, f, m) {
            let server = r.options().and_then(|o| o.server_identifier());
            if is_type(r, MessageType::Ack) {
                if r.yiaddr != want {
                    return fail(
                        &g.segment,
                        g.number,
                        format!(
                            "ACK with yiaddr {} to an INIT-REBOOT request for {want}",
                            r.yiaddr
                        ),
                    );
                }
                if let Some(owner) = holder(t, want, f).filter(|o| *o != m.chaddr) {
                    return fail(
                        &g.segment,
                        g.number,
                        format!(
                            "ACK for {want} to an INIT-REBOOT request, but {want} is bound to {}",
                            t.names.mac(mac_of(owner))
                        ),
                    );
                }
                if !record {
                    return fail(
                        &g.segment,
                        g.number,
                        format!("ACK for {want} to a client this server has no record of; it must stay silent"),
                    );
                }
            } else if is_type(r, MessageType::Nak)
                && !record
                && known_network_holds(t, server, want) == Some(true)
            {
                return fail(
                    &g.segment,
                    g.number,
                    format!(
                        "NAK to an INIT-REBOOT request for {want} (on the server's network) from a client it has no record of; it must stay silent"
                    ),
                );
            }
        }
    }
    verdict(any)
}

fn mac_of(chaddr: [u8; 16]) -> [u8; 6] {
    let mut m = [0u8; 6];
    m.copy_from_slice(&chaddr[..6]);
    m
}

/// SRV-PING-01 (RFC 2131 §2.2, §3.1 (2)): before offering a new address the server checks it (an
/// ICMP echo or an ARP request for it). A missing check is judged where it shows: the address
/// offered is held by another host of the lab. A checked offer passes; an unchecked offer of a
/// free address proves nothing (not applicable).
fn ping_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (g, r) in server_replies(t).filter(|(_, r)| is_type(r, MessageType::Offer)) {
        let a = r.yiaddr;
        if a.is_unspecified() || acked_before(t, r.chaddr, a, g) {
            continue;
        }
        let Some(server_mac) = g.decoded.eth.as_ref().map(|e| e.src_addr.0) else {
            continue;
        };
        // Only a server of the run is judged: a probe playing a server asks its own questions.
        let runs_server = t
            .names
            .macs
            .get(&server_mac)
            .is_some_and(|h| t.roles.values().any(|r| r.kind.is_server() && &r.host == h));
        if !runs_server {
            continue;
        }
        let asked = t.frames.iter().any(|h| {
            maybe_before(h, g)
                && h.decoded
                    .eth
                    .as_ref()
                    .is_some_and(|e| e.src_addr.0 == server_mac)
                && (h.decoded.arp.as_ref().is_some_and(|p| {
                    p.operation == bootlab_wire::arp::Operation::Request
                        && p.target_protocol_addr == a
                }) || h
                    .decoded
                    .ipv4
                    .as_ref()
                    .is_some_and(|i| i.protocol == 1 && i.dst == a))
        });
        let client = t.names.macs.get(&mac_of(r.chaddr));
        let held_by = t.names.ips.get(&a).filter(|h| Some(*h) != client);
        if asked {
            any = true;
        } else if let Some(h) = held_by {
            return fail(
                &g.segment,
                g.number,
                format!("offered {a}, which host {h} holds, without checking it first (no ICMP echo, no ARP request for it)"),
            );
        }
    }
    verdict(any)
}

/// SRV-LEASE-02 (RFC 2131 §4.3.1, §3.3): the lease length of a new binding is the configured
/// default when the client asks for none, and what it asks for only within the configured
/// maximum (0xffffffff, infinity, included). Judged on servers that report their lease policy
/// in their `ready` event (`lease_time`, `max_lease_time`, and no per-subnet overrides); the
/// length kept for a known binding is not judged here.
fn lease_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (name, role) in &t.roles {
        if !role.kind.is_server() {
            continue;
        }
        for e in t.events_of(name, "ready") {
            let f = &e.fields;
            let (Some(default), Some(max), Some(address)) = (
                f.get("lease_time").and_then(|v| v.as_u64()),
                f.get("max_lease_time").and_then(|v| v.as_u64()),
                f.get("address")
                    .and_then(|v| v.as_str())
                    .and_then(|a| a.parse::<Ipv4Addr>().ok()),
            ) else {
                continue;
            };
            if f.get("lease_times_vary").and_then(|v| v.as_bool()) != Some(false) {
                continue;
            }
            for (g, r) in server_replies(t) {
                if !(is_type(r, MessageType::Offer) || is_type(r, MessageType::Ack))
                    || r.options().and_then(|o| o.server_identifier()) != Some(address)
                    || acked_before(t, r.chaddr, r.yiaddr, g)
                {
                    continue;
                }
                let Some((_, q)) = request_of(t, g, r) else {
                    continue;
                };
                if !q.ciaddr.is_unspecified() {
                    continue; // RENEWING, REBINDING or INFORM: a known binding or none
                }
                let asked = q.options().and_then(|o| o.lease_time()).filter(|v| *v > 0);
                let want = asked.map_or(default, |a| u64::from(a).min(max));
                let got = r.options().and_then(|o| o.lease_time());
                any = true;
                if got.map(u64::from) != Some(want) {
                    return fail(
                        &g.segment,
                        g.number,
                        format!(
                            "lease time {got:?} for a new binding; asked {asked:?}, default {default}, maximum {max}: expected {want}"
                        ),
                    );
                }
            }
        }
    }
    verdict(any)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    fn ok() -> Trace {
        dora(|_, _| {}).done()
    }

    fn edit(ty: MessageType, e: impl Fn(&mut Message)) -> Trace {
        dora(|t, m| {
            if t == ty {
                e(m)
            }
        })
        .done()
    }

    /// DORA for CLIENT, then a DECLINE or RELEASE (or nothing) and a second client's exchange
    /// offering `next`.
    fn then_other(give_back: Option<MessageType>, next: Ipv4Addr, who: [u8; 6]) -> Trace {
        let mut k = dora(|_, _| {});
        if let Some(ty) = give_back {
            let mut x = Message::new_dhcp(ty, 0x1234, CLIENT);
            if ty == MessageType::Release {
                x.ciaddr = YIADDR;
            } else {
                x.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, YIADDR);
            }
            x.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER_IP);
            k.bootp("lan", 400, (CLIENT, x.ciaddr, 68), (BCAST, ALL, 67), &x);
        }
        let d = client_msg(MessageType::Discover, 0x2222, who);
        k.bootp("lan", 500, (who, ZERO, 68), (BCAST, ALL, 67), &d);
        let o = server_msg(MessageType::Offer, &d, next);
        k.bootp("lan", 600, (SERVER, SERVER_IP, 67), (who, next, 68), &o);
        k.done()
    }

    const OTHER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 101);

    #[test]
    fn decl_01_02_quarantine_and_silence() {
        let good = then_other(Some(MessageType::Decline), OTHER, CLIENT);
        pass_fail(
            decl_01,
            &good,
            &then_other(Some(MessageType::Decline), YIADDR, CLIENT2),
        );
        let mut bad = Kit::new();
        bad.trace = good.clone();
        let q = Message::new_dhcp(MessageType::Decline, 0x1234, CLIENT);
        bad.bootp(
            "lan",
            700,
            (SERVER, SERVER_IP, 67),
            (BCAST, ALL, 68),
            &server_msg(MessageType::Ack, &q, YIADDR),
        );
        pass_fail(decl_02, &good, &bad.done());
    }

    #[test]
    fn bootp_01_answers_bootp_with_bootp() {
        let bad = bootp_exchange(|op, m| {
            if op == Op::BootReply {
                m.options_mut().set_message_type(MessageType::Offer)
            }
        });
        pass_fail(bootp_01, &bootp_exchange(|_, _| {}).done(), &bad.done());
    }

    #[test]
    fn echo_01_copies_the_fields() {
        pass_fail(echo_01, &ok(), &edit(MessageType::Offer, |m| m.secs = 2));
        assert!(matches!(
            echo_01(&edit(MessageType::Offer, |m| m.ciaddr = YIADDR)),
            Outcome::Fail(_)
        ));
        assert_eq!(echo_01(&relayed_dora(|_, _, _| {}).done()), Outcome::Pass);
    }

    #[test]
    fn sid_01_names_the_server() {
        pass_fail(
            sid_01,
            &ok(),
            &edit(MessageType::Ack, |m| {
                m.options_mut().set_ip(code::SERVER_IDENTIFIER, RELAY_C_IP)
            }),
        );
    }

    #[test]
    fn lease_01_wants_51_in_offer_and_ack() {
        pass_fail(
            lease_01,
            &ok(),
            &edit(MessageType::Offer, |m| {
                m.options_mut().remove(code::IP_ADDRESS_LEASE_TIME);
            }),
        );
    }

    #[test]
    fn t12_01_orders_the_timers() {
        pass_fail(
            t12_01,
            &ok(),
            &edit(MessageType::Ack, |m| {
                m.options_mut().set_u32(code::RENEWAL_TIME_VALUE, 600)
            }),
        );
    }

    #[test]
    fn opt_01_forbids_client_options_in_replies() {
        pass_fail(
            opt_01,
            &ok(),
            &edit(MessageType::Ack, |m| {
                m.options_mut()
                    .set_u16(code::MAXIMUM_DHCP_MESSAGE_SIZE, 1500)
            }),
        );
        let nak = edit(MessageType::Ack, |m| {
            m.options_mut().set_message_type(MessageType::Nak);
        });
        assert!(
            matches!(opt_01(&nak), Outcome::Fail(_)),
            "NAK with lease time"
        );
    }

    #[test]
    fn prl_01_follows_the_list() {
        let good = edit(MessageType::Ack, |m| {
            m.options_mut().push(code::ROUTER, vec![192, 0, 2, 1]);
            m.options_mut()
                .push(code::DOMAIN_NAME_SERVER, vec![192, 0, 2, 1]);
        });
        let bad = edit(MessageType::Ack, |m| {
            m.options_mut()
                .push(code::DOMAIN_NAME_SERVER, vec![192, 0, 2, 1]);
            m.options_mut().push(code::ROUTER, vec![192, 0, 2, 1]);
        });
        pass_fail(prl_01, &good, &bad);
    }

    #[test]
    fn alloc_01_gives_a_returning_client_its_address() {
        let good = then_other(None, YIADDR, CLIENT);
        pass_fail(alloc_01, &good, &then_other(None, OTHER, CLIENT));
    }

    #[test]
    fn alloc_02_never_gives_one_address_twice() {
        let good = then_other(Some(MessageType::Release), YIADDR, CLIENT2);
        pass_fail(alloc_02, &good, &then_other(None, YIADDR, CLIENT2));
    }

    #[test]
    fn sel_01_only_the_named_server_answers() {
        let mut bad = dora(|_, _| {});
        let q = client_msg(MessageType::Request, 0x1234, CLIENT);
        let mut a = server_msg(MessageType::Nak, &q, ZERO);
        a.options_mut()
            .set_ip(code::SERVER_IDENTIFIER, Ipv4Addr::new(192, 0, 2, 2));
        bad.bootp(
            "lan",
            310,
            (SERVER, Ipv4Addr::new(192, 0, 2, 2), 67),
            (BCAST, ALL, 68),
            &a,
        );
        pass_fail(sel_01, &ok(), &bad.done());
    }

    #[test]
    fn renew_01_acks_to_ciaddr() {
        let mk = |dst: End| {
            let mut k = dora(|_, _| {});
            let mut r = client_msg(MessageType::Request, 0x31, CLIENT);
            r.ciaddr = YIADDR;
            k.bootp(
                "lan",
                1000,
                (CLIENT, YIADDR, 68),
                (SERVER, SERVER_IP, 67),
                &r,
            );
            let a = server_msg(MessageType::Ack, &r, YIADDR);
            k.bootp("lan", 1010, (SERVER, SERVER_IP, 67), dst, &a);
            k.done()
        };
        pass_fail(renew_01, &mk((CLIENT, YIADDR, 68)), &mk((BCAST, ALL, 68)));
    }

    #[test]
    fn rel_01_keeps_the_address_for_its_client() {
        let good = then_other(Some(MessageType::Release), YIADDR, CLIENT);
        pass_fail(
            rel_01,
            &good,
            &then_other(Some(MessageType::Release), YIADDR, CLIENT2),
        );
    }

    fn inform(e: impl Fn(&mut Message)) -> Trace {
        let mut k = Kit::new();
        let mut inf = Message::new_dhcp(MessageType::Inform, 5, CLIENT);
        inf.ciaddr = YIADDR;
        k.bootp("lan", 0, (CLIENT, YIADDR, 68), (BCAST, ALL, 67), &inf);
        let mut a = Message::new_reply(&inf);
        a.ciaddr = YIADDR;
        a.options_mut().set_message_type(MessageType::Ack);
        a.options_mut().set_ip(code::SERVER_IDENTIFIER, SERVER_IP);
        e(&mut a);
        k.bootp("lan", 10, (SERVER, SERVER_IP, 67), (CLIENT, YIADDR, 68), &a);
        k.done()
    }

    #[test]
    fn inf_01_and_lease_01_on_inform() {
        let bad = inform(|m| m.options_mut().set_u32(code::IP_ADDRESS_LEASE_TIME, 600));
        pass_fail(inf_01, &inform(|_| {}), &bad);
        pass_fail(lease_01, &inform(|_| {}), &bad);
    }

    /// `t` with the server host running nothing but the lab's probe.
    fn played_by_the_probe(t: &Trace) -> Trace {
        let mut t = t.clone();
        t.roles.retain(|_, r| r.host != "server");
        let mut probe = t.roles["client"].clone();
        probe.kind = crate::plan::role_kind::RoleKind::Probe;
        probe.host = "server".into();
        t.roles.insert("probe".into(), probe);
        t
    }

    #[test]
    fn replies_the_labs_probe_sends_are_not_judged() {
        let cid = vec![1, 2, 0, 0, 0, 0, 1];
        let bad = dora(|t, m| {
            if matches!(t, MessageType::Discover | MessageType::Request) {
                m.options_mut().push(code::CLIENT_IDENTIFIER, cid.clone());
            }
        })
        .done();
        assert!(matches!(cid_02(&bad), Outcome::Fail(_)));
        // The probe playing a server to question a client is the lab's script, not a server.
        let probe = played_by_the_probe(&bad);
        assert_eq!(cid_02(&probe), Outcome::NotApplicable);
        // With no server role in the run, every server rule is n/a, whatever it would say.
        for (rule, outcome) in super::super::evaluate(&probe) {
            if rule.id.starts_with("SRV-") {
                assert_eq!(outcome, Outcome::NotApplicable, "{}", rule.id);
            }
        }
        assert!(super::super::evaluate(&bad)
            .iter()
            .any(|(r, o)| r.id == "SRV-CID-02" && matches!(o, Outcome::Fail(_))));
    }

    #[test]
    fn cid_02_echoes_option_61() {
        let cid = vec![1, 2, 0, 0, 0, 0, 1];
        let good = dora(|t, m| {
            m.options_mut().push(code::CLIENT_IDENTIFIER, cid.clone());
            let _ = t;
        });
        let bad = dora(|t, m| {
            if matches!(t, MessageType::Discover | MessageType::Request) {
                m.options_mut().push(code::CLIENT_IDENTIFIER, cid.clone());
            }
        });
        pass_fail(cid_02, &good.done(), &bad.done());
    }

    #[test]
    fn r82_01_echoes_option_82() {
        let mk = |echo: bool| {
            relayed_dora(|leg, _, m| {
                if leg == Leg::Relayed || (echo && leg == Leg::Server) {
                    m.options_mut()
                        .push(code::RELAY_AGENT_INFORMATION, vec![1, 1, 7]);
                }
            })
            .done()
        };
        pass_fail(r82_01, &mk(true), &mk(false));
    }

    #[test]
    fn bootp_02_03_permanent_binding_and_siaddr() {
        let good = bootp_exchange(|_, _| {});
        let mut bad = bootp_exchange(|_, _| {});
        let d = client_msg(MessageType::Discover, 0x2222, CLIENT2);
        bad.bootp(
            "lan",
            500,
            (SERVER, SERVER_IP, 67),
            (CLIENT2, YIADDR, 68),
            &server_msg(MessageType::Offer, &d, YIADDR),
        );
        pass_fail(bootp_02, &good.done(), &bad.done());
        let bad = bootp_exchange(|op, m| {
            if op == Op::BootReply {
                m.siaddr = ZERO
            }
        });
        pass_fail(bootp_03, &good.done(), &bad.done());
    }

    #[test]
    fn in_01_drops_short_requests() {
        let mk = |answer: bool| {
            let mut k = Kit::new();
            let q = client_msg(MessageType::Discover, 0x61, CLIENT);
            let f = bootlab_wire::bootp::Faults {
                truncate: Some(280),
                ..Default::default()
            };
            k.udp(
                "lan",
                0,
                (CLIENT, ZERO, 68),
                (BCAST, ALL, 67),
                &q.emit_with(&f),
            );
            if answer {
                k.bootp(
                    "lan",
                    10,
                    (SERVER, SERVER_IP, 67),
                    (CLIENT, YIADDR, 68),
                    &server_msg(MessageType::Offer, &q, YIADDR),
                );
            }
            k.done()
        };
        pass_fail(in_01, &mk(false), &mk(true));
    }

    #[test]
    fn req_01_never_acks_a_held_address() {
        let mk = |ty: MessageType| {
            let mut k = dora(|_, _| {});
            let mut r = client_msg(MessageType::Request, 0x62, CLIENT2);
            r.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, YIADDR);
            k.bootp("lan", 500, (CLIENT2, ZERO, 68), (BCAST, ALL, 67), &r);
            k.bootp(
                "lan",
                510,
                (SERVER, SERVER_IP, 67),
                (BCAST, ALL, 68),
                &server_msg(ty, &r, YIADDR),
            );
            k.done()
        };
        pass_fail(req_01, &mk(MessageType::Nak), &mk(MessageType::Ack));
    }

    #[test]
    fn cid_01_keys_bindings_on_option_61() {
        let mk = |second: Ipv4Addr| {
            let mut k = dora(|t, m| {
                if matches!(t, MessageType::Discover | MessageType::Request) {
                    m.options_mut().push(code::CLIENT_IDENTIFIER, vec![0, 1]);
                }
            });
            let mut r = client_msg(MessageType::Request, 0x63, CLIENT);
            r.options_mut().push(code::CLIENT_IDENTIFIER, vec![0, 2]);
            r.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, second);
            k.bootp("lan", 500, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &r);
            k.bootp(
                "lan",
                510,
                (SERVER, SERVER_IP, 67),
                (CLIENT, second, 68),
                &server_msg(MessageType::Ack, &r, second),
            );
            k.done()
        };
        pass_fail(cid_01, &mk(OTHER), &mk(YIADDR));
    }

    #[test]
    fn secs_01_threshold_is_consistent() {
        let mk = |answered: &[u16]| {
            let mut k = Kit::new();
            for (i, secs) in [0u16, 4, 8, 12].iter().enumerate() {
                let mut q = Message::new_request(0x77, CLIENT);
                q.secs = *secs;
                let ms = i as u64 * 4000;
                k.bootp("lan", ms, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &q);
                if answered.contains(secs) {
                    let mut r = Message::new_reply(&q);
                    r.yiaddr = YIADDR;
                    k.bootp(
                        "lan",
                        ms + 10,
                        (SERVER, SERVER_IP, 67),
                        (CLIENT, YIADDR, 68),
                        &r,
                    );
                }
            }
            k.done()
        };
        pass_fail(secs_01, &mk(&[8, 12]), &mk(&[0, 12]));
        // A server configured with threshold 8 that answers every request (consistent, but
        // below its threshold): ISC dhcpd's min-secs does not hold BOOTP back.
        let configured = |t: &mut Trace| {
            if let Some(r) = t.roles.get_mut("dhcpd") {
                r.secs_threshold = Some(8);
            }
        };
        let mut all = mk(&[0, 4, 8, 12]);
        assert_eq!(secs_01(&all), Outcome::Pass);
        configured(&mut all);
        assert!(matches!(secs_01(&all), Outcome::Fail(_)));
        let mut above = mk(&[8, 12]);
        configured(&mut above);
        assert_eq!(secs_01(&above), Outcome::Pass);
    }

    /// DORA, then a request from `who` with `ciaddr` and `requested` (no server identifier) and
    /// the server's `answer` with yiaddr `yi`.
    fn after_dora(
        who: [u8; 6],
        ciaddr: Ipv4Addr,
        requested: Option<Ipv4Addr>,
        answer: MessageType,
        yi: Ipv4Addr,
    ) -> Trace {
        let mut k = dora(|_, _| {});
        let mut q = client_msg(MessageType::Request, 0x4321, who);
        q.ciaddr = ciaddr;
        if let Some(a) = requested {
            q.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, a);
        }
        k.bootp("lan", 1000, request_src(&q), (BCAST, ALL, 67), &q);
        let r = server_msg(answer, &q, yi);
        k.bootp("lan", 1100, (SERVER, SERVER_IP, 67), reply_dst(&r), &r);
        k.done()
    }

    #[test]
    fn rebind_01_extends_only_its_own_leases() {
        let ok = after_dora(CLIENT, YIADDR, None, MessageType::Ack, YIADDR);
        let other = Ipv4Addr::new(192, 0, 2, 150);
        let bad = after_dora(CLIENT2, other, None, MessageType::Ack, other);
        pass_fail(rebind_01, &ok, &bad);
    }

    #[test]
    fn reboot_01_acks_the_clients_own_address_and_is_silent_to_strangers() {
        let ok = after_dora(CLIENT, ZERO, Some(YIADDR), MessageType::Ack, YIADDR);
        let stranger = Ipv4Addr::new(192, 0, 2, 150);
        let nak_to_stranger = after_dora(CLIENT2, ZERO, Some(stranger), MessageType::Nak, ZERO);
        pass_fail(reboot_01, &ok, &nak_to_stranger);
        let other_address = after_dora(CLIENT, ZERO, Some(YIADDR), MessageType::Ack, stranger);
        assert!(matches!(reboot_01(&other_address), Outcome::Fail(_)));
        let ack_to_stranger = after_dora(CLIENT2, ZERO, Some(YIADDR), MessageType::Ack, YIADDR);
        assert!(matches!(reboot_01(&ack_to_stranger), Outcome::Fail(_)));
    }

    #[test]
    fn ping_01_wants_a_check_before_offering_a_held_address() {
        let held = |probe: bool| {
            let mut k = Kit::new();
            k.trace.names.ips.insert(YIADDR, "squatter".into());
            let d = client_msg(MessageType::Discover, 0x1234, CLIENT);
            k.bootp("lan", 0, request_src(&d), (BCAST, ALL, 67), &d);
            if probe {
                let who_has = bootlab_wire::arp::Repr {
                    operation: bootlab_wire::arp::Operation::Request,
                    source_hardware_addr: bootlab_wire::ethernet::Address(SERVER),
                    source_protocol_addr: SERVER_IP,
                    target_hardware_addr: bootlab_wire::ethernet::Address([0; 6]),
                    target_protocol_addr: YIADDR,
                };
                k.arp("lan", 50, BCAST, who_has);
            }
            let o = server_msg(MessageType::Offer, &d, YIADDR);
            k.bootp("lan", 100, (SERVER, SERVER_IP, 67), reply_dst(&o), &o);
            k.done()
        };
        pass_fail(ping_01, &held(true), &held(false));
        assert_eq!(ping_01(&ok()), Outcome::NotApplicable);
    }

    #[test]
    fn lease_02_grants_the_configured_default_to_a_new_binding() {
        let with = |default: u64| {
            let mut k = dora(|_, _| {});
            k.event(
                "dhcpd",
                "ready",
                serde_json::json!({ "address": SERVER_IP.to_string(), "lease_time": default, "max_lease_time": 3600, "lease_times_vary": false }),
            );
            k.done()
        };
        pass_fail(lease_02, &with(600), &with(300));
        let asked = |granted: u32| {
            let mut k = dora(|t, m| match t {
                MessageType::Discover | MessageType::Request => m
                    .options_mut()
                    .set_u32(code::IP_ADDRESS_LEASE_TIME, 0xffff_ffff),
                _ => m
                    .options_mut()
                    .set_u32(code::IP_ADDRESS_LEASE_TIME, granted),
            });
            k.event(
                "dhcpd",
                "ready",
                serde_json::json!({ "address": SERVER_IP.to_string(), "lease_time": 600, "max_lease_time": 3600, "lease_times_vary": false }),
            );
            k.done()
        };
        pass_fail(lease_02, &asked(3600), &asked(0xffff_ffff));
    }
}

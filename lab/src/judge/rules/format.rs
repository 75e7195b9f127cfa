//! Checks of the checklist's FMT group: message format and options encoding.

use super::query::{maybe_before, relay_ingress};
use super::{fail, verdict, Check, Outcome};
use crate::judge::trace::{Frame, Trace};
use bootlab_wire::bootp::{
    code, Area, Message, MessageType, Op, Vendor, MAGIC_COOKIE, MIN_MESSAGE_LEN,
};
use bootlab_wire::Deviation;

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[
    ("FMT-SIZE-01", size_01),
    ("FMT-OP-01", op_01),
    ("FMT-HDR-01", hdr_01),
    ("FMT-FLAGS-01", flags_01),
    ("FMT-COOKIE-02", cookie_02),
    ("FMT-TYPE-01", type_01),
    ("FMT-BOOTP-01", bootp_01),
    ("FMT-SIZE-03", size_03),
    ("FMT-PORT-01", port_01),
    ("FMT-COOKIE-01", cookie_01),
    ("FMT-COOKIE-03", cookie_03),
    ("FMT-TLV-01", tlv_01),
    ("FMT-END-01", end_01),
    ("FMT-OVL-01", ovl_01),
    ("FMT-OVL-02", ovl_02),
    ("FMT-NVT-01", nvt_01),
    ("FMT-MULTI-01", multi_01),
    ("FMT-SIZE-02", size_02),
];

/// FMT-SIZE-01 (RFC 951 §3, RFC 1542 §2.1): every message carries at least 300 octets.
fn size_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, _) in t.bootp() {
        any = true;
        let len = f.decoded.udp.as_ref().map(|u| u.payload_len).unwrap_or(0);
        if len < MIN_MESSAGE_LEN {
            return fail(
                &f.segment,
                f.number,
                format!("BOOTP message of {len} octets, fewer than 300"),
            );
        }
    }
    verdict(any)
}

/// FMT-OP-01 (RFC 951 §3): `op` is BOOTREQUEST from clients and relays, BOOTREPLY towards clients.
fn op_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        let Some(udp) = &f.decoded.udp else { continue };
        any = true;
        let want = if udp.src_port == 68 {
            Op::BootRequest
        } else if udp.dst_port == 68 {
            Op::BootReply
        } else {
            continue; // 67 -> 67: relay <-> server, either op
        };
        if m.op != want {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "op {:?} on port {} -> {}, expected {want:?}",
                    m.op, udp.src_port, udp.dst_port
                ),
            );
        }
    }
    verdict(any)
}

/// FMT-HDR-01 (RFC 2131 §2): htype 1, hlen 6, and a client's chaddr is its Ethernet source.
fn hdr_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        any = true;
        if m.htype != 1 || m.hlen != 6 {
            return fail(
                &f.segment,
                f.number,
                format!("htype {} hlen {}, expected 1 and 6", m.htype, m.hlen),
            );
        }
        let from_client =
            f.decoded.udp.as_ref().is_some_and(|u| u.src_port == 68) && m.op == Op::BootRequest;
        if let (true, Some(eth)) = (from_client, &f.decoded.eth) {
            if eth.src_addr.0 != m.chaddr_mac() {
                return fail(
                    &f.segment,
                    f.number,
                    "chaddr differs from the client's Ethernet source",
                );
            }
        }
    }
    verdict(any)
}

/// FMT-FLAGS-01 (RFC 1542 §2.2): clients send the 15 low bits of `flags` as zero.
fn flags_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| m.op == Op::BootRequest) {
        any = true;
        if m.flags & 0x7fff != 0 {
            return fail(
                &f.segment,
                f.number,
                format!("flags {:#06x}: bits other than B set", m.flags),
            );
        }
    }
    verdict(any)
}

/// FMT-COOKIE-02 (RFC 1542 §3.5): a BOOTP request carries the magic cookie in `vend`.
fn cookie_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t
        .bootp()
        .filter(|(_, m)| m.op == Op::BootRequest && m.message_type().is_none())
    {
        any = true;
        if let Vendor::Raw(v) = &m.vend {
            if v.get(..4) != Some(&MAGIC_COOKIE[..]) {
                return fail(
                    &f.segment,
                    f.number,
                    "BOOTP request without the 99.130.83.99 cookie in vend",
                );
            }
        }
    }
    verdict(any)
}

/// FMT-TYPE-01 (RFC 2132 §9.6): a DHCP message has exactly one option 53 of length 1, value 1-8.
fn type_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        let Some(o) = m.options() else { continue };
        let n = o.count(code::DHCP_MESSAGE_TYPE);
        if n == 0 {
            continue;
        }
        any = true;
        let inst: Vec<_> =
            o.0.iter()
                .filter(|x| x.code == code::DHCP_MESSAGE_TYPE)
                .collect();
        if n != 1 || inst[0].data.len() != 1 || !(1..=8).contains(&inst[0].data[0]) {
            return fail(
                &f.segment,
                f.number,
                format!("option 53: {n} instance(s), first {:?}", inst[0].data),
            );
        }
    }
    verdict(any)
}

/// FMT-BOOTP-01 (RFC 1534 §2): a reply to a BOOTP request has no option 53 and 300 octets.
fn bootp_01(t: &Trace) -> Outcome {
    let bootp_xids: Vec<u32> = t
        .bootp()
        .filter(|(_, m)| m.op == Op::BootRequest && m.message_type().is_none())
        .map(|(_, m)| m.xid)
        .collect();
    let mut any = false;
    for (f, m) in t
        .bootp()
        .filter(|(_, m)| m.op == Op::BootReply && bootp_xids.contains(&m.xid))
    {
        any = true;
        if m.message_type().is_some() {
            return fail(
                &f.segment,
                f.number,
                "reply to a BOOTP request carries option 53",
            );
        }
        let len = f.decoded.udp.as_ref().map(|u| u.payload_len).unwrap_or(0);
        if len != MIN_MESSAGE_LEN {
            return fail(
                &f.segment,
                f.number,
                format!("reply to a BOOTP request of {len} octets, expected 300"),
            );
        }
    }
    verdict(any)
}

/// FMT-SIZE-03 (RFC 2131 §2, §3.5; RFC 2132 §9.10): replies fit 576 octets of IP, or the
/// client's option 57; a client never advertises option 57 below 576.
fn size_03(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        let Some(v) = m
            .options()
            .and_then(|o| o.maximum_message_size())
            .filter(|_| m.op == Op::BootRequest)
        else {
            continue;
        };
        any = true;
        if v < 576 {
            return fail(
                &f.segment,
                f.number,
                format!("option 57 of {v}, below the minimum of 576"),
            );
        }
    }
    for (f, m) in t.bootp().filter(|(f, m)| {
        m.op == Op::BootReply && f.decoded.udp.as_ref().is_some_and(|u| u.dst_port == 68)
    }) {
        let Some(ip) = &f.decoded.ipv4 else { continue };
        any = true;
        let asked = t
            .bootp()
            .filter(|(g, n)| {
                n.op == Op::BootRequest
                    && n.xid == m.xid
                    && n.chaddr == m.chaddr
                    && maybe_before(g, f)
            })
            .filter_map(|(_, n)| n.options().and_then(|o| o.maximum_message_size()))
            .last()
            .unwrap_or(0);
        let limit = asked.max(576);
        if ip.total_len > limit {
            return fail(
                &f.segment,
                f.number,
                format!("reply of {} IP octets, more than {limit}", ip.total_len),
            );
        }
    }
    verdict(any)
}

/// FMT-PORT-01 (RFC 951 §3, RFC 1542 §4.1.2, §5.4): clients send 68 -> 67, replies reach
/// clients on 68, relay <-> server traffic is 67 -> 67.
fn port_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        let Some(u) = &f.decoded.udp else { continue };
        if u.src_port == 4011 || u.dst_port == 4011 {
            continue; // PXE boot server traffic (PXE-VCI-01)
        }
        let ok = match m.op {
            Op::BootRequest => matches!((u.src_port, u.dst_port), (68, 67) | (67, 67)),
            Op::BootReply => matches!((u.src_port, u.dst_port), (67, 68) | (67, 67)),
            Op::Unknown(_) => continue,
        };
        any = true;
        if !ok {
            return fail(
                &f.segment,
                f.number,
                format!("{:?} from port {} to port {}", m.op, u.src_port, u.dst_port),
            );
        }
    }
    verdict(any)
}

/// FMT-COOKIE-01 (RFC 2131 §3, RFC 2132 §2): every message of a DHCP exchange carries the
/// magic cookie (the decoder reads options only after it).
fn cookie_01(t: &Trace) -> Outcome {
    let dhcp_xids: Vec<u32> = t
        .bootp()
        .filter(|(_, m)| m.message_type().is_some())
        .map(|(_, m)| m.xid)
        .collect();
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| dhcp_xids.contains(&m.xid)) {
        any = true;
        if m.options().is_none() {
            return fail(
                &f.segment,
                f.number,
                "message of a DHCP exchange without the 99.130.83.99 cookie",
            );
        }
    }
    verdict(any)
}

/// FMT-COOKIE-03 (RFC 951 §7.3, RFC 1542 §3.5): a reply uses the vendor format its request
/// announced: no RFC 1048 options to a request without the cookie.
fn cookie_03(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| m.op == Op::BootReply) {
        let Some((_, req)) = t
            .bootp()
            .filter(|(g, n)| {
                n.op == Op::BootRequest
                    && n.xid == m.xid
                    && n.chaddr == m.chaddr
                    && maybe_before(g, f)
            })
            .last()
        else {
            continue;
        };
        any = true;
        match (&req.vend, &m.vend) {
            (Vendor::Raw(_), Vendor::Options(o)) if !o.0.is_empty() => {
                return fail(
                    &f.segment,
                    f.number,
                    "RFC 1048 options in a reply to a request without the magic cookie",
                )
            }
            (Vendor::Options(_), Vendor::Raw(v)) if v.iter().any(|b| *b != 0) => {
                return fail(
                    &f.segment,
                    f.number,
                    "reply uses another vendor format than the request's RFC 1048 cookie",
                )
            }
            _ => {}
        }
    }
    verdict(any)
}

/// The first decoder deviation of a BOOTP frame whose message matches `pred`.
fn bootp_deviation(t: &Trace, pred: impl Fn(&Deviation) -> bool) -> Option<(&Frame, String)> {
    t.bootp().find_map(|(f, _)| {
        f.decoded
            .deviations
            .iter()
            .find(|d| pred(d))
            .map(|d| (f, d.to_string()))
    })
}

fn any_options(t: &Trace) -> bool {
    t.bootp().any(|(_, m)| m.options().is_some())
}

/// FMT-TLV-01 (RFC 2132 §2): every option's length stays within its area.
fn tlv_01(t: &Trace) -> Outcome {
    if let Some((f, d)) = bootp_deviation(t, |d| {
        d.field.starts_with("option ")
            && (d.message.contains("runs past") || d.message.contains("length octet missing"))
    }) {
        return fail(&f.segment, f.number, d);
    }
    verdict(any_options(t))
}

/// FMT-END-01 (RFC 2131 §4.1, RFC 2132 §3.2): each option area ends with End, then only Pad.
fn end_01(t: &Trace) -> Outcome {
    if let Some((f, d)) = bootp_deviation(t, |d| {
        d.message == "no end option" || d.message.contains("non-pad bytes after the end option")
    }) {
        return fail(&f.segment, f.number, d);
    }
    verdict(any_options(t))
}

/// FMT-OVL-01 (RFC 2131 §4.1, RFC 2132 §9.3): option 52 is one octet 1-3 in the options field,
/// and each overloaded field is a well-formed option area.
fn ovl_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        let with_area = m.options_with_area();
        let Some((area, o)) = with_area
            .iter()
            .find(|(_, o)| o.code == code::OPTION_OVERLOAD)
        else {
            continue;
        };
        any = true;
        if *area != Area::Options || o.data.len() != 1 || !(1..=3).contains(&o.data[0]) {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "option 52 {:?} in {area:?}: expected one octet 1-3 in the options field",
                    o.data
                ),
            );
        }
        if let Some(d) = f
            .decoded
            .deviations
            .iter()
            .find(|d| d.field == "file" || d.field == "sname" || d.field == "option 52")
        {
            return fail(&f.segment, f.number, d.to_string());
        }
    }
    verdict(any)
}

/// FMT-OVL-02 (RFC 2131 Table 3, RFC 3046 §2.1-2.2): no option 52 in a DHCPNAK; a relay never
/// adds option 52; option 82 only in the options field of a reply.
fn ovl_02(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        if m.message_type() == Some(MessageType::Nak) {
            any = true;
            if m.options()
                .is_some_and(|o| o.contains(code::OPTION_OVERLOAD))
            {
                return fail(&f.segment, f.number, "DHCPNAK uses option overload (52)");
            }
        }
        if m.op == Op::BootReply {
            for (area, o) in m.options_with_area() {
                if o.code == code::RELAY_AGENT_INFORMATION {
                    any = true;
                    if area != Area::Options {
                        return fail(&f.segment, f.number, format!("option 82 in {area:?}"));
                    }
                }
            }
        }
        if let Some((_, inner)) = relay_ingress(t, f, m) {
            any = true;
            let ovl = |x: &Message| x.options().and_then(|o| o.get(code::OPTION_OVERLOAD));
            if ovl(m) != ovl(inner) {
                return fail(&f.segment, f.number, "the relay changed option 52");
            }
        }
    }
    verdict(any)
}

/// FMT-NVT-01 (RFC 2132 §2): text options carry no trailing NUL.
fn nvt_01(t: &Trace) -> Outcome {
    const TEXT: [u8; 12] = [12, 14, 15, 17, 18, 40, 47, 56, 62, 64, 66, 67];
    let mut any = false;
    for (f, m) in t.bootp() {
        let Some(o) = m.options() else { continue };
        for opt in o.0.iter().filter(|x| TEXT.contains(&x.code)) {
            any = true;
            if opt.data.last() == Some(&0) {
                return fail(
                    &f.segment,
                    f.number,
                    format!("text option {} ends with a NUL", opt.code),
                );
            }
        }
    }
    verdict(any)
}

/// FMT-MULTI-01 (RFC 2131 §4.1, RFC 3396): a reply carries each option once, unless the value
/// is long enough to need splitting or spans areas.
fn multi_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp().filter(|(_, m)| m.op == Op::BootReply) {
        let opts = m.options_with_area();
        if opts.is_empty() {
            continue;
        }
        any = true;
        for (i, (area, o)) in opts.iter().enumerate() {
            let same: Vec<_> = opts.iter().filter(|(_, x)| x.code == o.code).collect();
            if same.len() < 2 || opts[..i].iter().any(|(_, x)| x.code == o.code) {
                continue;
            }
            let total: usize = same.iter().map(|(_, x)| x.data.len()).sum();
            if same.iter().all(|(a, _)| a == area) && total <= 255 {
                return fail(
                    &f.segment,
                    f.number,
                    format!(
                        "option {} appears {} times ({total} octets in all)",
                        o.code,
                        same.len()
                    ),
                );
            }
        }
    }
    verdict(any)
}

/// FMT-SIZE-02 (RFC 1542 §2.1): a message longer than 300 octets (options past the 64-octet vend
/// area) is accepted: every such DHCPDISCOVER a client sends while a server runs gets a reply.
fn size_02(t: &Trace) -> Outcome {
    if !t.roles.values().any(|r| r.kind.is_server()) {
        return Outcome::NotApplicable;
    }
    let mut any = false;
    for (f, m) in t.bootp() {
        let len = f.decoded.udp.as_ref().map(|u| u.payload_len).unwrap_or(0);
        if m.op != Op::BootRequest
            || m.message_type() != Some(MessageType::Discover)
            || f.decoded.udp.as_ref().is_none_or(|u| u.src_port != 68)
            || len <= MIN_MESSAGE_LEN
        {
            continue;
        }
        any = true;
        let answered = t.bootp().any(|(g, r)| {
            r.op == Op::BootReply && r.xid == m.xid && r.chaddr == m.chaddr && maybe_before(f, g)
        });
        if !answered {
            return fail(
                &f.segment,
                f.number,
                format!("DHCPDISCOVER of {len} octets (options past the 64-octet vend area) got no reply"),
            );
        }
    }
    verdict(any)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use bootlab_wire::bootp::Faults;
    use std::net::Ipv4Addr;

    #[test]
    fn size_01_flags_short_messages() {
        let ok = dora(|_, _| {});
        let mut bad = dora(|_, _| {});
        let m = client_msg(MessageType::Discover, 7, CLIENT);
        let short = m.emit_with(&Faults {
            truncate: Some(299),
            ..Faults::default()
        });
        bad.udp("lan", 400, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &short);
        pass_fail(size_01, &ok.done(), &bad.done());
    }

    #[test]
    fn op_01_wants_requests_from_68_and_replies_to_68() {
        let bad = dora(|t, m| {
            if t == MessageType::Offer {
                m.op = Op::BootRequest
            }
        });
        pass_fail(op_01, &dora(|_, _| {}).done(), &bad.done());
    }

    #[test]
    fn hdr_01_wants_chaddr_of_the_sender() {
        let mut bad = dora(|_, _| {});
        let m = client_msg(MessageType::Discover, 7, CLIENT2);
        bad.bootp("lan", 400, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &m);
        pass_fail(hdr_01, &dora(|_, _| {}).done(), &bad.done());
    }

    #[test]
    fn flags_01_wants_reserved_bits_clear() {
        let bad = dora(|t, m| {
            if t == MessageType::Discover {
                m.flags = 0x0001
            }
        });
        pass_fail(flags_01, &dora(|_, _| {}).done(), &bad.done());
    }

    #[test]
    fn cookie_02_wants_the_cookie_in_bootp_requests() {
        let bad = bootp_exchange(|op, m| {
            if op == Op::BootRequest {
                m.vend = Vendor::Raw(vec![0; 64])
            }
        });
        pass_fail(cookie_02, &bootp_exchange(|_, _| {}).done(), &bad.done());
    }

    #[test]
    fn type_01_wants_one_option_53() {
        let bad = dora(|t, m| {
            if t == MessageType::Ack {
                m.options_mut().push(code::DHCP_MESSAGE_TYPE, vec![5])
            }
        });
        pass_fail(type_01, &dora(|_, _| {}).done(), &bad.done());
    }

    #[test]
    fn bootp_01_wants_classic_replies() {
        let bad = bootp_exchange(|op, m| {
            if op == Op::BootReply {
                m.options_mut().set_message_type(MessageType::Ack)
            }
        });
        pass_fail(bootp_01, &bootp_exchange(|_, _| {}).done(), &bad.done());
    }

    #[test]
    fn size_03_limits_replies_and_option_57() {
        let bad = dora(|t, m| {
            if t == MessageType::Discover {
                m.options_mut()
                    .set_u16(code::MAXIMUM_DHCP_MESSAGE_SIZE, 500)
            }
        });
        pass_fail(size_03, &dora(|_, _| {}).done(), &bad.done());
        let big = dora(|t, m| {
            if t == MessageType::Discover {
                m.options_mut().remove(code::MAXIMUM_DHCP_MESSAGE_SIZE);
            }
            if t == MessageType::Offer {
                m.options_mut().push(43, vec![1; 250]);
                m.options_mut().push(code::HOST_NAME, vec![b'a'; 100]);
            }
        });
        assert!(matches!(size_03(&big.done()), Outcome::Fail(_)));
    }

    #[test]
    fn port_01_wants_the_port_pairs() {
        let mut bad = dora(|_, _| {});
        let m = client_msg(MessageType::Discover, 8, CLIENT);
        bad.bootp("lan", 500, (CLIENT, ZERO, 1068), (BCAST, ALL, 67), &m);
        pass_fail(port_01, &dora(|_, _| {}).done(), &bad.done());
    }

    #[test]
    fn cookie_01_wants_the_cookie_in_every_dhcp_message() {
        let bad = dora(|t, m| {
            if t == MessageType::Ack {
                m.vend = Vendor::Raw(vec![0; 64])
            }
        });
        pass_fail(cookie_01, &dora(|_, _| {}).done(), &bad.done());
    }

    #[test]
    fn cookie_03_wants_the_request_vendor_format() {
        let bad = bootp_exchange(|op, m| {
            if op == Op::BootRequest {
                m.vend = Vendor::Raw(vec![0; 64])
            } else {
                m.vend = Vendor::Options(Default::default());
                m.options_mut()
                    .set_ip(code::SUBNET_MASK, Ipv4Addr::new(255, 255, 255, 0));
            }
        });
        pass_fail(cookie_03, &bootp_exchange(|_, _| {}).done(), &bad.done());
    }

    #[test]
    fn tlv_01_and_end_01_follow_the_decoder() {
        let mut bad = dora(|_, _| {});
        let mut m = client_msg(MessageType::Discover, 9, CLIENT);
        m.options_mut().push(code::HOST_NAME, b"pc".to_vec());
        let f = Faults {
            lengths: vec![(code::HOST_NAME, 80)],
            omit_end: true,
            no_padding: true,
            ..Faults::default()
        };
        bad.udp(
            "lan",
            500,
            (CLIENT, ZERO, 68),
            (BCAST, ALL, 67),
            &m.emit_with(&f),
        );
        pass_fail(tlv_01, &dora(|_, _| {}).done(), &bad.done());
        let mut bad = dora(|_, _| {});
        let f = Faults {
            after_end: vec![1, 2],
            ..Faults::default()
        };
        bad.udp(
            "lan",
            500,
            (CLIENT, ZERO, 68),
            (BCAST, ALL, 67),
            &m.emit_with(&f),
        );
        pass_fail(end_01, &dora(|_, _| {}).done(), &bad.done());
    }

    #[test]
    fn ovl_01_wants_a_valid_option_52() {
        let ok = dora(|t, m| {
            if t == MessageType::Ack {
                m.options_mut().push(code::OPTION_OVERLOAD, vec![1]);
                m.file = [0; 128];
                m.file[..4].copy_from_slice(&[12, 1, b'a', 255]);
            }
        });
        let bad = dora(|t, m| {
            if t == MessageType::Ack {
                m.options_mut().push(code::OPTION_OVERLOAD, vec![1]);
                m.file = [0; 128];
                m.file[..3].copy_from_slice(&[12, 1, b'a']);
            }
        });
        pass_fail(ovl_01, &ok.done(), &bad.done());
    }

    #[test]
    fn ovl_02_wants_no_overload_in_nak_and_82_in_the_options_field() {
        let ok = dora(|t, m| {
            if t == MessageType::Ack {
                m.options_mut().set_message_type(MessageType::Nak)
            }
        });
        let bad = dora(|t, m| {
            if t == MessageType::Ack {
                m.options_mut().set_message_type(MessageType::Nak);
                m.options_mut().push(code::OPTION_OVERLOAD, vec![2]);
                m.sname[0] = 255;
            }
        });
        pass_fail(ovl_02, &ok.done(), &bad.done());
        let bad = relayed_dora(|leg, _, m| {
            if leg == Leg::Relayed {
                m.options_mut().push(code::OPTION_OVERLOAD, vec![2]);
                m.sname[0] = 255;
            }
        });
        pass_fail(ovl_02, &relayed_dora(|_, _, _| {}).done(), &bad.done());
    }

    #[test]
    fn nvt_01_flags_nul_terminated_text() {
        let ok = dora(|t, m| {
            if t == MessageType::Ack {
                m.options_mut().push(code::DOMAIN_NAME, b"example".to_vec())
            }
        });
        let bad = dora(|t, m| {
            if t == MessageType::Ack {
                m.options_mut()
                    .push(code::DOMAIN_NAME, b"example\0".to_vec())
            }
        });
        pass_fail(nvt_01, &ok.done(), &bad.done());
    }

    #[test]
    fn multi_01_flags_repeated_short_options() {
        let ok = dora(|t, m| {
            if t == MessageType::Ack {
                m.options_mut().push(43, vec![1; 300]) // split in two by emit
            }
        });
        let bad = dora(|t, m| {
            if t == MessageType::Ack {
                let o = m.options_mut();
                o.0.push(bootlab_wire::bootp::DhcpOption {
                    code: 3,
                    data: vec![192, 0, 2, 1],
                });
                o.0.push(bootlab_wire::bootp::DhcpOption {
                    code: 3,
                    data: vec![192, 0, 2, 2],
                });
            }
        });
        pass_fail(multi_01, &ok.done(), &bad.done());
    }

    /// The canonical exchanges of the test kit are conformant: no check may fail on them.
    #[test]
    fn no_check_fails_on_the_kits_good_exchanges() {
        let mut tftp = Kit::new();
        let rrq = bootlab_wire::tftp::Packet::Rrq(bootlab_wire::tftp::Request {
            filename: "boot/kernel".into(),
            mode: bootlab_wire::tftp::Mode::Octet,
            options: vec![bootlab_wire::tftp::TftpOption::new("blksize", 1024)],
        });
        let (c, s69, s) = (
            (CLIENT, YIADDR, 2000),
            (SERVER, SERVER_IP, 69),
            (SERVER, SERVER_IP, 3000),
        );
        tftp.tftp("lan", 0, c, s69, &rrq);
        let oack = vec![bootlab_wire::tftp::TftpOption::new("blksize", 1024)];
        tftp.tftp(
            "lan",
            10,
            s,
            c,
            &bootlab_wire::tftp::Packet::Oack { options: oack },
        );
        tftp.tftp(
            "lan",
            20,
            c,
            s,
            &bootlab_wire::tftp::Packet::Ack { block: 0 },
        );
        for (i, n) in [1024usize, 1024, 7].iter().enumerate() {
            let block = i as u16 + 1;
            let data = bootlab_wire::tftp::Packet::Data {
                block,
                data: vec![0; *n],
            };
            tftp.tftp("lan", 30 + 20 * i as u64, s, c, &data);
            tftp.tftp(
                "lan",
                40 + 20 * i as u64,
                c,
                s,
                &bootlab_wire::tftp::Packet::Ack { block },
            );
        }
        for trace in [
            dora(|_, _| {}).done(),
            relayed_dora(|_, _, _| {}).done(),
            bootp_exchange(|_, _| {}).done(),
            tftp.done(),
        ] {
            for (rule, outcome) in crate::judge::rules::evaluate(&trace) {
                assert!(
                    !matches!(outcome, Outcome::Fail(_)),
                    "{} fails on a good exchange: {outcome:?}",
                    rule.id
                );
            }
        }
    }

    #[test]
    fn size_02_answers_long_requests() {
        let long = |answered: bool| {
            let mut k = Kit::new();
            let mut d = client_msg(MessageType::Discover, 9, CLIENT);
            d.options_mut()
                .push(code::VENDOR_CLASS_IDENTIFIER, vec![b'x'; 200]);
            k.bootp("lan", 0, request_src(&d), (BCAST, ALL, 67), &d);
            if answered {
                let o = server_msg(MessageType::Offer, &d, YIADDR);
                k.bootp("lan", 100, (SERVER, SERVER_IP, 67), reply_dst(&o), &o);
            }
            k.done()
        };
        pass_fail(size_02, &long(true), &long(false));
        assert_eq!(size_02(&dora(|_, _| {}).done()), Outcome::NotApplicable);
    }
}

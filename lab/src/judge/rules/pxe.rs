//! Checks of the checklist's PXE group (RFC 4578, PXE 2.1 as iPXE cites it).

use super::client::rtx_gaps;
use super::query::from_client;
use super::{fail, verdict, Check, Outcome};
use crate::judge::trace::{Frame, Trace};
use bootlab_wire::bootp::{code, Message, MessageType, Op};

/// The checks written so far, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[
    ("PXE-93-01", o93_01),
    ("PXE-94-01", o94_01),
    ("PXE-97-01", o97_01),
    ("PXE-PRL-01", prl_01),
    ("PXE-VCI-01", vci_01),
    ("PXE-RTX-01", rtx_01),
];

/// Whether a message's vendor class (60) starts with "PXEClient" (PXE 2.1).
fn is_pxe(m: &Message) -> bool {
    m.options()
        .and_then(|o| o.get(code::VENDOR_CLASS_IDENTIFIER))
        .is_some_and(|v| v.starts_with(b"PXEClient"))
}

/// Requests from PXE clients: to a DHCP server (from port 68) or to a boot server (port 4011).
fn pxe_requests(t: &Trace) -> impl Iterator<Item = (&Frame, &Message)> {
    t.bootp().filter(|(f, m)| {
        m.op == Op::BootRequest
            && m.message_type().is_some()
            && is_pxe(m)
            && (from_client(f, m) || f.decoded.udp.as_ref().is_some_and(|u| u.dst_port == 4011))
    })
}

/// PXE-93-01 (RFC 4578 §2.1): PXE clients send option 93, a non-empty even-length list.
fn o93_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in pxe_requests(t) {
        any = true;
        let v = m
            .options()
            .and_then(|o| o.get(code::CLIENT_SYSTEM_ARCHITECTURE));
        if !v
            .as_ref()
            .is_some_and(|v| !v.is_empty() && v.len() % 2 == 0)
        {
            return fail(
                &f.segment,
                f.number,
                format!("option 93 {v:?}: absent or not a list of 16-bit types"),
            );
        }
    }
    verdict(any)
}

/// Checks a fixed-form option of PXE requests: `len` octets starting with `first`.
fn fixed(t: &Trace, c: u8, len: usize, first: u8) -> Outcome {
    let mut any = false;
    for (f, m) in pxe_requests(t) {
        let Some(v) = m.options().and_then(|o| o.get(c)) else {
            continue;
        };
        any = true;
        if v.len() != len || v.first() != Some(&first) {
            return fail(
                &f.segment,
                f.number,
                format!("option {c} is {v:02x?}, expected {len} octets starting {first}"),
            );
        }
    }
    verdict(any)
}

/// PXE-94-01 (RFC 4578 §2.2): option 94 is 3 octets, type 1 (UNDI).
fn o94_01(t: &Trace) -> Outcome {
    fixed(t, code::CLIENT_NETWORK_INTERFACE_ID, 3, 1)
}

/// PXE-97-01 (RFC 4578 §2.3): option 97 is 17 octets, type 0 and a 16-octet GUID.
fn o97_01(t: &Trace) -> Outcome {
    fixed(t, code::CLIENT_MACHINE_ID, 17, 0)
}

/// PXE-PRL-01 (RFC 4578 §2.4): PXE clients ask for options 128-135.
fn prl_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in pxe_requests(t).filter(|(_, m)| {
        matches!(
            m.message_type(),
            Some(MessageType::Discover | MessageType::Request)
        )
    }) {
        any = true;
        let prl = m
            .options()
            .and_then(|o| o.parameter_request_list())
            .unwrap_or_default();
        if let Some(c) = (128u8..=135).find(|c| !prl.contains(c)) {
            return fail(
                &f.segment,
                f.number,
                format!("parameter request list lacks {c}"),
            );
        }
    }
    verdict(any)
}

/// PXE-VCI-01 (PXE 2.1, RFC 4578 §1): a client sending PXE options says "PXEClient" in option 60;
/// a proxyDHCP offer (yiaddr 0, "PXEClient") carries option 43.
fn vci_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, m) in t.bootp() {
        let o = m.options();
        let pxe_opts = o.is_some_and(|o| {
            o.contains(code::CLIENT_SYSTEM_ARCHITECTURE)
                || o.contains(code::CLIENT_NETWORK_INTERFACE_ID)
                || o.contains(code::CLIENT_MACHINE_ID)
        });
        if m.op == Op::BootRequest && pxe_opts && from_client(f, m) {
            any = true;
            if !is_pxe(m) {
                return fail(
                    &f.segment,
                    f.number,
                    "PXE options without vendor class \"PXEClient\"",
                );
            }
        }
        if m.message_type() == Some(MessageType::Offer) && m.yiaddr.is_unspecified() && is_pxe(m) {
            any = true;
            if !o.is_some_and(|o| o.contains(code::VENDOR_SPECIFIC_INFORMATION)) {
                return fail(
                    &f.segment,
                    f.number,
                    "proxyDHCP offer without PXE options in option 43",
                );
            }
        }
    }
    verdict(any)
}

/// PXE-RTX-01 (PXE 2.1): a PXE ROM retransmits DISCOVER after 4, 8, 16 and 32 s. A ROM that
/// asks with a plain BOOTREQUEST carrying the PXE options (no option 53) is judged the same way.
fn rtx_01(t: &Trace) -> Outcome {
    rtx_gaps(
        t,
        |m| {
            matches!(m.message_type(), None | Some(MessageType::Discover))
                && m.op == bootlab_wire::bootp::Op::BootRequest
                && is_pxe(m)
        },
        32.0,
        "PXE DISCOVER",
    )
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    fn pxe_discover(e: impl Fn(&mut Message)) -> Trace {
        let mut k = Kit::new();
        let mut d = client_msg(MessageType::Discover, 7, CLIENT);
        let o = d.options_mut();
        o.push(
            code::VENDOR_CLASS_IDENTIFIER,
            b"PXEClient:Arch:00000:UNDI:002001".to_vec(),
        );
        o.push(code::CLIENT_SYSTEM_ARCHITECTURE, vec![0, 0]);
        o.push(code::CLIENT_NETWORK_INTERFACE_ID, vec![1, 2, 1]);
        o.push(code::CLIENT_MACHINE_ID, [vec![0], vec![7; 16]].concat());
        o.set(
            code::PARAMETER_REQUEST_LIST,
            (128u8..=135).chain([1, 3]).collect::<Vec<u8>>(),
        );
        e(&mut d);
        k.bootp("lan", 0, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &d);
        k.done()
    }

    #[test]
    fn option_forms() {
        let good = pxe_discover(|_| {});
        pass_fail(
            o93_01,
            &good,
            &pxe_discover(|m| {
                m.options_mut()
                    .set(code::CLIENT_SYSTEM_ARCHITECTURE, vec![0])
            }),
        );
        pass_fail(
            o94_01,
            &good,
            &pxe_discover(|m| {
                m.options_mut()
                    .set(code::CLIENT_NETWORK_INTERFACE_ID, vec![2, 2, 1])
            }),
        );
        pass_fail(
            o97_01,
            &good,
            &pxe_discover(|m| m.options_mut().set(code::CLIENT_MACHINE_ID, vec![0; 16])),
        );
        pass_fail(
            prl_01,
            &good,
            &pxe_discover(|m| {
                m.options_mut()
                    .set(code::PARAMETER_REQUEST_LIST, vec![1, 3])
            }),
        );
        pass_fail(
            vci_01,
            &good,
            &pxe_discover(|m| {
                m.options_mut()
                    .set(code::VENDOR_CLASS_IDENTIFIER, b"Other".to_vec())
            }),
        );
    }

    #[test]
    fn proxy_offer_carries_option_43() {
        let mk = |with43: bool| {
            let mut k = Kit::new();
            let d = client_msg(MessageType::Discover, 7, CLIENT);
            let mut o = Message::new_reply(&d);
            o.options_mut().set_message_type(MessageType::Offer);
            o.options_mut()
                .push(code::VENDOR_CLASS_IDENTIFIER, b"PXEClient".to_vec());
            if with43 {
                o.options_mut()
                    .push(code::VENDOR_SPECIFIC_INFORMATION, vec![6, 1, 8, 255]);
            }
            k.bootp("lan", 0, (SERVER, SERVER_IP, 67), (BCAST, ALL, 68), &o);
            k.done()
        };
        pass_fail(vci_01, &mk(true), &mk(false));
    }

    #[test]
    fn rtx_01_backs_off() {
        let mk = |times: &[u64]| {
            let mut k = Kit::new();
            for ms in times {
                let mut d = client_msg(MessageType::Discover, 7, CLIENT);
                d.options_mut()
                    .push(code::VENDOR_CLASS_IDENTIFIER, b"PXEClient".to_vec());
                k.bootp("lan", *ms, (CLIENT, ZERO, 68), (BCAST, ALL, 67), &d);
            }
            k.done()
        };
        pass_fail(
            rtx_01,
            &mk(&[0, 4000, 12_000, 28_000, 60_000]),
            &mk(&[0, 4000, 8000]),
        );
    }
}

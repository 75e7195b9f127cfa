//! Rules of the lab itself (`LAB-*`): outcomes every protocol rule exists to protect, judged with
//! what only the lab knows (which host holds which static address).

use super::{fail, verdict, Check, Outcome};
use crate::judge::trace::Trace;
use bootlab_wire::arp;

/// The checks, by rule id.
pub(super) const CHECKS: &[(&str, Check)] = &[("LAB-DUP-01", dup_01)];

/// LAB-DUP-01: no host claims (announces, answers for, or uses as ARP sender) an address that
/// another lab host holds statically. Probes (sender 0.0.0.0) claim nothing.
fn dup_01(t: &Trace) -> Outcome {
    let mut any = false;
    for (f, a) in t.arp() {
        if matches!(
            a.kind(),
            arp::Kind::Probe | arp::Kind::RarpRequest | arp::Kind::RarpReply | arp::Kind::Unknown
        ) {
            continue;
        }
        let Some(owner) = t.names.ips.get(&a.source_protocol_addr) else {
            continue;
        };
        let Some(claimer) = t.names.macs.get(&a.source_hardware_addr.0) else {
            continue;
        };
        any = true;
        if owner != claimer {
            return fail(
                &f.segment,
                f.number,
                format!(
                    "{claimer} claims {} (ARP {:?}), which {owner} already holds",
                    a.source_protocol_addr,
                    a.kind()
                ),
            );
        }
    }
    verdict(any)
}

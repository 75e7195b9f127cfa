//! Option negotiation (RFC 2347) for blksize (RFC 2348), timeout and tsize (RFC 2349) and
//! windowsize (RFC 7440): what a server grants and what a client accepts in an OACK.

use bootlab_wire::tftp::{
    find_option, option, TftpOption, DEFAULT_BLKSIZE, MAX_BLKSIZE, MIN_BLKSIZE,
};

/// The transfer parameters in force after negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Octets per DATA block (RFC 2348), 512 without the option.
    pub blksize: u16,
    /// Blocks per window (RFC 7440), 1 (lock-step RFC 1350) without the option.
    pub windowsize: u16,
    /// Retransmission timeout in seconds (RFC 2349 §1), when negotiated.
    pub timeout: Option<u8>,
    /// Transfer size in octets (RFC 2349 §2), when negotiated.
    pub tsize: Option<u64>,
}

impl Default for Negotiated {
    fn default() -> Self {
        Self {
            blksize: DEFAULT_BLKSIZE,
            windowsize: 1,
            timeout: None,
            tsize: None,
        }
    }
}

/// A server's limits on what it grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest blksize granted (at most 65464).
    pub max_blksize: u16,
    /// The largest windowsize granted.
    pub max_windowsize: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_blksize: MAX_BLKSIZE,
            max_windowsize: 64,
        }
    }
}

fn number(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// The server side of RFC 2347: grants what it accepts of `requested`, in the order requested,
/// and drops the rest silently (unknown options, out-of-range values). `tsize` is the file size
/// to report for a read (RFC 2349 §2: a read request carries 0); for a write the client's value is
/// echoed. An empty OACK list means "answer without an OACK".
pub fn grant(
    requested: &[TftpOption],
    limits: Limits,
    tsize: Option<u64>,
    write: bool,
) -> (Negotiated, Vec<TftpOption>) {
    let mut n = Negotiated::default();
    let mut oack = Vec::new();
    for o in requested {
        if oack
            .iter()
            .any(|g: &TftpOption| g.name.eq_ignore_ascii_case(&o.name))
        {
            continue; // RFC 2347: each option at most once; the first copy counts.
        }
        let value = number(&o.value);
        if o.name.eq_ignore_ascii_case(option::BLKSIZE) {
            // RFC 2348: 8..=65464; the server may answer a smaller value, never a larger one.
            if let Some(v) =
                value.filter(|v| (u64::from(MIN_BLKSIZE)..=u64::from(MAX_BLKSIZE)).contains(v))
            {
                let max = limits.max_blksize.clamp(MIN_BLKSIZE, MAX_BLKSIZE);
                n.blksize = (v as u16).min(max);
                oack.push(TftpOption::new(option::BLKSIZE, n.blksize));
            }
        } else if o.name.eq_ignore_ascii_case(option::TIMEOUT) {
            // RFC 2349 §1: 1..=255, echoed exactly or left out.
            if let Some(v) = value.filter(|v| (1..=255).contains(v)) {
                n.timeout = Some(v as u8);
                oack.push(TftpOption::new(option::TIMEOUT, v));
            }
        } else if o.name.eq_ignore_ascii_case(option::TSIZE) {
            let granted = if write {
                value
            } else {
                tsize.filter(|_| value.is_some())
            };
            if let Some(v) = granted {
                n.tsize = Some(v);
                oack.push(TftpOption::new(option::TSIZE, v));
            }
        } else if o.name.eq_ignore_ascii_case(option::WINDOWSIZE) {
            // RFC 7440 §3: 1..=65535, the server may answer a smaller value.
            if let Some(v) = value.filter(|v| (1..=65535).contains(v)) {
                n.windowsize = (v as u16).min(limits.max_windowsize.max(1));
                oack.push(TftpOption::new(option::WINDOWSIZE, n.windowsize));
            }
        }
    }
    (n, oack)
}

/// The client side of RFC 2347: checks an OACK against what was asked. Refuses (the client then
/// sends ERROR 8) an option never asked for, a blksize or windowsize larger than asked or out of
/// range, or a timeout not echoed exactly.
pub fn accept_oack(requested: &[TftpOption], oack: &[TftpOption]) -> Result<Negotiated, String> {
    let mut n = Negotiated::default();
    for o in oack {
        let Some(asked) = find_option(requested, &o.name) else {
            return Err(format!(
                "OACK carries option {:?} that was not requested",
                o.name
            ));
        };
        let v = number(&o.value)
            .ok_or_else(|| format!("OACK {} value {:?} is not a number", o.name, o.value))?;
        let asked = number(asked);
        if o.name.eq_ignore_ascii_case(option::BLKSIZE) {
            if v < u64::from(MIN_BLKSIZE) || asked.is_some_and(|a| v > a) {
                return Err(format!("OACK blksize {v} not within 8..=requested"));
            }
            n.blksize = v as u16;
        } else if o.name.eq_ignore_ascii_case(option::WINDOWSIZE) {
            if v == 0 || asked.is_some_and(|a| v > a) {
                return Err(format!("OACK windowsize {v} not within 1..=requested"));
            }
            n.windowsize = v as u16;
        } else if o.name.eq_ignore_ascii_case(option::TIMEOUT) {
            if asked != Some(v) {
                return Err(format!("OACK timeout {v} differs from the requested value"));
            }
            n.timeout = Some(v as u8);
        } else if o.name.eq_ignore_ascii_case(option::TSIZE) {
            n.tsize = Some(v);
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Vec<TftpOption> {
        pairs.iter().map(|(n, v)| TftpOption::new(*n, v)).collect()
    }

    #[test]
    fn server_grants_in_order_and_drops_what_it_refuses() {
        let req = opts(&[
            ("x-foo", "1"),
            ("windowsize", "200"),
            ("BLKSIZE", "1428"),
            ("timeout", "0"),
            ("tsize", "0"),
        ]);
        let limits = Limits {
            max_blksize: 1024,
            max_windowsize: 16,
        };
        let (n, oack) = grant(&req, limits, Some(4242), false);
        assert_eq!(
            oack,
            opts(&[("windowsize", "16"), ("blksize", "1024"), ("tsize", "4242")])
        );
        assert_eq!(
            n,
            Negotiated {
                blksize: 1024,
                windowsize: 16,
                timeout: None,
                tsize: Some(4242)
            }
        );
    }

    #[test]
    fn out_of_range_blksize_is_not_granted() {
        for bad in ["4", "70000", "abc"] {
            let (n, oack) = grant(&opts(&[("blksize", bad)]), Limits::default(), None, false);
            assert!(oack.is_empty(), "{bad}");
            assert_eq!(n.blksize, 512);
        }
    }

    #[test]
    fn client_refuses_unrequested_or_larger_options() {
        let req = opts(&[("blksize", "1024"), ("timeout", "3")]);
        assert!(accept_oack(&req, &opts(&[("tsize", "1")])).is_err());
        assert!(accept_oack(&req, &opts(&[("blksize", "2048")])).is_err());
        assert!(accept_oack(&req, &opts(&[("timeout", "4")])).is_err());
        let n =
            accept_oack(&req, &opts(&[("blksize", "512"), ("timeout", "3")])).expect("acceptable");
        assert_eq!((n.blksize, n.timeout), (512, Some(3)));
    }
}

//! A canned stateless DHCP responder: the machine's limit for `bootlab bench server`. It keeps
//! no lease, writes nothing to disk and parses only what it must: each DHCPDISCOVER is answered
//! with a DHCPOFFER and each DHCPREQUEST with a DHCPACK for an address derived from `chaddr`
//! (RFC 2131 §4.3.1, §4.3.2 message shapes, nothing more). It is a yardstick, not a server.

use std::net::{Ipv4Addr, SocketAddrV4};

use anyhow::Context;
use bootlab_wire::bootp::{HEADER_LEN, MAGIC_COOKIE, MIN_MESSAGE_LEN};

/// Arguments of `bootlab bench canned` (hidden; the bench runs it inside a host).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The interface to serve (SO_BINDTODEVICE).
    #[arg(long, default_value = "eth0")]
    pub interface: String,
    /// Server identifier (option 54) and `siaddr`.
    #[arg(long)]
    pub server_id: Ipv4Addr,
    /// First address handed out.
    #[arg(long)]
    pub pool_start: Ipv4Addr,
    /// Addresses in the pool.
    #[arg(long)]
    pub pool_size: u32,
    /// Subnet mask (option 1).
    #[arg(long, default_value = "255.255.255.0")]
    pub mask: Ipv4Addr,
}

/// RFC 951 §3 field offsets used here.
mod field {
    pub(super) const OP: usize = 0;
    pub(super) const HOPS: usize = 3;
    pub(super) const SECS: std::ops::Range<usize> = 8..10;
    pub(super) const YIADDR: std::ops::Range<usize> = 16..20;
    pub(super) const SIADDR: std::ops::Range<usize> = 20..24;
    pub(super) const GIADDR: std::ops::Range<usize> = 24..28;
    pub(super) const CHADDR: std::ops::Range<usize> = 28..34;
}

/// Option 53's value in the options after the cookie, if present (RFC 2132 §9.6).
fn message_type(options: &[u8]) -> Option<u8> {
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => i += 1,
            255 => return None,
            code => {
                let len = usize::from(*options.get(i + 1)?);
                if code == 53 && len == 1 {
                    return options.get(i + 2).copied();
                }
                i += 2 + len;
            }
        }
    }
    None
}

/// The canned reply to `req` (an OFFER for a DISCOVER, an ACK for a REQUEST) and where it goes,
/// or `None` for anything else.
pub fn reply(args: &Args, req: &[u8], out: &mut Vec<u8>) -> Option<SocketAddrV4> {
    if req.len() < HEADER_LEN + 4
        || req[field::OP] != 1
        || req[HEADER_LEN..HEADER_LEN + 4] != MAGIC_COOKIE
    {
        return None;
    }
    let kind = match message_type(&req[HEADER_LEN + 4..])? {
        1 => 2, // DHCPDISCOVER -> DHCPOFFER
        3 => 5, // DHCPREQUEST -> DHCPACK
        _ => return None,
    };
    let chaddr = &req[field::CHADDR];
    let hash = chaddr.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    });
    let yiaddr = u32::from(args.pool_start).wrapping_add(hash % args.pool_size.max(1));
    out.clear();
    out.extend_from_slice(&req[..HEADER_LEN]);
    out[field::OP] = 2;
    out[field::HOPS] = 0;
    out[field::SECS].fill(0);
    out[field::YIADDR].copy_from_slice(&yiaddr.to_be_bytes());
    out[field::SIADDR].copy_from_slice(&args.server_id.octets());
    out.extend_from_slice(&MAGIC_COOKIE);
    out.extend_from_slice(&[53, 1, kind]);
    out.extend_from_slice(&[54, 4]);
    out.extend_from_slice(&args.server_id.octets());
    out.extend_from_slice(&[51, 4, 0, 0, 0x0e, 0x10]);
    out.extend_from_slice(&[1, 4]);
    out.extend_from_slice(&args.mask.octets());
    out.push(255);
    out.resize(out.len().max(MIN_MESSAGE_LEN), 0);
    let giaddr = Ipv4Addr::new(
        req[field::GIADDR.start],
        req[field::GIADDR.start + 1],
        req[field::GIADDR.start + 2],
        req[field::GIADDR.start + 3],
    );
    Some(if giaddr.is_unspecified() {
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
    } else {
        SocketAddrV4::new(giaddr, 67)
    })
}

/// Serves until killed (the bench stops it).
pub fn run(args: Args) -> anyhow::Result<()> {
    let sock = bootlab_net::delivery::bind_udp(Some(&args.interface), 67)
        .with_context(|| format!("bind UDP 67 on {}", args.interface))?;
    sock.set_nonblocking(false).context("blocking socket")?;
    println!("{{\"event\":\"ready\",\"port\":67}}");
    let mut buf = vec![0u8; 2048];
    let mut out = Vec::with_capacity(MIN_MESSAGE_LEN);
    loop {
        let (n, _) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("receive"),
        };
        if let Some(dest) = reply(&args, &buf[..n], &mut out) {
            // A full socket buffer loses the reply, as it would for any server.
            let _ = sock.send_to(&out, dest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bootlab_wire::bootp::{Message, MessageType};

    fn args() -> Args {
        Args {
            interface: "eth0".into(),
            server_id: Ipv4Addr::new(192, 0, 2, 1),
            pool_start: Ipv4Addr::new(192, 0, 2, 10),
            pool_size: 100,
            mask: Ipv4Addr::new(255, 255, 255, 0),
        }
    }

    #[test]
    fn discover_gets_an_offer_to_the_relay_and_request_an_ack() {
        let mut d = Message::new_dhcp(MessageType::Discover, 9, [2, 0, 0, 0, 0, 7]);
        d.giaddr = Ipv4Addr::new(192, 0, 2, 2);
        let mut out = Vec::new();
        let dest = reply(&args(), &d.emit(), &mut out);
        assert_eq!(dest, Some("192.0.2.2:67".parse().expect("addr")));
        let (m, devs) = Message::parse(&out).expect("parse");
        assert!(devs.is_empty(), "{devs:?}");
        assert_eq!(m.xid, 9);
        assert_eq!(m.message_type(), Some(MessageType::Offer));
        let y = u32::from(m.yiaddr) - u32::from(Ipv4Addr::new(192, 0, 2, 10));
        assert!(y < 100);
        let r = Message::new_dhcp(MessageType::Request, 10, [2, 0, 0, 0, 0, 7]);
        let dest = reply(&args(), &r.emit(), &mut out);
        assert_eq!(dest, Some("255.255.255.255:68".parse().expect("addr")));
        let (a, _) = Message::parse(&out).expect("parse");
        assert_eq!(a.message_type(), Some(MessageType::Ack));
        assert_eq!(a.yiaddr, m.yiaddr, "same client, same address");
        let inform = Message::new_dhcp(MessageType::Inform, 11, [2, 0, 0, 0, 0, 7]);
        assert_eq!(reply(&args(), &inform.emit(), &mut out), None);
        assert_eq!(reply(&args(), &[1; 100], &mut out), None);
    }
}

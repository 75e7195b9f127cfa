//! AF_PACKET raw sockets (packet(7)): the boot ROM client, the server's raw reply path, the
//! lab's capture and its impairment wire all send and receive whole Ethernet frames here.
//!
//! Sockets are non-blocking and close-on-exec, so a tokio caller wraps them in
//! `tokio::io::unix::AsyncFd` and retries on `WouldBlock`; [`PacketSocket::wait_readable`] serves
//! blocking callers.

use std::mem::{size_of, zeroed};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{cvt, Error, Result};
use crate::iface;

const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_DROP_MEMBERSHIP: libc::c_int = 2;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_AUXDATA: libc::c_int = 8;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const PACKET_MR_PROMISC: u16 = 1;
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_CSUM_VALID: u32 = 1 << 7;
const SO_TIMESTAMPNS: libc::c_int = 35;
const SCM_TIMESTAMPNS: libc::c_int = SO_TIMESTAMPNS;

/// `struct packet_mreq` from `<linux/if_packet.h>`.
#[repr(C)]
struct PacketMreq {
    mr_ifindex: libc::c_int,
    mr_type: u16,
    mr_alen: u16,
    mr_address: [u8; 8],
}

/// `struct tpacket_stats` from `<linux/if_packet.h>`.
#[repr(C)]
#[derive(Default)]
struct TpacketStats {
    tp_packets: u32,
    tp_drops: u32,
}

/// `struct tpacket_auxdata` from `<linux/if_packet.h>`.
#[repr(C)]
#[derive(Clone, Copy)]
struct TpacketAuxdata {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

/// Which frames a socket receives, by Ethernet type (IEEE 802.3 / RFC 894 type field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtherType {
    /// Every frame (`ETH_P_ALL`): captures and the impairment wire.
    All,
    /// IPv4, 0x0800 (RFC 894).
    Ipv4,
    /// ARP, 0x0806 (RFC 826).
    Arp,
    /// RARP, 0x8035 (RFC 903).
    Rarp,
    /// Any other type.
    Other(u16),
}

impl EtherType {
    /// The numeric type in host order.
    pub fn value(self) -> u16 {
        match self {
            EtherType::All => 0x0003,
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Rarp => 0x8035,
            EtherType::Other(v) => v,
        }
    }
}

/// Where a received frame came from relative to this host (`sll_pkttype`, packet(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// Addressed to this host.
    Host,
    /// Broadcast.
    Broadcast,
    /// Multicast.
    Multicast,
    /// Addressed to another host (seen in promiscuous mode).
    OtherHost,
    /// Sent by this host (looped back to packet sockets).
    Outgoing,
    /// Any other value.
    Other(u8),
}

impl From<u8> for PacketType {
    fn from(v: u8) -> Self {
        match v {
            0 => PacketType::Host,
            1 => PacketType::Broadcast,
            2 => PacketType::Multicast,
            3 => PacketType::OtherHost,
            4 => PacketType::Outgoing,
            other => PacketType::Other(other),
        }
    }
}

/// One received frame's metadata; the bytes are in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// The frame's length on the wire; larger than `len` when the buffer was too small.
    pub wire_len: usize,
    /// Kernel receive time (`SO_TIMESTAMPNS`), nanosecond resolution, wall clock.
    pub timestamp: SystemTime,
    /// Where the frame came from relative to this host.
    pub packet_type: PacketType,
    /// The frame's checksum was left for offload and is not filled in (`TP_STATUS_CSUMNOTREADY`);
    /// only known when auxdata is enabled.
    pub csum_not_ready: bool,
    /// The kernel already validated the checksum (`TP_STATUS_CSUM_VALID`); auxdata only.
    pub csum_valid: bool,
}

/// Cumulative receive counters of a socket (`PACKET_STATISTICS`, packet(7)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Frames the socket received, including dropped ones.
    pub packets: u64,
    /// Frames the kernel dropped because the receive buffer was full.
    pub drops: u64,
}

/// An AF_PACKET `SOCK_RAW` socket bound to one interface and Ethernet type.
///
/// Closing one waits for an RCU grace period in the kernel (milliseconds): drop many on a
/// spare thread ([`close_in_background`]) when that matters.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
    ifname: String,
    packets: AtomicU64,
    drops: AtomicU64,
}

impl PacketSocket {
    /// Opens a non-blocking packet socket bound to interface `ifname` (in the calling thread's
    /// network namespace) for frames of `ethertype`, with nanosecond receive timestamps.
    pub fn bind(ifname: &str, ethertype: EtherType) -> Result<Self> {
        let ifindex = iface::index(ifname)?;
        let proto = ethertype.value().to_be();
        // Protocol 0 at creation, the real one at bind: a socket made with a protocol is hooked
        // on every interface at once, and re-hooking it at bind waits for an RCU grace period.
        // SAFETY: plain socket(2) call; the fd is checked and owned exactly once below.
        let fd = cvt(
            unsafe {
                libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    0,
                )
            },
            "socket AF_PACKET",
            ifname,
        )?;
        // SAFETY: `fd` is a fresh valid descriptor that nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_ll is a valid value of this plain C struct.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as libc::c_int;
        // SAFETY: `sll` is a valid sockaddr_ll and the length passed is its size.
        cvt(
            unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&sll as *const libc::sockaddr_ll).cast(),
                    size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            },
            "bind AF_PACKET",
            ifname,
        )?;
        let sock = PacketSocket {
            fd,
            ifindex,
            ifname: ifname.to_owned(),
            packets: AtomicU64::new(0),
            drops: AtomicU64::new(0),
        };
        sock.setsockopt(
            libc::SOL_SOCKET,
            SO_TIMESTAMPNS,
            &1 as &libc::c_int,
            "SO_TIMESTAMPNS",
        )?;
        Ok(sock)
    }

    fn setsockopt<T>(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        value: &T,
        op: &'static str,
    ) -> Result<()> {
        // SAFETY: `value` points at a live `T` and the length passed is `size_of::<T>()`.
        cvt(
            unsafe {
                libc::setsockopt(
                    self.fd.as_raw_fd(),
                    level,
                    name,
                    (value as *const T).cast(),
                    size_of::<T>() as libc::socklen_t,
                )
            },
            op,
            &self.ifname,
        )
        .map(|_| ())
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The interface name the socket is bound to.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// Puts the interface in promiscuous mode for as long as the socket lives
    /// (`PACKET_MR_PROMISC`): a capture on a bridge sees forwarded unicast only this way.
    pub fn set_promiscuous(&self, on: bool) -> Result<()> {
        let mreq = PacketMreq {
            mr_ifindex: self.ifindex as libc::c_int,
            mr_type: PACKET_MR_PROMISC,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        let opt = if on {
            PACKET_ADD_MEMBERSHIP
        } else {
            PACKET_DROP_MEMBERSHIP
        };
        self.setsockopt(libc::SOL_PACKET, opt, &mreq, "PACKET_MR_PROMISC")
    }

    /// Asks for `PACKET_AUXDATA` with every frame, which tells whether its checksum is unfinished
    /// ([`Received::csum_not_ready`]).
    pub fn enable_auxdata(&self) -> Result<()> {
        self.setsockopt(
            libc::SOL_PACKET,
            PACKET_AUXDATA,
            &1 as &libc::c_int,
            "PACKET_AUXDATA",
        )
    }

    /// Stops delivering frames this host sends (`PACKET_IGNORE_OUTGOING`, Linux 4.20+).
    pub fn set_ignore_outgoing(&self, on: bool) -> Result<()> {
        let v: libc::c_int = on.into();
        self.setsockopt(
            libc::SOL_PACKET,
            PACKET_IGNORE_OUTGOING,
            &v,
            "PACKET_IGNORE_OUTGOING",
        )
    }

    /// Sets the receive buffer size; captures use a large one to avoid drops. `SO_RCVBUFFORCE`
    /// first (past `net.core.rmem_max`; needs `CAP_NET_ADMIN` in the initial user namespace, i.e.
    /// root), else `SO_RCVBUF` (capped at `rmem_max`).
    pub fn set_recv_buffer(&self, bytes: usize) -> Result<()> {
        let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        self.setsockopt(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &v, "SO_RCVBUFFORCE")
            .or_else(|_| self.setsockopt(libc::SOL_SOCKET, libc::SO_RCVBUF, &v, "SO_RCVBUF"))
    }

    /// Sends one whole Ethernet frame (destination MAC first) out of the bound interface.
    /// Returns `WouldBlock` when the transmit queue is full.
    pub fn send(&self, frame: &[u8]) -> Result<usize> {
        // SAFETY: `frame` is a valid readable slice for its length; flags are plain.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            Err(Error::last("send AF_PACKET", &self.ifname))
        } else {
            Ok(n as usize)
        }
    }

    /// Receives one frame into `buf` without blocking (`WouldBlock` when none is queued).
    pub fn recv(&self, buf: &mut [u8]) -> Result<Received> {
        // Room for SCM_TIMESTAMPNS and PACKET_AUXDATA control messages.
        let mut control = [0u64; 16];
        // SAFETY: an all-zero sockaddr_ll is a valid value of this plain C struct.
        let mut from: libc::sockaddr_ll = unsafe { zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: an all-zero msghdr is valid; every pointer is set below.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 16]>() as _;
        // SAFETY: every buffer `msg` points at is live and writable for its stated length.
        // MSG_TRUNC makes the return value the frame's full length.
        let n = unsafe {
            libc::recvmsg(
                self.fd.as_raw_fd(),
                &mut msg,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            return Err(Error::last("recvmsg AF_PACKET", &self.ifname));
        }
        let wire_len = n as usize;
        let mut received = Received {
            len: wire_len.min(buf.len()),
            wire_len,
            timestamp: SystemTime::now(),
            packet_type: PacketType::from(from.sll_pkttype),
            csum_not_ready: false,
            csum_valid: false,
        };
        // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR/CMSG_NXTHDR stay within
        // `msg_controllen` and each header's data is read with an unaligned read of the struct
        // its type implies, whose size the length check guarantees.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                let hdr = &*cmsg;
                let data = libc::CMSG_DATA(cmsg);
                let data_len = (hdr.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                if hdr.cmsg_level == libc::SOL_SOCKET
                    && hdr.cmsg_type == SCM_TIMESTAMPNS
                    && data_len >= size_of::<libc::timespec>()
                {
                    let ts: libc::timespec = std::ptr::read_unaligned(data.cast());
                    received.timestamp =
                        UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
                } else if hdr.cmsg_level == libc::SOL_PACKET
                    && hdr.cmsg_type == PACKET_AUXDATA
                    && data_len >= size_of::<TpacketAuxdata>()
                {
                    let aux: TpacketAuxdata = std::ptr::read_unaligned(data.cast());
                    received.csum_not_ready = aux.tp_status & TP_STATUS_CSUMNOTREADY != 0;
                    received.csum_valid = aux.tp_status & TP_STATUS_CSUM_VALID != 0;
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok(received)
    }

    /// Blocks up to `timeout` until a frame is queued; `Ok(false)` on timeout.
    pub fn wait_readable(&self, timeout: Duration) -> Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `pfd` is one valid pollfd, matching the count of 1.
        let n = cvt(
            unsafe { libc::poll(&mut pfd, 1, ms) },
            "poll AF_PACKET",
            &self.ifname,
        )?;
        Ok(n > 0)
    }

    /// Cumulative receive and drop counters since the socket was opened (`PACKET_STATISTICS`;
    /// the kernel resets its counters on each read, so this accumulates them).
    pub fn statistics(&self) -> Result<Statistics> {
        let mut st = TpacketStats::default();
        let mut len = size_of::<TpacketStats>() as libc::socklen_t;
        // SAFETY: `st` and `len` are live and `len` states `st`'s size.
        cvt(
            unsafe {
                libc::getsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_PACKET,
                    PACKET_STATISTICS,
                    (&mut st as *mut TpacketStats).cast(),
                    &mut len,
                )
            },
            "getsockopt PACKET_STATISTICS",
            &self.ifname,
        )?;
        let packets = self
            .packets
            .fetch_add(u64::from(st.tp_packets), Ordering::Relaxed)
            + u64::from(st.tp_packets);
        let drops = self
            .drops
            .fetch_add(u64::from(st.tp_drops), Ordering::Relaxed)
            + u64::from(st.tp_drops);
        Ok(Statistics { packets, drops })
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Drops `items` (sockets, namespace fds) on a detached thread: their last close can wait for
/// RCU grace periods, which the caller need not sit through. The kernel finishes the clean-up
/// even if the process exits first.
pub fn close_in_background<T: Send + 'static>(items: T) {
    if std::thread::Builder::new()
        .name("close".into())
        .spawn(move || drop(items))
        .is_err()
    {
        // No thread to spare: the items were dropped with the closure, here.
    }
}

/// A [`PacketSocket`] registered with the tokio reactor: `recv` and `send` wait for readiness.
#[derive(Debug)]
pub struct AsyncPacketSocket {
    inner: tokio::io::unix::AsyncFd<PacketSocket>,
}

impl AsyncPacketSocket {
    /// Registers `sock` with the current tokio runtime (panics outside one, like tokio).
    pub fn new(sock: PacketSocket) -> std::io::Result<Self> {
        // SAFETY: `PacketSocket` owns its fd for its whole life and `as_raw_fd` always returns
        // that same fd, so the registration never outlives or aliases another descriptor.
        let inner =
            unsafe { tokio::io::unix::AsyncFd::register(sock) }.map_err(|e| e.into_parts().1)?;
        Ok(AsyncPacketSocket { inner })
    }

    /// The socket.
    pub fn get_ref(&self) -> &PacketSocket {
        self.inner.get_ref()
    }

    /// Deregisters the socket from the reactor and gives it back.
    pub fn into_inner(self) -> PacketSocket {
        self.inner.into_inner()
    }

    /// Waits for a frame and receives it into `buf` (cancel-safe: a frame is read only when
    /// this returns).
    pub async fn recv(&self, buf: &mut [u8]) -> std::io::Result<Received> {
        self.inner
            .async_io(tokio::io::Interest::READABLE, |s| {
                s.recv(buf).map_err(std::io::Error::from)
            })
            .await
    }

    /// Sends one whole frame, waiting while the transmit queue is full.
    pub async fn send(&self, frame: &[u8]) -> std::io::Result<usize> {
        self.inner
            .async_io(tokio::io::Interest::WRITABLE, |s| {
                s.send(frame).map_err(std::io::Error::from)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethertype_values_are_the_assigned_numbers() {
        assert_eq!(EtherType::Ipv4.value(), 0x0800);
        assert_eq!(EtherType::Arp.value(), 0x0806);
        assert_eq!(EtherType::Rarp.value(), 0x8035);
        assert_eq!(EtherType::All.value(), 0x0003);
    }

    #[test]
    fn packet_types_decode() {
        assert_eq!(PacketType::from(0), PacketType::Host);
        assert_eq!(PacketType::from(3), PacketType::OtherHost);
        assert_eq!(PacketType::from(4), PacketType::Outgoing);
        assert_eq!(PacketType::from(9), PacketType::Other(9));
    }

    /// Sends a frame on the loopback of a private network namespace (root only: skipped when
    /// the namespace cannot be made) and receives it with a kernel timestamp.
    #[test]
    fn loopback_round_trip_in_private_namespace() {
        let t = std::thread::spawn(|| {
            if crate::ns::unshare(&[crate::ns::Kind::Net]).is_err() {
                return Ok(false);
            }
            iface::set_up("lo", true)?;
            let sock = PacketSocket::bind("lo", EtherType::Other(0x88b5))?;
            sock.enable_auxdata()?;
            let mut frame = [0u8; 60];
            frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
            frame[14..18].copy_from_slice(b"boot");
            let before = SystemTime::now();
            assert_eq!(sock.send(&frame)?, 60);
            let mut buf = [0u8; 2048];
            let mut seen = Vec::new();
            for _ in 0..4 {
                if !sock.wait_readable(Duration::from_millis(200))? {
                    break;
                }
                let r = sock.recv(&mut buf)?;
                assert_eq!(&buf[14..18], b"boot");
                assert!(r.timestamp >= before - Duration::from_secs(1));
                seen.push(r.packet_type);
            }
            // A socket bound to one type sees only the received copy (outgoing copies go to
            // ETH_P_ALL sockets only).
            assert_eq!(seen, [PacketType::Host]);
            let st = sock.statistics()?;
            assert_eq!(st.drops, 0);
            assert_eq!(st.packets, 1);
            Ok::<bool, Error>(true)
        });
        match t.join() {
            Ok(r) => assert!(r.is_ok(), "{r:?}"),
            Err(_) => panic!("namespace thread panicked"),
        }
    }

    #[test]
    fn bind_to_unknown_interface_names_it() {
        let err = PacketSocket::bind("no-such-if0", EtherType::All).err();
        assert!(err.is_some_and(|e| e.to_string().contains("no-such-if0")));
    }
}

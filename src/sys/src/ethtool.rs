//! ethtool ioctls (`SIOCETHTOOL`): transmit checksum offload on lab veths.
//!
//! veth leaves UDP checksums unfinished when transmit checksum offload is on, so captures show
//! bad checksums and raw receivers that check them drop good frames (see DESIGN.md, "Kernel
//! facts that bite"). The lab turns it off on every veth end.

use std::os::fd::AsRawFd;

use crate::error::{cvt, Result};
use crate::iface::{ioctl_socket, IfReq};

const ETHTOOL_GTXCSUM: u32 = 0x0000_0016;
const ETHTOOL_STXCSUM: u32 = 0x0000_0017;

/// `struct ethtool_value` from `<linux/ethtool.h>`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

fn ethtool_value(ifname: &str, cmd: u32, data: u32, op: &'static str) -> Result<u32> {
    let sock = ioctl_socket()?;
    let mut value = EthtoolValue { cmd, data };
    let mut req = IfReq::new(ifname)?;
    req.data.data = (&mut value as *mut EthtoolValue).cast();
    // SAFETY: `req` points at `value`, both live across the call; the kernel reads and writes
    // exactly one `struct ethtool_value` through the pointer.
    cvt(
        unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut req as *mut IfReq) },
        op,
        ifname,
    )?;
    Ok(value.data)
}

/// Turns transmit checksum offload of `ifname` on or off (`ETHTOOL_STXCSUM`, like `ethtool -K
/// dev tx off`), in the calling thread's network namespace.
pub fn set_tx_checksum(ifname: &str, on: bool) -> Result<()> {
    ethtool_value(ifname, ETHTOOL_STXCSUM, u32::from(on), "ethtool STXCSUM").map(|_| ())
}

/// Whether transmit checksum offload of `ifname` is on (`ETHTOOL_GTXCSUM`).
pub fn tx_checksum(ifname: &str) -> Result<bool> {
    ethtool_value(ifname, ETHTOOL_GTXCSUM, 0, "ethtool GTXCSUM").map(|v| v != 0)
}

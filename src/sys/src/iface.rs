//! Interface look-ups by name in the calling thread's network namespace.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{cvt, Error, Result};

/// Longest interface name the kernel accepts, without the NUL (`IFNAMSIZ - 1`).
pub const MAX_NAME_LEN: usize = 15;

/// `struct ifreq` from `<net/if.h>`: a name and a 24-byte union.
#[repr(C)]
pub(crate) struct IfReq {
    pub(crate) name: [libc::c_char; libc::IFNAMSIZ],
    pub(crate) data: IfrData,
}

/// The union of `struct ifreq`.
#[repr(C)]
pub(crate) union IfrData {
    pub(crate) hwaddr: libc::sockaddr,
    pub(crate) data: *mut libc::c_void,
    pub(crate) ifindex: libc::c_int,
    pub(crate) flags: libc::c_short,
    _pad: [u8; 24],
}

impl IfReq {
    /// An `ifreq` naming `name`, with the union zeroed.
    pub(crate) fn new(name: &str) -> Result<Self> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() > MAX_NAME_LEN || bytes.contains(&0) {
            return Err(Error::new(
                "interface name",
                name,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "must be 1..=15 bytes, no NUL",
                ),
            ));
        }
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: IfrData { _pad: [0; 24] },
        };
        for (dst, src) in req.name.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        Ok(req)
    }
}

/// A datagram socket used only as a handle for interface ioctls in the current namespace.
pub(crate) fn ioctl_socket() -> Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the returned fd is checked and then owned exactly once.
    let fd = cvt(
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) },
        "socket AF_INET",
        "ioctl handle",
    )?;
    // SAFETY: `fd` is a fresh, valid descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The interface index of `name` (`if_nametoindex(3)`).
pub fn index(name: &str) -> Result<u32> {
    let c = CString::new(name).map_err(|e| Error::new("interface name", name, e.into()))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(Error::last("if_nametoindex", name))
    } else {
        Ok(idx)
    }
}

/// The name of interface `index` (`if_indextoname(3)`).
pub fn name(index: u32) -> Result<String> {
    let mut buf = [0 as libc::c_char; libc::IFNAMSIZ];
    // SAFETY: `buf` has the IFNAMSIZ bytes if_indextoname may write.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return Err(Error::last("if_indextoname", index.to_string()));
    }
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The Ethernet (hardware) address of `name` (`SIOCGIFHWADDR`).
pub fn mac(name: &str) -> Result<[u8; 6]> {
    let sock = ioctl_socket()?;
    let mut req = IfReq::new(name)?;
    // SAFETY: `req` is a properly laid out `struct ifreq` that lives across the call; the kernel
    // writes at most `sizeof(struct ifreq)` bytes into it.
    cvt(
        unsafe {
            libc::ioctl(
                sock.as_raw_fd(),
                libc::SIOCGIFHWADDR,
                &mut req as *mut IfReq,
            )
        },
        "ioctl SIOCGIFHWADDR",
        name,
    )?;
    // SAFETY: SIOCGIFHWADDR filled the `hwaddr` member of the union.
    let sa = unsafe { req.data.hwaddr };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *dst = *src as u8;
    }
    Ok(mac)
}

/// Sets the administrative state of `name` up or down (`SIOCSIFFLAGS`, `IFF_UP`).
pub fn set_up(name: &str, up: bool) -> Result<()> {
    let sock = ioctl_socket()?;
    let mut req = IfReq::new(name)?;
    // SAFETY: `req` is a valid `struct ifreq` that lives across both calls.
    cvt(
        unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req as *mut IfReq) },
        "ioctl SIOCGIFFLAGS",
        name,
    )?;
    // SAFETY: SIOCGIFFLAGS filled the `flags` member.
    let flags = unsafe { req.data.flags };
    let up_flag = libc::IFF_UP as libc::c_short;
    req.data.flags = if up {
        flags | up_flag
    } else {
        flags & !up_flag
    };
    // SAFETY: as above.
    cvt(
        unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req as *mut IfReq) },
        "ioctl SIOCSIFFLAGS",
        name,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_found() {
        // `lo` exists in every network namespace, with index 1 and an all-zero address.
        assert_eq!(index("lo").ok(), Some(1));
        assert_eq!(name(1).ok().as_deref(), Some("lo"));
        assert_eq!(mac("lo").ok(), Some([0; 6]));
    }

    #[test]
    fn bad_names_are_rejected() {
        assert!(IfReq::new("").is_err());
        assert!(IfReq::new("sixteen-bytes-xx").is_err());
        assert!(index("no-such-if0").is_err());
    }
}

//! The error every wrapper here returns: which operation, on what, and the OS error.

use std::io;

/// A failed system call with the operation and the object it was applied to.
#[derive(Debug, thiserror::Error)]
#[error("{op} on {what}: {source}")]
pub struct Error {
    /// The operation, e.g. `"bind AF_PACKET"` or `"setns net"`.
    pub op: &'static str,
    /// What it was applied to (an interface name, a path, a namespace).
    pub what: String,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

impl Error {
    /// Wraps the OS error of the last failed call (`errno`).
    pub fn last(op: &'static str, what: impl Into<String>) -> Self {
        Self::new(op, what, io::Error::last_os_error())
    }

    /// Wraps a given error.
    pub fn new(op: &'static str, what: impl Into<String>, source: io::Error) -> Self {
        Self {
            op,
            what: what.into(),
            source,
        }
    }

    /// Whether the error is `EWOULDBLOCK`/`EAGAIN`.
    pub fn would_block(&self) -> bool {
        self.source.kind() == io::ErrorKind::WouldBlock
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        io::Error::new(e.source.kind(), e.to_string())
    }
}

/// The result of the wrappers here.
pub type Result<T> = std::result::Result<T, Error>;

/// Converts a `-1` return into an [`Error`] built from `errno`.
pub(crate) fn cvt(ret: libc::c_int, op: &'static str, what: &str) -> Result<libc::c_int> {
    if ret < 0 {
        Err(Error::last(op, what))
    } else {
        Ok(ret)
    }
}

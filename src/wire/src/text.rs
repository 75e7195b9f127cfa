//! Small text helpers shared by the codecs' summaries and JSON views.

use std::fmt::Write;

/// Lower-case hex without separators, e.g. `"63825363"`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Lower-case hex joined by `:`, the way MAC addresses are written, e.g. `"02:00:00:00:00:01"`.
pub(crate) fn colon_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The bytes up to the first NUL, as text (lossy UTF-8).
pub(crate) fn nul_terminated(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

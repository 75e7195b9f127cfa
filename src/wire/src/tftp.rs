//! TFTP (RFC 1350) with option negotiation (RFC 2347): blksize (RFC 2348), timeout and tsize
//! (RFC 2349), windowsize (RFC 7440).
//!
//! CONTRACT (shared with the tftp crate, the boot-ROM client and the lab's trace decoder): the
//! names and types below are stable; additions are fine, renames are not.
//!
//! [`Packet::parse`] is lenient: it decodes what it can and lists every [`Deviation`] (a missing
//! NUL after the mode, a duplicated option, an out-of-range blksize...); it fails only when the
//! opcode is unknown or the packet is too short to carry one. [`Packet::emit`] builds a correct
//! packet; [`Packet::emit_with`] a deliberately wrong one for fault scenarios.

use std::fmt;

use crate::{Deviation, Severity};

/// The well-known server port (RFC 1350 §4).
pub const SERVER_PORT: u16 = 69;
/// The block size without a blksize option (RFC 1350 §2).
pub const DEFAULT_BLKSIZE: u16 = 512;
/// The smallest blksize a client may ask for (RFC 2348).
pub const MIN_BLKSIZE: u16 = 8;
/// The largest blksize a client may ask for (RFC 2348).
pub const MAX_BLKSIZE: u16 = 65464;
/// The largest request (RRQ/WRQ) with options (RFC 2347: "the final packet length must not
/// exceed 512 octets").
pub const MAX_REQUEST_LEN: usize = 512;

/// Option names as the RFCs spell them (compared case-insensitively, RFC 2347).
pub mod option {
    /// RFC 2348.
    pub const BLKSIZE: &str = "blksize";
    /// RFC 2349 §1: retransmission timeout in seconds, 1..=255.
    pub const TIMEOUT: &str = "timeout";
    /// RFC 2349 §2: transfer size in octets (0 in an RRQ asks the server for it).
    pub const TSIZE: &str = "tsize";
    /// RFC 7440: number of blocks per window, 1..=65535.
    pub const WINDOWSIZE: &str = "windowsize";
}

/// The opcode, the first two octets (RFC 1350 §5, RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// 1, read request.
    Rrq,
    /// 2, write request.
    Wrq,
    /// 3, data.
    Data,
    /// 4, acknowledgment.
    Ack,
    /// 5, error.
    Error,
    /// 6, option acknowledgment (RFC 2347).
    Oack,
}

impl Opcode {
    /// The wire value.
    pub fn value(self) -> u16 {
        match self {
            Opcode::Rrq => 1,
            Opcode::Wrq => 2,
            Opcode::Data => 3,
            Opcode::Ack => 4,
            Opcode::Error => 5,
            Opcode::Oack => 6,
        }
    }

    /// The opcode for a wire value, if it is one of RFC 1350/2347's.
    pub fn from_value(v: u16) -> Option<Self> {
        Some(match v {
            1 => Opcode::Rrq,
            2 => Opcode::Wrq,
            3 => Opcode::Data,
            4 => Opcode::Ack,
            5 => Opcode::Error,
            6 => Opcode::Oack,
            _ => return None,
        })
    }
}

/// The transfer mode of a request (RFC 1350 §1, §5; compared case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `netascii`: 8-bit ASCII with CR LF line ends and CR NUL for a bare CR (RFC 764).
    Netascii,
    /// `octet`: raw 8-bit bytes.
    Octet,
    /// `mail`: obsolete (RFC 1123 §4.2.2.1 says not to support it).
    Mail,
    /// Anything else, as sent.
    Other(String),
}

impl Mode {
    /// Parses a mode string case-insensitively.
    pub fn from_name(s: &str) -> Self {
        if s.eq_ignore_ascii_case("netascii") {
            Mode::Netascii
        } else if s.eq_ignore_ascii_case("octet") {
            Mode::Octet
        } else if s.eq_ignore_ascii_case("mail") {
            Mode::Mail
        } else {
            Mode::Other(s.to_string())
        }
    }

    /// The name as emitted (lower case for the known modes).
    pub fn name(&self) -> &str {
        match self {
            Mode::Netascii => "netascii",
            Mode::Octet => "octet",
            Mode::Mail => "mail",
            Mode::Other(s) => s,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One option name/value pair as it appeared on the wire, in order (RFC 2347). Unknown options
/// are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TftpOption {
    /// The name as sent (compare with `eq_ignore_ascii_case`).
    pub name: String,
    /// The value as sent (a decimal number for all the options the RFCs define).
    pub value: String,
}

impl TftpOption {
    /// A name/value pair.
    pub fn new(name: impl Into<String>, value: impl fmt::Display) -> Self {
        Self {
            name: name.into(),
            value: value.to_string(),
        }
    }
}

/// The value of option `name` (case-insensitive) in `options`, the first if repeated.
pub fn find_option<'a>(options: &'a [TftpOption], name: &str) -> Option<&'a str> {
    options
        .iter()
        .find(|o| o.name.eq_ignore_ascii_case(name))
        .map(|o| o.value.as_str())
}

/// An RRQ or WRQ (RFC 1350 §5, options RFC 2347).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The file name as sent (no path interpretation here).
    pub filename: String,
    /// The transfer mode.
    pub mode: Mode,
    /// Options in the order sent.
    pub options: Vec<TftpOption>,
}

impl Request {
    /// The value of option `name`, case-insensitively.
    pub fn option(&self, name: &str) -> Option<&str> {
        find_option(&self.options, name)
    }
}

/// The error code of an ERROR packet (RFC 1350 appendix, RFC 2347 for 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 0: not defined, see the message.
    NotDefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID.
    UnknownTid,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: option negotiation refused (RFC 2347).
    OptionNegotiation,
    /// Any other value (a deviation).
    Unknown(u16),
}

impl ErrorCode {
    /// The wire value.
    pub fn value(self) -> u16 {
        match self {
            ErrorCode::NotDefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTid => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionNegotiation => 8,
            ErrorCode::Unknown(v) => v,
        }
    }

    /// The code for a wire value.
    pub fn from_value(v: u16) -> Self {
        match v {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTid,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionNegotiation,
            v => ErrorCode::Unknown(v),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorCode::NotDefined => "not defined",
            ErrorCode::FileNotFound => "file not found",
            ErrorCode::AccessViolation => "access violation",
            ErrorCode::DiskFull => "disk full",
            ErrorCode::IllegalOperation => "illegal operation",
            ErrorCode::UnknownTid => "unknown transfer ID",
            ErrorCode::FileExists => "file already exists",
            ErrorCode::NoSuchUser => "no such user",
            ErrorCode::OptionNegotiation => "option negotiation refused",
            ErrorCode::Unknown(v) => return write!(f, "code {v}"),
        };
        f.write_str(s)
    }
}

/// A TFTP packet (RFC 1350 §5, RFC 2347).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Read request, opcode 1.
    Rrq(Request),
    /// Write request, opcode 2.
    Wrq(Request),
    /// Data, opcode 3: block number and 0..=blksize octets.
    Data {
        /// Block number (from 1, wrapping past 65535).
        block: u16,
        /// The payload.
        data: Vec<u8>,
    },
    /// Acknowledgment, opcode 4.
    Ack {
        /// The block acknowledged (0 acknowledges a WRQ or an OACK).
        block: u16,
    },
    /// Error, opcode 5.
    Error {
        /// The error code.
        code: ErrorCode,
        /// The NUL-terminated message, without the NUL.
        message: String,
    },
    /// Option acknowledgment, opcode 6 (RFC 2347).
    Oack {
        /// The accepted options, in order.
        options: Vec<TftpOption>,
    },
}

/// Why a packet could not be decoded at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the opcode (and block number) need.
    #[error("tftp: {len} octets, too short for {what} (RFC 1350 §5)")]
    Truncated {
        /// The packet length.
        len: usize,
        /// What was missing, e.g. "opcode", "DATA block number".
        what: &'static str,
    },
    /// An opcode outside 1..=6.
    #[error("tftp: unknown opcode {0} at offset 0 (RFC 1350 §5, RFC 2347)")]
    UnknownOpcode(u16),
}

/// Deliberate faults for [`Packet::emit_with`] (fault-injection scenarios).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Leave off the final NUL of a request, ERROR or OACK (after the mode, the message or the
    /// last option value).
    pub omit_final_nul: bool,
}

/// Reads a NUL-terminated string at `*pos`; returns it and whether the NUL was there.
fn read_cstr(buf: &[u8], pos: &mut usize) -> (String, bool) {
    let rest = &buf[(*pos).min(buf.len())..];
    match rest.iter().position(|&b| b == 0) {
        Some(n) => {
            let s = String::from_utf8_lossy(&rest[..n]).into_owned();
            *pos += n + 1;
            (s, true)
        }
        None => {
            let s = String::from_utf8_lossy(rest).into_owned();
            *pos += rest.len();
            (s, false)
        }
    }
}

fn dev(
    field: &str,
    offset: usize,
    message: String,
    rule: &'static str,
    severity: Severity,
) -> Deviation {
    Deviation {
        field: field.to_string(),
        offset: Some(offset),
        message,
        rule,
        severity,
    }
}

/// Checks known option values against their RFC ranges and reports duplicates.
fn check_options(kind: &str, options: &[(TftpOption, usize)], devs: &mut Vec<Deviation>) {
    for (i, (o, off)) in options.iter().enumerate() {
        if options[..i]
            .iter()
            .any(|(p, _)| p.name.eq_ignore_ascii_case(&o.name))
        {
            devs.push(dev(
                &format!("option {}", o.name),
                *off,
                format!("{kind}: option {:?} appears more than once", o.name),
                "RFC 2347",
                Severity::Error,
            ));
        }
        let (lo, hi, rule): (u64, u64, &'static str) =
            if o.name.eq_ignore_ascii_case(option::BLKSIZE) {
                (MIN_BLKSIZE.into(), MAX_BLKSIZE.into(), "RFC 2348")
            } else if o.name.eq_ignore_ascii_case(option::TIMEOUT) {
                (1, 255, "RFC 2349 §1")
            } else if o.name.eq_ignore_ascii_case(option::TSIZE) {
                (0, u64::MAX, "RFC 2349 §2")
            } else if o.name.eq_ignore_ascii_case(option::WINDOWSIZE) {
                (1, 65535, "RFC 7440 §3")
            } else {
                continue;
            };
        let field = format!("option {}", o.name);
        let valid_digits = !o.value.is_empty() && o.value.bytes().all(|b| b.is_ascii_digit());
        match o.value.parse::<u64>() {
            Ok(v) if valid_digits && (lo..=hi).contains(&v) => {}
            Ok(v) if valid_digits => devs.push(dev(
                &field,
                *off,
                format!("{kind}: {} {v} outside {lo}..={hi}", o.name),
                rule,
                Severity::Error,
            )),
            _ => devs.push(dev(
                &field,
                *off,
                format!(
                    "{kind}: {} value {:?} is not a decimal number",
                    o.name, o.value
                ),
                rule,
                Severity::Error,
            )),
        }
    }
}

/// Parses the options after the mode (requests) or the opcode (OACK).
fn parse_options(
    kind: &str,
    buf: &[u8],
    mut pos: usize,
    devs: &mut Vec<Deviation>,
) -> Vec<TftpOption> {
    let mut found = Vec::new();
    while pos < buf.len() {
        let off = pos;
        let (name, name_nul) = read_cstr(buf, &mut pos);
        if name.is_empty() && name_nul {
            devs.push(dev(
                "options",
                off,
                format!("{kind}: empty option name (stray NUL)"),
                "RFC 2347",
                Severity::Warning,
            ));
            continue;
        }
        if !name_nul || pos >= buf.len() {
            devs.push(dev(
                &format!("option {name}"),
                off,
                format!("{kind}: option {name:?} has no value"),
                "RFC 2347",
                Severity::Error,
            ));
            found.push((
                TftpOption {
                    name,
                    value: String::new(),
                },
                off,
            ));
            break;
        }
        let (value, value_nul) = read_cstr(buf, &mut pos);
        if !value_nul {
            devs.push(dev(
                &format!("option {name}"),
                pos,
                format!("{kind}: missing NUL after option {name:?} value"),
                "RFC 2347",
                Severity::Error,
            ));
        }
        found.push((TftpOption { name, value }, off));
    }
    check_options(kind, &found, devs);
    found.into_iter().map(|(o, _)| o).collect()
}

impl Packet {
    /// The opcode of this packet.
    pub fn opcode(&self) -> Opcode {
        match self {
            Packet::Rrq(_) => Opcode::Rrq,
            Packet::Wrq(_) => Opcode::Wrq,
            Packet::Data { .. } => Opcode::Data,
            Packet::Ack { .. } => Opcode::Ack,
            Packet::Error { .. } => Opcode::Error,
            Packet::Oack { .. } => Opcode::Oack,
        }
    }

    /// An ERROR packet.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Packet::Error {
            code,
            message: message.into(),
        }
    }

    /// Decodes a UDP payload leniently (RFC 1350 §5, RFC 2347). Fails only on an unknown opcode
    /// or a packet too short to hold its fixed fields.
    pub fn parse(buf: &[u8]) -> Result<(Packet, Vec<Deviation>), Error> {
        let mut devs = Vec::new();
        if buf.len() < 2 {
            return Err(Error::Truncated {
                len: buf.len(),
                what: "opcode",
            });
        }
        let op = u16::from_be_bytes([buf[0], buf[1]]);
        let opcode = Opcode::from_value(op).ok_or(Error::UnknownOpcode(op))?;
        let packet = match opcode {
            Opcode::Rrq | Opcode::Wrq => {
                let kind = if opcode == Opcode::Rrq { "RRQ" } else { "WRQ" };
                let mut pos = 2;
                let (filename, fname_nul) = read_cstr(buf, &mut pos);
                if filename.is_empty() {
                    devs.push(dev(
                        "filename",
                        2,
                        format!("{kind}: empty file name"),
                        "RFC 1350 §5",
                        Severity::Error,
                    ));
                }
                if !fname_nul {
                    devs.push(dev(
                        "filename",
                        pos,
                        format!("{kind}: missing NUL after file name"),
                        "RFC 1350 §5",
                        Severity::Error,
                    ));
                }
                let mode_off = pos;
                let (mode_name, mode_nul) = read_cstr(buf, &mut pos);
                if fname_nul && !mode_nul {
                    devs.push(dev(
                        "mode",
                        pos,
                        format!("{kind}: missing NUL after mode"),
                        "RFC 1350 §5",
                        Severity::Error,
                    ));
                }
                let mode = Mode::from_name(&mode_name);
                match &mode {
                    Mode::Other(m) => devs.push(dev(
                        "mode",
                        mode_off,
                        format!("{kind}: unknown mode {m:?}"),
                        "RFC 1350 §5",
                        Severity::Error,
                    )),
                    Mode::Mail => devs.push(dev(
                        "mode",
                        mode_off,
                        format!("{kind}: obsolete mode \"mail\""),
                        "RFC 1123 §4.2.2.1",
                        Severity::Warning,
                    )),
                    _ => {}
                }
                let options = parse_options(kind, buf, pos, &mut devs);
                if !options.is_empty() && buf.len() > MAX_REQUEST_LEN {
                    devs.push(dev(
                        "length",
                        0,
                        format!(
                            "{kind}: {} octets with options, limit {MAX_REQUEST_LEN}",
                            buf.len()
                        ),
                        "RFC 2347",
                        Severity::Error,
                    ));
                }
                let req = Request {
                    filename,
                    mode,
                    options,
                };
                if opcode == Opcode::Rrq {
                    Packet::Rrq(req)
                } else {
                    Packet::Wrq(req)
                }
            }
            Opcode::Data => {
                if buf.len() < 4 {
                    return Err(Error::Truncated {
                        len: buf.len(),
                        what: "DATA block number",
                    });
                }
                let block = u16::from_be_bytes([buf[2], buf[3]]);
                let data = buf[4..].to_vec();
                if data.len() > MAX_BLKSIZE as usize {
                    devs.push(dev(
                        "data",
                        4,
                        format!(
                            "DATA: {} octets, more than the largest blksize {MAX_BLKSIZE}",
                            data.len()
                        ),
                        "RFC 2348",
                        Severity::Error,
                    ));
                }
                Packet::Data { block, data }
            }
            Opcode::Ack => {
                if buf.len() < 4 {
                    return Err(Error::Truncated {
                        len: buf.len(),
                        what: "ACK block number",
                    });
                }
                if buf.len() > 4 {
                    devs.push(dev(
                        "ack",
                        4,
                        format!("ACK: {} trailing octets", buf.len() - 4),
                        "RFC 1350 §5",
                        Severity::Warning,
                    ));
                }
                Packet::Ack {
                    block: u16::from_be_bytes([buf[2], buf[3]]),
                }
            }
            Opcode::Error => {
                if buf.len() < 4 {
                    return Err(Error::Truncated {
                        len: buf.len(),
                        what: "ERROR code",
                    });
                }
                let code = ErrorCode::from_value(u16::from_be_bytes([buf[2], buf[3]]));
                if let ErrorCode::Unknown(v) = code {
                    devs.push(dev(
                        "error.code",
                        2,
                        format!("ERROR: code {v} outside 0..=8"),
                        "RFC 1350 appendix, RFC 2347",
                        Severity::Warning,
                    ));
                }
                let mut pos = 4;
                let (message, nul) = read_cstr(buf, &mut pos);
                if !nul {
                    devs.push(dev(
                        "error.message",
                        pos,
                        "ERROR: missing NUL after message".to_string(),
                        "RFC 1350 §5",
                        Severity::Error,
                    ));
                } else if pos < buf.len() {
                    devs.push(dev(
                        "error.message",
                        pos,
                        format!("ERROR: {} octets after the message NUL", buf.len() - pos),
                        "RFC 1350 §5",
                        Severity::Warning,
                    ));
                }
                Packet::Error { code, message }
            }
            Opcode::Oack => {
                let options = parse_options("OACK", buf, 2, &mut devs);
                if options.is_empty() {
                    devs.push(dev(
                        "options",
                        2,
                        "OACK: no options".to_string(),
                        "RFC 2347",
                        Severity::Error,
                    ));
                }
                Packet::Oack { options }
            }
        };
        Ok((packet, devs))
    }

    /// The length of the emitted packet.
    pub fn buffer_len(&self) -> usize {
        let opts = |o: &[TftpOption]| {
            o.iter()
                .map(|o| o.name.len() + o.value.len() + 2)
                .sum::<usize>()
        };
        match self {
            Packet::Rrq(r) | Packet::Wrq(r) => {
                2 + r.filename.len() + 1 + r.mode.name().len() + 1 + opts(&r.options)
            }
            Packet::Data { data, .. } => 4 + data.len(),
            Packet::Ack { .. } => 4,
            Packet::Error { message, .. } => 4 + message.len() + 1,
            Packet::Oack { options } => 2 + opts(options),
        }
    }

    /// Encodes the packet correctly.
    pub fn emit(&self) -> Vec<u8> {
        self.emit_with(Faults::default())
    }

    /// Encodes the packet with the given deliberate faults.
    pub fn emit_with(&self, faults: Faults) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buffer_len());
        self.emit_into(&mut out, faults);
        out
    }

    /// Appends the encoded packet to `out` (lets a sender reuse one buffer).
    pub fn emit_into(&self, out: &mut Vec<u8>, faults: Faults) {
        fn cstr(out: &mut Vec<u8>, s: &str) {
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        fn options(out: &mut Vec<u8>, o: &[TftpOption]) {
            for o in o {
                cstr(out, &o.name);
                cstr(out, &o.value);
            }
        }
        let start = out.len();
        out.extend_from_slice(&self.opcode().value().to_be_bytes());
        match self {
            Packet::Rrq(r) | Packet::Wrq(r) => {
                cstr(out, &r.filename);
                cstr(out, r.mode.name());
                options(out, &r.options);
            }
            Packet::Data { block, data } => {
                out.extend_from_slice(&block.to_be_bytes());
                out.extend_from_slice(data);
            }
            Packet::Ack { block } => out.extend_from_slice(&block.to_be_bytes()),
            Packet::Error { code, message } => {
                out.extend_from_slice(&code.value().to_be_bytes());
                cstr(out, message);
            }
            Packet::Oack { options: o } => options(out, o),
        }
        let ends_in_cstr = !matches!(self, Packet::Data { .. } | Packet::Ack { .. });
        if faults.omit_final_nul && ends_in_cstr && out.len() > start + 2 && out.last() == Some(&0)
        {
            out.pop();
        }
    }

    /// Encodes a DATA packet from a borrowed block without building a [`Packet`] (the fast path
    /// of a sender).
    pub fn emit_data(block: u16, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + data.len());
        out.extend_from_slice(&Opcode::Data.value().to_be_bytes());
        out.extend_from_slice(&block.to_be_bytes());
        out.extend_from_slice(data);
        out
    }
}

impl fmt::Display for Packet {
    /// A one-line summary for traces, e.g. `RRQ "boot/rom.img" octet blksize=1428`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn opts(f: &mut fmt::Formatter<'_>, o: &[TftpOption]) -> fmt::Result {
            for o in o {
                write!(f, " {}={}", o.name, o.value)?;
            }
            Ok(())
        }
        match self {
            Packet::Rrq(r) | Packet::Wrq(r) => {
                let kind = if matches!(self, Packet::Rrq(_)) {
                    "RRQ"
                } else {
                    "WRQ"
                };
                write!(f, "{kind} {:?} {}", r.filename, r.mode)?;
                opts(f, &r.options)
            }
            Packet::Data { block, data } => write!(f, "DATA {block} ({})", data.len()),
            Packet::Ack { block } => write!(f, "ACK {block}"),
            Packet::Error { code, message } => write!(f, "ERROR {} {message:?}", code.value()),
            Packet::Oack { options } => {
                write!(f, "OACK")?;
                opts(f, options)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(b: &[u8]) -> (Packet, Vec<Deviation>) {
        Packet::parse(b).expect("parses")
    }

    #[test]
    fn rrq_with_options_round_trips_in_order() {
        let bytes =
            b"\x00\x01boot/rom.img\x00octet\x00blksize\x001428\x00tsize\x000\x00x-vendor\x00y\x00";
        let (p, devs) = parse_ok(bytes);
        assert!(devs.is_empty(), "{devs:?}");
        let Packet::Rrq(r) = &p else {
            panic!("not an RRQ: {p:?}")
        };
        assert_eq!(r.filename, "boot/rom.img");
        assert_eq!(r.mode, Mode::Octet);
        assert_eq!(r.options.len(), 3);
        assert_eq!(r.options[2], TftpOption::new("x-vendor", "y"));
        assert_eq!(r.option("BLKSIZE"), Some("1428"));
        assert_eq!(p.emit(), bytes.to_vec());
        assert_eq!(p.buffer_len(), bytes.len());
        assert_eq!(
            p.to_string(),
            "RRQ \"boot/rom.img\" octet blksize=1428 tsize=0 x-vendor=y"
        );
    }

    #[test]
    fn mode_is_case_insensitive() {
        let (p, devs) = parse_ok(b"\x00\x02f\x00NetASCII\x00");
        assert!(devs.is_empty());
        assert_eq!(
            p,
            Packet::Wrq(Request {
                filename: "f".into(),
                mode: Mode::Netascii,
                options: vec![]
            })
        );
    }

    #[test]
    fn missing_nul_after_mode_is_a_deviation() {
        let (p, devs) = parse_ok(b"\x00\x01f\x00octet");
        assert!(matches!(p, Packet::Rrq(ref r) if r.mode == Mode::Octet));
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].message, "RRQ: missing NUL after mode");
        assert_eq!(devs[0].rule, "RFC 1350 §5");
    }

    #[test]
    fn emit_with_omit_final_nul_is_parsed_back_with_a_deviation() {
        let p = Packet::Rrq(Request {
            filename: "f".into(),
            mode: Mode::Octet,
            options: vec![],
        });
        let b = p.emit_with(Faults {
            omit_final_nul: true,
        });
        assert_eq!(b, b"\x00\x01f\x00octet".to_vec());
        let (q, devs) = parse_ok(&b);
        assert_eq!(q, p);
        assert_eq!(devs.len(), 1);
    }

    #[test]
    fn out_of_range_duplicate_and_bad_options_are_reported() {
        let b = b"\x00\x01f\x00octet\x00blksize\x004\x00BLKSIZE\x0070000\x00timeout\x00abc\x00windowsize\x000\x00";
        let (p, devs) = parse_ok(b);
        let Packet::Rrq(r) = p else { panic!() };
        assert_eq!(r.options.len(), 4);
        let msgs: Vec<_> = devs.iter().map(|d| d.message.as_str()).collect();
        assert!(
            msgs.contains(&"RRQ: blksize 4 outside 8..=65464"),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"RRQ: option \"BLKSIZE\" appears more than once"),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"RRQ: BLKSIZE 70000 outside 8..=65464"),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"RRQ: timeout value \"abc\" is not a decimal number"),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"RRQ: windowsize 0 outside 1..=65535"),
            "{msgs:?}"
        );
    }

    #[test]
    fn option_without_value_and_unknown_mode() {
        let (p, devs) = parse_ok(b"\x00\x01f\x00binary\x00blksize\x00");
        let Packet::Rrq(r) = p else { panic!() };
        assert_eq!(r.mode, Mode::Other("binary".into()));
        assert_eq!(r.options, vec![TftpOption::new("blksize", "")]);
        assert!(devs
            .iter()
            .any(|d| d.message == "RRQ: unknown mode \"binary\""));
        assert!(devs
            .iter()
            .any(|d| d.message == "RRQ: option \"blksize\" has no value"));
    }

    #[test]
    fn oversized_request_with_options_is_reported() {
        let name = "a".repeat(600);
        let p = Packet::Rrq(Request {
            filename: name,
            mode: Mode::Octet,
            options: vec![TftpOption::new("tsize", 0)],
        });
        let (_, devs) = parse_ok(&p.emit());
        assert!(devs.iter().any(|d| d.field == "length"));
    }

    #[test]
    fn data_ack_error_oack_round_trip() {
        let cases = [
            Packet::Data {
                block: 65535,
                data: vec![1, 2, 3],
            },
            Packet::Data {
                block: 0,
                data: vec![],
            },
            Packet::Ack { block: 7 },
            Packet::error(ErrorCode::FileNotFound, "no such file"),
            Packet::Oack {
                options: vec![
                    TftpOption::new("blksize", 1428),
                    TftpOption::new("windowsize", 8),
                ],
            },
        ];
        for p in cases {
            let b = p.emit();
            assert_eq!(b.len(), p.buffer_len());
            let (q, devs) = parse_ok(&b);
            assert_eq!(q, p);
            assert!(devs.is_empty(), "{p}: {devs:?}");
        }
        assert_eq!(
            Packet::emit_data(3, b"ab"),
            Packet::Data {
                block: 3,
                data: b"ab".to_vec()
            }
            .emit()
        );
    }

    #[test]
    fn known_bytes() {
        assert_eq!(Packet::Ack { block: 0x0102 }.emit(), vec![0, 4, 1, 2]);
        assert_eq!(
            Packet::error(ErrorCode::AccessViolation, "no").emit(),
            b"\x00\x05\x00\x02no\x00".to_vec()
        );
    }

    #[test]
    fn short_and_unknown_packets_fail_without_panicking() {
        assert_eq!(
            Packet::parse(b""),
            Err(Error::Truncated {
                len: 0,
                what: "opcode"
            })
        );
        assert_eq!(
            Packet::parse(b"\x00\x03\x00"),
            Err(Error::Truncated {
                len: 3,
                what: "DATA block number"
            })
        );
        assert_eq!(Packet::parse(b"\x00\x09"), Err(Error::UnknownOpcode(9)));
        let (p, devs) = parse_ok(b"\x00\x05\x00\x63oops");
        assert_eq!(p, Packet::error(ErrorCode::Unknown(99), "oops"));
        assert_eq!(devs.len(), 2);
        let (p, devs) = parse_ok(b"\x00\x06");
        assert_eq!(p, Packet::Oack { options: vec![] });
        assert_eq!(devs.len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = Packet::parse(&bytes);
        }
    }
}

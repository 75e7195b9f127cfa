//! ONC RPC version 2 (RFC 5531): the call and reply headers, and the record marking that frames
//! messages on a TCP stream (RFC 5531 §11). The lab reads the calls an NFS root mount makes
//! (portmapper, MOUNT, NFS; names in [`crate::nfs`]); procedure arguments and results are kept as
//! bytes for the program's own decoder.
//!
//! XDR (RFC 4506) is big-endian with every item padded to 4 octets; [`Xdr`] reads it without
//! panicking on short input.

use crate::{Deviation, Severity};

/// The only RPC version (RFC 5531 §8).
pub const RPC_VERSION: u32 = 2;

/// Bytes of arguments or results a [`Message`] keeps (enough for the fields the lab reads: a
/// file handle, a name, a status).
pub const KEPT: usize = 512;

/// Why an RPC message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Too short for the header.
    #[error("RPC message truncated at octet {at} (RFC 5531 §9)")]
    Truncated {
        /// Where the input ended.
        at: usize,
    },
    /// `msg_type` neither CALL (0) nor REPLY (1).
    #[error("RPC msg_type {0} is neither CALL (0) nor REPLY (1) (RFC 5531 §9)")]
    MsgType(u32),
}

/// A reader of XDR items (RFC 4506 §4).
#[derive(Debug, Clone)]
pub struct Xdr<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Xdr<'a> {
    /// Reads `bytes` from the start.
    pub fn new(bytes: &'a [u8]) -> Xdr<'a> {
        Xdr { bytes, at: 0 }
    }

    /// The octets read so far.
    pub fn position(&self) -> usize {
        self.at
    }

    /// What is left.
    pub fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.at..).unwrap_or(&[])
    }

    /// An unsigned integer (RFC 4506 §4.2).
    pub fn u32(&mut self) -> Result<u32, Error> {
        let b = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or(Error::Truncated { at: self.at })?;
        self.at += 4;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An unsigned hyper integer (RFC 4506 §4.5).
    pub fn u64(&mut self) -> Result<u64, Error> {
        Ok((u64::from(self.u32()?) << 32) | u64::from(self.u32()?))
    }

    /// Fixed-length opaque data of `n` octets, padded to 4 (RFC 4506 §4.9).
    pub fn fixed(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let padded = n.checked_add(3).ok_or(Error::Truncated { at: self.at })? & !3;
        let b = self
            .bytes
            .get(self.at..self.at.saturating_add(padded))
            .ok_or(Error::Truncated { at: self.at })?;
        self.at += padded;
        Ok(&b[..n])
    }

    /// Variable-length opaque data or a string: a length, then the octets padded to 4
    /// (RFC 4506 §4.10, §4.11).
    pub fn opaque(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u32()? as usize;
        self.fixed(n)
    }
}

/// An authentication flavor and its body (`opaque_auth`, RFC 5531 §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Auth {
    /// AUTH_NONE 0, AUTH_SYS 1, ... (RFC 5531 §8.2, Appendix A).
    pub flavor: u32,
    /// Length of its body.
    pub len: u32,
}

fn auth(x: &mut Xdr<'_>) -> Result<Auth, Error> {
    let flavor = x.u32()?;
    let body = x.opaque()?;
    Ok(Auth {
        flavor,
        len: body.len() as u32,
    })
}

/// A call (RFC 5531 §9, `call_body`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Call {
    /// `rpcvers` (2).
    pub rpcvers: u32,
    /// Program number (100003 NFS, 100005 MOUNT, 100000 portmapper).
    pub prog: u32,
    /// Program version.
    pub vers: u32,
    /// Procedure number.
    pub proc_: u32,
    /// The credential.
    pub cred: Auth,
    /// The first [`KEPT`] octets of the procedure's arguments.
    pub args: Vec<u8>,
}

/// Whether a call was accepted (RFC 5531 §9, `accept_stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ReplyStat {
    /// MSG_ACCEPTED with its `accept_stat` (0 SUCCESS, 1 PROG_UNAVAIL, 2 PROG_MISMATCH,
    /// 3 PROC_UNAVAIL, 4 GARBAGE_ARGS, 5 SYSTEM_ERR).
    Accepted(u32),
    /// MSG_DENIED with its `reject_stat` (0 RPC_MISMATCH, 1 AUTH_ERROR).
    Denied(u32),
}

impl ReplyStat {
    /// RFC 5531's name for the status.
    pub fn name(self) -> String {
        match self {
            ReplyStat::Accepted(0) => "SUCCESS".into(),
            ReplyStat::Accepted(1) => "PROG_UNAVAIL".into(),
            ReplyStat::Accepted(2) => "PROG_MISMATCH".into(),
            ReplyStat::Accepted(3) => "PROC_UNAVAIL".into(),
            ReplyStat::Accepted(4) => "GARBAGE_ARGS".into(),
            ReplyStat::Accepted(5) => "SYSTEM_ERR".into(),
            ReplyStat::Accepted(n) => format!("accept_stat {n}"),
            ReplyStat::Denied(0) => "RPC_MISMATCH".into(),
            ReplyStat::Denied(1) => "AUTH_ERROR".into(),
            ReplyStat::Denied(n) => format!("reject_stat {n}"),
        }
    }
}

/// A reply (RFC 5531 §9, `reply_body`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reply {
    /// Accepted or denied, and why.
    pub stat: ReplyStat,
    /// The first [`KEPT`] octets of the results (accepted with SUCCESS only).
    pub results: Vec<u8>,
}

/// CALL or REPLY.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Body {
    /// `msg_type` 0.
    Call(Call),
    /// `msg_type` 1.
    Reply(Reply),
}

/// One RPC message (RFC 5531 §9, `rpc_msg`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Message {
    /// Transaction id: a reply carries its call's.
    pub xid: u32,
    /// The call or the reply.
    pub body: Body,
}

fn kept(b: &[u8]) -> Vec<u8> {
    b[..b.len().min(KEPT)].to_vec()
}

impl Message {
    /// Decodes a message (the record's data, without the record mark). A call whose `rpcvers` is
    /// not 2 is decoded with a deviation (the server must answer RPC_MISMATCH, RFC 5531 §9).
    pub fn parse(bytes: &[u8]) -> Result<(Message, Vec<Deviation>), Error> {
        let mut x = Xdr::new(bytes);
        let xid = x.u32()?;
        let mut devs = Vec::new();
        let body = match x.u32()? {
            0 => {
                let rpcvers = x.u32()?;
                if rpcvers != RPC_VERSION {
                    devs.push(Deviation {
                        field: "rpc.rpcvers".into(),
                        offset: Some(8),
                        message: format!("rpcvers {rpcvers}, expected 2"),
                        rule: "RFC 5531 §9",
                        severity: Severity::Error,
                    });
                }
                let (prog, vers, proc_) = (x.u32()?, x.u32()?, x.u32()?);
                let cred = auth(&mut x)?;
                auth(&mut x)?;
                Body::Call(Call {
                    rpcvers,
                    prog,
                    vers,
                    proc_,
                    cred,
                    args: kept(x.rest()),
                })
            }
            1 => {
                let stat = match x.u32()? {
                    0 => {
                        auth(&mut x)?;
                        ReplyStat::Accepted(x.u32()?)
                    }
                    _ => ReplyStat::Denied(x.u32()?),
                };
                let results = match stat {
                    ReplyStat::Accepted(0) => kept(x.rest()),
                    _ => Vec::new(),
                };
                Body::Reply(Reply { stat, results })
            }
            t => return Err(Error::MsgType(t)),
        };
        Ok((Message { xid, body }, devs))
    }

    /// Encodes the message (AUTH_NONE credentials and verifier, args or results as given): for
    /// tests and probes.
    pub fn emit(&self) -> Vec<u8> {
        let mut b = Vec::new();
        let mut put = |v: u32| b.extend_from_slice(&v.to_be_bytes());
        put(self.xid);
        match &self.body {
            Body::Call(c) => {
                for v in [0, c.rpcvers, c.prog, c.vers, c.proc_, 0, 0, 0, 0] {
                    put(v);
                }
                b.extend_from_slice(&c.args);
            }
            Body::Reply(r) => {
                match r.stat {
                    ReplyStat::Accepted(s) => {
                        for v in [1, 0, 0, 0, s] {
                            put(v);
                        }
                    }
                    ReplyStat::Denied(s) => {
                        for v in [1, 1, s] {
                            put(v);
                        }
                    }
                }
                b.extend_from_slice(&r.results);
            }
        }
        b
    }
}

/// A record mark (RFC 5531 §11): the fragment's length and whether it is the record's last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMark {
    /// Octets of fragment data after the mark.
    pub len: u32,
    /// The last fragment of the record.
    pub last: bool,
}

impl RecordMark {
    /// The mark's size on the wire.
    pub const LEN: usize = 4;

    /// Reads a mark from the first 4 octets.
    pub fn parse(b: &[u8]) -> Option<RecordMark> {
        let v = u32::from_be_bytes(b.get(..4)?.try_into().ok()?);
        Some(RecordMark {
            len: v & 0x7fff_ffff,
            last: v & 0x8000_0000 != 0,
        })
    }

    /// The 4 octets of the mark.
    pub fn emit(&self) -> [u8; 4] {
        (self.len | if self.last { 0x8000_0000 } else { 0 }).to_be_bytes()
    }
}

/// One end of a TCP connection.
pub type Endpoint = (std::net::Ipv4Addr, u16);

/// How many TCP streams and outstanding calls [`Streams`] remembers (oldest forgotten first).
pub const MAX_STREAMS: usize = 256;

/// An RPC message found on a stream, with the call a reply answers (its program, version and
/// procedure) when the call was seen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Record {
    /// The message.
    pub message: Message,
    /// For a reply: `(prog, vers, proc)` of the call with the same xid on the same connection.
    pub call: Option<(u32, u32, u32)>,
}

/// Octets of a record's start that [`Streams`] gathers before decoding it (the RPC header, the
/// credential and [`KEPT`] octets of arguments).
const HEAD: usize = 1024;

#[derive(Debug, Clone)]
struct Stream {
    from: Endpoint,
    to: Endpoint,
    /// The sequence number of the next octet to read.
    next: u32,
    /// The last fragment read was not its record's last: the next one continues the record.
    in_record: bool,
    /// The first octets of a mark split across segments.
    mark: Vec<u8>,
    /// The current fragment's start, while gathered.
    head: Option<Head>,
}

#[derive(Debug, Clone)]
struct Head {
    /// What is there so far.
    buf: Vec<u8>,
    /// Octets still wanted.
    want: usize,
    /// Octets of the fragment after the gathered ones (skipped).
    after: u32,
    /// The fragment is its record's first: the gathered octets are a message.
    first: bool,
}

/// Follows record marking (RFC 5531 §11) on the TCP streams of RPC servers, segment by segment in
/// capture order, and returns the messages that start in each segment: a stream is followed from
/// its SYN; a record mark is read where the previous record ends, also in the middle of a segment
/// or split across two;
/// a retransmission of what was read is not read again. Calls are remembered so replies can be
/// named.
#[derive(Debug, Clone, Default)]
pub struct Streams {
    streams: std::collections::VecDeque<Stream>,
    calls: std::collections::VecDeque<(Endpoint, Endpoint, u32, (u32, u32, u32))>,
}

impl Streams {
    /// Reads one segment from `from` to `to` with sequence number `seq`, control bits `flags`
    /// (see [`crate::tcp::flags`]) and data `payload`; the messages that start in it, and what is
    /// wrong with them.
    pub fn segment(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        seq: u32,
        flags: u8,
        payload: &[u8],
    ) -> (Vec<Record>, Vec<Deviation>) {
        let mut out: Vec<Message> = Vec::new();
        let mut devs = Vec::new();
        if flags & (crate::tcp::flags::SYN | crate::tcp::flags::RST) != 0 {
            self.streams.retain(|s| (s.from, s.to) != (from, to));
            if flags & crate::tcp::flags::SYN != 0 {
                if self.streams.len() >= MAX_STREAMS {
                    self.streams.pop_front();
                }
                self.streams.push_back(Stream {
                    from,
                    to,
                    next: seq.wrapping_add(1),
                    in_record: false,
                    mark: Vec::new(),
                    head: None,
                });
            }
            return (Vec::new(), devs);
        }
        let Some(st) = self
            .streams
            .iter_mut()
            .find(|s| (s.from, s.to) == (from, to))
        else {
            return (Vec::new(), devs);
        };
        let mut off = st.next.wrapping_sub(seq) as usize;
        while off < payload.len() {
            if let Some(h) = &mut st.head {
                let take = h.want.min(payload.len() - off);
                h.buf.extend_from_slice(&payload[off..off + take]);
                h.want -= take;
                off += take;
                st.next = st.next.wrapping_add(take as u32);
                if h.want > 0 {
                    break;
                }
                let after = h.after;
                if let Some(h) = st.head.take().filter(|h| h.first) {
                    match Message::parse(&h.buf) {
                        Ok((message, d)) => {
                            devs.extend(d);
                            out.push(message);
                        }
                        Err(e) => devs.push(Deviation {
                            field: "rpc".into(),
                            offset: None,
                            message: e.to_string(),
                            rule: "RFC 5531 §9",
                            severity: Severity::Error,
                        }),
                    }
                }
                st.next = st.next.wrapping_add(after);
                off = off.saturating_add(after as usize);
                continue;
            }
            let take = (RecordMark::LEN - st.mark.len()).min(payload.len() - off);
            st.mark.extend_from_slice(&payload[off..off + take]);
            off += take;
            st.next = st.next.wrapping_add(take as u32);
            let Some(mark) = RecordMark::parse(&st.mark) else {
                break;
            };
            st.mark.clear();
            let want = (mark.len as usize).min(HEAD);
            let first = !st.in_record;
            st.in_record = !mark.last;
            if want > 0 {
                st.head = Some(Head {
                    buf: Vec::with_capacity(want),
                    want,
                    after: mark.len - want as u32,
                    first,
                });
            }
        }
        let records = out
            .into_iter()
            .map(|message| {
                let call = match &message.body {
                    Body::Call(c) => {
                        if self.calls.len() >= MAX_STREAMS {
                            self.calls.pop_front();
                        }
                        self.calls
                            .push_back((from, to, message.xid, (c.prog, c.vers, c.proc_)));
                        None
                    }
                    Body::Reply(_) => self
                        .calls
                        .iter()
                        .rev()
                        .find(|(f, t, x, _)| (*f, *t, *x) == (to, from, message.xid))
                        .map(|c| c.3),
                };
                Record { message, call }
            })
            .collect();
        (records, devs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Message {
        Message {
            xid: 0x1234,
            body: Body::Call(Call {
                rpcvers: 2,
                prog: 100003,
                vers: 3,
                proc_: 3,
                cred: Auth { flavor: 0, len: 0 },
                args: vec![0, 0, 0, 4, b's', b'b', b'i', b'n'],
            }),
        }
    }

    #[test]
    fn calls_and_replies_round_trip() {
        let m = call();
        let (back, devs) = Message::parse(&m.emit()).expect("parses");
        assert_eq!(back, m);
        assert!(devs.is_empty());
        let r = Message {
            xid: 0x1234,
            body: Body::Reply(Reply {
                stat: ReplyStat::Accepted(0),
                results: vec![0, 0, 0, 2],
            }),
        };
        assert_eq!(Message::parse(&r.emit()).expect("parses").0, r);
        let d = Message {
            xid: 9,
            body: Body::Reply(Reply {
                stat: ReplyStat::Denied(1),
                results: vec![],
            }),
        };
        assert_eq!(Message::parse(&d.emit()).expect("parses").0, d);
        assert_eq!(ReplyStat::Denied(1).name(), "AUTH_ERROR");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let b = call().emit();
        for n in 0..40 {
            assert!(Message::parse(&b[..n]).is_err(), "{n} octets");
        }
        let mut bad = b.clone();
        bad[7] = 7;
        assert_eq!(Message::parse(&bad), Err(Error::MsgType(7)));
    }

    #[test]
    fn record_marks_carry_length_and_last_bit() {
        let m = RecordMark {
            len: 120,
            last: true,
        };
        assert_eq!(m.emit(), [0x80, 0, 0, 120]);
        assert_eq!(RecordMark::parse(&m.emit()), Some(m));
        assert_eq!(RecordMark::parse(&[1, 2]), None);
    }

    #[test]
    fn xdr_pads_opaque_data_and_refuses_overlong_lengths() {
        let b = [0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 0, 1];
        let mut x = Xdr::new(&b);
        assert_eq!(x.opaque().expect("opaque"), b"abc");
        assert_eq!(x.u32().expect("u32"), 1);
        let mut x = Xdr::new(&[0xff, 0xff, 0xff, 0xff]);
        assert!(x.opaque().is_err());
    }

    #[test]
    fn streams_find_records_across_segments_and_name_replies() {
        use crate::tcp::flags::{ACK, SYN};
        let c: Endpoint = ("192.0.2.10".parse().expect("ip"), 800);
        let s: Endpoint = ("192.0.2.1".parse().expect("ip"), 2049);
        let mut st = Streams::default();
        assert!(st.segment(c, s, 99, SYN, &[]).0.is_empty());
        let m = call().emit();
        let mut rec = RecordMark {
            len: m.len() as u32,
            last: true,
        }
        .emit()
        .to_vec();
        rec.extend_from_slice(&m);
        // Two records in one segment.
        let two = [rec.clone(), rec.clone()].concat();
        let (got, devs) = st.segment(c, s, 100, ACK, &two);
        assert_eq!(got.len(), 2);
        assert!(devs.is_empty());
        // A retransmission of the same bytes is not read again.
        assert!(st.segment(c, s, 100, ACK, &two).0.is_empty());
        // A record whose mark sits in the middle of a segment, after the tail of another.
        let next = 100 + two.len() as u32;
        let big = RecordMark {
            len: 10,
            last: true,
        }
        .emit();
        let mut seg = big.to_vec();
        seg.extend_from_slice(&[0; 10]);
        seg.extend_from_slice(&rec);
        let (got, devs) = st.segment(c, s, next, ACK, &seg[..6]);
        assert!(
            got.is_empty() && devs.is_empty(),
            "the record's head is still gathered"
        );
        let (got, devs) = st.segment(c, s, next + 6, ACK, &seg[6..]);
        assert_eq!(devs.len(), 1, "ten zero octets are not an RPC message");
        assert_eq!(got.len(), 1);
        // A message whose header is split across segments is gathered first.
        let next = next + seg.len() as u32;
        assert!(st.segment(c, s, next, ACK, &rec[..9]).0.is_empty());
        assert_eq!(st.segment(c, s, next + 9, ACK, &rec[9..]).0.len(), 1);
        let seg = rec.clone();
        // A mark split across two segments.
        let next = next + seg.len() as u32;
        assert!(st.segment(c, s, next, ACK, &rec[..2]).0.is_empty());
        assert_eq!(st.segment(c, s, next + 2, ACK, &rec[2..]).0.len(), 1);
        // The reply on the other direction is named after its call.
        let r = Message {
            xid: 0x1234,
            body: Body::Reply(Reply {
                stat: ReplyStat::Accepted(0),
                results: vec![0; 4],
            }),
        }
        .emit();
        assert!(st.segment(s, c, 5, SYN | ACK, &[]).0.is_empty());
        let mut rrec = RecordMark {
            len: r.len() as u32,
            last: true,
        }
        .emit()
        .to_vec();
        rrec.extend_from_slice(&r);
        let (got, _) = st.segment(s, c, 6, ACK, &rrec);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].call, Some((100003, 3, 3)));
        // A stream seen without its SYN is not guessed at.
        let other: Endpoint = ("192.0.2.11".parse().expect("ip"), 801);
        assert!(st.segment(other, s, 1, ACK, &rec).0.is_empty());
    }
}

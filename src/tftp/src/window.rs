//! The two halves of a transfer, shared by the server and the client: a windowed [`Sender`] of
//! DATA blocks and a [`Receiver`] that ACKs them (RFC 1350 §2, RFC 7440 §4), plus the
//! retransmission timer both sides use ([`Retransmit`], RFC 1123 §4.2.3.2).
//!
//! Block numbers wrap past 65535 to [`ROLLOVER_TO`] (0), as tftp-hpa does: RFC 1350 is silent,
//! and wrapping to 0 is what most clients expect (checklist TFTP-ROLL-01).

use std::collections::VecDeque;
use std::io::{self, Read};
use std::time::Duration;

use bootlab_wire::tftp::Opcode;

use crate::netascii;

/// A packet shared between a sender's window and the transmit queue: a resend or a send of a
/// 64 KiB block costs a reference count, not a copy.
pub type Datagram = std::sync::Arc<Vec<u8>>;

/// The block number that follows 65535 (tftp-hpa's default).
pub const ROLLOVER_TO: u16 = 0;

/// The block number after `b`, wrapping to `rollover` past 65535.
pub fn next_block(b: u16, rollover: u16) -> u16 {
    if b == u16::MAX {
        rollover
    } else {
        b + 1
    }
}

/// A retransmission timer with exponential back-off and a bounded number of retries
/// (RFC 1350 §2, RFC 1123 §4.2.3.2: "adaptive", and the transfer eventually gives up).
#[derive(Debug, Clone, Copy)]
pub struct Retransmit {
    base: Duration,
    retries: u32,
    attempt: u32,
    deadline: Option<Duration>,
}

impl Retransmit {
    /// `base` is the first timeout; the n-th retry waits `base * 2^n`, at most 8 times `base`;
    /// after `retries` retries the transfer fails.
    pub fn new(base: Duration, retries: u32) -> Self {
        Self {
            base,
            retries,
            attempt: 0,
            deadline: None,
        }
    }

    /// Something new was sent (progress): restart the timer from the base timeout.
    pub fn progress(&mut self, now: Duration) {
        self.attempt = 0;
        self.deadline = Some(now + self.base);
    }

    /// The timer fired and the last packets go out again: `false` when retries are exhausted.
    pub fn retry(&mut self, now: Duration) -> bool {
        if self.attempt >= self.retries {
            self.deadline = None;
            return false;
        }
        self.attempt += 1;
        let factor = 1u32 << self.attempt.min(3);
        self.deadline = Some(now + self.base * factor);
        true
    }

    /// Stops the timer.
    pub fn stop(&mut self) {
        self.deadline = None;
    }

    /// Changes the base timeout (a negotiated RFC 2349 timeout).
    pub fn set_base(&mut self, base: Duration) {
        self.base = base;
    }

    /// When the timer fires next.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// Whether the timer has fired at `now`.
    pub fn expired(&self, now: Duration) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// Retries made since the last progress.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// What an ACK did to a [`Sender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// Blocks were acknowledged; new ones may have been queued.
    Progress,
    /// The final block was acknowledged: the transfer is complete.
    Done,
    /// A duplicate or stale ACK: nothing is sent (Sorcerer's Apprentice, RFC 1123 §4.2.3.1).
    Ignored,
}

/// Sends a file as DATA blocks, `windowsize` at a time (RFC 7440 §4; 1 is RFC 1350 lock-step).
pub struct Sender {
    blksize: usize,
    windowsize: usize,
    source: Box<dyn Read + Send>,
    /// Sent but not yet acknowledged: (block number, whole DATA packet).
    window: VecDeque<(u16, Datagram)>,
    last_queued: u16,
    final_queued: bool,
    spare: Vec<Vec<u8>>,
    bytes: u64,
    blocks: u64,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("blksize", &self.blksize)
            .field("windowsize", &self.windowsize)
            .field("unacked", &self.window.len())
            .field("last_queued", &self.last_queued)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Sender {
    /// A sender of `source` (already netascii-encoded when the mode is netascii, see
    /// [`Sender::netascii`]).
    pub fn new(source: Box<dyn Read + Send>, blksize: u16, windowsize: u16) -> Self {
        Self {
            blksize: usize::from(blksize.max(1)),
            windowsize: usize::from(windowsize.max(1)),
            source,
            window: VecDeque::new(),
            last_queued: 0,
            final_queued: false,
            spare: Vec::new(),
            bytes: 0,
            blocks: 0,
        }
    }

    /// A sender that converts local text to netascii on the fly.
    pub fn netascii(source: Box<dyn Read + Send>, blksize: u16, windowsize: u16) -> Self {
        Self::new(
            Box::new(netascii::Encoder::new(source)),
            blksize,
            windowsize,
        )
    }

    /// Reads the next block straight into a DATA packet (header included).
    fn read_packet(&mut self, block: u16) -> io::Result<Vec<u8>> {
        let mut pkt = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(4 + self.blksize));
        pkt.clear();
        pkt.extend_from_slice(&Opcode::Data.value().to_be_bytes());
        pkt.extend_from_slice(&block.to_be_bytes());
        pkt.resize(4 + self.blksize, 0);
        let mut n = 4;
        while n < pkt.len() {
            match self.source.read(&mut pkt[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        pkt.truncate(n);
        Ok(pkt)
    }

    /// Tops the window up with new blocks and appends their DATA packets to `out`.
    pub fn fill(&mut self, out: &mut Vec<Datagram>) -> io::Result<()> {
        while self.window.len() < self.windowsize && !self.final_queued {
            let block = next_block(self.last_queued, ROLLOVER_TO);
            let pkt = self.read_packet(block)?;
            let len = pkt.len() - 4;
            self.last_queued = block;
            self.final_queued = len < self.blksize;
            self.bytes += len as u64;
            self.blocks += 1;
            let pkt = Datagram::new(pkt);
            out.push(Datagram::clone(&pkt));
            self.window.push_back((block, pkt));
        }
        Ok(())
    }

    /// Appends every sent-but-unacknowledged block to `out` again (on timeout).
    pub fn resend(&self, out: &mut Vec<Datagram>) {
        out.extend(self.window.iter().map(|(_, pkt)| Datagram::clone(pkt)));
    }

    /// Handles ACK `block`. An ACK inside the window acknowledges it and everything before it;
    /// when it is not the window's last block the receiver saw a gap, so the rest of the window
    /// is sent again (RFC 7440 §4). Any other ACK, notably a duplicate, is ignored: only a
    /// timeout makes the sender repeat itself (RFC 1123 §4.2.3.1).
    pub fn on_ack(&mut self, block: u16, out: &mut Vec<Datagram>) -> io::Result<AckOutcome> {
        let Some(pos) = self.window.iter().position(|(b, _)| *b == block) else {
            return Ok(AckOutcome::Ignored);
        };
        // Acknowledged packets that nobody else holds any more become the next blocks' buffers
        // (a fresh 64 KiB allocation per block costs page faults when the heap is trimmed).
        for (_, pkt) in self.window.drain(..=pos) {
            if let Ok(buf) = Datagram::try_unwrap(pkt) {
                if self.spare.len() < self.windowsize {
                    self.spare.push(buf);
                }
            }
        }
        if self.window.is_empty() && self.final_queued {
            return Ok(AckOutcome::Done);
        }
        self.resend(out);
        self.fill(out)?;
        Ok(AckOutcome::Progress)
    }

    /// Octets queued so far (the file size once done).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Blocks queued so far.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }
}

/// What a DATA block did to a [`Receiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataOutcome {
    /// Nothing to send.
    None,
    /// Send ACK of this block.
    Ack(u16),
    /// The final (short) block arrived: send this ACK, the transfer is complete.
    Done(u16),
    /// The block is longer than the negotiated blksize (RFC 2348): abort with ERROR 4.
    TooLong,
}

/// Receives DATA blocks in order and decides when to ACK (RFC 1350 §2, RFC 7440 §4).
#[derive(Debug)]
pub struct Receiver {
    blksize: usize,
    windowsize: u16,
    rollover: u16,
    last: u16,
    in_window: u16,
    gap_acked: bool,
    decoder: Option<netascii::Decoder>,
    out: Vec<u8>,
    bytes: u64,
    blocks: u64,
    done: bool,
}

impl Receiver {
    /// A receiver expecting block 1 next; `netascii` decodes CR LF on the fly; `rollover` is the
    /// block number expected after 65535.
    pub fn new(blksize: u16, windowsize: u16, netascii: bool, rollover: u16) -> Self {
        Self {
            blksize: usize::from(blksize),
            windowsize: windowsize.max(1),
            rollover,
            last: 0,
            in_window: 0,
            gap_acked: false,
            decoder: netascii.then(netascii::Decoder::new),
            out: Vec::new(),
            bytes: 0,
            blocks: 0,
            done: false,
        }
    }

    /// Handles DATA `block`. In-order blocks are kept and ACKed at the end of each window or at
    /// the final block; a repeat of the last in-order block is ACKed again (our ACK was lost); a
    /// block after a gap gets one ACK of the last in-order block so the sender restarts there.
    pub fn on_data(&mut self, block: u16, data: &[u8]) -> DataOutcome {
        if data.len() > self.blksize {
            return DataOutcome::TooLong;
        }
        if self.done {
            return if block == self.last {
                DataOutcome::Ack(block)
            } else {
                DataOutcome::None
            };
        }
        // Past 65535 a sender may wrap to 0 (tftp-hpa) or to 1 (tftp-hpa's `rollover=1`): at
        // that point neither number can be a stale block, so either is taken.
        let wrapped = self.last == u16::MAX && self.blocks > 0 && (block == 0 || block == 1);
        if block == next_block(self.last, self.rollover) || wrapped {
            self.last = block;
            self.blocks += 1;
            self.bytes += data.len() as u64;
            self.gap_acked = false;
            match &mut self.decoder {
                Some(d) => d.decode(data, &mut self.out),
                None => self.out.extend_from_slice(data),
            }
            if data.len() < self.blksize {
                self.done = true;
                if let Some(d) = &mut self.decoder {
                    d.finish(&mut self.out);
                }
                self.in_window = 0;
                return DataOutcome::Done(block);
            }
            self.in_window += 1;
            if self.in_window >= self.windowsize {
                self.in_window = 0;
                return DataOutcome::Ack(block);
            }
            return DataOutcome::None;
        }
        if block == self.last && self.blocks > 0 {
            self.in_window = 0;
            return DataOutcome::Ack(block);
        }
        if !self.gap_acked {
            self.gap_acked = true;
            self.in_window = 0;
            return DataOutcome::Ack(self.last);
        }
        DataOutcome::None
    }

    /// The block to ACK again after a timeout (the last in-order block, 0 before any).
    pub fn last_in_order(&self) -> u16 {
        self.last
    }

    /// Restarts the window count (after an ACK sent on timeout).
    pub fn reset_window(&mut self) {
        self.in_window = 0;
    }

    /// Takes the file bytes received since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Writes the file bytes received since the last call to `w`, keeping the buffer for reuse.
    pub fn drain_to(&mut self, w: &mut impl io::Write) -> io::Result<usize> {
        let n = self.out.len();
        w.write_all(&self.out)?;
        self.out.clear();
        Ok(n)
    }

    /// Octets received on the wire (before netascii decoding).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// In-order blocks received.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Whether the final block has arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks_of(out: &[Datagram]) -> Vec<u16> {
        out.iter()
            .map(|p| u16::from_be_bytes([p[2], p[3]]))
            .collect()
    }

    #[test]
    fn windowed_sender_restarts_after_a_partial_ack_and_ignores_duplicates() {
        let file: Vec<u8> = (0..100u8).collect();
        let mut s = Sender::new(Box::new(std::io::Cursor::new(file)), 8, 4);
        let mut out = Vec::new();
        s.fill(&mut out).expect("fill");
        assert_eq!(blocks_of(&out), [1, 2, 3, 4]);
        out.clear();
        // Block 2 lost: the receiver ACKs 1; the sender resends 2..4 and adds 5.
        assert_eq!(s.on_ack(1, &mut out).expect("ack"), AckOutcome::Progress);
        assert_eq!(blocks_of(&out), [2, 3, 4, 5]);
        out.clear();
        assert_eq!(s.on_ack(1, &mut out).expect("ack"), AckOutcome::Ignored);
        assert!(out.is_empty());
        assert_eq!(s.on_ack(5, &mut out).expect("ack"), AckOutcome::Progress);
        assert_eq!(blocks_of(&out), [6, 7, 8, 9]);
        out.clear();
        assert_eq!(s.on_ack(9, &mut out).expect("ack"), AckOutcome::Progress);
        // 100 bytes = 12 full blocks of 8 and a final block of 4.
        assert_eq!(blocks_of(&out), [10, 11, 12, 13]);
        assert_eq!(out[3].len(), 4 + 4);
        out.clear();
        assert_eq!(s.on_ack(13, &mut out).expect("ack"), AckOutcome::Done);
        assert_eq!(s.bytes(), 100);
    }

    #[test]
    fn receiver_acks_each_window_and_a_gap_once() {
        let mut r = Receiver::new(8, 4, false, ROLLOVER_TO);
        let b = [7u8; 8];
        assert_eq!(r.on_data(1, &b), DataOutcome::None);
        assert_eq!(r.on_data(3, &b), DataOutcome::Ack(1));
        assert_eq!(r.on_data(4, &b), DataOutcome::None);
        assert_eq!(r.on_data(2, &b), DataOutcome::None);
        assert_eq!(r.on_data(3, &b), DataOutcome::None);
        assert_eq!(r.on_data(4, &b), DataOutcome::None);
        assert_eq!(r.on_data(5, &b), DataOutcome::Ack(5));
        assert_eq!(r.on_data(5, &b), DataOutcome::Ack(5));
        assert_eq!(r.on_data(6, &b[..3]), DataOutcome::Done(6));
        assert_eq!(r.on_data(6, &b[..3]), DataOutcome::Ack(6));
        assert_eq!(r.take().len(), 5 * 8 + 3);
        assert_eq!(r.on_data(7, &[0; 9]), DataOutcome::TooLong);
    }

    #[test]
    fn receiver_accepts_a_wrap_to_0_or_to_1() {
        for first_after_wrap in [0u16, 1] {
            let mut r = Receiver::new(8, 1, false, ROLLOVER_TO);
            let mut b = 1u16;
            for _ in 0..65_535 {
                assert_eq!(r.on_data(b, &[0; 8]), DataOutcome::Ack(b));
                b = b.wrapping_add(1);
            }
            assert_eq!(
                r.on_data(first_after_wrap, &[0; 8]),
                DataOutcome::Ack(first_after_wrap)
            );
            let next = first_after_wrap + 1;
            assert_eq!(r.on_data(next, &[0; 2]), DataOutcome::Done(next));
        }
    }

    #[test]
    fn retransmit_backs_off_and_gives_up() {
        let base = Duration::from_secs(1);
        let mut t = Retransmit::new(base, 3);
        t.progress(Duration::ZERO);
        assert_eq!(t.deadline(), Some(base));
        assert!(t.retry(base));
        assert_eq!(t.deadline(), Some(base * 3));
        assert!(t.retry(base * 3));
        assert!(t.retry(base * 7));
        assert!(!t.retry(base * 15));
        assert_eq!(t.deadline(), None);
    }
}

//! netascii (RFC 1350 §1, RFC 764): lines end in CR LF on the wire, a bare CR travels as CR NUL.
//! Local files use Unix line ends (LF). Both directions stream, a CR may end one block and its
//! LF start the next.

use std::io::{self, Read};

/// Turns local bytes into netascii while reading: LF -> CR LF, CR -> CR NUL.
#[derive(Debug)]
pub struct Encoder<R> {
    inner: R,
    pending: Vec<u8>,
    pos: usize,
}

impl<R: Read> Encoder<R> {
    /// Wraps a reader of local (LF) text.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            pos: 0,
        }
    }
}

impl<R: Read> Read for Encoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos == self.pending.len() {
            let mut raw = vec![0u8; buf.len().max(512)];
            let n = self.inner.read(&mut raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.pending.clear();
            self.pos = 0;
            for &b in &raw[..n] {
                match b {
                    b'\n' => self.pending.extend_from_slice(b"\r\n"),
                    b'\r' => self.pending.extend_from_slice(b"\r\0"),
                    b => self.pending.push(b),
                }
            }
        }
        let n = (self.pending.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Turns netascii back into local bytes: CR LF -> LF, CR NUL -> CR. A CR followed by anything
/// else (a deviation from RFC 764) is kept as it came.
#[derive(Debug, Default)]
pub struct Decoder {
    cr_pending: bool,
}

impl Decoder {
    /// A decoder at the start of a transfer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one block, appending to `out`.
    pub fn decode(&mut self, data: &[u8], out: &mut Vec<u8>) {
        for &b in data {
            if self.cr_pending {
                self.cr_pending = false;
                match b {
                    b'\n' => out.push(b'\n'),
                    0 => out.push(b'\r'),
                    b'\r' => {
                        out.push(b'\r');
                        self.cr_pending = true;
                    }
                    b => out.extend_from_slice(&[b'\r', b]),
                }
            } else if b == b'\r' {
                self.cr_pending = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Ends the transfer: a dangling CR is kept.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.cr_pending) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_across_block_boundaries() {
        let text = b"line one\nbare\rcr\n\nend\r".to_vec();
        let mut wire = Vec::new();
        Encoder::new(&text[..])
            .read_to_end(&mut wire)
            .expect("in-memory read");
        assert_eq!(wire, b"line one\r\nbare\r\0cr\r\n\r\nend\r\0".to_vec());
        for split in 1..wire.len() {
            let mut d = Decoder::new();
            let mut out = Vec::new();
            d.decode(&wire[..split], &mut out);
            d.decode(&wire[split..], &mut out);
            d.finish(&mut out);
            assert_eq!(out, text, "split at {split}");
        }
    }
}

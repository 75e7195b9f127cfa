//! `bootlab decode FILE [--json]`: decodes a pcap or pcapng capture frame by frame with the wire
//! crate's [`Decoder`], printing one line per frame or a JSON array with every decoded field.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bootlab_wire::frame::{Decoded, Decoder};
use bootlab_wire::ChecksumPolicy;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use serde::Serialize;

/// Arguments of `bootlab decode`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A pcap or pcapng capture of Ethernet frames.
    pub file: PathBuf,
    /// Print a JSON array, one object per frame, instead of one line per frame.
    #[arg(long)]
    pub json: bool,
    /// Do not verify IPv4/UDP checksums (captures taken before checksum offload completes them).
    #[arg(long)]
    pub ignore_checksums: bool,
}

/// Why a capture could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The capture.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Neither pcap nor pcapng magic.
    #[error("not a pcap or pcapng file (magic {magic:02x?})")]
    Magic {
        /// The first bytes.
        magic: Vec<u8>,
    },
    /// The pcap file header is short or unusable.
    #[error("pcap header: {why}")]
    Header {
        /// What is wrong.
        why: String,
    },
    /// The capture ends before its first record does.
    #[error("{0}")]
    Cut(Cut),
    /// The capture is malformed.
    #[error("capture malformed after frame {frame}: {source}")]
    Format {
        /// Frames read before the error.
        frame: usize,
        /// The parser's error.
        source: pcap_file::PcapError,
    },
}

/// Where a capture file stops in the middle of a record (a writer interrupted or killed, a
/// copy cut short): everything before it is read, the rest is reported here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// 1-based number of the record that is incomplete.
    pub frame: usize,
    /// Byte offset of that record in the file.
    pub offset: usize,
    /// What is missing.
    pub why: String,
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "capture cut in record {} (byte {}): {}",
            self.frame, self.offset, self.why
        )
    }
}

/// A capture as read: its complete frames and, when the file stops inside a record, where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capture {
    /// Every complete record, in file order.
    pub frames: Vec<Captured>,
    /// Where the file was cut, if it was.
    pub cut: Option<Cut>,
    /// The pcap header's snapshot length (classic pcap only).
    pub snaplen: Option<u32>,
}

/// Largest record length believed (tcpdump's MAXIMUM_SNAPLEN); a larger one is damage.
const MAX_RECORD: u32 = 262_144;

/// Reads a classic pcap file (any byte order, micro- or nanosecond timestamps) up to its end or
/// to the first incomplete record. Written by hand: pcap-file 2.0 rejects records whose wire
/// length exceeds the snapshot length, which is exactly what `tcpdump -s N` writes.
fn read_pcap(bytes: &[u8]) -> Result<Capture, Error> {
    let header = bytes.get(..24).ok_or_else(|| Error::Header {
        why: format!("{} bytes, a pcap header has 24", bytes.len()),
    })?;
    let (big, nanos) = match header[..4] {
        [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
        [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
        [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
        _ => {
            return Err(Error::Magic {
                magic: header[..4].to_vec(),
            })
        }
    };
    let u32_at = |b: &[u8], at: usize| {
        let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if big {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }
    };
    let snaplen = u32_at(header, 16);
    // The upper bits of the link type carry FCS information (pcap-savefile(5)).
    let linktype = u32_at(header, 20) & 0x0fff_ffff;
    let mut capture = Capture {
        snaplen: Some(snaplen),
        ..Capture::default()
    };
    let mut at = 24;
    while at < bytes.len() {
        let frame = capture.frames.len() + 1;
        let cut = |why: String| Cut {
            frame,
            offset: at,
            why,
        };
        let rest = &bytes[at..];
        if rest.len() < 16 {
            capture.cut = Some(cut(format!("record header has {} of 16 bytes", rest.len())));
            break;
        }
        let (sec, frac) = (u32_at(rest, 0), u32_at(rest, 4));
        let (incl, orig) = (u32_at(rest, 8), u32_at(rest, 12));
        if incl > MAX_RECORD {
            capture.cut = Some(cut(format!(
                "record length {incl} exceeds {MAX_RECORD}: the file is damaged from here"
            )));
            break;
        }
        let Some(data) = rest.get(16..16 + incl as usize) else {
            capture.cut = Some(cut(format!(
                "record has {} of {incl} bytes",
                rest.len() - 16
            )));
            break;
        };
        let frac = if nanos {
            Duration::from_nanos(u64::from(frac))
        } else {
            Duration::from_micros(u64::from(frac))
        };
        capture.frames.push(Captured {
            timestamp: Duration::from_secs(u64::from(sec)).saturating_add(frac),
            orig_len: orig,
            linktype,
            data: data.to_vec(),
        });
        at += 16 + incl as usize;
    }
    Ok(capture)
}

/// One captured frame as the capture file holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Capture time since the Unix epoch.
    pub timestamp: Duration,
    /// Length on the wire.
    pub orig_len: u32,
    /// Link type of the frame's interface.
    pub linktype: u32,
    /// The bytes captured.
    pub data: Vec<u8>,
}

/// One decoded frame: where it sits in the capture and what the decoder made of it.
#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    /// 1-based frame number, in file order (as Wireshark numbers them).
    pub number: usize,
    /// Seconds since the first frame.
    pub time: f64,
    /// Seconds since the Unix epoch.
    pub epoch: f64,
    /// Length on the wire.
    pub orig_len: u32,
    /// Every layer and the deviations.
    #[serde(flatten)]
    pub decoded: Decoded,
}

impl std::fmt::Display for Frame {
    /// `   3   0.001234 <summary>` then `  ! deviation` lines.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>5} {:>11.6} {}", self.number, self.time, self.decoded)?;
        for d in &self.decoded.deviations {
            write!(f, "\n      ! {d}")?;
        }
        Ok(())
    }
}

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// The `if_tsresol` of a pcapng interface (pcapng §4.2), default 6 (microseconds).
fn tsresol(options: &[InterfaceDescriptionOption<'_>]) -> u8 {
    options
        .iter()
        .find_map(|o| match o {
            InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
            _ => None,
        })
        .unwrap_or(6)
}

/// `units` timestamp units of resolution `tsresol` as a duration: exact for decimal
/// resolutions (10^-n s), nearest nanosecond for binary ones (2^-n s).
fn to_duration(units: u64, tsresol: u8) -> Duration {
    let n = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 != 0 {
        let secs = units as f64 / 2f64.powi(n as i32);
        return Duration::try_from_secs_f64(secs).unwrap_or_default();
    }
    match 10u64.checked_pow(n) {
        Some(per_sec) => {
            let secs = units / per_sec;
            let frac = u128::from(units % per_sec);
            let nanos = if n <= 9 {
                frac * 10u128.pow(9 - n)
            } else {
                frac / 10u128.pow(n - 9)
            };
            Duration::new(secs, u32::try_from(nanos).unwrap_or(0))
        }
        None => Duration::ZERO,
    }
}

/// Reads every frame of a pcap or pcapng capture held in memory, in file order, up to the end
/// or to the first incomplete record.
pub fn read_capture(bytes: &[u8]) -> Result<Capture, Error> {
    let magic = bytes.get(..4).unwrap_or(bytes);
    let mut out = Vec::new();
    let format = |frame: usize| move |source| Error::Format { frame, source };
    if PCAP_MAGICS.iter().any(|m| m == magic) {
        return read_pcap(bytes);
    } else if magic == PCAPNG_MAGIC {
        let mut r = PcapNgReader::new(bytes).map_err(format(0))?;
        let mut ifaces: Vec<(u32, u8)> = Vec::new();
        while let Some(b) = r.next_block() {
            let b = match b {
                Ok(b) => b,
                // After at least one frame, a block that does not parse is where the file was
                // cut (or damaged): keep what came before.
                Err(e) if !out.is_empty() => {
                    return Ok(Capture {
                        cut: Some(Cut {
                            frame: out.len() + 1,
                            offset: 0,
                            why: e.to_string(),
                        }),
                        frames: out,
                        snaplen: None,
                    })
                }
                Err(e) => return Err(format(0)(e)),
            };
            let (iface, raw_ts, orig_len, data): (u32, Duration, u32, Cow<'_, [u8]>) = match b {
                Block::InterfaceDescription(i) => {
                    ifaces.push((u32::from(i.linktype), tsresol(&i.options)));
                    continue;
                }
                Block::SectionHeader(_) => {
                    ifaces.clear();
                    continue;
                }
                Block::EnhancedPacket(p) => (p.interface_id, p.timestamp, p.original_len, p.data),
                Block::SimplePacket(p) => (0, Duration::ZERO, p.original_len, p.data),
                Block::Packet(p) => (
                    u32::from(p.interface_id),
                    Duration::from_nanos(p.timestamp),
                    p.original_len,
                    p.data,
                ),
                _ => continue,
            };
            let (linktype, resol) = ifaces.get(iface as usize).copied().unwrap_or((1, 6));
            // pcap-file 2.0 reads the raw timestamp units as nanoseconds; scale by if_tsresol.
            let units = u64::try_from(raw_ts.as_nanos()).unwrap_or(u64::MAX);
            out.push(Captured {
                timestamp: to_duration(units, resol),
                orig_len,
                linktype,
                data: data.into_owned(),
            });
        }
    } else {
        return Err(Error::Magic {
            magic: magic.to_vec(),
        });
    }
    Ok(Capture {
        frames: out,
        cut: None,
        snaplen: None,
    })
}

/// The frame as Ethernet II bytes, with a note when it was not captured as Ethernet. Linux
/// cooked captures (`-i any`: SLL, link type 113, and SLL2, 276) carry the source MAC and the
/// EtherType but no destination: it becomes ff:ff:ff:ff:ff:ff for broadcast packets and
/// 00:00:00:00:00:00 otherwise. Other link types are decoded as if they were Ethernet.
fn as_ethernet(linktype: u32, data: &[u8]) -> (Cow<'_, [u8]>, Option<String>) {
    let cooked = |pkttype: u16, addr: &[u8], proto: &[u8], payload: &[u8]| {
        let mut f = Vec::with_capacity(14 + payload.len());
        f.extend_from_slice(&if pkttype == 1 { [0xff; 6] } else { [0; 6] });
        let mut src = [0u8; 6];
        let n = addr.len().min(6);
        src[..n].copy_from_slice(&addr[..n]);
        f.extend_from_slice(&src);
        f.extend_from_slice(proto);
        f.extend_from_slice(payload);
        f
    };
    match linktype {
        1 => (Cow::Borrowed(data), None),
        // SLL: pkttype(2) hatype(2) halen(2) addr(8) protocol(2).
        113 if data.len() >= 16 => {
            let pkttype = u16::from_be_bytes([data[0], data[1]]);
            let halen = usize::from(u16::from_be_bytes([data[4], data[5]])).min(8);
            let f = cooked(pkttype, &data[6..6 + halen], &data[14..16], &data[16..]);
            let note = "Linux cooked capture (SLL): Ethernet destination synthesized".to_string();
            (Cow::Owned(f), Some(note))
        }
        // SLL2: protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8).
        276 if data.len() >= 20 => {
            let pkttype = u16::from(data[10]);
            let halen = usize::from(data[11]).min(8);
            let f = cooked(pkttype, &data[12..12 + halen], &data[0..2], &data[20..]);
            let note = "Linux cooked capture (SLL2): Ethernet destination synthesized".to_string();
            (Cow::Owned(f), Some(note))
        }
        t => (
            Cow::Borrowed(data),
            Some(format!("link type {t} is not Ethernet (1)")),
        ),
    }
}

/// Decodes every frame of a capture held in memory.
/// A capture stopped inside a record, or a frame kept short by the snapshot length: what was
/// decoded is shown, and this says what is missing.
fn capture_deviation(field: &str, message: String) -> bootlab_wire::Deviation {
    bootlab_wire::Deviation {
        field: field.into(),
        offset: None,
        message,
        rule: "pcap-savefile(5)",
        severity: bootlab_wire::Severity::Warning,
    }
}

/// Decodes every frame of a capture held in memory; a capture cut inside a record decodes up to
/// the cut, which is a deviation of the last frame; a frame shorter than on the wire
/// (`tcpdump -s N`) is decoded as far as it goes, with a deviation saying so.
pub fn decode_capture(bytes: &[u8], policy: ChecksumPolicy) -> Result<Vec<Frame>, Error> {
    let Capture {
        frames: captured,
        cut,
        snaplen,
    } = read_capture(bytes)?;
    if captured.is_empty() {
        if let Some(cut) = cut {
            return Err(Error::Cut(cut));
        }
    }
    let mut decoder = Decoder::new(policy);
    let first = captured.first().map(|c| c.timestamp).unwrap_or_default();
    let mut frames: Vec<Frame> = captured
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let (frame, note) = as_ethernet(c.linktype, &c.data);
            let mut decoded = decoder.decode(&frame);
            if (c.data.len() as u64) < u64::from(c.orig_len) {
                // The lengths the headers give run past the cut because of the capture, not
                // because of the sender: that is said once, below, instead.
                decoded.deviations.retain(|d| {
                    let length = matches!(d.field.as_str(), "ip.len" | "udp.length")
                        && d.message.contains("exceeds");
                    !(length || d.message.contains("truncated") || d.field.ends_with("checksum"))
                });
                let limit = snaplen
                    .map(|s| format!(" (snaplen {s})"))
                    .unwrap_or_default();
                decoded.deviations.insert(
                    0,
                    capture_deviation(
                        "frame",
                        format!(
                            "captured {} of {} bytes{limit}: what lies past the cut is not decoded",
                            c.data.len(),
                            c.orig_len
                        ),
                    ),
                );
            }
            if let Some(message) = note {
                decoded.deviations.insert(
                    0,
                    bootlab_wire::Deviation {
                        field: "frame".into(),
                        offset: None,
                        message,
                        rule: "tcpdump.org link types",
                        severity: bootlab_wire::Severity::Warning,
                    },
                );
            }
            Frame {
                number: i + 1,
                time: c.timestamp.saturating_sub(first).as_secs_f64(),
                epoch: c.timestamp.as_secs_f64(),
                orig_len: c.orig_len,
                decoded,
            }
        })
        .collect();
    if let (Some(cut), Some(last)) = (cut, frames.last_mut()) {
        last.decoded.deviations.push(capture_deviation(
            "capture",
            format!("{cut}; the file ends here"),
        ));
    }
    Ok(frames)
}

/// Decodes the capture at `path`.
pub fn decode_file(path: &Path, policy: ChecksumPolicy) -> Result<Vec<Frame>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    decode_capture(&bytes, policy)
}

/// Runs `bootlab decode`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let policy = if args.ignore_checksums {
        ChecksumPolicy::Ignore
    } else {
        ChecksumPolicy::Verify
    };
    let frames = decode_file(&args.file, policy)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &frames)?;
        writeln!(out)?;
    } else {
        for f in &frames {
            writeln!(out, "{f}")?;
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bootlab_wire::bootp::{Message, MessageType};
    use bootlab_wire::frame::build_udp;
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    use std::net::Ipv4Addr;

    fn frame() -> Vec<u8> {
        let m = Message::new_dhcp(MessageType::Discover, 9, [2, 0, 0, 0, 0, 1]);
        build_udp(
            [2, 0, 0, 0, 0, 1],
            [0xff; 6],
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            68,
            67,
            &m.emit(),
        )
    }

    #[test]
    fn pcap_frames_are_numbered_and_timed() {
        let f = frame();
        let mut w = PcapWriter::new(Vec::new()).expect("writer");
        for (i, t) in [1000u64, 1000, 1002].into_iter().enumerate() {
            let ts = Duration::from_secs(t) + Duration::from_micros(i as u64 * 250);
            w.write_packet(&PcapPacket::new(ts, f.len() as u32, &f))
                .expect("write");
        }
        let bytes = w.into_writer();
        let frames = decode_capture(&bytes, ChecksumPolicy::Verify).expect("decode");
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[2].number, 3);
        assert!((frames[2].time - 2.0005).abs() < 1e-9);
        assert!(frames[0]
            .to_string()
            .starts_with("    1    0.000000 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff 0.0.0.0:68"));
        let json = serde_json::to_value(&frames).expect("json");
        assert_eq!(json[0]["app"]["message_type"], "DHCPDISCOVER");
        assert_eq!(json[0]["number"], 1);
    }

    #[test]
    fn pcapng_timestamp_resolutions() {
        assert_eq!(to_duration(1_500_000, 6), Duration::from_millis(1500));
        assert_eq!(to_duration(1_500_000_001, 9), Duration::new(1, 500_000_001));
        assert_eq!(to_duration(3, 0x81), Duration::from_millis(1500));
        assert_eq!(to_duration(15, 1), Duration::from_millis(1500));
        assert_eq!(to_duration(1, 40), Duration::ZERO);
    }

    #[test]
    fn linux_cooked_frames_become_ethernet() {
        let eth = frame();
        let mut sll = vec![0, 1, 0, 1, 0, 6];
        sll.extend_from_slice(&eth[6..12]);
        sll.extend_from_slice(&[0, 0]);
        sll.extend_from_slice(&eth[12..]);
        let (f, note) = as_ethernet(113, &sll);
        assert_eq!(&f[..], &eth[..]);
        assert!(note.is_some());
        let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 1, 6];
        sll2.extend_from_slice(&eth[6..12]);
        sll2.extend_from_slice(&[0, 0]);
        sll2.extend_from_slice(&eth[14..]);
        let (f, _) = as_ethernet(276, &sll2);
        assert_eq!(&f[..], &eth[..]);
        assert!(as_ethernet(113, &sll[..10]).1.is_some());
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert!(matches!(
            decode_capture(b"hello world", ChecksumPolicy::Verify),
            Err(Error::Magic { .. })
        ));
        assert!(matches!(
            decode_capture(&[0xd4, 0xc3, 0xb2, 0xa1, 2], ChecksumPolicy::Verify),
            Err(Error::Header { .. })
        ));
    }
}

#[cfg(test)]
mod cut_tests {
    use super::*;
    use bootlab_wire::bootp::{Message, MessageType};
    use bootlab_wire::frame::build_udp;
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    use std::net::Ipv4Addr;

    fn frame(xid: u32) -> Vec<u8> {
        let m = Message::new_dhcp(MessageType::Discover, xid, [2, 0, 0, 0, 0, 1]);
        build_udp(
            [2, 0, 0, 0, 0, 1],
            [0xff; 6],
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            68,
            67,
            &m.emit(),
        )
    }

    fn capture(snaplen: Option<usize>) -> Vec<u8> {
        let header = PcapHeader {
            snaplen: snaplen.map_or(65535, |s| s as u32),
            ..PcapHeader::default()
        };
        let mut w = PcapWriter::with_header(Vec::new(), header).expect("writer");
        for i in 0..3u32 {
            let f = frame(i);
            let kept = snaplen.map_or(f.len(), |s| s.min(f.len()));
            w.write_packet(&PcapPacket::new(
                Duration::from_secs(u64::from(i)),
                f.len() as u32,
                &f[..kept],
            ))
            .expect("write");
        }
        w.into_writer()
    }

    /// Issue 18: a capture cut inside a record (an interrupted writer) decodes up to the cut,
    /// and the cut is reported as a deviation.
    #[test]
    fn a_truncated_capture_decodes_up_to_the_cut() {
        let full = capture(None);
        let record = 16 + frame(0).len();
        for cut in [24 + 2 * record + 5, 24 + 2 * record + 20, full.len() - 1] {
            let frames = decode_capture(&full[..cut], ChecksumPolicy::Verify).expect("decode");
            assert_eq!(frames.len(), 2, "cut at {cut}");
            let last = &frames[1].decoded.deviations;
            assert!(
                last.iter()
                    .any(|d| d.field == "capture" && d.message.contains("cut")),
                "cut at {cut}: {last:?}"
            );
            assert!(frames[0].decoded.deviations.is_empty());
        }
        // Cut before the first record ends: nothing to decode, a typed error.
        assert!(matches!(
            decode_capture(&full[..30], ChecksumPolicy::Verify),
            Err(Error::Cut(Cut { frame: 1, .. }))
        ));
    }

    /// Issue 18: `tcpdump -s 100` keeps 100 bytes of each frame; what is there is decoded and the
    /// missing tail is a deviation, not a failure.
    #[test]
    fn a_snaplen_limited_capture_decodes_what_was_captured() {
        let frames = decode_capture(&capture(Some(100)), ChecksumPolicy::Verify).expect("decode");
        assert_eq!(frames.len(), 3);
        for f in &frames {
            assert_eq!(f.orig_len as usize, frame(0).len());
            assert!(
                f.decoded
                    .deviations
                    .iter()
                    .any(|d| d.field == "frame" && d.message.contains("100 of")),
                "{f}"
            );
            assert!(f.to_string().contains("0.0.0.0:68"), "{f}");
            assert_eq!(f.decoded.deviations.len(), 1, "only the cut: {f}");
        }
    }
}

//! Capture of every segment: an AF_PACKET socket on the segment's bridge, in promiscuous mode
//! from the moment the bridge exists, written to a nanosecond pcap file (pcap-file) and
//! broadcast to the runner as [`Frame`]s. Frames reach the file as they arrive (after each burst
//! the socket held), so a run that is interrupted or killed keeps what it captured. The
//! kernel's drop counters are read at the end: a capture that lost frames is reported as an
//! error, never passed silently.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bootlab_sys::packet::{AsyncPacketSocket, PacketSocket, Received};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// Largest frame kept; veth frames are at most 1514 bytes with offloads off, GSO frames up to 64 KiB.
pub const SNAPLEN: u32 = 65_535;
/// Receive buffer of a capture socket, large enough for bursts while the writer catches up.
const RCVBUF: usize = 64 << 20;

/// One captured Ethernet frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The segment it was seen on.
    pub segment: Arc<str>,
    /// Kernel receive time, nanosecond resolution.
    pub timestamp: SystemTime,
    /// The whole frame, destination MAC first.
    pub data: Arc<[u8]>,
}

/// What one segment's capture produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCapture {
    /// The segment.
    pub segment: String,
    /// The pcap file.
    pub pcap: PathBuf,
    /// Frames written.
    pub frames: u64,
    /// Frames the kernel dropped before we read them (`PACKET_STATISTICS`).
    pub kernel_drops: u64,
    /// Frames truncated to [`SNAPLEN`].
    pub truncated: u64,
}

/// What every capture of a world produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureReport {
    /// One entry per segment, in topology order.
    pub segments: Vec<SegmentCapture>,
}

impl CaptureReport {
    /// Fails when any segment lost frames in the kernel.
    pub fn check(&self) -> Result<(), CaptureError> {
        match self.segments.iter().find(|s| s.kernel_drops > 0) {
            Some(s) => Err(CaptureError::Dropped {
                segment: s.segment.clone(),
                drops: s.kernel_drops,
            }),
            None => Ok(()),
        }
    }
}

/// A capture that failed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The pcap file could not be created or written.
    #[error("capture of {segment}: pcap {path}: {source}")]
    Pcap {
        /// The segment.
        segment: String,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: pcap_file::PcapError,
    },
    /// The socket failed.
    #[error("capture of {segment}: {source}")]
    Socket {
        /// The segment.
        segment: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel dropped frames: the trace is incomplete.
    #[error("capture of {segment} lost {drops} frames in the kernel; the trace is incomplete")]
    Dropped {
        /// The segment.
        segment: String,
        /// How many.
        drops: u64,
    },
    /// The capture task died.
    #[error("capture of {segment}: task failed: {why}")]
    Task {
        /// The segment.
        segment: String,
        /// Why.
        why: String,
    },
}

/// A running capture of one segment.
#[derive(Debug)]
pub(crate) struct Capture {
    segment: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<SegmentCapture, CaptureError>>,
}

fn pcap_writer(segment: &str, path: &Path) -> Result<StreamedPcap, CaptureError> {
    StreamedPcap::create(path).map_err(|source| CaptureError::Pcap {
        segment: segment.to_owned(),
        path: path.to_owned(),
        source,
    })
}

impl Capture {
    /// Starts capturing `segment` from `sock` (bound to the bridge, made on a thread in the
    /// switch namespace) into `path`, broadcasting each frame on `frames`.
    pub(crate) fn start(
        segment: &str,
        sock: PacketSocket,
        path: PathBuf,
        frames: broadcast::Sender<Frame>,
    ) -> Result<Capture, CaptureError> {
        let sock_err = |e: bootlab_sys::Error| CaptureError::Socket {
            segment: segment.to_owned(),
            source: e.into(),
        };
        sock.set_promiscuous(true).map_err(sock_err)?;
        sock.set_recv_buffer(RCVBUF).map_err(sock_err)?;
        let writer = pcap_writer(segment, &path)?;
        let afd = AsyncPacketSocket::new(sock).map_err(|source| CaptureError::Socket {
            segment: segment.to_owned(),
            source,
        })?;
        let (stop, stop_rx) = watch::channel(false);
        let name: Arc<str> = Arc::from(segment);
        let task = tokio::spawn(run(name, afd, writer, path, frames, stop_rx));
        Ok(Capture {
            segment: segment.to_owned(),
            stop,
            task,
        })
    }

    /// Stops after reading what the kernel still holds, flushes the pcap and reports.
    pub(crate) async fn finish(self) -> Result<SegmentCapture, CaptureError> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(CaptureError::Task {
                segment: self.segment,
                why: e.to_string(),
            }),
        }
    }
}

/// Bytes the pcap writer produced and the file has not had yet.
#[derive(Debug, Clone, Default)]
struct Pending(Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut v) => v.extend_from_slice(buf),
            Err(p) => p.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A pcap file written as frames arrive: records are formatted in memory and handed to the
/// file at every [`StreamedPcap::commit`] (one `write` per burst of frames).
#[derive(Debug)]
pub(crate) struct StreamedPcap {
    writer: PcapWriter<Pending>,
    pending: Pending,
    file: File,
}

impl StreamedPcap {
    /// Creates `path` with a nanosecond Ethernet header, already in the file.
    pub(crate) fn create(path: &Path) -> Result<Self, pcap_file::PcapError> {
        let file = File::create(path).map_err(pcap_file::PcapError::IoError)?;
        let header = PcapHeader {
            snaplen: SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        let pending = Pending::default();
        let writer = PcapWriter::with_header(pending.clone(), header)?;
        let mut s = Self {
            writer,
            pending,
            file,
        };
        s.commit()?;
        Ok(s)
    }

    /// Formats one frame (not yet in the file).
    pub(crate) fn push(
        &mut self,
        ts: std::time::Duration,
        orig_len: u32,
        data: &[u8],
    ) -> Result<(), pcap_file::PcapError> {
        self.writer
            .write_packet(&PcapPacket::new(ts, orig_len, data))
            .map(|_| ())
    }

    /// Hands every formatted frame to the file.
    pub(crate) fn commit(&mut self) -> Result<(), pcap_file::PcapError> {
        let bytes = match self.pending.0.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        self.file
            .write_all(&bytes)
            .map_err(pcap_file::PcapError::IoError)
    }
}

struct Sink {
    segment: Arc<str>,
    writer: StreamedPcap,
    path: PathBuf,
    frames: broadcast::Sender<Frame>,
    written: u64,
    truncated: u64,
}

impl Sink {
    fn pcap_err(&self, source: pcap_file::PcapError) -> CaptureError {
        CaptureError::Pcap {
            segment: self.segment.to_string(),
            path: self.path.clone(),
            source,
        }
    }

    /// Reads every queued frame; returns on `WouldBlock`.
    fn drain(&mut self, sock: &PacketSocket, buf: &mut [u8]) -> Result<(), CaptureError> {
        // Bounded: each iteration consumes one queued frame, and the queue is finite.
        loop {
            let r = match sock.recv(buf) {
                Ok(r) => r,
                Err(e) if e.would_block() => return Ok(()),
                Err(e) => {
                    return Err(CaptureError::Socket {
                        segment: self.segment.to_string(),
                        source: e.into(),
                    })
                }
            };
            self.write(r, buf)?;
        }
    }

    /// Writes one received frame to the pcap and the broadcast.
    fn write(&mut self, r: Received, buf: &[u8]) -> Result<(), CaptureError> {
        let ts = r.timestamp.duration_since(UNIX_EPOCH).unwrap_or_default();
        let data = &buf[..r.len];
        if r.wire_len > r.len {
            self.truncated += 1;
        }
        let orig_len = u32::try_from(r.wire_len).unwrap_or(u32::MAX);
        self.writer
            .push(ts, orig_len, data)
            .map_err(|e| self.pcap_err(e))?;
        self.written += 1;
        let _ = self.frames.send(Frame {
            segment: self.segment.clone(),
            timestamp: r.timestamp,
            data: Arc::from(data),
        });
        Ok(())
    }
}

async fn run(
    segment: Arc<str>,
    afd: AsyncPacketSocket,
    writer: StreamedPcap,
    path: PathBuf,
    frames: broadcast::Sender<Frame>,
    mut stop: watch::Receiver<bool>,
) -> Result<SegmentCapture, CaptureError> {
    let mut sink = Sink {
        segment,
        writer,
        path,
        frames,
        written: 0,
        truncated: 0,
    };
    let mut buf = vec![0u8; SNAPLEN as usize];
    let sock_err = |segment: &str, source: std::io::Error| CaptureError::Socket {
        segment: segment.to_owned(),
        source,
    };
    while !*stop.borrow() {
        tokio::select! {
            _ = stop.changed() => break,
            r = afd.recv(&mut buf) => {
                let r = r.map_err(|e| sock_err(&sink.segment, e))?;
                sink.write(r, &buf)?;
                // The rest of the burst, then one write: the file keeps up with the wire.
                sink.drain(afd.get_ref(), &mut buf)?;
                sink.writer.commit().map_err(|e| sink.pcap_err(e))?;
            }
        }
    }
    sink.drain(afd.get_ref(), &mut buf)?;
    let stats = afd
        .get_ref()
        .statistics()
        .map_err(|e| sock_err(&sink.segment, e.into()))?;
    bootlab_sys::packet::close_in_background(afd.into_inner());
    sink.writer.commit().map_err(|e| sink.pcap_err(e))?;
    Ok(SegmentCapture {
        segment: sink.segment.to_string(),
        pcap: sink.path,
        frames: sink.written,
        kernel_drops: stats.drops,
        truncated: sink.truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 18: frames are in the file as soon as they are committed, before the capture
    /// ends, so an interrupted run keeps them.
    #[test]
    fn frames_reach_the_file_before_the_capture_ends() {
        let dir = std::env::temp_dir().join(format!("bootlab-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("lan.pcap");
        let mut w = StreamedPcap::create(&path).expect("create");
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len(),
            24,
            "header at once"
        );
        for i in 0..3u8 {
            w.push(std::time::Duration::from_secs(u64::from(i)), 60, &[i; 60])
                .expect("push");
            w.commit().expect("commit");
        }
        // Still open (never flushed or dropped): a reader sees all three frames.
        let bytes = std::fs::read(&path).expect("read");
        let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).expect("header");
        let mut n = 0;
        while let Some(p) = r.next_packet() {
            assert_eq!(p.expect("frame").data[0], n);
            n += 1;
        }
        assert_eq!(n, 3);
        drop(w);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn report_with_drops_fails() {
        let mut r = CaptureReport {
            segments: vec![SegmentCapture {
                segment: "lan".into(),
                pcap: "lan.pcap".into(),
                frames: 10,
                kernel_drops: 0,
                truncated: 0,
            }],
        };
        assert!(r.check().is_ok());
        r.segments[0].kernel_drops = 2;
        let e = r.check().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("lan") && e.contains("lost 2 frames"), "{e}");
    }
}

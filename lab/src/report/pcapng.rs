//! One pcapng file per scenario run (`capture.pcapng`), for Wireshark: the segments' pcaps
//! merged in time order, one interface per segment named after it (`if_name`, `if_description`),
//! a name resolution block mapping the lab's addresses to host names (IPv4 records, and EUI-48
//! records for hardware addresses, so a boot ROM without an address still shows as `rom`), an
//! `opt_comment` on every frame naming its sending and receiving hosts (`hosts: rom > *`: tshark
//! 4.0 ignores EUI-48 records), and one more on every frame where a rule failed (pcapng, draft-ietf-opsawg-pcapng §4.2, §4.3,
//! §4.5). Frames are copied byte for byte with their capture timestamps (nanoseconds).

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::name_resolution::{
    Ipv4Record, NameResolutionBlock, Record, UnknownRecord,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::BufWriter;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `nrb_record_eui48`: a 6-octet hardware address followed by names (pcapng §4.5).
const NRB_RECORD_EUI48: u16 = 3;
/// Nanosecond timestamps (`if_tsresol` 9).
const TSRESOL_NS: u8 = 9;

/// One segment's capture going into the merged file.
#[derive(Debug, Clone)]
pub struct Segment {
    /// The segment's name: the interface's `if_name`.
    pub name: String,
    /// Its `if_description`, e.g. `bootlab segment lan 192.0.2.0/24`.
    pub description: String,
    /// Its classic pcap file.
    pub pcap: PathBuf,
}

/// What the merged file says about addresses and frames.
#[derive(Debug, Clone, Default)]
pub struct Annotations {
    /// IPv4 address -> host name.
    pub ips: BTreeMap<Ipv4Addr, String>,
    /// MAC -> host name.
    pub macs: BTreeMap<[u8; 6], String>,
    /// (segment, frame number in its pcap) -> comments (one per failed rule).
    pub comments: HashMap<(String, usize), Vec<String>>,
    /// The section's comment (scenario, verdict).
    pub comment: String,
}

/// Why the pcapng could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PcapngError {
    /// A segment's pcap could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The pcap.
        path: PathBuf,
        /// Why.
        #[source]
        source: pcap_file::PcapError,
    },
    /// The pcapng could not be opened.
    #[error("{path}: {source}")]
    Create {
        /// The pcapng.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The pcapng could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The pcapng.
        path: PathBuf,
        /// Why.
        #[source]
        source: pcap_file::PcapError,
    },
}

/// A frame of a segment: its number there, timestamp, original length and bytes.
struct Packet {
    segment: usize,
    number: usize,
    timestamp: Duration,
    original_len: u32,
    data: Vec<u8>,
}

/// Writes `out` from the segments' pcaps; returns (segment, frame in its pcap) -> frame number in
/// the pcapng (1-based, as Wireshark numbers them).
pub fn write(
    out: &Path,
    segments: &[Segment],
    notes: &Annotations,
) -> Result<HashMap<(String, usize), usize>, PcapngError> {
    let mut packets = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        let rerr = |source| PcapngError::Read {
            path: s.pcap.clone(),
            source,
        };
        let f = std::fs::File::open(&s.pcap).map_err(|e| rerr(pcap_file::PcapError::IoError(e)))?;
        let mut reader = PcapReader::new(f).map_err(rerr)?;
        let mut number = 0;
        while let Some(p) = reader.next_packet() {
            let p = p.map_err(rerr)?;
            number += 1;
            packets.push(Packet {
                segment: i,
                number,
                timestamp: p.timestamp,
                original_len: p.orig_len,
                data: p.data.into_owned(),
            });
        }
    }
    // Time order across segments; ties keep segment order, then capture order.
    packets.sort_by_key(|p| (p.timestamp, p.segment, p.number));

    let werr = |source| PcapngError::Write {
        path: out.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(out).map_err(|source| PcapngError::Create {
        path: out.to_path_buf(),
        source,
    })?;
    let section = SectionHeaderBlock {
        endianness: Endianness::native(),
        options: vec![
            SectionHeaderOption::UserApplication(Cow::Borrowed("bootlab")),
            SectionHeaderOption::Comment(Cow::Owned(notes.comment.clone())),
        ],
        ..SectionHeaderBlock::default()
    };
    let mut w = PcapNgWriter::with_section_header(BufWriter::new(file), section).map_err(werr)?;
    for s in segments {
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: crate::world::capture::SNAPLEN,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(s.name.clone())),
                InterfaceDescriptionOption::IfDescription(Cow::Owned(s.description.clone())),
                InterfaceDescriptionOption::IfTsResol(TSRESOL_NS),
            ],
        })
        .map_err(werr)?;
    }
    w.write_pcapng_block(name_resolution(notes)).map_err(werr)?;
    let mut numbers = HashMap::new();
    for (i, p) in packets.iter().enumerate() {
        let seg = &segments[p.segment].name;
        // First the hosts by the lab's names (Wireshark releases that ignore EUI-48 records
        // still show them: a frame from 0.0.0.0 has no address to name), then failed rules.
        let mut options: Vec<EnhancedPacketOption> = hosts_comment(notes, &p.data)
            .map(|c| EnhancedPacketOption::Comment(Cow::Owned(c)))
            .into_iter()
            .collect();
        options.extend(
            notes
                .comments
                .get(&(seg.clone(), p.number))
                .into_iter()
                .flatten()
                .map(|c| EnhancedPacketOption::Comment(Cow::Owned(c.clone()))),
        );
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: p.segment as u32,
            timestamp: p.timestamp,
            original_len: p.original_len,
            data: Cow::Borrowed(&p.data),
            options,
        })
        .map_err(werr)?;
        numbers.insert((seg.clone(), p.number), i + 1);
    }
    use std::io::Write as _;
    w.get_mut()
        .flush()
        .map_err(|e| werr(pcap_file::PcapError::IoError(e)))?;
    Ok(numbers)
}

/// `hosts: SENDER > RECEIVER` for an Ethernet frame, by the lab's names of its MACs (`*` for
/// broadcast, the address when the lab did not name it); `None` for a runt.
fn hosts_comment(notes: &Annotations, frame: &[u8]) -> Option<String> {
    let mac = |b: &[u8]| -> Option<[u8; 6]> { b.try_into().ok() };
    let (dst, src) = (mac(frame.get(0..6)?)?, mac(frame.get(6..12)?)?);
    let name = |m: [u8; 6]| -> String {
        if m == [0xff; 6] {
            return "*".into();
        }
        notes.macs.get(&m).cloned().unwrap_or_else(|| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        })
    };
    Some(format!("hosts: {} > {}", name(src), name(dst)))
}

/// The name resolution block: one IPv4 record per address, one EUI-48 record per MAC.
fn name_resolution(notes: &Annotations) -> NameResolutionBlock<'static> {
    let mut records = Vec::new();
    for (ip, name) in &notes.ips {
        records.push(Record::Ipv4(Ipv4Record {
            ip_addr: Cow::Owned(ip.octets().to_vec()),
            names: vec![Cow::Owned(name.clone())],
        }));
    }
    for (mac, name) in &notes.macs {
        let mut value = mac.to_vec();
        value.extend_from_slice(name.as_bytes());
        value.push(0);
        records.push(Record::Unknown(UnknownRecord {
            type_: NRB_RECORD_EUI48,
            length: value.len() as u16,
            value: Cow::Owned(value),
        }));
    }
    NameResolutionBlock {
        records,
        options: vec![],
    }
}

/// The names a run's pcapng carries: the lab's names for MACs and static addresses, plus every
/// address a server assigned (`yiaddr` of a BOOTREPLY, RFC 951 §3) named after the host whose
/// `chaddr` it went to.
pub fn names_of(
    trace: &crate::judge::trace::Trace,
) -> (BTreeMap<Ipv4Addr, String>, BTreeMap<[u8; 6], String>) {
    let mut ips: BTreeMap<Ipv4Addr, String> = trace
        .names
        .ips
        .iter()
        .map(|(a, n)| (*a, n.clone()))
        .collect();
    let macs: BTreeMap<[u8; 6], String> = trace
        .names
        .macs
        .iter()
        .map(|(m, n)| (*m, n.clone()))
        .collect();
    for (_, m) in trace.bootp() {
        if m.op != bootlab_wire::bootp::Op::BootReply || m.yiaddr.is_unspecified() {
            continue;
        }
        if let Some(host) = trace.names.macs.get(&m.chaddr_mac()) {
            ips.entry(m.yiaddr).or_insert_with(|| host.clone());
        }
    }
    (ips, macs)
}

//! The durable lease store: an append-only journal of [`Record`]s, one checked line each.
//!
//! A line is `CRC LEN JSON\n`: the CRC-32 (IEEE) of the JSON text as eight hex digits, its
//! length in bytes, and the [`Record`] as JSON. Lines without the frame (plain JSON, written
//! before checksums) are still read.
//!
//! Write-ahead: the daemon appends the records of a whole batch of received packets and syncs
//! once ([`Journal::commit`], group commit as Kea's memfile does) before any reply of that batch
//! leaves, so an ACKed lease survives `kill -9` and power loss. A failed append is cut back to
//! the last committed length so a torn write can never swallow the next record; when the cut
//! fails too, the journal refuses further appends (no ACK may leave) until it succeeds.
//!
//! On open the journal is replayed: a damaged record (bad frame, length or checksum) is skipped
//! and reported, every valid record before and after it is kept, and a torn last line from a
//! crash is reported and dropped. A journal with damage is kept beside the new one as
//! `NAME.damaged` before the journal is compacted: rewritten from the live table into a
//! temporary file, synced and renamed over the old one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::leases::{Record, Table};

/// A lease journal I/O failure.
#[derive(Debug, thiserror::Error)]
#[error("lease journal {path}: {what}: {source}")]
pub struct JournalError {
    /// The journal file.
    pub path: PathBuf,
    /// What we were doing.
    pub what: &'static str,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

/// A record that replay skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the damaged line in the journal.
    pub offset: u64,
    /// Its length in bytes, without the newline.
    pub len: usize,
    /// What is wrong with it.
    pub why: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "offset {} ({} bytes): {}",
            self.offset, self.len, self.why
        )
    }
}

/// What [`Journal::open`] found while replaying.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// Records applied to the table.
    pub records: usize,
    /// Complete lines that were skipped, in file order.
    pub damaged: Vec<Damage>,
    /// Bytes after the last newline (a write torn by a crash), dropped.
    pub torn_tail: usize,
    /// Where the damaged journal was kept, when there was damage.
    pub kept: Option<PathBuf>,
}

/// An open journal, positioned for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// Length of the file up to the last committed record.
    committed: u64,
    /// A failed append left bytes after `committed` that could not be cut yet.
    torn: bool,
    /// Records in the file after the last compaction.
    lines: usize,
    /// Records appended since.
    appended: usize,
    /// Test fault: the next append writes this many bytes, then fails as a full disk would.
    #[cfg(test)]
    fault: Option<usize>,
}

/// Fewest appended records before an online compaction is considered.
pub const COMPACT_MIN: usize = 10_000;

impl Journal {
    /// Replays and compacts the journal at `path` (created if missing); returns it open for
    /// appending with the table it holds and what replay found. `now` (seconds since the epoch)
    /// drops ended probations. Damage is logged here; the caller may report it further.
    pub fn open(path: &Path, now: u64) -> Result<(Self, Table, Replay), JournalError> {
        let err = |what| {
            move |source| JournalError {
                path: path.into(),
                what,
                source,
            }
        };
        let mut table = Table::default();
        let mut replay = Replay::default();
        match std::fs::read(path) {
            Ok(bytes) => {
                replay = replay_into(&bytes, &mut table);
                for d in &replay.damaged {
                    tracing::warn!(path = %path.display(), "skipped damaged journal record at {d}");
                }
                if replay.torn_tail > 0 {
                    tracing::warn!(path = %path.display(), bytes = replay.torn_tail, "dropped a torn last journal line");
                }
                if !replay.damaged.is_empty() {
                    let kept = path.with_extension("damaged");
                    std::fs::copy(path, &kept).map_err(err("keep damaged journal"))?;
                    replay.kept = Some(kept);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err("read")(e)),
        }
        let (file, lines, committed) = rewrite(path, &table, now)?;
        let journal = Self {
            path: path.into(),
            file,
            buf: Vec::new(),
            committed,
            torn: false,
            lines,
            appended: 0,
            #[cfg(test)]
            fault: None,
        };
        Ok((journal, table, replay))
    }

    /// Whether the journal holds so many superseded records that [`Journal::compact`] pays:
    /// more appended records than four times the live ones, and at least [`COMPACT_MIN`].
    pub fn wants_compaction(&self) -> bool {
        self.appended >= COMPACT_MIN && self.appended > 4 * self.lines.max(1)
    }

    /// Rewrites the journal from `table` (write, sync, rename over, sync the directory) and
    /// keeps appending to the new file. Pending records must be committed first.
    pub fn compact(&mut self, table: &Table, now: u64) -> Result<(), JournalError> {
        self.commit()?;
        let (file, lines, committed) = rewrite(&self.path, table, now)?;
        self.file = file;
        self.committed = committed;
        self.torn = false;
        self.lines = lines;
        self.appended = 0;
        Ok(())
    }

    /// Queues `r` for the next [`Journal::commit`].
    pub fn push(&mut self, r: &Record) {
        encode(r, &mut self.buf);
        self.appended += 1;
    }

    /// Whether records are waiting for a commit.
    pub fn pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Writes every queued record and syncs them to disk with one `fdatasync`. On failure the
    /// queued records are dropped and the file is cut back to its committed length, so a torn
    /// write never joins the next record; until that cut succeeds every commit fails.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |what| move |source| JournalError { path, what, source };
        if self.torn {
            if let Err(e) = self.file.set_len(self.committed) {
                self.buf.clear();
                return Err(err("cut a torn append")(e));
            }
            self.torn = false;
        }
        let res = self.append().and_then(|()| self.file.sync_data());
        match res {
            Ok(()) => {
                self.committed += self.buf.len() as u64;
                self.buf.clear();
                Ok(())
            }
            Err(e) => {
                self.buf.clear();
                // A write or sync that failed may have left part of the batch on disk.
                self.torn = self.file.set_len(self.committed).is_err();
                Err(err("append")(e))
            }
        }
    }
}

impl Journal {
    #[cfg(not(test))]
    fn append(&mut self) -> std::io::Result<()> {
        self.file.write_all(&self.buf)
    }

    #[cfg(test)]
    fn append(&mut self) -> std::io::Result<()> {
        match self.fault.take() {
            None => self.file.write_all(&self.buf),
            Some(n) => {
                self.file.write_all(&self.buf[..n.min(self.buf.len())])?;
                Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
            }
        }
    }
}

/// Emits a `journal-damaged` event {damaged, torn_tail, kept} when replay skipped anything.
pub fn report(replay: &Replay) {
    if replay.damaged.is_empty() && replay.torn_tail == 0 {
        return;
    }
    bootlab_net::events::emit(
        "journal-damaged",
        serde_json::json!({
            "damaged": replay.damaged.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "torn_tail": replay.torn_tail,
            "kept": replay.kept.as_ref().map(|p| p.display().to_string()),
        }),
    );
}

/// Replays the journal text `bytes` into `table`; reports what it skipped.
pub fn replay_into(bytes: &[u8], table: &mut Table) -> Replay {
    let mut replay = Replay::default();
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            // A last line without its newline: decode it only if its frame says it is whole.
            match decode(rest) {
                Ok((r, used)) if used == rest.len() => {
                    table.apply(&r);
                    replay.records += 1;
                }
                _ => replay.torn_tail = rest.len(),
            }
            break;
        };
        let line = &rest[..nl];
        if line.iter().all(u8::is_ascii_whitespace) {
            pos += nl + 1;
            continue;
        }
        match decode(rest) {
            Ok((r, used)) => {
                table.apply(&r);
                replay.records += 1;
                // The frame's length wins over a damaged newline: go on right after the record.
                pos += used + 1;
            }
            Err(why) => {
                replay.damaged.push(Damage {
                    offset: pos as u64,
                    len: line.len(),
                    why,
                });
                pos += nl + 1;
            }
        }
    }
    replay
}

/// Decodes the record at the start of `bytes`; returns it and the bytes it used (without the
/// newline that should follow).
fn decode(bytes: &[u8]) -> Result<(Record, usize), String> {
    if bytes.first() == Some(&b'{') {
        // An unframed line from before checksums: JSON up to the newline.
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        let r = serde_json::from_slice::<Record>(&bytes[..end])
            .map_err(|e| format!("unframed record: {e}"))?;
        return Ok((r, end));
    }
    let field = |from: usize| -> Result<(&[u8], usize), String> {
        let rest = bytes.get(from..).unwrap_or_default();
        let n = rest
            .iter()
            .take(21)
            .position(|&b| b == b' ')
            .ok_or("frame: missing field separator")?;
        Ok((&rest[..n], from + n + 1))
    };
    let (crc, next) = field(0)?;
    let (len, start) = field(next)?;
    let crc = std::str::from_utf8(crc)
        .ok()
        .filter(|s| s.len() == 8)
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .ok_or("frame: checksum is not 8 hex digits")?;
    let len = std::str::from_utf8(len)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .ok_or("frame: length is not a decimal number")?;
    let body = bytes
        .get(start..start.saturating_add(len))
        .ok_or_else(|| format!("length {len} runs past the end of the journal"))?;
    let actual = crc32fast::hash(body);
    if actual != crc {
        return Err(format!(
            "checksum {actual:08x} does not match the recorded {crc:08x}"
        ));
    }
    let r = serde_json::from_slice::<Record>(body).map_err(|e| format!("record: {e}"))?;
    Ok((r, start + len))
}

/// Writes `table`'s snapshot to `path.compact`, syncs it, renames it over `path`, syncs the
/// directory and opens the result for appending; returns it, its records and its length.
fn rewrite(path: &Path, table: &Table, now: u64) -> Result<(File, usize, u64), JournalError> {
    let err = |what| {
        move |source| JournalError {
            path: path.into(),
            what,
            source,
        }
    };
    let tmp = path.with_extension("compact");
    let records = table.snapshot(now);
    let mut out = Vec::new();
    for r in &records {
        encode(r, &mut out);
    }
    {
        let mut f = File::create(&tmp).map_err(err("create compacted journal"))?;
        f.write_all(&out).map_err(err("write compacted journal"))?;
        f.sync_all().map_err(err("sync compacted journal"))?;
    }
    std::fs::rename(&tmp, path).map_err(err("rename compacted journal"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err("sync directory"))?;
    }
    let file = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(err("open for append"))?;
    Ok((file, records.len(), out.len() as u64))
}

/// Appends `r` as one framed line: `CRC LEN JSON\n`.
pub fn encode(r: &Record, out: &mut Vec<u8>) {
    // Serialising these plain records cannot fail; a record that did would be left out.
    if let Ok(s) = serde_json::to_string(r) {
        let crc = crc32fast::hash(s.as_bytes());
        out.extend_from_slice(format!("{crc:08x} {} ", s.len()).as_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bootlab-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        dir.join("leases.journal")
    }

    fn bind(i: u8) -> Record {
        Record::Bind {
            addr: Ipv4Addr::new(192, 0, 2, 10 + i),
            client: format!("0{i}"),
            hw: "02".into(),
            expires: Some(1000),
        }
    }

    fn has(t: &Table, i: u8) -> bool {
        t.get(Ipv4Addr::new(192, 0, 2, 10 + i))
            .is_some_and(|l| l.is_bound(0))
    }

    #[test]
    fn commit_replay_compact_and_torn_tail() {
        let path = scratch("journal");
        let (mut j, t, r) = Journal::open(&path, 0).expect("open");
        assert!(t.is_empty());
        assert_eq!(r.records, 0);
        for i in 0..3u8 {
            j.push(&bind(i));
        }
        j.push(&Record::Free {
            addr: Ipv4Addr::new(192, 0, 2, 10),
            client: "00".into(),
        });
        j.commit().expect("commit");
        drop(j);
        // A crash mid-write leaves a torn last line.
        let mut f = OpenOptions::new().append(true).open(&path).expect("append");
        f.write_all(b"0badc0de 60 {\"op\":\"bind\",\"addr\":\"192.0")
            .expect("write");
        drop(f);
        let (_j, t, r) = Journal::open(&path, 0).expect("reopen");
        assert_eq!(r.records, 4);
        assert!(r.torn_tail > 0);
        assert!(r.damaged.is_empty());
        assert_eq!(t.bound(0).count(), 2);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 3, "compacted: two binds and one free");
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    /// One invalid byte inside one record costs that record only, is reported, and the damaged
    /// journal is kept for inspection.
    #[test]
    fn a_damaged_record_is_skipped_and_every_valid_one_kept() {
        let path = scratch("damaged");
        let (mut j, _, _) = Journal::open(&path, 0).expect("open");
        for i in 0..6u8 {
            j.push(&bind(i));
        }
        j.commit().expect("commit");
        drop(j);
        let mut bytes = std::fs::read(&path).expect("read");
        let lines: Vec<usize> = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .collect();
        // An invalid UTF-8 byte in the middle of the second record.
        bytes[lines[0] + 30] = 0xff;
        std::fs::write(&path, &bytes).expect("write");
        let (_j, t, r) = Journal::open(&path, 0).expect("reopen");
        assert_eq!(r.records, 5);
        assert_eq!(r.damaged.len(), 1, "{:?}", r.damaged);
        assert_eq!(r.damaged[0].offset, lines[0] as u64 + 1);
        for i in [0, 2, 3, 4, 5] {
            assert!(has(&t, i), "lease {i} lost");
        }
        let kept = r.kept.expect("damaged journal kept");
        assert_eq!(std::fs::read(&kept).expect("kept"), bytes);
        let (_j, t, r) = Journal::open(&path, 0).expect("reopen after compaction");
        assert_eq!((r.records, r.damaged.len(), t.bound(0).count()), (5, 0, 5));
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    /// A damaged newline joins two records; the frame's length still separates them.
    #[test]
    fn a_damaged_newline_costs_no_record() {
        let mut bytes = Vec::new();
        encode(&bind(0), &mut bytes);
        let first = bytes.len();
        encode(&bind(1), &mut bytes);
        bytes[first - 1] = b'x';
        let mut t = Table::default();
        let r = replay_into(&bytes, &mut t);
        assert_eq!((r.records, r.damaged.len()), (2, 0));
        assert!(has(&t, 0) && has(&t, 1));
    }

    /// Crash test: the journal cut at every byte (so at every write boundary and inside every
    /// write) loses no committed record, and appends after the repair survive the next replay.
    #[test]
    fn a_cut_at_every_byte_keeps_every_committed_record() {
        let path = scratch("crash");
        let (mut j, _, _) = Journal::open(&path, 0).expect("open");
        // Group commits of 1, 2 and 3 records: the boundaries a crash can fall between.
        let mut committed = Vec::new();
        let mut n = 0u8;
        for group in 1..=3u8 {
            for _ in 0..group {
                j.push(&bind(n));
                n += 1;
            }
            j.commit().expect("commit");
            committed.push((std::fs::metadata(&path).expect("stat").len(), n));
        }
        drop(j);
        let full = std::fs::read(&path).expect("read");
        for cut in 0..=full.len() {
            std::fs::write(&path, &full[..cut]).expect("cut");
            let (mut j, t, r) = Journal::open(&path, 0).expect("replay");
            assert!(r.damaged.is_empty(), "cut at {cut}: {:?}", r.damaged);
            let acked = committed
                .iter()
                .filter(|(len, _)| *len <= cut as u64)
                .map(|(_, n)| *n)
                .max()
                .unwrap_or(0);
            for i in 0..acked {
                assert!(has(&t, i), "cut at {cut}: committed lease {i} lost");
            }
            j.push(&bind(40));
            j.commit().expect("commit after repair");
            drop(j);
            let (_j, t, r) = Journal::open(&path, 0).expect("replay after repair");
            assert!(
                r.damaged.is_empty() && r.torn_tail == 0,
                "cut at {cut}: {r:?}"
            );
            assert!(
                has(&t, 40),
                "cut at {cut}: record appended after repair lost"
            );
            for i in 0..acked {
                assert!(has(&t, i), "cut at {cut}: lease {i} lost after repair");
            }
        }
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    /// A full disk tears an append: the torn bytes are cut off, so the next committed record
    /// does not join them and is not lost.
    #[test]
    fn a_torn_append_is_cut_back_before_the_next_record() {
        let path = scratch("torn");
        let (mut j, _, _) = Journal::open(&path, 0).expect("open");
        j.push(&bind(0));
        j.commit().expect("commit");
        let len = std::fs::metadata(&path).expect("stat").len();
        j.fault = Some(17);
        j.push(&bind(1));
        assert!(j.commit().is_err(), "the injected fault fails the commit");
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), len);
        j.push(&bind(2));
        j.commit().expect("commit after the fault");
        drop(j);
        let (_j, t, r) = Journal::open(&path, 0).expect("reopen");
        assert!(r.damaged.is_empty() && r.torn_tail == 0, "{r:?}");
        assert!(has(&t, 0) && !has(&t, 1) && has(&t, 2));
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn unframed_records_from_before_checksums_are_read() {
        let mut t = Table::default();
        let line = serde_json::to_string(&bind(3)).expect("json") + "\n";
        let r = replay_into(line.as_bytes(), &mut t);
        assert_eq!(r.records, 1);
        assert!(has(&t, 3));
    }

    #[test]
    fn online_compaction_after_many_superseded_records() {
        let path = scratch("compact");
        let (mut j, mut t, _) = Journal::open(&path, 0).expect("open");
        for i in 0..COMPACT_MIN as u64 {
            let r = Record::Bind {
                addr: Ipv4Addr::new(192, 0, 2, 10),
                client: "01".into(),
                hw: "02".into(),
                expires: Some(1000 + i),
            };
            t.apply(&r);
            j.push(&r);
        }
        j.commit().expect("commit");
        assert!(j.wants_compaction());
        j.compact(&t, 0).expect("compact");
        assert!(!j.wants_compaction());
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 1);
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }
}

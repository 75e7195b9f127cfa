//! The durable lease store: an append-only journal of [`Record`]s, one JSON object per line.
//!
//! Write-ahead: the daemon appends the records of a whole batch of received packets and syncs
//! once ([`Journal::commit`], group commit as Kea's memfile does) before any reply of that batch
//! leaves, so an ACKed lease survives `kill -9`. On open the journal is replayed (a torn last
//! line from a crash is ignored) and compacted: rewritten from the live table into a temporary
//! file, synced and renamed over the old one.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
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

/// An open journal, positioned for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// Records in the file after the last compaction.
    lines: usize,
    /// Records appended since.
    appended: usize,
}

/// Fewest appended records before an online compaction is considered.
pub const COMPACT_MIN: usize = 10_000;

impl Journal {
    /// Replays and compacts the journal at `path` (created if missing); returns it open for
    /// appending with the table it holds. `now` (seconds since the epoch) drops ended probations.
    pub fn open(path: &Path, now: u64) -> Result<(Self, Table, usize), JournalError> {
        let err = |what| {
            move |source| JournalError {
                path: path.into(),
                what,
                source,
            }
        };
        let mut table = Table::default();
        let mut replayed = 0;
        match File::open(path) {
            Ok(f) => {
                for (i, line) in BufReader::new(f).lines().enumerate() {
                    let line = match line {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::warn!(path = %path.display(), line = i + 1, "unreadable journal line: {e}");
                            break;
                        }
                    };
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Record>(&line) {
                        Ok(r) => {
                            table.apply(&r);
                            replayed += 1;
                        }
                        Err(e) => tracing::warn!(
                            path = %path.display(),
                            line = i + 1,
                            "skipping torn or corrupt journal line: {e}"
                        ),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err("open")(e)),
        }
        let (file, lines) = rewrite(path, &table, now)?;
        let journal = Self {
            path: path.into(),
            file,
            buf: Vec::new(),
            lines,
            appended: 0,
        };
        Ok((journal, table, replayed))
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
        let (file, lines) = rewrite(&self.path, table, now)?;
        self.file = file;
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

    /// Writes every queued record and syncs them to disk with one `fdatasync`.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |what| move |source| JournalError { path, what, source };
        let res = self
            .file
            .write_all(&self.buf)
            .and_then(|()| self.file.sync_data());
        self.buf.clear();
        res.map_err(err("append"))
    }
}

/// Writes `table`'s snapshot to `path.compact`, syncs it, renames it over `path`, syncs the
/// directory and opens the result for appending; returns it and its number of records.
fn rewrite(path: &Path, table: &Table, now: u64) -> Result<(File, usize), JournalError> {
    let err = |what| {
        move |source| JournalError {
            path: path.into(),
            what,
            source,
        }
    };
    let tmp = path.with_extension("compact");
    let records = table.snapshot(now);
    {
        let mut f = File::create(&tmp).map_err(err("create compacted journal"))?;
        let mut out = Vec::new();
        for r in &records {
            encode(r, &mut out);
        }
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
    Ok((file, records.len()))
}

fn encode(r: &Record, out: &mut Vec<u8>) {
    // Serialising these plain records cannot fail; an empty line would be skipped on replay.
    if let Ok(s) = serde_json::to_string(r) {
        out.extend_from_slice(s.as_bytes());
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn commit_replay_compact_and_torn_tail() {
        let dir = std::env::temp_dir().join(format!("bootlab-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("leases.journal");
        let _ = std::fs::remove_file(&path);
        let (mut j, t, n) = Journal::open(&path, 0).expect("open");
        assert!(t.is_empty());
        assert_eq!(n, 0);
        for i in 0..3u8 {
            j.push(&Record::Bind {
                addr: Ipv4Addr::new(192, 0, 2, 10 + i),
                client: format!("0{i}"),
                hw: "02".into(),
                expires: Some(1000),
            });
        }
        j.push(&Record::Free {
            addr: Ipv4Addr::new(192, 0, 2, 10),
            client: "00".into(),
        });
        j.commit().expect("commit");
        drop(j);
        // A crash mid-write leaves a torn last line.
        let mut f = OpenOptions::new().append(true).open(&path).expect("append");
        f.write_all(b"{\"op\":\"bind\",\"addr\":\"192.0")
            .expect("write");
        drop(f);
        let (_j, t, n) = Journal::open(&path, 0).expect("reopen");
        assert_eq!(n, 4);
        assert_eq!(t.bound(0).count(), 2);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 3, "compacted: two binds and one free");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn online_compaction_after_many_superseded_records() {
        let dir = std::env::temp_dir().join(format!("bootlab-compact-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("leases.journal");
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
        let _ = std::fs::remove_dir_all(&dir);
    }
}

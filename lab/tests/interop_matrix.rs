//! The interop matrix (issues 10 and 15): every listed peer, in every role kind it can fill, over
//! every scenario with a role of that kind. Every cell's verdict must be the one recorded in
//! `docs/interop-matrix.json` (the record the README's findings are generated from), or one of
//! the verdicts the record lists for an unstable cell. A cell that differs has changed and the
//! test fails, naming both verdicts and what the run saw. There is no retry: a verdict that
//! depends on the run is a defect of the lab or a random behaviour of the peer, to be fixed or
//! asked about in a scenario of its own (cli-start-delay), not hidden.
//! When a change is meant (a new scenario, a fixed peer, a new rule), re-record with
//! `bootlab matrix --roles ... --record docs/interop-matrix.json` and review the diff. Cells of
//! peers not installed here are reported and skipped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// Every role kind a Debian peer can fill (servers, relays, clients, the iPXE ROM, TFTP), as the
/// matrix's `--roles` takes them.
fn all_kinds() -> String {
    bootlab_lab::cmd::matrix::PEER_KINDS
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `bootlab matrix` with `args` into `out` and reads its matrix.json.
fn matrix(args: &[String], out: &std::path::Path) -> bootlab_lab::cmd::matrix::Matrix {
    let run = Command::new(env!("CARGO_BIN_EXE_bootlab"))
        .arg("matrix")
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("--scenario-dir")
        .arg(repo().join("scenarios"))
        .arg("--golden-dir")
        .arg(repo().join("golden"))
        .output();
    let run = match run {
        Ok(r) => r,
        Err(e) => panic!("cannot start bootlab: {e}"),
    };
    // The whole table is in `out/matrix.md`; only its summary line is printed, so a failure's
    // changed cells stay near the top of what CI shows.
    let stdout = String::from_utf8_lossy(&run.stdout);
    if let Some(summary) = stdout.lines().find(|l| l.contains(" cells: ")) {
        println!("{summary} (table: {})", out.join("matrix.md").display());
    }
    match bootlab_lab::cmd::matrix::load(&out.join("matrix.json")) {
        Ok(m) => m,
        Err(e) => panic!(
            "bootlab matrix wrote no matrix ({e}); its stderr:\n{}",
            String::from_utf8_lossy(&run.stderr)
        ),
    }
}

#[test]
fn every_cell_gives_its_recorded_verdict() {
    use bootlab_lab::cmd::matrix::Status;
    let record = bootlab_lab::cmd::matrix::load(&repo().join("docs/interop-matrix.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let out = std::env::temp_dir().join(format!("bootlab-interop-{}", std::process::id()));
    let started = std::time::Instant::now();
    let args: Vec<String> = vec!["--roles".into(), all_kinds(), "--jobs".into(), "2".into()];
    let m = matrix(&args, &out);
    println!(
        "matrix wall time {:.1}s (test {:.1}s)",
        m.seconds,
        started.elapsed().as_secs_f64()
    );
    let key = |c: &bootlab_lab::cmd::matrix::Cell| {
        (c.kind.to_string(), c.profile.clone(), c.scenario.clone())
    };
    let recorded: BTreeMap<_, _> = record.cells.iter().map(|c| (key(c), c)).collect();
    let mut changed = Vec::new();
    let mut skipped = 0;
    for c in &m.cells {
        if matches!(c.status, Status::NotInstalled | Status::NeedsRoot) {
            skipped += 1;
            continue;
        }
        match recorded.get(&key(c)) {
            None => changed.push(format!(
                "{} × {}={}: not in the record (now {}: {})",
                c.scenario,
                c.kind,
                c.profile,
                c.status.word(),
                c.detail
            )),
            Some(r) if !bootlab_lab::cmd::matrix::allowed(r, c.status) => changed.push(format!(
                "{} × {}={}: recorded {}, now {}: {}\n{}",
                c.scenario,
                c.kind,
                c.profile,
                r.status.word(),
                c.status.word(),
                c.detail,
                c.failures.join("\n")
            )),
            Some(r) if !r.seen.is_empty() => println!(
                "UNSTABLE (recorded as such) {} × {}={}: {} this run, seen {:?}",
                c.scenario,
                c.kind,
                c.profile,
                c.status.word(),
                r.seen.iter().map(|s| s.word()).collect::<Vec<_>>()
            ),
            Some(_) => {}
        }
    }
    let ran: std::collections::BTreeSet<_> = m.cells.iter().map(key).collect();
    for (k, r) in &recorded {
        if !ran.contains(k) {
            changed.push(format!(
                "{} × {}={}: recorded {}, no longer in the matrix",
                k.2,
                k.0,
                k.1,
                r.status.word()
            ));
        }
    }
    println!(
        "{} cells, {skipped} skipped (not installed / needs root), {} changed",
        m.cells.len(),
        changed.len()
    );
    if changed.is_empty() {
        let _ = std::fs::remove_dir_all(&out);
    } else {
        println!(
            "kept {} (merge it into the record with `bootlab matrix --from {}/matrix.json --record docs/interop-matrix.json` when the change is meant)",
            out.display(),
            out.display()
        );
    }
    for c in &changed {
        println!("CHANGED {c}");
    }
    assert!(
        changed.is_empty(),
        "cells whose verdict is not the recorded one (re-record with --record \
         docs/interop-matrix.json when the change is meant):\n{}",
        changed.join("\n\n")
    );
}

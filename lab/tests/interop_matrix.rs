//! The interop matrix for the server kinds over the headline scenarios (issue 10): runs
//! `bootlab matrix` (which isolates itself in private namespaces), prints the table, reports the
//! peers that are not installed here, and fails only on `fail`/`error` cells of scenario × peer
//! pairs that have a per-implementation golden file (`golden/<scenario>@<kind>=<profile>.snap`),
//! i.e. that were established as passing. Other failures are findings, printed, not failed on.

use std::path::PathBuf;
use std::process::Command;

/// The headline scenarios with a server role (q164394-nt4-arp-cache is ours-only: n/a).
const HEADLINE: &[&str] = &[
    "arp-less-client",
    "decline-on-duplicate",
    "dhcp-dora",
    "bootp-static-binding",
    "backup-server-secs-threshold",
    "relay-one-hop",
    "q164394-nt4-arp-cache",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn servers_interoperate_on_the_headline_scenarios() {
    let out = std::env::temp_dir().join(format!("bootlab-interop-{}", std::process::id()));
    let started = std::time::Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_bootlab"))
        .args([
            "matrix",
            "--roles",
            "dhcp-server,bootp-server",
            "--jobs",
            "2",
        ])
        .arg("--scenarios")
        .arg(HEADLINE.join(","))
        .arg("--out")
        .arg(&out)
        .arg("--scenario-dir")
        .arg(repo().join("scenarios"))
        .arg("--golden-dir")
        .arg(repo().join("golden"))
        .output();
    let run = match run {
        Ok(r) => r,
        Err(e) => panic!("cannot start bootlab: {e}"),
    };
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!("{}", String::from_utf8_lossy(&run.stdout));
    let matrix = match bootlab_lab::matrix::load(&out.join("matrix.json")) {
        Ok(m) => m,
        Err(e) => panic!("bootlab matrix wrote no matrix ({e}); its stderr:\n{stderr}"),
    };
    println!(
        "matrix wall time {:.1}s (test {:.1}s)",
        matrix.seconds,
        started.elapsed().as_secs_f64()
    );

    use bootlab_lab::matrix::Status;
    let missing: std::collections::BTreeSet<String> = matrix
        .cells
        .iter()
        .filter(|c| c.status == Status::NotInstalled)
        .map(|c| format!("{} ({})", c.profile, c.detail))
        .collect();
    for m in &missing {
        println!("NOT INSTALLED (its cells are reported, not run): {m}");
    }
    let established: Vec<String> = matrix
        .cells
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Error) && c.golden)
        .map(|c| {
            format!(
                "{} × {}={}: {}\n{}",
                c.scenario,
                c.kind,
                c.profile,
                c.detail,
                c.failures.join("\n")
            )
        })
        .collect();
    let findings = matrix
        .cells
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Error) && !c.golden)
        .count();
    println!("{findings} failing cell(s) without a golden file are findings, not test failures");
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        established.is_empty(),
        "cells established as passing (golden file present) now fail:\n{}",
        established.join("\n\n")
    );
    assert!(
        matrix.cells.iter().any(|c| c.status == Status::Pass) || !missing.is_empty(),
        "no cell passed:\n{stderr}"
    );
}

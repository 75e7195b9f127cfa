//! The conformance suite under `cargo test`: every scenario in `scenarios/` run by the `bootlab`
//! binary on our implementations (each in its own isolated world), every normalized trace checked
//! against `golden/` through insta, every scenario repeated 10 times for identical traces, and the
//! headline scenarios run rootless as well. Runs as root get an empty environment with
//! `PATH=/nonexistent`: the main job needs no program outside the Rust build.
//!
//! Tests drive the binary rather than the library because a user namespace can only be entered by
//! a single-threaded process (DESIGN.md, kernel facts).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn out_dir(name: &str) -> PathBuf {
    let d = repo().join("target").join("conformance").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("output directory");
    d
}

/// Runs `bootlab run ARGS` in the checkout and returns (success, stdout+stderr, JSON results).
fn run(args: &[&str], out: &Path, as_user: Option<u32>) -> (bool, String, Vec<serde_json::Value>) {
    let json = out.join("summary.json");
    let exe = env!("CARGO_BIN_EXE_bootlab");
    let mut cmd = match as_user {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".into(),
                "--".into(),
                exe.into(),
            ]);
            c
        }
        None => {
            // An empty environment whose PATH holds nothing: the suite needs no program outside
            // the bootlab build (our daemons run as this same executable), so a program spawned
            // by name would fail its scenario here.
            let mut c = Command::new(exe);
            c.env_clear().env("PATH", "/nonexistent");
            c
        }
    };
    cmd.current_dir(repo())
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("--json")
        .arg(&json);
    let o = cmd.output().expect("bootlab runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let results = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    (o.status.success(), text, results)
}

fn scenario_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(repo().join("scenarios"))
        .expect("scenarios/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    v.sort();
    v
}

#[test]
fn every_scenario_passes_and_matches_its_golden_trace() {
    let out = out_dir("all");
    let (ok, text, results) = run(&["--jobs", "2"], &out, None);
    println!("{text}");
    assert_eq!(
        results.len(),
        scenario_names().len(),
        "one result per scenario"
    );
    // The same golden files, through insta (`cargo insta review` accepts a change).
    for r in &results {
        let name = r["scenario"].as_str().unwrap_or_default();
        let golden = repo().join("golden").join(format!("{name}.snap"));
        let trace = out.join(name).join("trace.txt");
        if !golden.exists() {
            continue; // scenarios with `expect.golden = false` (e.g. tftp-rollover)
        }
        let trace = std::fs::read_to_string(&trace).unwrap_or_default();
        insta::with_settings!({ snapshot_path => repo().join("golden"), prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, trace);
        });
    }
    assert!(ok, "the conformance suite failed:\n{text}");
}

#[test]
fn ten_runs_give_identical_traces() {
    // Every repetition is compared with the golden file, so 10 passes mean 10 identical traces
    // (113 scenarios, of which the two nfs-root-boot ones are skipped here (no qemu on the empty
    // PATH): 1 110 runs, about 10 minutes on 2 cores; the few with `golden = false`, such
    // as cli-start-delay, are held to their rules and steps each time).
    // tftp-rollover has no golden trace (131 000 lines) and takes 20 s a run: it is left out.
    let names: Vec<String> = scenario_names()
        .into_iter()
        .filter(|n| n != "tftp-rollover")
        .collect();
    let mut args: Vec<&str> = names.iter().map(String::as_str).collect();
    args.extend(["--repeat", "10", "--jobs", "3"]);
    let out = out_dir("repeat");
    let (ok, text, results) = run(&args, &out, None);
    let summary: String = text.lines().rev().take(3).collect::<Vec<_>>().join("\n");
    println!("{summary}");
    assert_eq!(results.len(), names.len() * 10);
    assert!(ok, "some repetition differed or failed:\n{text}");
}

#[test]
fn every_scenario_passes_rootless() {
    if !nix::unistd::geteuid().is_root() {
        // Not root: every run above was already rootless.
        println!("not root: the other tests ran rootless already");
        return;
    }
    // As an unprivileged user (nobody): bootlab enters a user namespace of its own.
    let out = out_dir("rootless");
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let (ok, text, results) = run(&["--jobs", "2"], &out, Some(65534));
    println!("{text}");
    assert_eq!(
        results.len(),
        scenario_names().len(),
        "one result per scenario"
    );
    assert!(ok, "rootless run failed:\n{text}");
}

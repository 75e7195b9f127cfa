//! Verdicts that say what happened (issue 15): a rule failure the scenario does not expect fails
//! the run; a changed trace leaves a pending file that `bootlab review` accepts or rejects; and
//! `--accept` refuses a run whose steps or rules failed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_bootlab");
const SCENARIO: &str = "q164394-fix-broadcast-reply";

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A scratch directory with a copy of the scenario (edited by `edit`) and of its golden file.
fn scratch(tag: &str, edit: impl Fn(String) -> String) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir()
        .join("bootlab-verdicts")
        .join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let golden = dir.join("golden");
    std::fs::create_dir_all(&golden).expect("mkdir");
    let text = std::fs::read_to_string(project().join(format!("scenarios/{SCENARIO}.toml")))
        .expect("read scenario");
    let file = dir.join(format!("{SCENARIO}.toml"));
    std::fs::write(&file, edit(text)).expect("write scenario");
    std::fs::copy(
        project().join(format!("golden/{SCENARIO}.snap")),
        golden.join(format!("{SCENARIO}.snap")),
    )
    .expect("copy golden");
    (dir, file, golden)
}

fn bootlab(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(project())
        .output()
        .expect("run bootlab")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The scenario without its expectation that ADDR-UNI-01 fails (it broadcasts on purpose).
fn without_expected_failure(s: String) -> String {
    s.lines()
        .filter(|l| !l.starts_with("\"ADDR-UNI-01\""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_unexpected_rule_failure_fails_the_run_and_names_rule_and_frame() {
    let (dir, file, golden) = scratch("unexpected", without_expected_failure);
    let out = bootlab(&[
        "run",
        &file.to_string_lossy(),
        "--golden-dir",
        &golden.to_string_lossy(),
        "--out",
        &dir.join("out").to_string_lossy(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("violates ADDR-UNI-01") && t.contains("frame 2 (sent by server)"),
        "{t}"
    );
    // The same run with the failure expected (and its reason given) passes.
    let (dir, file, golden) = scratch("expected", |s| s);
    let out = bootlab(&[
        "run",
        &file.to_string_lossy(),
        "--golden-dir",
        &golden.to_string_lossy(),
        "--out",
        &dir.join("out").to_string_lossy(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn accept_refuses_a_failing_run_and_keeps_the_golden_file() {
    let (dir, file, golden) = scratch("accept", without_expected_failure);
    let g = golden.join(format!("{SCENARIO}.snap"));
    // Make the golden file stale, so an accepted run would rewrite it.
    let stale = std::fs::read_to_string(&g).expect("golden") + "lan  stale line\n";
    std::fs::write(&g, &stale).expect("write");
    let out = bootlab(&[
        "run",
        &file.to_string_lossy(),
        "--accept",
        "--golden-dir",
        &golden.to_string_lossy(),
        "--out",
        &dir.join("out").to_string_lossy(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("--accept refused"), "{t}");
    assert_eq!(
        std::fs::read_to_string(&g).expect("golden"),
        stale,
        "a refused --accept must not touch the golden file"
    );
}

#[test]
fn a_changed_trace_leaves_a_pending_file_that_review_accepts_or_rejects() {
    let (dir, file, golden) = scratch("review", |s| s);
    let g = golden.join(format!("{SCENARIO}.snap"));
    let original = std::fs::read_to_string(&g).expect("golden");
    std::fs::write(&g, original.clone() + "lan  stale line\n").expect("write");
    let run = || {
        bootlab(&[
            "run",
            &file.to_string_lossy(),
            "--golden-dir",
            &golden.to_string_lossy(),
            "--out",
            &dir.join("out").to_string_lossy(),
        ])
    };
    let out = run();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("CHANGED") && t.contains("-lan  stale line"),
        "{t}"
    );
    let pending = golden.join(format!("{SCENARIO}.snap.new"));
    assert!(pending.exists(), "no pending file after a changed run");

    // Without a terminal and without a flag, review lists and fails.
    let listed = bootlab(&["review", "--golden-dir", &golden.to_string_lossy()]);
    assert_eq!(listed.status.code(), Some(2), "{}", text(&listed));
    assert!(pending.exists());

    // Rejecting removes the pending file and keeps the golden file.
    let rejected = bootlab(&[
        "review",
        "--reject-all",
        "--golden-dir",
        &golden.to_string_lossy(),
    ]);
    assert!(rejected.status.success(), "{}", text(&rejected));
    assert!(!pending.exists());
    assert!(std::fs::read_to_string(&g)
        .expect("golden")
        .ends_with("stale line\n"));

    // Run again, accept: the golden file is the run's trace again.
    let _ = run();
    let accepted = bootlab(&[
        "review",
        "--accept-all",
        "--golden-dir",
        &golden.to_string_lossy(),
    ]);
    assert!(accepted.status.success(), "{}", text(&accepted));
    assert!(!pending.exists());
    let out = run();
    assert!(out.status.success(), "{}", text(&out));
}

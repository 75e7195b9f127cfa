//! Determinism under load (issue 18): the repeated suite on our implementations gives the golden
//! trace every time while both cores are kept busy by another load. Every scenario but
//! tftp-rollover (no golden trace, 20 s a run) runs 3 times, 2 at once, beside one spinning
//! thread per core; each repetition is compared with its golden file, so passes mean identical
//! traces. The load is bounded in time ([`LOAD_LIMIT`]) and stops when the suite ends.
//!
//! Our daemons run on the scenario's scaled clock and timing rules judge each frame in its
//! sender's clock, so a late wake-up delays a frame without changing what is sent; this test is
//! what fails when that stops being true (the historic case: a retransmission at secs=3 in
//! dhcp-renew-rebind-release on a busy machine).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest the load may spin, whatever happens to the suite.
const LOAD_LIMIT: Duration = Duration::from_secs(15 * 60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn repeated_suite_gives_golden_traces_with_both_cores_busy() {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("scenarios"))
        .expect("scenarios/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|n| n != "tftp-rollover")
        .collect();
    names.sort();

    let stop = Arc::new(AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let load: Vec<_> = (0..cores)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) && started.elapsed() < LOAD_LIMIT {
                    for i in 0..100_000u64 {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
                    }
                    std::hint::black_box(x);
                }
            })
        })
        .collect();

    let out = repo().join("target").join("conformance").join("under-load");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("output directory");
    let started = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_bootlab"))
        .current_dir(repo())
        .env_clear()
        .env("PATH", "/nonexistent")
        .arg("run")
        .args(&names)
        .args(["--repeat", "3", "--jobs", "2", "--out"])
        .arg(&out)
        .output()
        .expect("bootlab runs");
    stop.store(true, Ordering::Relaxed);
    for t in load {
        let _ = t.join();
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let summary: String = text
        .lines()
        .filter(|l| l.contains(" passed, "))
        .collect::<Vec<_>>()
        .join("\n");
    println!(
        "{} scenarios x 3 beside {cores} spinning threads in {:.0} s:\n{summary}",
        names.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        o.status.success(),
        "a repetition differed or failed with the cores busy:\n{}",
        text.lines()
            .filter(|l| !l.contains(" pass "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

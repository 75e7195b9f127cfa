//! SIGINT (Ctrl-C) and SIGTERM end `bootlab run` and `bootlab matrix` within 2 s, leave no
//! process behind, and keep what was captured so far (issue 13).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bootlab");

/// The tests of this file run one at a time (each drives a whole lab).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn out_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("bootlab-interrupt-tests")
        .join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the output directory");
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777));
    dir
}

/// PIDs of live processes whose command line mentions `needle` (the run's private output
/// directory: every daemon of the run gets its config from there).
fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(raw) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmd.contains(needle) {
                found.push((pid, cmd));
            }
        }
    }
    found
}

fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .current_dir(project())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bootlab")
}

/// Waits until `dir` holds a pcap anywhere below it (the world is built and capturing).
fn wait_for_capture(dir: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("bootlab ended before the signal: {status}");
        }
        if pcaps(dir).iter().any(|_| true) {
            // Let a few frames reach the capture.
            std::thread::sleep(Duration::from_millis(1500));
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no capture appeared in {} within 60 s", dir.display());
}

fn pcaps(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pcap") {
                out.push(p);
            }
        }
    }
    out
}

/// Sends `signal`, then checks: exit within 2 s with status 130, nothing of the run left
/// running, and at least one non-empty pcap with frames kept.
fn interrupt_and_check(mut child: Child, dir: &Path, signal: nix::sys::signal::Signal) -> String {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).expect("signal bootlab");
    let sent = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "bootlab still running 10 s after {signal}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = sent.elapsed();
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        took <= Duration::from_secs(2),
        "bootlab took {took:?} to end after {signal}\nstderr:\n{stderr}"
    );
    assert_eq!(
        status.code(),
        Some(130),
        "exit status after {signal}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let left = processes_mentioning(&dir.to_string_lossy());
    assert!(left.is_empty(), "processes left after {signal}: {left:?}");
    let kept: Vec<PathBuf> = pcaps(dir)
        .into_iter()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 24))
        .collect();
    assert!(
        !kept.is_empty(),
        "no capture with frames kept in {}\nstderr:\n{stderr}",
        dir.display()
    );
    for p in &kept {
        let bytes = std::fs::read(p).expect("read pcap");
        let reader = pcap_file::pcap::PcapReader::new(&bytes[..]);
        assert!(reader.is_ok(), "{} is not a readable pcap", p.display());
    }
    format!("{stdout}{stderr}")
}

#[test]
fn sigint_ends_run_and_keeps_captures() {
    let _g = serial();
    let dir = out_dir("run-int");
    let mut child = spawn(&[
        "run",
        "backup-server-secs-zero",
        "--out",
        &dir.to_string_lossy(),
    ]);
    wait_for_capture(&dir, &mut child);
    let text = interrupt_and_check(child, &dir, nix::sys::signal::Signal::SIGINT);
    assert!(text.contains("interrupted"), "{text}");
}

#[test]
fn sigterm_ends_run_and_keeps_captures() {
    let _g = serial();
    let dir = out_dir("run-term");
    let mut child = spawn(&[
        "run",
        "backup-server-secs-zero",
        "--out",
        &dir.to_string_lossy(),
    ]);
    wait_for_capture(&dir, &mut child);
    interrupt_and_check(child, &dir, nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn sigint_and_sigterm_end_matrix_and_keep_captures() {
    let _g = serial();
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        let dir = out_dir(&format!("matrix-{signal}"));
        // Every scenario against every installed DHCP server: far more cells than run before
        // the signal, so it always lands in the middle of the batch.
        let mut child = spawn(&[
            "matrix",
            "--roles",
            "dhcp-server",
            "--out",
            &dir.to_string_lossy(),
        ]);
        wait_for_capture(&dir, &mut child);
        interrupt_and_check(child, &dir, signal);
    }
}

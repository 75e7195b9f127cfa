//! The whole remote-boot chain (issue 20): `nfs-root-boot` and `nfs-root-boot-relay` on our DHCP
//! server and TFTP server (and our relay), with iPXE in qemu and nfs-ganesha, run for real by the
//! `bootlab` binary. The conformance suite skips them (it runs with an empty `PATH`); here they run
//! when the machine has what they need (root, qemu, nfs-ganesha, the guest's packages unpacked by
//! `ci/install-debian-packages.sh`), else the test says what it did not run. A rootless run marks
//! them "needs root", never failed. The peer servers' cells are in the interop matrix.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `bootlab run ARGS --out OUT` (as `uid` when given) and returns (success, stdout+stderr,
/// JSON results).
fn run(args: &[&str], out: &Path, uid: Option<u32>) -> (bool, String, Vec<serde_json::Value>) {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).expect("output directory");
    std::fs::set_permissions(out, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let json = out.join("summary.json");
    let exe = env!("CARGO_BIN_EXE_bootlab");
    let mut cmd = match uid {
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
        None => Command::new(exe),
    };
    let o = cmd
        .current_dir(repo())
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("bootlab runs");
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

#[test]
fn a_guest_boots_to_init_with_its_root_on_nfs_directly_and_through_our_relay() {
    if !nix::unistd::geteuid().is_root() {
        println!("NOT RUN: not root (qemu's tap and ganesha's open_by_handle_at need it)");
        return;
    }
    let out = repo().join("target").join("nfs-root");
    let (ok, text, results) = run(&["nfs-root-boot", "nfs-root-boot-relay"], &out, None);
    if results
        .iter()
        .any(|r| matches!(r["verdict"].as_str(), Some("skipped" | "not-installed")))
    {
        println!("NOT RUN: {text}");
        return;
    }
    assert!(ok, "{text}");
    assert_eq!(results.len(), 2, "{text}");
    for r in &results {
        assert_eq!(r["verdict"], "pass", "{text}");
        let dir = PathBuf::from(r["artifacts"].as_str().expect("artifacts"));
        let trace = std::fs::read_to_string(dir.join("trace.txt")).expect("trace");
        // The chain, in the trace: the ROM's DHCP and TFTP, the guest's own DHCP (udhcpc names
        // itself in option 60), and the NFS calls that open init.
        assert!(trace.contains("PXEClient"), "no PXE request in {dir:?}");
        assert!(trace.contains("TFTP RRQ \"vmlinuz\""), "no kernel download");
        assert!(
            trace.contains("TFTP RRQ \"initrd.img\""),
            "no initramfs download"
        );
        assert!(
            trace.contains("60=\"udhcp"),
            "the guest did not ask DHCP itself"
        );
        assert!(
            trace.contains("COMPOUND [SEQUENCE PUTROOTFH"),
            "no NFS root lookup"
        );
        assert!(
            trace.contains("OPEN \"init\""),
            "the guest did not open /sbin/init over NFS"
        );
    }
}

#[test]
fn a_rootless_run_marks_the_chain_needs_root_not_failed() {
    // As nobody: the lab enters a user namespace; qemu and ganesha need root.
    if !nix::unistd::geteuid().is_root() {
        println!("NOT RUN: needs root to drop to an unprivileged user");
        return;
    }
    let out = std::env::temp_dir().join(format!("bootlab-nfs-rootless-{}", std::process::id()));
    let (ok, text, results) = run(&["nfs-root-boot"], &out, Some(65534));
    let _ = std::fs::remove_dir_all(&out);
    assert!(ok, "{text}");
    let v = results
        .first()
        .and_then(|r| r["verdict"].as_str())
        .unwrap_or_default();
    assert!(
        matches!(v, "needs-root" | "skipped" | "not-installed"),
        "{v}: {text}"
    );
}

//! `bootlab shell`: a command runs inside a host of a scenario's world while the roles run and
//! every segment is captured; its exit status is the command's; the captures are left behind.

use std::path::Path;
use std::process::Command;

#[test]
fn a_command_runs_in_the_host_while_the_roles_serve_it() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = repo.join("target").join("shell-test");
    let _ = std::fs::remove_dir_all(&out);
    // The client host starts without an address; the scenario's roles (client, relay, server)
    // give it one. Poll for it, bounded (5 s), then leave with a status of our own.
    let script = "for i in $(seq 50); do ip -4 -br addr show eth0 | grep -q 198.51.100. && break; sleep 0.1; done; \
                  ip -4 -br addr show eth0; echo host=$(hostname) scenario=$BOOTLAB_SCENARIO; exit 3";
    let o = Command::new(env!("CARGO_BIN_EXE_bootlab"))
        .current_dir(&repo)
        .args(["shell", "relay-one-hop", "--host", "client", "--out"])
        .arg(&out)
        .args(["--", "sh", "-c", script])
        .output()
        .expect("bootlab runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(3),
        "the command's status: {stdout}{stderr}"
    );
    assert!(
        stdout.contains("198.51.100.100/24"),
        "the client got its address from the running roles: {stdout}{stderr}"
    );
    assert!(
        stdout.contains("host=client scenario=relay-one-hop"),
        "{stdout}"
    );
    assert!(
        stderr.contains("router "),
        "the banner lists the hosts: {stderr}"
    );

    let pcapng = out.join("relay-one-hop").join("capture.pcapng");
    let t = Command::new("tshark")
        .arg("-r")
        .arg(&pcapng)
        .args(["-T", "fields", "-e", "frame.interface_name"])
        .output()
        .expect("tshark is installed");
    let ifaces = String::from_utf8_lossy(&t.stdout);
    for seg in ["clients", "servers"] {
        assert!(
            ifaces.lines().any(|l| l == seg),
            "the capture ran on {seg}: {ifaces}"
        );
    }
}

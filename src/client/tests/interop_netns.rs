//! Our clients against third-party servers, each run in private network namespaces made by
//! `smoke/netns.sh` (never the host's interfaces). Needs root, the `bootlab` binary
//! (`cargo build -p bootlab-lab`, or `BOOTLAB=path`) and the Debian peers; a run whose
//! prerequisites are missing says so and passes without checking anything.

use std::path::PathBuf;
use std::process::Command;

fn bootlab() -> Option<PathBuf> {
    let p = std::env::var_os("BOOTLAB")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/bootlab")
        });
    p.exists().then_some(p)
}

fn have(cmd: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|d| PathBuf::from(d).join(cmd).exists())
}

/// Runs the smoke script; `None` when a prerequisite is missing.
fn run(
    tag: &str,
    server: &str,
    server_bin: &str,
    config: &str,
    env: &[(&str, &str)],
) -> Option<(i32, Vec<(String, serde_json::Value)>)> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!("skipped: needs root for network namespaces");
        return None;
    }
    let Some(bin) = bootlab() else {
        eprintln!("skipped: no bootlab binary (cargo build -p bootlab-lab)");
        return None;
    };
    if !have(server_bin) || !have("unshare") || !have("ip") {
        eprintln!("skipped: {server_bin}, unshare or ip missing");
        return None;
    }
    let dir = std::env::temp_dir().join(format!(
        "bootlab-client-interop-{}-{tag}-{server}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).ok()?;
    let cfg = dir.join("client.toml");
    std::fs::write(&cfg, config).ok()?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("smoke/netns.sh");
    let mut cmd = Command::new("timeout");
    cmd.args(["120", "unshare", "--net", "sh"])
        .arg(&script)
        .arg(server)
        .arg(&cfg);
    cmd.env("BOOTLAB", &bin)
        .env("NOPING", "1")
        .env("LIMIT", "40")
        .env("SERVER_LINES", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<_> = stdout
        .lines()
        .filter_map(bootlab_net::events::parse)
        .collect();
    if events.is_empty() {
        eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    Some((out.status.code().unwrap_or(-1), events))
}

fn names(events: &[(String, serde_json::Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

const DORA: &str = r#"
kind = "dhcp"
seed = 5
time-scale = 10.0
stop-after = "bound"
timeout = 60
"#;

/// RFC 2131 §4.4.1 DORA and RFC 5227 probing against four servers.
#[test]
fn dhcp_client_binds_against_third_party_servers() {
    for (server, bin) in [
        ("dnsmasq", "dnsmasq"),
        ("dhcpd", "dhcpd"),
        ("udhcpd", "udhcpd"),
        ("kea", "kea-dhcp4"),
    ] {
        let Some((status, events)) = run("dora", server, bin, DORA, &[]) else {
            continue;
        };
        let n = names(&events);
        assert_eq!(status, 0, "{server}: {n:?}");
        assert!(
            n.contains(&"offer-received") && n.contains(&"bound"),
            "{server}: {n:?}"
        );
    }
}

/// RFC 2131 §3.1 (5): a squatter on the offered address leads to DHCPDECLINE and a new address.
#[test]
fn dhcp_client_declines_a_squatted_address() {
    // dnsmasq picks the first address from a hash of the MAC: 192.0.2.109 for 02:00:00:00:00:10.
    let cfg = DORA.replace("seed = 5", "seed = 5\ndecline-wait = 10");
    let Some((status, events)) = run(
        "decline",
        "dnsmasq",
        "dnsmasq",
        &cfg,
        &[("SQUAT", "192.0.2.109")],
    ) else {
        return;
    };
    let n = names(&events);
    assert_eq!(status, 0, "{n:?}");
    let conflict = events
        .iter()
        .find(|(n, _)| n == "conflict")
        .map(|(_, v)| v.clone());
    assert_eq!(
        conflict.as_ref().map(|v| v["address"].clone()),
        Some(serde_json::json!("192.0.2.109")),
        "{n:?}"
    );
    let bound = events
        .iter()
        .find(|(n, _)| n == "bound")
        .map(|(_, v)| v["address"].clone());
    assert!(n.contains(&"declined"), "{n:?}");
    assert_ne!(bound, Some(serde_json::json!("192.0.2.109")));
}

/// RFC 951 + RFC 1350: the ARP-silent boot ROM, seed-002 sequence, gets its file from dnsmasq.
#[test]
fn boot_rom_downloads_its_file_from_dnsmasq() {
    let cfg =
        "kind = \"rom\"\nseed = 4\ngive-up-after = 30\nsequence = \"seed-10-step\"\npxe = true\n";
    let Some((status, events)) = run("rom", "dnsmasq", "dnsmasq", cfg, &[]) else {
        return;
    };
    let n = names(&events);
    assert_eq!(status, 0, "{n:?}");
    let file = events
        .iter()
        .find(|(n, _)| n == "boot-file-received")
        .map(|(_, v)| v.clone());
    assert_eq!(
        file.map(|v| v["size"].clone()),
        Some(serde_json::json!(3000)),
        "{n:?}"
    );
}

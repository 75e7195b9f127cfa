//! The `bootlab` command line as its users expect it (issue 16): zero counts refused, unknown
//! names and empty selections an error with a "did you mean", `-` meaning standard output, JSON
//! listings, full-width rules, the commit in `--version`, completions and a man page, a scenario
//! needing a missing program skipped (not an error), the data directories found from where the
//! command runs, `--shard K/N` partitioning runs and matrix cells exactly, and `bootlab merge`
//! of the shards giving the verdicts of one unsharded run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_bootlab");

/// The tests that run scenarios take turns: a loaded machine delays our daemons' scaled timers
/// (a retransmission shows in the trace), and these tests are about the command line.
static LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lab_turn() -> std::sync::MutexGuard<'static, ()> {
    LAB.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh scratch directory under `target/cli-tests/` (inside the checkout: walking up from it
/// finds the checkout's data; tests that need "no checkout" use [`outside`]).
fn scratch(name: &str) -> PathBuf {
    let d = repo().join("target").join("cli-tests").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch directory");
    d
}

/// A scratch directory outside any checkout.
fn outside(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bootlab-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp directory");
    d
}

fn bootlab(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(repo())
        .output()
        .expect("bootlab runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn scenario_names() -> BTreeSet<String> {
    std::fs::read_dir(repo().join("scenarios"))
        .expect("scenarios/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect()
}

#[test]
fn zero_counts_are_refused_with_status_2() {
    for args in [
        &["run", "--jobs", "0"][..],
        &["run", "--repeat", "0"],
        &["run", "-j", "0", "dhcp-inform"],
        &["matrix", "--jobs", "0"],
    ] {
        let o = bootlab(args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("must be at least 1"), "{args:?}: {err}");
    }
}

#[test]
fn an_unknown_scenario_is_reported_once_with_a_suggestion() {
    let o = bootlab(&["run", "arp-less-clien", "no-such-thing-at-all"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("arp-less-clien\"").count(), 1, "{err}");
    assert!(
        err.contains("no scenario \"arp-less-clien\"")
            && err.contains("(did you mean \"arp-less-client\"?)"),
        "{err}"
    );
    assert!(
        err.contains("no scenario \"no-such-thing-at-all\""),
        "{err}"
    );
    assert_eq!(err.matches("No such file").count(), 0, "{err}");
}

#[test]
fn an_empty_matrix_selection_is_an_error_with_a_suggestion() {
    let o = bootlab(&["matrix", "--profiles", "dnsmsq"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("did you mean \"dnsmasq\"?"), "{err}");
    let o = bootlab(&["matrix", "--profiles", "nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    let o = bootlab(&["matrix", "--roles", "relay", "--profiles", "dnsmasq"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("fills none of --roles relay"), "{err}");
    let o = bootlab(&["matrix", "--scenarios", "dhcp-dorra"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("did you mean \"dhcp-dora\"?"), "{err}");
}

#[test]
fn dash_means_standard_output() {
    let _turn = lab_turn();
    let cwd = outside("dash");
    let out = cwd.join("out");
    let o = Command::new(BIN)
        .current_dir(&cwd)
        .args(["run", "dhcp-inform", "--json", "-", "--junit", "junit.xml"])
        .arg("--out")
        .arg(&out)
        .arg("--scenario-dir")
        .arg(repo().join("scenarios"))
        .arg("--golden-dir")
        .arg(repo().join("golden"))
        .output()
        .expect("bootlab runs");
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is the JSON alone");
    assert_eq!(v[0]["scenario"], "dhcp-inform");
    assert_eq!(v[0]["verdict"], "pass");
    // The human summary went to standard error instead.
    assert!(stderr.contains("1 passed, 0 failed"), "{stderr}");
    assert!(!cwd.join("-").exists(), "a file named '-' was written");
    assert!(cwd.join("junit.xml").exists());
    let _ = std::fs::remove_dir_all(&cwd);
}

#[test]
fn listings_have_json_and_rules_are_not_cut() {
    let o = bootlab(&["list", "--json"]);
    assert!(o.status.success());
    let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("list --json");
    let names: BTreeSet<String> = v
        .iter()
        .filter_map(|s| s["name"].as_str().map(String::from))
        .collect();
    assert_eq!(names, scenario_names());

    let o = bootlab(&["rules", "--json"]);
    assert!(o.status.success());
    let rules: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("rules --json");
    assert!(rules.len() >= 150, "{}", rules.len());
    let o = bootlab(&["rules"]);
    let (table, _) = text(&o);
    assert!(!table.contains('…'), "a column was cut");
    for r in &rules {
        for field in ["id", "level", "source", "requirement"] {
            let s = r[field].as_str().unwrap_or_default();
            assert!(
                table.contains(s),
                "{field} {s:?} is not whole in `bootlab rules`"
            );
        }
    }

    let o = bootlab(&["profiles", "--json"]);
    assert!(o.status.success());
    let p: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("profiles --json");
    let dnsmasq = p.iter().find(|x| x["name"] == "dnsmasq").expect("dnsmasq");
    assert_eq!(dnsmasq["package"], "dnsmasq");
    assert!(dnsmasq["roles"]
        .as_array()
        .is_some_and(|r| r.iter().any(|k| k == "dhcp-server")));
    let (table, _) = text(&bootlab(&["profiles"]));
    assert!(table.lines().any(|l| l.starts_with("dnsmasq ")), "{table}");
}

#[test]
fn version_names_the_commit() {
    let (out, _) = text(&bootlab(&["--version"]));
    let re = regex::Regex::new(r"^bootlab \d+\.\d+\.\d+ \((unknown commit|[0-9a-f]{7,})\)\n$")
        .expect("regex");
    assert!(re.is_match(&out), "{out:?}");
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo())
        .output();
    if let Some(h) = head.ok().filter(|h| h.status.success()) {
        let h = String::from_utf8_lossy(&h.stdout).trim().to_string();
        assert!(out.contains(&h), "{out:?} does not name HEAD {h}");
    }
}

#[test]
fn completions_and_man_pages_are_generated() {
    let (bash, _) = text(&bootlab(&["completions", "bash"]));
    assert!(
        bash.contains("_bootlab()") && bash.contains("matrix"),
        "{bash}"
    );
    let (zsh, _) = text(&bootlab(&["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef bootlab"), "{zsh}");
    let (man, _) = text(&bootlab(&["man"]));
    assert!(man.contains(".TH bootlab 1"), "{man}");
    let dir = scratch("man");
    let o = Command::new(BIN)
        .args(["man", "--dir"])
        .arg(&dir)
        .output()
        .expect("bootlab man");
    assert!(o.status.success());
    assert!(dir.join("bootlab-run.1").exists());
    assert!(dir.join("bootlab-merge.1").exists());
}

#[test]
fn a_missing_program_skips_the_scenario() {
    let dir = scratch("needs");
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).expect("mkdir");
    std::fs::write(
        scenarios.join("needs-a-tool.toml"),
        r#"name = "needs-a-tool"
about = "Runs a program that is not installed."
needs = [{ program = "bootlab-no-such-program", package = "bootlab-no-such-package" }]

[segments.lan]
subnet = "192.0.2.0/24"

[hosts.a]
on = { lan = "192.0.2.1" }
setup = [["bootlab-no-such-program"]]

[expect]
golden = false
"#,
    )
    .expect("write scenario");
    let o = Command::new(BIN)
        .current_dir(&dir)
        .args([
            "run",
            "--json",
            "-",
            "--golden-dir",
            ".",
            "--scenario-dir",
            "scenarios",
        ])
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .expect("bootlab runs");
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "a skip is no failure: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(v[0]["verdict"], "skipped", "{stdout}");
    let why = "needs bootlab-no-such-program (Debian package bootlab-no-such-package)";
    assert_eq!(v[0]["failures"][0], why);
    assert!(stderr.contains(&format!("skipped: {why}")), "{stderr}");
    assert!(stderr.contains("0 passed, 0 failed, 1 skipped"), "{stderr}");
    assert!(!stderr.contains("ERROR"), "{stderr}");
}

#[test]
fn our_scenarios_need_no_outside_program() {
    for name in scenario_names() {
        let text = std::fs::read_to_string(repo().join("scenarios").join(format!("{name}.toml")))
            .expect("scenario");
        let sc: toml::Table = toml::from_str(&text).expect("toml");
        // A scenario that pins a third-party implementation (nfs-root-boot: iPXE in qemu,
        // nfs-ganesha) is not one of ours alone: it names those programs in `needs` and is
        // skipped where they are missing. Every other scenario needs nothing outside the build.
        let pins_a_peer = sc
            .get("roles")
            .and_then(|r| r.as_table())
            .is_some_and(|roles| {
                roles.values().any(|r| {
                    r.get("implementation")
                        .and_then(|i| i.as_str())
                        .is_some_and(|i| i != "ours")
                })
            });
        assert_eq!(
            sc.contains_key("needs"),
            pins_a_peer,
            "{name}: `needs` exactly when a role pins a third-party implementation"
        );
        let hosts = sc.get("hosts").and_then(|h| h.as_table()).cloned();
        for (host, h) in hosts.unwrap_or_default() {
            assert!(
                h.get("setup").is_none(),
                "{name}: hosts.{host}.setup runs outside programs"
            );
        }
    }
}

#[test]
fn data_directories_are_found_from_where_bootlab_runs() {
    // Walking up from inside the checkout finds it.
    let o = Command::new(BIN)
        .current_dir(repo().join("lab/src"))
        .args(["list", "--json"])
        .output()
        .expect("bootlab list");
    let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v.len(), scenario_names().len());

    // Outside any checkout, an installed data directory comes before the build's checkout.
    let cwd = outside("data");
    let data = cwd.join("share");
    std::fs::create_dir_all(data.join("bootlab/scenarios")).expect("mkdir");
    std::fs::copy(
        repo().join("scenarios/dhcp-inform.toml"),
        data.join("bootlab/scenarios/dhcp-inform.toml"),
    )
    .expect("copy");
    let o = Command::new(BIN)
        .current_dir(&cwd)
        .env("XDG_DATA_HOME", &data)
        .args(["list"])
        .output()
        .expect("bootlab list");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("dhcp-inform "), "{out}");

    // A directory named on the command line that is not there: the error names it.
    let o = Command::new(BIN)
        .current_dir(&cwd)
        .args(["list", "--scenario-dir", "/nonexistent/scenarios"])
        .output()
        .expect("bootlab list");
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("no scenarios directory found; looked in /nonexistent/scenarios"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&cwd);
}

fn lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// Every item of `all` in exactly one of `shards`.
fn assert_partition(all: &[String], shards: &[Vec<String>]) {
    let mut seen = BTreeSet::new();
    for s in shards {
        for item in s {
            assert!(seen.insert(item.clone()), "{item} is in two shards");
        }
    }
    let all: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(seen, all, "the shards do not cover the whole");
}

#[test]
fn shards_partition_runs_and_matrix_cells_exactly() {
    let all = lines(&bootlab(&["run", "--dry-run", "--repeat", "2"]));
    assert_eq!(all.len(), scenario_names().len() * 2);
    for n in 1..=5 {
        let shards: Vec<Vec<String>> = (1..=n)
            .map(|k| {
                lines(&bootlab(&[
                    "run",
                    "--dry-run",
                    "--repeat",
                    "2",
                    "--shard",
                    &format!("{k}/{n}"),
                ]))
            })
            .collect();
        assert_partition(&all, &shards);
        // Deterministic: asking again gives the same share.
        let again = lines(&bootlab(&[
            "run",
            "--dry-run",
            "--repeat",
            "2",
            "--shard",
            &format!("1/{n}"),
        ]));
        assert_eq!(again, shards[0]);
    }
    let kinds = "dhcp-server,bootp-server,relay,dhcp-client,bootp-client,rom-client,tftp-server,tftp-client";
    let cells = lines(&bootlab(&["matrix", "--roles", kinds, "--dry-run"]));
    assert!(cells.len() > 100, "{}", cells.len());
    let shards: Vec<Vec<String>> = (1..=3)
        .map(|k| {
            lines(&bootlab(&[
                "matrix",
                "--roles",
                kinds,
                "--dry-run",
                "--shard",
                &format!("{k}/3"),
            ]))
        })
        .collect();
    assert_partition(&cells, &shards);
    for bad in ["0/3", "4/3", "x"] {
        let o = bootlab(&["run", "--dry-run", "--shard", bad]);
        assert_eq!(o.status.code(), Some(2), "--shard {bad}");
    }
}

/// `bootlab run` of `scenarios` with `extra` arguments; the JSON results file.
fn run_json(out: &Path, scenarios: &[&str], extra: &[&str]) -> PathBuf {
    let json = out.join("results.json");
    let o = Command::new(BIN)
        .current_dir(repo())
        .arg("run")
        .args(scenarios)
        .args(extra)
        .arg("--out")
        .arg(out)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("bootlab run");
    let (stdout, stderr) = text(&o);
    assert!(json.exists(), "{stdout}{stderr}");
    json
}

fn verdicts(json: &str) -> BTreeSet<(String, String)> {
    let v: Vec<serde_json::Value> = serde_json::from_str(json).expect("results JSON");
    v.iter()
        .map(|r| {
            (
                r["scenario"].as_str().unwrap_or_default().to_string(),
                r["verdict"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn merging_shards_gives_the_verdicts_of_one_run() {
    let _turn = lab_turn();
    // A few quick scenarios, including a reproduced bug (its expected rule failure is a pass).
    let names = [
        "dhcp-inform",
        "arp-less-client",
        "tftp-plain-download",
        "q164394-nt4-arp-cache",
        "tftp-traversal-refused",
    ];
    let base = scratch("merge");
    let whole = run_json(&base.join("whole"), &names, &[]);
    let shards: Vec<PathBuf> = (1..=2)
        .map(|k| {
            run_json(
                &base.join(format!("shard{k}")),
                &names,
                &["--shard", &format!("{k}/2")],
            )
        })
        .collect();
    let o = Command::new(BIN)
        .arg("merge")
        .args(&shards)
        .args(["--json", "-", "--junit"])
        .arg(base.join("junit.xml"))
        .output()
        .expect("bootlab merge");
    let (merged, err) = text(&o);
    assert_eq!(
        verdicts(&merged),
        verdicts(&std::fs::read_to_string(&whole).expect("whole run")),
        "{err}"
    );
    let junit = std::fs::read_to_string(base.join("junit.xml")).expect("junit");
    for n in names {
        assert!(junit.contains(&format!("name=\"{n}#1\"")), "{n} in {junit}");
    }
    // Directories work as inputs; the same shard twice is an overlap.
    let o = Command::new(BIN)
        .arg("merge")
        .arg(base.join("shard1"))
        .arg(base.join("shard2"))
        .args(["--json", "-"])
        .output()
        .expect("bootlab merge");
    assert_eq!(verdicts(&text(&o).0), verdicts(&merged));
    let o = Command::new(BIN)
        .arg("merge")
        .arg(&shards[0])
        .arg(&shards[0])
        .output()
        .expect("bootlab merge");
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("shards overlap"), "{err}");
}

#[test]
fn merging_matrix_shards_gives_the_cells_of_one_matrix() {
    let _turn = lab_turn();
    let installed =
        Path::new("/usr/sbin/dnsmasq").exists() && Path::new("/usr/sbin/udhcpd").exists();
    if !installed {
        println!("dnsmasq or udhcpd not installed: skipped (ci/install-debian-packages.sh)");
        return;
    }
    let base = scratch("merge-matrix");
    let matrix = |out: &Path, shard: Option<&str>| {
        let mut c = Command::new(BIN);
        c.current_dir(repo()).args([
            "matrix",
            "--roles",
            "dhcp-server",
            "--profiles",
            "dnsmasq,udhcpd",
            "--scenarios",
            "dhcp-dora,dhcp-inform,relay-one-hop",
        ]);
        if let Some(s) = shard {
            c.args(["--shard", s]);
        }
        let o = c.arg("--out").arg(out).output().expect("bootlab matrix");
        assert!(out.join("matrix.json").exists(), "{:?}", text(&o));
    };
    matrix(&base.join("whole"), None);
    matrix(&base.join("s1"), Some("1/2"));
    matrix(&base.join("s2"), Some("2/2"));
    let merged = base.join("merged");
    let o = Command::new(BIN)
        .arg("merge")
        .arg(base.join("s1"))
        .arg(base.join("s2"))
        .arg("--out")
        .arg(&merged)
        .output()
        .expect("bootlab merge");
    let cells = |p: &Path| -> BTreeSet<(String, String, String)> {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p.join("matrix.json")).expect("json"))
                .expect("matrix.json");
        v["cells"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["scenario"].as_str().unwrap_or_default().to_string(),
                    c["profile"].as_str().unwrap_or_default().to_string(),
                    c["status"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(cells(&merged), cells(&base.join("whole")), "{:?}", text(&o));
    assert!(merged.join("matrix.md").exists() && merged.join("matrix.html").exists());
}

//! A mistake in a scenario is reported at load, as `file:line: field: message`, before any
//! namespace is made: a typo in a role's config (checked by our daemon's own typed config) and a
//! misspelled event name in a step (checked against what the role's kind reports).

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bootlab");

fn scenario_text(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Writes `text` as scenario `name` into a fresh directory and returns the file.
fn write(tag: &str, name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("bootlab-scenario-load")
        .join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create dir");
    let f = dir.join(format!("{name}.toml"));
    std::fs::write(&f, text).expect("write scenario");
    f
}

/// `bootlab run FILE`: must fail with status 2 and nothing run; returns stderr.
fn run_fails(file: &Path) -> String {
    let out_dir = file.with_extension("out");
    let out = Command::new(BIN)
        .args(["run", &file.to_string_lossy(), "--out"])
        .arg(&out_dir)
        .output()
        .expect("run bootlab");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        !out_dir.exists(),
        "a scenario that fails to load must not run: {} exists",
        out_dir.display()
    );
    stderr
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in the scenario"))
}

#[test]
fn a_typo_in_a_role_config_fails_at_load_with_file_and_line() {
    let text = scenario_text("relay-option82").replace("stop-after = ", "stop-aftr = ");
    let f = write("config-typo", "relay-option82", &text);
    let stderr = run_fails(&f);
    let want = format!(
        "{}:{}: roles.client.config.stop-aftr: unknown field `stop-aftr`",
        f.display(),
        line_of(&text, "stop-aftr")
    );
    assert!(stderr.contains(&want), "want {want:?} in:\n{stderr}");
}

#[test]
fn a_wrong_value_type_in_a_role_config_fails_at_load() {
    let text =
        scenario_text("relay-option82").replace("circuit-id = \"{interface}\"", "circuit-id = 5");
    let f = write("config-type", "relay-option82", &text);
    let stderr = run_fails(&f);
    let want = format!(
        "{}:{}: roles.relay.config.option82.circuit-id: invalid type",
        f.display(),
        line_of(&text, "circuit-id = 5")
    );
    assert!(stderr.contains(&want), "want {want:?} in:\n{stderr}");
}

#[test]
fn a_misspelled_event_fails_at_load_with_file_line_and_suggestion() {
    let text = scenario_text("relay-option82").replace("event = \"bound\"", "event = \"bonud\"");
    let f = write("event-typo", "relay-option82", &text);
    let stderr = run_fails(&f);
    let want = format!(
        "{}:{}: steps[0].wait.event: \"bonud\" is not an event a dhcp-client reports; did you mean \"bound\"?",
        f.display(),
        line_of(&text, "bonud")
    );
    assert!(stderr.contains(&want), "want {want:?} in:\n{stderr}");
}

#[test]
fn every_shipped_scenario_loads() {
    let out = Command::new(BIN)
        .arg("list")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("run bootlab list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn expecting_a_rule_that_is_not_in_the_checklist_fails_at_load() {
    // Every checklist rule has a check now (`bootlab rules`: 151 of 151), so the refusal of an
    // unchecked rule is covered by `judge::rules` unit tests with a stand-in predicate; here a
    // rule id that does not exist is refused at its line.
    let text = format!(
        "{}\"CLI-DELAY-99\" = \"pass\"\n",
        scenario_text("dhcp-dora")
    );
    let f = write("unknown-rule", "dhcp-dora", &text);
    let stderr = run_fails(&f);
    let want = format!(
        "{}:{}: expect.rules.CLI-DELAY-99: no such rule",
        f.display(),
        line_of(&text, "CLI-DELAY-99")
    );
    assert!(stderr.contains(&want), "want {want:?} in:\n{stderr}");
}

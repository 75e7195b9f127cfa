//! Golden traces in `golden/`: `golden/<scenario>.snap`, or `golden/<scenario>@<impl>.snap` where
//! a third-party implementation legitimately differs from ours. The files are insta snapshots (a
//! short `---` header, then the normalized trace), so `cargo test` checks them through insta and
//! `cargo insta review` accepts changes; `bootlab run` compares the same files itself and prints a
//! unified diff (insta works only inside `cargo test`, see DESIGN.md); `--accept` rewrites them.

use std::path::{Path, PathBuf};

/// The outcome of comparing one trace with its golden file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// Identical.
    Same,
    /// No golden file yet.
    Missing(PathBuf),
    /// Different: the unified diff, golden first.
    Differs {
        /// The golden file.
        path: PathBuf,
        /// `--- golden` / `+++ actual` unified diff.
        diff: String,
    },
    /// Written because `--accept` was given.
    Accepted(PathBuf),
}

/// The golden file for a scenario run by an implementation set (`None` = ours).
pub fn path_for(golden_dir: &Path, scenario: &str, implementation: Option<&str>) -> PathBuf {
    match implementation {
        Some(i) => {
            let specific = golden_dir.join(format!("{}.snap", snapshot_name(scenario, Some(i))));
            if specific.exists() {
                specific
            } else {
                golden_dir.join(format!("{scenario}.snap"))
            }
        }
        None => golden_dir.join(format!("{scenario}.snap")),
    }
}

/// The insta snapshot name of a scenario's golden file: `NAME` or `NAME@KIND=IMPL`.
pub fn snapshot_name(scenario: &str, implementation: Option<&str>) -> String {
    match implementation {
        Some(i) => format!("{scenario}@{i}"),
        None => scenario.to_string(),
    }
}

/// The trace inside a golden file: everything after insta's `---` header (a file without a
/// header is all trace), with trailing blank lines removed as insta does.
pub fn contents(file: &str) -> String {
    let body = match file
        .strip_prefix("---\n")
        .and_then(|rest| rest.find("\n---\n").map(|i| &rest[i + 5..]))
    {
        Some(b) => b,
        None => file,
    };
    let mut t = body.trim_end_matches(['\n', ' ']).to_string();
    t.push('\n');
    t
}

fn snapshot_file(actual: &str) -> String {
    format!(
        "---\nsource: lab/tests/conformance.rs\nexpression: trace\n---\n{}",
        contents(actual)
    )
}

/// Compares `actual` with the golden file at `path`; with `accept`, writes it instead.
pub fn compare(path: &Path, actual: &str, accept: bool) -> std::io::Result<Comparison> {
    let actual = contents(actual);
    if accept {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let same = std::fs::read_to_string(path)
            .map(|g| contents(&g) == actual)
            .unwrap_or(false);
        if !same {
            std::fs::write(path, snapshot_file(&actual))?;
            return Ok(Comparison::Accepted(path.to_path_buf()));
        }
        return Ok(Comparison::Same);
    }
    match std::fs::read_to_string(path) {
        Ok(golden) if contents(&golden) == actual => Ok(Comparison::Same),
        Ok(golden) => Ok(Comparison::Differs {
            path: path.to_path_buf(),
            diff: unified_diff(&contents(&golden), &actual),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Comparison::Missing(path.to_path_buf()))
        }
        Err(e) => Err(e),
    }
}

/// A unified diff, golden (`-`) against actual (`+`), with three lines of context.
pub fn unified_diff(golden: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(golden, actual)
        .unified_diff()
        .context_radius(3)
        .header("golden", "actual")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differing_trace_gives_a_readable_unified_diff() {
        let d = unified_diff("a\nb\nc\n", "a\nB\nc\n");
        assert!(d.contains("--- golden"), "{d}");
        assert!(d.contains("-b\n+B\n"), "{d}");
    }

    #[test]
    fn accept_writes_then_compares_same() {
        let dir = std::env::temp_dir().join(format!("bootlab-golden-{}", std::process::id()));
        let p = dir.join("x.snap");
        assert!(matches!(
            compare(&p, "t\n", false),
            Ok(Comparison::Missing(_))
        ));
        assert!(matches!(
            compare(&p, "t\n", true),
            Ok(Comparison::Accepted(_))
        ));
        assert_eq!(compare(&p, "t\n", false).ok(), Some(Comparison::Same));
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(
            text.starts_with("---\nsource: "),
            "an insta snapshot: {text}"
        );
        assert_eq!(contents(&text), "t\n");
        assert!(matches!(
            compare(&p, "u\n", false),
            Ok(Comparison::Differs { .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}

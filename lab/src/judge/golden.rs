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
}

/// The implementation's own golden file: `NAME.snap` for ours, `NAME@KIND=IMPL.snap` for a
/// third-party implementation (whether it exists or not).
pub fn own_path(golden_dir: &Path, scenario: &str, implementation: Option<&str>) -> PathBuf {
    golden_dir.join(format!("{}.snap", snapshot_name(scenario, implementation)))
}

/// The pending file beside a golden file (`NAME.snap.new`, as insta names it).
pub fn pending_path(golden: &Path) -> PathBuf {
    let mut p = golden.as_os_str().to_owned();
    p.push(".new");
    PathBuf::from(p)
}

/// Writes `actual` as the pending file beside `golden`, for `bootlab review`.
pub fn write_pending(golden: &Path, actual: &str) -> std::io::Result<PathBuf> {
    let p = pending_path(golden);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&p, snapshot_file(actual))?;
    Ok(p)
}

/// Removes a stale pending file beside `golden` (the run matched).
pub fn clear_pending(golden: &Path) {
    let _ = std::fs::remove_file(pending_path(golden));
}

/// Writes `actual` as the golden file `path` (only when it differs).
pub fn accept(path: &Path, actual: &str) -> std::io::Result<bool> {
    let actual = contents(actual);
    let same = std::fs::read_to_string(path)
        .map(|g| contents(&g) == actual)
        .unwrap_or(false);
    if same {
        clear_pending(path);
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, snapshot_file(&actual))?;
    clear_pending(path);
    Ok(true)
}

/// A pending golden change found by [`pending`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The golden file it would replace or create.
    pub golden: PathBuf,
    /// The `.snap.new` file.
    pub new: PathBuf,
}

/// Every pending file in `golden_dir`, by name.
pub fn pending(golden_dir: &Path) -> std::io::Result<Vec<Pending>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(golden_dir)? {
        let p = e?.path();
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(golden) = name.as_deref().and_then(|n| n.strip_suffix(".new")) {
            if golden.ends_with(".snap") {
                out.push(Pending {
                    golden: golden_dir.join(golden),
                    new: p.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.golden.cmp(&b.golden));
    Ok(out)
}

/// The golden file a run is compared with: the implementation's own when it has one, else
/// ours (a third-party implementation without a reviewed file of its own).
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

/// Compares `actual` with the golden file at `path`.
pub fn compare(path: &Path, actual: &str) -> std::io::Result<Comparison> {
    let actual = contents(actual);
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
        assert!(matches!(compare(&p, "t\n"), Ok(Comparison::Missing(_))));
        assert!(write_pending(&p, "t\n").is_ok());
        assert_eq!(
            pending(&dir).ok(),
            Some(vec![Pending {
                golden: p.clone(),
                new: pending_path(&p)
            }])
        );
        assert_eq!(accept(&p, "t\n").ok(), Some(true));
        assert_eq!(pending(&dir).ok(), Some(vec![]), "accepting clears the pending file");
        assert_eq!(accept(&p, "t\n").ok(), Some(false));
        assert_eq!(compare(&p, "t\n").ok(), Some(Comparison::Same));
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(
            text.starts_with("---\nsource: "),
            "an insta snapshot: {text}"
        );
        assert_eq!(contents(&text), "t\n");
        assert!(matches!(compare(&p, "u\n"), Ok(Comparison::Differs { .. })));
        let _ = std::fs::remove_dir_all(dir);
    }
}

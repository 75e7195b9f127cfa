//! Which scenarios a command runs: names, files or directories on the command line, resolved
//! against the scenarios directory, with one error per unknown name and a "did you mean".

use crate::plan::scenario::Scenario;
use std::path::{Path, PathBuf};

/// The scenario names (file stems) of `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    v.sort();
    v
}

/// " (did you mean \"x\"?)" when a candidate is close to `word`.
pub fn hint<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    crate::roles::check::did_you_mean(word, candidates)
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default()
}

/// The scenario files `args` name (every scenario of `dir` when empty). Every unknown name is
/// reported once, with the closest known one; nothing at all is an error too.
pub fn files(args: &[String], dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let known = names(dir);
    let unknown: Vec<String> = args
        .iter()
        .filter(|a| {
            let p = Path::new(a.as_str());
            !p.exists() && !dir.join(format!("{a}.toml")).is_file()
        })
        .map(|a| {
            format!(
                "no scenario {a:?} in {}{}",
                dir.display(),
                hint(a, known.iter().map(String::as_str))
            )
        })
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!(
            "{}\n(`bootlab list` shows the scenarios)",
            unknown.join("\n")
        );
    }
    let files = crate::plan::scenario::resolve(args, dir)?;
    if files.is_empty() {
        anyhow::bail!(
            "no scenario files (*.toml) in {}",
            if args.is_empty() {
                dir.display().to_string()
            } else {
                args.join(", ")
            }
        );
    }
    Ok(files)
}

/// Loads and checks every file ([`crate::exec::load`]); all mistakes are reported together, each
/// once.
pub fn load(files: &[PathBuf]) -> anyhow::Result<Vec<Scenario>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match crate::exec::load(f) {
            Ok(s) => out.push(s),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    Ok(out)
}

/// Why a matrix selection has no cell: an unknown profile (with the closest name), a profile that
/// fills none of the kinds, or kinds no scenario has.
pub fn empty_matrix(
    kinds: &[crate::plan::role_kind::RoleKind],
    only: &[String],
    set: &crate::roles::profile::ProfileSet,
) -> String {
    let kinds_text = kinds
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut why = Vec::new();
    for name in only {
        match set.profiles.get(name) {
            None => why.push(format!(
                "no profile {name:?}{} (`bootlab profiles` lists them)",
                hint(name, set.profiles.keys().map(String::as_str))
            )),
            Some(p) if !kinds.iter().any(|k| p.fills(*k)) => why.push(format!(
                "profile {name:?} fills none of --roles {kinds_text} (it fills {})",
                p.roles
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            Some(_) => {}
        }
    }
    if why.is_empty() {
        why.push(format!(
            "no selected scenario has a role of kind {kinds_text} with a profile to run it"
        ));
    }
    format!("the selection has no matrix cell: {}", why.join("; "))
}

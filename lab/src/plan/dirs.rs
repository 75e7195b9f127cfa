//! Where the lab's data lives: the scenario files (`scenarios/`), the golden traces (`golden/`) and
//! the third-party profiles (`lab/profiles/` in a checkout, `profiles/` when installed). One search
//! for all three, so a copied or installed `bootlab` finds them as a checkout does:
//!
//! 1. the directory given on the command line (`--scenario-dir`, `--golden-dir`), or for profiles
//!    `$BOOTLAB_PROFILES`;
//! 2. a checkout: the working directory or the nearest parent holding both `scenarios/` and
//!    `golden/`;
//! 3. an installed data directory: `$XDG_DATA_HOME/bootlab` (default `~/.local/share/bootlab`),
//!    then `bootlab/` under each of `$XDG_DATA_DIRS` (default `/usr/local/share:/usr/share`);
//! 4. last, the checkout this binary was built from, when it is still there.
//!
//! When none holds the directory, the error names every place looked at.

use std::path::{Path, PathBuf};

/// A kind of lab data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// Scenario files, `scenarios/`.
    Scenarios,
    /// Golden traces, `golden/`.
    Golden,
    /// Third-party profiles, `lab/profiles/` in a checkout, `profiles/` installed.
    Profiles,
}

impl Data {
    /// Its path under a checkout's root.
    fn in_checkout(self) -> &'static str {
        match self {
            Data::Scenarios => "scenarios",
            Data::Golden => "golden",
            Data::Profiles => "lab/profiles",
        }
    }

    /// Its path under an installed data directory.
    fn installed(self) -> &'static str {
        match self {
            Data::Scenarios => "scenarios",
            Data::Golden => "golden",
            Data::Profiles => "profiles",
        }
    }

    /// The option that names it.
    fn option(self) -> &'static str {
        match self {
            Data::Scenarios => "--scenario-dir",
            Data::Golden => "--golden-dir",
            Data::Profiles => "$BOOTLAB_PROFILES",
        }
    }
}

/// No directory of a kind was found.
#[derive(Debug, thiserror::Error)]
#[error("no {what} directory found; looked in {}; name one with {option}", looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
pub struct NotFound {
    /// `scenarios`, `golden`, `lab/profiles`.
    pub what: &'static str,
    /// Every place looked at, in order.
    pub looked: Vec<PathBuf>,
    /// The option that names the directory.
    pub option: &'static str,
}

/// The directory of `data`: `given` when set (it must exist), else the first of the search
/// order in the module doc, from the working directory and the process environment.
pub fn find(data: Data, given: Option<&Path>) -> Result<PathBuf, NotFound> {
    let env = |k: &str| std::env::var_os(k).map(PathBuf::from);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let given = given.map(Path::to_path_buf).or_else(|| {
        (data == Data::Profiles)
            .then(|| env("BOOTLAB_PROFILES"))
            .flatten()
    });
    let candidates = match given {
        Some(g) => vec![g],
        None => candidates(data, &cwd, &Environment::from_process()),
    };
    match candidates.iter().find(|p| p.is_dir()) {
        Some(p) => Ok(p.clone()),
        None => Err(NotFound {
            what: data.in_checkout(),
            looked: candidates,
            option: data.option(),
        }),
    }
}

/// The variables the search reads.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// `$XDG_DATA_HOME`.
    pub xdg_data_home: Option<PathBuf>,
    /// `$XDG_DATA_DIRS`, split.
    pub xdg_data_dirs: Option<Vec<PathBuf>>,
}

impl Environment {
    /// From the process environment (empty variables count as unset, as the XDG spec says).
    pub fn from_process() -> Environment {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Environment {
            home: var("HOME").map(PathBuf::from),
            xdg_data_home: var("XDG_DATA_HOME").map(PathBuf::from),
            xdg_data_dirs: var("XDG_DATA_DIRS").map(|v| std::env::split_paths(&v).collect()),
        }
    }
}

/// Every place `data` is looked for from `cwd`, in order (the module doc's 2 to 4).
pub fn candidates(data: Data, cwd: &Path, env: &Environment) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let checkout = cwd
        .ancestors()
        .find(|d| d.join("scenarios").is_dir() && d.join("golden").is_dir());
    match checkout {
        Some(root) => out.push(root.join(data.in_checkout())),
        None => out.push(cwd.join(data.in_checkout())),
    }
    let data_home = env
        .xdg_data_home
        .clone()
        .or_else(|| env.home.as_ref().map(|h| h.join(".local/share")));
    let data_dirs = env
        .xdg_data_dirs
        .clone()
        .unwrap_or_else(|| vec!["/usr/local/share".into(), "/usr/share".into()]);
    for d in data_home.into_iter().chain(data_dirs) {
        out.push(d.join("bootlab").join(data.installed()));
    }
    out.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(data.in_checkout()),
    );
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bootlab-dirs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_checkout_above_the_working_directory_comes_first() {
        let root = tmp("checkout");
        for d in ["scenarios", "golden", "lab/profiles", "lab/src"] {
            std::fs::create_dir_all(root.join(d)).unwrap_or_else(|e| panic!("{e}"));
        }
        let env = Environment::default();
        let c = candidates(Data::Scenarios, &root.join("lab/src"), &env);
        assert_eq!(c[0], root.join("scenarios"));
        let p = candidates(Data::Profiles, &root.join("lab"), &env);
        assert_eq!(p[0], root.join("lab/profiles"));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn installed_data_dirs_follow_in_xdg_order() {
        let env = Environment {
            home: Some("/home/u".into()),
            xdg_data_home: None,
            xdg_data_dirs: None,
        };
        let c = candidates(Data::Golden, Path::new("/nonexistent/x"), &env);
        assert_eq!(
            c[..4],
            [
                PathBuf::from("/nonexistent/x/golden"),
                "/home/u/.local/share/bootlab/golden".into(),
                "/usr/local/share/bootlab/golden".into(),
                "/usr/share/bootlab/golden".into(),
            ]
        );
        assert!(c[4].ends_with("../golden"));
        let env = Environment {
            home: Some("/home/u".into()),
            xdg_data_home: Some("/data".into()),
            xdg_data_dirs: Some(vec!["/opt/share".into()]),
        };
        let p = candidates(Data::Profiles, Path::new("/nonexistent/x"), &env);
        assert_eq!(p[1], PathBuf::from("/data/bootlab/profiles"));
        assert_eq!(p[2], PathBuf::from("/opt/share/bootlab/profiles"));
    }

    #[test]
    fn the_error_names_every_place() {
        let e = find(Data::Scenarios, Some(Path::new("/nonexistent/scen"))).err();
        let msg = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("/nonexistent/scen"), "{msg}");
        assert!(msg.contains("--scenario-dir"), "{msg}");
    }
}

//! The listing commands: `bootlab list` (scenarios), `bootlab rules` (the checklist) and
//! `bootlab profiles` (third-party implementations), as aligned text or, with `--json`, JSON.
//! Columns are as wide as their longest entry: nothing is cut.

use crate::cmd::output::print;
use crate::plan::dirs::{self, Data};
use crate::roles::profile::{Installation, ProfileSet};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Arguments of `bootlab list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// JSON: one object per scenario (name, about, source, file).
    #[arg(long)]
    pub json: bool,
    /// The scenarios directory (default: found from the working directory).
    #[arg(long, value_name = "DIR")]
    pub scenario_dir: Option<PathBuf>,
}

/// Arguments of `bootlab rules`.
#[derive(Debug, Clone, clap::Args)]
pub struct RulesArgs {
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The scenarios directory, for which scenarios exercise each rule (default: found from the
    /// working directory).
    #[arg(long, value_name = "DIR")]
    pub scenario_dir: Option<PathBuf>,
}

/// Arguments of `bootlab profiles`.
#[derive(Debug, Clone, clap::Args)]
pub struct JsonArg {
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Left-aligned columns, each as wide as its widest cell; the last column is not padded.
pub fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn print_json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    print(&(serde_json::to_string_pretty(v)? + "\n"))
}

/// `bootlab list`.
pub fn list(a: ListArgs) -> anyhow::Result<()> {
    let dir = dirs::find(Data::Scenarios, a.scenario_dir.as_deref())?;
    let files = crate::cmd::select::files(&[], &dir)?;
    let scenarios = crate::cmd::select::load(&files)?;
    if a.json {
        #[derive(Serialize)]
        struct Item<'a> {
            name: &'a str,
            about: &'a str,
            source: &'a [String],
            file: &'a std::path::Path,
        }
        let items: Vec<Item<'_>> = scenarios
            .iter()
            .map(|s| Item {
                name: &s.name,
                about: &s.about,
                source: &s.source,
                file: &s.path,
            })
            .collect();
        return print_json(&items);
    }
    let rows: Vec<Vec<String>> = scenarios
        .iter()
        .map(|s| vec![s.name.clone(), s.about.clone()])
        .collect();
    print(&columns(&rows))
}

/// `bootlab rules`: each rule with its status and the scenarios that exercise it (those whose
/// `[expect.rules]` enforce an outcome for it).
pub fn rules(a: RulesArgs) -> anyhow::Result<()> {
    let all = crate::judge::rules::all();
    let status = |checked: bool| if checked { "checked" } else { "not yet" };
    let dir = dirs::find(Data::Scenarios, a.scenario_dir.as_deref())?;
    let scenarios = crate::cmd::select::load(&crate::cmd::select::files(&[], &dir)?)?;
    let mut exercised: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for sc in &scenarios {
        for id in sc.expect.rules.keys() {
            exercised.entry(id).or_default().push(&sc.name);
        }
    }
    let by = |id: &str| exercised.get(id).cloned().unwrap_or_default();
    if a.json {
        #[derive(Serialize)]
        struct Item<'a> {
            id: &'a str,
            status: &'a str,
            level: &'a str,
            source: &'a str,
            requirement: &'a str,
            exercised_by: Vec<&'a str>,
        }
        let items: Vec<Item<'_>> = all
            .iter()
            .map(|r| Item {
                id: r.id,
                status: status(r.check.is_some()),
                level: r.level,
                source: r.source,
                requirement: r.requirement,
                exercised_by: by(r.id),
            })
            .collect();
        return print_json(&items);
    }
    let mut rows = vec![vec![
        "id".to_string(),
        "status".into(),
        "level".into(),
        "source".into(),
        "exercised by".into(),
        "requirement".into(),
    ]];
    rows.extend(all.iter().map(|r| {
        let names = by(r.id);
        vec![
            r.id.to_string(),
            status(r.check.is_some()).into(),
            r.level.into(),
            r.source.into(),
            if names.is_empty() {
                "-".to_string()
            } else {
                names.join(",")
            },
            r.requirement.into(),
        ]
    }));
    let checked = all.iter().filter(|r| r.check.is_some()).count();
    let proven = all
        .iter()
        .filter(|r| r.check.is_some() && exercised.contains_key(r.id))
        .count();
    print(&format!(
        "{}\n{checked} of {} rules checked; {proven} checked and exercised (an outcome enforced \
         by a scenario's [expect.rules])\n",
        columns(&rows),
        all.len()
    ))
}

/// `bootlab profiles`: every third-party profile, the role kinds it fills, its Debian package and
/// whether it is installed here.
pub fn profiles(a: JsonArg) -> anyhow::Result<()> {
    let dir = dirs::find(Data::Profiles, None)?;
    let set = ProfileSet::load_dir(&dir)?;
    let peers = crate::roles::profile::peers_dir();
    #[derive(Serialize)]
    struct Item<'a> {
        name: &'a str,
        roles: Vec<String>,
        package: &'a str,
        installed: bool,
        binary: PathBuf,
        needs_root: bool,
        about: &'a str,
    }
    let items: Vec<Item<'_>> = set
        .profiles
        .values()
        .map(|p| {
            let (installed, binary) = match p.installation(&peers) {
                Installation::Installed(b) => (true, b),
                Installation::NotInstalled { binary, .. } => (false, binary),
            };
            Item {
                name: &p.name,
                roles: p.roles.iter().map(ToString::to_string).collect(),
                package: &p.package,
                installed,
                binary,
                needs_root: p.needs_root,
                about: &p.about,
            }
        })
        .collect();
    if a.json {
        return print_json(&items);
    }
    let mut rows = vec![vec![
        "profile".to_string(),
        "roles".into(),
        "package".into(),
        "installed".into(),
        "about".into(),
    ]];
    rows.extend(items.iter().map(|i| {
        vec![
            i.name.to_string(),
            i.roles.join(","),
            i.package.to_string(),
            if i.installed { "yes" } else { "no" }.into(),
            i.about.to_string(),
        ]
    }));
    print(&format!(
        "{}\nprofiles from {}\n",
        columns(&rows),
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_fit_their_longest_cell() {
        let rows = vec![
            vec!["a".to_string(), "a long level".into(), "x".into()],
            vec!["bbbb".to_string(), "b".into(), "y".into()],
        ];
        assert_eq!(
            super::columns(&rows),
            "a     a long level  x\nbbbb  b             y\n"
        );
    }
}

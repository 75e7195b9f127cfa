//! `bootlab review`: golden review the insta way. A run whose trace differs from its golden file
//! (or has none) leaves `NAME.snap.new` beside it; this command shows each pending difference and
//! accepts it (the pending trace becomes the golden file) or rejects it (the pending file is
//! removed). Interactive on a terminal; `--accept-all` / `--reject-all` for scripts; with neither
//! and no terminal it lists what is pending and exits 1 when anything is.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use crate::judge::golden::{self, Pending};

/// Arguments of `bootlab review`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The golden directory (default: `golden/` of the checkout).
    #[arg(long)]
    pub golden_dir: Option<PathBuf>,
    /// Accept every pending change without asking.
    #[arg(long, conflicts_with = "reject_all")]
    pub accept_all: bool,
    /// Reject every pending change without asking.
    #[arg(long)]
    pub reject_all: bool,
}

/// What to do with one pending change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Accept,
    Reject,
    Skip,
}

/// Runs `bootlab review` on `golden_dir`.
pub fn run(a: Args, golden_dir: PathBuf) -> anyhow::Result<()> {
    let pending = golden::pending(&golden_dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", golden_dir.display()))?;
    if pending.is_empty() {
        eprintln!("no pending golden changes in {}", golden_dir.display());
        return Ok(());
    }
    let interactive = std::io::stdin().is_terminal() && !a.accept_all && !a.reject_all;
    let mut left = 0;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    for (i, p) in pending.iter().enumerate() {
        println!(
            "== [{}/{}] {}",
            i + 1,
            pending.len(),
            p.golden.file_name().unwrap_or_default().to_string_lossy()
        );
        print!("{}", diff_of(p)?);
        let decision = if a.accept_all {
            Decision::Accept
        } else if a.reject_all {
            Decision::Reject
        } else if interactive {
            loop {
                print!("[a]ccept, [r]eject, [s]kip? ");
                std::io::stdout().flush()?;
                match lines.next().transpose()?.as_deref().map(str::trim) {
                    Some("a") => break Decision::Accept,
                    Some("r") => break Decision::Reject,
                    Some("s") | None => break Decision::Skip,
                    _ => continue,
                }
            }
        } else {
            Decision::Skip
        };
        apply(p, decision)?;
        match decision {
            Decision::Accept => println!("accepted {}", p.golden.display()),
            Decision::Reject => println!("rejected {}", p.new.display()),
            Decision::Skip => left += 1,
        }
    }
    if left > 0 {
        anyhow::bail!(
            "{left} pending golden change(s) left in {} (review with `bootlab review`, or \
             --accept-all / --reject-all)",
            golden_dir.display()
        );
    }
    Ok(())
}

/// The unified diff of a pending change (the golden side empty when there is none yet).
fn diff_of(p: &Pending) -> anyhow::Result<String> {
    let new = std::fs::read_to_string(&p.new)?;
    let old = std::fs::read_to_string(&p.golden).unwrap_or_default();
    Ok(golden::unified_diff(
        &golden::contents(&old),
        &golden::contents(&new),
    ))
}

fn apply(p: &Pending, d: Decision) -> anyhow::Result<()> {
    match d {
        Decision::Accept => {
            let new = std::fs::read_to_string(&p.new)?;
            golden::accept(&p.golden, &new)?;
        }
        Decision::Reject => std::fs::remove_file(&p.new)?,
        Decision::Skip => {}
    }
    Ok(())
}

//! Records the git commit the `bootlab` binary was built from, for `bootlab --version`
//! (`BOOTLAB_COMMIT`): `git rev-parse --short HEAD`; "unknown commit" outside a git checkout (a
//! source archive) or without git.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = match git(&["rev-parse", "--short", "HEAD"]) {
        Some(c) if !c.is_empty() => c,
        _ => "unknown commit".to_string(),
    };
    println!("cargo:rustc-env=BOOTLAB_COMMIT={commit}");
    // Rebuild when HEAD moves (a commit, a checkout); the paths exist only in a checkout.
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            if let Some(path) =
                git(&["rev-parse", "--git-path", &r]).filter(|p| std::path::Path::new(p).exists())
            {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

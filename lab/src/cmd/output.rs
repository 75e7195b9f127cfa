//! Where a command writes a report: a file, or standard output for `-` (the Unix habit).

use std::io::Write as _;
use std::path::Path;

/// Writes `text` to `path`, or to standard output when `path` is `-`.
pub fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if path == Path::new("-") {
        return print(text);
    }
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Whether any of `paths` is `-`: the human summary then goes to standard error, so standard
/// output carries only the report.
pub fn any_stdout<'a>(paths: impl IntoIterator<Item = Option<&'a std::path::PathBuf>>) -> bool {
    paths.into_iter().flatten().any(|p| p == Path::new("-"))
}

/// Prints `text` on standard output; a reader that went away (`bootlab rules | head`) ends the
/// output quietly instead of with a panic.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

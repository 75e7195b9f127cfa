//! Confinement of requests to the server root (RFC 1350 §8, RFC 1123 §4.2.3.4; checklist
//! SEC-PATH-01/02): every file name resolves inside the root or is refused.
//!
//! Rules, in order: control characters are refused; `\` counts as `/` (DOS clients); an absolute
//! name is accepted only when it names a path under the root (it is then made relative), any
//! other absolute name is refused; any `..` component is refused; the result is resolved with
//! symlinks followed and must still lie under the root (a symlink that escapes is refused); reads
//! need a world-readable regular file (as tftp-hpa: device nodes, FIFOs and directories are
//! refused); a file with more hard links than the root holds (a link to a file outside the root,
//! which no path check can see) is refused; writes create new files only (an existing name is
//! ERROR 6) and never follow a symlink.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use bootlab_wire::tftp::ErrorCode;

/// Why a request was refused; becomes an ERROR packet and a log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refused {
    /// The TFTP error code sent (1 not found, 2 access violation, 6 file exists...).
    pub code: ErrorCode,
    /// Why, for the log and the ERROR message.
    pub reason: String,
}

impl Refused {
    fn access(reason: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::AccessViolation,
            reason: reason.into(),
        }
    }

    fn io(e: &io::Error, what: &str) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => Self {
                code: ErrorCode::FileNotFound,
                reason: format!("{what}: file not found"),
            },
            io::ErrorKind::PermissionDenied => Self::access(format!("{what}: permission denied")),
            _ => Self {
                code: ErrorCode::NotDefined,
                reason: format!("{what}: {e}"),
            },
        }
    }
}

/// Maps a request's file name to a path under `root` (which must be canonical) without touching
/// the file system; refuses traversal and absolute names outside the root.
pub fn lexical(root: &Path, name: &str) -> Result<PathBuf, Refused> {
    if name.is_empty() {
        return Err(Refused::access("empty file name"));
    }
    if name.chars().any(char::is_control) {
        return Err(Refused::access(format!(
            "{name:?}: control character in file name"
        )));
    }
    let unified = name.replace('\\', "/");
    let path = Path::new(&unified);
    let relative = if path.is_absolute() {
        path.strip_prefix(root)
            .map_err(|_| Refused::access(format!("{name:?}: absolute path outside the root")))?
    } else {
        path
    };
    let mut out = root.to_path_buf();
    for c in relative.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Refused::access(format!("{name:?}: \"..\" in file name")))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Refused::access(format!(
                    "{name:?}: absolute path outside the root"
                )))
            }
        }
    }
    if out == root {
        return Err(Refused::access(format!(
            "{name:?}: names the root directory"
        )));
    }
    Ok(out)
}

/// Opens a file for a read request: confined, regular, world-readable. Returns the file, its size
/// and the resolved path.
pub fn open_read(root: &Path, name: &str) -> Result<(File, u64, PathBuf), Refused> {
    let candidate = lexical(root, name)?;
    let real = candidate
        .canonicalize()
        .map_err(|e| Refused::io(&e, name))?;
    if !real.starts_with(root) {
        return Err(Refused::access(format!(
            "{name:?}: resolves outside the root (symlink escape) to {}",
            real.display()
        )));
    }
    // O_NOFOLLOW: nothing may swap a symlink in after canonicalize; O_NONBLOCK: opening a FIFO
    // must not hang the server before the type check below refuses it.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&real)
        .map_err(|e| Refused::io(&e, name))?;
    let meta = file.metadata().map_err(|e| Refused::io(&e, name))?;
    if !meta.is_file() {
        return Err(Refused::access(format!("{name:?}: not a regular file")));
    }
    if meta.mode() & 0o004 == 0 {
        return Err(Refused::access(format!("{name:?}: not world-readable")));
    }
    if meta.nlink() > 1 {
        let inside = links_under(root, meta.dev(), meta.ino(), meta.nlink());
        if inside < meta.nlink() {
            return Err(Refused::access(format!(
                "{name:?}: has {} hard links, {inside} of them under the root (a link to a file outside the root)",
                meta.nlink()
            )));
        }
    }
    Ok((file, meta.len(), real))
}

/// Most directory entries [`links_under`] looks at; a larger root refuses multiply-linked files.
const LINK_SCAN_MAX: usize = 100_000;

/// How many names under `root` (not following symlinks) are hard links to the inode `ino` on
/// device `dev`; stops at `want`, or after [`LINK_SCAN_MAX`] entries.
fn links_under(root: &Path, dev: u64, ino: u64, want: u64) -> u64 {
    let mut found = 0;
    let mut seen = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            seen += 1;
            if seen > LINK_SCAN_MAX {
                return found;
            }
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() && m.dev() == dev {
                dirs.push(e.path());
            } else if m.is_file() && m.dev() == dev && m.ino() == ino {
                found += 1;
                if found >= want {
                    return found;
                }
            }
        }
    }
    found
}

/// Creates a file for a write request: confined, new, not through a symlink.
pub fn open_write(root: &Path, name: &str) -> Result<(File, PathBuf), Refused> {
    let candidate = lexical(root, name)?;
    let (Some(parent), Some(file_name)) = (candidate.parent(), candidate.file_name()) else {
        return Err(Refused::access(format!("{name:?}: no file name")));
    };
    let real_parent = parent.canonicalize().map_err(|e| Refused::io(&e, name))?;
    if !real_parent.starts_with(root) {
        return Err(Refused::access(format!(
            "{name:?}: directory resolves outside the root (symlink escape)"
        )));
    }
    let target = real_parent.join(file_name);
    if target.symlink_metadata().is_ok() {
        return Err(Refused {
            code: ErrorCode::FileExists,
            reason: format!("{name:?}: file already exists"),
        });
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&target)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => Refused {
                code: ErrorCode::FileExists,
                reason: format!("{name:?}: file already exists"),
            },
            _ => Refused::io(&e, name),
        })?;
    Ok((file, target))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fresh canonical directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(pub(crate) PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::SeqCst);
            let p =
                std::env::temp_dir().join(format!("bootlab-tftp-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("temp dir");
            Self(p.canonicalize().expect("canonical temp dir"))
        }

        pub(crate) fn file(&self, name: &str, data: &[u8]) -> PathBuf {
            let p = self.0.join(name);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).expect("mkdir");
            }
            std::fs::write(&p, data).expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn traversal_and_absolute_names_are_refused() {
        let root = Path::new("/srv/tftp");
        for bad in [
            "../etc/passwd",
            "a/../../x",
            "/etc/passwd",
            "..\\..\\x",
            "/srv/tftpx/f",
            "",
            "a\nb",
            "/srv/tftp",
        ] {
            let e = lexical(root, bad).expect_err(bad);
            assert_eq!(e.code, ErrorCode::AccessViolation, "{bad}");
        }
        assert_eq!(
            lexical(root, "boot/./rom.img"),
            Ok(PathBuf::from("/srv/tftp/boot/rom.img"))
        );
        assert_eq!(
            lexical(root, "/srv/tftp/boot/rom.img"),
            Ok(PathBuf::from("/srv/tftp/boot/rom.img"))
        );
        assert_eq!(
            lexical(root, "boot\\rom.img"),
            Ok(PathBuf::from("/srv/tftp/boot/rom.img"))
        );
    }

    #[test]
    fn symlink_escape_device_and_unreadable_files_are_refused() {
        let dir = TempDir::new("confine");
        let root = dir.0.join("root");
        std::fs::create_dir(&root).expect("mkdir");
        let outside = dir.file("secret", b"s");
        std::os::unix::fs::symlink(&outside, root.join("escape")).expect("symlink");
        std::os::unix::fs::symlink("/", root.join("slash")).expect("symlink");
        std::os::unix::fs::symlink("/dev/null", root.join("null")).expect("symlink");
        dir.file("root/ok", b"hello");
        std::os::unix::fs::symlink("ok", root.join("inside-link")).expect("symlink");
        let private = dir.file("root/private", b"p");
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).expect("chmod");

        assert_eq!(
            open_read(&root, "escape").expect_err("escape").code,
            ErrorCode::AccessViolation
        );
        assert_eq!(
            open_read(&root, "slash/etc/passwd")
                .expect_err("slash")
                .code,
            ErrorCode::AccessViolation
        );
        assert_eq!(
            open_read(&root, "null").expect_err("dev").code,
            ErrorCode::AccessViolation
        );
        assert_eq!(
            open_read(&root, "private").expect_err("0600").code,
            ErrorCode::AccessViolation
        );
        assert_eq!(
            open_read(&root, "missing").expect_err("missing").code,
            ErrorCode::FileNotFound
        );
        let (_, size, _) = open_read(&root, "inside-link").expect("a link inside the root is fine");
        assert_eq!(size, 5);

        assert_eq!(
            open_write(&root, "ok").expect_err("exists").code,
            ErrorCode::FileExists
        );
        assert_eq!(
            open_write(&root, "escape").expect_err("link").code,
            ErrorCode::FileExists
        );
        assert_eq!(
            open_write(&root, "slash/tmp/x")
                .expect_err("escape dir")
                .code,
            ErrorCode::AccessViolation
        );
        let (_, p) = open_write(&root, "new").expect("create");
        assert_eq!(p, root.join("new"));
    }

    /// Issue 18: a hard link inside the root to a file outside it is refused; a file linked
    /// twice inside the root is served.
    #[test]
    fn a_hard_link_to_a_file_outside_the_root_is_refused() {
        let dir = TempDir::new("hardlink");
        let root = dir.0.join("root");
        std::fs::create_dir(&root).expect("mkdir");
        let outside = dir.file("secret", b"s");
        std::fs::hard_link(&outside, root.join("linked")).expect("hard link");
        let e = open_read(&root, "linked").expect_err("a hard link out of the root");
        assert_eq!(e.code, ErrorCode::AccessViolation);
        assert!(e.reason.contains("hard links"), "{e}");
        let inside = dir.file("root/boot.img", b"img");
        std::fs::create_dir(root.join("pxe")).expect("mkdir");
        std::fs::hard_link(&inside, root.join("pxe/boot.img")).expect("hard link");
        let (_, size, _) = open_read(&root, "pxe/boot.img").expect("both links under the root");
        assert_eq!(size, 3);
    }

    #[test]
    fn device_node_by_absolute_path_is_refused() {
        // /dev lies outside any sane root; a root of "/" still refuses the device node.
        let e = open_read(Path::new("/"), "/dev/null").expect_err("device");
        assert_eq!(e.code, ErrorCode::AccessViolation);
        assert!(e.reason.contains("not a regular file"), "{e}");
    }
}

//! Linux namespaces (namespaces(7)): unsharing, entering on the current thread, keeping them
//! alive by fd, uid/gid maps, the lab's PID-namespace init, mounts, and entering a host's
//! namespaces in a child before `exec`.
//!
//! Namespaces belong to a thread: [`setns`] changes only the calling thread, and
//! `/proc/thread-self/ns/*` (not `/proc/self/...`) names that thread's.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use crate::error::{Error, Result};

/// A kind of namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Network: interfaces, addresses, routes, sockets.
    Net,
    /// Mount table.
    Mnt,
    /// Host name.
    Uts,
    /// User and group ids and capabilities.
    User,
    /// Process ids.
    Pid,
}

impl Kind {
    /// The name under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            Kind::Net => "net",
            Kind::Mnt => "mnt",
            Kind::Uts => "uts",
            Kind::User => "user",
            Kind::Pid => "pid",
        }
    }

    /// The `CLONE_NEW*` flag.
    pub fn flag(self) -> CloneFlags {
        match self {
            Kind::Net => CloneFlags::CLONE_NEWNET,
            Kind::Mnt => CloneFlags::CLONE_NEWNS,
            Kind::Uts => CloneFlags::CLONE_NEWUTS,
            Kind::User => CloneFlags::CLONE_NEWUSER,
            Kind::Pid => CloneFlags::CLONE_NEWPID,
        }
    }
}

fn nix_err(op: &'static str, what: impl Into<String>, e: nix::Error) -> Error {
    Error::new(op, what, std::io::Error::from_raw_os_error(e as i32))
}

/// Moves the calling thread (or process, for `User`, which needs a single-threaded caller) into
/// new namespaces of the given kinds. A mount namespace also unshares the thread's fs info
/// (`CLONE_FS`), so it works on one thread of a threaded process.
pub fn unshare(kinds: &[Kind]) -> Result<()> {
    let mut flags = CloneFlags::empty();
    for k in kinds {
        flags |= k.flag();
    }
    if flags.contains(CloneFlags::CLONE_NEWNS) {
        flags |= CloneFlags::CLONE_FS;
    }
    nix::sched::unshare(flags).map_err(|e| nix_err("unshare", format!("{kinds:?}"), e))
}

/// Opens the calling thread's namespace of `kind` (`/proc/thread-self/ns/<kind>`); holding the
/// fd keeps the namespace alive, with no bind mount that could outlive a crash.
pub fn open_current(kind: Kind) -> Result<OwnedFd> {
    let path = format!("/proc/thread-self/ns/{}", kind.proc_name());
    std::fs::File::open(&path)
        .map(OwnedFd::from)
        .map_err(|e| Error::new("open", path, e))
}

/// Moves the calling thread into the namespace `fd` refers to. Never call this on a thread you
/// do not own (a tokio worker): use a short-lived `std::thread`.
pub fn setns(fd: impl AsFd, kind: Kind) -> Result<()> {
    if kind == Kind::Mnt {
        // setns into a mount namespace needs an unshared fs struct.
        nix::sched::unshare(CloneFlags::CLONE_FS).map_err(|e| nix_err("unshare", "CLONE_FS", e))?;
    }
    nix::sched::setns(fd, kind.flag()).map_err(|e| nix_err("setns", kind.proc_name(), e))
}

/// Writes the maps of a fresh user namespace so that outer `uid`/`gid` is root inside it
/// (user_namespaces(7)); `setgroups` is denied first, as an unprivileged writer must.
pub fn write_id_maps(uid: u32, gid: u32) -> Result<()> {
    let w =
        |path: &str, s: String| std::fs::write(path, s).map_err(|e| Error::new("write", path, e));
    w("/proc/self/setgroups", "deny".into())?;
    w("/proc/self/uid_map", format!("0 {uid} 1\n"))?;
    w("/proc/self/gid_map", format!("0 {gid} 1\n"))
}

/// Forks after `unshare(CLONE_NEWPID)` so that the caller continues as PID 1 of the new PID
/// namespace, with `PR_SET_PDEATHSIG` = `SIGKILL`: when the original process dies (even by
/// SIGKILL) the init dies, and the kernel kills every process of the namespace with it.
///
/// Returns only in the child. The original process forwards SIGINT, SIGTERM and SIGHUP to the
/// child, waits for it and exits with its status (128 + signal when it was killed). Must be
/// called while the process is single-threaded.
pub fn fork_namespace_init() -> Result<()> {
    let (alive_r, alive_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| nix_err("pipe2", "liveness pipe", e))?;
    let mut forwarded = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGCHLD,
    ] {
        forwarded.add(s);
    }
    // Block before fork so no signal is lost between fork and the wait loop; the child unblocks.
    forwarded
        .thread_block()
        .map_err(|e| nix_err("sigprocmask", "block", e))?;
    // SAFETY: the caller guarantees the process is single-threaded, so the child may run any
    // code, not only async-signal-safe functions.
    match unsafe { nix::unistd::fork() }.map_err(|e| nix_err("fork", "namespace init", e))? {
        ForkResult::Child => {
            drop(alive_w);
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
                .map_err(|e| nix_err("prctl", "PR_SET_PDEATHSIG", e))?;
            // If the parent died before the prctl, its end of the pipe is closed already.
            let mut pfd = libc::pollfd {
                fd: alive_r.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, count 1, no wait.
            let n = unsafe { libc::poll(&mut pfd, 1, 0) };
            if n > 0 && pfd.revents & (libc::POLLHUP | libc::POLLIN) != 0 {
                std::process::exit(137);
            }
            drop(alive_r);
            forwarded
                .thread_unblock()
                .map_err(|e| nix_err("sigprocmask", "unblock", e))?;
            Ok(())
        }
        ForkResult::Parent { child } => {
            drop(alive_r);
            let code = supervise(child, &forwarded);
            drop(alive_w);
            std::process::exit(code)
        }
    }
}

/// How long the namespace init has to end after a forwarded termination signal before it is
/// killed: an init ignores signals it has no handler for, so a lab that installed none would
/// otherwise never stop on Ctrl-C.
pub const INIT_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits up to `timeout` for one of the (blocked) signals in `set` (`sigtimedwait(2)`).
fn wait_signal(set: &SigSet, timeout: std::time::Duration) -> Option<Signal> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    let raw: &libc::sigset_t = set.as_ref();
    // SAFETY: `raw` and `ts` are valid for the call; a null siginfo pointer is allowed.
    let n = unsafe { libc::sigtimedwait(raw, std::ptr::null_mut(), &ts) };
    Signal::try_from(n).ok()
}

/// The original process's loop: forward termination signals (SIGKILL after
/// [`INIT_STOP_GRACE`] or a second signal), exit with the child's status.
fn supervise(child: Pid, set: &SigSet) -> i32 {
    let mut deadline: Option<std::time::Instant> = None;
    // Bounded by the child's life: it exits, or is killed once the deadline passes.
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(_) => return 1,
        }
        let now = std::time::Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
        }
        let wait = deadline.map_or(std::time::Duration::from_secs(1), |d| {
            d.saturating_duration_since(now)
                .max(std::time::Duration::from_millis(10))
        });
        match wait_signal(set, wait) {
            None | Some(Signal::SIGCHLD) => {}
            Some(_) if deadline.is_some() => {
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
            }
            Some(sig) => {
                let _ = nix::sys::signal::kill(child, sig);
                deadline = Some(now + INIT_STOP_GRACE);
            }
        }
    }
}

/// Makes every mount of the calling thread's mount namespace private (`MS_REC | MS_PRIVATE`),
/// so nothing mounted afterwards propagates to the host.
pub fn make_mounts_private() -> Result<()> {
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| nix_err("mount MS_PRIVATE", "/", e))
}

/// Mounts a fresh tmpfs (mode 0755) over `path`.
pub fn mount_tmpfs(path: &Path) -> Result<()> {
    nix::mount::mount(
        Some("tmpfs"),
        path,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )
    .map_err(|e| nix_err("mount tmpfs", path.display().to_string(), e))
}

/// Mounts a fresh procfs over `/proc`, showing the calling process's PID namespace.
pub fn mount_proc() -> Result<()> {
    nix::mount::mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| nix_err("mount proc", "/proc", e))
}

/// Bind-mounts `src` over `dst` (both must exist and be of the same type).
pub fn bind_mount(src: &Path, dst: &Path) -> Result<()> {
    nix::mount::mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(|e| {
        nix_err(
            "mount bind",
            format!("{} on {}", src.display(), dst.display()),
            e,
        )
    })
}

/// Unmounts `path` lazily (`MNT_DETACH`).
pub fn unmount(path: &Path) -> Result<()> {
    nix::mount::umount2(path, MntFlags::MNT_DETACH)
        .map_err(|e| nix_err("umount", path.display().to_string(), e))
}

/// Sets the host name of the calling thread's UTS namespace.
pub fn set_hostname(name: &str) -> Result<()> {
    nix::unistd::sethostname(name).map_err(|e| nix_err("sethostname", name, e))
}

/// The namespaces a child enters before `exec`, and its working directory there.
#[derive(Debug, Default)]
pub struct ChildNamespaces {
    /// Network namespace to enter.
    pub net: Option<OwnedFd>,
    /// UTS namespace to enter.
    pub uts: Option<OwnedFd>,
    /// Mount namespace to enter (entering it resets the working directory, so `cwd` is applied
    /// after it).
    pub mnt: Option<OwnedFd>,
    /// Working directory inside the namespaces.
    pub cwd: Option<std::path::PathBuf>,
}

/// Makes `cmd`'s child enter `ns` between `fork` and `exec` (net, then UTS, then mount, then
/// `chdir`). Only raw system calls run in the child, so this is safe in a threaded parent.
pub fn enter_in_child(cmd: &mut std::process::Command, ns: ChildNamespaces) -> Result<()> {
    let cwd = match &ns.cwd {
        Some(p) => Some(
            CString::new(OsStr::new(p.as_os_str()).as_bytes())
                .map_err(|e| Error::new("cwd", p.display().to_string(), e.into()))?,
        ),
        None => None,
    };
    let fds: Vec<(RawFd, libc::c_int)> = [
        (ns.net.as_ref(), libc::CLONE_NEWNET),
        (ns.uts.as_ref(), libc::CLONE_NEWUTS),
        (ns.mnt.as_ref(), libc::CLONE_NEWNS),
    ]
    .into_iter()
    .filter_map(|(fd, flag)| fd.map(|fd| (fd.as_raw_fd(), flag)))
    .collect();
    let keep = (ns.net, ns.uts, ns.mnt);
    let hook = move || -> std::io::Result<()> {
        // The fds must stay open until the child has entered them; `keep` lives in the closure.
        let _keep = &keep;
        for (fd, flag) in &fds {
            // SAFETY: setns(2) is a raw system call, async-signal-safe; `fd` is kept open by
            // `keep`, which the closure owns.
            if unsafe { libc::setns(*fd, *flag) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if let Some(dir) = &cwd {
            // SAFETY: chdir(2) with a NUL-terminated string made before fork.
            if unsafe { libc::chdir(dir.as_ptr()) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook only makes raw system calls (setns, chdir) on data prepared before
    // fork; it allocates nothing and takes no lock, as a child of a threaded parent requires.
    unsafe {
        cmd.pre_exec(hook);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_name_their_proc_files() {
        assert_eq!(Kind::Net.proc_name(), "net");
        assert_eq!(Kind::Mnt.flag(), CloneFlags::CLONE_NEWNS);
    }

    #[test]
    fn current_net_namespace_opens() {
        assert!(open_current(Kind::Net).is_ok());
    }
}

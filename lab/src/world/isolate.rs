//! Isolation of the lab process: before any thread exists, `bootlab` moves into namespaces of
//! its own so that the host's network and files are never seen or changed, and the kernel
//! reclaims everything the lab made when it exits, also on `kill -9`.
//!
//! - a user namespace when not root (our uid/gid mapped to 0, `setgroups` denied), so a user
//!   without sudo can run the lab;
//! - a network namespace (the lab's own loopback only; host and switch namespaces are made
//!   from here);
//! - a mount namespace with every mount private, a tmpfs over `/run`, and a fresh `/proc`;
//! - a PID namespace whose init is the lab itself (a fork): when the lab ends, every process it
//!   started is killed by the kernel, and `PR_SET_PDEATHSIG` ties the init to the original
//!   process so a SIGKILL of that process takes the whole world down.

use std::path::Path;

use bootlab_sys::ns::{self, Kind};

/// Why the lab could not isolate itself.
#[derive(Debug, thiserror::Error)]
pub enum IsolateError {
    /// A namespace step failed.
    #[error("isolating the lab: {step}: {source}")]
    Step {
        /// The step.
        step: &'static str,
        /// The error.
        #[source]
        source: bootlab_sys::Error,
    },
}

fn step<T>(step: &'static str, r: bootlab_sys::Result<T>) -> Result<T, IsolateError> {
    r.map_err(|source| IsolateError::Step { step, source })
}

/// Whether this process runs as root (no user namespace needed).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Moves the process into the lab's private world. Call from `main` before any thread or tokio
/// runtime exists; returns in the PID-namespace init (the original process only waits for it
/// and exits with its status).
pub fn enter() -> Result<(), IsolateError> {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let mut kinds = vec![Kind::Net, Kind::Mnt, Kind::Pid];
    if uid != 0 {
        kinds.insert(0, Kind::User);
    }
    step("unshare", ns::unshare(&kinds))?;
    if uid != 0 {
        step("uid/gid maps", ns::write_id_maps(uid, gid))?;
    }
    step("fork PID namespace init", ns::fork_namespace_init())?;
    step("private mounts", ns::make_mounts_private())?;
    // A fresh /proc shows our PID namespace; when the host's /proc cannot be replaced (some
    // container set-ups), the old one still serves /proc/thread-self and net sysctls.
    let _ = ns::mount_proc();
    step("tmpfs on /run", ns::mount_tmpfs(Path::new("/run")))?;
    step("loopback up", bootlab_sys::iface::set_up("lo", true))?;
    Ok(())
}

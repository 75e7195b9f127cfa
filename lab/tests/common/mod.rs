//! Helpers the namespace tests share (`hostile_storm`, `server_durability`): a guard that kills
//! the processes a test started, a namespace holder, and commands run inside it.

#![allow(dead_code, unreachable_pub)]

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Processes we started, killed by PID when the test ends however it ends.
pub struct Guard(pub Vec<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A process holding a fresh network namespace; returns it once the unshare has happened.
pub fn namespace_holder() -> Child {
    let mut child = Command::new("unshare")
        .args(["--net", "sleep", "600"])
        .spawn()
        .expect("unshare");
    let me = std::fs::read_link("/proc/self/ns/net").expect("own netns");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(ns) = std::fs::read_link(format!("/proc/{}/ns/net", child.id())) {
            if ns != me {
                return child;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("namespace holder {} never unshared", child.id());
}

pub fn in_ns(pid: u32, args: &[&str]) {
    let ns = format!("--net=/proc/{pid}/ns/net");
    let mut v = vec!["nsenter", ns.as_str()];
    v.extend_from_slice(args);
    sh(&v);
}

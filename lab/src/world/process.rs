//! Processes the lab runs inside a host: started by entering the host's namespaces in the child
//! before `exec`, stdout and stderr kept in `<run_dir>/<host>/<name>.stdout|.stderr` and offered
//! as lines to wait on, exit reported as an event, stopped with SIGTERM then SIGKILL.

use std::fs::File;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bootlab_sys::ns::ChildNamespaces;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{broadcast, watch};

/// What to run in a host.
#[derive(Debug, Clone, Default)]
pub struct ProcessSpec {
    /// Program and arguments; the program is looked up in `PATH` when it has no `/`.
    pub argv: Vec<String>,
    /// Environment added to (or overriding) the lab's.
    pub env: Vec<(String, String)>,
    /// Working directory inside the host (its private mounts apply).
    pub cwd: Option<PathBuf>,
    /// Role name: names the log files and the events. Unique per host.
    pub name: String,
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of a process's output, without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The stream.
    pub stream: Stream,
    /// The text (invalid UTF-8 replaced).
    pub text: String,
    /// When the lab read it.
    pub at: Instant,
}

/// Something that happened to a lab process, for the runner's event wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessEvent {
    /// A process ended.
    Exited {
        /// The host.
        host: String,
        /// The role name.
        name: String,
        /// Exit code, when it exited.
        code: Option<i32>,
        /// Signal, when it was killed.
        signal: Option<i32>,
        /// Whether the lab asked it to stop (`stop`/`kill`); `false` is an unexpected exit.
        requested: bool,
    },
}

/// Why a process could not be started or waited on.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The spec is unusable.
    #[error("process {name:?} on {host}: {why}")]
    BadSpec {
        /// The host.
        host: String,
        /// The role.
        name: String,
        /// Why.
        why: String,
    },
    /// A log file could not be created.
    #[error("process {name:?} on {host}: log {path}: {source}")]
    Log {
        /// The host.
        host: String,
        /// The role.
        name: String,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// `fork`/`exec` or entering the namespaces failed.
    #[error("process {name:?} on {host}: spawn {program}: {source}")]
    Spawn {
        /// The host.
        host: String,
        /// The role.
        name: String,
        /// The program.
        program: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Preparing the namespace hook failed.
    #[error(transparent)]
    Sys(#[from] bootlab_sys::Error),
    /// A wait ran out of time.
    #[error("process {name:?} on {host}: no {what} within {timeout:?}")]
    Timeout {
        /// The host.
        host: String,
        /// The role.
        name: String,
        /// What was awaited.
        what: String,
        /// The bound.
        timeout: Duration,
    },
    /// The process ended (its output closed) before what was awaited appeared.
    #[error("process {name:?} on {host}: ended before {what}")]
    Ended {
        /// The host.
        host: String,
        /// The role.
        name: String,
        /// What was awaited.
        what: String,
    },
}

#[derive(Debug)]
struct Shared {
    host: String,
    name: String,
    pid: u32,
    stdout: PathBuf,
    stderr: PathBuf,
    history: Mutex<Vec<LogLine>>,
    /// Lines seen so far, and whether both streams have closed.
    progress: watch::Sender<(usize, u8)>,
    lines: broadcast::Sender<LogLine>,
    exit: watch::Sender<Option<ExitStatus>>,
    requested: AtomicBool,
}

/// A process running in a lab host. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Process {
    inner: Arc<Shared>,
}

/// Starts `spec` in a host whose namespaces are in `ns`, logging under `log_dir`.
pub(crate) fn spawn(
    host: &str,
    spec: ProcessSpec,
    mut ns: ChildNamespaces,
    log_dir: &Path,
    events: broadcast::Sender<ProcessEvent>,
) -> Result<Process, ProcessError> {
    let bad = |why: &str| ProcessError::BadSpec {
        host: host.to_owned(),
        name: spec.name.clone(),
        why: why.to_owned(),
    };
    let program = spec.argv.first().ok_or_else(|| bad("empty argv"))?.clone();
    if spec.name.is_empty() || spec.name.contains('/') {
        return Err(bad("name must be non-empty without '/'"));
    }
    let open = |ext: &str| {
        let path = log_dir.join(format!("{}.{ext}", spec.name));
        File::create(&path)
            .map(|f| (f, path.clone()))
            .map_err(|source| ProcessError::Log {
                host: host.to_owned(),
                name: spec.name.clone(),
                path,
                source,
            })
    };
    let (out_file, stdout) = open("stdout")?;
    let (err_file, stderr) = open("stderr")?;

    let mut cmd = std::process::Command::new(&program);
    cmd.args(&spec.argv[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    ns.cwd = spec.cwd.clone().or(ns.cwd);
    bootlab_sys::ns::enter_in_child(&mut cmd, ns)?;
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| ProcessError::Spawn {
        host: host.to_owned(),
        name: spec.name.clone(),
        program: program.clone(),
        source,
    })?;
    let pid = child.id().unwrap_or(0);
    watch_orphans(pid);
    let (progress, _) = watch::channel((0usize, 0u8));
    let (lines, _) = broadcast::channel(1024);
    let (exit, _) = watch::channel(None);
    let inner = Arc::new(Shared {
        host: host.to_owned(),
        name: spec.name.clone(),
        pid,
        stdout,
        stderr,
        history: Mutex::new(Vec::new()),
        progress,
        lines,
        exit,
        requested: AtomicBool::new(false),
    });
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump(inner.clone(), Stream::Stdout, out, out_file));
    } else {
        inner.progress.send_modify(|p| p.1 += 1);
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(inner.clone(), Stream::Stderr, err, err_file));
    } else {
        inner.progress.send_modify(|p| p.1 += 1);
    }
    let waiter = inner.clone();
    tokio::spawn(async move {
        let status = match child.wait().await {
            Ok(s) => s,
            // The child can no longer be waited on: report it as killed.
            Err(_) => ExitStatus::from_raw(libc::SIGKILL),
        };
        // `send_replace`, not `send`: with nobody subscribed at this moment `send` drops the
        // value, and a later `wait()` would never see the exit.
        waiter.exit.send_replace(Some(status));
        let _ = events.send(ProcessEvent::Exited {
            host: waiter.host.clone(),
            name: waiter.name.clone(),
            code: status.code(),
            signal: status.signal(),
            requested: waiter.requested.load(Ordering::SeqCst),
        });
    });
    Ok(Process { inner })
}

/// Process groups the lab started (their leaders' pids).
static GROUPS: Mutex<std::collections::BTreeSet<u32>> =
    Mutex::new(std::collections::BTreeSet::new());
static REAPER: std::sync::Once = std::sync::Once::new();

/// Records the group of a new process and, once per lab, starts the orphan reaper.
///
/// The lab is the init of its PID namespace, so what a role forks and leaves behind (a daemon
/// that backgrounds itself) becomes the lab's child when its parent exits. Those orphans are
/// reaped here; the roles themselves are reaped by tokio, and children of anything else in the
/// lab process are left alone (only members of the lab's process groups are reaped).
fn watch_orphans(pid: u32) {
    if let Ok(mut g) = GROUPS.lock() {
        g.insert(pid);
    }
    REAPER.call_once(|| {
        if let Ok(mut sigchld) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
        {
            tokio::spawn(async move {
                // Runs as long as the runtime.
                while sigchld.recv().await.is_some() {
                    reap_orphans();
                }
            });
        }
    });
}

/// Reaps exited orphans of the lab's process groups (`/proc/self/task/*/children`).
fn reap_orphans() {
    let groups = match GROUPS.lock() {
        Ok(g) => g.clone(),
        Err(_) => return,
    };
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for t in tasks.flatten() {
        let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        for pid in children
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            if groups.contains(&pid) {
                continue; // a role: tokio reaps it
            }
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Fields after the command name: state, ppid, pgrp, ...
            let mut rest = stat
                .rsplit_once(')')
                .map(|(_, r)| r)
                .unwrap_or("")
                .split_whitespace();
            let (state, pgrp) = (rest.next(), rest.nth(1).and_then(|g| g.parse::<u32>().ok()));
            if state == Some("Z") && pgrp.is_some_and(|g| groups.contains(&g)) {
                let _ = nix::sys::wait::waitpid(
                    Pid::from_raw(pid as i32),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                );
            }
        }
    }
}

/// Copies one output stream to its log file, the history and the line broadcast.
async fn pump(inner: Arc<Shared>, stream: Stream, src: impl AsyncRead + Unpin, mut file: File) {
    let mut reader = BufReader::new(src);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let _ = file.write_all(&buf);
        let text = String::from_utf8_lossy(&buf)
            .trim_end_matches(['\n', '\r'])
            .to_owned();
        let line = LogLine {
            stream,
            text,
            at: Instant::now(),
        };
        let n = match inner.history.lock() {
            Ok(mut h) => {
                h.push(line.clone());
                h.len()
            }
            Err(_) => break,
        };
        let _ = inner.lines.send(line);
        inner.progress.send_modify(|p| p.0 = n);
    }
    let _ = file.flush();
    inner.progress.send_modify(|p| p.1 += 1);
}

impl Process {
    /// The process id (in the lab's PID namespace).
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// The host it runs in.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// Its role name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The stdout log file.
    pub fn stdout_path(&self) -> &Path {
        &self.inner.stdout
    }

    /// The stderr log file.
    pub fn stderr_path(&self) -> &Path {
        &self.inner.stderr
    }

    /// A stream of the lines printed from now on (both streams).
    pub fn lines(&self) -> broadcast::Receiver<LogLine> {
        self.inner.lines.subscribe()
    }

    /// Every line printed so far.
    pub fn history(&self) -> Vec<LogLine> {
        self.inner
            .history
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// Waits until a line (already printed or future) satisfies `pred`, and returns it. Fails
    /// after `timeout` or when the process's output has closed without such a line.
    pub async fn wait_for_line(
        &self,
        mut pred: impl FnMut(&LogLine) -> bool,
        timeout: Duration,
    ) -> Result<LogLine, ProcessError> {
        let what = "matching line".to_owned();
        let mut progress = self.inner.progress.subscribe();
        let mut checked = 0;
        let work = async {
            loop {
                let (_, closed) = *progress.borrow_and_update();
                if let Ok(h) = self.inner.history.lock() {
                    if let Some(l) = h.iter().skip(checked).find(|l| pred(l)) {
                        return Ok(l.clone());
                    }
                    checked = h.len();
                }
                if closed >= 2 {
                    return Err(ProcessError::Ended {
                        host: self.inner.host.clone(),
                        name: self.inner.name.clone(),
                        what: what.clone(),
                    });
                }
                if progress.changed().await.is_err() {
                    return Err(ProcessError::Ended {
                        host: self.inner.host.clone(),
                        name: self.inner.name.clone(),
                        what: what.clone(),
                    });
                }
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(ProcessError::Timeout {
                host: self.inner.host.clone(),
                name: self.inner.name.clone(),
                what: what.clone(),
                timeout,
            }),
        }
    }

    /// Waits until one of our daemons prints its `ready` event on stdout
    /// (`bootlab_net::events`).
    pub async fn wait_for_ready_event(&self, timeout: Duration) -> Result<LogLine, ProcessError> {
        self.wait_for_line(
            |l| {
                l.stream == Stream::Stdout
                    && bootlab_net::events::parse(&l.text).is_some_and(|(n, _)| n == "ready")
            },
            timeout,
        )
        .await
    }

    /// Waits until a line contains `needle`.
    pub async fn wait_for_text(
        &self,
        needle: &str,
        timeout: Duration,
    ) -> Result<LogLine, ProcessError> {
        self.wait_for_line(|l| l.text.contains(needle), timeout)
            .await
    }

    /// The exit status, if it has ended.
    pub fn try_status(&self) -> Option<ExitStatus> {
        *self.inner.exit.borrow()
    }

    /// Waits for the process to end.
    pub async fn wait(&self) -> ExitStatus {
        let mut rx = self.inner.exit.subscribe();
        // Bounded: the waiter task always sends a status before the channel closes.
        loop {
            if let Some(s) = *rx.borrow_and_update() {
                return s;
            }
            if rx.changed().await.is_err() {
                return (*rx.borrow()).unwrap_or(ExitStatus::from_raw(libc::SIGKILL));
            }
        }
    }

    /// Waits up to `timeout` for the process to end.
    pub async fn wait_timeout(&self, timeout: Duration) -> Result<ExitStatus, ProcessError> {
        tokio::time::timeout(timeout, self.wait())
            .await
            .map_err(|_| ProcessError::Timeout {
                host: self.inner.host.clone(),
                name: self.inner.name.clone(),
                what: "exit".into(),
                timeout,
            })
    }

    /// Sends `signal` to the process's group (it leads its own group; children it forked,
    /// e.g. a daemon that backgrounds itself, stay in it).
    pub fn signal(&self, signal: Signal) {
        if self.inner.pid > 0 {
            let _ = killpg(Pid::from_raw(self.inner.pid as i32), signal);
        }
    }

    /// Whether any process of its group is still alive.
    fn group_alive(&self) -> bool {
        self.inner.pid > 0 && killpg(Pid::from_raw(self.inner.pid as i32), None).is_ok()
    }

    /// Kills the process group with SIGKILL at once.
    pub fn kill(&self) {
        self.inner.requested.store(true, Ordering::SeqCst);
        self.signal(Signal::SIGKILL);
    }

    /// Stops the process and its group: SIGTERM, then SIGKILL to whatever is left after
    /// `grace`.
    pub async fn stop(&self, grace: Duration) -> ExitStatus {
        self.inner.requested.store(true, Ordering::SeqCst);
        self.signal(Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + grace;
        let status = match tokio::time::timeout_at(deadline, self.wait()).await {
            Ok(s) => s,
            Err(_) => {
                self.signal(Signal::SIGKILL);
                self.wait().await
            }
        };
        // The leader is gone; give the rest of its group (reaped by the PID-namespace init) the
        // same bound. Bounded by the deadline.
        while self.group_alive() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if self.group_alive() {
            self.signal(Signal::SIGKILL);
        }
        status
    }
}

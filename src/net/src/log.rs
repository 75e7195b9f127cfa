//! Logging set-up shared by the daemons: `tracing` to stderr, filtered by `RUST_LOG`
//! (default `info`), coloured only on a terminal. Events for machines go to stdout (see
//! [`crate::events`]).
//!
//! Neither stream may stall a daemon: a reader that stops draining a pipe would otherwise block
//! the protocol loop on a `write` and, with it, SIGTERM handling. Both go through a [`Sink`]:
//! a line is written at once when the stream can take it without blocking and nothing older is
//! waiting, else queued for a writer thread; past [`QUEUE_BYTES`] queued, lines are dropped and
//! counted, and the count is written out once the stream drains. Per-packet messages are also
//! rate-limited at their source with a [`Limiter`].

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Installs the stderr subscriber; harmless if one is already installed.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour only on a terminal: the lab keeps stderr in per-role log files.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| SinkWriter(Stream::Stderr))
        .with_target(false)
        .try_init();
}

/// Most bytes a [`Sink`] queues while its stream does not drain; later lines are dropped.
pub const QUEUE_BYTES: usize = 1 << 20;

/// Lines up to this size are written directly when the stream polls writable: a pipe then has
/// room for at least one page, and writes up to `PIPE_BUF` are atomic (pipe(7)).
const DIRECT_MAX: usize = 4096;

/// A standard stream a [`Sink`] writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (events).
    Stdout,
    /// Standard error (logs).
    Stderr,
}

impl Stream {
    fn write_line(self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line)?;
                out.flush()
            }
            Stream::Stderr => std::io::stderr().lock().write_all(line),
        }
    }

    /// Whether a write of up to [`DIRECT_MAX`] bytes would not block now.
    fn writable(self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let ready = |fd: std::os::fd::BorrowedFd<'_>| {
            let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
            matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1))
                && fds[0]
                    .revents()
                    .is_some_and(|r| r.contains(PollFlags::POLLOUT))
        };
        match self {
            Stream::Stdout => ready(std::io::stdout().as_fd()),
            Stream::Stderr => ready(std::io::stderr().as_fd()),
        }
    }
}

#[derive(Debug, Default)]
struct Queue {
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    /// Lines taken by the writer thread and not yet written.
    writing: usize,
    writer_started: bool,
}

/// A non-blocking, lossy, line-ordered writer to a standard stream.
#[derive(Debug)]
pub struct Sink {
    stream: Stream,
    queue: Mutex<Queue>,
    wake: Condvar,
    idle: Condvar,
    dropped: AtomicU64,
}

impl Sink {
    /// The process-wide sink of `stream`.
    pub fn of(stream: Stream) -> &'static Sink {
        static OUT: OnceLock<Sink> = OnceLock::new();
        static ERR: OnceLock<Sink> = OnceLock::new();
        let cell = match stream {
            Stream::Stdout => &OUT,
            Stream::Stderr => &ERR,
        };
        cell.get_or_init(|| Sink {
            stream,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            idle: Condvar::new(),
            dropped: AtomicU64::new(0),
        })
    }

    /// Lines dropped so far because the stream did not drain.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes `line` (with its newline) without ever blocking on the stream.
    pub fn send(&'static self, line: &[u8]) {
        let Ok(mut q) = self.queue.lock() else {
            return;
        };
        if q.lines.is_empty()
            && q.writing == 0
            && line.len() <= DIRECT_MAX
            && self.stream.writable()
        {
            // Nothing older is waiting: write in the caller, holding the queue so order holds.
            // A closed stream must not take the daemon down: these lines are advisory.
            let _ = self.stream.write_line(line);
            return;
        }
        if q.bytes + line.len() > QUEUE_BYTES {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        q.bytes += line.len();
        q.lines.push_back(line.to_vec());
        if !q.writer_started {
            q.writer_started = true;
            let spawned = std::thread::Builder::new()
                .name("bootlab-sink".into())
                .spawn(move || self.writer());
            if spawned.is_err() {
                q.writer_started = false;
            }
        }
        self.wake.notify_one();
    }

    fn writer(&'static self) {
        loop {
            let line = {
                let Ok(mut q) = self.queue.lock() else { return };
                loop {
                    if let Some(l) = q.lines.pop_front() {
                        q.bytes -= l.len();
                        q.writing += 1;
                        break l;
                    }
                    self.idle.notify_all();
                    q = match self.wake.wait(q) {
                        Ok(q) => q,
                        Err(_) => return,
                    };
                }
            };
            // Blocks on a stream nobody drains, but only this thread.
            let _ = self.stream.write_line(&line);
            let dropped = self.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                let note = match self.stream {
                    Stream::Stdout => {
                        format!("{{\"event\":\"events-dropped\",\"count\":{dropped}}}\n")
                    }
                    Stream::Stderr => {
                        format!("{dropped} log lines dropped: stderr was not drained\n")
                    }
                };
                let _ = self.stream.write_line(note.as_bytes());
            }
            if let Ok(mut q) = self.queue.lock() {
                q.writing -= 1;
            }
        }
    }

    /// Waits until every queued line is written, at most `timeout`; whether it got there.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let Ok(mut q) = self.queue.lock() else {
            return false;
        };
        while !q.lines.is_empty() || q.writing > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = match self
                .idle
                .wait_timeout(q, left.min(Duration::from_millis(50)))
            {
                Ok((q, _)) => q,
                Err(_) => return false,
            };
        }
        true
    }
}

/// Flushes both standard streams' sinks, waiting at most `timeout` for each (at exit).
pub fn flush(timeout: Duration) {
    Sink::of(Stream::Stdout).flush(timeout);
    Sink::of(Stream::Stderr).flush(timeout);
}

/// The `tracing` writer: each formatted event is one [`Sink::send`].
struct SinkWriter(Stream);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Sink::of(self.0).send(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A per-key rate limit for messages caused by the network (one log line or event per packet
/// would let any sender fill the disk): at most `burst` per key in each `period`; what it held
/// back is counted and handed to the next message it lets through.
#[derive(Debug, Clone)]
pub struct Limiter {
    burst: u32,
    period: Duration,
    keys: HashMap<&'static str, Window>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Duration,
    used: u32,
    suppressed: u64,
}

impl Default for Limiter {
    /// 10 messages per key per second.
    fn default() -> Self {
        Self::new(10, Duration::from_secs(1))
    }
}

impl Limiter {
    /// At most `burst` messages per key per `period`.
    pub fn new(burst: u32, period: Duration) -> Self {
        Self {
            burst,
            period,
            keys: HashMap::new(),
        }
    }

    /// Whether a message of `key` may go out at `now` (any monotonic time); `Some(n)` with the
    /// number held back since the last one that went out, `None` to hold this one back too.
    pub fn allow(&mut self, key: &'static str, now: Duration) -> Option<u64> {
        let w = self.keys.entry(key).or_insert(Window {
            start: now,
            used: 0,
            suppressed: 0,
        });
        if now.saturating_sub(w.start) >= self.period || now < w.start {
            w.start = now;
            w.used = 0;
        }
        if w.used < self.burst {
            w.used += 1;
            Some(std::mem::take(&mut w.suppressed))
        } else {
            w.suppressed += 1;
            None
        }
    }

    /// Messages held back and not yet reported, over all keys.
    pub fn suppressed(&self) -> u64 {
        self.keys.values().map(|w| w.suppressed).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_lets_a_burst_through_then_counts_what_it_holds_back() {
        let mut l = Limiter::new(3, Duration::from_secs(1));
        let t = Duration::from_secs(100);
        assert_eq!(l.allow("malformed", t), Some(0));
        assert_eq!(l.allow("malformed", t), Some(0));
        assert_eq!(l.allow("malformed", t), Some(0));
        for _ in 0..1000 {
            assert_eq!(l.allow("malformed", t), None);
        }
        // Another key has its own budget.
        assert_eq!(l.allow("short", t), Some(0));
        assert_eq!(l.suppressed(), 1000);
        assert_eq!(l.allow("malformed", t + Duration::from_secs(1)), Some(1000));
        assert_eq!(l.suppressed(), 0);
    }
}

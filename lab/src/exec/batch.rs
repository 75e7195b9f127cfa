//! The one batch scheduler behind `bootlab run`, `bootlab matrix` and anything later: it enters
//! the lab's isolation, runs scenario jobs a few at a time (each in its own world), prints
//! progress, and turns SIGINT/SIGTERM into an orderly stop.
//!
//! On the first signal every running scenario is told to stop (its roles are ended and its
//! captures written, see [`crate::exec::runner::run`]); jobs not yet started are skipped; after
//! [`STOP_GRACE`] the batch returns whatever has finished. The lab is PID 1 of its PID namespace,
//! so when the command exits every process it started goes with it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::exec::runner::{self, Options};
use crate::plan::scenario::Scenario;
use crate::report::ScenarioResult;

/// How long running scenarios have, after a signal, to stop their roles and write their captures.
pub const STOP_GRACE: Duration = Duration::from_millis(1500);

/// One scenario run to do.
#[derive(Debug, Clone)]
pub struct Job {
    /// The scenario.
    pub scenario: Arc<Scenario>,
    /// How to run it (implementations, output directory...).
    pub options: Options,
    /// Repetition number, 1-based.
    pub repetition: u32,
    /// Shown after the scenario name in progress lines (e.g. `[dhcp-server=dnsmasq]`).
    pub tag: String,
}

/// A signal that tells running scenarios to stop; cloned into every job's [`Options`].
#[derive(Debug, Clone)]
pub struct Interrupt(watch::Receiver<bool>);

impl Default for Interrupt {
    /// An interrupt that never fires.
    fn default() -> Self {
        let (tx, rx) = watch::channel(false);
        // The receiver sees the last value once the sender is gone: still `false`.
        drop(tx);
        Interrupt(rx)
    }
}

impl Interrupt {
    /// Whether the stop was requested.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when the stop is requested; never, for [`Interrupt::default`].
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|v| *v).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What a batch produced.
#[derive(Debug)]
pub struct Outcome {
    /// One entry per job, in job order: its result, or `None` when a signal came before it
    /// started (interrupted runs have a result with verdict `interrupted`).
    pub results: Vec<Option<ScenarioResult>>,
    /// Whether a signal stopped the batch; the command should exit with status 130.
    pub interrupted: bool,
}

/// Enters the lab's isolation, then runs `jobs`, `parallel` at once. Call from `main` before any
/// thread exists (see [`crate::world::isolate::enter`]).
pub fn run(jobs: Vec<Job>, parallel: usize) -> anyhow::Result<Outcome> {
    crate::world::isolate::enter()?;
    let parallel = parallel.max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4 + 2 * parallel)
        .enable_all()
        .build()?;
    Ok(rt.block_on(run_jobs(jobs, parallel)))
}

async fn run_jobs(jobs: Vec<Job>, parallel: usize) -> Outcome {
    let (stop_tx, stop_rx) = watch::channel(false);
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let total = jobs.len();
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for mut job in jobs {
        job.options.interrupt = Interrupt(stop_rx.clone());
        let (sem, done) = (sem.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await;
            if job.options.interrupt.is_set() {
                return None;
            }
            let r = runner::run(&job.scenario, &job.options, job.repetition).await;
            let n = done.fetch_add(1, Ordering::SeqCst) + 1;
            let tag = if job.tag.is_empty() {
                String::new()
            } else {
                format!(" {}", job.tag)
            };
            eprintln!(
                "[{n}/{total}] {} {}{tag} ({:.1}s)",
                r.verdict.word(),
                r.scenario,
                r.duration.as_secs_f64()
            );
            Some(r)
        }));
    }
    let mut results: Vec<Option<ScenarioResult>> = (0..tasks.len()).map(|_| None).collect();
    let mut pending: futures::stream::FuturesUnordered<_> = tasks
        .into_iter()
        .enumerate()
        .map(|(i, t)| async move { (i, t.await) })
        .collect();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut interrupted = false;
    use futures::StreamExt;
    loop {
        tokio::select! {
            next = pending.next() => match next {
                Some((i, Ok(r))) => results[i] = r,
                Some((_, Err(_))) => {}
                None => break,
            },
            _ = tokio::signal::ctrl_c(), if !interrupted => interrupted = true,
            _ = async {
                match term.as_mut() {
                    Some(t) => { t.recv().await; }
                    None => std::future::pending().await,
                }
            }, if !interrupted => interrupted = true,
        }
        if interrupted && !*stop_tx.borrow() {
            eprintln!(
                "bootlab: interrupted; stopping the runs in progress (captures so far are kept)"
            );
            let _ = stop_tx.send(true);
            // Give the running scenarios their grace, then leave with what finished.
            let deadline = tokio::time::sleep(STOP_GRACE);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    next = pending.next() => match next {
                        Some((i, Ok(r))) => results[i] = r,
                        Some((_, Err(_))) => {}
                        None => break,
                    },
                    _ = &mut deadline => break,
                }
            }
            break;
        }
    }
    Outcome {
        results,
        interrupted,
    }
}

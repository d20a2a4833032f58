//! The worker pool inside `kiln serve`: claiming, running with a heartbeat, recording the
//! outcome, giving up on jobs interrupted too often, and a shutdown that never hangs.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::handler::{Handlers, JobError, JobHandler, Outcome};
use super::run::{JobRun, Lease, MAX_PHASE_LEN, Stage};
use crate::app_state::AppState;
use crate::config::Config;
use crate::db::jobs::{self as queries, ClaimParams, Finish, JobState};
use crate::db::{DbPool, is_unique_violation};

/// How the workers run. [`Options::from_config`] for `kiln serve`; tests shorten the times.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker tasks, each running one job at a time (`KILN_JOB_WORKERS`); 0 runs none.
    pub workers: usize,
    /// Running jobs per node at most (one SSH connection multiplexes them).
    pub per_node: u32,
    /// How long a claim holds a job without a heartbeat (renewed every third of it). After a
    /// crash, the job is resumed this long after its last heartbeat at the latest.
    pub lease: Duration,
    /// How often an idle worker looks for jobs it was not woken for (enqueued by another
    /// process, due by `run_after`, or left by a dead worker), and how often stale jobs are
    /// swept.
    pub poll_interval: Duration,
    /// Runs a job may be interrupted before it is failed ("gave up after N interrupted runs").
    pub max_attempts: u32,
    /// How long a shutdown lets running jobs go on (counted from the stop signal) before
    /// dropping them.
    pub shutdown_deadline: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 4,
            per_node: 2,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(2),
            max_attempts: 5,
            shutdown_deadline: Duration::from_secs(20),
        }
    }
}

impl Options {
    /// The configured worker count and shutdown grace, with the default times.
    pub fn from_config(config: &Config) -> Self {
        Options {
            workers: config.job_workers,
            shutdown_deadline: config.shutdown_grace,
            ..Options::default()
        }
    }

    fn heartbeat_every(&self) -> Duration {
        self.lease / 3
    }

    fn claim_params<'a>(&self, owner: &'a str, kinds: &'a [String]) -> ClaimParams<'a> {
        ClaimParams {
            owner,
            lease_secs: self.lease.as_secs_f64(),
            per_node: i32::try_from(self.per_node).unwrap_or(i32::MAX),
            kinds,
            max_attempts: i32::try_from(self.max_attempts).unwrap_or(i32::MAX),
        }
    }
}

/// After the shutdown deadline, how long dropped jobs get to release their leases.
const ABORT_GRACE: Duration = Duration::from_secs(2);
/// How often a claim is tried again after two workers took the same place on a node.
const CLAIM_TRIES: usize = 3;
/// The longest a recorded failure message is (the rest is cut).
const MAX_ERROR_LEN: usize = 4000;

/// A fresh lease owner token: the process id (to tell processes apart in the table) and 128
/// random bits.
fn lease_owner() -> anyhow::Result<String> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(format!("{}:{}", std::process::id(), hex::encode(bytes)))
}

/// Claims the next job one of `handlers` runs, under a new lease; `None` when nothing is
/// claimable. Nothing renews the lease: [`run_next`] and the workers do. Public for tests and
/// tools that drive jobs by hand.
pub async fn claim(
    db: &DbPool,
    handlers: &Handlers,
    options: &Options,
) -> anyhow::Result<Option<JobRun>> {
    // No sender: the stage stays `Running` for this claim's lease.
    let (_stage_tx, stage) = watch::channel(Stage::Running);
    claim_with(db, &handlers.kinds(), options, stage).await
}

async fn claim_with(
    db: &DbPool,
    kinds: &[String],
    options: &Options,
    stage: watch::Receiver<Stage>,
) -> anyhow::Result<Option<JobRun>> {
    let mut conn = db.get().await?;
    for _ in 0..CLAIM_TRIES {
        let owner = lease_owner()?;
        let asked = Instant::now();
        match queries::claim(&mut conn, options.claim_params(&owner, kinds)).await {
            Ok(Some(claimed)) => {
                let lease = Lease::new(
                    claimed.id,
                    owner,
                    db.clone(),
                    options.lease.as_secs_f64(),
                    stage,
                );
                return Ok(Some(JobRun::new(claimed, lease, asked)));
            }
            Ok(None) => return Ok(None),
            // Another worker took the same free place on the node: look again.
            Err(e) if is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// Claims one job and runs it to its end here, with a heartbeat; `None` when nothing is
/// claimable. For tests and tools ("run what is queued").
pub async fn run_next(
    db: &DbPool,
    handlers: &Handlers,
    options: &Options,
) -> anyhow::Result<Option<(i64, Outcome)>> {
    let (_stage_tx, stage) = watch::channel(Stage::Running);
    let Some(run) = claim_with(db, &handlers.kinds(), options, stage.clone()).await? else {
        return Ok(None);
    };
    let id = run.id();
    let Some(handler) = handlers.get(run.kind()) else {
        return Err(anyhow::anyhow!("job {id}: no handler for its kind"));
    };
    Ok(Some((id, execute(run, handler, options, stage).await)))
}

/// How the race between a handler and its watchers ended.
enum Ended {
    /// The handler returned (or panicked: `Err`).
    Returned(std::thread::Result<Result<(), JobError>>),
    /// The heartbeat found the lease taken over.
    Lost,
    /// The heartbeat could not renew the lease in time: it may be expired already.
    Unrenewed,
    /// The shutdown deadline passed.
    Aborted,
}

/// Runs a claimed job with its heartbeat and records how it ended (through the lease).
async fn execute(
    mut run: JobRun,
    handler: Arc<dyn JobHandler>,
    options: &Options,
    mut stage: watch::Receiver<Stage>,
) -> Outcome {
    let span = tracing::info_span!(
        "job",
        job.id = run.id(),
        job.kind = %run.kind(),
        job.attempts = run.attempts(),
    );
    async move {
        let started = Instant::now();
        let lease = run.lease().clone();
        let claimed_at = run.claimed_at();
        if run.resumed() {
            tracing::warn!(job.phase = ?run.start_phase(), "job resumed after an interrupted run");
        }
        let ended = {
            let work = AssertUnwindSafe(handler.run(&mut run)).catch_unwind();
            let abort = async {
                if stage.wait_for(|s| *s == Stage::Abort).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                biased;
                result = work => Ended::Returned(result),
                lost = heartbeat(&lease, options, claimed_at) => {
                    if lost { Ended::Lost } else { Ended::Unrenewed }
                }
                () = abort => Ended::Aborted,
            }
        };
        let outcome = record(&run, &lease, ended).await;
        tracing::info!(
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome = ?outcome,
            "job run ended"
        );
        outcome
    }
    .instrument(span)
    .await
}

/// Renews the lease every third of its length until it is lost (`true`) or could not be
/// renewed in time (`false`: two renewals in a row failed; it may expire before the next).
async fn heartbeat(lease: &Lease, options: &Options, claimed_at: Instant) -> bool {
    let every = options.heartbeat_every();
    let mut valid_until = claimed_at + options.lease;
    loop {
        tokio::time::sleep(every).await;
        let sent = Instant::now();
        match tokio::time::timeout(every, lease.renew()).await {
            Ok(Ok(())) => valid_until = sent + options.lease,
            Ok(Err(JobError::LostLease(_))) => return true,
            Ok(Err(e)) => tracing::warn!(error = %e, "renewing the job's lease failed"),
            Err(_) => tracing::warn!("renewing the job's lease timed out"),
        }
        if Instant::now() + every >= valid_until {
            return false;
        }
    }
}

/// Writes the end of the run through the lease and says what happened.
async fn record(run: &JobRun, lease: &Lease, ended: Ended) -> Outcome {
    let current = run.phase().map(str::to_owned);
    let result = match ended {
        Ended::Returned(Ok(result)) => result,
        Ended::Returned(Err(panic)) => Err(JobError::Internal(format!(
            "the handler panicked: {}",
            panic_message(panic.as_ref())
        ))),
        Ended::Lost => {
            tracing::warn!("job lease lost: another worker holds the job; this run stopped");
            return Outcome::LostLease;
        }
        Ended::Unrenewed => {
            tracing::error!("job lease could not be renewed; this run stopped");
            return Outcome::Interrupted;
        }
        Ended::Aborted => {
            tracing::warn!("job still running at the shutdown deadline; stopped, to be resumed");
            release(lease).await;
            return Outcome::Interrupted;
        }
    };
    let (end, outcome) = match result {
        Ok(()) => (
            Finish {
                state: JobState::Succeeded,
                phase: None,
                error: None,
            },
            Outcome::Succeeded,
        ),
        Err(JobError::Failed { phase, message }) => {
            let phase = phase
                .filter(|p| !p.is_empty() && p.chars().count() <= MAX_PHASE_LEN)
                .or(current);
            let message = truncate(message, MAX_ERROR_LEN);
            tracing::warn!(job.phase = ?phase, "job failed: {message}");
            return finish_failed(lease, phase, message).await;
        }
        Err(JobError::Cancelled) => (
            Finish {
                state: JobState::Cancelled,
                phase: None,
                error: None,
            },
            Outcome::Cancelled,
        ),
        Err(JobError::LostLease(_)) => {
            tracing::warn!("job lease lost: another worker holds the job; this run stopped");
            return Outcome::LostLease;
        }
        Err(JobError::Interrupted(detail)) => {
            tracing::warn!(job.phase = ?current, "job interrupted, to be resumed: {detail}");
            if lease.stopping() {
                release(lease).await;
            }
            return Outcome::Interrupted;
        }
        Err(JobError::Internal(detail)) => {
            tracing::error!(job.phase = ?current, "job failed with an internal error: {detail}");
            return finish_failed(lease, current, "internal error".to_owned()).await;
        }
    };
    finish(lease, end, outcome).await
}

async fn finish_failed(lease: &Lease, phase: Option<String>, message: String) -> Outcome {
    let end = Finish {
        state: JobState::Failed,
        phase: phase.as_deref(),
        error: Some(&message),
    };
    let outcome = Outcome::Failed {
        phase: phase.clone(),
        message: message.clone(),
    };
    finish(lease, end, outcome).await
}

/// The last write of a run, tried three times while the database is unavailable; when it
/// cannot be written the job is left to be resumed (every phase is safe to repeat).
async fn finish(lease: &Lease, end: Finish<'_>, outcome: Outcome) -> Outcome {
    let mut pause = Duration::from_millis(200);
    for attempt in 1..=3 {
        match lease.finish(end).await {
            Ok(()) => return outcome,
            Err(JobError::LostLease(_)) => {
                tracing::warn!("job ended, but another worker holds it now; not recorded");
                return Outcome::LostLease;
            }
            Err(JobError::Interrupted(e)) if attempt < 3 => {
                tracing::warn!(error = %e, "recording the job's end failed; trying again");
                tokio::time::sleep(pause).await;
                pause *= 4;
            }
            Err(e) => {
                tracing::error!(error = %e, state = %end.state, "recording the job's end failed; it will be resumed");
                return Outcome::Interrupted;
            }
        }
    }
    Outcome::Interrupted
}

/// Lets the lease expire now so the next claim resumes the job; bounded, since it runs
/// during shutdown.
async fn release(lease: &Lease) {
    match tokio::time::timeout(Duration::from_secs(1), lease.release()).await {
        Ok(Ok(())) | Ok(Err(JobError::LostLease(_))) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "releasing the job's lease failed"),
        Err(_) => tracing::warn!("releasing the job's lease timed out"),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// What the worker tasks share.
struct Shared {
    db: DbPool,
    handlers: Handlers,
    /// The registered kinds (the claim's filter).
    kinds: Vec<String>,
    options: Options,
    /// Poked by `Jobs::enqueue`/`retry` in this process, and by a worker that claimed a job
    /// (there may be more).
    wake: Arc<Notify>,
}

/// The running worker pool. [`Workers::stopper`] begins a shutdown from a signal handler;
/// [`Workers::shutdown`] finishes it.
pub struct Workers {
    tasks: JoinSet<()>,
    stop: Stopper,
    deadline: Duration,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

/// Begins the pool's shutdown: no more claims; running jobs stop at their next lease write.
#[derive(Clone)]
pub struct Stopper {
    stage: Arc<watch::Sender<Stage>>,
    /// When the stop began (the shutdown deadline counts from here).
    since: Arc<OnceLock<Instant>>,
}

impl std::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stopper")
            .field("stage", &*self.stage.borrow())
            .finish()
    }
}

impl Stopper {
    /// Stops claiming (idempotent).
    pub fn stop(&self) {
        self.since.get_or_init(Instant::now);
        self.stage.send_if_modified(|stage| {
            if *stage == Stage::Running {
                *stage = Stage::Draining;
                true
            } else {
                false
            }
        });
    }

    fn abort(&self) {
        self.stage.send_replace(Stage::Abort);
    }
}

impl Workers {
    /// Starts `options.workers` worker tasks (none when no handler is registered) and the
    /// sweep of jobs interrupted too often. Woken by `state.jobs`.
    pub fn start(state: &AppState, handlers: Handlers, options: Options) -> Workers {
        let (stage, _) = watch::channel(Stage::Running);
        let stop = Stopper {
            stage: Arc::new(stage),
            since: Arc::new(OnceLock::new()),
        };
        let deadline = options.shutdown_deadline;
        let mut tasks = JoinSet::new();
        if options.workers == 0 || handlers.is_empty() {
            tracing::info!(
                job.workers = options.workers,
                job.kinds = ?handlers.kinds(),
                "no job workers started"
            );
            return Workers {
                tasks,
                stop,
                deadline,
            };
        }
        tracing::info!(
            job.workers = options.workers,
            job.per_node = options.per_node,
            job.kinds = ?handlers.kinds(),
            "job workers started"
        );
        let shared = Arc::new(Shared {
            db: state.db.clone(),
            kinds: handlers.kinds(),
            handlers,
            options,
            wake: state.jobs.notify(),
        });
        for index in 0..shared.options.workers {
            tasks.spawn(work(index, shared.clone(), stop.stage.subscribe()));
        }
        tasks.spawn(sweep(shared, stop.stage.subscribe()));
        Workers {
            tasks,
            stop,
            deadline,
        }
    }

    /// A handle that begins the shutdown (for the signal handler).
    pub fn stopper(&self) -> Stopper {
        self.stop.clone()
    }

    /// Stops claiming, lets running jobs reach their next lease write until the shutdown
    /// deadline (counted from the first stop), then drops the rest, releasing their leases so
    /// the next start resumes them. Returns within the deadline plus a few seconds, whatever
    /// the handlers do (as long as they do not block their thread).
    pub async fn shutdown(mut self) {
        self.stop.stop();
        let since = self.stop.since.get().copied().unwrap_or_else(Instant::now);
        let deadline = tokio::time::Instant::from_std(since + self.deadline);
        if join_all(&mut self.tasks, deadline).await {
            return;
        }
        tracing::warn!(
            job.running = self.tasks.len(),
            "jobs still running at the shutdown deadline: stopping them"
        );
        self.stop.abort();
        if join_all(&mut self.tasks, tokio::time::Instant::now() + ABORT_GRACE).await {
            return;
        }
        tracing::error!("job workers did not stop; abandoning them");
        self.tasks.abort_all();
    }
}

/// Waits for every task until `deadline`; true when all ended.
async fn join_all(tasks: &mut JoinSet<()>, deadline: tokio::time::Instant) -> bool {
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(None) => return true,
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => tracing::error!(error = %e, "a job worker task failed"),
            Err(_) => return false,
        }
    }
}

/// One worker: claim, run, repeat; when nothing is claimable, sleep until woken, the poll
/// interval, or the stop.
async fn work(index: usize, shared: Arc<Shared>, mut stage: watch::Receiver<Stage>) {
    let mut failing = false;
    loop {
        if *stage.borrow() != Stage::Running {
            break;
        }
        match claim_with(&shared.db, &shared.kinds, &shared.options, stage.clone()).await {
            Ok(Some(run)) => {
                if failing {
                    tracing::info!(job.worker = index, "claiming jobs works again");
                    failing = false;
                }
                // There may be more: let another idle worker look too.
                shared.wake.notify_one();
                match shared.handlers.get(run.kind()) {
                    Some(handler) => {
                        execute(run, handler, &shared.options, stage.clone()).await;
                    }
                    // Unreachable: the claim only takes registered kinds.
                    None => tracing::error!(job.id = run.id(), "claimed a job of an unknown kind"),
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                if failing {
                    tracing::debug!(job.worker = index, error = %format!("{e:#}"), "claiming a job failed");
                } else {
                    tracing::error!(job.worker = index, error = %format!("{e:#}"), "claiming a job failed");
                    failing = true;
                }
            }
        }
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(shared.options.poll_interval) => {}
            changed = stage.changed() => if changed.is_err() { break },
        }
    }
}

/// Every poll interval: fail the jobs whose lease expired after `max_attempts` runs.
async fn sweep(shared: Arc<Shared>, mut stage: watch::Receiver<Stage>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(shared.options.poll_interval) => {}
            changed = stage.changed() => if changed.is_err() { break },
        }
        if *stage.borrow() != Stage::Running {
            break;
        }
        let max = i32::try_from(shared.options.max_attempts).unwrap_or(i32::MAX);
        let given_up = match shared.db.get().await {
            Ok(mut conn) => queries::give_up(&mut conn, max, &shared.kinds).await,
            Err(e) => {
                tracing::debug!(error = %e, "sweeping stale jobs: no connection");
                continue;
            }
        };
        match given_up {
            Ok(jobs) => {
                for job in jobs {
                    tracing::warn!(
                        job.id = job.id,
                        job.kind = %job.kind,
                        job.phase = ?job.phase,
                        job.attempts = job.attempts,
                        "job given up after {} interrupted runs",
                        job.attempts
                    );
                    let message = format!("gave up after {} interrupted runs", job.attempts);
                    if let Some(handler) = shared.handlers.get(&job.kind)
                        && let Err(e) = handler.given_up(&job, &message).await
                    {
                        tracing::error!(job.id = job.id, error = %e, "recording a given-up job failed");
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "sweeping stale jobs failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("short".into(), 10), "short");
        let cut = truncate("ééééé".into(), 5);
        assert_eq!(cut, "éé…");
    }

    #[test]
    fn owners_are_unique() -> anyhow::Result<()> {
        let a = lease_owner()?;
        assert_ne!(a, lease_owner()?);
        assert!(a.starts_with(&format!("{}:", std::process::id())));
        Ok(())
    }
}

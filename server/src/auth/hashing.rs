//! Password hashing on a few dedicated threads.
//!
//! argon2 holds 19 MiB per hash. Run on tokio's blocking pool, a burst of sign-ins would hash
//! on up to hundreds of threads at once, and even with a semaphore in front each new pool
//! thread gets its own malloc arena that keeps its 19 MiB after the hash. Here a fixed set of
//! threads (one per core) takes the work from a queue: at most that many hashes run at once,
//! on threads whose memory is reused, and a burst waits in the queue instead.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// One queued piece of work.
type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads; dropping the last handle lets them end.
#[derive(Debug, Clone)]
pub struct Hasher {
    /// The queue the threads take work from.
    queue: Sender<Job>,
}

impl Hasher {
    /// Starts `threads` hashing threads (at least one).
    pub fn new(threads: usize) -> Self {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads.max(1) {
            let jobs = Arc::clone(&jobs);
            let spawned = std::thread::Builder::new()
                .name(format!("kiln-hash-{n}"))
                .spawn(move || work(&jobs));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Hasher { queue }
    }

    /// Runs `f` on a hashing thread and waits for its result; `None` when no thread could
    /// take it (none started, or one panicked inside `f`).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.queue.send(job).ok()?;
        rx.await.ok()
    }
}

/// A hashing thread: takes jobs until the queue's senders are gone.
fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = match jobs.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Hasher;

    #[tokio::test]
    async fn work_runs_on_the_hashing_threads() {
        let hasher = Hasher::new(2);
        let name = hasher
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .flatten();
        assert!(name.is_some_and(|n| n.starts_with("kiln-hash-")));
        let results = futures::future::join_all((0..8).map(|i| hasher.run(move || i * 2))).await;
        assert_eq!(results, (0..8).map(|i| Some(i * 2)).collect::<Vec<_>>());
    }
}

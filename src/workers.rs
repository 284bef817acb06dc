//! The worker threads that sign and verify with the expensive algorithms (RS*, PS*,
//! ES*, EdDSA): `jwt.crypto-threads` of them (0: everything on the main thread).
//! They run plain Rust jobs and never touch keys or the keyspace; see `offload`.

use crate::config;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex, MutexGuard};

pub type Job = Box<dyn FnOnce() + Send>;

struct Queue {
    jobs: VecDeque<Job>,
    /// Worker threads alive now; grows to the config on demand, shrinks when lowered.
    running: usize,
    /// Of those, the ones waiting for a job: only they need a wake-up (a syscall).
    idle: usize,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    jobs: VecDeque::new(),
    running: 0,
    idle: 0,
});
static READY: Condvar = Condvar::new();

fn queue() -> MutexGuard<'static, Queue> {
    QUEUE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The configured number of worker threads.
pub fn configured() -> usize {
    config::CRYPTO_THREADS.load(Ordering::Relaxed).max(0) as usize
}

/// Worker threads alive now (an INFO gauge).
pub fn running() -> usize {
    queue().running
}

/// Queues `job` for a worker thread (started on first use). Gives the job back when
/// the pool has no thread to run it: the caller then runs it itself.
pub fn submit(job: Job) -> Result<(), Job> {
    let wanted = configured();
    let mut q = queue();
    while q.running < wanted {
        let started = std::thread::Builder::new()
            .name("jwt-crypto".into())
            .spawn(work);
        match started {
            Ok(_) => q.running += 1,
            Err(_) => break,
        }
    }
    if q.running == 0 {
        return Err(job);
    }
    q.jobs.push_back(job);
    let wake = q.idle > 0;
    drop(q);
    if wake {
        READY.notify_one();
    }
    Ok(())
}

fn work() {
    // Below the main thread: when the cores are busy signing, the event loop still gets
    // one as soon as it has work (a GET does not wait behind a queue of RSA signatures).
    crate::redis::os::lower_thread_priority();
    loop {
        let job = {
            let mut q = queue();
            loop {
                // Jobs first: a woken thread that left with a job still queued would
                // strand it (the wake-up it used was that job's).
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                if q.running > configured() {
                    // The config was lowered: this thread is one too many.
                    q.running -= 1;
                    return;
                }
                q.idle += 1;
                q = READY.wait(q).unwrap_or_else(|p| p.into_inner());
                q.idle -= 1;
            }
        };
        // A job's own Drop guards reply to its client if it panics; the thread lives on.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

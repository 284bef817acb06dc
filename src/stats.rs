//! Counters for `INFO jwt`. Relaxed atomics (counted on the main thread).

use jwt_core::error::Code;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }
    pub fn incr(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

pub static SIGNS: Counter = Counter::new();
pub static VERIFIES: Counter = Counter::new();
pub static TOUCHES: Counter = Counter::new();
pub static DESTROYS: Counter = Counter::new();
pub static REFRESHES: Counter = Counter::new();
pub static REUSE_DETECTIONS: Counter = Counter::new();
pub static EVICTIONS: Counter = Counter::new();
pub static REVOKES: Counter = Counter::new();
pub static UPDATES: Counter = Counter::new();
pub static VERIFY_CACHE_HITS: Counter = Counter::new();
pub static VERIFY_CACHE_MISSES: Counter = Counter::new();
/// Signatures made or checked on a worker thread.
pub static CRYPTO_JOBS: Counter = Counter::new();

static FAILURES: [Counter; Code::ALL.len()] = [const { Counter::new() }; Code::ALL.len()];

fn index(code: Code) -> usize {
    Code::ALL.iter().position(|c| *c == code).unwrap_or(0)
}

pub fn failure(code: Code) {
    FAILURES[index(code)].incr();
}

pub fn failures(code: Code) -> u64 {
    FAILURES[index(code)].get()
}

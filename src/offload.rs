//! Expensive cryptography off the main thread: the command blocks its client, a worker
//! (`workers`) does the pure part, and the rest of the command (key reads and writes,
//! replication, the reply) runs back on the main thread. Where a client may not block
//! (MULTI, scripts, replication, AOF loading) or `jwt.crypto-threads` is 0, the same
//! two steps run inline, in order.

use crate::commands;
use crate::redis::blocking::{self, Blocked};
use crate::workers;
use jwt_core::error::Result;
use redis_module::{Context, RedisValue};

/// Whether this command would hand work to a worker thread.
pub fn available(ctx: &Context) -> bool {
    workers::configured() > 0 && blocking::can_block(ctx)
}

/// `work` on a worker thread, then `then` with its output on the main thread; the
/// command's own reply is then NoReply (the client waits for `then`'s). Inline when
/// no worker may take it.
pub fn run<T: Send + 'static>(
    ctx: &Context,
    name: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
    then: impl FnOnce(&Context, T) -> Result<RedisValue> + Send + 'static,
) -> Result<RedisValue> {
    let blocked = match available(ctx).then(|| blocking::block(ctx)).flatten() {
        Some(blocked) => blocked,
        None => return then(ctx, work()),
    };
    crate::stats::CRYPTO_JOBS.incr();
    let job = move || {
        let output = work();
        resume(blocked, name, output, then);
    };
    if let Err(job) = workers::submit(Box::new(job)) {
        // No thread could start: do it here (the client is unblocked all the same). A
        // panic in it has already answered the client (the dropped `Blocked` unblocks
        // it with an error): it must not reach the command's guard, which would send a
        // second reply.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
    Ok(RedisValue::NoReply)
}

fn resume<T: Send + 'static>(
    blocked: Blocked,
    name: &'static str,
    output: T,
    then: impl FnOnce(&Context, T) -> Result<RedisValue> + Send + 'static,
) {
    blocked.resume(Box::new(move |ctx: &Context| {
        commands::guard_with(ctx, name, |ctx| then(ctx, output))
    }));
}

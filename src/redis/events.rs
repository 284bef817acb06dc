//! Server events the module listens to.

use redis_module::{raw, Context};
use std::os::raw::{c_int, c_void};
use std::sync::OnceLock;

static ON_FORK: OnceLock<fn(&Context)> = OnceLock::new();

/// Calls `f` in the parent right after each fork of the server (an RDB save, an AOF
/// rewrite...), on the main thread. False when the server cannot tell (then `f` never
/// runs). Only while the module loads.
pub fn on_fork(ctx: &Context, f: fn(&Context)) -> bool {
    if ON_FORK.set(f).is_err() {
        return false;
    }
    let event = raw::RedisModuleEvent {
        id: raw::REDISMODULE_EVENT_FORK_CHILD,
        dataver: 1,
    };
    match api_fn!(RedisModule_SubscribeToServerEvent) {
        // SAFETY: a live context during OnLoad and a callback that lives as long as
        // the module.
        Some(subscribe) => unsafe {
            subscribe(ctx.get_raw(), event, Some(fork_event)) == raw::REDISMODULE_OK as c_int
        },
        None => false,
    }
}

extern "C" fn fork_event(
    ctx: *mut raw::RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut c_void,
) {
    if subevent != raw::REDISMODULE_SUBEVENT_FORK_CHILD_BORN {
        return;
    }
    let ctx = Context::new(ctx);
    if let Some(f) = ON_FORK.get() {
        // A panic must not cross into the server.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&ctx)));
    }
}

//! What a command does to its own client: hiding an argument from the logs; where it
//! came from.

use redis_module::{Context, ContextFlags};

/// Hides an argument (a token or a secret) from SLOWLOG, MONITOR and the log. A no-op
/// on a server without the API (it exists since 7.0).
pub fn redact(ctx: &Context, pos: usize) {
    if let Some(f) = api_fn!(RedisModule_RedactClientCommandArgument) {
        // SAFETY: a live command context; the server checks `pos` against argc.
        unsafe { f(ctx.get_raw(), pos as i32) };
    }
}

/// Whether this command came from a client of a replica (not from the primary's
/// replication stream, nor from AOF loading), read-only replica or writable.
pub fn is_replica_client(ctx: &Context) -> bool {
    let flags = ctx.get_flags();
    flags.contains(ContextFlags::SLAVE)
        && !flags.contains(ContextFlags::REPLICATED)
        && !flags.contains(ContextFlags::LOADING)
}

/// Whether the server asks modules not to write or replicate now: clients are paused
/// (CLIENT PAUSE WRITE, a cluster manual failover). Redis 7.0 aborts on a replicated
/// write in that state, so writes outside a client's command (timers, the cluster
/// bus, a blocked client's resume, fork hooks) must wait.
pub fn writes_paused() -> bool {
    match api_fn!(RedisModule_AvoidReplicaTraffic) {
        // SAFETY: takes no arguments; reads the server's pause state.
        Some(avoid) => unsafe { avoid() != 0 },
        None => false,
    }
}

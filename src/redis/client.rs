//! What a command does to its own client: hiding an argument from the logs.

use redis_module::Context;

/// Hides an argument (a token or a secret) from SLOWLOG, MONITOR and the log. A no-op
/// on a server without the API (it exists since 7.0).
pub fn redact(ctx: &Context, pos: usize) {
    if let Some(f) = api_fn!(RedisModule_RedactClientCommandArgument) {
        // SAFETY: a live command context; the server checks `pos` against argc.
        unsafe { f(ctx.get_raw(), pos as i32) };
    }
}

//! The server log. Messages go to `RedisModule_Log` as the argument of a fixed "%s"
//! format: the crate's own `log_*` pass the message as the format itself, so a `%` in
//! it (a subject, a kid, a module argument) would make the server read arguments that
//! are not there, and a NUL byte would panic. Here a NUL becomes '?'.

use redis_module::Context;
use std::ffi::CString;

fn log(ctx: &Context, level: &std::ffi::CStr, message: &str) {
    let Some(f) = api_fn!(RedisModule_Log) else {
        return;
    };
    let text = CString::new(message.replace('\0', "?")).unwrap_or_default();
    // SAFETY: a live context (or null, which the server accepts for module logs); the
    // format is a literal "%s" and its one argument a NUL-terminated string we own.
    unsafe { f(ctx.get_raw(), level.as_ptr(), c"%s".as_ptr(), text.as_ptr()) };
}

pub fn warning(ctx: &Context, message: &str) {
    log(ctx, c"warning", message);
}

pub fn notice(ctx: &Context, message: &str) {
    log(ctx, c"notice", message);
}

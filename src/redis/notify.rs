//! Keyspace notifications of the module class.

use super::key::KeyName;
use redis_module::{Context, NotifyEvent};
use std::ffi::CStr;

/// Raises `event` on `key` (`name` when the caller already holds it as a server
/// string). A no-op when the server cannot make the name.
pub fn keyspace_event(ctx: &Context, event: &CStr, key: &[u8], name: Option<&KeyName>) {
    let Some(notify) = api_fn!(RedisModule_NotifyKeyspaceEvent) else {
        return;
    };
    let made;
    let key = match name {
        Some(n) => n.as_ptr(),
        None => match KeyName::new(key) {
            Some(n) => {
                made = n;
                made.as_ptr()
            }
            None => return,
        },
    };
    // SAFETY: a live command context, a NUL-terminated event name and a live key name
    // string (held by `name` or `made` until the call returns).
    unsafe {
        notify(
            ctx.get_raw(),
            NotifyEvent::MODULE.bits(),
            event.as_ptr(),
            key,
        )
    };
}

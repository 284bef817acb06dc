//! Blocked clients: a command hands slow work to another thread, its client waits (the
//! server serves everyone else meanwhile), and the reply is made back on the main thread.

use redis_module::{raw, Context, ContextFlags, RedisResult, RedisValue};
use std::os::raw::{c_int, c_void};
use std::ptr;

/// What runs on the main thread, in the blocked client's context, once the work is
/// done: it may read and write keys, replicate, and replies to the client.
pub type Resume = Box<dyn FnOnce(&Context) -> RedisResult + Send>;

/// Whether this command may block its client. Not inside MULTI, a script or a module's
/// RM_Call (the server denies blocking there), nor for the primary's replication stream
/// or AOF loading (which must apply in order and at once).
pub fn can_block(ctx: &Context) -> bool {
    let flags = ctx.get_flags();
    let inline_only = ContextFlags::MULTI
        | ContextFlags::LUA
        | ContextFlags::DENY_BLOCKING
        | ContextFlags::REPLICATED
        | ContextFlags::LOADING;
    api_fn!(RedisModule_BlockClient).is_some()
        && api_fn!(RedisModule_UnblockClient).is_some()
        && !flags.intersects(inline_only)
}

/// A blocked client, to be resumed from any thread. Dropped without `resume` (the work
/// panicked), it still unblocks: the client gets an error instead of waiting forever.
pub struct Blocked(*mut raw::RedisModuleBlockedClient);

// SAFETY: RM_UnblockClient is documented thread-safe, and the handle is used once.
unsafe impl Send for Blocked {}

/// Blocks the client of `ctx` (no timeout); None when the server refuses.
pub fn block(ctx: &Context) -> Option<Blocked> {
    let f = api_fn!(RedisModule_BlockClient)?;
    // SAFETY: a live command context; the callbacks are ours and match the signatures
    // the server expects; timeout 0 means none (so no timeout callback).
    let bc = unsafe {
        f(
            ctx.get_raw(),
            Some(on_unblocked),
            None,
            Some(free_resume),
            0,
        )
    };
    (!bc.is_null()).then_some(Blocked(bc))
}

impl Blocked {
    /// Unblocks the client; `resume` then runs on the main thread and replies.
    pub fn resume(self, resume: Resume) {
        let data = Box::into_raw(Box::new(Some(resume))).cast::<c_void>();
        self.unblock(data);
    }

    fn unblock(self, data: *mut c_void) {
        let bc = self.0;
        std::mem::forget(self);
        if let Some(f) = api_fn!(RedisModule_UnblockClient) {
            // SAFETY: `bc` came from RM_BlockClient and is unblocked exactly once (self
            // is consumed); the server hands `data` to on_unblocked, then free_resume.
            unsafe { f(bc, data) };
        }
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        Blocked(self.0).unblock(ptr::null_mut());
    }
}

type Slot = Option<Resume>;

/// The reply callback: runs the Resume the worker left (null: the work failed).
extern "C" fn on_unblocked(
    ctx: *mut raw::RedisModuleCtx,
    _argv: *mut *mut raw::RedisModuleString,
    _argc: c_int,
) -> c_int {
    let context = Context::new(ctx);
    let data = match api_fn!(RedisModule_GetBlockedClientPrivateData) {
        // SAFETY: a reply-callback context of a client we blocked.
        Some(f) => unsafe { f(ctx) }.cast::<Slot>(),
        None => ptr::null_mut(),
    };
    // SAFETY: non-null data is the Box<Slot> made by `resume`; the server frees it
    // through free_resume after this callback, so it is only borrowed here.
    let resume = unsafe { data.as_mut() }.and_then(Option::take);
    let reply = match resume {
        Some(resume) => resume(&context),
        None => Ok(RedisValue::StaticError(
            "ERR internal error in a worker thread; the server is unharmed",
        )),
    };
    context.reply(reply) as c_int
}

/// Frees what `resume` allocated (also when the client disconnected meanwhile and the
/// Resume never ran).
extern "C" fn free_resume(_ctx: *mut raw::RedisModuleCtx, data: *mut c_void) {
    if !data.is_null() {
        // SAFETY: the pointer is the Box<Slot> leaked by `resume`, freed only here.
        drop(unsafe { Box::from_raw(data.cast::<Slot>()) });
    }
}

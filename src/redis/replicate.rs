//! `RM_Replicate` with fixed shapes, so the hot paths do not build argument vectors:
//! `b` is a buffer, `l` a long long, `c` a C string (the format of `RM_Call`). Called
//! only after the write it describes succeeded.

use redis_module::{raw, Context};
use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

fn call(
    ctx: &Context,
) -> Option<(
    *mut raw::RedisModuleCtx,
    unsafe extern "C" fn(*mut raw::RedisModuleCtx, *const c_char, *const c_char, ...) -> c_int,
)> {
    Some((ctx.get_raw(), api_fn!(RedisModule_Replicate)?))
}

/// `<cmd> <key> <integer>` (PEXPIREAT).
pub fn key_int(ctx: &Context, cmd: &CStr, key: &[u8], n: i64) {
    if let Some((c, f)) = call(ctx) {
        // SAFETY: the format string matches the arguments that follow it (`b`: pointer and length of a live buffer, `l`: a long long, `c`: a NUL-terminated C string), as RedisModule_Replicate reads them; a live command context.
        unsafe {
            f(
                c,
                cmd.as_ptr(),
                c"bl".as_ptr(),
                key.as_ptr(),
                key.len(),
                n as std::os::raw::c_longlong,
            )
        };
    }
}

/// `<cmd> <key> <integer> <member>` (ZADD).
pub fn key_int_member(ctx: &Context, cmd: &CStr, key: &[u8], n: i64, member: &[u8]) {
    if let Some((c, f)) = call(ctx) {
        // SAFETY: the format string matches the arguments that follow it (`b`: pointer and length of a live buffer, `l`: a long long, `c`: a NUL-terminated C string), as RedisModule_Replicate reads them; a live command context.
        unsafe {
            f(
                c,
                cmd.as_ptr(),
                c"blb".as_ptr(),
                key.as_ptr(),
                key.len(),
                n as std::os::raw::c_longlong,
                member.as_ptr(),
                member.len(),
            )
        };
    }
}

/// `HSET <key> f1 v1 .. fn vn` for 2 to 4 fields, the shapes SIGN writes; None when
/// the shape is another (the caller then replicates through the general path).
pub fn hset(ctx: &Context, key: &[u8], fields: &[(&CStr, &[u8])]) -> Option<()> {
    let (c, f) = call(ctx)?;
    let cmd = c"HSET".as_ptr();
    // SAFETY: the format string matches the arguments that follow it (`b`: pointer and length of a live buffer, `l`: a long long, `c`: a NUL-terminated C string), as RedisModule_Replicate reads them; a live command context.
    unsafe {
        match fields {
            [(f1, v1), (f2, v2)] => f(
                c,
                cmd,
                c"bcbcb".as_ptr(),
                key.as_ptr(),
                key.len(),
                f1.as_ptr(),
                v1.as_ptr(),
                v1.len(),
                f2.as_ptr(),
                v2.as_ptr(),
                v2.len(),
            ),
            [(f1, v1), (f2, v2), (f3, v3)] => f(
                c,
                cmd,
                c"bcbcbcb".as_ptr(),
                key.as_ptr(),
                key.len(),
                f1.as_ptr(),
                v1.as_ptr(),
                v1.len(),
                f2.as_ptr(),
                v2.as_ptr(),
                v2.len(),
                f3.as_ptr(),
                v3.as_ptr(),
                v3.len(),
            ),
            [(f1, v1), (f2, v2), (f3, v3), (f4, v4)] => f(
                c,
                cmd,
                c"bcbcbcbcb".as_ptr(),
                key.as_ptr(),
                key.len(),
                f1.as_ptr(),
                v1.as_ptr(),
                v1.len(),
                f2.as_ptr(),
                v2.as_ptr(),
                v2.len(),
                f3.as_ptr(),
                v3.as_ptr(),
                v3.len(),
                f4.as_ptr(),
                v4.as_ptr(),
                v4.len(),
            ),
            _ => return None,
        }
    };
    Some(())
}

/// `<cmd> <key>` (DEL).
pub fn key(ctx: &Context, cmd: &CStr, key: &[u8]) {
    if let Some((c, f)) = call(ctx) {
        // SAFETY: the format string matches the arguments that follow it (`b`: pointer and length of a live buffer, `l`: a long long, `c`: a NUL-terminated C string), as RedisModule_Replicate reads them; a live command context.
        unsafe { f(c, cmd.as_ptr(), c"b".as_ptr(), key.as_ptr(), key.len()) };
    }
}

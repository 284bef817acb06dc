//! Key permissions for commands whose declared "key" is a bare subject.
//!
//! Subject-first commands declare argument 1 as NOT_KEY so that ACL key patterns do not
//! judge the string `alice`; the module checks the real keys (`jwt:{alice}`...) itself,
//! with `RedisModule_ACLCheckKeyPermissions` (7.0+). Commands replayed from a primary or
//! the AOF are not checked: they were checked where they ran.

use crate::core::error::{Error, Result};
use redis_module::{raw, Context, ContextFlags};
use std::os::raw::{c_char, c_int};

pub enum Access {
    Read,
    Write,
}

pub fn check_key(ctx: &Context, key: &str, access: Access) -> Result<()> {
    let flags = ctx.get_flags();
    if flags.contains(ContextFlags::REPLICATED) || flags.contains(ContextFlags::LOADING) {
        return Ok(());
    }
    let (
        Some(user_name),
        Some(user_by_name),
        Some(check),
        Some(free_user),
        Some(create),
        Some(free),
    ) = (
        unsafe { raw::RedisModule_GetCurrentUserName },
        unsafe { raw::RedisModule_GetModuleUserFromUserName },
        unsafe { raw::RedisModule_ACLCheckKeyPermissions },
        unsafe { raw::RedisModule_FreeModuleUser },
        unsafe { raw::RedisModule_CreateString },
        unsafe { raw::RedisModule_FreeString },
    )
    else {
        return Ok(()); // a server without ACL key checks for modules
    };
    let name = unsafe { user_name(ctx.get_raw()) };
    if name.is_null() {
        return Ok(()); // no client (timer, internal call)
    }
    let user = unsafe { user_by_name(name) };
    unsafe { free(ctx.get_raw(), name) };
    if user.is_null() {
        return Err(Error::new(
            crate::core::error::Code::Err,
            "the current user no longer exists",
        ));
    }
    let perms = match access {
        Access::Read => raw::REDISMODULE_CMD_KEY_ACCESS,
        Access::Write => {
            raw::REDISMODULE_CMD_KEY_ACCESS
                | raw::REDISMODULE_CMD_KEY_INSERT
                | raw::REDISMODULE_CMD_KEY_UPDATE
                | raw::REDISMODULE_CMD_KEY_DELETE
        }
    };
    let keystr = unsafe { create(ctx.get_raw(), key.as_ptr().cast::<c_char>(), key.len()) };
    let rc = unsafe { check(user, keystr, perms as c_int) };
    unsafe {
        free(ctx.get_raw(), keystr);
        free_user(user);
    }
    if rc == raw::REDISMODULE_OK as c_int {
        Ok(())
    } else {
        Err(Error::noperm(key))
    }
}

//! JWT.KEY is a container command with real subcommands (`RedisModule_CreateSubcommand`,
//! 7.0+), so each carries its own flags: LIST works on replicas, GENERATE is a write,
//! EXPORT (private material) is `admin`, and ACL can allow `jwt.key|list` alone.

use crate::commands::key;
use crate::raw_handler;
use redis_module::{raw, Context, Status};
use std::ffi::CString;

raw_handler!(key_generate, "JWT.KEY GENERATE", key::generate);
raw_handler!(key_import, "JWT.KEY IMPORT", key::import);
raw_handler!(key_activate, "JWT.KEY ACTIVATE", key::activate);
raw_handler!(key_rotate, "JWT.KEY ROTATE", key::rotate);
raw_handler!(key_retire, "JWT.KEY RETIRE", key::retire);
raw_handler!(key_list, "JWT.KEY LIST", key::list);
raw_handler!(key_export, "JWT.KEY EXPORT", key::export);
raw_handler!(key_sync, "JWT.KEY SYNC", key::sync);

type Handler = extern "C" fn(
    *mut raw::RedisModuleCtx,
    *mut *mut raw::RedisModuleString,
    std::os::raw::c_int,
) -> std::os::raw::c_int;

/// name, handler, flags, arity (counting `JWT.KEY` and the subcommand), summary
const KEY_SUBCOMMANDS: &[(&str, Handler, &str, i32, &str)] = &[
    (
        "generate",
        key_generate,
        "write deny-oom admin",
        -3,
        "Generates a key (HS*, ES256/384, EdDSA)",
    ),
    (
        "import",
        key_import,
        "write deny-oom admin",
        5,
        "Imports an HMAC secret or a PEM private key",
    ),
    (
        "activate",
        key_activate,
        "write admin",
        3,
        "Makes a key the signing key",
    ),
    (
        "rotate",
        key_rotate,
        "write deny-oom admin",
        -2,
        "A new signing key; the old one retires",
    ),
    (
        "retire",
        key_retire,
        "write admin",
        3,
        "Stops a key from signing; it verifies until its tokens end",
    ),
    (
        "list",
        key_list,
        "readonly fast",
        2,
        "Lists the keys (never their material)",
    ),
    (
        "export",
        key_export,
        "readonly admin",
        3,
        "Exports a key's material for IMPORT elsewhere",
    ),
    (
        "sync",
        key_sync,
        "write admin",
        3,
        "Replaces the keyring (replication and AOF)",
    ),
];

pub fn register(ctx: &Context) -> Status {
    let (Some(create), Some(get), Some(create_sub)) = (
        unsafe { raw::RedisModule_CreateCommand },
        unsafe { raw::RedisModule_GetCommand },
        unsafe { raw::RedisModule_CreateSubcommand },
    ) else {
        ctx.log_warning("jwt: this server cannot register subcommands (Redis 7.0+ needed)");
        return Status::Err;
    };
    let (Ok(name), Ok(empty)) = (CString::new("jwt.key"), CString::new("")) else {
        return Status::Err;
    };
    if unsafe { create(ctx.get_raw(), name.as_ptr(), None, empty.as_ptr(), 0, 0, 0) }
        != raw::REDISMODULE_OK as i32
    {
        return Status::Err;
    }
    let parent = unsafe { get(ctx.get_raw(), name.as_ptr()) };
    if parent.is_null() {
        return Status::Err;
    }
    for (sub, handler, flags, arity, summary) in KEY_SUBCOMMANDS {
        let (Ok(sub_c), Ok(flags_c)) = (CString::new(*sub), CString::new(*flags)) else {
            return Status::Err;
        };
        let rc = unsafe {
            create_sub(
                parent,
                sub_c.as_ptr(),
                Some(*handler),
                flags_c.as_ptr(),
                0,
                0,
                0,
            )
        };
        if rc != raw::REDISMODULE_OK as i32 {
            ctx.log_warning(&format!("jwt: could not register JWT.KEY {sub}"));
            return Status::Err;
        }
        let full = format!("jwt.key|{sub}");
        crate::command_info::set_by_name(ctx, &full, summary, *arity);
    }
    Status::Ok
}

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
raw_handler!(key_revoke, "JWT.KEY REVOKE", key::revoke);
raw_handler!(key_cutoff, "JWT.KEY CUTOFF", key::cutoff);

type Handler = extern "C" fn(
    *mut raw::RedisModuleCtx,
    *mut *mut raw::RedisModuleString,
    std::os::raw::c_int,
) -> std::os::raw::c_int;

/// ACL categories of every subcommand but LIST: admin and dangerous, plus write for
/// those that change the keyring (so `-@write` removes them too).
const ADMIN: &str = "admin dangerous slow write";
const ADMIN_READ: &str = "admin dangerous slow read";

/// name, handler, flags, arity (counting `JWT.KEY` and the subcommand), summary, ACL
/// categories
const KEY_SUBCOMMANDS: &[(&str, Handler, &str, i32, &str, &str)] = &[
    (
        "generate",
        key_generate,
        "write deny-oom admin",
        -3,
        "Generates a key (HS*, ES256/384, EdDSA)",
        ADMIN,
    ),
    (
        "import",
        key_import,
        "write deny-oom admin",
        5,
        "Imports an HMAC secret or a PEM private key",
        ADMIN,
    ),
    (
        "activate",
        key_activate,
        "write admin",
        3,
        "Makes a key the signing key",
        ADMIN,
    ),
    (
        "rotate",
        key_rotate,
        "write deny-oom admin",
        -2,
        "A new signing key; the old one retires",
        ADMIN,
    ),
    (
        "retire",
        key_retire,
        "write admin",
        3,
        "Stops a key from signing; it verifies until its tokens end",
        ADMIN,
    ),
    (
        "list",
        key_list,
        "readonly fast",
        2,
        "Lists the keys (never their material)",
        "read fast",
    ),
    (
        "export",
        key_export,
        "readonly admin",
        3,
        "Exports a key's material for IMPORT elsewhere",
        ADMIN_READ,
    ),
    (
        "revoke",
        key_revoke,
        "write admin",
        3,
        "Breach response: a key's tokens stop verifying at once",
        ADMIN,
    ),
    (
        "cutoff",
        key_cutoff,
        "write admin",
        2,
        "Ends every session of every user at once (O(1))",
        ADMIN,
    ),
    (
        "sync",
        key_sync,
        "write admin",
        3,
        "Replaces the keyring (replication and AOF)",
        ADMIN,
    ),
];

pub fn register(ctx: &Context, jwt_category: bool) -> Status {
    let (Some(create), Some(get), Some(create_sub)) = (
        api_fn!(RedisModule_CreateCommand),
        api_fn!(RedisModule_GetCommand),
        api_fn!(RedisModule_CreateSubcommand),
    ) else {
        ctx.log_warning("jwt: this server cannot register subcommands (Redis 7.0+ needed)");
        return Status::Err;
    };
    let (Ok(name), Ok(empty)) = (CString::new("jwt.key"), CString::new("")) else {
        return Status::Err;
    };
    // SAFETY: a live context during OnLoad; NUL-terminated strings that outlive the call.
    if unsafe { create(ctx.get_raw(), name.as_ptr(), None, empty.as_ptr(), 0, 0, 0) }
        != raw::REDISMODULE_OK as i32
    {
        return Status::Err;
    }
    // SAFETY: a live context during OnLoad; a NUL-terminated name.
    let parent = unsafe { get(ctx.get_raw(), name.as_ptr()) };
    if parent.is_null() {
        return Status::Err;
    }
    for (sub, handler, flags, arity, summary, acl) in KEY_SUBCOMMANDS {
        let (Ok(sub_c), Ok(flags_c)) = (CString::new(*sub), CString::new(*flags)) else {
            return Status::Err;
        };
        // SAFETY: `parent` is this module's container command, non-null; the handler is an `extern "C"` fn that lives as long as the module; the strings outlive the call.
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
        crate::redis::command_info::set_by_name(ctx, &full, summary, *arity);
        if let Err(e) =
            crate::redis::acl::set_categories(ctx, &full, &crate::categories(acl, jwt_category))
        {
            ctx.log_warning(&format!("jwt: {e}"));
            return Status::Err;
        }
    }
    Status::Ok
}

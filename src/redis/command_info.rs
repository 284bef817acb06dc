//! Command metadata for COMMAND INFO / COMMAND DOCS and cluster routing, set with
//! `RedisModule_SetCommandInfo` (present since 7.0).
//!
//! Subject-first commands declare argument 1 with a key spec flagged
//! `NOT_KEY|RO|ACCESS`: cluster clients route by it to the slot of `{<sub>}`, while
//! ACL key patterns do not judge the bare subject (the real keys are `jwt:{<sub>}...`).

use redis_module::{raw, Context};
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::ptr;

pub struct Info<'a> {
    pub name: &'a str,
    /// ACL categories (space separated, no `@`; `jwt` is added where supported).
    pub acl: &'a str,
    pub summary: &'a str,
    pub complexity: &'a str,
    pub arity: i32,
    pub subject_first: bool,
}

const INFO_VERSION: raw::RedisModuleCommandInfoVersion = raw::RedisModuleCommandInfoVersion {
    version: 1,
    sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
    sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
    sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
};

fn subject_key_spec() -> raw::RedisModuleCommandKeySpec {
    // Zeroed, then filled: bindgen unions have no safe constructor.
    // SAFETY: a plain C struct of integers, pointers and unions: all zeroes is a valid value (the API's "no key spec").
    let mut spec: raw::RedisModuleCommandKeySpec = unsafe { MaybeUninit::zeroed().assume_init() };
    spec.flags = (raw::REDISMODULE_CMD_KEY_NOT_KEY
        | raw::REDISMODULE_CMD_KEY_RO
        | raw::REDISMODULE_CMD_KEY_ACCESS) as u64;
    spec.begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    spec.bs.index.pos = 1;
    spec.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
    spec.fk.range.lastkey = 0;
    spec.fk.range.keystep = 1;
    spec.fk.range.limit = 0;
    spec
}

/// Summary and arity for a command found by its full name (`jwt.key|list`).
pub fn set_by_name(ctx: &Context, full_name: &str, summary: &str, arity: i32) {
    set(
        ctx,
        &Info {
            name: full_name,
            acl: "",
            summary,
            complexity: "O(K) where K is the number of keys",
            arity,
            subject_first: false,
        },
    );
}

/// Sets the info of one registered command; logs and carries on when the server
/// cannot (metadata is an aid, not a requirement to run).
pub fn set(ctx: &Context, info: &Info<'_>) {
    let Some(set_info) = api_fn!(RedisModule_SetCommandInfo) else {
        return;
    };
    let Some(get_command) = api_fn!(RedisModule_GetCommand) else {
        return;
    };
    let (Ok(name), Ok(summary), Ok(complexity), Ok(since)) = (
        CString::new(info.name),
        CString::new(info.summary),
        CString::new(info.complexity),
        CString::new("0.1.0"),
    ) else {
        return;
    };
    // SAFETY: a live context and a NUL-terminated name that outlives the call.
    let command = unsafe { get_command(ctx.get_raw(), name.as_ptr()) };
    if command.is_null() {
        ctx.log_warning(&format!("cannot find command {} to describe it", info.name));
        return;
    }
    // SAFETY: a plain C struct of integers, pointers and unions: all zeroes is a valid value (the API's "no key spec").
    let zero: raw::RedisModuleCommandKeySpec = unsafe { MaybeUninit::zeroed().assume_init() };
    let mut specs = if info.subject_first {
        vec![subject_key_spec(), zero]
    } else {
        vec![zero]
    };
    let raw_info = raw::RedisModuleCommandInfo {
        version: &INFO_VERSION,
        summary: summary.as_ptr(),
        complexity: complexity.as_ptr(),
        since: since.as_ptr(),
        history: ptr::null_mut(),
        tips: ptr::null(),
        arity: info.arity,
        key_specs: if info.subject_first {
            specs.as_mut_ptr()
        } else {
            ptr::null_mut()
        },
        args: ptr::null_mut(),
    };
    // SAFETY: `command` is this module's, non-null; `raw_info` and every string and key spec it points to live until the call returns (the server copies them).
    if unsafe { set_info(command, &raw_info) } != raw::REDISMODULE_OK as i32 {
        ctx.log_warning(&format!("could not set command info of {}", info.name));
    }
}

//! Permissions: ACL categories for every command, the `@admin` rule on servers that
//! cannot declare categories, and key permissions on the keys a command really uses.
//!
//! Subject-first commands declare argument 1 as NOT_KEY so that ACL key patterns do not
//! judge the string `alice`, and token commands name no key at all: the module checks
//! the real keys (`jwt:{alice}`...) itself with `RedisModule_ACLCheckKeyPermissions`
//! (7.0+). Commands replayed from a primary or the AOF are not checked: they were
//! checked where they ran.

use crate::redis::key::KeyName;
use jwt_core::error::{Code, Error, Result};
use redis_module::{raw, Context, ContextFlags, RedisValue};
use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::sync::Mutex;

#[derive(Clone, Copy)]
pub enum Access {
    Read,
    Write,
}

/// Whether the server enforces module ACL categories itself (Redis 7.2+, Valkey 8).
pub fn server_has_categories() -> bool {
    api_fn!(RedisModule_SetCommandACLCategories).is_some()
}

/// Adds the `jwt` category (Redis 7.4+, Valkey 8); false where the server cannot.
/// Only while the module loads.
pub fn add_jwt_category(ctx: &Context) -> bool {
    let Some(add) = api_fn!(RedisModule_AddACLCategory) else {
        return false;
    };
    // SAFETY: a valid context during OnLoad and a NUL-terminated name.
    unsafe { add(ctx.get_raw(), c"jwt".as_ptr()) == raw::REDISMODULE_OK as c_int }
}

/// Declares a command's ACL categories (space separated, without `@`). A no-op on a
/// server that cannot; only while the module loads.
pub fn set_categories(ctx: &Context, command: &str, categories: &str) -> Result<()> {
    // SAFETY: function pointers the server filled in at load.
    let (Some(set), Some(get)) = (
        api_fn!(RedisModule_SetCommandACLCategories),
        api_fn!(RedisModule_GetCommand),
    ) else {
        return Ok(());
    };
    let (Ok(name), Ok(cats)) = (CString::new(command), CString::new(categories)) else {
        return Err(Error::syntax("command name with a NUL byte"));
    };
    // SAFETY: valid context during OnLoad; NUL-terminated strings that outlive the call.
    let cmd = unsafe { get(ctx.get_raw(), name.as_ptr()) };
    // SAFETY: `cmd` is this module's command, checked non-null.
    if cmd.is_null() || unsafe { set(cmd, cats.as_ptr()) } != raw::REDISMODULE_OK as c_int {
        return Err(Error::syntax(format!(
            "could not set the ACL categories of {command} to '{categories}'"
        )));
    }
    Ok(())
}

/// The user running the current command, looked up once for all of its checks.
pub struct Caller {
    ctx: *mut raw::RedisModuleCtx,
    user: *mut raw::RedisModuleUser,
}

impl Drop for Caller {
    fn drop(&mut self) {
        // SAFETY: function pointer filled at load (checked in `of`); `user` came from
        // GetModuleUserFromUserName and is freed exactly once.
        if let Some(free_user) = api_fn!(RedisModule_FreeModuleUser) {
            unsafe { free_user(self.user) };
        }
    }
}

impl Caller {
    /// None when there is nothing to check: a replicated or loading command, no client
    /// (a timer), or a server without the ACL API for modules.
    pub fn of(ctx: &Context) -> Result<Option<Caller>> {
        let flags = ctx.get_flags();
        if flags.contains(ContextFlags::REPLICATED) || flags.contains(ContextFlags::LOADING) {
            return Ok(None);
        }
        // SAFETY: function pointers the server filled in at load.
        let (Some(client_id), Some(name_by_id), Some(current_name), Some(user_by_name)) = (unsafe {
            (
                raw::RedisModule_GetClientId,
                raw::RedisModule_GetClientUserNameById,
                raw::RedisModule_GetCurrentUserName,
                raw::RedisModule_GetModuleUserFromUserName,
            )
        }) else {
            return Ok(None);
        };
        // SAFETY: function pointers the server filled in at load.
        let (Some(_), Some(_), Some(free)) = (unsafe {
            (
                raw::RedisModule_ACLCheckKeyPermissions,
                raw::RedisModule_FreeModuleUser,
                raw::RedisModule_FreeString,
            )
        }) else {
            return Ok(None);
        };
        // The user of a connected client, by its id. A script's client is not among
        // them: it runs as its caller's user, which RM_GetCurrentUserName gives. A
        // command another module runs through RM_Call has a client of its own with no
        // user (root), where RM_GetCurrentUserName reads through a null pointer: not
        // found by id and not a script, it has nothing to check (nor does Redis).
        // SAFETY: a live command context; a returned name (or null) is ours to free.
        let mut name = unsafe { name_by_id(ctx.get_raw(), client_id(ctx.get_raw())) };
        if name.is_null() && flags.contains(ContextFlags::LUA) {
            // SAFETY: a script's client always carries its caller's user.
            name = unsafe { current_name(ctx.get_raw()) };
        }
        if name.is_null() {
            return Ok(None);
        }
        // SAFETY: `name` is a valid string; freed right after the lookup.
        let user = unsafe { user_by_name(name) };
        unsafe { free(ctx.get_raw(), name) };
        if user.is_null() {
            return Err(Error::new(Code::Err, "the current user no longer exists"));
        }
        Ok(Some(Caller {
            ctx: ctx.get_raw(),
            user,
        }))
    }

    /// NOPERM unless the user may access `key` (a server string made earlier, or the
    /// bytes, made into one now) as `access` says.
    pub fn check_key(&self, key: &[u8], made: Option<&KeyName>, access: Access) -> Result<()> {
        // SAFETY: present, checked in `of`.
        let (Some(check), Some(create), Some(free)) = (unsafe {
            (
                raw::RedisModule_ACLCheckKeyPermissions,
                raw::RedisModule_CreateString,
                raw::RedisModule_FreeString,
            )
        }) else {
            return Ok(());
        };
        let perms = match access {
            Access::Read => raw::REDISMODULE_CMD_KEY_ACCESS,
            Access::Write => {
                raw::REDISMODULE_CMD_KEY_ACCESS
                    | raw::REDISMODULE_CMD_KEY_INSERT
                    | raw::REDISMODULE_CMD_KEY_UPDATE
                    | raw::REDISMODULE_CMD_KEY_DELETE
            }
        } as c_int;
        let rc = match made {
            // SAFETY: a live user and a live server string.
            Some(name) => unsafe { check(self.user, name.as_ptr(), perms) },
            None => {
                // SAFETY: a byte buffer with its length; the string is freed below.
                let s = unsafe { create(self.ctx, key.as_ptr().cast::<c_char>(), key.len()) };
                let rc = unsafe { check(self.user, s, perms) };
                unsafe { free(self.ctx, s) };
                rc
            }
        };
        if rc == raw::REDISMODULE_OK as c_int {
            Ok(())
        } else {
            Err(Error::noperm(&String::from_utf8_lossy(key)))
        }
    }

    /// Whether the user may run the command `argv` (name, subcommand...).
    fn may_run(&self, argv: &[&str]) -> bool {
        // SAFETY: function pointers the server filled in at load.
        let (Some(check), Some(create), Some(free)) = (unsafe {
            (
                raw::RedisModule_ACLCheckCommandPermissions,
                raw::RedisModule_CreateString,
                raw::RedisModule_FreeString,
            )
        }) else {
            return false;
        };
        let mut strings: Vec<*mut raw::RedisModuleString> = argv
            .iter()
            // SAFETY: byte buffers with their lengths; all freed below.
            .map(|a| unsafe { create(self.ctx, a.as_ptr().cast::<c_char>(), a.len()) })
            .collect();
        // SAFETY: a live user and `strings.len()` live strings.
        let rc = unsafe { check(self.user, strings.as_mut_ptr(), strings.len() as c_int) };
        for s in strings {
            unsafe { free(self.ctx, s) };
        }
        rc == raw::REDISMODULE_OK as c_int
    }
}

/// Key permissions on several keys at once (one user lookup).
pub fn check_keys(ctx: &Context, keys: &[(&[u8], Option<&KeyName>)], access: Access) -> Result<()> {
    if let Some(caller) = Caller::of(ctx)? {
        for (key, made) in keys {
            caller.check_key(key, *made, access)?;
        }
    }
    Ok(())
}

pub fn check_key(ctx: &Context, key: &str, access: Access) -> Result<()> {
    check_keys(ctx, &[(key.as_bytes(), None)], access)
}

/// Every `@admin` command of this server, as argument vectors (`config|set` becomes
/// `["config", "set"]`), read on first use (the command table is fixed once loaded).
static ADMIN_COMMANDS: Mutex<Vec<Vec<String>>> = Mutex::new(Vec::new());

fn admin_commands(ctx: &Context) -> Vec<Vec<String>> {
    let mut known = ADMIN_COMMANDS.lock().unwrap_or_else(|p| p.into_inner());
    if known.is_empty() {
        if let Ok(RedisValue::Array(names)) =
            ctx.call("COMMAND", &["LIST", "FILTERBY", "ACLCAT", "admin"][..])
        {
            *known = names
                .into_iter()
                .filter_map(|v| String::try_from(v).ok())
                .map(|name| name.split('|').map(str::to_string).collect())
                .collect();
        }
    }
    known.clone()
}

/// The JWT.KEY subcommands that read or change key material are `@admin @dangerous`.
/// Where the server enforces that itself (7.2+, Valkey 8) nothing is left to do. On
/// 7.0 the module cannot declare categories, so `+@all -@admin` would let the user in:
/// there the caller must be allowed every `@admin` command of the server (checked with
/// the server's own ACL API), else NOPERM. Failing closed: a user who may run some but
/// not all admin commands is refused.
pub fn check_admin(ctx: &Context, command: &str) -> Result<()> {
    if server_has_categories() {
        return Ok(());
    }
    let Some(caller) = Caller::of(ctx)? else {
        return Ok(());
    };
    let admin = admin_commands(ctx);
    if admin.is_empty() {
        return Err(Error::new(
            Code::NoPerm,
            format!("{command} needs @admin, and this server did not list its @admin commands"),
        ));
    }
    for argv in &admin {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        if !caller.may_run(&argv) {
            return Err(Error::new(
                Code::NoPerm,
                format!(
                    "this user has no permissions to run the '{command}' command (it is @admin, and the user may not run '{}')",
                    argv.join("|")
                ),
            ));
        }
    }
    Ok(())
}

//! Registering commands from one declarative table (`crate::commands::table`): the
//! command itself (`RedisModule_CreateCommand`, or `CreateSubcommand` for `a|b`
//! names), its ACL categories, and its metadata for COMMAND INFO / COMMAND DOCS
//! (`RedisModule_SetCommandInfo`, 7.0+): summary, complexity, since, arity, key specs
//! and the full argument tree, so redis-cli shows hints as it does for SET.
//!
//! Subject-first commands declare argument 1 with a key spec flagged
//! `NOT_KEY|RO|ACCESS` plus the legacy 1,1,1: cluster clients route by it to the slot
//! of `{<sub>}`, while ACL key patterns do not judge the bare subject (the module
//! checks the real keys itself).

use redis_module::{raw, Context, Status};
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::raw::c_int;
use std::ptr;

/// An `extern "C"` command handler (see `raw_handler!`).
pub type RawHandler =
    extern "C" fn(*mut raw::RedisModuleCtx, *mut *mut raw::RedisModuleString, c_int) -> c_int;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    String,
    Integer,
    /// The subject of a subject-first command (its key spec).
    Key,
    PureToken,
    OneOf,
    Block,
}

/// One argument as COMMAND DOCS shows it.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgKind,
    /// The keyword before the value (`TTL` in `TTL <dur>`), or the pure token.
    pub token: Option<&'static str>,
    pub optional: bool,
    pub multiple: bool,
    pub sub: &'static [Arg],
}

/// One command (or `container|subcommand`), as registered and documented.
#[derive(Debug)]
pub struct Command {
    /// Lower case: `jwt.sign`, `jwt.key|list`.
    pub name: &'static str,
    pub handler: RawHandler,
    pub flags: &'static str,
    pub arity: i32,
    pub subject_first: bool,
    /// ACL categories, space separated, without `@` (`jwt` is added where supported).
    pub acl: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub since: &'static str,
    pub args: &'static [Arg],
}

/// Registers every command of `table`, containers first as needed. Err when the
/// server refuses one (the module then refuses to load).
pub fn register(ctx: &Context, table: &[Command], jwt_category: bool) -> Status {
    for cmd in table {
        if let Err(e) = register_one(ctx, cmd) {
            crate::redis::log::warning(ctx, &format!("jwt: could not register {}: {e}", cmd.name));
            return Status::Err;
        }
        let cats = if jwt_category {
            format!("jwt {}", cmd.acl)
        } else {
            cmd.acl.to_string()
        };
        if let Err(e) = super::acl::set_categories(ctx, cmd.name, &cats) {
            crate::redis::log::warning(ctx, &format!("jwt: {e}"));
            return Status::Err;
        }
        set_info(ctx, cmd);
    }
    Status::Ok
}

fn c(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("'{s}' has a NUL byte"))
}

fn register_one(ctx: &Context, cmd: &Command) -> Result<(), String> {
    let (Some(create), Some(get), Some(create_sub)) = (
        api_fn!(RedisModule_CreateCommand),
        api_fn!(RedisModule_GetCommand),
        api_fn!(RedisModule_CreateSubcommand),
    ) else {
        return Err("this server cannot register commands with subcommands (7.0+)".into());
    };
    let flags = c(cmd.flags)?;
    let ok = raw::REDISMODULE_OK as c_int;
    let key = if cmd.subject_first { 1 } else { 0 };
    match cmd.name.split_once('|') {
        None => {
            let name = c(cmd.name)?;
            // SAFETY: a live context during OnLoad; NUL-terminated strings that outlive
            // the call; the handler is an `extern "C"` fn that lives as long as the module.
            let rc = unsafe {
                create(
                    ctx.get_raw(),
                    name.as_ptr(),
                    Some(cmd.handler),
                    flags.as_ptr(),
                    key,
                    key,
                    key,
                )
            };
            (rc == ok)
                .then_some(())
                .ok_or_else(|| "CreateCommand failed".into())
        }
        Some((container, sub)) => {
            let (container, sub) = (c(container)?, c(sub)?);
            // SAFETY: a live context during OnLoad and a NUL-terminated name.
            let mut parent = unsafe { get(ctx.get_raw(), container.as_ptr()) };
            if parent.is_null() {
                let empty = c("")?;
                // SAFETY: as above; a container has no handler of its own.
                let rc = unsafe {
                    create(
                        ctx.get_raw(),
                        container.as_ptr(),
                        None,
                        empty.as_ptr(),
                        0,
                        0,
                        0,
                    )
                };
                if rc != ok {
                    return Err("CreateCommand failed for the container".into());
                }
                // SAFETY: as above.
                parent = unsafe { get(ctx.get_raw(), container.as_ptr()) };
            }
            if parent.is_null() {
                return Err("the container command cannot be found".into());
            }
            // SAFETY: `parent` is this module's container, non-null; strings and the
            // handler outlive the call.
            let rc = unsafe {
                create_sub(
                    parent,
                    sub.as_ptr(),
                    Some(cmd.handler),
                    flags.as_ptr(),
                    key,
                    key,
                    key,
                )
            };
            (rc == ok)
                .then_some(())
                .ok_or_else(|| "CreateSubcommand failed".into())
        }
    }
}

const INFO_VERSION: raw::RedisModuleCommandInfoVersion = raw::RedisModuleCommandInfoVersion {
    version: 1,
    sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
    sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
    sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
};

fn zeroed_key_spec() -> raw::RedisModuleCommandKeySpec {
    // SAFETY: a plain C struct of integers, pointers and unions: all zeroes is a valid
    // value (the API's "end of the key specs").
    unsafe { MaybeUninit::zeroed().assume_init() }
}

fn subject_key_spec() -> raw::RedisModuleCommandKeySpec {
    let mut spec = zeroed_key_spec();
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

/// Owns every string and array the raw info points to until the server copied it.
#[derive(Default)]
struct Arena {
    strings: Vec<CString>,
    arrays: Vec<Vec<raw::RedisModuleCommandArg>>,
}

impl Arena {
    fn text(&mut self, s: &str) -> *const std::os::raw::c_char {
        match CString::new(s) {
            Ok(c) => {
                let p = c.as_ptr();
                self.strings.push(c);
                p
            }
            Err(_) => ptr::null(),
        }
    }

    /// The arguments as a raw array ending with an all-zero entry.
    fn args(&mut self, args: &[Arg]) -> *mut raw::RedisModuleCommandArg {
        let mut out = Vec::with_capacity(args.len() + 1);
        for a in args {
            let mut r = zeroed_arg();
            r.name = self.text(a.name);
            r.type_ = match a.kind {
                ArgKind::String => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
                ArgKind::Integer => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
                ArgKind::Key => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY,
                ArgKind::PureToken => {
                    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_PURE_TOKEN
                }
                ArgKind::OneOf => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_ONEOF,
                ArgKind::Block => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_BLOCK,
            };
            r.key_spec_index = if a.kind == ArgKind::Key { 0 } else { -1 };
            if let Some(t) = a.token {
                r.token = self.text(t);
            }
            r.flags = ((if a.optional {
                raw::REDISMODULE_CMD_ARG_OPTIONAL
            } else {
                0
            }) | (if a.multiple {
                raw::REDISMODULE_CMD_ARG_MULTIPLE
            } else {
                0
            })) as c_int;
            if !a.sub.is_empty() {
                r.subargs = self.args(a.sub);
            }
            out.push(r);
        }
        out.push(zeroed_arg());
        let p = out.as_mut_ptr();
        // Moving the Vec into the arena keeps its heap buffer (and `p`) where it is.
        self.arrays.push(out);
        p
    }
}

fn zeroed_arg() -> raw::RedisModuleCommandArg {
    // SAFETY: a plain C struct of integers and pointers: all zeroes is a valid value
    // (the API's "end of the arguments").
    unsafe { MaybeUninit::zeroed().assume_init() }
}

/// Sets COMMAND INFO / COMMAND DOCS of one registered command; logs and carries on
/// when the server cannot (metadata is an aid, not a requirement to run).
fn set_info(ctx: &Context, cmd: &Command) {
    let (Some(set_info), Some(get_command)) = (
        api_fn!(RedisModule_SetCommandInfo),
        api_fn!(RedisModule_GetCommand),
    ) else {
        return;
    };
    let mut arena = Arena::default();
    let name = arena.text(cmd.name);
    // SAFETY: a live context and a NUL-terminated name that outlives the call.
    let command = unsafe { get_command(ctx.get_raw(), name) };
    if command.is_null() {
        crate::redis::log::warning(
            ctx,
            &format!("cannot find command {} to describe it", cmd.name),
        );
        return;
    }
    let mut specs = [subject_key_spec(), zeroed_key_spec()];
    let raw_info = raw::RedisModuleCommandInfo {
        version: &INFO_VERSION,
        summary: arena.text(cmd.summary),
        complexity: arena.text(cmd.complexity),
        since: arena.text(cmd.since),
        history: ptr::null_mut(),
        tips: ptr::null(),
        arity: cmd.arity,
        key_specs: if cmd.subject_first {
            specs.as_mut_ptr()
        } else {
            ptr::null_mut()
        },
        args: if cmd.args.is_empty() {
            ptr::null_mut()
        } else {
            arena.args(cmd.args)
        },
    };
    // SAFETY: `command` is this module's, non-null; `raw_info` and every string, key
    // spec and argument array it points to live (in `arena`, `specs`) until the call
    // returns; the server copies them.
    if unsafe { set_info(command, &raw_info) } != raw::REDISMODULE_OK as c_int {
        crate::redis::log::warning(ctx, &format!("could not set command info of {}", cmd.name));
    }
}

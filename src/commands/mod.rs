//! Command handlers: one file per command family, plus the shared panic guard and
//! argument reader. Handlers parse and validate everything before the first write.

pub mod auth;
pub mod key;
pub mod refresh;
pub mod sign;
pub mod table;
pub mod token;
pub mod update;
pub mod user;

use crate::stats;
use jwt_core::error::{Error, Result};
use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub type Handler = fn(&Context, &[RedisString]) -> Result<RedisValue>;

/// Runs a handler so that nothing it does can take redis-server down: a panic becomes
/// an error reply (Rust would otherwise abort the whole process at the FFI boundary),
/// and every error is counted for INFO under its code.
pub fn guard(ctx: &Context, args: Vec<RedisString>, name: &str, handler: Handler) -> RedisResult {
    guard_with(ctx, name, |ctx| handler(ctx, &args))
}

/// `guard` for any step of a command: also the second half of one that waited for a
/// worker thread (see `offload`).
pub fn guard_with(
    ctx: &Context,
    name: &str,
    step: impl FnOnce(&Context) -> Result<RedisValue>,
) -> RedisResult {
    let outcome = catch_unwind(AssertUnwindSafe(|| step(ctx)));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            stats::failure(e.code);
            Err(RedisError::String(printable_ascii(&e.to_string())))
        }
        Err(_) => {
            stats::failure(jwt_core::error::Code::Err);
            crate::redis::log::warning(
                ctx,
                &format!("{name}: internal error (panic caught); please report it"),
            );
            Err(RedisError::String(format!(
                "ERR internal error in {name}; the server is unharmed"
            )))
        }
    }
}

/// Session writes are the primary's. A read-only replica refuses them itself (they
/// are flagged `write`); a writable one would change only its own copy and answer as
/// if done (a DESTROY that logs nobody out) while the primary's session lives on.
pub fn primary_only(ctx: &Context) -> Result<()> {
    if crate::redis::client::is_replica_client(ctx) {
        return Err(jwt_core::error::Error::new(
            jwt_core::error::Code::ReadOnly,
            "session writes go to the primary; this node is a replica",
        ));
    }
    Ok(())
}

/// An `extern "C"` command handler around `guard`, for commands registered by hand
/// (subcommands, which `redis_module!` cannot declare).
#[macro_export]
macro_rules! raw_handler {
    ($fn_name:ident, $label:expr, $handler:path) => {
        extern "C" fn $fn_name(
            ctx: *mut redis_module::raw::RedisModuleCtx,
            argv: *mut *mut redis_module::raw::RedisModuleString,
            argc: std::os::raw::c_int,
        ) -> std::os::raw::c_int {
            let context = redis_module::Context::new(ctx);
            let args = redis_module::decode_args(ctx, argv, argc);
            let reply = $crate::commands::guard(&context, args, $label, $handler);
            context.reply(reply) as std::os::raw::c_int
        }
    };
}

/// Error replies echo user input; the reply path keeps only single bytes, so anything
/// but printable ASCII becomes '?' (a raw UTF-8 sequence would be cut into garbage).
fn printable_ascii(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

pub use crate::redis::client::redact;

pub use crate::clock::now_ms;

/// Reads arguments left to right; option names are case-insensitive.
pub struct Args<'a> {
    args: &'a [RedisString],
    pos: usize,
}

impl<'a> Args<'a> {
    /// Skips the command name.
    pub fn new(args: &'a [RedisString]) -> Self {
        Args { args, pos: 1 }
    }

    /// Skips the command and subcommand names (or any `n` leading words).
    pub fn skipping(args: &'a [RedisString], n: usize) -> Self {
        Args { args, pos: n }
    }

    pub fn done(&self) -> bool {
        self.pos >= self.args.len()
    }

    pub fn next_bytes(&mut self, what: &str) -> Result<&'a [u8]> {
        let a = self.args.get(self.pos).ok_or_else(|| {
            Error::syntax(format!("wrong number of arguments: {what} is missing"))
        })?;
        self.pos += 1;
        Ok(a.as_slice())
    }

    pub fn next_str(&mut self, what: &str) -> Result<&'a str> {
        std::str::from_utf8(self.next_bytes(what)?)
            .map_err(|_| Error::syntax(format!("{what} must be UTF-8 text")))
    }

    /// The next argument, which must be JSON text (DATA, META...).
    pub fn next_json(&mut self, what: &str) -> Result<&'a [u8]> {
        let bytes = self.next_bytes(what)?;
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
            .map_err(|_| Error::syntax(format!("{what} is not valid JSON")))?;
        Ok(bytes)
    }

    /// Whether the next argument is the keyword `word` (case-insensitive).
    pub fn peek_is(&self, word: &str) -> bool {
        self.args
            .get(self.pos)
            .is_some_and(|a| a.as_slice().eq_ignore_ascii_case(word.as_bytes()))
    }

    /// The next option name, upper-cased, or None at the end.
    pub fn next_option(&mut self) -> Option<String> {
        let a = self.args.get(self.pos)?;
        self.pos += 1;
        Some(String::from_utf8_lossy(a.as_slice()).to_ascii_uppercase())
    }
}

/// Each option may be given once: a repeated option is almost always a client bug.
pub fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<()> {
    if slot.is_some() {
        return Err(Error::syntax(format!("{name} given more than once")));
    }
    *slot = Some(value);
    Ok(())
}

/// A flag option (`WITHDATA`, `REFRESH`...): also given at most once.
pub fn set_flag(flag: &mut bool, name: &str) -> Result<()> {
    if *flag {
        return Err(Error::syntax(format!("{name} given more than once")));
    }
    *flag = true;
    Ok(())
}

/// The options of a command whose only option is `<name> <duration>` (TOUCH's TTL,
/// REFRESH's EXPIRES).
pub fn only_duration_option(args: &mut Args, name: &str, command: &str) -> Result<Option<i64>> {
    let mut value = None;
    while let Some(opt) = args.next_option() {
        if opt != name {
            return Err(unknown_option(&opt, command));
        }
        let ms =
            jwt_core::duration::parse_positive_ms(args.next_str(&format!("{name} duration"))?)?;
        set_once(&mut value, ms, name)?;
    }
    Ok(value)
}

pub fn unknown_option(name: &str, command: &str) -> Error {
    let shown: String = name.chars().take(32).collect();
    Error::syntax(format!("unknown option '{shown}' for {command}"))
}

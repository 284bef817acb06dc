//! JWT.KEY: the keyring's administration.

use super::{redact, Args};
use crate::core::error::{Error, Result};
use crate::core::keyring::Keyring;
use crate::keyring_state;
use redis_module::{Context, RedisString, RedisValue};

/// JWT.KEY <subcommand> ...
pub fn key(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    let mut args = Args::new(argv);
    let sub = args.next_option().ok_or_else(|| Error::syntax("wrong number of arguments: subcommand is missing"))?;
    match sub.as_str() {
        "SYNC" => sync(ctx, &mut args),
        other => Err(Error::syntax(format!(
            "unknown subcommand '{}' for JWT.KEY",
            other.chars().take(32).collect::<String>()
        ))),
    }
}

/// JWT.KEY SYNC <blob>: replaces the whole keyring. This is how keyring changes reach
/// replicas and the AOF; it carries secrets, so the argument is redacted.
fn sync(ctx: &Context, args: &mut Args) -> Result<RedisValue> {
    redact(ctx, 2);
    let blob = args.next_bytes("keyring")?;
    if !args.done() {
        return Err(Error::syntax("JWT.KEY SYNC takes exactly one argument"));
    }
    let ring = Keyring::from_bytes(blob)?;
    keyring_state::replace(ring);
    ctx.replicate_verbatim();
    Ok(RedisValue::SimpleStringStatic("OK"))
}

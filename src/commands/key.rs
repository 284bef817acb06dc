//! JWT.KEY (the keyring's administration) and JWT.JWKS.
//!
//! Every change goes through `keyring_state::update`, which replicates the resulting
//! keyring as one `JWT.KEY SYNC` command: replicas and the AOF never generate keys.

use super::{now_ms, redact, Args};
use crate::config;
use crate::keyring_state;
use crate::redis::{acl, reply};
use jwt_core::error::{Error, Result};
use jwt_core::key::hmac_secret;
use jwt_core::keyring::{validate_kid, Alg, Key, Keyring};
use jwt_core::random::OsRandom;
use redis_module::{Context, ContextFlags, RedisString, RedisValue};

/// Arguments of a JWT.KEY subcommand: argv[0] is JWT.KEY, argv[1] the subcommand.
fn sub_args(argv: &[RedisString]) -> Args<'_> {
    Args::skipping(argv, 2)
}

fn finish(args: &Args, name: &str) -> Result<()> {
    if args.done() {
        Ok(())
    } else {
        Err(Error::syntax(format!(
            "too many arguments for JWT.KEY {name}"
        )))
    }
}

fn alg_arg(args: &mut Args) -> Result<Alg> {
    let name = args.next_str("algorithm")?;
    Alg::from_arg(name).ok_or_else(|| {
        Error::syntax(format!(
            "unsupported algorithm '{}': HS256/384/512, RS256/384/512, PS256/384/512, ES256/384, EdDSA",
            name.chars().take(16).collect::<String>()
        ))
    })
}

fn kid_arg(args: &mut Args) -> Result<String> {
    let kid = args.next_str("kid")?;
    validate_kid(kid)?;
    Ok(kid.to_string())
}

/// JWT.KEY GENERATE <alg> [KID <kid>] -> kid. The first key of an empty keyring
/// becomes active; later ones are ready until ACTIVATE.
pub fn generate(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    acl::check_admin(ctx, "JWT.KEY GENERATE")?;
    let args = &mut sub_args(argv);
    let alg = alg_arg(args)?;
    let kid = match args.next_option().as_deref() {
        Some("KID") => Some(kid_arg(args)?),
        Some(other) => return Err(super::unknown_option(other, "JWT.KEY GENERATE")),
        None => None,
    };
    finish(args, "GENERATE")?;
    let now = now_ms()?;
    let rng = OsRandom::new();
    let kid = keyring_state::update(ctx, |ring| {
        let kid = match kid {
            Some(k) => k,
            None => ring.fresh_kid(&rng)?,
        };
        add(ring, Key::generate(alg, &kid, now, &rng)?, now)?;
        Ok(kid)
    })?;
    Ok(RedisValue::BulkString(kid))
}

fn add(ring: &mut Keyring, key: Key, now: i64) -> Result<()> {
    let kid = key.kid.clone();
    let legacy = key.legacy;
    ring.insert(key)?;
    if ring.active().is_none() && !legacy {
        ring.activate(&kid, now)?;
    }
    Ok(())
}

/// JWT.KEY IMPORT <kid> <alg> <secret-or-PEM> [LEGACY]: HS* take the secret itself (at
/// least the hash length), the others a PEM private key. LEGACY: a verify-only HMAC key
/// for tokens without kid (migration), any length. The secret is redacted from logs.
pub fn import(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    // Redacted before anything can fail: a refused call is still logged (SLOWLOG).
    redact(ctx, 4);
    acl::check_admin(ctx, "JWT.KEY IMPORT")?;
    let args = &mut sub_args(argv);
    let kid = kid_arg(args)?;
    let alg = alg_arg(args)?;
    let material = args.next_bytes("secret or PEM")?;
    let legacy = match args.next_option().as_deref() {
        Some("LEGACY") => true,
        Some(other) => return Err(super::unknown_option(other, "JWT.KEY IMPORT")),
        None => false,
    };
    finish(args, "IMPORT")?;
    let now = now_ms()?;
    let key = match legacy {
        true => Key::legacy(&kid, alg, &hmac_secret(material)?, now)?,
        false => Key::import(&kid, alg, material, now)?,
    };
    keyring_state::update(ctx, |ring| add(ring, key, now))?;
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// JWT.KEY ACTIVATE <kid>: this key signs from now on; the previous one keeps verifying.
pub fn activate(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    acl::check_admin(ctx, "JWT.KEY ACTIVATE")?;
    let args = &mut sub_args(argv);
    let kid = kid_arg(args)?;
    finish(args, "ACTIVATE")?;
    let now = now_ms()?;
    keyring_state::update(ctx, |ring| ring.activate(&kid, now))?;
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// JWT.KEY ROTATE [<alg>] -> new kid. A new key signs from now on; the old one is
/// retired and verifies until its tokens can no longer be valid.
pub fn rotate(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    acl::check_admin(ctx, "JWT.KEY ROTATE")?;
    let args = &mut sub_args(argv);
    let alg = if args.done() {
        None
    } else {
        Some(alg_arg(args)?)
    };
    finish(args, "ROTATE")?;
    let now = now_ms()?;
    let rng = OsRandom::new();
    let kid = keyring_state::update(ctx, |ring| {
        ring.rotate(alg, now, config::retention_ms(), &rng)
    })?;
    Ok(RedisValue::BulkString(kid))
}

/// JWT.KEY RETIRE <kid>: stops a (non-active) key from signing; it keeps verifying
/// for the retention period, then it is dropped.
pub fn retire(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    acl::check_admin(ctx, "JWT.KEY RETIRE")?;
    let args = &mut sub_args(argv);
    let kid = kid_arg(args)?;
    finish(args, "RETIRE")?;
    let now = now_ms()?;
    keyring_state::update(ctx, |ring| ring.retire(&kid, now, config::retention_ms()))?;
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// JWT.KEY LIST: one entry per key: kid, alg, created, state, retires_at. Never material.
pub fn list(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    finish(&sub_args(argv), "LIST")?;
    let now = now_ms()?;
    let ring = keyring_state::read();
    let records = ring
        .list()
        .into_iter()
        .filter(|k| k.drop_at_ms.is_none_or(|d| now < d))
        .map(|k| {
            vec![
                (c"kid", RedisValue::BulkString(k.kid)),
                (c"alg", RedisValue::SimpleStringStatic(k.alg.name())),
                (c"created", RedisValue::Integer(k.created_ms)),
                (c"state", RedisValue::SimpleStringStatic(k.state)),
                (
                    c"retires_at",
                    k.drop_at_ms.map_or(RedisValue::Null, RedisValue::Integer),
                ),
                (c"weak", RedisValue::Integer(k.weak as i64)),
            ]
        })
        .collect();
    drop(ring);
    Ok(reply::records(ctx, records))
}

/// JWT.KEY EXPORT <kid> -> [kid, alg, secret-or-PEM], what IMPORT takes back (to keep
/// the primaries of a cluster on one keyring).
pub fn export(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    acl::check_admin(ctx, "JWT.KEY EXPORT")?;
    let args = &mut sub_args(argv);
    let kid = kid_arg(args)?;
    finish(args, "EXPORT")?;
    let ring = keyring_state::read();
    let key = ring
        .get(&kid)
        .ok_or_else(|| Error::syntax(format!("no key with kid '{kid}'")))?;
    Ok(RedisValue::Array(vec![
        RedisValue::BulkString(key.kid.clone()),
        RedisValue::SimpleStringStatic(key.alg.name()),
        RedisValue::StringBuffer(key.export()),
    ]))
}

/// JWT.KEY SYNC <blob>: replaces the whole keyring. This is how keyring changes reach
/// replicas and the AOF; it carries secrets, so the argument is redacted.
pub fn sync(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    let args = &mut sub_args(argv);
    redact(ctx, 2);
    // The permission first, as Redis 7.2+ checks the command's categories before it runs.
    acl::check_admin(ctx, "JWT.KEY SYNC")?;
    // Only what a primary sent or the AOF holds: from a client it would replace (or
    // wipe) the keyring behind every other command's back.
    let flags = ctx.get_flags();
    if !flags.contains(ContextFlags::REPLICATED) && !flags.contains(ContextFlags::LOADING) {
        return Err(Error::syntax(
            "JWT.KEY SYNC is internal: accepted only from the primary's replication stream and the AOF",
        ));
    }
    let blob = args.next_bytes("keyring")?;
    finish(args, "SYNC")?;
    let ring = Keyring::from_bytes(blob)?;
    keyring_state::replace(ring);
    ctx.replicate_verbatim();
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// JWT.KEY REVOKE <kid> -> the active kid: breach response. The key and every token it
/// signed stop verifying at once, here and (replicated) on the replicas, verify cache
/// included; JWKS no longer lists it; its kid can never return. If it was the signing
/// key, another takes over (or one is generated). Sessions live on: their refresh
/// tokens (MACed with the node's refresh secret, not a signing key) mint access
/// tokens under the new key.
pub fn revoke(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    acl::check_admin(ctx, "JWT.KEY REVOKE")?;
    let args = &mut sub_args(argv);
    let kid = kid_arg(args)?;
    finish(args, "REVOKE")?;
    let now = now_ms()?;
    let rng = OsRandom::new();
    let active = keyring_state::update(ctx, |ring| {
        ring.revoke(&kid, now, &rng)?;
        Ok(ring.active().map(|k| k.kid.clone()))
    })?;
    crate::redis::log::warning(ctx, &format!("jwt: key '{kid}' revoked"));
    Ok(active.map_or(RedisValue::Null, RedisValue::BulkString))
}

/// JWT.KEY CUTOFF -> the cutoff (ms): every session of every user created before now
/// has ended, in O(1): one number in the keyring, replicated with it, that VERIFY,
/// TOUCH, REFRESH, COUNT and SESSIONS compare with each session's creation time.
/// Stateless tokens issued before it are refused too. Their keys expire as usual.
pub fn cutoff(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    acl::check_admin(ctx, "JWT.KEY CUTOFF")?;
    let args = &mut sub_args(argv);
    finish(args, "CUTOFF")?;
    let now = now_ms()?;
    let at = keyring_state::update(ctx, |ring| {
        // Sessions created in this very millisecond end too.
        ring.cut_off_sessions(now + 1);
        Ok(ring.sessions_cutoff_ms())
    })?;
    crate::redis::log::warning(
        ctx,
        "jwt: every session created before now has been ended (JWT.KEY CUTOFF)",
    );
    Ok(RedisValue::Integer(at))
}

/// JWT.JWKS: the public keys as a JSON Web Key Set (RFC 7517). HMAC keys have no public
/// part and never appear; neither does any private member.
pub fn jwks(_ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    if argv.len() != 1 {
        return Err(Error::syntax("JWT.JWKS takes no arguments"));
    }
    let doc = keyring_state::read().jwks(now_ms()?);
    Ok(RedisValue::BulkString(doc.to_string()))
}

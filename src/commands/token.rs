//! The token commands: JWT.VERIFY, JWT.DECODE, JWT.TOUCH, JWT.DESTROY.

use super::auth::{
    live, no_session, stateless_allowed, unverified_session_key, with_verified, Expect, Verified,
};
use super::{now_ms, only_duration_option, redact, set_flag, set_once, unknown_option, Args};
use crate::cluster;
use crate::config;
use crate::keyring_state;
use crate::redis::acl::{self, Access};
use crate::stats;
use crate::store::{SessionRef, Store};
use jwt_core::error::{Error, Result};
use jwt_core::jws;
use jwt_core::lifecycle::{self, Touched};
use jwt_core::refresh;
use jwt_core::store::SessionStore;
use redis_module::{Context, RedisString, RedisValue};

/// Replies a bulk string straight from `bytes` (no copy into a RedisValue). Only as a
/// handler's last step: the handler then returns NoReply.
fn reply_bytes(ctx: &Context, bytes: &[u8]) -> RedisValue {
    redis_module::raw::reply_with_string_buffer(ctx.get_raw(), bytes.as_ptr().cast(), bytes.len());
    RedisValue::NoReply
}

fn parse_verify_options(
    args: &mut Args,
    allow_withdata: bool,
    command: &str,
) -> Result<(bool, Expect)> {
    let mut withdata = false;
    let mut expect = Expect::default();
    while let Some(opt) = args.next_option() {
        match opt.as_str() {
            "WITHDATA" if allow_withdata => set_flag(&mut withdata, "WITHDATA")?,
            "AUD" => set_once(&mut expect.aud, args.next_str("AUD")?.into(), "AUD")?,
            "ISS" => set_once(&mut expect.iss, args.next_str("ISS")?.into(), "ISS")?,
            other => return Err(unknown_option(other, command)),
        }
    }
    Ok((withdata, expect))
}

/// JWT.VERIFY <token> [WITHDATA] [AUD a] [ISS i]
pub fn verify(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    redact(ctx, 1);
    let mut args = Args::new(argv);
    let token = args.next_bytes("token")?;
    let (withdata, expect) = parse_verify_options(&mut args, true, "JWT.VERIFY")?;
    cluster::route_token(ctx, token, unverified_session_key)?;
    let now = now_ms()?;
    with_verified(
        ctx,
        "JWT.VERIFY",
        false,
        token,
        now,
        Some(expect),
        move |ctx, v, now| verified(ctx, v, now, withdata),
    )
}

/// VERIFY once the token is authenticated: its session, then the reply.
fn verified(ctx: &Context, v: Verified, now: i64, withdata: bool) -> Result<RedisValue> {
    let store = Store::new(ctx);
    let data = match &v.session {
        Some(session) => {
            check_session_keys(ctx, session, Access::Read)?;
            if !live(&store, &v, session, now) {
                return Err(gone(ctx, session, Error::revoked()));
            }
            if withdata {
                store.data(session)
            } else {
                None
            }
        }
        None => {
            stateless_allowed(&v)?;
            None
        }
    };
    stats::VERIFIES.incr();
    Ok(if withdata {
        RedisValue::Array(vec![
            RedisValue::StringBuffer(v.payload.to_vec()),
            data.map_or(RedisValue::Null, RedisValue::StringBuffer),
        ])
    } else {
        reply_bytes(ctx, &v.payload)
    })
}

/// JWT.DECODE <token>: header and payload, no verification at all.
pub fn decode(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    redact(ctx, 1);
    let mut args = Args::new(argv);
    let token = args.next_bytes("token")?;
    if let Some(extra) = args.next_option() {
        return Err(unknown_option(&extra, "JWT.DECODE"));
    }
    let (header, payload) = jws::decode_unverified(token, config::max_token_bytes())?;
    Ok(RedisValue::Array(vec![
        RedisValue::StringBuffer(header),
        RedisValue::StringBuffer(payload),
    ]))
}

/// JWT.TOUCH <token> [TTL dur]: VERIFY, then the session lives `TTL` (default: its own
/// idle lifetime) from now, never past its MAXAGE deadline.
pub fn touch(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    redact(ctx, 1);
    super::primary_only(ctx)?;
    let mut args = Args::new(argv);
    let token = args.next_bytes("token")?;
    let ttl = only_duration_option(&mut args, "TTL", "JWT.TOUCH")?;
    cluster::route_token(ctx, token, unverified_session_key)?;
    let now = now_ms()?;
    with_verified(
        ctx,
        "JWT.TOUCH",
        true,
        token,
        now,
        Some(Expect::default()),
        move |ctx, v, now| touched(ctx, v, now, ttl),
    )
}

/// TOUCH once the token is authenticated.
fn touched(ctx: &Context, v: Verified, now: i64, ttl: Option<i64>) -> Result<RedisValue> {
    let s = v.session.as_ref().ok_or_else(no_session)?;
    check_session_keys(ctx, s, Access::Write)?;
    let store = Store::new(ctx);
    let cutoff = keyring_state::sessions_cutoff_ms();
    let touched = lifecycle::touch(&store, s, &v.token_session, now, cutoff, ttl)
        .map_err(|e| gone(ctx, s, e))?;
    if let (Touched::Moved(expiry), None) = (touched, v.exp) {
        // This token lives as long as its session: so must the key that signed it.
        keyring_state::keep_key_for(ctx, &v.kid, expiry)?;
    }
    stats::TOUCHES.incr();
    Ok(reply_bytes(ctx, &v.payload))
}

/// JWT.DESTROY <token>: logout. The signature must verify; an expired token may still
/// end its session. A refresh token works too (clients often hold only that one at
/// logout). 1 when a session was removed, 0 when it was already gone.
pub fn destroy(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    redact(ctx, 1);
    super::primary_only(ctx)?;
    let mut args = Args::new(argv);
    let token = args.next_bytes("token")?;
    if let Some(extra) = args.next_option() {
        return Err(unknown_option(&extra, "JWT.DESTROY"));
    }
    if refresh::looks_like_refresh_token(token) {
        return destroy_by_refresh_token(ctx, token);
    }
    cluster::route_token(ctx, token, unverified_session_key)?;
    let now = now_ms()?;
    with_verified(ctx, "JWT.DESTROY", true, token, now, None, |ctx, v, now| {
        let s = v.session.as_ref().ok_or_else(no_session)?;
        check_session_keys(ctx, s, Access::Write)?;
        let store = Store::new(ctx);
        let cutoff = keyring_state::sessions_cutoff_ms();
        let removed = lifecycle::destroy(&store, s, &v.token_session, now, cutoff)?;
        ended(ctx, s, removed)
    })
}

/// A REVOKED answer, unless the session's slot is migrating (cluster::not_found).
pub(super) fn gone(ctx: &Context, s: &SessionRef, e: Error) -> Error {
    if e.code == jwt_core::error::Code::Revoked {
        cluster::not_found(ctx, s.key(), e)
    } else {
        e
    }
}

/// Token commands name no key, so ACL key patterns cannot judge them: the module
/// checks the keys the token leads to (the session and its index), as Redis would
/// for a command that named them.
pub(super) fn check_session_keys(ctx: &Context, s: &SessionRef, access: Access) -> Result<()> {
    acl::check_keys(
        ctx,
        &[
            (s.key().as_bytes(), s.name.as_ref()),
            (s.index_key().as_bytes(), s.index_name.as_ref()),
        ],
        access,
    )
}

fn ended(ctx: &Context, s: &SessionRef, removed: bool) -> Result<RedisValue> {
    if !removed {
        // Nothing to end here: unless the slot is half moved (then TRYAGAIN).
        return match cluster::not_found(ctx, s.key(), Error::revoked()) {
            e if e.code == jwt_core::error::Code::TryAgain => Err(e),
            _ => Ok(RedisValue::Integer(0)),
        };
    }
    stats::DESTROYS.incr();
    Ok(RedisValue::Integer(1))
}

/// Logout with a refresh token: any genuine one of the session's incarnation (its MAC
/// verifies and it names the live session), rotated away or not: ending the session is
/// what a replayed token would cause anyway.
fn destroy_by_refresh_token(ctx: &Context, presented: &[u8]) -> Result<RedisValue> {
    let ring = keyring_state::read();
    let (token, s) = super::refresh::open_refresh_token(ctx, presented, &ring)?;
    check_session_keys(ctx, &s, Access::Write)?;
    ended(
        ctx,
        &s,
        lifecycle::destroy_by_refresh(&Store::new(ctx), &s, &token)?,
    )
}

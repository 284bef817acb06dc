//! JWT.REFRESH: refresh-token rotation with reuse detection, in one atomic command.

use super::token::check_session_keys;
use super::{now_ms, redact, set_flag, set_once, unknown_option, Args};
use crate::config;
use crate::keyring_state;
use crate::redis::acl::Access;
use crate::stats;
use crate::store::SessionRef;
use crate::store::Store;
use jwt_core::duration::parse_positive_ms;
use jwt_core::error::{Code, Error, Result};
use jwt_core::keyring::Keyring;
use jwt_core::lifecycle;
use jwt_core::random::{uuid_v4, OsRandom};
use jwt_core::refresh::{self, RefreshToken};
use jwt_core::session::{self, SessionAddr};
use jwt_core::token::{AccessToken, SessionClaims};
use redis_module::{Context, RedisString, RedisValue};

/// Routes (cluster), authenticates (the node's refresh MAC) and locates a refresh
/// token: the token with its sub and sid validated, and its session.
pub(super) fn open_refresh_token(
    ctx: &Context,
    presented: &[u8],
    ring: &Keyring,
) -> Result<(RefreshToken, SessionRef)> {
    crate::cluster::route_token(ctx, presented, |t| {
        let (sub, sid) = refresh::peek_session(t)?;
        Some(config::PREFIX.with(|p| SessionAddr::new(p, &sub, &sid).key().to_string()))
    })?;
    // Any refresh secret of the keyring (a cluster's primaries may have made several
    // before they converged); the signing one first.
    let mut result = Err(Error::invalid("refresh token signature does not verify"));
    for mac in ring.refresh_macs() {
        result = refresh::decode(presented, mac, config::max_token_bytes());
        if result.is_ok() {
            break;
        }
    }
    let token = result?;
    let malformed = |_| Error::invalid("malformed refresh token");
    let sub = session::validate_subject(token.sub.as_bytes()).map_err(malformed)?;
    let sid = session::validate_sid(token.sid.as_bytes()).map_err(malformed)?;
    let session = config::PREFIX.with(|p| SessionRef::new(SessionAddr::new(p, sub, sid)));
    Ok((token, session))
}

fn mac_of(ring: &Keyring) -> Result<&ring::hmac::Key> {
    ring.refresh_secret()
        .ok_or_else(|| Error::invalid("refresh token signature does not verify"))
}

/// JWT.REFRESH <refresh_token> [EXPIRES <dur>] -> [access_token, refresh_token]
///
/// The presented token must be the session's current one: it is rotated (a new pair is
/// returned, the session's idle life is extended, never past MAXAGE). A token that was
/// already rotated away is reuse: the session is revoked and the reply is REUSED, except
/// the immediate predecessor within `jwt.refresh-grace` of the rotation, which gets a
/// working pair (see jwt_core::refresh for why a sibling).
pub fn refresh(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    redact(ctx, 1);
    super::primary_only(ctx)?;
    let mut args = Args::new(argv);
    let presented = args.next_bytes("refresh token")?;
    let mut expires = None;
    let mut with_payload = false;
    while let Some(opt) = args.next_option() {
        match opt.as_str() {
            "EXPIRES" => set_once(
                &mut expires,
                parse_positive_ms(args.next_str("EXPIRES duration")?)?,
                "EXPIRES",
            )?,
            "WITHPAYLOAD" => set_flag(&mut with_payload, "WITHPAYLOAD")?,
            other => return Err(unknown_option(other, "JWT.REFRESH")),
        }
    }
    // One keyring snapshot for the whole command: the MAC check, then the new tokens.
    let ring = keyring_state::read();
    let (token, s) = open_refresh_token(ctx, presented, &ring)?;
    check_session_keys(ctx, &s, Access::Write)?;
    let (sub, sid) = (token.sub.as_str(), token.sid.as_str());
    let now = now_ms()?;
    let rng = OsRandom::new();
    let store = Store::new(ctx);
    let next = RefreshToken::new(token.created_ms, 0, token.incarnation, sub, sid, &rng)?;
    let cutoff = keyring_state::sessions_cutoff_ms();
    let grace = config::REFRESH_GRACE.ms();
    let plan = lifecycle::plan_refresh(&store, &s, &token, &next.hash(), now, cutoff, grace)
        .inspect_err(|e| {
            if e.code == Code::Reused {
                stats::REUSE_DETECTIONS.incr();
            }
        })
        .map_err(|e| super::token::gone(ctx, &s, e))?;
    let rotation = &plan.rotation;
    let next = RefreshToken {
        generation: rotation.generation,
        ..next
    };
    let claims = SessionClaims::from_stored(plan.claims.as_deref())?;
    let (access, payload) = AccessToken {
        sub,
        sid: Some(sid),
        sinc: token.incarnation,
        sver: plan.version,
        now,
        lifetime_ms: Some(expires.unwrap_or(plan.access_ms)),
        session_end_ms: plan.expiry_ms,
        claims: &claims,
        kid: None,
    }
    .prepare(&uuid_v4(&rng)?, &ring, config::max_token_bytes())?;
    let refresh_token = next.encode(mac_of(&ring)?);
    drop(ring);
    lifecycle::commit_refresh(&store, &s, &plan)?;
    stats::REFRESHES.incr();
    super::sign::reply_signed(ctx, "JWT.REFRESH", access, move |access| {
        let mut reply = vec![
            RedisValue::BulkString(access),
            RedisValue::BulkString(refresh_token),
        ];
        if with_payload {
            // The payload of the token just signed: no second VERIFY needed.
            reply.push(RedisValue::BulkString(payload));
        }
        RedisValue::Array(reply)
    })
}

//! JWT.SIGN: a new session and its token (or a STATELESS token), and the access-token
//! issuing that JWT.REFRESH shares.

use super::{now_ms, set_flag, set_once, unknown_option, Args};
use crate::config;
use crate::keyring_state;
use crate::offload;
use crate::redis::acl::{self, Access};
use crate::stats;
use crate::store::{SessionRef, Store};
use jwt_core::claims;
use jwt_core::duration::parse_positive_ms;
use jwt_core::error::{Code, Error, Result};
use jwt_core::jws::Unsigned;
use jwt_core::keyring::Keyring;
use jwt_core::lifecycle::{self, Limit};
use jwt_core::random::{uuid_v4, uuid_v4_pair, OsRandom};
use jwt_core::refresh::RefreshToken;
use jwt_core::session;
use jwt_core::session::SessionAddr;
use jwt_core::store::{NewSession, RefreshInit};
use jwt_core::token::{AccessToken, SessionClaims};
use redis_module::{Context, RedisString, RedisValue};
use std::sync::atomic::Ordering;

/// SESSIONS lists META with every session: keep it a label, not a document.
const MAX_META_BYTES: usize = 512;

/// Options of JWT.SIGN, validated before anything is written.
#[derive(Default)]
struct SignOptions<'a> {
    claims: Option<serde_json::Map<String, serde_json::Value>>,
    data: Option<&'a [u8]>,
    meta: Option<&'a [u8]>,
    ttl_ms: Option<i64>,
    expires_ms: Option<i64>,
    maxage_ms: Option<i64>,
    sid: Option<&'a str>,
    aud: Option<&'a str>,
    iss: Option<&'a str>,
    limit: Option<i64>,
    refresh: bool,
    key: Option<&'a str>,
    stateless: bool,
}

fn parse_sign_options<'a>(args: &mut Args<'a>) -> Result<SignOptions<'a>> {
    let mut o = SignOptions::default();
    while let Some(opt) = args.next_option() {
        match opt.as_str() {
            "CLAIMS" => {
                let claims = claims::parse_public_claims(args.next_bytes("CLAIMS json")?)?;
                set_once(&mut o.claims, claims, "CLAIMS")?
            }
            "DATA" => set_once(&mut o.data, args.next_json("DATA")?, "DATA")?,
            "META" => {
                let meta = args.next_json("META")?;
                if meta.len() > MAX_META_BYTES {
                    return Err(Error::syntax(format!(
                        "META is limited to {MAX_META_BYTES} bytes"
                    )));
                }
                set_once(&mut o.meta, meta, "META")?
            }
            "TTL" => set_once(
                &mut o.ttl_ms,
                parse_positive_ms(args.next_str("TTL duration")?)?,
                "TTL",
            )?,
            "EXPIRES" => set_once(
                &mut o.expires_ms,
                parse_positive_ms(args.next_str("EXPIRES duration")?)?,
                "EXPIRES",
            )?,
            "MAXAGE" => set_once(
                &mut o.maxage_ms,
                parse_positive_ms(args.next_str("MAXAGE duration")?)?,
                "MAXAGE",
            )?,
            "SID" => set_once(
                &mut o.sid,
                session::validate_sid(args.next_bytes("SID")?)?,
                "SID",
            )?,
            "AUD" => set_once(&mut o.aud, args.next_str("AUD")?, "AUD")?,
            "ISS" => set_once(&mut o.iss, args.next_str("ISS")?, "ISS")?,
            "LIMIT" => {
                let n = args.next_str("LIMIT count")?;
                let n = n
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=config::MAX_SESSIONS_RANGE.1).contains(n));
                let n = n.ok_or_else(|| {
                    Error::syntax(format!(
                        "LIMIT must be an integer from 0 (unlimited) to {}",
                        config::MAX_SESSIONS_RANGE.1
                    ))
                })?;
                set_once(&mut o.limit, n, "LIMIT")?
            }
            "KEY" => {
                let kid = args.next_str("KEY kid")?;
                jwt_core::keyring::validate_kid(kid)?;
                set_once(&mut o.key, kid, "KEY")?
            }
            "STATELESS" => set_flag(&mut o.stateless, "STATELESS")?,
            "REFRESH" => set_flag(&mut o.refresh, "REFRESH")?,
            other => return Err(unknown_option(other, "JWT.SIGN")),
        }
    }
    Ok(o)
}

/// JWT.SIGN <sub> [CLAIMS json] [DATA json] [TTL dur] [EXPIRES dur] [MAXAGE dur] [SID sid] [AUD a] [ISS i]
pub fn sign(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    super::primary_only(ctx)?;
    let mut args = Args::new(argv);
    let sub = session::validate_subject(args.next_bytes("subject")?)?;
    let o = parse_sign_options(&mut args)?;
    if o.stateless {
        return sign_stateless(ctx, sub, o);
    }

    let clock = now_ms()?;
    let rng = OsRandom::new();
    let (random_sid, jti) = uuid_v4_pair(&rng)?;
    // A caller-supplied SID can come back after logout: its sessions get an
    // incarnation number that their tokens carry, so an earlier one's never revive.
    let (sid, incarnation) = match o.sid {
        Some(s) => (s.to_string(), Some(session::new_incarnation(&rng)?)),
        None => (random_sid, None),
    };
    let s = config::PREFIX.with(|p| SessionRef::new(SessionAddr::new(p, sub, &sid)));
    let ikey = s.index_key();
    crate::cluster::ensure_user_slot(ctx, ikey)?;
    acl::check_keys(
        ctx,
        &[
            (ikey.as_bytes(), s.index_name.as_ref()),
            (s.key().as_bytes(), s.name.as_ref()),
        ],
        Access::Write,
    )?;
    let store = Store::new(ctx);
    let limit = Limit {
        max: o
            .limit
            .unwrap_or_else(|| config::MAX_SESSIONS.load(Ordering::Relaxed)),
        deny: config::MAX_SESSIONS_POLICY.with(|p| p == "deny"),
    };
    let plan = lifecycle::plan_open(
        &store,
        &s,
        clock,
        keyring_state::sessions_cutoff_ms(),
        limit,
    )?;
    // Evicting the oldest sessions ends them: the caller must be allowed to.
    if !plan.evict.is_empty() {
        super::user::check_session_keys(ctx, ikey, Some(&plan.evict), Access::Write)?;
    }
    let now = plan.created_ms;
    let idle_ms = o.ttl_ms.unwrap_or_else(|| config::SESSION_TTL.ms());
    // With REFRESH the access token always expires (default jwt.access-ttl).
    let access_ms = o
        .expires_ms
        .or_else(|| o.refresh.then(|| config::ACCESS_TTL.ms()));
    let token_exp = access_ms.map(|ms| claims::exp_for(now, ms));
    let max_deadline = session::absolute_deadline(
        o.maxage_ms.map(|m| now.saturating_add(m)),
        token_exp,
        o.refresh,
        config::LEEWAY.ms(),
    );
    let expiry = session::expiry(now, idle_ms, max_deadline);

    let claims = session_claims(o.claims, o.iss, o.aud);
    let token = AccessToken {
        sub,
        sid: Some(&sid),
        sinc: incarnation,
        sver: None,
        now,
        lifetime_ms: access_ms,
        session_end_ms: expiry,
        claims: &claims,
        kid: o.key,
    };
    // From here on we write (a first key, then the session).
    let (ring, jwt) = prepared(ctx, &token, &jti, &rng)?;
    let refresh = match o.refresh {
        true => {
            let mac = ring
                .refresh_secret()
                .ok_or_else(|| Error::syntax("no refresh secret"))?;
            Some(RefreshToken::new(now, 1, incarnation, sub, &sid, &rng)?)
                .map(|t| (t.encode(mac), t.hash()))
        }
        false => None,
    };
    let stored_claims = claims.to_stored();
    let evicted = lifecycle::open(
        &store,
        &s,
        &plan,
        &NewSession {
            created_ms: now,
            idle_ms,
            max_deadline_ms: max_deadline,
            incarnation,
            data: o.data,
            meta: o.meta,
            access_ms,
            claims: stored_claims.as_deref(),
            expiry_ms: expiry,
            refresh: refresh
                .as_ref()
                .map(|(_, hash)| RefreshInit { hash: *hash }),
        },
    )?;
    for _ in 0..evicted {
        stats::EVICTIONS.incr();
    }
    stats::SIGNS.incr();
    let refresh = refresh.map(|(token, _)| token);
    reply_signed(ctx, "JWT.SIGN", jwt, move |jwt| match refresh {
        Some(token) => RedisValue::Array(vec![
            RedisValue::BulkString(jwt),
            RedisValue::BulkString(token),
        ]),
        None => RedisValue::BulkString(jwt),
    })
}

/// Replies `reply(token)` once `unsigned` is signed: for the expensive algorithms on a
/// worker thread (see `offload`), after everything else of the command is done and
/// replicated; else here. (Only a failing random generator makes ring's signing fail:
/// the session then exists, and nobody holds its token.)
pub(super) fn reply_signed(
    ctx: &Context,
    name: &'static str,
    unsigned: Unsigned,
    reply: impl FnOnce(String) -> RedisValue + Send + 'static,
) -> Result<RedisValue> {
    if !unsigned.is_expensive() {
        return Ok(reply(unsigned.sign()?));
    }
    offload::run(
        ctx,
        name,
        move || unsigned.sign(),
        move |_, token| Ok(reply(token?)),
    )
}

/// The claims a session's tokens carry besides the registered ones: the options, else
/// the configured issuer and audience.
fn session_claims(
    public: Option<serde_json::Map<String, serde_json::Value>>,
    iss: Option<&str>,
    aud: Option<&str>,
) -> SessionClaims {
    let or_config = |given: Option<&str>, configured: &config::TextConfig| {
        given.map(str::to_string).or_else(|| configured.get_opt())
    };
    SessionClaims::new(
        public,
        or_config(iss, &config::ISSUER),
        or_config(aud, &config::AUDIENCE),
    )
}

/// JWT.SIGN <sub> STATELESS [EXPIRES dur] [CLAIMS json] [KEY kid] [AUD a] [ISS i]: a
/// token with no session and no sid (service-to-service calls), always with `exp`
/// (default jwt.access-ttl). VERIFY accepts it on signature and claims alone.
fn sign_stateless(ctx: &Context, sub: &str, o: SignOptions) -> Result<RedisValue> {
    if o.data.is_some()
        || o.ttl_ms.is_some()
        || o.maxage_ms.is_some()
        || o.sid.is_some()
        || o.refresh
        || o.limit.is_some()
        || o.meta.is_some()
    {
        return Err(Error::syntax("STATELESS tokens have no session: DATA, META, TTL, MAXAGE, SID, LIMIT and REFRESH do not apply"));
    }
    if !config::stateless_allowed() {
        return Err(Error::syntax(
            "stateless tokens are turned off (jwt.stateless deny): VERIFY would refuse this one",
        ));
    }
    let now = now_ms()?;
    let rng = OsRandom::new();
    let claims = session_claims(o.claims, o.iss, o.aud);
    let lifetime = o.expires_ms.unwrap_or_else(|| config::ACCESS_TTL.ms());
    let token = AccessToken {
        sub,
        sid: None,
        sinc: None,
        sver: None,
        now,
        lifetime_ms: Some(lifetime),
        session_end_ms: 0,
        claims: &claims,
        kid: o.key,
    };
    let (ring, jwt) = prepared(ctx, &token, &uuid_v4(&rng)?, &rng)?;
    drop(ring);
    stats::SIGNS.incr();
    reply_signed(ctx, "JWT.SIGN", jwt, RedisValue::BulkString)
}

/// The token ready to sign, and the keyring that signs it (an empty one first gets its
/// key). That first key is made only for a SIGN that will succeed: the token is checked
/// first against a preview of the keyring with it (same algorithm, same kid length). In
/// a cluster, a primary that has not yet received the cluster's keyring answers
/// TRYAGAIN instead of making a first key of its own (see
/// `cluster_keyring::may_make_first_key`).
fn prepared(
    ctx: &Context,
    token: &AccessToken,
    jti: &str,
    rng: &OsRandom,
) -> Result<(std::sync::RwLockReadGuard<'static, Keyring>, Unsigned)> {
    let max = config::max_token_bytes();
    if !keyring_state::can_sign() {
        if !crate::cluster_keyring::may_make_first_key(token.now) {
            return Err(Error::new(
                Code::TryAgain,
                "this node has not received the cluster's keyring yet (restarted without its data?): retry in a moment",
            ));
        }
        token.prepare(jti, &keyring_state::first_key_preview(token.now, rng)?, max)?;
    }
    let ring = keyring_state::signing_snapshot(ctx, token.now, rng, token.kid)?;
    let (jwt, _) = token.prepare(jti, &ring, max)?;
    Ok((ring, jwt))
}

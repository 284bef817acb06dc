//! JWT.UPDATE: change a live session in place: its private DATA, its public claims
//! (a new access token for the same session), and whether older access tokens still
//! verify (SUPERSEDE).

use super::auth::{authenticate, no_session, unverified_session_key, Expect};
use super::refresh::open_refresh_token;
use super::token::check_session_keys;
use super::{now_ms, redact, set_flag, set_once, unknown_option, Args};
use crate::cluster;
use crate::config;
use crate::keyring_state;
use crate::redis::acl::Access;
use crate::stats;
use crate::store::Store;
use jwt_core::claims;
use jwt_core::error::{Error, Result};
use jwt_core::lifecycle;
use jwt_core::random::{uuid_v4, OsRandom};
use jwt_core::refresh;
use jwt_core::session::{self, Created, TokenSession};
use jwt_core::store::{SessionChange, SessionStore};
use jwt_core::token::{AccessToken, SessionClaims};
use redis_module::{Context, RedisString, RedisValue};

#[derive(Default)]
struct UpdateOptions<'a> {
    data: Option<&'a [u8]>,
    merge: Option<serde_json::Map<String, serde_json::Value>>,
    claims: Option<serde_json::Map<String, serde_json::Value>>,
    supersede: bool,
}

fn parse_options<'a>(args: &mut Args<'a>) -> Result<UpdateOptions<'a>> {
    let mut o = UpdateOptions::default();
    while let Some(opt) = args.next_option() {
        match opt.as_str() {
            "DATA" => set_once(&mut o.data, args.next_json("DATA")?, "DATA")?,
            "MERGE" => {
                let merge = match serde_json::from_slice(args.next_bytes("MERGE json")?) {
                    Ok(serde_json::Value::Object(m)) => m,
                    _ => return Err(Error::syntax("MERGE must be a JSON object")),
                };
                set_once(&mut o.merge, merge, "MERGE")?
            }
            "CLAIMS" => {
                let c = claims::parse_public_claims(args.next_bytes("CLAIMS json")?)?;
                set_once(&mut o.claims, c, "CLAIMS")?
            }
            "SUPERSEDE" => set_flag(&mut o.supersede, "SUPERSEDE")?,
            other => return Err(unknown_option(other, "JWT.UPDATE")),
        }
    }
    if o.data.is_some() && o.merge.is_some() {
        return Err(Error::syntax("JWT.UPDATE takes DATA or MERGE, not both"));
    }
    if o.data.is_none() && o.merge.is_none() && o.claims.is_none() && !o.supersede {
        return Err(Error::syntax(
            "JWT.UPDATE needs DATA, MERGE, CLAIMS or SUPERSEDE",
        ));
    }
    Ok(o)
}

/// What the caller proved: an access token (its session view) or a current refresh token.
enum Proof {
    Access(TokenSession),
    Refresh(refresh::RefreshToken),
}

/// JWT.UPDATE <token> [DATA json | MERGE json-object] [CLAIMS json-object] [SUPERSEDE]
/// -> a new access token (with CLAIMS or SUPERSEDE), else 1.
pub fn update(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    redact(ctx, 1);
    super::primary_only(ctx)?;
    let mut args = Args::new(argv);
    let token = args.next_bytes("token")?;
    let o = parse_options(&mut args)?;
    let now = now_ms()?;
    // Route, then authenticate with whichever token the client holds. The keyring is
    // read for that, and again (one snapshot) when a new access token is issued.
    let (s, proof) = if refresh::looks_like_refresh_token(token) {
        let (rt, s) = open_refresh_token(ctx, token, &keyring_state::read())?;
        (s, Proof::Refresh(rt))
    } else {
        cluster::route_token(ctx, token, unverified_session_key)?;
        // UPDATE is rare: an expensive signature is checked right here.
        let expect = Expect::default();
        let v = authenticate(token, now, Some(&expect), false)?.here(now, Some(&expect))?;
        let s = v.session.ok_or_else(no_session)?;
        (s, Proof::Access(v.token_session))
    };
    finish(ctx, &s, proof, o, now)
}

fn finish(
    ctx: &Context,
    s: &crate::store::SessionRef,
    proof: Proof,
    o: UpdateOptions,
    now: i64,
) -> Result<RedisValue> {
    check_session_keys(ctx, s, Access::Write)?;
    let store = Store::new(ctx);
    let cutoff = keyring_state::sessions_cutoff_ms();
    let state = store
        .state(s)
        .ok_or_else(|| super::token::gone(ctx, s, Error::revoked()))?;
    let stored = state.stored;
    let allowed = match &proof {
        Proof::Access(t) => session::admits(&stored, t, now, cutoff),
        Proof::Refresh(rt) => {
            let live = stored.index_deadline_ms.is_some_and(|d| d > now)
                && stored.created_ms >= cutoff
                && refresh::same_incarnation(rt, &stored);
            if live
                && !store
                    .refresh_record(s)
                    .is_some_and(|r| refresh::is_current(&r.rotation, rt))
            {
                return Err(Error::invalid(
                    "refresh token is not the session's current one (UPDATE does not rotate)",
                ));
            }
            live
        }
    };
    if !allowed {
        return Err(super::token::gone(ctx, s, Error::revoked()));
    }
    let details = store.details(s).unwrap_or_default();
    let data = match (o.data, &o.merge) {
        (Some(d), _) => Some(d.to_vec()),
        (None, Some(m)) => Some(lifecycle::merged_data(details.data.as_deref(), m)?),
        (None, None) => None,
    };
    let mut session_claims = SessionClaims::from_stored(details.claims.as_deref())?;
    let claims_changed = o.claims.is_some();
    if let Some(public) = o.claims {
        session_claims.public = Some(public);
    }
    let rng = OsRandom::new();
    let version = match o.supersede {
        true => Some(session::new_incarnation(&rng)?),
        false => stored.version,
    };
    let token = if claims_changed || o.supersede {
        let ring = keyring_state::read();
        let issued = AccessToken {
            sub: s.addr.sub(),
            sid: Some(s.sid()),
            sinc: stored.incarnation,
            sver: version,
            now,
            lifetime_ms: details.access_ms,
            session_end_ms: state.expiry_ms.unwrap_or(now),
            claims: &session_claims,
            kid: None,
        }
        .prepare(&uuid_v4(&rng)?, &ring, config::max_token_bytes())?;
        Some(issued.0)
    } else {
        None
    };
    let change = SessionChange {
        data,
        claims: if claims_changed {
            session_claims.to_stored()
        } else {
            None
        },
        created: o.supersede.then_some(Created {
            ms: stored.created_ms,
            incarnation: stored.incarnation,
            version,
        }),
    };
    lifecycle::update(&store, s, &change)?;
    stats::UPDATES.incr();
    match token {
        Some(unsigned) => {
            super::sign::reply_signed(ctx, "JWT.UPDATE", unsigned, RedisValue::BulkString)
        }
        None => Ok(RedisValue::Integer(1)),
    }
}

//! Authenticating an access token: size, header, signature (or the verify cache), the
//! claims that can change, and the session it names. Shared by VERIFY, TOUCH, DESTROY.

use super::now_ms;
use crate::config;
use crate::keyring_state;
use crate::offload;
use crate::stats;
use crate::store::{SessionRef, Store};
use jwt_core::claims::{self, ClaimChecks};
use jwt_core::error::{Code, Error, Result};
use jwt_core::jws::{self, Signature};
use jwt_core::keyring::{Crypto, Key};
use jwt_core::lifecycle;
use jwt_core::refresh;
use jwt_core::session::{self, SessionAddr, TokenSession};
use jwt_core::verify_cache::{Verdict, VerifyCache};
use redis_module::{Context, RedisValue};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// A token whose signature verified, with what the session checks need.
pub struct Verified {
    pub payload: Arc<[u8]>,
    /// What the token says of its session (iat, sinc).
    pub token_session: TokenSession,
    pub exp: Option<f64>,
    /// The key that verified it.
    pub kid: Arc<str>,
    /// None for a STATELESS token (no `sid`).
    pub session: Option<SessionRef>,
}

/// The expected audience and issuer a command was given (else the configured ones).
#[derive(Default)]
pub struct Expect {
    pub aud: Option<String>,
    pub iss: Option<String>,
}

/// Tokens whose signature verified recently (see jwt_core::verify_cache).
static VERIFY_CACHE: Mutex<Option<VerifyCache<SessionRef>>> = Mutex::new(None);

fn with_cache<R>(f: impl FnOnce(&mut VerifyCache<SessionRef>) -> R) -> R {
    let mut guard = VERIFY_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let size = config::VERIFY_CACHE.load(Ordering::Relaxed).max(0) as usize;
    if guard.as_ref().is_none_or(|c| c.size() != size) {
        *guard = Some(VerifyCache::new(size));
    }
    match guard.as_mut() {
        Some(cache) => f(cache),
        None => f(&mut VerifyCache::new(0)),
    }
}

/// Tokens in the verify cache now (an INFO gauge).
pub fn verify_cache_entries() -> usize {
    with_cache(|c| c.entries())
}

/// The option if given, else the configured value, else nothing (empty config = unset).
fn or_config<'a>(given: Option<&'a str>, configured: &'a str) -> Option<&'a str> {
    given.or((!configured.is_empty()).then_some(configured))
}

/// The claim checks that run on every VERIFY, cached or not. The expected iss/aud are
/// the command's options, else the configured ones, read in place (no copies).
fn check_claims(checks: &ClaimChecks, now: i64, expect: Option<&Expect>) -> Result<()> {
    let Some(expect) = expect else { return Ok(()) };
    checks.check_times(now, config::LEEWAY.ms())?;
    config::ISSUER.with(|iss| {
        config::AUDIENCE.with(|aud| {
            checks.check_iss_aud(
                or_config(expect.iss.as_deref(), iss),
                or_config(expect.aud.as_deref(), aud),
            )
        })
    })
}

/// Where authenticating a token got to.
pub enum Authenticated {
    Done(Verified),
    /// A token of an expensive algorithm (RS*, PS*, ES*, EdDSA) not in the verify
    /// cache: its signature is for a worker thread (`Pending::check`), the rest for the
    /// main thread again (`Checked::admit`).
    Pending(Pending),
}

impl Authenticated {
    /// The verified token, checking a pending signature here and now.
    pub fn here(self, now: i64, expect: Option<&Expect>) -> Result<Verified> {
        match self {
            Authenticated::Done(v) => Ok(v),
            Authenticated::Pending(p) => p.check().admit(now, expect),
        }
    }
}

/// Signature, then (unless `expect` is None, as for DESTROY) times and iss/aud. The
/// keyring lock is held only to find the key (and check an HMAC). With `may_offload`,
/// an expensive signature is left `Pending`.
pub fn authenticate(
    token: &[u8],
    now: i64,
    expect: Option<&Expect>,
    may_offload: bool,
) -> Result<Authenticated> {
    if refresh::looks_like_refresh_token(token) {
        return Err(Error::invalid(
            "this is a refresh token: use it only with JWT.REFRESH",
        ));
    }
    if token.len() > config::max_token_bytes() {
        return Err(Error::invalid(format!(
            "token is longer than jwt.max-token-bytes ({})",
            config::max_token_bytes()
        )));
    }
    let generation = keyring_state::generation();
    let hit = with_cache(|cache| {
        let e = cache.get(token, generation, now)?;
        // A changed jwt.prefix moves sessions: the cached key would be stale.
        if let Some(s) = &e.session {
            let key = s.key();
            let same_prefix = config::PREFIX
                .with(|p| key.starts_with(p) && key.as_bytes().get(p.len()) == Some(&b'{'));
            if !same_prefix {
                return None;
            }
        }
        let verified = check_claims(&e.checks, now, expect).map(|()| Verified {
            payload: e.payload.clone(),
            token_session: token_session(&e.checks),
            exp: e.checks.exp,
            kid: e.kid.clone(),
            session: e.session.clone(),
        });
        Some(verified)
    });
    if let Some(verified) = hit {
        stats::VERIFY_CACHE_HITS.incr();
        return verified.map(Authenticated::Done);
    }
    stats::VERIFY_CACHE_MISSES.incr();
    let parts = jws::split(token, config::max_token_bytes())?;
    let key = {
        let ring = keyring_state::read();
        match jws::verify_or_defer(&parts, &ring, now, may_offload)? {
            Signature::Verified(key) => KeyFacts::of(key),
            Signature::Deferred(key) => {
                return Ok(Authenticated::Pending(Pending {
                    token: token.to_vec(),
                    crypto: key.crypto(),
                    key: KeyFacts::of(key),
                    generation,
                }))
            }
        }
    };
    let payload: Arc<[u8]> = jws::b64_decode(parts.payload_b64)?.into();
    let (checks, session) = {
        let claims = claims::parse_claims(&payload)?;
        let session = session_of(&key, claims.sub.as_deref(), claims.sid.as_deref())?;
        (ClaimChecks::of(&claims), session)
    };
    admit(
        token, generation, key, payload, checks, session, now, expect,
    )
    .map(Authenticated::Done)
}

/// What the session checks and the cache keep of the key that verified a token.
struct KeyFacts {
    kid: Arc<str>,
    drop_at_ms: Option<i64>,
    legacy: bool,
}

impl KeyFacts {
    fn of(key: &Key) -> Self {
        KeyFacts {
            kid: Arc::from(key.kid.as_str()),
            drop_at_ms: key.drop_at_ms,
            legacy: key.legacy,
        }
    }
}

/// A signature for a worker thread: everything it needs, owned.
pub struct Pending {
    token: Vec<u8>,
    crypto: Crypto,
    key: KeyFacts,
    generation: u64,
}

/// What a worker found: the signature checked, the payload decoded and parsed.
pub struct Checked {
    token: Vec<u8>,
    key: KeyFacts,
    generation: u64,
    outcome: Result<Decoded>,
}

/// A token's payload, its claim checks, and its `sub` and `sid` (owned: made on a worker).
type Decoded = (Arc<[u8]>, ClaimChecks, Option<String>, Option<String>);

impl Pending {
    /// Pure work, for any thread: signature, base64, JSON.
    pub fn check(self) -> Checked {
        let outcome = (|| {
            let parts = jws::split(&self.token, usize::MAX)?;
            jws::check_signature(&parts, &self.crypto)?;
            let payload: Arc<[u8]> = jws::b64_decode(parts.payload_b64)?.into();
            let claims = claims::parse_claims(&payload)?;
            let (sub, sid) = (claims.sub.as_deref(), claims.sid.as_deref());
            let (sub, sid) = (sub.map(str::to_string), sid.map(str::to_string));
            let checks = ClaimChecks::of(&claims);
            drop(claims);
            Ok((payload, checks, sub, sid))
        })();
        Checked {
            token: self.token,
            key: self.key,
            generation: self.generation,
            outcome,
        }
    }
}

impl Checked {
    /// Back on the main thread: the session, the cache, the claims that can change.
    pub fn admit(self, now: i64, expect: Option<&Expect>) -> Result<Verified> {
        let (payload, checks, sub, sid) = self.outcome?;
        let drop_passed = self.key.drop_at_ms.is_some_and(|d| now >= d);
        if drop_passed || keyring_state::generation() != self.generation {
            // The keyring changed, or the key's drop time passed, while the worker
            // checked: the key must still be there and live (a REVOKE or a drop in
            // between wins).
            let ring = keyring_state::read();
            if !ring.get(&self.key.kid).is_some_and(|k| k.is_live(now)) {
                return Err(Error::invalid("unknown kid"));
            }
        }
        let session = session_of(&self.key, sub.as_deref(), sid.as_deref())?;
        admit(
            &self.token,
            self.generation,
            self.key,
            payload,
            checks,
            session,
            now,
            expect,
        )
    }
}

/// The session a verified token names (None: stateless).
fn session_of(key: &KeyFacts, sub: Option<&str>, sid: Option<&str>) -> Result<Option<SessionRef>> {
    match (sub, sid) {
        // A LEGACY key's tokens come from another library: whatever `sid` they
        // carry, they have no session here (stateless, like the npm libraries').
        _ if key.legacy => Ok(None),
        (_, None) => Ok(None),
        (Some(sub), Some(sid)) => Ok(Some(session_ref_of(sub, sid)?)),
        (None, Some(_)) => Err(Error::invalid("token has a sid but no sub")),
    }
}

/// A verified token into the cache (see `VerifyCache::put`), then its claim checks.
#[allow(clippy::too_many_arguments)]
fn admit(
    token: &[u8],
    generation: u64,
    key: KeyFacts,
    payload: Arc<[u8]>,
    checks: ClaimChecks,
    session: Option<SessionRef>,
    now: i64,
    expect: Option<&Expect>,
) -> Result<Verified> {
    with_cache(|cache| {
        cache.put(token, generation, || Verdict {
            kid: key.kid.clone(),
            key_drop_at_ms: key.drop_at_ms,
            payload: payload.clone(),
            checks: checks.clone(),
            session: session.clone(),
        })
    });
    check_claims(&checks, now, expect)?;
    Ok(Verified {
        payload,
        token_session: token_session(&checks),
        exp: checks.exp,
        kid: key.kid,
        session,
    })
}

/// Authenticates `token`, then `then` with the verified token: right away, or, for an
/// expensive signature, on the main thread after a worker checked it (the client
/// waiting meanwhile; see `offload`). `writes`: `then` writes (TOUCH, DESTROY); resumed
/// while the server pauses writes (CLIENT PAUSE WRITE, a failover), such a command
/// answers TRYAGAIN instead, as nothing may be replicated then.
pub fn with_verified(
    ctx: &Context,
    name: &'static str,
    writes: bool,
    token: &[u8],
    now: i64,
    expect: Option<Expect>,
    then: impl FnOnce(&Context, Verified, i64) -> Result<RedisValue> + Send + 'static,
) -> Result<RedisValue> {
    match authenticate(token, now, expect.as_ref(), offload::available(ctx))? {
        Authenticated::Done(v) => then(ctx, v, now),
        Authenticated::Pending(p) => {
            let token = token.to_vec();
            let resume = move |ctx: &Context, c: Checked| {
                if writes && crate::redis::client::writes_paused() {
                    return Err(Error::new(
                        Code::TryAgain,
                        "writes are paused (CLIENT PAUSE or a failover): retry",
                    ));
                }
                // The session's slot may have moved away while the worker checked.
                crate::cluster::route_token(ctx, &token, unverified_session_key)?;
                let now = now_ms()?;
                let v = c.admit(now, expect.as_ref())?;
                then(ctx, v, now)
            };
            offload::run(ctx, name, move || p.check(), resume)
        }
    }
}

fn token_session(checks: &ClaimChecks) -> TokenSession {
    TokenSession {
        iat: checks.iat,
        incarnation: checks.sinc,
        version: checks.sver,
    }
}

/// The session key a token names, read without verifying anything (cluster routing).
pub(super) fn unverified_session_key(token: &[u8]) -> Option<String> {
    let (_, payload) = jws::decode_unverified(token, config::max_token_bytes()).ok()?;
    let claims = claims::parse_claims(&payload).ok()?;
    let (sub, sid) = valid_sub_sid(claims.sub.as_deref()?, claims.sid.as_deref()?).ok()?;
    Some(config::PREFIX.with(|p| SessionAddr::new(p, sub, sid).key().to_string()))
}

fn valid_sub_sid<'a>(sub: &'a str, sid: &'a str) -> Result<(&'a str, &'a str)> {
    let sub = session::validate_subject(sub.as_bytes())
        .map_err(|_| Error::invalid("token has an invalid sub"))?;
    let sid = session::validate_sid(sid.as_bytes())
        .map_err(|_| Error::invalid("token has an invalid sid"))?;
    Ok((sub, sid))
}

/// The session of the sub and sid a token carries, both validated.
fn session_ref_of(sub: &str, sid: &str) -> Result<SessionRef> {
    let (sub, sid) = valid_sub_sid(sub, sid)?;
    Ok(config::PREFIX.with(|p| SessionRef::new(SessionAddr::new(p, sub, sid))))
}

pub(super) fn no_session() -> Error {
    Error::invalid("token has no session here (signed STATELESS, or verified by a LEGACY key)")
}

/// Whether the token may use its session now (see `session::admits`).
pub(super) fn live(store: &Store, v: &Verified, s: &SessionRef, now: i64) -> bool {
    let cutoff = keyring_state::sessions_cutoff_ms();
    lifecycle::is_live(store, s, &v.token_session, now, cutoff)
}

/// A stateless token verifies on signature and claims alone, unless the operator
/// turned them off (`jwt.stateless deny`) or it was issued before the sessions cutoff.
pub(super) fn stateless_allowed(v: &Verified) -> Result<()> {
    if !config::stateless_allowed() {
        return Err(Error::invalid(
            "stateless tokens (without a session) are refused here (jwt.stateless deny)",
        ));
    }
    let cutoff = keyring_state::sessions_cutoff_ms();
    if cutoff > 0
        && v.token_session
            .iat
            .is_none_or(|iat| iat * 1000.0 < cutoff as f64)
    {
        return Err(Error::revoked());
    }
    Ok(())
}

//! Module configs (`jwt.<name>`): settable in redis.conf, on the loadmodule line and
//! with CONFIG SET. Every value is validated before it is stored; the hot path reads
//! atomics or a read lock, never parses.

use crate::redis::config_string::Shown;
use jwt_core::duration;
use redis_module::configuration::{ConfigurationContext, ConfigurationValue};
use redis_module::{RedisError, RedisString};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Mutex, RwLock};

/// A duration config: keeps the text for CONFIG GET and the milliseconds for use.
pub struct DurationConfig {
    text: Mutex<Shown>,
    ms: AtomicI64,
    allow_zero: bool,
}

impl DurationConfig {
    const fn new(allow_zero: bool) -> Self {
        DurationConfig {
            text: Mutex::new(Shown::new()),
            ms: AtomicI64::new(0),
            allow_zero,
        }
    }

    pub fn ms(&self) -> i64 {
        self.ms.load(Ordering::Relaxed)
    }

    pub fn apply(&self, text: &str) -> Result<(), String> {
        let ms = if self.allow_zero {
            duration::parse_ms(text)
        } else {
            duration::parse_positive_ms(text)
        }
        .map_err(|e| e.msg.to_string())?;
        self.text
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set(text);
        self.ms.store(ms, Ordering::Relaxed);
        Ok(())
    }
}

impl ConfigurationValue<RedisString> for DurationConfig {
    fn get(&self, _: &ConfigurationContext) -> RedisString {
        self.text.lock().unwrap_or_else(|p| p.into_inner()).get()
    }
    fn set(&self, _: &ConfigurationContext, val: RedisString) -> Result<(), RedisError> {
        self.apply(&val.to_string_lossy()).map_err(config_error)
    }
}

/// A CONFIG SET refusal. Its text may echo the value given; the server gets it as a C
/// string made in a callback no panic may leave (a NUL byte aborted redis-server), so
/// only printable ASCII passes.
fn config_error(text: String) -> RedisError {
    RedisError::String(
        text.chars()
            .map(|c| {
                if c == ' ' || c.is_ascii_graphic() {
                    c
                } else {
                    '?'
                }
            })
            .collect(),
    )
}

/// A text config with its own validation.
pub struct TextConfig {
    value: RwLock<String>,
    shown: Mutex<Shown>,
    validate: fn(&str) -> Result<(), String>,
    /// Mirrors the value where the hot path reads it (an atomic flag).
    applied: Option<fn(&str)>,
}

impl TextConfig {
    const fn new(validate: fn(&str) -> Result<(), String>) -> Self {
        TextConfig {
            value: RwLock::new(String::new()),
            shown: Mutex::new(Shown::new()),
            validate,
            applied: None,
        }
    }

    const fn mirrored(validate: fn(&str) -> Result<(), String>, applied: fn(&str)) -> Self {
        TextConfig {
            value: RwLock::new(String::new()),
            shown: Mutex::new(Shown::new()),
            validate,
            applied: Some(applied),
        }
    }

    /// Runs `f` on the current value without copying it.
    pub fn with<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(&self.value.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The value, or None when it is empty (unset).
    pub fn get_opt(&self) -> Option<String> {
        self.with(|v| (!v.is_empty()).then(|| v.to_string()))
    }

    pub fn apply(&self, text: &str) -> Result<(), String> {
        (self.validate)(text)?;
        if let Some(applied) = self.applied {
            applied(text);
        }
        *self.value.write().unwrap_or_else(|p| p.into_inner()) = text.to_string();
        self.shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set(text);
        Ok(())
    }
}

impl ConfigurationValue<RedisString> for TextConfig {
    fn get(&self, _: &ConfigurationContext) -> RedisString {
        self.shown.lock().unwrap_or_else(|p| p.into_inner()).get()
    }
    fn set(&self, _: &ConfigurationContext, val: RedisString) -> Result<(), RedisError> {
        let text = val
            .try_as_str()
            .map_err(|_| RedisError::Str("value must be UTF-8 text"))?;
        self.apply(text).map_err(config_error)
    }
}

fn validate_prefix(p: &str) -> Result<(), String> {
    if p.is_empty() || p.len() > 64 || p.contains(['{', '}']) || p.chars().any(char::is_control) {
        return Err("jwt.prefix must be 1 to 64 characters without braces".into());
    }
    Ok(())
}

fn validate_claim_text(p: &str) -> Result<(), String> {
    if p.len() > 512 || p.chars().any(char::is_control) {
        return Err("must be at most 512 characters without control characters".into());
    }
    Ok(())
}

fn validate_policy(p: &str) -> Result<(), String> {
    match p {
        "evict-oldest" | "deny" => Ok(()),
        _ => Err("jwt.max-sessions-policy must be evict-oldest or deny".into()),
    }
}

fn validate_stateless(p: &str) -> Result<(), String> {
    match p {
        "allow" | "deny" => Ok(()),
        _ => Err("jwt.stateless must be allow or deny".into()),
    }
}

pub static PREFIX: TextConfig = TextConfig::new(validate_prefix);
pub static ISSUER: TextConfig = TextConfig::new(validate_claim_text);
pub static AUDIENCE: TextConfig = TextConfig::new(validate_claim_text);
pub static MAX_SESSIONS_POLICY: TextConfig = TextConfig::new(validate_policy);
pub static STATELESS: TextConfig = TextConfig::mirrored(validate_stateless, |v| {
    STATELESS_DENIED.store(v == "deny", Ordering::Relaxed)
});
/// `jwt.stateless` as a flag for the VERIFY path.
static STATELESS_DENIED: AtomicBool = AtomicBool::new(false);

/// Whether VERIFY accepts (and SIGN issues) tokens without a session.
pub fn stateless_allowed() -> bool {
    !STATELESS_DENIED.load(Ordering::Relaxed)
}
pub static SESSION_TTL: DurationConfig = DurationConfig::new(false);
pub static ACCESS_TTL: DurationConfig = DurationConfig::new(false);
pub static REFRESH_GRACE: DurationConfig = DurationConfig::new(true);
pub static LEEWAY: DurationConfig = DurationConfig::new(true);
pub static KEY_ROTATION: DurationConfig = DurationConfig::new(true);
pub static MAX_TOKEN_BYTES: AtomicI64 = AtomicI64::new(8192);
pub static MAX_SESSIONS: AtomicI64 = AtomicI64::new(0);
pub static VERIFY_CACHE: AtomicI64 = AtomicI64::new(4096);
/// Entries kept in each user's activity log (0 = no log).
pub static ACTIVITY_LOG: AtomicI64 = AtomicI64::new(0);
/// Worker threads for the expensive algorithms' signatures (0 = on the main thread).
pub static CRYPTO_THREADS: AtomicI64 = AtomicI64::new(2);

pub const MAX_TOKEN_BYTES_RANGE: (i64, i64) = (256, 1 << 20);
pub const MAX_SESSIONS_RANGE: (i64, i64) = (0, 1_000_000);
pub const VERIFY_CACHE_RANGE: (i64, i64) = (0, 1 << 20);
pub const ACTIVITY_LOG_RANGE: (i64, i64) = (0, 100_000);
pub const CRYPTO_THREADS_RANGE: (i64, i64) = (0, 64);

pub fn max_token_bytes() -> usize {
    MAX_TOKEN_BYTES.load(Ordering::Relaxed).max(0) as usize
}

/// Applies one `name value` pair from the loadmodule line; `name` may carry `jwt.`.
pub fn apply_module_arg(name: &str, value: &str) -> Result<(), String> {
    let name = name.strip_prefix("jwt.").unwrap_or(name);
    let text = |c: &TextConfig| c.apply(value);
    let dur = |c: &DurationConfig| c.apply(value);
    let int = |c: &AtomicI64, (lo, hi): (i64, i64)| match value.parse::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => {
            c.store(n, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(format!("must be an integer from {lo} to {hi}")),
    };
    match name {
        "prefix" => text(&PREFIX),
        "issuer" => text(&ISSUER),
        "audience" => text(&AUDIENCE),
        "max-sessions-policy" => text(&MAX_SESSIONS_POLICY),
        "stateless" => text(&STATELESS),
        "session-ttl" => dur(&SESSION_TTL),
        "access-ttl" => dur(&ACCESS_TTL),
        "refresh-grace" => dur(&REFRESH_GRACE),
        "leeway" => dur(&LEEWAY),
        "key-rotation" => dur(&KEY_ROTATION),
        "max-token-bytes" => int(&MAX_TOKEN_BYTES, MAX_TOKEN_BYTES_RANGE),
        "max-sessions" => int(&MAX_SESSIONS, MAX_SESSIONS_RANGE),
        "verify-cache" => int(&VERIFY_CACHE, VERIFY_CACHE_RANGE),
        "activity-log" => int(&ACTIVITY_LOG, ACTIVITY_LOG_RANGE),
        "crypto-threads" => int(&CRYPTO_THREADS, CRYPTO_THREADS_RANGE),
        _ => Err("unknown option".into()),
    }
    .map_err(|e| format!("jwt.{name}: {e}"))
}

/// How long a retired key keeps verifying: long enough for every token it signed with
/// the configured lifetimes (the longer of jwt.session-ttl and jwt.access-ttl).
pub fn retention_ms() -> i64 {
    SESSION_TTL.ms().max(ACCESS_TTL.ms())
}

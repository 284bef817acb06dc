//! The node's keyring: one global, saved in the RDB as module aux data (so it survives
//! restarts, DEBUG RELOAD, AOF rewrites with the RDB preamble and replica full syncs)
//! and replicated as `JWT.KEY SYNC <blob>` whenever it changes, so replicas and AOF
//! replay never generate key material of their own.

use jwt_core::error::{Code, Error, Result};
use jwt_core::keyring::Keyring;
use jwt_core::random::Random;
use redis_module::native_types::RedisType;
use redis_module::{raw, Context, ContextFlags, RedisValue};
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static KEYRING: RwLock<Keyring> = RwLock::new(Keyring::empty());

pub fn read() -> RwLockReadGuard<'static, Keyring> {
    KEYRING.read().unwrap_or_else(|p| p.into_inner())
}

fn write() -> RwLockWriteGuard<'static, Keyring> {
    KEYRING.write().unwrap_or_else(|p| p.into_inner())
}

/// Bumped on every keyring change: cached verifications of an older keyring are void.
static GENERATION: AtomicU64 = AtomicU64::new(1);

pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// The sessions cutoff of the keyring, where VERIFY reads it without a lock.
static CUTOFF_MS: AtomicI64 = AtomicI64::new(0);

pub fn sessions_cutoff_ms() -> i64 {
    CUTOFF_MS.load(Ordering::Acquire)
}

/// After every change: cached verifications of the older keyring are void.
fn changed(ring: &Keyring) {
    CUTOFF_MS.store(ring.sessions_cutoff_ms(), Ordering::Release);
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Replaces the keyring with a replicated or loaded one.
pub fn replace(ring: Keyring) {
    let mut current = write();
    *current = ring;
    changed(&current);
}

/// Keyring changes are the primary's: a replica (read-only or writable) would make
/// key material of its own and diverge. What a primary sends is applied by `replace`.
fn refuse_on_replica(ctx: &Context) -> Result<()> {
    if crate::redis::client::is_replica_client(ctx) {
        return Err(Error::new(
            Code::ReadOnly,
            "the keyring can only change on the primary; this node is a replica",
        ));
    }
    Ok(())
}

/// Propagates the whole keyring to replicas and the AOF as one deterministic command.
pub fn replicate(ctx: &Context, ring: &Keyring) {
    let blob = ring.to_bytes();
    ctx.replicate("JWT.KEY", &[b"SYNC".as_slice(), blob.as_slice()]);
}

/// Applies a change to the keyring, then replicates the result. `change` validates
/// before it mutates, so an error leaves the keyring as it was.
pub fn update<R>(ctx: &Context, change: impl FnOnce(&mut Keyring) -> Result<R>) -> Result<R> {
    refuse_on_replica(ctx)?;
    let mut ring = write();
    // A change that fails half-way (say ROTATE after its insert) must leave nothing behind.
    let before = ring.to_bytes();
    match change(&mut ring) {
        Ok(out) => {
            changed(&ring);
            replicate(ctx, &ring);
            drop(ring);
            crate::cluster_keyring::announce(ctx);
            Ok(out)
        }
        Err(e) => {
            if let Ok(restored) = Keyring::from_bytes(&before) {
                *ring = restored;
            }
            Err(e)
        }
    }
}

/// Merges a keyring another primary sent (cluster). True when ours changed: it is then
/// replicated like any change.
pub fn merge(ctx: &Context, blob: &[u8]) -> Result<bool> {
    refuse_on_replica(ctx)?;
    let other = Keyring::from_bytes(blob)?;
    let now = crate::clock::now_ms()?;
    let mut ring = write();
    let changed_here = ring.merge(&other, now)?;
    if changed_here {
        changed(&ring);
        replicate(ctx, &ring);
    }
    Ok(changed_here)
}

/// How much later than needed a retired key's drop time is moved when a session keeps
/// one of its tokens alive, so a session touched all day changes the keyring hourly.
const DROP_SLACK_MS: i64 = 3_600_000;

/// A session whose token key `kid` signed (a token without `exp`) now lives until
/// `until_ms`: the key must keep verifying that long, even if it is retired.
pub fn keep_key_for(ctx: &Context, kid: &str, until_ms: i64) -> Result<()> {
    if refuse_on_replica(ctx).is_err() {
        return Ok(()); // a writable replica's TOUCH: the primary keeps its keys
    }
    let extend = {
        let ring = read();
        match ring.get(kid) {
            Some(key) => {
                key.note_valid_until(until_ms);
                key.needs_later_drop(until_ms)
            }
            None => false,
        }
    };
    if extend {
        update(ctx, |ring| ring.extend_drop(kid, until_ms, DROP_SLACK_MS))?;
    }
    Ok(())
}

/// The keyring a SIGN works with, read once: `kid` (when given) must name a key that
/// may sign, checked before anything is written; an empty keyring first gets its key
/// (see `ensure_signing_key`).
pub fn signing_snapshot(
    ctx: &Context,
    now_ms: i64,
    rng: &dyn Random,
    kid: Option<&str>,
) -> Result<RwLockReadGuard<'static, Keyring>> {
    {
        let ring = read();
        if let Some(kid) = kid {
            match ring.get(kid) {
                Some(k) if k.legacy => {
                    return Err(Error::syntax(format!(
                        "key '{kid}' is a LEGACY key: it only verifies, never signs"
                    )))
                }
                Some(k) if k.retired_ms.is_none() => {}
                Some(_) => {
                    return Err(Error::syntax(format!(
                        "key '{kid}' is retired and cannot sign"
                    )))
                }
                None => return Err(Error::syntax(format!("no key with kid '{kid}'"))),
            }
        }
        if ring.active().is_some() && ring.refresh_secret().is_some() {
            return Ok(ring);
        }
    }
    ensure_signing_key(ctx, now_ms, rng)?;
    Ok(read())
}

/// Whether the keyring has what SIGN needs (an active key and a refresh secret), so
/// that no first key would be made.
pub fn can_sign() -> bool {
    let ring = read();
    ring.active().is_some() && ring.refresh_secret().is_some()
}

/// Zero configuration: the first SIGN on an empty keyring creates an HS256 key (and
/// the refresh-token MAC secret), both from the CSPRNG.
fn ensure_signing_key(ctx: &Context, now_ms: i64, rng: &dyn Random) -> Result<()> {
    {
        let ring = read();
        if ring.active().is_some() && ring.refresh_secret().is_some() {
            return Ok(());
        }
    }
    update(ctx, |ring| ring.ensure_signing_key(now_ms, rng))
}

/// The keyring as it would be once `ensure_signing_key` ran, without changing it: a
/// SIGN checks its token against it before the first key is made for real.
pub fn first_key_preview(now_ms: i64, rng: &dyn Random) -> Result<Keyring> {
    let mut preview = Keyring::from_bytes(&read().to_bytes())?;
    preview.ensure_signing_key(now_ms, rng)?;
    Ok(preview)
}

// ---- AOF rewrites without the RDB preamble -------------------------------------
// The keyring travels in the RDB as aux data. An AOF rewrite with
// `aof-use-rdb-preamble no` writes commands for keys only, so the new base file has no
// keyring. Right after the rewrite's fork (the new incremental file is already open)
// the keyring is appended as one `JWT.KEY SYNC`: base + incremental files then rebuild
// it, whatever the preamble setting. With the preamble it is merely redundant.

/// Listens for forks; false when the server cannot tell (then the module warns at
/// load: see `init`).
pub fn watch_aof_rewrites(ctx: &Context) -> bool {
    crate::redis::events::on_fork(ctx, |ctx| {
        if aof_rewrite_in_progress(ctx) {
            if crate::redis::client::writes_paused() {
                // A rewrite while writes are paused: nothing may be appended now; the
                // maintenance timer appends the keyring within a second of the pause's
                // end (a keyring change before that appends the whole keyring anyway).
                AOF_DEBT.store(true, Ordering::Relaxed);
            } else {
                replicate(ctx, &read());
            }
        }
    })
}

/// The keyring is owed to the AOF's new incremental file (see `watch_aof_rewrites`).
static AOF_DEBT: AtomicBool = AtomicBool::new(false);

/// Appends the keyring owed to the AOF, if any (writes not paused: the caller checks).
pub fn pay_aof_debt(ctx: &Context) {
    if AOF_DEBT.swap(false, Ordering::Relaxed) {
        replicate(ctx, &read());
    }
}

fn aof_rewrite_in_progress(ctx: &Context) -> bool {
    if !ctx.get_flags().contains(ContextFlags::AOF) {
        return false;
    }
    let text = match ctx.call("INFO", &["persistence"][..]) {
        Ok(RedisValue::SimpleString(s)) | Ok(RedisValue::BulkString(s)) => s,
        Ok(RedisValue::StringBuffer(b)) => String::from_utf8_lossy(&b).into_owned(),
        Ok(RedisValue::VerbatimString((_, b))) => String::from_utf8_lossy(&b).into_owned(),
        _ => return true, // unknown: writing the keyring once more is harmless
    };
    text.lines()
        .any(|l| l.trim() == "aof_rewrite_in_progress:1")
}

// ---- RDB aux data -------------------------------------------------------------
// The type exists only to carry aux data; no key ever has it.

pub static KEYRING_TYPE: RedisType = RedisType::new(
    "jwtkeyrng",
    1,
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(no_rdb_load),
        rdb_save: Some(no_rdb_save),
        aof_rewrite: None,
        mem_usage: None,
        digest: None,
        free: Some(no_free),
        aux_load: Some(aux_load),
        aux_save: Some(aux_save),
        aux_save2: None,
        aux_save_triggers: raw::REDISMODULE_AUX_BEFORE_RDB as c_int,
        free_effort: None,
        unlink: None,
        copy: None,
        defrag: None,
        mem_usage2: None,
        free_effort2: None,
        unlink2: None,
        copy2: None,
    },
);

extern "C" fn no_rdb_load(_: *mut raw::RedisModuleIO, _: c_int) -> *mut c_void {
    std::ptr::null_mut()
}
extern "C" fn no_rdb_save(_: *mut raw::RedisModuleIO, _: *mut c_void) {}
extern "C" fn no_free(_: *mut c_void) {}

/// Always writes the keyring, even empty, so a replica's full sync replaces its own.
extern "C" fn aux_save(rdb: *mut raw::RedisModuleIO, _when: c_int) {
    let blob = std::panic::catch_unwind(|| read().to_bytes()).unwrap_or_default();
    raw::save_slice(rdb, &blob);
}

extern "C" fn aux_load(rdb: *mut raw::RedisModuleIO, _encver: c_int, _when: c_int) -> c_int {
    let loaded = std::panic::catch_unwind(|| {
        let buf = raw::load_string_buffer(rdb).ok()?;
        Keyring::from_bytes(buf.as_ref()).ok()
    });
    match loaded {
        Ok(Some(ring)) => {
            replace(ring);
            raw::REDISMODULE_OK as c_int
        }
        _ => raw::REDISMODULE_ERR as c_int,
    }
}

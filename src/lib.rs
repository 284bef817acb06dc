//! redis-jwt: a Redis module that makes redis-server a JWT session server.
//!
//! Layout: `core/` is pure logic (tokens, claims, durations, keys, deadlines) with no
//! Redis in it; `commands/` parses arguments and calls the core; `store.rs` reads and
//! writes session keys and replicates effects; `keyring_state.rs` keeps signing keys as
//! node state; `config.rs` and `stats.rs` back CONFIG and INFO.

pub mod clock;
pub mod cluster;
pub mod cluster_keyring;
pub mod commands;
pub mod config;
pub mod keyring_state;
pub mod maintenance;
pub mod offload;
pub mod redis;
pub mod stats;
pub mod store;
pub mod workers;

use config::*;
use redis::{acl, command_info};
use redis_module::configuration::ConfigurationFlags;
#[allow(unused_imports)] // the macro refers to RedisResult
use redis_module::{redis_module, Context, InfoContext, RedisResult, RedisString, Status};

/// Cargo's version as MODULE LIST shows it: major * 10000 + minor * 100 + patch
/// (0.2.0 is 200), the convention of Redis's own modules.
const MODULE_VERSION: i32 = version_number(env!("CARGO_PKG_VERSION"));

const fn version_number(v: &str) -> i32 {
    let bytes = v.as_bytes();
    let (mut parts, mut current, mut i) = ([0i32; 3], 0usize, 0usize);
    while i < bytes.len() && current < 3 {
        match bytes[i] {
            b'.' => current += 1,
            d @ b'0'..=b'9' => parts[current] = parts[current] * 10 + (d - b'0') as i32,
            _ => break, // a pre-release suffix
        }
        i += 1;
    }
    parts[0] * 10000 + parts[1] * 100 + parts[2]
}

// Inside redis-server memory comes from Redis (it shows in INFO memory and maxmemory);
// unit tests run without a server, where RedisAlloc would abort.
#[cfg(not(test))]
type Allocator = redis_module::alloc::RedisAlloc;
#[cfg(not(test))]
const ALLOCATOR: Allocator = redis_module::alloc::RedisAlloc;
#[cfg(test)]
type Allocator = std::alloc::System;
#[cfg(test)]
const ALLOCATOR: Allocator = std::alloc::System;

fn init(ctx: &Context, args: &[RedisString]) -> Status {
    if !args.len().is_multiple_of(2) {
        crate::redis::log::warning(
            ctx,
            "jwt: module arguments come in pairs: <config-name> <value>",
        );
        return Status::Err;
    }
    for pair in args.chunks(2) {
        let (name, value) = (pair[0].to_string_lossy(), pair[1].to_string_lossy());
        if let Err(e) = config::apply_module_arg(&name, &value) {
            crate::redis::log::warning(ctx, &format!("jwt: bad module argument: {e}"));
            return Status::Err;
        }
    }
    let jwt_category = acl::add_jwt_category(ctx);
    if command_info::register(ctx, commands::table::COMMANDS, jwt_category) == Status::Err {
        return Status::Err;
    }
    if !keyring_state::watch_aof_rewrites(ctx) {
        crate::redis::log::warning(ctx, "jwt: cannot watch AOF rewrites: with appendonly yes and aof-use-rdb-preamble no, a rewrite would lose the keyring");
    }
    cluster::init(ctx);
    cluster_keyring::init(ctx, clock::now_ms().unwrap_or(0));
    maintenance::start(ctx);
    Status::Ok
}

// The builder API needs 7.2's section/dictionary support; this one works on 7.0.
#[allow(deprecated)]
fn info(ctx: &InfoContext, for_crash_report: bool) {
    use jwt_core::error::Code;
    ctx.add_info_section(None);
    let n = |name: &str, v: u64| {
        ctx.add_info_field_long_long(name, v as i64);
    };
    ctx.add_info_field_str("version", env!("CARGO_PKG_VERSION"));
    n("signs", stats::SIGNS.get());
    n("verifies", stats::VERIFIES.get());
    n("touches", stats::TOUCHES.get());
    n("destroys", stats::DESTROYS.get());
    n("refreshes", stats::REFRESHES.get());
    n("reuse_detections", stats::REUSE_DETECTIONS.get());
    n("revokes", stats::REVOKES.get());
    n("updates", stats::UPDATES.get());
    n("evictions", stats::EVICTIONS.get());
    n("verify_cache_hits", stats::VERIFY_CACHE_HITS.get());
    n("verify_cache_misses", stats::VERIFY_CACHE_MISSES.get());
    n("crypto_jobs", stats::CRYPTO_JOBS.get());
    for code in Code::ALL {
        n(
            &format!("failures_{}", code.as_str().to_ascii_lowercase()),
            stats::failures(code),
        );
    }
    // A crash report runs on the thread that crashed, which may hold one of these
    // locks: only the counters above then, so that the report cannot hang.
    if for_crash_report {
        return;
    }
    n(
        "verify_cache_entries",
        commands::auth::verify_cache_entries() as u64,
    );
    n("crypto_threads", workers::running() as u64);
    let ring = keyring_state::read();
    ctx.add_info_field_str("active_kid", ring.active().map_or("", |k| k.kid.as_str()));
    n("keys", ring.len() as u64);
    let list = ring.list();
    for state in ["active", "ready", "retired", "legacy"] {
        let count = list.iter().filter(|k| k.state == state).count();
        n(&format!("keys_{state}"), count as u64);
    }
    n("keys_weak", list.iter().filter(|k| k.weak).count() as u64);
    n(
        "sessions_cutoff_ms",
        ring.sessions_cutoff_ms().max(0) as u64,
    );
}

redis_module! {
    name: "jwt",
    version: MODULE_VERSION,
    allocator: (Allocator, ALLOCATOR),
    data_types: [KEYRING_TYPE],
    init: init,
    info: info,
    // Registered by `init` from the one command table (commands::table).
    commands: [],
    configurations: [
        i64: [
            ["max-token-bytes", &MAX_TOKEN_BYTES, 8192, MAX_TOKEN_BYTES_RANGE.0, MAX_TOKEN_BYTES_RANGE.1, ConfigurationFlags::DEFAULT, None],
            ["max-sessions", &MAX_SESSIONS, 0, MAX_SESSIONS_RANGE.0, MAX_SESSIONS_RANGE.1, ConfigurationFlags::DEFAULT, None],
            ["verify-cache", &VERIFY_CACHE, 4096, VERIFY_CACHE_RANGE.0, VERIFY_CACHE_RANGE.1, ConfigurationFlags::DEFAULT, None],
            ["activity-log", &ACTIVITY_LOG, 0, ACTIVITY_LOG_RANGE.0, ACTIVITY_LOG_RANGE.1, ConfigurationFlags::DEFAULT, None],
            ["crypto-threads", &CRYPTO_THREADS, 2, CRYPTO_THREADS_RANGE.0, CRYPTO_THREADS_RANGE.1, ConfigurationFlags::DEFAULT, None],
        ],
        string: [
            ["prefix", &PREFIX, "jwt:", ConfigurationFlags::DEFAULT, None],
            ["issuer", &ISSUER, "", ConfigurationFlags::DEFAULT, None],
            ["audience", &AUDIENCE, "", ConfigurationFlags::DEFAULT, None],
            ["session-ttl", &SESSION_TTL, "1 day", ConfigurationFlags::DEFAULT, None],
            ["access-ttl", &ACCESS_TTL, "15 minutes", ConfigurationFlags::DEFAULT, None],
            ["refresh-grace", &REFRESH_GRACE, "10 seconds", ConfigurationFlags::DEFAULT, None],
            ["leeway", &LEEWAY, "0", ConfigurationFlags::DEFAULT, None],
            ["key-rotation", &KEY_ROTATION, "0", ConfigurationFlags::DEFAULT, None],
            ["max-sessions-policy", &MAX_SESSIONS_POLICY, "evict-oldest", ConfigurationFlags::DEFAULT, None],
            ["stateless", &STATELESS, "allow", ConfigurationFlags::DEFAULT, None],
        ],
        bool: [],
        enum: [],
        // The loadmodule line is read by `init`, which accepts `name` and `jwt.name`.
        module_args_as_configuration: false,
    ]
}

use keyring_state::KEYRING_TYPE;

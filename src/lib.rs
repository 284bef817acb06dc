//! redis-jwt: a Redis module that makes redis-server a JWT session server.
//!
//! Layout: `core/` is pure logic (tokens, claims, durations, keys, deadlines) with no
//! Redis in it; `commands/` parses arguments and calls the core; `store.rs` reads and
//! writes session keys and replicates effects; `keyring_state.rs` keeps signing keys as
//! node state; `config.rs` and `stats.rs` back CONFIG and INFO.

pub mod cluster;
pub mod commands;
pub mod config;
pub mod keyring_state;
pub mod maintenance;
pub mod redis;
pub mod stats;
pub mod store;

use commands::{guard, key, refresh, sign, token, user};
use config::*;
use redis::{acl, command_info, subcommands};
use redis_module::configuration::ConfigurationFlags;
use redis_module::{redis_module, Context, InfoContext, RedisResult, RedisString, Status};

const MODULE_VERSION: i32 = 1;

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

static COMMANDS: &[command_info::Info<'static>] = &[
    command_info::Info {
        name: "jwt.sign",
        acl: "write slow",
        summary: "Creates a session and returns its signed token",
        complexity: "O(log N) where N is the number of sessions of the subject",
        arity: -2,
        subject_first: true,
    },
    command_info::Info {
        name: "jwt.verify",
        acl: "read fast",
        summary: "Verifies a token and its session; returns the payload",
        complexity: "O(1)",
        arity: -2,
        subject_first: false,
    },
    command_info::Info {
        name: "jwt.decode",
        acl: "read fast",
        summary: "Decodes a token without verifying it",
        complexity: "O(1)",
        arity: 2,
        subject_first: false,
    },
    command_info::Info {
        name: "jwt.touch",
        acl: "write fast",
        summary: "Verifies a token and extends its session's idle life",
        complexity: "O(log N) where N is the number of sessions of the subject",
        arity: -2,
        subject_first: false,
    },
    command_info::Info {
        name: "jwt.destroy",
        acl: "write slow",
        summary: "Ends the session of a token (logout)",
        complexity: "O(log N) where N is the number of sessions of the subject",
        arity: 2,
        subject_first: false,
    },
    command_info::Info {
        name: "jwt.refresh",
        acl: "write slow",
        summary: "Rotates a refresh token: a new access/refresh pair, with reuse detection",
        complexity: "O(log N) where N is the number of sessions of the subject",
        arity: -2,
        subject_first: false,
    },
    command_info::Info {
        name: "jwt.sessions",
        acl: "read slow",
        summary: "Lists the live sessions of a subject",
        complexity: "O(N) where N is the number of sessions of the subject",
        arity: -2,
        subject_first: true,
    },
    command_info::Info {
        name: "jwt.count",
        acl: "read slow",
        summary: "Counts the live sessions of a subject",
        complexity: "O(N) where N is the number of sessions of the subject",
        arity: 2,
        subject_first: true,
    },
    command_info::Info {
        name: "jwt.revoke",
        acl: "write slow",
        summary: "Ends all, some, or all but one of a subject's sessions",
        complexity: "O(N) where N is the number of sessions of the subject",
        arity: -2,
        subject_first: true,
    },
    command_info::Info {
        name: "jwt.jwks",
        acl: "read fast",
        summary: "The public signing keys as a JSON Web Key Set",
        complexity: "O(K) where K is the number of keys",
        arity: 1,
        subject_first: false,
    },
];

fn init(ctx: &Context, args: &[RedisString]) -> Status {
    if !args.len().is_multiple_of(2) {
        ctx.log_warning("jwt: module arguments come in pairs: <config-name> <value>");
        return Status::Err;
    }
    for pair in args.chunks(2) {
        let (name, value) = (pair[0].to_string_lossy(), pair[1].to_string_lossy());
        if let Err(e) = config::apply_module_arg(&name, &value) {
            ctx.log_warning(&format!("jwt: bad module argument: {e}"));
            return Status::Err;
        }
    }
    let jwt_category = acl::add_jwt_category(ctx);
    if subcommands::register(ctx, jwt_category) == Status::Err {
        return Status::Err;
    }
    for info in COMMANDS {
        command_info::set(ctx, info);
        if let Err(e) = acl::set_categories(ctx, info.name, &categories(info.acl, jwt_category)) {
            ctx.log_warning(&format!("jwt: {e}"));
            return Status::Err;
        }
    }
    if !keyring_state::watch_aof_rewrites(ctx) {
        ctx.log_warning("jwt: cannot watch AOF rewrites: with appendonly yes and aof-use-rdb-preamble no, a rewrite would lose the keyring");
    }
    cluster::init(ctx);
    maintenance::start(ctx);
    Status::Ok
}

/// A command's ACL categories, with `jwt` where the server knows that category.
pub fn categories(own: &str, jwt_category: bool) -> String {
    if jwt_category {
        format!("jwt {own}")
    } else {
        own.to_string()
    }
}

// The builder API needs 7.2's section/dictionary support; this one works on 7.0.
#[allow(deprecated)]
fn info(ctx: &InfoContext, _for_crash_report: bool) {
    use jwt_core::error::Code;
    ctx.add_info_section(None);
    let n = |name: &str, v: u64| {
        ctx.add_info_field_long_long(name, v as i64);
    };
    n("signs", stats::SIGNS.get());
    n("verifies", stats::VERIFIES.get());
    n("touches", stats::TOUCHES.get());
    n("destroys", stats::DESTROYS.get());
    n("refreshes", stats::REFRESHES.get());
    n("reuse_detections", stats::REUSE_DETECTIONS.get());
    n("revokes", stats::REVOKES.get());
    n("evictions", stats::EVICTIONS.get());
    n("verify_cache_hits", stats::VERIFY_CACHE_HITS.get());
    for code in Code::ALL {
        n(
            &format!("failures_{}", code.as_str().to_ascii_lowercase()),
            stats::failures(code),
        );
    }
    let ring = keyring_state::read();
    ctx.add_info_field_str("active_kid", ring.active().map_or("", |k| k.kid.as_str()));
    n("keys", ring.len() as u64);
}

redis_module! {
    name: "jwt",
    version: MODULE_VERSION,
    allocator: (Allocator, ALLOCATOR),
    data_types: [KEYRING_TYPE],
    init: init,
    info: info,
    commands: [
        ["jwt.sign", |ctx: &Context, args| guard(ctx, args, "JWT.SIGN", sign::sign), "write deny-oom", 1, 1, 1, ""],
        ["jwt.verify", |ctx: &Context, args| guard(ctx, args, "JWT.VERIFY", token::verify), "readonly fast", 0, 0, 0, ""],
        ["jwt.decode", |ctx: &Context, args| guard(ctx, args, "JWT.DECODE", token::decode), "readonly fast", 0, 0, 0, ""],
        ["jwt.touch", |ctx: &Context, args| guard(ctx, args, "JWT.TOUCH", token::touch), "write fast", 0, 0, 0, ""],
        ["jwt.destroy", |ctx: &Context, args| guard(ctx, args, "JWT.DESTROY", token::destroy), "write", 0, 0, 0, ""],
        ["jwt.refresh", |ctx: &Context, args| guard(ctx, args, "JWT.REFRESH", refresh::refresh), "write deny-oom", 0, 0, 0, ""],
        ["jwt.sessions", |ctx: &Context, args| guard(ctx, args, "JWT.SESSIONS", user::sessions), "readonly", 1, 1, 1, ""],
        ["jwt.count", |ctx: &Context, args| guard(ctx, args, "JWT.COUNT", user::count), "readonly", 1, 1, 1, ""],
        ["jwt.revoke", |ctx: &Context, args| guard(ctx, args, "JWT.REVOKE", user::revoke), "write", 1, 1, 1, ""],
        ["jwt.jwks", |ctx: &Context, args| guard(ctx, args, "JWT.JWKS", key::jwks), "readonly fast", 0, 0, 0, ""],
    ],
    configurations: [
        i64: [
            ["max-token-bytes", &MAX_TOKEN_BYTES, 8192, MAX_TOKEN_BYTES_RANGE.0, MAX_TOKEN_BYTES_RANGE.1, ConfigurationFlags::DEFAULT, None],
            ["max-sessions", &MAX_SESSIONS, 0, MAX_SESSIONS_RANGE.0, MAX_SESSIONS_RANGE.1, ConfigurationFlags::DEFAULT, None],
            ["verify-cache", &VERIFY_CACHE, 4096, VERIFY_CACHE_RANGE.0, VERIFY_CACHE_RANGE.1, ConfigurationFlags::DEFAULT, None],
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

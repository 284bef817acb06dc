//! Per-user session management: JWT.SESSIONS, JWT.COUNT, JWT.REVOKE. The subject is
//! the first argument (the routing key); the per-user index makes each command
//! O(sessions of that user), never KEYS or SCAN.

use super::{now_ms, set_flag, set_once, unknown_option, Args};
use crate::config;
use crate::keyring_state;
use crate::redis::acl::{self, Access};
use crate::redis::key::KeyName;
use crate::redis::reply;
use crate::stats;
use crate::store::Store;
use jwt_core::error::{Error, Result};
use jwt_core::lifecycle::{self, Targets};
use jwt_core::session::{self, index_key, SessionAddr};
use jwt_core::store::SessionInfo;
use redis_module::{Context, RedisString, RedisValue};

/// Reads and checks the subject; returns its index key.
pub fn subject_index(ctx: &Context, args: &mut Args, access: Access) -> Result<(String, String)> {
    let sub = session::validate_subject(args.next_bytes("subject")?)?.to_string();
    let ikey = config::PREFIX.with(|p| index_key(p, &sub));
    crate::cluster::ensure_user_slot(ctx, &ikey)?;
    acl::check_key(ctx, &ikey, access)?;
    Ok((sub, ikey))
}

fn no_more_args(args: &mut Args, command: &str) -> Result<()> {
    match args.next_option() {
        Some(extra) => Err(unknown_option(&extra, command)),
        None => Ok(()),
    }
}

/// JWT.SESSIONS <sub> [WITHDATA]: one entry per live session, oldest first:
/// `sid <sid> created <ms> ttl <ms> maxage_deadline <ms|nil> last_seen <ms|nil>
/// meta <json|nil> [data <json|nil>]`.
pub fn sessions(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    let mut args = Args::new(argv);
    let (_, ikey) = subject_index(ctx, &mut args, Access::Read)?;
    let mut withdata = false;
    while let Some(opt) = args.next_option() {
        match opt.as_str() {
            "WITHDATA" => set_flag(&mut withdata, "WITHDATA")?,
            other => return Err(unknown_option(other, "JWT.SESSIONS")),
        }
    }
    check_session_keys(ctx, &ikey, None, Access::Read)?;
    let list = live_sessions(ctx, &ikey, withdata)?;
    let int = |v: Option<i64>| v.map_or(RedisValue::Null, RedisValue::Integer);
    let bytes = |v: Option<Vec<u8>>| v.map_or(RedisValue::Null, RedisValue::StringBuffer);
    let records = list
        .into_iter()
        .map(|info| {
            let mut r: reply::Record = vec![
                (c"sid", RedisValue::BulkString(info.sid)),
                (c"created", RedisValue::Integer(info.created_ms)),
                (c"ttl", RedisValue::Integer(info.ttl_ms)),
                (c"maxage_deadline", int(info.max_deadline_ms)),
                (c"last_seen", int(info.last_seen_ms)),
                (c"meta", bytes(info.meta)),
            ];
            if withdata {
                r.push((c"data", bytes(info.data)));
            }
            r
        })
        .collect();
    Ok(reply::records(ctx, records))
}

/// JWT.COUNT <sub>
pub fn count(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    let mut args = Args::new(argv);
    let (_, ikey) = subject_index(ctx, &mut args, Access::Read)?;
    no_more_args(&mut args, "JWT.COUNT")?;
    check_session_keys(ctx, &ikey, None, Access::Read)?;
    Ok(RedisValue::Integer(
        live_sessions(ctx, &ikey, false)?.len() as i64
    ))
}

/// The caller's permission on the session keys a user-scoped command reads or ends
/// (`sids`, else every entry of the index), on top of the index key's: the ACL holds on
/// the real keys touched, so a user allowed only the index keys (`~jwt:{*}`) can
/// neither read a session's DATA through SESSIONS nor end sessions through REVOKE (or
/// through SIGN's max-sessions eviction).
pub(crate) fn check_session_keys(
    ctx: &Context,
    ikey: &str,
    sids: Option<&[String]>,
    access: Access,
) -> Result<()> {
    use jwt_core::store::SessionStore;
    let indexed;
    let sids = match sids {
        Some(sids) => sids,
        None => {
            indexed = Store::new(ctx).indexed_sids(ikey)?;
            &indexed
        }
    };
    let names: Vec<String> = sids
        .iter()
        .map(|sid| SessionAddr::in_index(ikey, sid).key().to_string())
        .collect();
    let keys: Vec<(&[u8], Option<&KeyName>)> = names.iter().map(|n| (n.as_bytes(), None)).collect();
    acl::check_keys(ctx, &keys, access)
}

fn live_sessions(ctx: &Context, ikey: &str, withdata: bool) -> Result<Vec<SessionInfo>> {
    use jwt_core::store::SessionStore;
    Store::new(ctx).sessions(
        ikey,
        withdata,
        now_ms()?,
        keyring_state::sessions_cutoff_ms(),
    )
}

/// JWT.REVOKE <sub> [SID <sid> [<sid> ...]] [EXCEPT <sid>]: all sessions, the listed
/// ones, or all but one ("log out other devices"). Returns how many ended.
pub fn revoke(ctx: &Context, argv: &[RedisString]) -> Result<RedisValue> {
    super::primary_only(ctx)?;
    let mut args = Args::new(argv);
    let (_, ikey) = subject_index(ctx, &mut args, Access::Write)?;
    let mut only: Option<Vec<String>> = None;
    let mut except: Option<String> = None;
    while let Some(opt) = args.next_option() {
        match opt.as_str() {
            "SID" => {
                let mut sids = vec![session::validate_sid(args.next_bytes("SID")?)?.to_string()];
                // Every following argument is a sid, until EXCEPT or the end.
                while !args.done() && !args.peek_is("EXCEPT") && !args.peek_is("SID") {
                    sids.push(session::validate_sid(args.next_bytes("SID")?)?.to_string());
                }
                set_once(&mut only, sids, "SID")?
            }
            "EXCEPT" => set_once(
                &mut except,
                session::validate_sid(args.next_bytes("EXCEPT sid")?)?.to_string(),
                "EXCEPT",
            )?,
            other => return Err(unknown_option(other, "JWT.REVOKE")),
        }
    }
    if only.is_some() && except.is_some() {
        return Err(Error::syntax("JWT.REVOKE takes SID or EXCEPT, not both"));
    }
    let targets = match (only, except) {
        (Some(sids), _) => Targets::Only(sids),
        (None, Some(keep)) => Targets::AllExcept(keep),
        (None, None) => Targets::All,
    };
    let store = Store::new(ctx);
    let sids = lifecycle::revoke_targets(&store, &ikey, targets)?;
    check_session_keys(ctx, &ikey, Some(&sids), Access::Write)?;
    let ended = lifecycle::revoke_sids(&store, &ikey, &sids)?;
    for _ in 0..ended {
        stats::REVOKES.incr();
    }
    Ok(RedisValue::Integer(ended as i64))
}

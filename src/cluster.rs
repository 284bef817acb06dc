//! Token commands are keyless (a bearer token has no routable part), yet they derive
//! the session's keys from the token. In a cluster, a node must not touch a key of a slot
//! it does not serve: opening it would read nothing or write a stray, unreachable key.
//! So in cluster mode each token command first asks Redis whether the session key is
//! local (an `EXISTS` through `RM_Call`, which applies the server's own routing rules,
//! migrations included) and otherwise answers `MOVED <slot> <host>:<port>` like Redis
//! does for keyed commands (redis-cli -c and ioredis follow it), or `TRYAGAIN` while the
//! slot is moving.

use jwt_core::error::{Code, Error, Result};
use jwt_core::session::hash_slot;
use redis_module::{CallOptionsBuilder, CallReply, CallResult, Context, ContextFlags};
use std::sync::atomic::{AtomicBool, Ordering};

/// Cluster mode is fixed for the life of the process: read once at load, so the token
/// commands of a standalone server (the usual case) pay nothing for this.
static CLUSTER_MODE: AtomicBool = AtomicBool::new(false);

pub fn init(ctx: &Context) {
    CLUSTER_MODE.store(
        ctx.get_flags().contains(ContextFlags::CLUSTER),
        Ordering::Relaxed,
    );
}

/// Whether this server runs in cluster mode.
pub fn is_cluster() -> bool {
    CLUSTER_MODE.load(Ordering::Relaxed)
}

/// Whether slot checks apply: cluster mode, and not a command replayed from a primary
/// or the AOF (those are local by construction).
pub fn enabled(ctx: &Context) -> bool {
    if !CLUSTER_MODE.load(Ordering::Relaxed) {
        return false;
    }
    let flags = ctx.get_flags();
    !flags.contains(ContextFlags::REPLICATED) && !flags.contains(ContextFlags::LOADING)
}

/// Routes by the session a token names, before anything else is done with it: a node
/// with another keyring must answer MOVED, not INVALID. The claims are read unverified
/// for this only; the node that serves the slot verifies everything.
pub fn route_token(
    ctx: &Context,
    token: &[u8],
    session_key_of: impl FnOnce(&[u8]) -> Option<String>,
) -> Result<()> {
    if !enabled(ctx) {
        return Ok(());
    }
    match session_key_of(token) {
        Some(key) => ensure_local(ctx, &key),
        None => Ok(()), // no session named (garbage or stateless): nothing to route
    }
}

pub fn ensure_local(ctx: &Context, session_key: &str) -> Result<()> {
    if !enabled(ctx) {
        return Ok(());
    }
    let opts = CallOptionsBuilder::new().errors_as_replies().build();
    let res: CallResult = ctx.call_ext("EXISTS", &opts, &[session_key]);
    if res.is_ok() {
        return Ok(());
    }
    let slot = hash_slot(session_key.as_bytes());
    match owner_of(ctx, slot) {
        Some((host, port, false)) => Err(Error::new(Code::Moved, format!("{slot} {host}:{port}"))),
        _ => Err(Error::new(
            Code::TryAgain,
            format!("slot {slot} is not served here right now"),
        )),
    }
}

/// Subject-first commands are routed by Redis itself (their declared key), but while the
/// user's slot migrates a user's keys may sit on both nodes, and a command that saw only
/// this node's half would miss sessions silently (or create an index that blocks the
/// migration). A client sent here with ASKING passes Redis's own checks (and RM_Call
/// inherits its ASKING), so the module looks at this node's slot states in CLUSTER
/// NODES: while the user's slot is importing or migrating, the answer is TRYAGAIN
/// until it has moved.
pub fn ensure_user_slot(ctx: &Context, index_key: &str) -> Result<()> {
    if !enabled(ctx) {
        return Ok(());
    }
    let slot = hash_slot(index_key.as_bytes());
    if slot_is_moving(ctx, slot) {
        return Err(Error::new(
            Code::TryAgain,
            format!("slot {slot} is migrating: retry when it has moved"),
        ));
    }
    Ok(())
}

/// A token command found its session gone (REVOKED, or nothing to destroy). While the
/// session's slot migrates, the session and its index may sit on different nodes for a
/// moment (MIGRATE moves keys one by one), so "gone" may only mean "half moved": then
/// the answer is TRYAGAIN, never a false REVOKED. Costs nothing on the usual paths: it
/// runs only when a session was not found, and only in cluster mode.
pub fn not_found(ctx: &Context, session_key: &str, otherwise: Error) -> Error {
    if enabled(ctx) {
        let slot = hash_slot(session_key.as_bytes());
        if slot_is_moving(ctx, slot) {
            return Error::new(
                Code::TryAgain,
                format!("slot {slot} is migrating: retry when it has moved"),
            );
        }
    }
    otherwise
}

/// Whether this node marks `slot` as migrating (`[slot->-id]`) or importing
/// (`[slot-<-id]`) on its own line of CLUSTER NODES.
fn slot_is_moving(ctx: &Context, slot: u16) -> bool {
    let opts = CallOptionsBuilder::new().errors_as_replies().build();
    let nodes: CallResult = ctx.call_ext("CLUSTER", &opts, &["NODES"]);
    let text = match nodes {
        Ok(CallReply::String(s)) => s.to_string().unwrap_or_default(),
        _ => return false,
    };
    let migrating = format!("[{slot}->-");
    let importing = format!("[{slot}-<-");
    text.lines()
        .filter(|l| l.contains("myself"))
        .any(|l| l.contains(&migrating) || l.contains(&importing))
}

/// (host, port, is this node) of the primary serving `slot`, from CLUSTER SLOTS.
fn owner_of(ctx: &Context, slot: u16) -> Option<(String, i64, bool)> {
    let opts = CallOptionsBuilder::new().errors_as_replies().build();
    let slots: CallResult = ctx.call_ext("CLUSTER", &opts, &["SLOTS"]);
    let myid: CallResult = ctx.call_ext("CLUSTER", &opts, &["MYID"]);
    let myid = match myid {
        Ok(CallReply::String(s)) => s.to_string().unwrap_or_default(),
        _ => String::new(),
    };
    let Ok(CallReply::Array(ranges)) = slots else {
        return None;
    };
    let int = |r: &CallReply| match r {
        CallReply::I64(i) => Some(i.to_i64()),
        _ => None,
    };
    let text = |r: &CallReply| match r {
        CallReply::String(s) => s.to_string(),
        _ => None,
    };
    for range in ranges.iter() {
        let Ok(CallReply::Array(range)) = range else {
            continue;
        };
        let (Some(Ok(start)), Some(Ok(end)), Some(Ok(CallReply::Array(node)))) =
            (range.get(0), range.get(1), range.get(2))
        else {
            continue;
        };
        let (Some(start), Some(end)) = (int(&start), int(&end)) else {
            continue;
        };
        if (start..=end).contains(&(slot as i64)) {
            let host = node.get(0).and_then(|r| r.ok()).and_then(|r| text(&r))?;
            let port = node.get(1).and_then(|r| r.ok()).and_then(|r| int(&r))?;
            let id = node
                .get(2)
                .and_then(|r| r.ok())
                .and_then(|r| text(&r))
                .unwrap_or_default();
            return Some((host, port, id == myid));
        }
    }
    None
}

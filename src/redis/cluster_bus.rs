//! Module messages over the cluster bus (`RedisModule_SendClusterMessage` /
//! `RegisterClusterMessageReceiver`, 7.0+ and Valkey 8). Clear text unless the cluster
//! runs `tls-cluster yes`.

use redis_module::{raw, Context};
use std::os::raw::{c_char, c_int, c_uchar};
use std::sync::OnceLock;

/// What a receiver gets: the context, the sender's node id (40 bytes) and the payload.
pub type Receiver = fn(&Context, &[u8], &[u8]);

static RECEIVERS: OnceLock<Vec<(u8, Receiver)>> = OnceLock::new();

/// Registers `receivers` by message type; only while the module loads, once.
pub fn register(ctx: &Context, receivers: Vec<(u8, Receiver)>) -> bool {
    let Some(register) = api_fn!(RedisModule_RegisterClusterMessageReceiver) else {
        return false;
    };
    let types: Vec<u8> = receivers.iter().map(|(t, _)| *t).collect();
    if RECEIVERS.set(receivers).is_err() {
        return false;
    }
    for t in types {
        // SAFETY: a live context during OnLoad and a callback that lives as long as
        // the module.
        unsafe { register(ctx.get_raw(), t, Some(receive)) };
    }
    true
}

extern "C" fn receive(
    ctx: *mut raw::RedisModuleCtx,
    sender_id: *const c_char,
    msg_type: u8,
    payload: *const c_uchar,
    len: u32,
) {
    let ctx = Context::new(ctx);
    let Some(f) = RECEIVERS
        .get()
        .and_then(|r| r.iter().find(|(t, _)| *t == msg_type).map(|(_, f)| *f))
    else {
        return;
    };
    // SAFETY: the server hands over a node id of REDISMODULE_NODE_ID_LEN bytes and a
    // payload of `len` bytes, both valid for the duration of this call.
    let (sender, body) = unsafe {
        (
            std::slice::from_raw_parts(
                sender_id.cast::<u8>(),
                raw::REDISMODULE_NODE_ID_LEN as usize,
            ),
            if payload.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(payload, len as usize)
            },
        )
    };
    // A panic must not cross into the server.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&ctx, sender, body)));
}

/// Sends to one node (`target`: its 40-byte id) or, with None, to every node.
pub fn send(ctx: &Context, target: Option<&[u8]>, msg_type: u8, payload: &[u8]) -> bool {
    let Some(send) = api_fn!(RedisModule_SendClusterMessage) else {
        return false;
    };
    let target_id = target.map(|t| {
        let mut id = t.to_vec();
        id.push(0);
        id
    });
    let target_ptr = target_id
        .as_ref()
        .map_or(std::ptr::null(), |t| t.as_ptr().cast::<c_char>());
    // SAFETY: a live context; `target_ptr` is NULL (broadcast) or a NUL-terminated node
    // id; the payload is a live buffer of the given length. The server copies it.
    let rc = unsafe {
        send(
            ctx.get_raw(),
            target_ptr,
            msg_type,
            payload.as_ptr().cast::<c_char>(),
            payload.len() as u32,
        )
    };
    rc == raw::REDISMODULE_OK as c_int
}

/// How many nodes the cluster has, replicas included (this one too); 0 if unknown.
pub fn cluster_size() -> usize {
    match api_fn!(RedisModule_GetClusterSize) {
        // SAFETY: takes no arguments; reads the server's cluster state.
        Some(size) => unsafe { size() },
        None => 0,
    }
}

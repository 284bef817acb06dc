//! Replies the crate's `RedisValue` cannot shape: records as RESP3 maps (flat
//! `[name, value, ...]` arrays under RESP2) in a fixed field order.

use redis_module::{Context, RedisValue};
use std::ffi::CStr;
use std::os::raw::c_long;

/// One record: field names and values, in the order clients see them.
pub type Record = Vec<(&'static CStr, RedisValue)>;

/// Replies an array of records, each a map (RESP3) or a flat array (RESP2: the server
/// turns a map into one). The handler then returns `RedisValue::NoReply`.
pub fn records(ctx: &Context, records: Vec<Record>) -> RedisValue {
    let (Some(array), Some(simple)) = (
        api_fn!(RedisModule_ReplyWithArray),
        api_fn!(RedisModule_ReplyWithSimpleString),
    ) else {
        return RedisValue::StaticError("ERR this server cannot reply");
    };
    let map = api_fn!(RedisModule_ReplyWithMap);
    // SAFETY: a live command context; the count is the number of elements that follow.
    unsafe { array(ctx.get_raw(), records.len() as c_long) };
    for record in records {
        let n = record.len() as c_long;
        match map {
            // SAFETY: as above; a map of `n` pairs follows (a flat array of 2n on RESP2).
            Some(map) => unsafe { map(ctx.get_raw(), n) },
            // SAFETY: as above (7.0 has ReplyWithMap; this is a fallback).
            None => unsafe { array(ctx.get_raw(), 2 * n) },
        };
        for (name, value) in record {
            // SAFETY: a live context and a NUL-terminated field name.
            unsafe { simple(ctx.get_raw(), name.as_ptr()) };
            ctx.reply(Ok(value));
        }
    }
    RedisValue::NoReply
}

//! A thin safe wrapper over the low-level key API (`RedisModule_OpenKey` and friends).
//!
//! The session commands run on every request of a web backend, so they touch keys
//! directly instead of dispatching commands through `RM_Call` (several microseconds
//! each). Writes made here are *not* propagated by Redis: the store replicates each one
//! explicitly with `RM_Replicate`, always with absolute times.

use jwt_core::error::{Error, Result};
use redis_module::{raw, Context};
use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::ptr;

/// The API functions, all present since Redis 5 except where said. A missing one is an
/// error reply, never a panic.
macro_rules! api {
    ($name:ident) => {
        api_fn!($name).ok_or_else(|| Error::syntax(concat!("server lacks ", stringify!($name))))
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Empty,
    Hash,
    ZSet,
    Other,
}

/// An owned RedisModuleString, freed on drop.
struct Str {
    ctx: *mut raw::RedisModuleCtx,
    ptr: *mut raw::RedisModuleString,
}

impl Str {
    fn new(ctx: *mut raw::RedisModuleCtx, bytes: &[u8]) -> Result<Str> {
        let create = api!(RedisModule_CreateString)?;
        // SAFETY: a live context and a byte buffer with its length; the string is freed by this `Str`'s drop.
        let ptr = unsafe { create(ctx, bytes.as_ptr().cast::<c_char>(), bytes.len()) };
        Ok(Str { ctx, ptr })
    }
}

impl Drop for Str {
    fn drop(&mut self) {
        if let (false, Some(free)) = (self.ptr.is_null(), api_fn!(RedisModule_FreeString)) {
            // SAFETY: a string this `Str` owns, freed exactly once (here).
            unsafe { free(self.ctx, self.ptr) };
        }
    }
}

thread_local! {
    /// Hash field names as server strings, made once: `HashGet` with C-string fields
    /// would build (and free) a string object per call on the VERIFY path. Commands run
    /// on the main thread, and these live as long as the process.
    static FIELD_NAMES: std::cell::RefCell<Vec<(usize, usize)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn field_name(field: &CStr) -> Option<*mut raw::RedisModuleString> {
    let key = field.as_ptr() as usize;
    FIELD_NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some((_, p)) = names.iter().find(|(k, _)| *k == key) {
            return Some(*p as *mut raw::RedisModuleString);
        }
        let create = api_fn!(RedisModule_CreateString)?;
        let bytes = field.to_bytes();
        // SAFETY: a byte buffer with its length; no context, so the string lives until freed (these field names live as long as the process).
        let p = unsafe {
            create(
                ptr::null_mut(),
                bytes.as_ptr().cast::<c_char>(),
                bytes.len(),
            )
        };
        (!p.is_null()).then(|| {
            names.push((key, p as usize));
            p
        })
    })
}

impl Str {
    /// The string's bytes, borrowed for as long as this owner lives.
    fn bytes(&self) -> &[u8] {
        let Some(ptr_len) = api_fn!(RedisModule_StringPtrLen) else {
            return &[];
        };
        let mut len = 0usize;
        // SAFETY: `self.ptr` is a live string we own (freed only on drop).
        let p = unsafe { ptr_len(self.ptr, &mut len) };
        if p.is_null() {
            &[]
        } else {
            // SAFETY: the server guarantees `len` bytes at `p`, valid while the string
            // lives, which the borrow of `self` ensures.
            unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }
        }
    }
}

/// A write's status as a Result: nothing may be replicated that was not applied.
fn status(rc: c_int, what: &str) -> Result<()> {
    if rc == raw::REDISMODULE_OK as c_int {
        Ok(())
    } else {
        Err(Error::syntax(format!(
            "the server refused a write ({what})"
        )))
    }
}

/// `HashSet` answers how many fields it wrote (with COUNT_ALL).
fn written_or_err(written: c_int, expected: c_int) -> Result<()> {
    if written == expected {
        Ok(())
    } else {
        Err(Error::syntax("the server refused a write (HashSet)"))
    }
}

/// A key name as a server string that outlives one command (created without a context,
/// reference-counted by the server). The verify cache keeps one per cached session so
/// a hit opens the key without building its name again. Main thread only, like every
/// command; `Send` only so it can sit in the cache's static.
pub struct KeyName(*mut raw::RedisModuleString);

// SAFETY: a server string used only on Redis's main thread (commands and timers); `Send` only lets it sit in the verify cache's static.
unsafe impl Send for KeyName {}

impl KeyName {
    pub fn as_ptr(&self) -> *mut raw::RedisModuleString {
        self.0
    }

    pub fn new(name: &[u8]) -> Option<KeyName> {
        let create = api_fn!(RedisModule_CreateString)?;
        // SAFETY: a byte buffer with its length; no context, so the string lives until freed (these field names live as long as the process).
        let p = unsafe { create(ptr::null_mut(), name.as_ptr().cast::<c_char>(), name.len()) };
        (!p.is_null()).then_some(KeyName(p))
    }
}

impl Clone for KeyName {
    fn clone(&self) -> Self {
        if let Some(retain) = api_fn!(RedisModule_RetainString) {
            // SAFETY: a live server string; the extra reference is released by the clone's drop.
            unsafe { retain(ptr::null_mut(), self.0) };
        }
        KeyName(self.0)
    }
}

impl Drop for KeyName {
    fn drop(&mut self) {
        if let Some(free) = api_fn!(RedisModule_FreeString) {
            // SAFETY: releases the one reference this `KeyName` holds.
            unsafe { free(ptr::null_mut(), self.0) };
        }
    }
}

pub struct Key {
    ctx: *mut raw::RedisModuleCtx,
    ptr: *mut raw::RedisModuleKey,
}

impl Drop for Key {
    fn drop(&mut self) {
        if let (false, Some(close)) = (self.ptr.is_null(), api_fn!(RedisModule_CloseKey)) {
            // SAFETY: a key this `Key` opened, closed exactly once (here).
            unsafe { close(self.ptr) };
        }
    }
}

impl Key {
    fn open(ctx: &Context, name: &[u8], mode: u32) -> Result<Key> {
        let open = api!(RedisModule_OpenKey)?;
        let name = Str::new(ctx.get_raw(), name)?;
        // OpenKey keeps its own reference to the name.
        // SAFETY: a live command context and a live key name (OpenKey keeps its own reference to it); a null result means "no such key" and is handled by every method.
        let ptr = unsafe { open(ctx.get_raw(), name.ptr, mode as c_int) };
        Ok(Key {
            ctx: ctx.get_raw(),
            ptr: ptr.cast(),
        })
    }

    /// Opens a key for reading by a name made earlier.
    pub fn read_named(ctx: &Context, name: &KeyName) -> Result<Key> {
        let open = api!(RedisModule_OpenKey)?;
        // SAFETY: a live command context and a live key name (OpenKey keeps its own reference to it); a null result means "no such key" and is handled by every method.
        let ptr = unsafe { open(ctx.get_raw(), name.0, raw::REDISMODULE_READ as c_int) };
        Ok(Key {
            ctx: ctx.get_raw(),
            ptr: ptr.cast(),
        })
    }

    /// Opens a key for reading by its name, made now or earlier.
    pub fn read_either(ctx: &Context, name: &[u8], made: Option<&KeyName>) -> Result<Key> {
        match made {
            Some(n) => Key::read_named(ctx, n),
            None => Key::read(ctx, name),
        }
    }

    pub fn read(ctx: &Context, name: &[u8]) -> Result<Key> {
        Key::open(ctx, name, raw::REDISMODULE_READ)
    }

    pub fn write(ctx: &Context, name: &[u8]) -> Result<Key> {
        Key::open(ctx, name, raw::REDISMODULE_READ | raw::REDISMODULE_WRITE)
    }

    pub fn kind(&self) -> Kind {
        if self.ptr.is_null() {
            return Kind::Empty;
        }
        let Some(key_type) = api_fn!(RedisModule_KeyType) else {
            return Kind::Other;
        };
        // SAFETY: `self.ptr` is an open key (checked non-null above).
        match unsafe { key_type(self.ptr) } as isize {
            raw::REDISMODULE_KEYTYPE_EMPTY => Kind::Empty,
            raw::REDISMODULE_KEYTYPE_HASH => Kind::Hash,
            raw::REDISMODULE_KEYTYPE_ZSET => Kind::ZSet,
            _ => Kind::Other,
        }
    }

    /// Remaining time to live in ms, None when the key is missing or persistent.
    pub fn ttl_ms(&self) -> Option<i64> {
        if self.kind() == Kind::Empty {
            return None;
        }
        let get = api_fn!(RedisModule_GetExpire)?;
        // SAFETY: `self.ptr` is a key this command opened and has not closed (CloseKey runs on drop); the other arguments are live strings or valid out-pointers.
        let ttl = unsafe { get(self.ptr) };
        (ttl >= 0).then_some(ttl)
    }

    /// Calls `f` with the bytes of a hash field, if present.
    pub fn hash_get<R>(&self, field: &CStr, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if self.kind() != Kind::Hash {
            return None;
        }
        let get = api_fn!(RedisModule_HashGet)?;
        let name = field_name(field)?;
        let mut out: *mut raw::RedisModuleString = ptr::null_mut();
        let null: *mut c_char = ptr::null_mut();
        // SAFETY: `self.ptr` is a key this command opened and has not closed (CloseKey runs on drop); the other arguments are live strings or valid out-pointers.
        let rc = unsafe {
            get(
                self.ptr,
                raw::REDISMODULE_HASH_NONE as c_int,
                name,
                &mut out,
                null,
            )
        };
        if rc != raw::REDISMODULE_OK as c_int || out.is_null() {
            return None;
        }
        let value = Str {
            ctx: self.ctx,
            ptr: out,
        };
        Some(f(value.bytes()))
    }

    /// Several integer fields (absent or not an integer: None).
    pub fn hash_get_i64s<const N: usize>(&self, fields: [&CStr; N]) -> [Option<i64>; N] {
        self.hash_get_parsed(fields, |b| std::str::from_utf8(b).ok()?.parse().ok())
    }

    /// Several fields, each parsed by `parse` (absent or unparsable: None), up to three
    /// per `HashGet` call: the VERIFY and TOUCH paths read theirs together.
    pub fn hash_get_parsed<T: Copy, const N: usize>(
        &self,
        fields: [&CStr; N],
        parse: impl Fn(&[u8]) -> Option<T>,
    ) -> [Option<T>; N] {
        let mut out = [None; N];
        if self.kind() != Kind::Hash {
            return out;
        }
        let Some(get) = api_fn!(RedisModule_HashGet) else {
            return out;
        };
        let null: *mut c_char = ptr::null_mut();
        for (chunk, slots) in fields.chunks(3).zip(out.chunks_mut(3)) {
            let mut names = [ptr::null_mut(); 3];
            for (n, f) in names.iter_mut().zip(chunk) {
                match field_name(f) {
                    Some(p) => *n = p,
                    None => return [None; N],
                }
            }
            let mut v: [*mut raw::RedisModuleString; 3] = [ptr::null_mut(); 3];
            let [v0, v1, v2] = &mut v;
            // SAFETY: an open hash key; each field name is a live server string and
            // each output a valid out-pointer; the list ends with NULL as the API wants.
            let rc = unsafe {
                match chunk.len() {
                    1 => get(
                        self.ptr,
                        raw::REDISMODULE_HASH_NONE as c_int,
                        names[0],
                        v0 as *mut _,
                        null,
                    ),
                    2 => get(
                        self.ptr,
                        raw::REDISMODULE_HASH_NONE as c_int,
                        names[0],
                        v0 as *mut _,
                        names[1],
                        v1 as *mut _,
                        null,
                    ),
                    _ => get(
                        self.ptr,
                        raw::REDISMODULE_HASH_NONE as c_int,
                        names[0],
                        v0 as *mut _,
                        names[1],
                        v1 as *mut _,
                        names[2],
                        v2 as *mut _,
                        null,
                    ),
                }
            };
            if rc != raw::REDISMODULE_OK as c_int {
                continue;
            }
            for (slot, p) in slots.iter_mut().zip(v) {
                if !p.is_null() {
                    // Owns the value HashGet created; freed at the end of the scope.
                    let s = Str {
                        ctx: self.ctx,
                        ptr: p,
                    };
                    *slot = parse(s.bytes());
                }
            }
        }
        out
    }

    /// The absolute expiry in ms (`GetAbsExpire`, 6.2.2+; approximate to 1 ms where a
    /// server only reports the remaining time).
    pub fn expire_at_approx(&self) -> Option<i64> {
        if self.kind() == Kind::Empty {
            return None;
        }
        if let Some(abs) = api_fn!(RedisModule_GetAbsExpire) {
            // SAFETY: `self.ptr` is a key this command opened and has not closed (CloseKey runs on drop); the other arguments are live strings or valid out-pointers.
            let at = unsafe { abs(self.ptr) };
            return (at >= 0).then_some(at);
        }
        let rel = self.ttl_ms()?;
        let clock = api_fn!(RedisModule_Milliseconds)?;
        // SAFETY: takes no arguments; reads the server's clock.
        Some(unsafe { clock() } + rel)
    }

    pub fn hash_get_i64(&self, field: &CStr) -> Option<i64> {
        self.hash_get(field, |b| std::str::from_utf8(b).ok()?.parse().ok())
            .flatten()
    }

    pub fn hash_set(&self, field: &CStr, value: &[u8]) -> Result<()> {
        let set = api!(RedisModule_HashSet)?;
        let v = Str::new(self.ctx, value)?;
        let null: *mut c_char = ptr::null_mut();
        // COUNT_ALL: the reply counts inserted fields too, so 1 means it was written
        // (0 is a key of another type or not open for writing).
        let count_all = raw::REDISMODULE_HASH_COUNT_ALL as c_int;
        // SAFETY: an open key, a live value string, a field name that is either a
        // live server string or a NUL-terminated C string (CFIELDS); NULL ends the list.
        let written = match field_name(field) {
            Some(name) => unsafe {
                set(
                    self.ptr,
                    raw::REDISMODULE_HASH_NONE as c_int | count_all,
                    name,
                    v.ptr,
                    null,
                )
            },
            // SAFETY: an open key, a live value string, a NUL-terminated field name (CFIELDS); NULL ends the list.
            None => unsafe {
                set(
                    self.ptr,
                    raw::REDISMODULE_HASH_CFIELDS as c_int | count_all,
                    field.as_ptr(),
                    v.ptr,
                    null,
                )
            },
        };
        written_or_err(written, 1)
    }

    /// Several fields at once (one call per pair of fields: the API is variadic).
    pub fn hash_set_all(&self, fields: &[(&CStr, &[u8])]) -> Result<()> {
        let set = api!(RedisModule_HashSet)?;
        let null: *mut c_char = ptr::null_mut();
        for pair in fields.chunks(2) {
            match pair {
                [(f1, v1), (f2, v2)] => {
                    let (Some(n1), Some(n2)) = (field_name(f1), field_name(f2)) else {
                        self.hash_set(f1, v1)?;
                        self.hash_set(f2, v2)?;
                        continue;
                    };
                    let (s1, s2) = (Str::new(self.ctx, v1)?, Str::new(self.ctx, v2)?);
                    // SAFETY: an open key, live name and value strings, NULL-terminated.
                    let written = unsafe {
                        set(
                            self.ptr,
                            (raw::REDISMODULE_HASH_NONE | raw::REDISMODULE_HASH_COUNT_ALL) as c_int,
                            n1,
                            s1.ptr,
                            n2,
                            s2.ptr,
                            null,
                        )
                    };
                    written_or_err(written, 2)?;
                }
                [(f, v)] => self.hash_set(f, v)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Sets the key's expiry to an absolute unix time in ms with `SetAbsExpire` (Redis
    /// 6.2.2+, Valkey). Should a server lack it, the relative `SetExpire` adds its own
    /// clock read: reading the clock on both sides and retrying until they agree makes
    /// the stored absolute time exactly `at_ms` all the same, so replicas (sent
    /// `PEXPIREAT at_ms`) match us.
    pub fn set_expire_at(&self, at_ms: i64) -> Result<()> {
        if let Some(abs) = api_fn!(RedisModule_SetAbsExpire) {
            // SAFETY: an open key.
            return status(unsafe { abs(self.ptr, at_ms) }, "SetAbsExpire");
        }
        let rel = api!(RedisModule_SetExpire)?;
        let clock = api!(RedisModule_Milliseconds)?;
        for _ in 0..8 {
            // SAFETY: takes no arguments; reads the server's clock.
            let before = unsafe { clock() };
            // SAFETY: an open key.
            status(
                unsafe { rel(self.ptr, (at_ms - before).max(1)) },
                "SetExpire",
            )?;
            // SAFETY: takes no arguments; reads the server's clock.
            if unsafe { clock() } == before {
                return Ok(());
            }
        }
        Ok(())
    }

    pub fn delete(&self) -> Result<bool> {
        if self.kind() == Kind::Empty {
            return Ok(false);
        }
        let del = api!(RedisModule_DeleteKey)?;
        // SAFETY: `self.ptr` is a key this command opened and has not closed (CloseKey runs on drop); the other arguments are live strings or valid out-pointers.
        Ok(unsafe { del(self.ptr) } == raw::REDISMODULE_OK as c_int)
    }

    /// Sets a member's score; returns its previous score, if it had one.
    pub fn zset_set_score(&self, score: f64, member: &[u8]) -> Result<Option<f64>> {
        let add = api!(RedisModule_ZsetAdd)?;
        let m = Str::new(self.ctx, member)?;
        let old = match (self.kind(), api_fn!(RedisModule_ZsetScore)) {
            (Kind::ZSet, Some(score_of)) => {
                let mut s = 0f64;
                // SAFETY: `self.ptr` is a key this command opened and has not closed (CloseKey runs on drop); the other arguments are live strings or valid out-pointers.
                (unsafe { score_of(self.ptr, m.ptr, &mut s) } == raw::REDISMODULE_OK as c_int)
                    .then_some(s)
            }
            _ => None,
        };
        let mut flags: c_int = 0;
        // SAFETY: an open key, a live member string and a valid out-pointer.
        status(
            unsafe { add(self.ptr, score, m.ptr, &mut flags) },
            "ZsetAdd",
        )?;
        Ok(old)
    }

    /// A member's score (the member as bytes, or a server string made earlier).
    pub fn zset_score(&self, member: &[u8], made: Option<&KeyName>) -> Option<f64> {
        if self.kind() != Kind::ZSet {
            return None;
        }
        let score_of = api_fn!(RedisModule_ZsetScore)?;
        let owned;
        let m = match made {
            Some(n) => n.0,
            None => {
                owned = Str::new(self.ctx, member).ok()?;
                owned.ptr
            }
        };
        let mut score = 0f64;
        // SAFETY: an open zset key, a live member string, a valid out-pointer.
        (unsafe { score_of(self.ptr, m, &mut score) } == raw::REDISMODULE_OK as c_int)
            .then_some(score)
    }

    /// True when the member was there.
    pub fn zset_rem(&self, member: &[u8]) -> Result<bool> {
        if self.kind() != Kind::ZSet {
            return Ok(false);
        }
        let rem = api!(RedisModule_ZsetRem)?;
        let m = Str::new(self.ctx, member)?;
        let mut deleted: c_int = 0;
        // SAFETY: an open key, a live member string and a valid out-pointer.
        status(unsafe { rem(self.ptr, m.ptr, &mut deleted) }, "ZsetRem")?;
        Ok(deleted != 0)
    }

    /// Members with scores in [min, max) (or [min, max] when `max_inclusive`), lowest first.
    pub fn zset_range(
        &self,
        min: f64,
        max: f64,
        max_inclusive: bool,
    ) -> Result<Vec<(Vec<u8>, f64)>> {
        let mut out = Vec::new();
        if self.kind() != Kind::ZSet {
            return Ok(out);
        }
        let first = api!(RedisModule_ZsetFirstInScoreRange)?;
        let current = api!(RedisModule_ZsetRangeCurrentElement)?;
        let next = api!(RedisModule_ZsetRangeNext)?;
        let end = api!(RedisModule_ZsetRangeEndReached)?;
        let stop = api!(RedisModule_ZsetRangeStop)?;
        // SAFETY: an open zset key (checked above); the range iterator started here is stopped below on every path.
        if unsafe { first(self.ptr, min, max, 0, (!max_inclusive) as c_int) }
            != raw::REDISMODULE_OK as c_int
        {
            return Ok(out);
        }
        // SAFETY: the open key's started range iterator.
        while unsafe { end(self.ptr) } == 0 {
            let mut score = 0f64;
            let ele = unsafe { current(self.ptr, &mut score) };
            if !ele.is_null() {
                let s = Str {
                    ctx: self.ctx,
                    ptr: ele,
                };
                out.push((s.bytes().to_vec(), score));
            }
            // SAFETY: the open key's started range iterator.
            if unsafe { next(self.ptr) } == 0 {
                break;
            }
        }
        // SAFETY: stops the iterator started on this open key.
        unsafe { stop(self.ptr) };
        Ok(out)
    }

    /// The highest score, if any member exists.
    pub fn zset_max_score(&self) -> Result<Option<f64>> {
        if self.kind() != Kind::ZSet {
            return Ok(None);
        }
        let last = api!(RedisModule_ZsetLastInScoreRange)?;
        let current = api!(RedisModule_ZsetRangeCurrentElement)?;
        let stop = api!(RedisModule_ZsetRangeStop)?;
        let inf = f64::INFINITY;
        // SAFETY: an open zset key (checked above); the iterator started here is stopped below.
        if unsafe { last(self.ptr, -inf, inf, 0, 0) } != raw::REDISMODULE_OK as c_int {
            return Ok(None);
        }
        let mut score = 0f64;
        // SAFETY: the open key's started range iterator and a valid out-pointer; the element returned is ours to free (owned by a `Str`).
        let ele = unsafe { current(self.ptr, &mut score) };
        unsafe { stop(self.ptr) };
        if ele.is_null() {
            return Ok(None);
        }
        drop(Str {
            ctx: self.ctx,
            ptr: ele,
        });
        Ok(Some(score))
    }
}

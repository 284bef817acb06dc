//! Session records and the per-user index in Redis keys.
//!
//! Reads use the low-level key API (no command dispatch on the hot path). Writes go
//! through `RM_Call` with the replicate flag, each with absolute times (`PEXPIREAT`),
//! so the primary, its replicas and an AOF replay end with identical keys and TTLs:
//! the effects replicate, never the non-deterministic JWT command itself.

use crate::core::error::{Error, Result};
use crate::core::session::field;
use redis_module::{
    CallOptions, CallOptionsBuilder, CallReply, CallResult, Context, KeyType, NotifyEvent, RedisString,
};

pub struct Store<'a> {
    ctx: &'a Context,
    replicated: CallOptions,
    local: CallOptions,
}

/// What SIGN writes into a new session hash.
pub struct NewSession<'a> {
    pub created_ms: i64,
    pub idle_ms: i64,
    pub max_deadline_ms: Option<i64>,
    pub data: Option<&'a [u8]>,
    pub expiry_ms: i64,
}

/// The stored state of a session that TOUCH and friends need.
pub struct SessionState {
    pub created_ms: i64,
    pub idle_ms: i64,
    pub max_deadline_ms: Option<i64>,
}

fn internal(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::syntax(format!("internal {what} failed: {detail}"))
}

impl<'a> Store<'a> {
    pub fn new(ctx: &'a Context) -> Self {
        Store {
            ctx,
            replicated: CallOptionsBuilder::new().replicate().errors_as_replies().build(),
            local: CallOptionsBuilder::new().errors_as_replies().build(),
        }
    }

    fn write(&self, cmd: &str, args: &[&[u8]]) -> Result<CallReply<'static>> {
        let res: CallResult<'static> = self.ctx.call_ext(cmd, &self.replicated, args);
        res.map_err(|e| internal(cmd, e.to_utf8_string().unwrap_or_default()))
    }

    fn read(&self, cmd: &str, args: &[&[u8]]) -> Result<CallReply<'static>> {
        let res: CallResult<'static> = self.ctx.call_ext(cmd, &self.local, args);
        res.map_err(|e| internal(cmd, e.to_utf8_string().unwrap_or_default()))
    }

    fn key_type(&self, key: &str) -> KeyType {
        self.ctx.open_key(&self.ctx.create_string(key)).key_type()
    }

    /// Refuses to write over keys of another type (say a string a user SET by hand).
    pub fn check_types(&self, session_key: Option<&str>, index_key: &str) -> Result<()> {
        if !matches!(self.key_type(index_key), KeyType::Empty | KeyType::ZSet) {
            return Err(Error::syntax(format!("key {index_key} exists and is not a jwt session index")));
        }
        if let Some(k) = session_key {
            if !matches!(self.key_type(k), KeyType::Empty | KeyType::Hash) {
                return Err(Error::syntax(format!("key {k} exists and is not a jwt session")));
            }
        }
        Ok(())
    }

    pub fn exists(&self, session_key: &str) -> bool {
        self.key_type(session_key) != KeyType::Empty
    }

    /// The creation time of a live session, or None when it is gone. The VERIFY path:
    /// one key lookup and one field read.
    pub fn session_created(&self, session_key: &str) -> Option<i64> {
        let key = self.ctx.open_key(&self.ctx.create_string(session_key));
        if key.key_type() != KeyType::Hash {
            return None;
        }
        let c = key.hash_get(field::CREATED).ok()??;
        c.parse_integer().ok()
    }

    pub fn session_state(&self, session_key: &str) -> Option<SessionState> {
        let key = self.ctx.open_key(&self.ctx.create_string(session_key));
        if key.key_type() != KeyType::Hash {
            return None;
        }
        let int = |f: &str| -> Option<i64> { key.hash_get(f).ok()?.and_then(|v| v.parse_integer().ok()) };
        Some(SessionState {
            created_ms: int(field::CREATED)?,
            idle_ms: int(field::IDLE)?,
            max_deadline_ms: int(field::MAX_DEADLINE),
        })
    }

    pub fn session_data(&self, session_key: &str) -> Option<RedisString> {
        let key = self.ctx.open_key(&self.ctx.create_string(session_key));
        if key.key_type() != KeyType::Hash {
            return None;
        }
        key.hash_get(field::DATA).ok()?
    }

    /// Writes a new session (replacing one with the same sid) and indexes it.
    pub fn create_session(&self, session_key: &str, index_key: &str, sid: &str, s: &NewSession) -> Result<()> {
        if self.exists(session_key) {
            self.write("DEL", &[session_key.as_bytes()])?;
        }
        let created = s.created_ms.to_string();
        let idle = s.idle_ms.to_string();
        let max = s.max_deadline_ms.map(|m| m.to_string());
        let mut args: Vec<&[u8]> = vec![
            session_key.as_bytes(),
            field::CREATED.as_bytes(),
            created.as_bytes(),
            field::IDLE.as_bytes(),
            idle.as_bytes(),
        ];
        if let Some(m) = &max {
            args.extend([field::MAX_DEADLINE.as_bytes(), m.as_bytes()]);
        }
        if let Some(d) = s.data {
            args.extend([field::DATA.as_bytes(), d]);
        }
        self.write("HSET", &args)?;
        let expiry = s.expiry_ms.to_string();
        self.write("PEXPIREAT", &[session_key.as_bytes(), expiry.as_bytes()])?;
        self.write("ZADD", &[index_key.as_bytes(), expiry.as_bytes(), sid.as_bytes()])?;
        self.fix_index_expiry(index_key)
    }

    /// Moves a session's end (and its index entry) to `expiry_ms`.
    pub fn set_expiry(&self, session_key: &str, index_key: &str, sid: &str, expiry_ms: i64) -> Result<()> {
        let expiry = expiry_ms.to_string();
        self.write("PEXPIREAT", &[session_key.as_bytes(), expiry.as_bytes()])?;
        self.write("ZADD", &[index_key.as_bytes(), expiry.as_bytes(), sid.as_bytes()])?;
        self.fix_index_expiry(index_key)
    }

    /// Ends one session; true when it existed.
    pub fn delete_session(&self, session_key: &str, index_key: &str, sid: &str) -> Result<bool> {
        let removed = match self.write("DEL", &[session_key.as_bytes()])? {
            CallReply::I64(n) => n.to_i64() > 0,
            _ => false,
        };
        if let CallReply::I64(n) = self.write("ZREM", &[index_key.as_bytes(), sid.as_bytes()])? {
            if n.to_i64() > 0 {
                self.fix_index_expiry(index_key)?;
            }
        }
        Ok(removed)
    }

    /// Drops index entries of sessions whose deadline has passed.
    pub fn trim_index(&self, index_key: &str, now_ms: i64) -> Result<()> {
        let below = format!("({now_ms}");
        self.write("ZREMRANGEBYSCORE", &[index_key.as_bytes(), b"-inf", below.as_bytes()])?;
        Ok(())
    }

    /// The index lives exactly as long as its longest-lived session.
    pub fn fix_index_expiry(&self, index_key: &str) -> Result<()> {
        let reply = self.read("ZRANGE", &[index_key.as_bytes(), b"-1", b"-1", b"WITHSCORES"])?;
        let CallReply::Array(items) = reply else { return Ok(()) };
        let score = match items.get(1) {
            Some(Ok(CallReply::String(s))) => s.to_string().and_then(|s| s.parse::<f64>().ok()),
            Some(Ok(CallReply::Double(d))) => Some(d.to_double()),
            _ => None,
        };
        if let Some(score) = score {
            let at = (score as i64).to_string();
            self.write("PEXPIREAT", &[index_key.as_bytes(), at.as_bytes()])?;
        }
        Ok(())
    }

    /// A keyspace notification of the module class on the session key.
    pub fn notify(&self, event: &str, session_key: &str) {
        let _ = self.ctx.notify_keyspace_event(NotifyEvent::MODULE, event, &self.ctx.create_string(session_key));
    }
}

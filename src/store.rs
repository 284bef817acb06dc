//! Session records and the per-user index in Redis keys.
//!
//! Keys are read and written through the low-level key API (`rawkey`), never through
//! command dispatch, and every write is replicated explicitly as the plain Redis command
//! that has the same effect, with absolute times (`PEXPIREAT`). So the primary, its
//! replicas and an AOF replay end with identical keys and TTLs: the effects replicate,
//! never the non-deterministic JWT command itself.

use crate::core::error::{Error, Result};
use crate::core::refresh::RotationState;
use crate::core::session::field;
use crate::rawkey::{replicate, Key, KeyName, Kind};
use redis_module::{Context, NotifyEvent};
use std::ffi::CStr;

pub struct Store<'a> {
    ctx: &'a Context,
}

/// What SIGN writes into a new session hash.
pub struct NewSession<'a> {
    pub created_ms: i64,
    pub idle_ms: i64,
    pub max_deadline_ms: Option<i64>,
    pub data: Option<&'a [u8]>,
    pub expiry_ms: i64,
    pub refresh: Option<RefreshInit<'a>>,
}

/// The refresh-token part of a new session.
pub struct RefreshInit<'a> {
    pub hash: [u8; 32],
    pub access_ms: i64,
    pub claims: Option<&'a [u8]>,
}

/// What JWT.REFRESH reads from a session.
pub struct RefreshRecord {
    pub state: SessionState,
    pub rotation: RotationState,
    pub access_ms: i64,
    pub claims: Option<Vec<u8>>,
}

/// A live session as JWT.SESSIONS shows it.
pub struct SessionInfo {
    pub sid: String,
    pub created_ms: i64,
    pub ttl_ms: i64,
    pub max_deadline_ms: Option<i64>,
    pub data: Option<Vec<u8>>,
}

/// The stored state of a session that TOUCH and friends need.
pub struct SessionState {
    pub created_ms: i64,
    pub idle_ms: i64,
    pub max_deadline_ms: Option<i64>,
    /// When the session key expires now (absolute ms; approximate to 1 ms on 7.0).
    pub expiry_ms: Option<i64>,
}

impl<'a> Store<'a> {
    pub fn new(ctx: &'a Context) -> Self {
        Store { ctx }
    }

    fn replicate(&self, cmd: &str, args: &[&[u8]]) {
        self.ctx.replicate(cmd, args);
    }

    /// Refuses to write over keys of another type (say a string a user SET by hand).
    pub fn check_types(&self, session_key: Option<&str>, index_key: &str) -> Result<()> {
        if !matches!(
            Key::read(self.ctx, index_key.as_bytes())?.kind(),
            Kind::Empty | Kind::ZSet
        ) {
            return Err(Error::syntax(format!(
                "key {index_key} exists and is not a jwt session index"
            )));
        }
        if let Some(k) = session_key {
            if !matches!(
                Key::read(self.ctx, k.as_bytes())?.kind(),
                Kind::Empty | Kind::Hash
            ) {
                return Err(Error::syntax(format!(
                    "key {k} exists and is not a jwt session"
                )));
            }
        }
        Ok(())
    }

    /// The creation time of a live session, or None when it is gone. The VERIFY path:
    /// one key lookup and one field read.
    pub fn session_created(&self, session_key: &str, name: Option<&KeyName>) -> Option<i64> {
        Key::read_either(self.ctx, session_key.as_bytes(), name)
            .ok()?
            .hash_get_i64(field::CREATED)
    }

    pub fn session_state(&self, session_key: &str, name: Option<&KeyName>) -> Option<SessionState> {
        let key = Key::read_either(self.ctx, session_key.as_bytes(), name).ok()?;
        let [created, idle, max] =
            key.hash_get_i64_3([field::CREATED, field::IDLE, field::MAX_DEADLINE]);
        Some(SessionState {
            created_ms: created?,
            idle_ms: idle?,
            max_deadline_ms: max,
            expiry_ms: key.expire_at_approx(),
        })
    }

    pub fn session_data(&self, session_key: &str) -> Option<Vec<u8>> {
        Key::read(self.ctx, session_key.as_bytes())
            .ok()?
            .hash_get(field::DATA, <[u8]>::to_vec)
    }

    pub fn refresh_record(&self, session_key: &str) -> Option<RefreshRecord> {
        let key = Key::read(self.ctx, session_key.as_bytes()).ok()?;
        let bytes = |f| key.hash_get(f, <[u8]>::to_vec);
        Some(RefreshRecord {
            state: SessionState {
                created_ms: key.hash_get_i64(field::CREATED)?,
                idle_ms: key.hash_get_i64(field::IDLE)?,
                max_deadline_ms: key.hash_get_i64(field::MAX_DEADLINE),
                expiry_ms: None,
            },
            rotation: RotationState {
                generation: key.hash_get_i64(field::GENERATION)? as u64,
                current: bytes(field::REFRESH_CURRENT)?,
                previous: bytes(field::REFRESH_PREVIOUS).unwrap_or_default(),
                rotated_ms: key.hash_get_i64(field::ROTATED)?,
            },
            access_ms: key.hash_get_i64(field::ACCESS_TTL)?,
            claims: bytes(field::CLAIMS),
        })
    }

    /// Stores a new rotation state.
    pub fn save_rotation(&self, session_key: &str, r: &RotationState) -> Result<()> {
        let skey = session_key.as_bytes();
        let key = Key::write(self.ctx, skey)?;
        let generation = r.generation.to_string();
        let rotated = r.rotated_ms.to_string();
        let fields: [(&std::ffi::CStr, &[u8]); 4] = [
            (field::REFRESH_CURRENT, &r.current),
            (field::REFRESH_PREVIOUS, &r.previous),
            (field::GENERATION, generation.as_bytes()),
            (field::ROTATED, rotated.as_bytes()),
        ];
        let mut hset: Vec<&[u8]> = vec![skey];
        for (name, value) in &fields {
            key.hash_set(name, value)?;
            hset.extend([name.to_bytes(), *value]);
        }
        self.replicate("HSET", &hset);
        Ok(())
    }

    /// Writes a new session (replacing one with the same sid) and indexes it, trimming
    /// the index of sessions that ended before this one began.
    pub fn create_session(
        &self,
        session_key: &str,
        index_key: &str,
        sid: &str,
        s: &NewSession,
    ) -> Result<()> {
        let skey = session_key.as_bytes();
        let key = Key::write(self.ctx, skey)?;
        if key.delete()? {
            replicate::key(self.ctx, c"DEL", skey);
        }
        let created = s.created_ms.to_string();
        let idle = s.idle_ms.to_string();
        let max = s.max_deadline_ms.map(|m| m.to_string());
        let mut fields: Vec<(&std::ffi::CStr, &[u8])> = vec![
            (field::CREATED, created.as_bytes()),
            (field::IDLE, idle.as_bytes()),
        ];
        if let Some(m) = &max {
            fields.push((field::MAX_DEADLINE, m.as_bytes()));
        }
        if let Some(d) = s.data {
            fields.push((field::DATA, d));
        }
        let access = s.refresh.as_ref().map(|r| r.access_ms.to_string());
        if let (Some(r), Some(access)) = (&s.refresh, &access) {
            fields.extend([
                (field::REFRESH_CURRENT, r.hash.as_slice()),
                (field::GENERATION, b"1".as_slice()),
                (field::ROTATED, created.as_bytes()),
                (field::ACCESS_TTL, access.as_bytes()),
            ]);
            if let Some(j) = r.claims {
                fields.push((field::CLAIMS, j));
            }
        }
        key.hash_set_all(&fields)?;
        if replicate::hset(self.ctx, skey, &fields).is_none() {
            let mut hset: Vec<&[u8]> = vec![skey];
            for (name, value) in &fields {
                hset.extend([name.to_bytes(), *value]);
            }
            self.replicate("HSET", &hset);
        }
        self.expire_at(&key, skey, s.expiry_ms)?;
        let index = Key::write(self.ctx, index_key.as_bytes())?;
        self.trim_on(&index, index_key.as_bytes(), s.created_ms)?;
        self.index_put_on(&index, index_key, sid, s.expiry_ms)
    }

    fn expire_at(&self, key: &Key, name: &[u8], at_ms: i64) -> Result<()> {
        key.set_expire_at(at_ms)?;
        replicate::key_int(self.ctx, c"PEXPIREAT", name, at_ms);
        Ok(())
    }

    /// Records `sid -> expiry` in the index and keeps the index alive exactly as long as
    /// its longest-lived session. When the entry only moves later (SIGN, TOUCH, REFRESH
    /// as usual) the new maximum is known without a scan.
    fn index_put(&self, index_key: &str, sid: &str, expiry_ms: i64) -> Result<()> {
        let index = Key::write(self.ctx, index_key.as_bytes())?;
        self.index_put_on(&index, index_key, sid, expiry_ms)
    }

    fn index_put_on(&self, index: &Key, index_key: &str, sid: &str, expiry_ms: i64) -> Result<()> {
        let ikey = index_key.as_bytes();
        let old = index.zset_set_score(expiry_ms as f64, sid.as_bytes())?;
        replicate::key_int_member(self.ctx, c"ZADD", ikey, expiry_ms, sid.as_bytes());
        if old.is_some_and(|o| (expiry_ms as f64) < o) {
            return self.fit_index_expiry(index, ikey);
        }
        match index.expire_at_approx() {
            Some(at) if at > expiry_ms => Ok(()),
            _ => self.expire_at(index, ikey, expiry_ms),
        }
    }

    fn fit_index_expiry(&self, index: &Key, ikey: &[u8]) -> Result<()> {
        if let Some(max) = index.zset_max_score()? {
            self.expire_at(index, ikey, max as i64)?;
        }
        Ok(())
    }

    /// Moves a session's end (and its index entry) to `expiry_ms`.
    pub fn set_expiry(
        &self,
        session_key: &str,
        index_key: &str,
        sid: &str,
        expiry_ms: i64,
    ) -> Result<()> {
        let key = Key::write(self.ctx, session_key.as_bytes())?;
        self.expire_at(&key, session_key.as_bytes(), expiry_ms)?;
        self.index_put(index_key, sid, expiry_ms)
    }

    /// Ends one session; true when it existed.
    pub fn delete_session(&self, session_key: &str, index_key: &str, sid: &str) -> Result<bool> {
        let skey = session_key.as_bytes();
        let removed = Key::write(self.ctx, skey)?.delete()?;
        if removed {
            replicate::key(self.ctx, c"DEL", skey);
        }
        let ikey = index_key.as_bytes();
        let index = Key::write(self.ctx, ikey)?;
        if index.zset_rem(sid.as_bytes())? {
            self.replicate("ZREM", &[ikey, sid.as_bytes()]);
            self.fit_index_expiry(&index, ikey)?;
        }
        Ok(removed)
    }

    /// Drops index entries of sessions whose deadline has passed (Redis expires a key
    /// once its time is strictly in the past).
    fn trim_on(&self, index: &Key, ikey: &[u8], now_ms: i64) -> Result<()> {
        let stale = index.zset_range(f64::NEG_INFINITY, now_ms as f64, false)?;
        if stale.is_empty() {
            return Ok(());
        }
        for (sid, _) in &stale {
            index.zset_rem(sid)?;
        }
        self.replicate(
            "ZREMRANGEBYSCORE",
            &[ikey, b"-inf", format!("({now_ms}").as_bytes()],
        );
        Ok(())
    }

    /// The live sessions of a subject, oldest first. Index entries whose session is gone
    /// (expired, deleted by hand) are skipped; trimming them is left to writers.
    pub fn sessions(&self, index_key: &str, with_data: bool) -> Result<Vec<SessionInfo>> {
        let index = Key::read(self.ctx, index_key.as_bytes())?;
        let mut out = Vec::new();
        for (sid, _) in index.zset_range(f64::NEG_INFINITY, f64::INFINITY, true)? {
            let Ok(sid) = String::from_utf8(sid) else {
                continue;
            };
            let key = Key::read(self.ctx, format!("{index_key}:{sid}").as_bytes())?;
            let (Some(created_ms), Some(ttl_ms)) = (key.hash_get_i64(field::CREATED), key.ttl_ms())
            else {
                continue;
            };
            out.push(SessionInfo {
                created_ms,
                ttl_ms,
                max_deadline_ms: key.hash_get_i64(field::MAX_DEADLINE),
                data: if with_data {
                    key.hash_get(field::DATA, <[u8]>::to_vec)
                } else {
                    None
                },
                sid,
            });
        }
        out.sort_by(|a, b| (a.created_ms, &a.sid).cmp(&(b.created_ms, &b.sid)));
        Ok(out)
    }

    /// Ends the listed sessions of one subject; returns how many existed. `event` is the
    /// keyspace notification sent for each (jwt.revoke, jwt.evict).
    pub fn end_sessions(&self, index_key: &str, sids: &[&str], event: &CStr) -> Result<usize> {
        let ikey = index_key.as_bytes();
        let index = Key::write(self.ctx, ikey)?;
        let mut ended = 0;
        let mut zrem: Vec<&[u8]> = vec![ikey];
        for sid in sids {
            let skey = format!("{index_key}:{sid}");
            if Key::write(self.ctx, skey.as_bytes())?.delete()? {
                replicate::key(self.ctx, c"DEL", skey.as_bytes());
                self.notify(event, &skey, None);
                ended += 1;
            }
            if index.zset_rem(sid.as_bytes())? {
                zrem.push(sid.as_bytes());
            }
        }
        if zrem.len() > 1 {
            self.replicate("ZREM", &zrem);
            self.fit_index_expiry(&index, ikey)?;
        }
        Ok(ended)
    }

    /// A keyspace notification of the module class on the session key (`name` when the
    /// caller already holds it as a server string).
    pub fn notify(&self, event: &CStr, session_key: &str, name: Option<&KeyName>) {
        let Some(notify) = (unsafe { redis_module::raw::RedisModule_NotifyKeyspaceEvent }) else {
            return;
        };
        let made;
        let key = match name {
            Some(n) => n.as_ptr(),
            None => match KeyName::new(session_key.as_bytes()) {
                Some(n) => {
                    made = n;
                    made.as_ptr()
                }
                None => return,
            },
        };
        unsafe {
            notify(
                self.ctx.get_raw(),
                NotifyEvent::MODULE.bits(),
                event.as_ptr(),
                key,
            )
        };
    }
}

//! Session records and the per-user index in Redis keys.
//!
//! Keys are read and written through the low-level key API (`rawkey`), never through
//! command dispatch, and every write is replicated explicitly as the plain Redis command
//! that has the same effect, with absolute times (`PEXPIREAT`), and only once the write
//! succeeded. So the primary, its replicas and an AOF replay end with identical keys
//! and TTLs: the effects replicate, never the non-deterministic JWT command itself.
//!
//! The index is authoritative (see `jwt_core::session::admits`): a session is live only
//! while its index entry is, which is what every reader here checks.

use crate::config;
use crate::redis::key::{Key, KeyName, Kind};
use crate::redis::notify::keyspace_event;
use crate::redis::replicate;
use jwt_core::error::{Error, Result};
use jwt_core::refresh::RotationState;
use jwt_core::session::{field, Created, SessionAddr, StoredSession};
use jwt_core::store::{
    Event, NewSession, RefreshRecord, SessionChange, SessionDetails, SessionInfo, SessionState,
    SessionStore,
};
use redis_module::{Context, RedisValue};
use std::borrow::Borrow;
use std::ffi::CStr;
use std::sync::atomic::Ordering;

/// A session's address with its key names as server strings, made once: the verify
/// cache keeps one per token, so a hit opens both keys and checks both ACL patterns
/// without building a name.
#[derive(Clone)]
pub struct SessionRef {
    pub addr: SessionAddr,
    /// The names as server strings (None if the server refused to make one).
    pub name: Option<KeyName>,
    pub index_name: Option<KeyName>,
    pub sid_name: Option<KeyName>,
}

impl Borrow<SessionAddr> for SessionRef {
    fn borrow(&self) -> &SessionAddr {
        &self.addr
    }
}

impl SessionRef {
    pub fn new(addr: SessionAddr) -> SessionRef {
        SessionRef {
            name: KeyName::new(addr.key().as_bytes()),
            index_name: KeyName::new(addr.index_key().as_bytes()),
            sid_name: KeyName::new(addr.sid().as_bytes()),
            addr,
        }
    }
    pub fn key(&self) -> &str {
        self.addr.key()
    }
    pub fn index_key(&self) -> &str {
        self.addr.index_key()
    }
    pub fn sid(&self) -> &str {
        self.addr.sid()
    }
    fn open_session(&self, ctx: &Context) -> Result<Key> {
        Key::read_either(ctx, self.key().as_bytes(), self.name.as_ref())
    }
    fn open_index(&self, ctx: &Context) -> Result<Key> {
        Key::read_either(ctx, self.index_key().as_bytes(), self.index_name.as_ref())
    }
}

pub struct Store<'a> {
    ctx: &'a Context,
}

impl<'a> Store<'a> {
    pub fn new(ctx: &'a Context) -> Self {
        Store { ctx }
    }

    fn replicate(&self, cmd: &str, args: &[&[u8]]) {
        self.ctx.replicate(cmd, args);
    }

    fn check_kind(&self, key: &str, want: Kind) -> Result<()> {
        let kind = Key::read(self.ctx, key.as_bytes())?.kind();
        if kind == Kind::Empty || kind == want {
            Ok(())
        } else {
            Err(Error::wrong_type(key))
        }
    }

    /// The index entry's deadline, if the index is a zset that has the sid.
    fn index_deadline(&self, s: &SessionRef) -> Option<i64> {
        let index = s.open_index(self.ctx).ok()?;
        index
            .zset_score(s.sid().as_bytes(), s.sid_name.as_ref())
            .map(|d| d as i64)
    }

    fn replicate_hset(&self, skey: &[u8], fields: &[(&CStr, &[u8])]) {
        if replicate::hset(self.ctx, skey, fields).is_none() {
            let mut hset: Vec<&[u8]> = vec![skey];
            for (name, value) in fields {
                hset.extend([name.to_bytes(), *value]);
            }
            self.replicate("HSET", &hset);
        }
    }

    fn expire_at(&self, key: &Key, name: &[u8], at_ms: i64) -> Result<()> {
        key.set_expire_at(at_ms)?;
        replicate::key_int(self.ctx, c"PEXPIREAT", name, at_ms);
        Ok(())
    }

    /// Records `sid -> expiry` in the index and keeps the index alive exactly as long as
    /// its longest-lived session. When the entry only moves later (SIGN, TOUCH, REFRESH
    /// as usual) the new maximum is known without a scan.
    fn index_put_on(&self, index: &Key, index_key: &str, sid: &str, expiry_ms: i64) -> Result<()> {
        let ikey = index_key.as_bytes();
        // A new index has no TTL yet: skip reading one (a lookup in the expires dict).
        let was_empty = index.kind() == Kind::Empty;
        let old = index.zset_set_score(expiry_ms as f64, sid.as_bytes())?;
        replicate::key_int_member(self.ctx, c"ZADD", ikey, expiry_ms, sid.as_bytes());
        if old.is_some_and(|o| (expiry_ms as f64) < o) {
            return self.fit_index_expiry(index, ikey);
        }
        match (!was_empty).then(|| index.expire_at_approx()).flatten() {
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

    fn notify_key(&self, event: Event, session_key: &str, name: Option<&KeyName>) {
        keyspace_event(self.ctx, event.name(), session_key.as_bytes(), name);
    }

    /// Appends an event to the user's activity log (`jwt.activity-log` > 0): a Redis
    /// Stream capped at that many entries. Added with an automatic ID, then replicated
    /// as `XADD ... MAXLEN <n> <that id> ...` so replicas and the AOF hold the same
    /// entries. A failure is logged, never fails the command that caused the event.
    fn log_event(&self, event: Event, addr: &SessionAddr, meta: Option<&[u8]>) {
        let max = config::ACTIVITY_LOG.load(Ordering::Relaxed);
        if max <= 0 || event == Event::Touch {
            return;
        }
        let Ok(now) = crate::clock::now_ms() else {
            return;
        };
        let key = addr.events_key();
        let (max, now) = (max.to_string(), now.to_string());
        let mut fields: Vec<&[u8]> = vec![
            b"event",
            event.word().as_bytes(),
            b"sid",
            addr.sid().as_bytes(),
            b"time",
            now.as_bytes(),
        ];
        if let Some(m) = meta {
            fields.extend([b"meta".as_slice(), m]);
        }
        let mut args: Vec<&[u8]> = vec![key.as_bytes(), b"MAXLEN", max.as_bytes(), b"*"];
        args.extend(&fields);
        let id = match self.ctx.call("XADD", &args[..]) {
            Ok(RedisValue::BulkString(id)) | Ok(RedisValue::SimpleString(id)) => id,
            Ok(RedisValue::StringBuffer(b)) => String::from_utf8_lossy(&b).into_owned(),
            other => {
                crate::redis::log::warning(
                    self.ctx,
                    &format!("jwt: activity log {key}: {other:?}"),
                );
                return;
            }
        };
        args[3] = id.as_bytes();
        self.replicate("XADD", &args);
    }

    /// The session's META, for the activity log (read only when the log is on).
    fn meta_for_log(&self, key: &Key) -> Option<Vec<u8>> {
        (config::ACTIVITY_LOG.load(Ordering::Relaxed) > 0)
            .then(|| key.hash_get(field::META, <[u8]>::to_vec))
            .flatten()
    }
}

impl SessionStore for Store<'_> {
    type Session = SessionRef;

    fn handle(&self, addr: SessionAddr) -> SessionRef {
        SessionRef::new(addr)
    }

    /// WRONGTYPE for a key of another type where the module keeps its own: such a key
    /// is never modified.
    fn check_types(&self, session: Option<&SessionRef>, index_key: &str) -> Result<()> {
        self.check_kind(index_key, Kind::ZSet)?;
        match session {
            Some(s) => self.check_kind(s.key(), Kind::Hash),
            None => Ok(()),
        }
    }

    /// The session as VERIFY checks it: two key lookups (record and index entry), one
    /// field read each. None when the record is missing or not a session.
    fn stored(&self, s: &SessionRef) -> Option<StoredSession> {
        let key = s.open_session(self.ctx).ok()?;
        let [created] = key.hash_get_parsed([field::CREATED], Created::parse);
        let created = created?;
        Some(StoredSession {
            created_ms: created.ms,
            incarnation: created.incarnation,
            version: created.version,
            index_deadline_ms: self.index_deadline(s),
        })
    }

    /// What TOUCH and REFRESH need besides `stored`.
    fn state(&self, s: &SessionRef) -> Option<SessionState> {
        let key = s.open_session(self.ctx).ok()?;
        let [created] = key.hash_get_parsed([field::CREATED], Created::parse);
        let created = created?;
        let [idle, max] = key.hash_get_i64s([field::IDLE, field::MAX_DEADLINE]);
        Some(SessionState {
            stored: StoredSession {
                created_ms: created.ms,
                incarnation: created.incarnation,
                version: created.version,
                index_deadline_ms: self.index_deadline(s),
            },
            idle_ms: idle?,
            max_deadline_ms: max,
            expiry_ms: key.expire_at_approx(),
        })
    }

    fn data(&self, s: &SessionRef) -> Option<Vec<u8>> {
        s.open_session(self.ctx)
            .ok()?
            .hash_get(field::DATA, <[u8]>::to_vec)
    }

    fn details(&self, s: &SessionRef) -> Option<SessionDetails> {
        let key = s.open_session(self.ctx).ok()?;
        let bytes = |f| key.hash_get(f, <[u8]>::to_vec);
        let [access_ms] = key.hash_get_i64s([field::ACCESS_TTL]);
        Some(SessionDetails {
            data: bytes(field::DATA),
            claims: bytes(field::CLAIMS),
            access_ms,
        })
    }

    fn refresh_record(&self, s: &SessionRef) -> Option<RefreshRecord> {
        let state = self.state(s)?;
        let key = s.open_session(self.ctx).ok()?;
        let bytes = |f| key.hash_get(f, <[u8]>::to_vec);
        let [generation, rotated, access] =
            key.hash_get_i64s([field::GENERATION, field::ROTATED, field::ACCESS_TTL]);
        Some(RefreshRecord {
            state,
            rotation: RotationState {
                generation: generation? as u64,
                current: bytes(field::REFRESH_CURRENT)?,
                previous: bytes(field::REFRESH_PREVIOUS).unwrap_or_default(),
                rotated_ms: rotated?,
            },
            access_ms: access?,
            claims: bytes(field::CLAIMS),
        })
    }

    /// Stores a new rotation state.
    fn save_rotation(&self, s: &SessionRef, r: &RotationState) -> Result<()> {
        let skey = s.key().as_bytes();
        let key = Key::write(self.ctx, skey)?;
        let generation = r.generation.to_string();
        let rotated = r.rotated_ms.to_string();
        let fields: [(&std::ffi::CStr, &[u8]); 4] = [
            (field::REFRESH_CURRENT, &r.current),
            (field::REFRESH_PREVIOUS, &r.previous),
            (field::GENERATION, generation.as_bytes()),
            (field::ROTATED, rotated.as_bytes()),
        ];
        key.hash_set_all(&fields)?;
        self.replicate_hset(skey, &fields);
        Ok(())
    }

    /// Writes a new session (replacing one with the same sid) and indexes it, trimming
    /// the index of sessions that ended before this one began. The caller checked the
    /// key types first.
    fn create(&self, s: &SessionRef, new: &NewSession) -> Result<()> {
        let skey = s.key().as_bytes();
        let key = Key::write(self.ctx, skey)?;
        if key.delete()? {
            replicate::key(self.ctx, c"DEL", skey);
        }
        let created = Created {
            ms: new.created_ms,
            incarnation: new.incarnation,
            version: None,
        }
        .encode();
        let now = new.created_ms.to_string();
        let idle = new.idle_ms.to_string();
        let max = new.max_deadline_ms.map(|m| m.to_string());
        let access = new.access_ms.map(|a| a.to_string());
        let mut fields: Vec<(&std::ffi::CStr, &[u8])> = vec![
            (field::CREATED, created.as_bytes()),
            (field::IDLE, idle.as_bytes()),
            (field::LAST_SEEN, now.as_bytes()),
        ];
        let optional = [
            (field::MAX_DEADLINE, max.as_deref().map(str::as_bytes)),
            (field::DATA, new.data),
            (field::META, new.meta),
            (field::ACCESS_TTL, access.as_deref().map(str::as_bytes)),
            (field::CLAIMS, new.claims),
        ];
        fields.extend(optional.into_iter().filter_map(|(f, v)| Some((f, v?))));
        if let Some(r) = &new.refresh {
            fields.extend([
                (field::REFRESH_CURRENT, r.hash.as_slice()),
                (field::GENERATION, b"1".as_slice()),
                (field::ROTATED, now.as_bytes()),
            ]);
        }
        key.hash_set_all(&fields)?;
        self.replicate_hset(skey, &fields);
        self.expire_at(&key, skey, new.expiry_ms)?;
        let ikey = s.index_key();
        let index = Key::write(self.ctx, ikey.as_bytes())?;
        self.trim_on(&index, ikey.as_bytes(), new.created_ms)?;
        self.index_put_on(&index, ikey, s.sid(), new.expiry_ms)
    }

    /// Moves a live session's end (and its index entry) to `expiry_ms` and records it
    /// as seen. The caller found both keys of the right types (the session was admitted).
    fn extend(&self, s: &SessionRef, expiry_ms: i64, now_ms: i64) -> Result<()> {
        let skey = s.key().as_bytes();
        let key = Key::write(self.ctx, skey)?;
        let seen = now_ms.to_string();
        let fields = [(field::LAST_SEEN, seen.as_bytes())];
        key.hash_set_all(&fields)?;
        self.replicate_hset(skey, &fields);
        self.expire_at(&key, skey, expiry_ms)?;
        let ikey = s.index_key();
        let index = Key::write(self.ctx, ikey.as_bytes())?;
        self.index_put_on(&index, ikey, s.sid(), expiry_ms)
    }

    /// JWT.UPDATE's fields. The caller found the session live.
    fn update(&self, s: &SessionRef, change: &SessionChange) -> Result<()> {
        let skey = s.key().as_bytes();
        let created = change.created.map(|c| c.encode());
        let fields: Vec<(&CStr, &[u8])> = [
            (field::DATA, change.data.as_deref()),
            (field::CLAIMS, change.claims.as_deref()),
            (field::CREATED, created.as_deref().map(str::as_bytes)),
        ]
        .into_iter()
        .filter_map(|(f, v)| Some((f, v?)))
        .collect();
        if fields.is_empty() {
            return Ok(());
        }
        Key::write(self.ctx, skey)?.hash_set_all(&fields)?;
        self.replicate_hset(skey, &fields);
        Ok(())
    }

    /// Ends one session; true when its record existed.
    fn delete(&self, s: &SessionRef) -> Result<bool> {
        self.check_types(Some(s), s.index_key())?;
        let skey = s.key().as_bytes();
        let key = Key::write(self.ctx, skey)?;
        let meta = self.meta_for_log(&key);
        let removed = key.delete()?;
        if removed {
            replicate::key(self.ctx, c"DEL", skey);
            self.log_event(Event::Destroy, &s.addr, meta.as_deref());
        }
        let ikey = s.index_key().as_bytes();
        let index = Key::write(self.ctx, ikey)?;
        if index.zset_rem(s.sid().as_bytes())? {
            self.replicate("ZREM", &[ikey, s.sid().as_bytes()]);
            self.fit_index_expiry(&index, ikey)?;
        }
        Ok(removed)
    }

    /// Every sid in a subject's index, live or not.
    fn indexed_sids(&self, index_key: &str) -> Result<Vec<String>> {
        self.check_kind(index_key, Kind::ZSet)?;
        let index = Key::read(self.ctx, index_key.as_bytes())?;
        Ok(index
            .zset_range(f64::NEG_INFINITY, f64::INFINITY, true)?
            .into_iter()
            .filter_map(|(sid, _)| String::from_utf8(sid).ok())
            .collect())
    }

    /// The live sessions of a subject, oldest first: index entries whose deadline is
    /// ahead and whose record is a session hash created after `cutoff_ms`. The
    /// remaining life shown is the index's (the authoritative one).
    fn sessions(
        &self,
        index_key: &str,
        with_data: bool,
        now_ms: i64,
        cutoff_ms: i64,
    ) -> Result<Vec<SessionInfo>> {
        self.check_kind(index_key, Kind::ZSet)?;
        let index = Key::read(self.ctx, index_key.as_bytes())?;
        let mut out = Vec::new();
        for (sid, deadline) in index.zset_range(now_ms as f64, f64::INFINITY, true)? {
            let deadline = deadline as i64;
            let Ok(sid) = String::from_utf8(sid) else {
                continue;
            };
            if deadline <= now_ms {
                continue;
            }
            let key = Key::read(
                self.ctx,
                SessionAddr::in_index(index_key, &sid).key().as_bytes(),
            )?;
            let [created] = key.hash_get_parsed([field::CREATED], Created::parse);
            let [max, last_seen] = key.hash_get_i64s([field::MAX_DEADLINE, field::LAST_SEEN]);
            let Some(created_ms) = created.map(|c| c.ms).filter(|c| *c >= cutoff_ms) else {
                continue;
            };
            out.push(SessionInfo {
                created_ms,
                ttl_ms: deadline - now_ms,
                max_deadline_ms: max,
                last_seen_ms: last_seen,
                meta: key.hash_get(field::META, <[u8]>::to_vec),
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

    /// Ends the listed sessions of one subject; returns how many records existed.
    /// `event` is the keyspace notification sent for each (jwt.revoke, jwt.evict). A
    /// key of another type under a session's name is left alone.
    fn end_sessions(&self, index_key: &str, sids: &[&str], event: Event) -> Result<usize> {
        self.check_kind(index_key, Kind::ZSet)?;
        let ikey = index_key.as_bytes();
        let index = Key::write(self.ctx, ikey)?;
        let mut ended = 0;
        let mut zrem: Vec<&[u8]> = vec![ikey];
        for sid in sids {
            let addr = SessionAddr::in_index(index_key, sid);
            let skey = addr.key();
            let key = Key::write(self.ctx, skey.as_bytes())?;
            let meta = self.meta_for_log(&key);
            if key.kind() == Kind::Hash && key.delete()? {
                replicate::key(self.ctx, c"DEL", skey.as_bytes());
                self.notify_key(event, skey, None);
                self.log_event(event, &addr, meta.as_deref());
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

    fn notify(&self, event: Event, s: &SessionRef) {
        self.notify_key(event, s.key(), s.name.as_ref());
        if matches!(event, Event::Sign | Event::Refresh | Event::Update) {
            let meta = s
                .open_session(self.ctx)
                .ok()
                .and_then(|k| self.meta_for_log(&k));
            self.log_event(event, &s.addr, meta.as_deref());
        }
    }
}

//! The storage seam: what the session logic (`lifecycle`) needs from wherever sessions
//! are kept. The module implements it over Redis keys (`src/store.rs`); `MemoryStore`
//! implements it in memory so the logic is unit-tested without a server.

use crate::error::{Error, Result};
use crate::refresh::RotationState;
use crate::session::{SessionAddr, StoredSession};
use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// What a new session record holds.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession<'a> {
    pub created_ms: i64,
    pub idle_ms: i64,
    pub max_deadline_ms: Option<i64>,
    pub incarnation: Option<i64>,
    pub data: Option<&'a [u8]>,
    /// SIGN's META (a device label...), shown by JWT.SESSIONS.
    pub meta: Option<&'a [u8]>,
    /// The access-token lifetime (REFRESH and UPDATE issue tokens with it), when known.
    pub access_ms: Option<i64>,
    /// The claims REFRESH and UPDATE put in new access tokens (token::SessionClaims).
    pub claims: Option<&'a [u8]>,
    pub expiry_ms: i64,
    pub refresh: Option<RefreshInit>,
}

/// The refresh-token part of a new session.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshInit {
    pub hash: [u8; 32],
}

/// The stored state of a session that TOUCH and REFRESH need.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionState {
    pub stored: StoredSession,
    pub idle_ms: i64,
    pub max_deadline_ms: Option<i64>,
    /// When the session record expires now (absolute ms).
    pub expiry_ms: Option<i64>,
}

/// What JWT.UPDATE reads besides the state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionDetails {
    pub data: Option<Vec<u8>>,
    pub claims: Option<Vec<u8>>,
    pub access_ms: Option<i64>,
}

/// What JWT.UPDATE writes (each part only when set).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionChange {
    pub data: Option<Vec<u8>>,
    pub claims: Option<Vec<u8>>,
    /// The new creation field (a new access-token version).
    pub created: Option<crate::session::Created>,
}

/// What JWT.REFRESH reads from a session.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshRecord {
    pub state: SessionState,
    pub rotation: RotationState,
    pub access_ms: i64,
    pub claims: Option<Vec<u8>>,
}

/// A live session as JWT.SESSIONS shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    pub sid: String,
    pub created_ms: i64,
    pub ttl_ms: i64,
    pub max_deadline_ms: Option<i64>,
    /// When the session was last used: SIGN, then TOUCH and REFRESH (ms).
    pub last_seen_ms: Option<i64>,
    pub meta: Option<Vec<u8>>,
    pub data: Option<Vec<u8>>,
}

/// The events a session's life raises (keyspace notifications in Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Sign,
    Touch,
    Refresh,
    Destroy,
    Revoke,
    Evict,
    Reuse,
    Update,
}

impl Event {
    pub fn name(self) -> &'static std::ffi::CStr {
        match self {
            Event::Sign => c"jwt.sign",
            Event::Touch => c"jwt.touch",
            Event::Refresh => c"jwt.refresh",
            Event::Destroy => c"jwt.destroy",
            Event::Revoke => c"jwt.revoke",
            Event::Evict => c"jwt.evict",
            Event::Reuse => c"jwt.reuse",
            Event::Update => c"jwt.update",
        }
    }

    /// The name in the activity log.
    pub fn word(self) -> &'static str {
        match self {
            Event::Sign => "sign",
            Event::Touch => "touch",
            Event::Refresh => "refresh",
            Event::Destroy => "destroy",
            Event::Revoke => "revoke",
            Event::Evict => "evict",
            Event::Reuse => "reuse",
            Event::Update => "update",
        }
    }
}

/// Sessions and the per-user index. `Session` is the store's handle for one session
/// (the Redis store keeps the key names as server strings in it).
pub trait SessionStore {
    type Session: Borrow<SessionAddr>;

    fn handle(&self, addr: SessionAddr) -> Self::Session;

    /// WRONGTYPE when a key where a session or an index goes holds another type.
    fn check_types(&self, session: Option<&Self::Session>, index_key: &str) -> Result<()>;
    /// The record's creation field and the index entry; None without a record.
    fn stored(&self, s: &Self::Session) -> Option<StoredSession>;
    fn state(&self, s: &Self::Session) -> Option<SessionState>;
    fn refresh_record(&self, s: &Self::Session) -> Option<RefreshRecord>;
    fn data(&self, s: &Self::Session) -> Option<Vec<u8>>;
    fn details(&self, s: &Self::Session) -> Option<SessionDetails>;
    /// The live sessions of a user, oldest first (index entries with a deadline ahead
    /// whose record exists and was created at or after `cutoff_ms`).
    fn sessions(
        &self,
        index_key: &str,
        with_data: bool,
        now_ms: i64,
        cutoff_ms: i64,
    ) -> Result<Vec<SessionInfo>>;
    /// Every sid in a user's index, live or not.
    fn indexed_sids(&self, index_key: &str) -> Result<Vec<String>>;

    /// Writes a new session (replacing one with the same sid), indexes it, and drops
    /// index entries that ended before it began.
    fn create(&self, s: &Self::Session, new: &NewSession) -> Result<()>;
    /// Moves a session's end and its index entry, and records it as seen at `now_ms`.
    fn extend(&self, s: &Self::Session, expiry_ms: i64, now_ms: i64) -> Result<()>;
    fn update(&self, s: &Self::Session, change: &SessionChange) -> Result<()>;
    fn save_rotation(&self, s: &Self::Session, r: &RotationState) -> Result<()>;
    /// Removes one session and its entry; true when the record existed.
    fn delete(&self, s: &Self::Session) -> Result<bool>;
    /// Removes sessions of one user (records of another type are left alone) and their
    /// entries; raises `event` for each record removed; returns how many.
    fn end_sessions(&self, index_key: &str, sids: &[&str], event: Event) -> Result<usize>;
    fn notify(&self, event: Event, s: &Self::Session);
}

/// Sessions in memory, for tests of the logic. Keys expire by the `now` it is told.
#[derive(Default)]
pub struct MemoryStore {
    inner: RefCell<Memory>,
}

#[derive(Default)]
struct Memory {
    now_ms: i64,
    sessions: HashMap<String, Record>,
    /// index key -> (sid -> deadline ms)
    indexes: HashMap<String, BTreeMap<String, i64>>,
    /// Keys of another type, as a user's SET would leave them.
    foreign: Vec<String>,
    pub events: Vec<(Event, String)>,
}

#[derive(Clone, Debug)]
struct Record {
    created: crate::session::Created,
    idle_ms: i64,
    max_deadline_ms: Option<i64>,
    data: Option<Vec<u8>>,
    meta: Option<Vec<u8>>,
    claims: Option<Vec<u8>>,
    access_ms: Option<i64>,
    last_seen_ms: i64,
    /// None: persistent (PERSIST).
    expiry_ms: Option<i64>,
    rotation: Option<RotationState>,
}

impl MemoryStore {
    pub fn at(now_ms: i64) -> MemoryStore {
        let store = MemoryStore::default();
        store.set_now(now_ms);
        store
    }
    pub fn set_now(&self, now_ms: i64) {
        let mut m = self.inner.borrow_mut();
        m.now_ms = now_ms;
        m.sessions
            .retain(|_, r| r.expiry_ms.is_none_or(|e| e > now_ms));
    }
    pub fn events(&self) -> Vec<(Event, String)> {
        self.inner.borrow().events.clone()
    }
    pub fn session_count(&self) -> usize {
        self.inner.borrow().sessions.len()
    }
    pub fn index_entries(&self, index_key: &str) -> Vec<(String, i64)> {
        self.inner
            .borrow()
            .indexes
            .get(index_key)
            .map(|i| i.iter().map(|(s, d)| (s.clone(), *d)).collect())
            .unwrap_or_default()
    }
    pub fn expiry_of(&self, key: &str) -> Option<i64> {
        self.inner
            .borrow()
            .sessions
            .get(key)
            .and_then(|r| r.expiry_ms)
    }
    /// What a user's DEL does to an index.
    pub fn drop_index(&self, index_key: &str) {
        self.inner.borrow_mut().indexes.remove(index_key);
    }
    /// What a user's PERSIST does to a session.
    pub fn persist(&self, key: &str) {
        if let Some(r) = self.inner.borrow_mut().sessions.get_mut(key) {
            r.expiry_ms = None;
        }
    }
    /// What a user's SET of another type does.
    pub fn put_foreign(&self, key: &str) {
        self.inner.borrow_mut().foreign.push(key.to_string());
    }

    fn is_foreign(&self, key: &str) -> bool {
        self.inner.borrow().foreign.iter().any(|k| k == key)
    }

    fn record(&self, key: &str) -> Option<Record> {
        self.inner.borrow().sessions.get(key).cloned()
    }
}

fn stored_of(m: &Memory, addr: &SessionAddr, r: &Record) -> StoredSession {
    StoredSession {
        created_ms: r.created.ms,
        incarnation: r.created.incarnation,
        version: r.created.version,
        index_deadline_ms: m
            .indexes
            .get(addr.index_key())
            .and_then(|i| i.get(addr.sid()))
            .copied(),
    }
}

impl SessionStore for MemoryStore {
    type Session = SessionAddr;

    fn handle(&self, addr: SessionAddr) -> SessionAddr {
        addr
    }

    fn check_types(&self, session: Option<&SessionAddr>, index_key: &str) -> Result<()> {
        for key in [Some(index_key), session.map(SessionAddr::key)]
            .into_iter()
            .flatten()
        {
            if self.is_foreign(key) {
                return Err(Error::wrong_type(key));
            }
        }
        Ok(())
    }

    fn stored(&self, s: &SessionAddr) -> Option<StoredSession> {
        let m = self.inner.borrow();
        let r = m.sessions.get(s.key())?;
        Some(stored_of(&m, s, r))
    }

    fn state(&self, s: &SessionAddr) -> Option<SessionState> {
        let m = self.inner.borrow();
        let r = m.sessions.get(s.key())?;
        Some(SessionState {
            stored: stored_of(&m, s, r),
            idle_ms: r.idle_ms,
            max_deadline_ms: r.max_deadline_ms,
            expiry_ms: r.expiry_ms,
        })
    }

    fn refresh_record(&self, s: &SessionAddr) -> Option<RefreshRecord> {
        let state = self.state(s)?;
        let r = self.record(s.key())?;
        Some(RefreshRecord {
            state,
            rotation: r.rotation?,
            access_ms: r.access_ms?,
            claims: r.claims,
        })
    }

    fn data(&self, s: &SessionAddr) -> Option<Vec<u8>> {
        self.record(s.key())?.data
    }

    fn details(&self, s: &SessionAddr) -> Option<SessionDetails> {
        let r = self.record(s.key())?;
        Some(SessionDetails {
            data: r.data,
            claims: r.claims,
            access_ms: r.access_ms,
        })
    }

    fn sessions(
        &self,
        index_key: &str,
        with_data: bool,
        now_ms: i64,
        cutoff_ms: i64,
    ) -> Result<Vec<SessionInfo>> {
        self.check_types(None, index_key)?;
        let m = self.inner.borrow();
        let mut out = Vec::new();
        for (sid, deadline) in m.indexes.get(index_key).into_iter().flatten() {
            let Some(r) = m.sessions.get(SessionAddr::in_index(index_key, sid).key()) else {
                continue;
            };
            if *deadline <= now_ms || r.created.ms < cutoff_ms {
                continue;
            }
            out.push(SessionInfo {
                sid: sid.clone(),
                created_ms: r.created.ms,
                ttl_ms: deadline - now_ms,
                max_deadline_ms: r.max_deadline_ms,
                last_seen_ms: Some(r.last_seen_ms),
                meta: r.meta.clone(),
                data: if with_data { r.data.clone() } else { None },
            });
        }
        out.sort_by(|a, b| (a.created_ms, &a.sid).cmp(&(b.created_ms, &b.sid)));
        Ok(out)
    }

    fn indexed_sids(&self, index_key: &str) -> Result<Vec<String>> {
        self.check_types(None, index_key)?;
        Ok(self
            .index_entries(index_key)
            .into_iter()
            .map(|(s, _)| s)
            .collect())
    }

    fn create(&self, s: &SessionAddr, new: &NewSession) -> Result<()> {
        let mut m = self.inner.borrow_mut();
        m.sessions.insert(
            s.key().to_string(),
            Record {
                created: crate::session::Created {
                    ms: new.created_ms,
                    incarnation: new.incarnation,
                    version: None,
                },
                idle_ms: new.idle_ms,
                max_deadline_ms: new.max_deadline_ms,
                data: new.data.map(<[u8]>::to_vec),
                meta: new.meta.map(<[u8]>::to_vec),
                claims: new.claims.map(<[u8]>::to_vec),
                access_ms: new.access_ms,
                last_seen_ms: new.created_ms,
                expiry_ms: Some(new.expiry_ms),
                rotation: new.refresh.as_ref().map(|r| RotationState {
                    generation: 1,
                    current: r.hash.to_vec(),
                    previous: Vec::new(),
                    rotated_ms: new.created_ms,
                }),
            },
        );
        let index = m.indexes.entry(s.index_key().to_string()).or_default();
        index.retain(|_, d| *d > new.created_ms);
        index.insert(s.sid().to_string(), new.expiry_ms);
        Ok(())
    }

    fn extend(&self, s: &SessionAddr, expiry_ms: i64, now_ms: i64) -> Result<()> {
        let mut m = self.inner.borrow_mut();
        if let Some(r) = m.sessions.get_mut(s.key()) {
            r.expiry_ms = Some(expiry_ms);
            r.last_seen_ms = now_ms;
        }
        m.indexes
            .entry(s.index_key().to_string())
            .or_default()
            .insert(s.sid().to_string(), expiry_ms);
        Ok(())
    }

    fn update(&self, s: &SessionAddr, change: &SessionChange) -> Result<()> {
        let mut m = self.inner.borrow_mut();
        if let Some(r) = m.sessions.get_mut(s.key()) {
            if let Some(d) = &change.data {
                r.data = Some(d.clone());
            }
            if let Some(c) = &change.claims {
                r.claims = Some(c.clone());
            }
            if let Some(c) = change.created {
                r.created = c;
            }
        }
        Ok(())
    }

    fn save_rotation(&self, s: &SessionAddr, r: &RotationState) -> Result<()> {
        let mut m = self.inner.borrow_mut();
        let rotation = m
            .sessions
            .get_mut(s.key())
            .and_then(|x| x.rotation.as_mut());
        if let Some(rotation) = rotation {
            *rotation = r.clone();
        }
        Ok(())
    }

    fn delete(&self, s: &SessionAddr) -> Result<bool> {
        self.check_types(Some(s), s.index_key())?;
        let mut m = self.inner.borrow_mut();
        let removed = m.sessions.remove(s.key()).is_some();
        if let Some(i) = m.indexes.get_mut(s.index_key()) {
            i.remove(s.sid());
        }
        Ok(removed)
    }

    fn end_sessions(&self, index_key: &str, sids: &[&str], event: Event) -> Result<usize> {
        self.check_types(None, index_key)?;
        let mut ended = 0;
        for sid in sids {
            let addr = SessionAddr::in_index(index_key, sid);
            if self.is_foreign(addr.key()) {
                continue;
            }
            let mut m = self.inner.borrow_mut();
            if m.sessions.remove(addr.key()).is_some() {
                m.events.push((event, addr.key().to_string()));
                ended += 1;
            }
            if let Some(i) = m.indexes.get_mut(index_key) {
                i.remove(*sid);
            }
        }
        Ok(ended)
    }

    fn notify(&self, event: Event, s: &SessionAddr) {
        self.inner
            .borrow_mut()
            .events
            .push((event, s.key().to_string()));
    }
}

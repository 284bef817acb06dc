//! The life of a session, over any `SessionStore`: opening one within max-sessions,
//! TOUCH's sliding expiry, REFRESH's rotation (commit or reuse), logout and revocation.
//! The command handlers parse, authenticate and reply; what happens to sessions is
//! decided here, with time passed in, and unit-tested on `MemoryStore`.

use crate::error::{Code, Error, Result};
use crate::refresh::{self, Decision, RefreshToken, RotationState, HASH_BYTES};
use crate::session::{self, SessionAddr, StoredSession, TokenSession};
use crate::store::{Event, NewSession, SessionChange, SessionStore};
use std::borrow::Borrow;

/// Whether a token may use the session it names now (see `session::admits`).
pub fn is_live<S: SessionStore>(
    store: &S,
    s: &S::Session,
    token: &TokenSession,
    now_ms: i64,
    cutoff_ms: i64,
) -> bool {
    store
        .stored(s)
        .is_some_and(|stored| session::admits(&stored, token, now_ms, cutoff_ms))
}

/// max-sessions for one SIGN: the limit (0 = none) and what happens when it is reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub max: i64,
    pub deny: bool,
}

/// What SIGN will do to the subject's sessions, decided before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenPlan {
    /// The new session's creation time: the clock, but never before the cutoff nor at
    /// or before the subject's newest session (so creation order is total).
    pub created_ms: i64,
    /// Sessions to end first (evict-oldest), oldest first.
    pub evict: Vec<String>,
}

/// Enforces max-sessions before anything is written: with `deny` a full subject is a
/// LIMIT error; otherwise the oldest sessions (by creation) make room. Re-signing an
/// existing sid does not count as a new session.
pub fn plan_open<S: SessionStore>(
    store: &S,
    s: &S::Session,
    clock_ms: i64,
    cutoff_ms: i64,
    limit: Limit,
) -> Result<OpenPlan> {
    let addr: &SessionAddr = s.borrow();
    store.check_types(Some(s), addr.index_key())?;
    let earliest = clock_ms.max(cutoff_ms);
    if limit.max <= 0 {
        return Ok(OpenPlan {
            created_ms: earliest,
            evict: Vec::new(),
        });
    }
    let live = store.sessions(addr.index_key(), false, clock_ms, cutoff_ms)?;
    let newest = live.iter().map(|x| x.created_ms).max();
    let others: Vec<String> = live
        .into_iter()
        .map(|x| x.sid)
        .filter(|sid| sid != addr.sid())
        .collect();
    let excess = (others.len() + 1).saturating_sub(limit.max as usize);
    if excess > 0 && limit.deny {
        return Err(Error::new(
            Code::Limit,
            format!(
                "the subject already has {} sessions (max {})",
                others.len(),
                limit.max
            ),
        ));
    }
    Ok(OpenPlan {
        created_ms: earliest.max(newest.map_or(i64::MIN, |c| c + 1)),
        evict: others.into_iter().take(excess).collect(),
    })
}

/// Carries out a plan: evictions, then the new session. Returns how many were evicted.
pub fn open<S: SessionStore>(
    store: &S,
    s: &S::Session,
    plan: &OpenPlan,
    new: &NewSession,
) -> Result<usize> {
    let addr: &SessionAddr = s.borrow();
    let evicted = if plan.evict.is_empty() {
        0
    } else {
        let sids: Vec<&str> = plan.evict.iter().map(String::as_str).collect();
        store.end_sessions(addr.index_key(), &sids, Event::Evict)?
    };
    store.create(s, new)?;
    store.notify(Event::Sign, s);
    Ok(evicted)
}

/// What a TOUCH did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Touched {
    /// The session now ends at this time (ms).
    Moved(i64),
    /// Within the write granularity: left as it was (see `session::touch_is_noop`).
    Unchanged,
}

/// TOUCH: the session lives `ttl_ms` (default: its idle lifetime) from now, never past
/// its MAXAGE deadline. REVOKED, writing nothing, unless the token may use it.
pub fn touch<S: SessionStore>(
    store: &S,
    s: &S::Session,
    token: &TokenSession,
    now_ms: i64,
    cutoff_ms: i64,
    ttl_ms: Option<i64>,
) -> Result<Touched> {
    let state = store.state(s).ok_or_else(Error::revoked)?;
    if !session::admits(&state.stored, token, now_ms, cutoff_ms) {
        return Err(Error::revoked());
    }
    let ttl = ttl_ms.unwrap_or(state.idle_ms);
    let expiry = session::expiry(now_ms, ttl, state.max_deadline_ms);
    let outcome = if session::touch_is_noop(state.expiry_ms, expiry, ttl) {
        Touched::Unchanged
    } else {
        store.extend(s, expiry, now_ms)?;
        Touched::Moved(expiry)
    };
    store.notify(Event::Touch, s);
    Ok(outcome)
}

/// Logout with an access token: 1 when a session was removed, 0 when it was already
/// gone or no longer counts (nothing is written then).
pub fn destroy<S: SessionStore>(
    store: &S,
    s: &S::Session,
    token: &TokenSession,
    now_ms: i64,
    cutoff_ms: i64,
) -> Result<bool> {
    if !is_live(store, s, token, now_ms, cutoff_ms) {
        return Ok(false);
    }
    end(store, s)
}

/// Logout with a refresh token: any genuine one of the live incarnation.
pub fn destroy_by_refresh<S: SessionStore>(
    store: &S,
    s: &S::Session,
    token: &RefreshToken,
) -> Result<bool> {
    match store.stored(s) {
        Some(stored) if refresh::same_incarnation(token, &stored) => end(store, s),
        _ => Ok(false),
    }
}

fn end<S: SessionStore>(store: &S, s: &S::Session) -> Result<bool> {
    let removed = store.delete(s)?;
    if removed {
        store.notify(Event::Destroy, s);
    }
    Ok(removed)
}

/// A rotation to carry out once the new tokens are made.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshPlan {
    pub now_ms: i64,
    pub rotation: RotationState,
    /// When the session will end.
    pub expiry_ms: i64,
    /// The access-token lifetime given at SIGN.
    pub access_ms: i64,
    /// The stored claims the new access token carries.
    pub claims: Option<Vec<u8>>,
    /// The session's access-token version the new token carries (`sver`).
    pub version: Option<i64>,
}

/// REFRESH, first half: is `presented` the session's current refresh token? A token of
/// a session that no longer counts (gone, its index entry gone, before the cutoff, an
/// earlier incarnation) is REVOKED and changes nothing. A rotated-away token is reuse:
/// the session is ended here and the answer is REUSED.
pub fn plan_refresh<S: SessionStore>(
    store: &S,
    s: &S::Session,
    presented: &RefreshToken,
    next_hash: &[u8; HASH_BYTES],
    now_ms: i64,
    cutoff_ms: i64,
    grace_ms: i64,
) -> Result<RefreshPlan> {
    let record = store.refresh_record(s).ok_or_else(Error::revoked)?;
    let stored: &StoredSession = &record.state.stored;
    let live =
        stored.index_deadline_ms.is_some_and(|d| d > now_ms) && stored.created_ms >= cutoff_ms;
    if !live || !refresh::same_incarnation(presented, stored) {
        return Err(Error::revoked());
    }
    let rotation = match refresh::decide(&record.rotation, presented, next_hash, now_ms, grace_ms)?
    {
        Decision::Reuse => {
            let addr: &SessionAddr = s.borrow();
            store.end_sessions(addr.index_key(), &[addr.sid()], Event::Reuse)?;
            return Err(Error::new(
                Code::Reused,
                "refresh token was already used: the session has been revoked",
            ));
        }
        Decision::Rotate(r) | Decision::Sibling(r) => r,
    };
    Ok(RefreshPlan {
        now_ms,
        rotation,
        expiry_ms: session::expiry(now_ms, record.state.idle_ms, record.state.max_deadline_ms),
        access_ms: record.access_ms,
        claims: record.claims,
        version: record.state.stored.version,
    })
}

/// REFRESH, second half: the new rotation state and the extended life.
pub fn commit_refresh<S: SessionStore>(
    store: &S,
    s: &S::Session,
    plan: &RefreshPlan,
) -> Result<()> {
    store.save_rotation(s, &plan.rotation)?;
    store.extend(s, plan.expiry_ms, plan.now_ms)?;
    store.notify(Event::Refresh, s);
    Ok(())
}

/// DATA after JWT.UPDATE's MERGE: the top-level fields of `merge` replace those of the
/// stored DATA (which must be a JSON object, or absent: then `{}`); a field set to
/// null is removed.
pub fn merged_data(
    stored: Option<&[u8]>,
    merge: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<u8>> {
    let mut data = match stored {
        None => serde_json::Map::new(),
        Some(bytes) => match serde_json::from_slice(bytes) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return Err(Error::syntax(
                "the session's DATA is not a JSON object: MERGE needs one (use DATA to replace it)",
            )),
        },
    };
    for (k, v) in merge {
        if v.is_null() {
            data.remove(k);
        } else {
            data.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec(&data).map_err(|_| Error::syntax("DATA could not be written"))
}

/// JWT.UPDATE's writes, after the caller checked the token may use the session.
pub fn update<S: SessionStore>(store: &S, s: &S::Session, change: &SessionChange) -> Result<()> {
    store.update(s, change)?;
    store.notify(Event::Update, s);
    Ok(())
}

/// Which of a user's sessions REVOKE ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Every indexed session, live or not ("log out everywhere").
    All,
    /// All but this one ("log out other devices").
    AllExcept(String),
    Only(Vec<String>),
}

/// JWT.REVOKE: returns how many session records were removed.
pub fn revoke<S: SessionStore>(store: &S, index_key: &str, targets: Targets) -> Result<usize> {
    let sids = revoke_targets(store, index_key, targets)?;
    revoke_sids(store, index_key, &sids)
}

/// The sids a REVOKE ends (so the caller can check its permission on each first).
pub fn revoke_targets<S: SessionStore>(
    store: &S,
    index_key: &str,
    targets: Targets,
) -> Result<Vec<String>> {
    Ok(match targets {
        Targets::Only(sids) => sids,
        Targets::All => store.indexed_sids(index_key)?,
        Targets::AllExcept(keep) => store
            .indexed_sids(index_key)?
            .into_iter()
            .filter(|sid| *sid != keep)
            .collect(),
    })
}

/// Ends these sessions of one subject; returns how many records existed.
pub fn revoke_sids<S: SessionStore>(store: &S, index_key: &str, sids: &[String]) -> Result<usize> {
    let refs: Vec<&str> = sids.iter().map(String::as_str).collect();
    store.end_sessions(index_key, &refs, Event::Revoke)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::testing::Counter;
    use crate::store::{MemoryStore, RefreshInit};
    use std::cell::Cell;

    const HOUR: i64 = 3_600_000;
    const NO_LIMIT: Limit = Limit {
        max: 0,
        deny: false,
    };

    fn addr(sid: &str) -> SessionAddr {
        SessionAddr::new("jwt:", "alice", sid)
    }

    fn new_session(created_ms: i64, idle_ms: i64) -> NewSession<'static> {
        NewSession {
            created_ms,
            idle_ms,
            max_deadline_ms: None,
            incarnation: None,
            data: None,
            meta: None,
            access_ms: None,
            claims: None,
            expiry_ms: created_ms + idle_ms,
            refresh: None,
        }
    }

    fn sign(store: &MemoryStore, sid: &str, clock: i64, limit: Limit) -> Result<OpenPlan> {
        let s = addr(sid);
        let plan = plan_open(store, &s, clock, 0, limit)?;
        open(store, &s, &plan, &new_session(plan.created_ms, HOUR))?;
        Ok(plan)
    }

    fn token(iat_ms: i64) -> TokenSession {
        TokenSession {
            iat: Some((iat_ms / 1000) as f64),
            incarnation: None,
            version: None,
        }
    }

    #[test]
    fn evict_oldest_keeps_the_newest_and_orders_same_millisecond_logins() {
        let store = MemoryStore::at(1_000);
        let limit = Limit {
            max: 2,
            deny: false,
        };
        // Three logins in one millisecond, sids sorting against creation order.
        let created: Vec<i64> = ["c", "b", "a"]
            .iter()
            .map(|sid| sign(&store, sid, 1_000, limit).unwrap().created_ms)
            .collect();
        assert_eq!(created, [1_000, 1_001, 1_002]);
        let left: Vec<String> = store
            .sessions("jwt:{alice}", false, 1_000, 0)
            .unwrap()
            .into_iter()
            .map(|x| x.sid)
            .collect();
        assert_eq!(left, ["b", "a"]);
        assert!(store
            .events()
            .contains(&(Event::Evict, "jwt:{alice}:c".into())));
        // Re-signing an existing sid does not count.
        let plan = plan_open(&store, &addr("a"), 2_000, 0, limit).unwrap();
        assert!(plan.evict.is_empty());
    }

    #[test]
    fn deny_refuses_and_writes_nothing() {
        let store = MemoryStore::at(1_000);
        let limit = Limit { max: 1, deny: true };
        sign(&store, "a", 1_000, limit).unwrap();
        let e = sign(&store, "b", 1_100, limit).unwrap_err();
        assert_eq!(e.code, Code::Limit);
        assert_eq!(store.session_count(), 1);
    }

    #[test]
    fn sessions_that_lost_their_index_entry_do_not_count_and_are_not_revived() {
        let store = MemoryStore::at(1_000);
        let unlimited = NO_LIMIT;
        sign(&store, "a", 1_000, unlimited).unwrap();
        let s = addr("a");
        assert!(is_live(&store, &s, &token(1_000), 1_500, 0));
        store.drop_index("jwt:{alice}");
        assert!(!is_live(&store, &s, &token(1_000), 1_500, 0));
        let e = touch(&store, &s, &token(1_000), 1_500, 0, None).unwrap_err();
        assert_eq!(e.code, Code::Revoked);
        assert!(
            store.index_entries("jwt:{alice}").is_empty(),
            "TOUCH wrote nothing"
        );
        assert_eq!(
            store
                .sessions("jwt:{alice}", false, 1_500, 0)
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn a_persisted_session_ends_with_its_index_entry() {
        let store = MemoryStore::at(1_000);
        sign(&store, "a", 1_000, NO_LIMIT).unwrap();
        store.persist("jwt:{alice}:a");
        assert!(is_live(
            &store,
            &addr("a"),
            &token(1_000),
            1_000 + HOUR - 1,
            0
        ));
        store.set_now(1_000 + HOUR);
        assert!(!is_live(&store, &addr("a"), &token(1_000), 1_000 + HOUR, 0));
        // REVOKE still reaches it.
        assert_eq!(revoke(&store, "jwt:{alice}", Targets::All).unwrap(), 1);
        assert_eq!(store.session_count(), 0);
    }

    #[test]
    fn touch_writes_once_per_granularity_and_never_past_maxage() {
        let store = MemoryStore::at(10_000);
        let s = addr("a");
        let plan = plan_open(&store, &s, 10_000, 0, NO_LIMIT).unwrap();
        let new = NewSession {
            max_deadline_ms: Some(10_000 + 2 * HOUR),
            ..new_session(10_000, HOUR)
        };
        open(&store, &s, &plan, &new).unwrap();
        let t = token(10_000);
        // 500 ms later: the deadline would move by 500 ms < 1 s: left as it is.
        assert_eq!(
            touch(&store, &s, &t, 10_500, 0, None).unwrap(),
            Touched::Unchanged
        );
        // 2 s later: written.
        assert_eq!(
            touch(&store, &s, &t, 12_000, 0, None).unwrap(),
            Touched::Moved(12_000 + HOUR)
        );
        assert_eq!(
            store.index_entries("jwt:{alice}"),
            [("a".into(), 12_000 + HOUR)]
        );
        // Past MAXAGE: capped.
        let later = 11_000 + HOUR;
        assert_eq!(
            touch(&store, &s, &t, later, 0, Some(5 * HOUR)).unwrap(),
            Touched::Moved(10_000 + 2 * HOUR)
        );
        // A shorter TTL is always written.
        assert_eq!(
            touch(&store, &s, &t, later, 0, Some(1_000)).unwrap(),
            Touched::Moved(later + 1_000)
        );
    }

    #[test]
    fn index_entries_of_ended_sessions_are_trimmed_by_the_next_login() {
        let store = MemoryStore::at(0);
        let unlimited = NO_LIMIT;
        for i in 0..50 {
            let s = addr(&format!("s{i}"));
            let plan = plan_open(&store, &s, i * 10, 0, unlimited).unwrap();
            open(&store, &s, &plan, &new_session(plan.created_ms, 5)).unwrap();
        }
        assert_eq!(store.index_entries("jwt:{alice}").len(), 1);
    }

    #[test]
    fn refresh_rotates_then_detects_reuse() {
        let store = MemoryStore::at(0);
        let rng = Counter(Cell::new(1));
        let s = addr("a");
        let first = RefreshToken::new(0, 1, None, "alice", "a", &rng).unwrap();
        let plan = plan_open(&store, &s, 0, 0, NO_LIMIT).unwrap();
        let new = NewSession {
            access_ms: Some(900_000),
            refresh: Some(RefreshInit { hash: first.hash() }),
            ..new_session(0, HOUR)
        };
        open(&store, &s, &plan, &new).unwrap();
        let second = RefreshToken::new(0, 0, None, "alice", "a", &rng).unwrap();
        let plan = plan_refresh(&store, &s, &first, &second.hash(), 60_000, 0, 0).unwrap();
        assert_eq!(plan.rotation.generation, 2);
        assert_eq!(plan.expiry_ms, 60_000 + HOUR);
        commit_refresh(&store, &s, &plan).unwrap();
        // The first token again, no grace: reuse ends the session.
        let third = RefreshToken::new(0, 0, None, "alice", "a", &rng).unwrap();
        let e = plan_refresh(&store, &s, &first, &third.hash(), 61_000, 0, 0).unwrap_err();
        assert_eq!(e.code, Code::Reused);
        assert_eq!(store.session_count(), 0);
        assert!(store
            .events()
            .contains(&(Event::Reuse, "jwt:{alice}:a".into())));
    }

    #[test]
    fn refresh_of_an_earlier_incarnation_or_a_lost_entry_is_revoked_not_reuse() {
        let store = MemoryStore::at(0);
        let rng = Counter(Cell::new(7));
        let s = addr("phone");
        let old = RefreshToken::new(0, 1, Some(11), "alice", "phone", &rng).unwrap();
        let plan = plan_open(&store, &s, 0, 0, NO_LIMIT).unwrap();
        let now_token = RefreshToken::new(0, 1, Some(12), "alice", "phone", &rng).unwrap();
        let new = NewSession {
            incarnation: Some(12),
            access_ms: Some(1),
            refresh: Some(RefreshInit {
                hash: now_token.hash(),
            }),
            ..new_session(0, HOUR)
        };
        open(&store, &s, &plan, &new).unwrap();
        let next = RefreshToken::new(0, 0, Some(12), "alice", "phone", &rng).unwrap();
        let e = plan_refresh(&store, &s, &old, &next.hash(), 0, 0, 0).unwrap_err();
        assert_eq!(e.code, Code::Revoked, "same millisecond, other incarnation");
        assert_eq!(store.session_count(), 1, "the new session lives");
        store.drop_index("jwt:{alice}");
        let e = plan_refresh(&store, &s, &now_token, &next.hash(), 0, 0, 0).unwrap_err();
        assert_eq!(e.code, Code::Revoked);
    }

    #[test]
    fn touch_and_refresh_record_last_seen() {
        let store = MemoryStore::at(1_000);
        sign(&store, "a", 1_000, NO_LIMIT).unwrap();
        let seen = |store: &MemoryStore| {
            store.sessions("jwt:{alice}", false, 1_000, 0).unwrap()[0].last_seen_ms
        };
        assert_eq!(seen(&store), Some(1_000));
        touch(&store, &addr("a"), &token(1_000), 1_300, 0, None).unwrap();
        assert_eq!(
            seen(&store),
            Some(1_000),
            "within the granularity: nothing written"
        );
        touch(&store, &addr("a"), &token(1_000), 5_000, 0, None).unwrap();
        assert_eq!(seen(&store), Some(5_000));
    }

    #[test]
    fn merge_replaces_top_level_fields_and_null_removes() {
        let merge: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"cart":[1,2],"old":null}"#).unwrap();
        let out = merged_data(Some(br#"{"old":1,"theme":"dark"}"#), &merge).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!({"theme":"dark","cart":[1,2]}));
        assert_eq!(merged_data(None, &merge).unwrap(), br#"{"cart":[1,2]}"#);
        assert_eq!(
            merged_data(Some(b"[1]"), &merge).unwrap_err().code,
            Code::Err
        );
    }

    #[test]
    fn supersede_ends_older_tokens_but_not_the_session() {
        let store = MemoryStore::at(1_000);
        sign(&store, "a", 1_000, NO_LIMIT).unwrap();
        let old = token(1_000);
        let change = SessionChange {
            created: Some(crate::session::Created {
                ms: 1_000,
                incarnation: None,
                version: Some(9),
            }),
            ..SessionChange::default()
        };
        update(&store, &addr("a"), &change).unwrap();
        assert!(!is_live(&store, &addr("a"), &old, 1_500, 0));
        let new = TokenSession {
            version: Some(9),
            ..old
        };
        assert!(is_live(&store, &addr("a"), &new, 1_500, 0));
        assert!(store
            .events()
            .contains(&(Event::Update, "jwt:{alice}:a".into())));
    }

    #[test]
    fn revoke_all_but_one_and_foreign_records() {
        let store = MemoryStore::at(0);
        for sid in ["a", "b", "c"] {
            sign(&store, sid, 0, NO_LIMIT).unwrap();
        }
        assert_eq!(
            revoke(&store, "jwt:{alice}", Targets::AllExcept("b".into())).unwrap(),
            2
        );
        let left = store.sessions("jwt:{alice}", false, 0, 0).unwrap();
        assert_eq!(left.len(), 1);
        store.put_foreign("jwt:{alice}");
        assert_eq!(
            revoke(&store, "jwt:{alice}", Targets::All)
                .unwrap_err()
                .code,
            Code::WrongType
        );
    }

    #[test]
    fn the_cutoff_ends_earlier_sessions_and_new_ones_start_after_it() {
        let store = MemoryStore::at(0);
        sign(&store, "a", 100, NO_LIMIT).unwrap();
        assert!(!is_live(&store, &addr("a"), &token(100), 200, 150));
        let plan = plan_open(&store, &addr("b"), 120, 150, NO_LIMIT).unwrap();
        assert_eq!(plan.created_ms, 150);
        assert_eq!(
            store
                .sessions("jwt:{alice}", false, 200, 150)
                .unwrap()
                .len(),
            0
        );
    }
}

//! Sessions as data: names of the keys that hold them, the validation of subjects and
//! sids, and the deadline arithmetic. Nothing here touches Redis.

use super::error::{Error, Result};

pub const MAX_SUBJECT_BYTES: usize = 512;
pub const MAX_SID_BYTES: usize = 128;

/// Hash fields of a session record. Short names keep small sessions small. C strings
/// because the key API takes them as such.
pub mod field {
    use std::ffi::CStr;
    /// Creation time, ms since the epoch, then `.<incarnation>` for a session with a
    /// caller-supplied SID (see `Created`): one field, so VERIFY reads one value.
    pub const CREATED: &CStr = c"c";
    /// Idle lifetime in ms, used by TOUCH when it is given no TTL.
    pub const IDLE: &CStr = c"i";
    /// Absolute deadline in ms (MAXAGE), absent when there is none.
    pub const MAX_DEADLINE: &CStr = c"m";
    /// The private DATA, JSON text, absent when none was given.
    pub const DATA: &CStr = c"d";
    // Refresh-token state, present when the session was signed with REFRESH.
    /// SHA-256 hashes of the accepted current refresh tokens.
    pub const REFRESH_CURRENT: &CStr = c"r";
    /// SHA-256 hashes of the immediate predecessors (for the grace window).
    pub const REFRESH_PREVIOUS: &CStr = c"p";
    /// The current refresh generation.
    pub const GENERATION: &CStr = c"g";
    /// When the last rotation happened, ms.
    pub const ROTATED: &CStr = c"t";
    /// Access-token lifetime in ms for tokens issued by REFRESH and UPDATE.
    pub const ACCESS_TTL: &CStr = c"a";
    /// The public claims (with iss/aud) that REFRESH and UPDATE put in new access tokens.
    pub const CLAIMS: &CStr = c"j";
    /// When the session was last used (SIGN, TOUCH, REFRESH), ms.
    pub const LAST_SEEN: &CStr = c"l";
    /// SIGN's META: what the application says about the session (a device label).
    pub const META: &CStr = c"x";
}

/// The creation field: when, and for a caller-supplied SID which incarnation (random
/// SIDs never repeat and have none). Tokens of such a session carry it as `sinc`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Created {
    pub ms: i64,
    pub incarnation: Option<i64>,
    /// The access-token version, set by `JWT.UPDATE ... SUPERSEDE`: tokens must carry
    /// it as `sver` (older ones stop verifying). None until the first SUPERSEDE.
    pub version: Option<i64>,
}

impl Created {
    /// `<ms>[.<incarnation>][v<version>]`; 0.1 wrote `<ms>`.
    pub fn parse(bytes: &[u8]) -> Option<Created> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (text, version) = match text.split_once('v') {
            Some((rest, v)) => (rest, Some(v.parse().ok()?)),
            None => (text, None),
        };
        let (ms, incarnation) = match text.split_once('.') {
            Some((ms, n)) => (ms, Some(n.parse().ok()?)),
            None => (text, None),
        };
        Some(Created {
            ms: ms.parse().ok()?,
            incarnation,
            version,
        })
    }

    pub fn encode(&self) -> String {
        let mut out = self.ms.to_string();
        if let Some(n) = self.incarnation {
            out.push_str(&format!(".{n}"));
        }
        if let Some(v) = self.version {
            out.push_str(&format!("v{v}"));
        }
        out
    }
}

/// A fresh incarnation (or token version) number: 53 random bits (exact in a JSON
/// number in every language), never 0.
pub fn new_incarnation(rng: &dyn super::random::Random) -> super::error::Result<i64> {
    let mut b = [0u8; 8];
    rng.fill(&mut b)?;
    Ok((u64::from_le_bytes(b) >> 11).max(1) as i64)
}

/// What a token says of the session it belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TokenSession {
    /// `iat`, seconds.
    pub iat: Option<f64>,
    /// `sinc`: the incarnation of a session with a caller-supplied SID.
    pub incarnation: Option<i64>,
    /// `sver`: the session's access-token version when the token was issued.
    pub version: Option<i64>,
}

/// What the store holds of a session: its record and its index entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredSession {
    pub created_ms: i64,
    pub incarnation: Option<i64>,
    pub version: Option<i64>,
    /// The deadline in the per-user index; None when the entry (or the index) is gone.
    pub index_deadline_ms: Option<i64>,
}

/// Whether a token may use a stored session. The index is authoritative: a session
/// counts (and verifies) only while its index entry is live, whatever happened to its
/// own key (PERSIST, RESTORE, an evicted index). The token must be of this incarnation:
/// the `sinc` it carries where the session has one, else issued no earlier than the
/// session's creation; and of its current access-token version (see `Created`).
/// Sessions created before `cutoff_ms` (the all-sessions cutoff) have ended.
pub fn admits(stored: &StoredSession, token: &TokenSession, now_ms: i64, cutoff_ms: i64) -> bool {
    let live = stored.index_deadline_ms.is_some_and(|d| d > now_ms);
    let same_incarnation = match stored.incarnation {
        Some(n) => token.incarnation == Some(n),
        None => {
            token.incarnation.is_none() && !token_predates_session(token.iat, stored.created_ms)
        }
    };
    live && same_incarnation && token.version == stored.version && stored.created_ms >= cutoff_ms
}

/// A subject is any non-empty UTF-8 string up to 512 bytes without `{` or `}`: the
/// braces would break the `{<sub>}` hash tag that keeps a user's keys in one slot.
pub fn validate_subject(sub: &[u8]) -> Result<&str> {
    let s =
        std::str::from_utf8(sub).map_err(|_| Error::syntax("the subject must be UTF-8 text"))?;
    if s.is_empty() || s.len() > MAX_SUBJECT_BYTES {
        return Err(Error::syntax("the subject must be 1 to 512 bytes"));
    }
    if s.contains(['{', '}']) {
        return Err(Error::syntax("the subject may not contain '{' or '}'"));
    }
    Ok(s)
}

/// A caller-supplied sid: 1 to 128 bytes of printable ASCII, no braces, no spaces.
pub fn validate_sid(sid: &[u8]) -> Result<&str> {
    let ok = !sid.is_empty()
        && sid.len() <= MAX_SID_BYTES
        && sid
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'{' && b != b'}');
    if !ok {
        return Err(Error::syntax(
            "a SID is 1 to 128 printable ASCII characters without spaces or braces",
        ));
    }
    // Printable ASCII is valid UTF-8.
    std::str::from_utf8(sid).map_err(|_| Error::syntax("a SID must be ASCII"))
}

/// Where one session lives: its key `<prefix>{<sub>}:<sid>` and its user's index
/// `<prefix>{<sub>}` (a prefix of it), the sid a suffix. The one place that knows how
/// session keys are laid out; cheap to clone (the verify cache keeps one per token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionAddr {
    key: std::sync::Arc<str>,
    index_len: usize,
}

impl SessionAddr {
    /// For a validated subject and sid.
    pub fn new(prefix: &str, sub: &str, sid: &str) -> SessionAddr {
        let key = session_key(prefix, sub, sid);
        SessionAddr {
            index_len: key.len() - sid.len() - 1,
            key: key.into(),
        }
    }

    /// The session `sid` of the user whose index is `index_key`.
    pub fn in_index(index_key: &str, sid: &str) -> SessionAddr {
        SessionAddr {
            key: format!("{index_key}:{sid}").into(),
            index_len: index_key.len(),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn index_key(&self) -> &str {
        &self.key[..self.index_len]
    }
    pub fn sid(&self) -> &str {
        &self.key[self.index_len + 1..]
    }

    /// The subject: inside the hash tag (a prefix has no braces, a subject neither).
    pub fn sub(&self) -> &str {
        let index = self.index_key();
        let open = index.find('{').map_or(0, |i| i + 1);
        &index[open..index.len().saturating_sub(1).max(open)]
    }

    /// The user's activity log (`jwt.activity-log`): `<prefix>{<sub>}#events`, in the
    /// user's slot and never a session key (those have `}:` after the tag).
    pub fn events_key(&self) -> String {
        format!("{}#events", self.index_key())
    }
}

/// `<prefix>{<sub>}`: the per-user index.
pub fn index_key(prefix: &str, sub: &str) -> String {
    let mut k = String::with_capacity(prefix.len() + sub.len() + 2);
    k.push_str(prefix);
    k.push('{');
    k.push_str(sub);
    k.push('}');
    k
}

/// `<prefix>{<sub>}:<sid>`: one session.
fn session_key(prefix: &str, sub: &str, sid: &str) -> String {
    let mut k = String::with_capacity(prefix.len() + sub.len() + sid.len() + 3);
    k.push_str(prefix);
    k.push('{');
    k.push_str(sub);
    k.push_str("}:");
    k.push_str(sid);
    k
}

/// The Redis Cluster hash slot of a key (CRC16/XMODEM mod 16384, honouring `{tag}`).
pub fn hash_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let close = key[open + 1..].iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &key[open + 1..open + 1 + close])
    });
    crc16(tagged.unwrap_or(key)) % 16384
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A session's absolute deadline: MAXAGE's, and for a session that nothing can renew
/// (no refresh token) also its access token's `exp` (seconds): such a session never
/// outlives the token that is its only way in, so COUNT, SESSIONS and max-sessions see
/// only sessions that can still be used, and TOUCH cannot stretch it past.
/// `leeway_ms` (jwt.leeway) keeps it as long as VERIFY may still accept the token.
pub fn absolute_deadline(
    maxage_deadline_ms: Option<i64>,
    token_exp_s: Option<i64>,
    refreshable: bool,
    leeway_ms: i64,
) -> Option<i64> {
    let token_end = token_exp_s
        .filter(|_| !refreshable)
        .map(|e| e.saturating_mul(1000).saturating_add(leeway_ms));
    match (maxage_deadline_ms, token_end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// When a session ends: its idle deadline, never past its absolute one.
pub fn expiry(now_ms: i64, idle_ms: i64, max_deadline_ms: Option<i64>) -> i64 {
    let idle = now_ms.saturating_add(idle_ms);
    match max_deadline_ms {
        Some(max) => idle.min(max),
        None => idle,
    }
}

/// Whether a TOUCH may leave the session as it is: the new deadline is later than the
/// current one by less than min(1 s, TTL/64). A backend touches on every request; this
/// keeps a burst of requests from rewriting (and replicating) the same deadline again
/// and again, at the price of a remaining life at most that much short of the request.
/// A shorter deadline is always written.
pub fn touch_is_noop(current_expiry_ms: Option<i64>, new_expiry_ms: i64, ttl_ms: i64) -> bool {
    let tolerance = (ttl_ms / 64).min(1000);
    current_expiry_ms.is_some_and(|cur| cur <= new_expiry_ms && new_expiry_ms - cur < tolerance)
}

/// A token belongs to the session incarnation it was issued for. A caller-supplied SID
/// can be reused after logout; tokens issued (whole seconds) before the current
/// incarnation was created must not come back to life with it.
pub fn token_predates_session(iat_s: Option<f64>, created_ms: i64) -> bool {
    match iat_s {
        Some(iat) => iat < created_ms.div_euclid(1000) as f64,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert_eq!(validate_subject(b"alice").unwrap(), "alice");
        for ok in ["*", "a:b", "user[1]", "x?", "ünï", "a b"] {
            assert!(validate_subject(ok.as_bytes()).is_ok(), "{ok}");
        }
        assert!(validate_subject(b"").is_err());
        assert!(validate_subject(b"a{b").is_err());
        assert!(validate_subject(b"}").is_err());
        assert!(validate_subject(&[0xff, 0xfe]).is_err());
        assert!(validate_subject(&[b'a'; 512]).is_ok());
        assert!(validate_subject(&[b'a'; 513]).is_err());
    }

    #[test]
    fn sessions_nothing_can_renew_end_with_their_token() {
        assert_eq!(absolute_deadline(None, None, false, 0), None);
        assert_eq!(absolute_deadline(None, Some(100), false, 0), Some(100_000));
        assert_eq!(absolute_deadline(None, Some(100), false, 5), Some(100_005));
        assert_eq!(
            absolute_deadline(Some(50_000), Some(100), false, 0),
            Some(50_000)
        );
        assert_eq!(
            absolute_deadline(Some(500_000), Some(100), false, 0),
            Some(100_000)
        );
        assert_eq!(
            absolute_deadline(None, Some(100), true, 0),
            None,
            "REFRESH renews"
        );
        assert_eq!(absolute_deadline(Some(7), Some(100), true, 0), Some(7));
    }

    #[test]
    fn addresses_know_the_layout() {
        let a = SessionAddr::new("jwt:", "alice", "s-1");
        assert_eq!(
            (a.key(), a.index_key(), a.sid()),
            ("jwt:{alice}:s-1", "jwt:{alice}", "s-1")
        );
        assert_eq!(SessionAddr::in_index("jwt:{alice}", "s-1"), a);
        assert_eq!(a.sub(), "alice");
        assert_eq!(a.events_key(), "jwt:{alice}#events");
        let odd = SessionAddr::new("p:", "a:b", "x:y");
        assert_eq!((odd.index_key(), odd.sid()), ("p:{a:b}", "x:y"));
    }

    #[test]
    fn created_field_round_trips_and_reads_the_old_form() {
        let c = |ms, incarnation, version| Created {
            ms,
            incarnation,
            version,
        };
        for x in [
            c(1795636332123, None, None),
            c(5, Some(9007199254740991), None),
            c(5, None, Some(77)),
            c(5, Some(3), Some(77)),
        ] {
            assert_eq!(Created::parse(x.encode().as_bytes()), Some(x));
        }
        assert_eq!(
            Created::parse(b"1795636332123"),
            Some(c(1795636332123, None, None))
        );
        for bad in [&b""[..], b"x", b"1.", b"1.x", b".1", b"1v", b"1vx", b"v1"] {
            assert_eq!(Created::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn admission_needs_a_live_index_entry_the_same_incarnation_and_the_cutoff() {
        let stored = StoredSession {
            created_ms: 10_500,
            incarnation: None,
            version: None,
            index_deadline_ms: Some(20_000),
        };
        let token = TokenSession {
            iat: Some(10.0),
            incarnation: None,
            version: None,
        };
        assert!(admits(&stored, &token, 15_000, 0));
        assert!(!admits(&stored, &token, 20_000, 0), "deadline passed");
        let gone = StoredSession {
            index_deadline_ms: None,
            ..stored
        };
        assert!(!admits(&gone, &token, 15_000, 0), "no index entry");
        assert!(
            !admits(&stored, &token, 15_000, 10_501),
            "before the cutoff"
        );
        let older = TokenSession {
            iat: Some(9.0),
            ..token
        };
        assert!(
            !admits(&stored, &older, 15_000, 0),
            "an earlier incarnation"
        );
        let caller_sid = StoredSession {
            incarnation: Some(7),
            ..stored
        };
        assert!(!admits(&caller_sid, &token, 15_000, 0), "no sinc");
        let same_second_other = TokenSession {
            incarnation: Some(8),
            ..token
        };
        assert!(!admits(&caller_sid, &same_second_other, 15_000, 0));
        let ours = TokenSession {
            incarnation: Some(7),
            ..token
        };
        assert!(admits(&caller_sid, &ours, 15_000, 0));
        assert!(
            !admits(&stored, &ours, 15_000, 0),
            "sinc on a session without one"
        );
    }

    #[test]
    fn sids() {
        assert!(validate_sid(b"device-1").is_ok());
        assert!(validate_sid(b"").is_err());
        assert!(validate_sid(b"a b").is_err());
        assert!(validate_sid(b"a{").is_err());
        assert!(validate_sid(&[b'a'; 129]).is_err());
    }

    #[test]
    fn key_names() {
        assert_eq!(index_key("jwt:", "alice"), "jwt:{alice}");
        assert_eq!(session_key("jwt:", "alice", "s1"), "jwt:{alice}:s1");
    }

    #[test]
    fn expiry_is_capped() {
        assert_eq!(expiry(1000, 500, None), 1500);
        assert_eq!(expiry(1000, 500, Some(1200)), 1200);
        assert_eq!(expiry(1000, 500, Some(9000)), 1500);
    }

    #[test]
    fn hash_slots_match_redis() {
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(hash_slot(b"foo"), 12182);
        assert_eq!(hash_slot(b"bar"), 5061);
        assert_eq!(hash_slot(b"jwt:{alice}:s1"), hash_slot(b"alice"));
        assert_eq!(hash_slot(b"jwt:{alice}"), hash_slot(b"alice"));
        // An empty tag does not count: the whole key is hashed.
        assert_eq!(
            hash_slot(b"{}x"),
            crc16(b"{}x") % 16384,
            "empty tag: whole key"
        );
        assert_ne!(hash_slot(b"{}x"), hash_slot(b"x"));
    }

    #[test]
    fn touch_granularity() {
        assert!(
            touch_is_noop(Some(100_000), 100_500, 86_400_000),
            "half a second later: skip"
        );
        assert!(
            !touch_is_noop(Some(100_000), 101_000, 86_400_000),
            "a second later: write"
        );
        assert!(
            !touch_is_noop(Some(100_000), 99_000, 86_400_000),
            "earlier: always write"
        );
        assert!(
            !touch_is_noop(Some(100_000), 100_010, 300),
            "short TTLs: tolerance TTL/64 = 4 ms"
        );
        assert!(touch_is_noop(Some(100_000), 100_003, 300));
        assert!(!touch_is_noop(None, 100_000, 1000));
        assert!(
            touch_is_noop(Some(100_000), 100_000, 1000),
            "capped by MAXAGE: nothing to do"
        );
    }

    #[test]
    fn incarnations() {
        assert!(!token_predates_session(Some(10.0), 10_500));
        assert!(token_predates_session(Some(9.0), 10_500));
        assert!(!token_predates_session(None, 10_500));
    }
}

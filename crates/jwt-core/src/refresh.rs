//! Refresh tokens and their rotation, as pure logic.
//!
//! A refresh token is opaque: `jwtr_` + base64url of
//! `version(2) | created_ms | generation | incarnation | sub | sid | secret(32) | tag(32)`
//! (version 1, written by 0.1, has no incarnation and still decodes).
//! `created_ms` and the incarnation (0 for a random SID) tie it to one incarnation of
//! its session; sub and sid locate the
//! session in one lookup; the 256-bit secret is stored only as its SHA-256; the tag is an
//! HMAC with the node's refresh secret, so a forged token (INVALID, changes nothing) is
//! told apart from a genuine token that was rotated away (REUSED, revokes the session).
//!
//! Rotation state kept in the session: the current generation, the hashes of the
//! current token(s), the hashes of the immediate predecessor(s), and when the last
//! rotation happened. Within `refresh-grace` of a rotation, the immediate predecessor is
//! tolerated: it gets a *sibling* of the current token (same generation, both accepted),
//! because the current secret itself is not stored and cannot be handed out again. So
//! two tabs that raced with the same token both end up holding a current token.

use super::error::{Code, Error, Result};
use super::random::Random;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::{digest, hmac};

pub const PREFIX: &str = "jwtr_";
const VERSION: u8 = 2;
/// The 0.1 format: no incarnation field.
const VERSION_1: u8 = 1;
const SECRET_BYTES: usize = 32;
const TAG_BYTES: usize = 32;
/// How many tokens of one generation may be accepted at once (one per racing tab).
pub const MAX_SIBLINGS: usize = 8;
pub const HASH_BYTES: usize = 32;

/// A decoded refresh token whose tag verified.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    pub created_ms: i64,
    pub generation: u64,
    /// The session's incarnation (sessions with a caller-supplied SID), else None.
    pub incarnation: Option<i64>,
    pub sub: String,
    pub sid: String,
    pub secret: [u8; SECRET_BYTES],
}

impl RefreshToken {
    pub fn new(
        created_ms: i64,
        generation: u64,
        incarnation: Option<i64>,
        sub: &str,
        sid: &str,
        rng: &dyn Random,
    ) -> Result<RefreshToken> {
        let mut secret = [0u8; SECRET_BYTES];
        rng.fill(&mut secret)?;
        Ok(RefreshToken {
            created_ms,
            generation,
            incarnation,
            sub: sub.to_string(),
            sid: sid.to_string(),
            secret,
        })
    }

    fn body(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + self.sub.len() + self.sid.len());
        b.push(VERSION);
        b.extend_from_slice(&self.created_ms.to_be_bytes());
        b.extend_from_slice(&self.generation.to_be_bytes());
        b.extend_from_slice(&self.incarnation.unwrap_or(0).to_be_bytes());
        b.extend_from_slice(&(self.sub.len() as u16).to_be_bytes());
        b.extend_from_slice(self.sub.as_bytes());
        b.push(self.sid.len() as u8);
        b.extend_from_slice(self.sid.as_bytes());
        b.extend_from_slice(&self.secret);
        b
    }

    pub fn encode(&self, mac: &hmac::Key) -> String {
        let mut b = self.body();
        let tag = hmac::sign(mac, &b);
        b.extend_from_slice(tag.as_ref());
        let mut out = String::from(PREFIX);
        URL_SAFE_NO_PAD.encode_string(b, &mut out);
        out
    }

    /// What the session stores: never the secret, only its hash.
    pub fn hash(&self) -> [u8; HASH_BYTES] {
        hash_secret(&self.secret)
    }
}

pub fn hash_secret(secret: &[u8]) -> [u8; HASH_BYTES] {
    let d = digest::digest(&digest::SHA256, secret);
    let mut out = [0u8; HASH_BYTES];
    out.copy_from_slice(d.as_ref());
    out
}

pub fn looks_like_refresh_token(token: &[u8]) -> bool {
    token.starts_with(PREFIX.as_bytes())
}

/// The (sub, sid) a refresh token names, unauthenticated: only for cluster routing.
pub fn peek_session(token: &[u8]) -> Option<(String, String)> {
    let raw = URL_SAFE_NO_PAD
        .decode(token.strip_prefix(PREFIX.as_bytes())?)
        .ok()?;
    let body = raw.get(..raw.len().checked_sub(TAG_BYTES)?)?;
    let at = header_len(*body.first()?)?;
    let sub_len = u16::from_be_bytes(body.get(at..at + 2)?.try_into().ok()?) as usize;
    let sub = std::str::from_utf8(body.get(at + 2..at + 2 + sub_len)?).ok()?;
    let sid_at = at + 2 + sub_len;
    let sid_len = *body.get(sid_at)? as usize;
    let sid = std::str::from_utf8(body.get(sid_at + 1..sid_at + 1 + sid_len)?).ok()?;
    Some((sub.to_string(), sid.to_string()))
}

/// The bytes before the subject's length: version, created, generation and (version
/// 2) the incarnation. None for an unknown version.
fn header_len(version: u8) -> Option<usize> {
    match version {
        VERSION_1 => Some(1 + 8 + 8),
        VERSION => Some(1 + 8 + 8 + 8),
        _ => None,
    }
}

/// Whether a genuine refresh token belongs to the session stored under its name now
/// (and not to an earlier session that had the same SID).
pub fn same_incarnation(token: &RefreshToken, stored: &super::session::StoredSession) -> bool {
    token.created_ms == stored.created_ms && token.incarnation == stored.incarnation
}

/// Parses and authenticates a refresh token. Anything malformed or with a bad tag is
/// INVALID; an access token is INVALID with a pointer to the right command.
pub fn decode(token: &[u8], mac: &hmac::Key, max_bytes: usize) -> Result<RefreshToken> {
    let invalid = || Error::invalid("malformed refresh token");
    if token.len() > max_bytes {
        return Err(Error::invalid(format!(
            "token is longer than jwt.max-token-bytes ({max_bytes})"
        )));
    }
    if !looks_like_refresh_token(token) {
        return Err(Error::invalid(
            "not a refresh token (JWT.REFRESH takes the refresh token, not the access token)",
        ));
    }
    let raw = URL_SAFE_NO_PAD
        .decode(&token[PREFIX.len()..])
        .map_err(|_| invalid())?;
    let header = raw
        .first()
        .and_then(|v| header_len(*v))
        .ok_or_else(invalid)?;
    if raw.len() < header + 2 + 1 + SECRET_BYTES + TAG_BYTES {
        return Err(invalid());
    }
    let (body, tag) = raw.split_at(raw.len() - TAG_BYTES);
    hmac::verify(mac, body, tag)
        .map_err(|_| Error::invalid("refresh token signature does not verify"))?;
    let mut at = 1;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = body.get(at..at + n).ok_or_else(invalid)?;
        at += n;
        Ok(s)
    };
    let created_ms = i64::from_be_bytes(take(8)?.try_into().map_err(|_| invalid())?);
    let generation = u64::from_be_bytes(take(8)?.try_into().map_err(|_| invalid())?);
    let incarnation = match header {
        h if h > 1 + 8 + 8 => Some(i64::from_be_bytes(
            take(8)?.try_into().map_err(|_| invalid())?,
        ))
        .filter(|n| *n != 0),
        _ => None,
    };
    let sub_len = u16::from_be_bytes(take(2)?.try_into().map_err(|_| invalid())?) as usize;
    let sub = String::from_utf8(take(sub_len)?.to_vec()).map_err(|_| invalid())?;
    let sid_len = take(1)?[0] as usize;
    let sid = String::from_utf8(take(sid_len)?.to_vec()).map_err(|_| invalid())?;
    let secret: [u8; SECRET_BYTES] = take(SECRET_BYTES)?.try_into().map_err(|_| invalid())?;
    if at != body.len() {
        return Err(invalid());
    }
    Ok(RefreshToken {
        created_ms,
        generation,
        incarnation,
        sub,
        sid,
        secret,
    })
}

/// The rotation state of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationState {
    pub generation: u64,
    /// Hashes of the accepted current tokens (concatenated, HASH_BYTES each).
    pub current: Vec<u8>,
    /// Hashes of the immediate predecessors.
    pub previous: Vec<u8>,
    /// When the last rotation happened, ms.
    pub rotated_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The presented token is current: rotate to `state` (the new token's hash is current).
    Rotate(RotationState),
    /// A predecessor replayed inside the grace window: also accept `state`'s new sibling.
    Sibling(RotationState),
    /// A rotated-away token: revoke the session.
    Reuse,
}

fn contains(hashes: &[u8], h: &[u8; HASH_BYTES]) -> bool {
    // Hashes of secrets, compared without early exit all the same.
    hashes
        .chunks_exact(HASH_BYTES)
        .any(|c| c.iter().zip(h).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0)
}

/// Whether `presented` is one of the session's current refresh tokens (not rotated
/// away): what proves a caller may change the session without rotating (JWT.UPDATE).
pub fn is_current(state: &RotationState, presented: &RefreshToken) -> bool {
    presented.generation == state.generation && contains(&state.current, &presented.hash())
}

/// Decides what a presented refresh token does. `new_hash` is the hash of the token
/// that will be handed out if the presented one is accepted.
pub fn decide(
    state: &RotationState,
    presented: &RefreshToken,
    new_hash: &[u8; HASH_BYTES],
    now_ms: i64,
    grace_ms: i64,
) -> Result<Decision> {
    let h = presented.hash();
    if presented.generation > state.generation {
        // Only someone holding the node's refresh secret could have made this.
        return Err(Error::new(
            Code::Invalid,
            "refresh token is from the future",
        ));
    }
    if presented.generation == state.generation && contains(&state.current, &h) {
        return Ok(Decision::Rotate(RotationState {
            generation: state.generation + 1,
            current: new_hash.to_vec(),
            previous: state.current.clone(),
            rotated_ms: now_ms,
        }));
    }
    let in_grace = now_ms - state.rotated_ms < grace_ms;
    if presented.generation + 1 == state.generation && contains(&state.previous, &h) && in_grace {
        let mut current = state.current.clone();
        if current.len() / HASH_BYTES >= MAX_SIBLINGS {
            current.drain(..HASH_BYTES);
        }
        current.extend_from_slice(new_hash);
        return Ok(Decision::Sibling(RotationState {
            current,
            ..state.clone()
        }));
    }
    Ok(Decision::Reuse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::testing::Counter;
    use std::cell::Cell;

    fn mac() -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &[5u8; 32])
    }

    #[test]
    fn round_trip_and_tamper() {
        let rng = Counter(Cell::new(1));
        let t = RefreshToken::new(1234, 7, Some(42), "alice", "sid-1", &rng).unwrap();
        let s = t.encode(&mac());
        assert!(s.starts_with("jwtr_") && !s.contains('.'));
        assert_eq!(decode(s.as_bytes(), &mac(), 8192).unwrap(), t);
        assert_eq!(
            peek_session(s.as_bytes()),
            Some(("alice".to_string(), "sid-1".to_string()))
        );
        assert_eq!(peek_session(b"jwtr_AAAA"), None);
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[6u8; 32]);
        assert!(decode(s.as_bytes(), &other, 8192).is_err());
        let mut bytes = s.into_bytes();
        let n = bytes.len();
        bytes[n - 50] = if bytes[n - 50] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            decode(&bytes, &mac(), 8192).unwrap_err().code,
            Code::Invalid
        );
        assert!(decode(b"eyJ.a.b", &mac(), 8192)
            .unwrap_err()
            .msg
            .contains("access token"));
        assert!(decode(b"jwtr_!!", &mac(), 8192).is_err());
        assert!(decode(b"jwtr_", &mac(), 8192).is_err());
    }

    /// Tokens written by 0.1 (version 1, no incarnation) keep working after an upgrade.
    #[test]
    fn version_1_tokens_still_decode() {
        let mut body = vec![VERSION_1];
        body.extend_from_slice(&1234i64.to_be_bytes());
        body.extend_from_slice(&7u64.to_be_bytes());
        body.extend_from_slice(&5u16.to_be_bytes());
        body.extend_from_slice(b"alice");
        body.push(5);
        body.extend_from_slice(b"sid-1");
        body.extend_from_slice(&[3u8; 32]);
        let tag = hmac::sign(&mac(), &body);
        body.extend_from_slice(tag.as_ref());
        let s = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&body));
        let t = decode(s.as_bytes(), &mac(), 8192).unwrap();
        assert_eq!((t.created_ms, t.generation, t.incarnation), (1234, 7, None));
        assert_eq!((t.sub.as_str(), t.sid.as_str()), ("alice", "sid-1"));
        assert_eq!(
            peek_session(s.as_bytes()),
            Some(("alice".to_string(), "sid-1".to_string()))
        );
    }

    fn state(gen: u64, current: &[[u8; 32]], previous: &[[u8; 32]], rotated: i64) -> RotationState {
        RotationState {
            generation: gen,
            current: current.concat(),
            previous: previous.concat(),
            rotated_ms: rotated,
        }
    }

    fn token(gen: u64, secret: u8) -> RefreshToken {
        RefreshToken {
            created_ms: 1,
            generation: gen,
            incarnation: None,
            sub: "a".into(),
            sid: "s".into(),
            secret: [secret; 32],
        }
    }

    #[test]
    fn rotation_rules() {
        let t1 = token(1, 1);
        let t2 = token(2, 2);
        let new = hash_secret(&[9u8; 32]);
        let s1 = state(1, &[t1.hash()], &[], 0);
        // current -> rotate
        let Decision::Rotate(s2) = decide(&s1, &t1, &t2.hash(), 1000, 10_000).unwrap() else {
            panic!()
        };
        assert_eq!(s2.generation, 2);
        assert_eq!(s2.previous, t1.hash().to_vec());
        // predecessor inside grace -> sibling, both accepted
        let Decision::Sibling(s2b) = decide(&s2, &t1, &new, 5000, 10_000).unwrap() else {
            panic!()
        };
        assert_eq!(s2b.generation, 2);
        assert_eq!(s2b.current.len(), 64);
        assert_eq!(s2b.rotated_ms, 1000, "the window does not slide");
        // predecessor after grace -> reuse
        assert_eq!(
            decide(&s2, &t1, &new, 11_000, 10_000).unwrap(),
            Decision::Reuse
        );
        // grace 0: any replay is reuse
        assert_eq!(decide(&s2, &t1, &new, 1000, 0).unwrap(), Decision::Reuse);
        // older generation inside the window -> reuse
        let Decision::Rotate(s3) = decide(&s2, &t2, &new, 2000, 10_000).unwrap() else {
            panic!()
        };
        assert_eq!(
            decide(&s3, &t1, &hash_secret(&[8; 32]), 2001, 10_000).unwrap(),
            Decision::Reuse
        );
        // from the future
        assert!(decide(&s1, &token(5, 1), &new, 0, 0).is_err());
        // right generation, unknown secret (a stale sibling) -> reuse
        assert_eq!(
            decide(&s1, &token(1, 3), &new, 0, 0).unwrap(),
            Decision::Reuse
        );
    }

    #[test]
    fn siblings_are_capped() {
        let t1 = token(1, 1);
        let mut s = state(2, &[hash_secret(&[2; 32])], &[t1.hash()], 0);
        for i in 0..20u8 {
            let Decision::Sibling(n) =
                decide(&s, &t1, &hash_secret(&[100 + i; 32]), 1, 10).unwrap()
            else {
                panic!()
            };
            s = n;
        }
        assert_eq!(s.current.len(), MAX_SIBLINGS * HASH_BYTES);
    }
}

//! A cache of tokens whose signature verified, so the same access token presented on
//! every request of a session skips base64, HMAC/ECDSA and JSON after the first time.
//!
//! Only the work that cannot change is cached: the signature check and the parsed
//! claims. Every hit still checks `exp`/`nbf`/`iat` (current clock and leeway),
//! `iss`/`aud` (current expectation) and that the session is live. Any keyring change
//! bumps a generation that invalidates every entry, so a dropped or replaced key never
//! verifies from the cache.
//!
//! Direct-mapped: a SipHash of the token's tail (random keys per process, so slots
//! cannot be aimed at) picks one slot; a new token replaces the slot's old one. The stored token
//! is compared in full, in constant time, so timing cannot reveal a cached token.

use super::token::ClaimChecks;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;

pub struct CachedToken {
    token: Box<[u8]>,
    generation: u64,
    /// When the verifying key is dropped (retired keys), if ever.
    key_drop_at_ms: Option<i64>,
    /// Shared with the verifications that hit, so a hit copies nothing.
    pub payload: Arc<[u8]>,
    pub checks: ClaimChecks,
    /// The session key and the length of its index-key prefix, None when stateless.
    pub session: Option<(Arc<str>, usize)>,
}

pub struct VerifyCache {
    slots: Vec<Option<CachedToken>>,
    hasher: RandomState,
}

fn equal_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl VerifyCache {
    pub fn new(size: usize) -> VerifyCache {
        let mut slots = Vec::new();
        slots.resize_with(size, || None);
        VerifyCache { slots, hasher: RandomState::new() }
    }

    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// The slot of a token: a keyed hash of its last 64 bytes (the signature, which
    /// differs between any two tokens) and its length. The full token is compared after.
    fn slot(&self, token: &[u8]) -> Option<usize> {
        let n = self.slots.len();
        let tail = &token[token.len().saturating_sub(64)..];
        (n > 0).then(|| (self.hasher.hash_one((tail, token.len())) % n as u64) as usize)
    }

    pub fn get(&self, token: &[u8], generation: u64, now_ms: i64) -> Option<&CachedToken> {
        let entry = self.slots.get(self.slot(token)?)?.as_ref()?;
        let live = entry.key_drop_at_ms.is_none_or(|d| now_ms < d);
        (entry.generation == generation && live && equal_constant_time(&entry.token, token)).then_some(entry)
    }

    pub fn put(
        &mut self,
        token: &[u8],
        generation: u64,
        key_drop_at_ms: Option<i64>,
        payload: Arc<[u8]>,
        checks: ClaimChecks,
        session: Option<(Arc<str>, usize)>,
    ) {
        if let Some(i) = self.slot(token) {
            self.slots[i] = Some(CachedToken {
                token: token.into(),
                generation,
                key_drop_at_ms,
                payload,
                checks,
                session,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_misses_and_generations() {
        let mut c = VerifyCache::new(64);
        assert!(c.get(b"tok", 1, 0).is_none());
        c.put(b"tok", 1, None, Arc::from(&b"{}"[..]), ClaimChecks::default(), None);
        assert_eq!(&*c.get(b"tok", 1, 0).unwrap().payload, b"{}");
        assert!(c.get(b"tok", 2, 0).is_none(), "a keyring change invalidates");
        assert!(c.get(b"tok2", 1, 0).is_none());
        assert!(c.get(b"to", 1, 0).is_none());
        c.put(b"old", 1, Some(100), Arc::from(&b"{}"[..]), ClaimChecks::default(), None);
        assert!(c.get(b"old", 1, 99).is_some());
        assert!(c.get(b"old", 1, 100).is_none(), "its key has been dropped");
        let mut off = VerifyCache::new(0);
        off.put(b"tok", 1, None, Arc::from(&b"{}"[..]), ClaimChecks::default(), None);
        assert!(off.get(b"tok", 1, 0).is_none());
    }

    #[test]
    fn constant_time_compare() {
        assert!(equal_constant_time(b"abc", b"abc"));
        assert!(!equal_constant_time(b"abc", b"abd"));
        assert!(!equal_constant_time(b"abc", b"ab"));
    }
}

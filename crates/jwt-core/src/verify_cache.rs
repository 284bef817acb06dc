//! A cache of tokens whose signature verified, so the same access token presented on
//! every request of a session skips base64, HMAC/ECDSA and JSON after the first time.
//!
//! Only the work that cannot change is cached: the signature check and the parsed
//! claims. Every hit still checks `exp`/`nbf`/`iat` (current clock and leeway),
//! `iss`/`aud` (current expectation) and that the session is live. Any keyring change
//! bumps a generation that invalidates every entry, so a dropped or replaced key never
//! verifies from the cache.
//!
//! Direct-mapped: a seeded hash of the token's tail (random seed per process) picks
//! one slot; a new token replaces the slot's old one. The stored token
//! is compared in full, in constant time, so timing cannot reveal a cached token.
//!
//! Admitted on second sight: a token enters the cache the second time it misses in its
//! slot (each slot remembers a fingerprint of the last token that missed there). With
//! many users most tokens are seen once per cache lifetime: caching them would only
//! copy the token and evict a useful entry. A session's token pays one extra
//! verification; from its third request on, it hits.

use crate::claims::ClaimChecks;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;

/// A cheap seeded mix of the token's tail. Slots only steer a cache: aiming a token at a
/// slot could at worst evict another entry (a slower next VERIFY, never a wrong one), and
/// the per-process random seed keeps even that from being planned.
fn mix(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
    }
    h
}

/// What a verification established about a token. `S` is what the caller keeps about
/// the token's session (None when stateless).
pub struct Verdict<S> {
    /// The key that verified the signature.
    pub kid: Arc<str>,
    /// When that key is dropped (retired keys), if ever.
    pub key_drop_at_ms: Option<i64>,
    /// Shared with the verifications that hit, so a hit copies nothing.
    pub payload: Arc<[u8]>,
    pub checks: ClaimChecks,
    pub session: Option<S>,
}

struct CachedToken<S> {
    token: Box<[u8]>,
    generation: u64,
    verdict: Verdict<S>,
}

pub struct VerifyCache<S> {
    slots: Vec<Option<CachedToken<S>>>,
    /// Per slot, the fingerprint of the last token that missed there (0: none).
    seen: Vec<u64>,
    seed: u64,
}

/// No early exit: the time taken does not depend on where the tokens differ.
fn equal_constant_time(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u64;
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (a8.remainder(), b8.remainder());
    for (x, y) in a8.zip(b8) {
        let mut wx = [0u8; 8];
        let mut wy = [0u8; 8];
        wx.copy_from_slice(x);
        wy.copy_from_slice(y);
        diff |= u64::from_ne_bytes(wx) ^ u64::from_ne_bytes(wy);
    }
    for (x, y) in ra.iter().zip(rb) {
        diff |= (x ^ y) as u64;
    }
    diff == 0
}

impl<S> VerifyCache<S> {
    pub fn new(size: usize) -> VerifyCache<S> {
        let mut slots = Vec::new();
        slots.resize_with(size, || None);
        // A random seed per cache, from the standard library's per-process random keys.
        VerifyCache {
            slots,
            seen: vec![0; size],
            seed: RandomState::new().hash_one(size),
        }
    }

    /// Slots in use (an INFO gauge; walks the slots).
    pub fn entries(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// The slot of a token: a seeded hash of its last 64 bytes (the signature, which
    /// differs between any two tokens) and its length. The full token is compared after.
    fn slot(&self, token: &[u8]) -> Option<usize> {
        let n = self.slots.len();
        let tail = &token[token.len().saturating_sub(64)..];
        (n > 0).then(|| (mix(self.seed, tail) % n as u64) as usize)
    }

    pub fn get(&self, token: &[u8], generation: u64, now_ms: i64) -> Option<&Verdict<S>> {
        let entry = self.slots.get(self.slot(token)?)?.as_ref()?;
        let live = entry.verdict.key_drop_at_ms.is_none_or(|d| now_ms < d);
        (entry.generation == generation && live && equal_constant_time(&entry.token, token))
            .then_some(&entry.verdict)
    }

    /// Caches the verdict of a token that missed, if this is its second miss in its slot
    /// (see the module comment); `verdict` is only called then.
    pub fn put(&mut self, token: &[u8], generation: u64, verdict: impl FnOnce() -> Verdict<S>) {
        let Some(i) = self.slot(token) else { return };
        // The whole token, with another seed than the slot's: two tokens sharing a
        // slot differ here. A fingerprint collision only admits a token early.
        let fingerprint = mix(!self.seed, token) | 1;
        if self.seen[i] != fingerprint {
            self.seen[i] = fingerprint;
            return;
        }
        self.slots[i] = Some(CachedToken {
            token: token.into(),
            generation,
            verdict: verdict(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(key_drop_at_ms: Option<i64>) -> Verdict<()> {
        Verdict {
            kid: Arc::from("k"),
            key_drop_at_ms,
            payload: Arc::from(&b"{}"[..]),
            checks: ClaimChecks::default(),
            session: None,
        }
    }

    #[test]
    fn hits_misses_and_generations() {
        let mut c: VerifyCache<()> = VerifyCache::new(64);
        assert!(c.get(b"tok", 1, 0).is_none());
        c.put(b"tok", 1, || verdict(None));
        assert!(c.get(b"tok", 1, 0).is_none(), "admitted on second sight");
        c.put(b"tok", 1, || verdict(None));
        assert_eq!(&*c.get(b"tok", 1, 0).unwrap().payload, b"{}");
        assert!(
            c.get(b"tok", 2, 0).is_none(),
            "a keyring change invalidates"
        );
        assert!(c.get(b"tok2", 1, 0).is_none());
        assert!(c.get(b"to", 1, 0).is_none());
        c.put(b"old", 1, || verdict(Some(100)));
        c.put(b"old", 1, || verdict(Some(100)));
        assert!(c.get(b"old", 1, 99).is_some());
        assert!(c.get(b"old", 1, 100).is_none(), "its key has been dropped");
        let mut off: VerifyCache<()> = VerifyCache::new(0);
        off.put(b"tok", 1, || verdict(None));
        off.put(b"tok", 1, || verdict(None));
        assert!(off.get(b"tok", 1, 0).is_none());
    }

    #[test]
    fn a_token_seen_once_is_not_admitted_nor_evicts() {
        let mut c: VerifyCache<()> = VerifyCache::new(1);
        c.put(b"a", 1, || verdict(None));
        c.put(b"a", 1, || verdict(None));
        assert!(c.get(b"a", 1, 0).is_some());
        // One-off tokens through the same slot: the cached one stays.
        c.put(b"b", 1, || panic!("not built for a first sight"));
        c.put(b"c", 1, || verdict(None));
        assert!(c.get(b"a", 1, 0).is_some());
        // A second miss in a row admits (replacing the slot's entry).
        c.put(b"c", 1, || verdict(None));
        assert!(c.get(b"c", 1, 0).is_some() && c.get(b"a", 1, 0).is_none());
    }

    #[test]
    fn constant_time_compare() {
        assert!(equal_constant_time(b"abc", b"abc"));
        assert!(!equal_constant_time(b"abc", b"abd"));
        assert!(!equal_constant_time(b"abc", b"ab"));
        let long: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        assert!(equal_constant_time(&long, &long.clone()));
        for i in [0, 7, 8, 150, 295, 299] {
            let mut other = long.clone();
            other[i] ^= 1;
            assert!(!equal_constant_time(&long, &other), "{i}");
        }
    }

    #[test]
    fn slots_spread() {
        let c: VerifyCache<()> = VerifyCache::new(64);
        let used: std::collections::HashSet<usize> = (0..256u32)
            .filter_map(|i| c.slot(format!("token-{i}-signature").as_bytes()))
            .collect();
        assert!(used.len() > 40, "{}", used.len());
    }
}

//! Signing keys. The keyring is node state (not a Redis key): it is saved as RDB aux
//! data and replicated as one deterministic blob, so it serializes itself here.
//!
//! A key is bound to one algorithm; the token header's `alg` must equal it, which is
//! what makes HS/RS confusion impossible. Keys are parsed once, when they enter the
//! keyring (jsonwebtoken 9 re-parses EC/Ed25519 keys on every signature; we do not).
//!
//! Life of a key: *ready* (verifies), *active* (the one that signs; at most one),
//! *retired* (verifies until `drop_at_ms`, then is treated as unknown and purged).

use crate::error::{Error, Result};
use crate::random::Random;
use ring::hmac;

pub use crate::alg::{Alg, ALL_ALGS};
pub use crate::key::{random_kid, validate_kid, Crypto, Key, RSA_SIGNING_BITS};

mod format;

#[derive(Default)]
pub struct Keyring {
    pub(crate) keys: Vec<Key>,
    active: Option<usize>,
    /// MACs refresh tokens so a forged one is told apart from a rotated-away one. Node
    /// state like the keys; independent of key rotation (refresh tokens outlive keys).
    refresh_secret: Option<hmac::Key>,
    refresh_secret_bytes: Vec<u8>,
    /// Other refresh secrets still accepted (a cluster whose primaries each made one
    /// before they converged): verification only, in a fixed order.
    older_refresh: Vec<(Vec<u8>, hmac::Key)>,
    /// Kids of keys revoked as compromised: their material is gone and the kid can
    /// never come back (a key's state only moves forward).
    revoked: Vec<String>,
    /// Sessions created before this time (ms) have ended: the O(1) "log everyone out".
    sessions_cutoff_ms: i64,
}

/// One row of JWT.KEY LIST.
pub struct KeyInfo {
    pub weak: bool,
    pub kid: String,
    pub alg: Alg,
    pub created_ms: i64,
    pub state: &'static str,
    pub drop_at_ms: Option<i64>,
}

impl Keyring {
    pub const fn empty() -> Keyring {
        Keyring {
            keys: Vec::new(),
            active: None,
            refresh_secret: None,
            refresh_secret_bytes: Vec::new(),
            older_refresh: Vec::new(),
            revoked: Vec::new(),
            sessions_cutoff_ms: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// A key by kid, live or not (for administration).
    pub fn get(&self, kid: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn refresh_secret(&self) -> Option<&hmac::Key> {
        self.refresh_secret.as_ref()
    }

    pub fn set_refresh_secret(&mut self, secret: Vec<u8>) {
        self.refresh_secret = Some(hmac::Key::new(hmac::HMAC_SHA256, &secret));
        self.refresh_secret_bytes = secret;
    }

    /// Every refresh secret that verifies: the signing one first.
    pub fn refresh_macs(&self) -> impl Iterator<Item = &hmac::Key> {
        self.refresh_secret
            .iter()
            .chain(self.older_refresh.iter().map(|(_, k)| k))
    }

    fn refresh_secret_bytes_all(&self) -> Vec<Vec<u8>> {
        let mut all: Vec<Vec<u8>> = self.older_refresh.iter().map(|(b, _)| b.clone()).collect();
        if !self.refresh_secret_bytes.is_empty() {
            all.push(self.refresh_secret_bytes.clone());
        }
        all
    }

    /// Sets every refresh secret: the smallest signs, the others verify, so any node
    /// given the same set chooses the same one.
    fn set_refresh_secrets(&mut self, mut all: Vec<Vec<u8>>) {
        all.sort();
        all.dedup();
        let mut rest = all.into_iter();
        match rest.next() {
            Some(first) => self.set_refresh_secret(first),
            None => {
                self.refresh_secret = None;
                self.refresh_secret_bytes = Vec::new();
            }
        }
        self.older_refresh = rest
            .map(|b| {
                let k = hmac::Key::new(hmac::HMAC_SHA256, &b);
                (b, k)
            })
            .collect();
    }

    /// The key whose canonical header is exactly `header_b64`, if any.
    pub fn by_encoded_header(&self, header_b64: &[u8]) -> Option<&Key> {
        self.keys
            .iter()
            .find(|k| k.header_b64().as_bytes() == header_b64)
    }

    pub fn active(&self) -> Option<&Key> {
        self.active.and_then(|i| self.keys.get(i))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter()
    }

    /// Adds a key; a kid is unique. The first key of an empty keyring becomes active.
    pub fn insert(&mut self, key: Key) -> Result<()> {
        if self.revoked.contains(&key.kid) {
            return Err(Error::syntax(format!(
                "kid '{}' belonged to a revoked key and cannot be used again",
                key.kid
            )));
        }
        if self.get(&key.kid).is_some() {
            return Err(Error::syntax(format!(
                "a key with kid '{}' already exists",
                key.kid
            )));
        }
        self.keys.push(key);
        Ok(())
    }

    pub fn activate(&mut self, kid: &str, now_ms: i64) -> Result<()> {
        let i = self.index(kid)?;
        if self.keys[i].legacy {
            return Err(Error::syntax(format!(
                "key '{kid}' is a LEGACY key: it only verifies, never signs"
            )));
        }
        if self.keys[i].retired_ms.is_some() {
            return Err(Error::syntax(format!(
                "key '{kid}' is retired and cannot sign again"
            )));
        }
        if self.active != Some(i) {
            self.keys[i].activated_ms = Some(now_ms);
        }
        self.active = Some(i);
        Ok(())
    }

    fn index(&self, kid: &str) -> Result<usize> {
        self.keys
            .iter()
            .position(|k| k.kid == kid)
            .ok_or_else(|| Error::syntax(format!("no key with kid '{kid}'")))
    }

    /// Zero configuration: an HS256 key becomes active if none is, and a refresh-token
    /// MAC secret is made if there is none, both from `rng`.
    pub fn ensure_signing_key(&mut self, now_ms: i64, rng: &dyn Random) -> Result<()> {
        if self.active().is_none() {
            let kid = random_kid(rng)?;
            self.insert(Key::generate(Alg::HS256, &kid, now_ms, rng)?)?;
            self.activate(&kid, now_ms)?;
        }
        if self.refresh_secret().is_none() {
            let mut secret = vec![0u8; 32];
            rng.fill(&mut secret)?;
            self.set_refresh_secret(secret);
        }
        Ok(())
    }

    /// Stops a key from signing; it verifies for `retention_ms` more, then is dropped.
    /// The active key cannot be retired: activate (or ROTATE to) another first.
    pub fn retire(&mut self, kid: &str, now_ms: i64, retention_ms: i64) -> Result<()> {
        let i = self.index(kid)?;
        if self.active == Some(i) {
            return Err(Error::syntax(format!(
                "key '{kid}' is the active signing key: ACTIVATE another key (or ROTATE) first"
            )));
        }
        let k = &mut self.keys[i];
        if k.retired_ms.is_none() {
            k.retired_ms = Some(now_ms);
            k.drop_at_ms = Some(now_ms.saturating_add(retention_ms).max(k.valid_until_ms()));
        }
        Ok(())
    }

    /// Keeps a retired key until at least `until_ms` (plus `slack_ms`, so that a session
    /// touched again and again moves the drop time once per slack, not every time).
    pub fn extend_drop(&mut self, kid: &str, until_ms: i64, slack_ms: i64) -> Result<()> {
        let i = self.index(kid)?;
        let k = &mut self.keys[i];
        if k.needs_later_drop(until_ms) {
            k.drop_at_ms = Some(until_ms.saturating_add(slack_ms));
        }
        k.note_valid_until(until_ms);
        Ok(())
    }

    /// A new key (algorithm `alg`, else the active key's, else HS256) becomes active; the
    /// previous active key is retired with `retention_ms`. Returns the new kid.
    pub fn rotate(
        &mut self,
        alg: Option<Alg>,
        now_ms: i64,
        retention_ms: i64,
        rng: &dyn Random,
    ) -> Result<String> {
        let alg = alg
            .or_else(|| self.active().map(|k| k.alg.successor()))
            .unwrap_or(Alg::HS256);
        let kid = self.fresh_kid(rng)?;
        let key = Key::generate(alg, &kid, now_ms, rng)?;
        let previous = self.active().map(|k| k.kid.clone());
        self.insert(key)?;
        self.activate(&kid, now_ms)?;
        if let Some(old) = previous {
            self.retire(&old, now_ms, retention_ms)?;
        }
        Ok(kid)
    }

    /// Breach response: the key is gone at once (every token it signed stops
    /// verifying) and its kid is never accepted again. If it was the signing key, the
    /// most recently activated key that may still sign takes over, else a new key of
    /// the same family is generated (see `Alg::successor`). Returns the new active kid
    /// when the active key changed.
    pub fn revoke(&mut self, kid: &str, now_ms: i64, rng: &dyn Random) -> Result<Option<String>> {
        let i = self.index(kid)?;
        let was_active = self.active == Some(i);
        let active_kid = self.active().map(|k| k.kid.clone());
        let alg = self.keys[i].alg;
        self.keys.remove(i);
        self.revoked.push(kid.to_string());
        self.active = active_kid.and_then(|a| self.keys.iter().position(|k| k.kid == a));
        if !was_active {
            return Ok(None);
        }
        // A key that may sign: not retired, and not LEGACY (those only verify).
        let successor = self
            .keys
            .iter()
            .filter(|k| k.retired_ms.is_none() && !k.legacy)
            .max_by_key(|k| (k.activated_ms.unwrap_or(0), k.created_ms))
            .map(|k| k.kid.clone());
        let kid = match successor {
            Some(kid) => kid,
            None => {
                let kid = self.fresh_kid(rng)?;
                self.insert(Key::generate(alg.successor(), &kid, now_ms, rng)?)?;
                kid
            }
        };
        self.activate(&kid, now_ms)?;
        Ok(Some(kid))
    }

    pub fn is_revoked(&self, kid: &str) -> bool {
        self.revoked.iter().any(|k| k == kid)
    }

    /// Ends every session created before `at_ms` (never moves back).
    pub fn cut_off_sessions(&mut self, at_ms: i64) {
        self.sessions_cutoff_ms = self.sessions_cutoff_ms.max(at_ms);
    }

    pub fn sessions_cutoff_ms(&self) -> i64 {
        self.sessions_cutoff_ms
    }

    /// Merges another node's keyring into this one (cluster: one keyring for all the
    /// primaries). Order-independent and idempotent, so nodes that exchange keyrings in
    /// any order end equal: keys are united by kid (revoked kids stay out, keys past
    /// their drop time are not brought back); a key's state only moves forward (the
    /// later activation, the earlier retirement, the later drop time); the active key is
    /// the last activated, ties broken by kid; refresh secrets are united (the smallest
    /// signs); the sessions cutoff is the later one. True when this keyring changed.
    pub fn merge(&mut self, other: &Keyring, now_ms: i64) -> Result<bool> {
        let before = self.digest();
        let mut revoked = self.revoked.clone();
        revoked.extend(other.revoked.iter().cloned());
        revoked.sort();
        revoked.dedup();
        let mut keys: Vec<Key> = Vec::new();
        for k in self.keys.iter().chain(other.keys.iter()) {
            if revoked.contains(&k.kid) || (!k.is_live(now_ms) && self.get(&k.kid).is_none()) {
                continue;
            }
            match keys.iter_mut().find(|x| x.kid == k.kid) {
                // Two different keys under one kid (made on two primaries before they
                // synced): one wins everywhere, the earlier made (then by algorithm and
                // material), whatever the order of merges; the other is dropped whole.
                Some(x) if x.alg != k.alg || x.material != k.material => {
                    if rank(k, now_ms) < rank(x, now_ms) {
                        *x = k.duplicate()?;
                    }
                }
                Some(x) => {
                    x.activated_ms = x.activated_ms.max(k.activated_ms);
                    x.retired_ms = match (x.retired_ms, k.retired_ms) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    x.drop_at_ms = match (x.drop_at_ms, k.drop_at_ms) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                    x.note_valid_until(k.valid_until_ms());
                }
                None => keys.push(k.duplicate()?),
            }
        }
        // A retired key stays until every token any node signed with it has ended: the
        // node that retired it knew only its own record, this one may know a later one
        // (the max of maxes, so the order of merges does not matter).
        for k in &mut keys {
            if k.retired_ms.is_some() && k.needs_later_drop(k.valid_until_ms()) {
                k.drop_at_ms = Some(k.valid_until_ms());
            }
        }
        keys.sort_by(|a, b| (a.created_ms, &a.kid).cmp(&(b.created_ms, &b.kid)));
        let active = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.retired_ms.is_none() && !k.legacy && k.activated_ms.is_some())
            .max_by(|(_, a), (_, b)| (a.activated_ms, &a.kid).cmp(&(b.activated_ms, &b.kid)))
            .map(|(i, _)| i);
        let mut secrets = self.refresh_secret_bytes_all();
        secrets.extend(other.refresh_secret_bytes_all());
        self.keys = keys;
        self.active = active;
        self.revoked = revoked;
        self.sessions_cutoff_ms = self.sessions_cutoff_ms.max(other.sessions_cutoff_ms);
        self.set_refresh_secrets(secrets);
        Ok(self.digest() != before)
    }

    /// What nodes compare to know they hold the same keyring: a SHA-256 of its
    /// serialized form without the per-key `valid_until` record (which every signature
    /// moves, and which travels with the next real change).
    pub fn digest(&self) -> [u8; 32] {
        let mut doc: serde_json::Value =
            serde_json::from_slice(&self.to_bytes()).unwrap_or(serde_json::Value::Null);
        if let Some(keys) = doc.get_mut("keys").and_then(|k| k.as_array_mut()) {
            for k in keys {
                if let Some(o) = k.as_object_mut() {
                    o.remove("valid_until");
                }
            }
        }
        let bytes = serde_json::to_vec(&doc).unwrap_or_default();
        let d = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    pub fn fresh_kid(&self, rng: &dyn Random) -> Result<String> {
        loop {
            let kid = random_kid(rng)?;
            if self.get(&kid).is_none() && !self.is_revoked(&kid) {
                return Ok(kid);
            }
        }
    }

    /// Removes keys past their drop time; true when something was removed.
    pub fn purge(&mut self, now_ms: i64) -> bool {
        let active_kid = self.active().map(|k| k.kid.clone());
        let before = self.keys.len();
        self.keys.retain(|k| k.is_live(now_ms));
        self.active = active_kid.and_then(|kid| self.keys.iter().position(|k| k.kid == kid));
        self.keys.len() != before
    }

    pub fn list(&self) -> Vec<KeyInfo> {
        self.keys
            .iter()
            .enumerate()
            .map(|(i, k)| KeyInfo {
                weak: k.is_weak(),
                kid: k.kid.clone(),
                alg: k.alg,
                created_ms: k.created_ms,
                state: if self.active == Some(i) {
                    "active"
                } else if k.legacy {
                    "legacy"
                } else if k.retired_ms.is_some() {
                    "retired"
                } else {
                    "ready"
                },
                drop_at_ms: k.drop_at_ms,
            })
            .collect()
    }

    /// The JSON Web Key Set of the public keys that may still verify.
    pub fn jwks(&self, now_ms: i64) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .filter(|k| k.is_live(now_ms))
            .filter_map(Key::public_jwk)
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// Which of two different keys under one kid wins a keyring merge: the smaller. A
/// live key beats one past its drop time (a kid used again after its key was purged
/// here, while another node still holds the old one), then the earlier made.
fn rank(k: &Key, now_ms: i64) -> (bool, i64, &'static str, &[u8]) {
    (!k.is_live(now_ms), k.created_ms, k.alg.name(), &k.material)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pem;

    fn node(seed: u8, kid: &str, at: i64) -> Keyring {
        let rng = Counter(Cell::new(seed));
        let mut ring = Keyring::default();
        ring.insert(Key::generate(Alg::HS256, kid, at, &rng).unwrap())
            .unwrap();
        ring.activate(kid, at).unwrap();
        ring.set_refresh_secret(vec![seed; 32]);
        ring
    }

    #[test]
    fn merging_converges_whatever_the_order() {
        // Two primaries each made a first key at once.
        let (a, b) = (node(1, "ka", 100), node(2, "kb", 101));
        let mut ab = Keyring::from_bytes(&a.to_bytes()).unwrap();
        assert!(ab.merge(&b, 0).unwrap());
        let mut ba = Keyring::from_bytes(&b.to_bytes()).unwrap();
        assert!(ba.merge(&a, 0).unwrap());
        assert_eq!(ab.to_bytes(), ba.to_bytes(), "same keyring on both");
        assert_eq!(ab.active().unwrap().kid, "kb", "the last activated signs");
        assert!(ab.get("ka").is_some(), "the other still verifies");
        assert_eq!(ab.refresh_macs().count(), 2, "both refresh secrets verify");
        assert!(!ab.merge(&ba, 0).unwrap(), "idempotent");
        assert_eq!(ab.digest(), ba.digest());
        ab.get("ka").unwrap().note_valid_until(9_999);
        assert_eq!(
            ab.digest(),
            ba.digest(),
            "signatures do not make nodes differ"
        );
        // State only moves forward: a retirement and a revocation win.
        let mut c = Keyring::from_bytes(&ab.to_bytes()).unwrap();
        c.rotate(Some(Alg::HS256), 500, 1_000, &Counter(Cell::new(9)))
            .unwrap();
        c.revoke("ka", 600, &Counter(Cell::new(10))).unwrap();
        c.cut_off_sessions(700);
        assert!(ab.merge(&c, 0).unwrap());
        assert!(ab.get("ka").is_none() && ab.is_revoked("ka"));
        assert!(ab.get("kb").unwrap().retired_ms.is_some());
        assert_eq!(ab.active().unwrap().kid, c.active().unwrap().kid);
        assert_eq!(ab.sessions_cutoff_ms(), 700);
        // The older keyring does not bring the revoked key back.
        let mut old = Keyring::from_bytes(&a.to_bytes()).unwrap();
        old.merge(&ab, 0).unwrap();
        assert_eq!(old.to_bytes(), ab.to_bytes());
        // Keys past their drop time are not brought back to a node that purged them.
        let mut fresh = Keyring::default();
        fresh.merge(&ab, i64::MAX).unwrap();
        assert!(fresh.get("kb").is_none());
    }

    #[test]
    fn two_keys_under_one_kid_merge_to_the_same_one_everywhere() {
        // Two primaries generated kid "k" before they synced: other material.
        let (a, b) = (node(1, "k", 100), node(2, "k", 100));
        let mut ab = Keyring::from_bytes(&a.to_bytes()).unwrap();
        ab.merge(&b, 0).unwrap();
        let mut ba = Keyring::from_bytes(&b.to_bytes()).unwrap();
        ba.merge(&a, 0).unwrap();
        assert_eq!(ab.digest(), ba.digest(), "one winner, whatever the order");
        assert_eq!(ab.keys().count(), 1);
        assert!(!ab.merge(&ba, 0).unwrap(), "converged");
        // An earlier-made key wins over a later one.
        let c = node(3, "k", 50);
        ab.merge(&c, 0).unwrap();
        assert_eq!(ab.get("k").unwrap().created_ms, 50);
        // But not a dead one: "k" retired and past its drop time on one node, used
        // again for a new key on another, which keeps it.
        let rng = Counter(Cell::new(5));
        let mut old = node(4, "k", 10);
        old.rotate(None, 20, 10, &rng).unwrap(); // "k" retired at 20, dropped at 30
        let mut new = node(6, "k", 40);
        assert!(new.merge(&old, 35).is_ok());
        assert_eq!(new.get("k").unwrap().created_ms, 40);
        assert_eq!(new.active().unwrap().kid, "k");
    }

    #[test]
    fn a_retirement_elsewhere_keeps_the_key_for_the_tokens_signed_here() {
        let rng = Counter(Cell::new(9));
        // Two primaries share key "k"; A then signs a token with it valid until 10,000.
        let mut a = node(1, "k", 100);
        let mut b = Keyring::from_bytes(&a.to_bytes()).unwrap();
        a.get("k").unwrap().note_valid_until(10_000);
        // B rotates at 500 with a retention of 100: by its own record, "k" goes at 600.
        b.rotate(None, 500, 100, &rng).unwrap();
        assert_eq!(b.get("k").unwrap().drop_at_ms, Some(600));
        // A learns of the retirement and keeps "k" for its token; B learns that back.
        assert!(a.merge(&b, 700).unwrap());
        assert_eq!(a.get("k").unwrap().drop_at_ms, Some(10_000));
        assert!(a.get("k").unwrap().is_live(9_999));
        assert!(b.merge(&a, 700).unwrap());
        assert_eq!(b.get("k").unwrap().drop_at_ms, Some(10_000));
        assert_eq!(a.digest(), b.digest());
    }

    #[test]
    fn revoking_the_active_key_never_hands_signing_to_a_legacy_key() {
        let rng = Counter(Cell::new(7));
        let mut ring = node(1, "leaked", 100);
        ring.insert(Key::legacy("old", Alg::HS256, b"shhhhh", 200).unwrap())
            .unwrap();
        let successor = ring.revoke("leaked", 300, &rng).unwrap().unwrap();
        assert_ne!(successor, "old");
        assert_eq!(ring.active().unwrap().kid, successor);
        assert!(ring.get("leaked").is_none());
        assert!(ring.get("old").unwrap().legacy, "still verifies");
    }

    #[test]
    fn legacy_keys_verify_tokens_without_kid_and_never_sign() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let mut ring = Keyring::default();
        ring.insert(Key::legacy("old", Alg::HS256, b"shhhhh", 0).unwrap())
            .unwrap();
        assert!(ring.activate("old", 0).is_err(), "never signs");
        assert!(ring.list()[0].weak);
        assert_eq!(ring.list()[0].state, "legacy");
        let back = Keyring::from_bytes(&ring.to_bytes()).unwrap();
        assert!(back.get("old").unwrap().legacy);
        // A token as jsonwebtoken makes it: {"alg":"HS256","typ":"JWT"}, no kid.
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(r#"{"foo":"bar","iat":1}"#);
        let input = format!("{header}.{body}");
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"shhhhh"),
            input.as_bytes(),
        );
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
        let parts = crate::jws::split(token.as_bytes(), 8192).unwrap();
        assert_eq!(
            crate::jws::verify_signature(&parts, &back, 0).unwrap().kid,
            "old"
        );
        let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
        let parts = crate::jws::split(forged.as_bytes(), 8192).unwrap();
        assert!(crate::jws::verify_signature(&parts, &back, 0).is_err());
        // Without LEGACY keys a token without kid is refused as before.
        let parts = crate::jws::split(token.as_bytes(), 8192).unwrap();
        assert!(crate::jws::verify_signature(&parts, &Keyring::default(), 0).is_err());
        assert!(Key::legacy("k", Alg::ES256, b"x", 0).is_err());
        assert!(Key::legacy("k", Alg::HS256, b"-----BEGIN PUBLIC KEY-----", 0).is_err());
    }
    use crate::random::testing::Counter;
    use std::cell::Cell;

    fn rng() -> Counter {
        Counter(Cell::new(1))
    }

    #[test]
    fn every_generated_algorithm_signs_and_verifies() {
        for alg in crate::alg::GENERATED_ALGS {
            let k = Key::generate(alg, "k1", 5, &rng()).unwrap();
            let sig = k.sign(b"abc").unwrap();
            assert!(k.verify(b"abc", &sig), "{alg:?}");
            assert!(!k.verify(b"abd", &sig), "{alg:?}");
            assert_eq!(k.public_jwk().is_none(), alg.is_hmac());
            // material round trip through export/import
            let back = Key::import("k1", alg, &k.export(), 5).unwrap();
            assert!(back.verify(b"abc", &sig), "{alg:?} export/import");
        }
        assert!(Key::generate(Alg::RS256, "r", 0, &rng()).is_err());
    }

    #[test]
    fn ed25519_exports_as_pkcs8_v1() {
        let k = Key::generate(Alg::EdDSA, "e", 0, &rng()).unwrap();
        let (_, der) = pem::decode(&k.export()).unwrap();
        assert_eq!(der.len(), 48);
        assert_eq!(&der[..5], &[0x30, 0x2e, 0x02, 0x01, 0x00]);
        let back = Key::import("e", Alg::EdDSA, &k.export(), 0).unwrap();
        assert!(back.verify(b"m", &k.sign(b"m").unwrap()));
    }

    #[test]
    fn zero_ecdsa_signature_rejected() {
        let k = Key::generate(Alg::ES256, "e", 0, &rng()).unwrap();
        assert!(!k.verify(b"abc", &[0u8; 64]));
    }

    #[test]
    fn jwk_has_no_private_parts() {
        for alg in [Alg::ES256, Alg::ES384, Alg::EdDSA] {
            let k = Key::generate(alg, "k", 0, &rng()).unwrap();
            let jwk = k.public_jwk().unwrap();
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(jwk.get(private).is_none());
            }
            assert_eq!(jwk["kid"], "k");
            assert_eq!(jwk["use"], "sig");
        }
    }

    #[test]
    fn weak_secret_and_bad_kid_rejected() {
        assert!(Key::new("k", Alg::HS256, vec![1; 31], 0).is_err());
        assert!(Key::new("k", Alg::HS512, vec![1; 63], 0).is_err());
        assert!(Key::new("bad kid", Alg::HS256, vec![1; 32], 0).is_err());
        assert!(Key::new("\"", Alg::HS256, vec![1; 32], 0).is_err());
        assert!(Key::new(&"k".repeat(65), Alg::HS256, vec![1; 32], 0).is_err());
        assert!(Key::import("k", Alg::ES256, b"not pem", 0).is_err());
        assert!(Key::import(
            "k",
            Alg::ES256,
            pem::encode("PRIVATE KEY", &[1, 2, 3]).as_bytes(),
            0
        )
        .is_err());
        let ed = Key::generate(Alg::EdDSA, "k", 0, &rng()).unwrap();
        assert!(
            Key::import("k", Alg::ES256, &ed.export(), 0).is_err(),
            "an Ed25519 key is not an ES256 key"
        );
    }

    #[test]
    fn alg_names() {
        assert_eq!(Alg::from_header("HS256"), Some(Alg::HS256));
        assert_eq!(Alg::from_header("hs256"), None);
        assert_eq!(Alg::from_header("none"), None);
        assert_eq!(Alg::from_arg("eddsa"), Some(Alg::EdDSA));
    }

    #[test]
    fn rotation_and_retirement() {
        let r = rng();
        let mut ring = Keyring::default();
        ring.insert(Key::generate(Alg::HS256, "a", 0, &r).unwrap())
            .unwrap();
        ring.activate("a", 0).unwrap();
        assert!(
            ring.retire("a", 10, 100).is_err(),
            "the active key cannot be retired"
        );
        let b = ring.rotate(Some(Alg::ES256), 10, 100, &r).unwrap();
        assert_eq!(ring.active().unwrap().kid, b);
        assert!(ring.get("a").unwrap().is_live(109));
        assert!(
            !ring.get("a").unwrap().is_live(110),
            "dropped after retention"
        );
        assert!(ring.activate("a", 20).is_err());
        assert!(!ring.purge(109));
        assert!(ring.purge(110));
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.active().unwrap().kid, b);
        let list = ring.list();
        assert_eq!(list[0].state, "active");
    }

    #[test]
    fn retirement_waits_for_the_longest_token() {
        let r = rng();
        let mut ring = Keyring::default();
        ring.insert(Key::generate(Alg::HS256, "a", 0, &r).unwrap())
            .unwrap();
        ring.activate("a", 0).unwrap();
        ring.get("a").unwrap().note_valid_until(5_000);
        ring.rotate(None, 10, 100, &r).unwrap();
        assert_eq!(
            ring.get("a").unwrap().drop_at_ms,
            Some(5_000),
            "kept for its longest token"
        );
        assert!(ring.get("a").unwrap().needs_later_drop(6_000));
        ring.extend_drop("a", 6_000, 1_000).unwrap();
        assert_eq!(ring.get("a").unwrap().drop_at_ms, Some(7_000));
        ring.extend_drop("a", 6_500, 1_000).unwrap();
        assert_eq!(
            ring.get("a").unwrap().drop_at_ms,
            Some(7_000),
            "within the slack: unchanged"
        );
        let back = Keyring::from_bytes(&ring.to_bytes()).unwrap();
        assert_eq!(back.get("a").unwrap().valid_until_ms(), 6_500);
    }

    #[test]
    fn keyring_round_trips() {
        let r = rng();
        let mut ring = Keyring::default();
        ring.insert(Key::generate(Alg::HS256, "a", 1, &r).unwrap())
            .unwrap();
        ring.insert(Key::generate(Alg::EdDSA, "b", 2, &r).unwrap())
            .unwrap();
        assert!(ring
            .insert(Key::generate(Alg::HS512, "b", 2, &r).unwrap())
            .is_err());
        ring.activate("b", 3).unwrap();
        ring.retire("a", 4, 1000).unwrap();
        ring.set_refresh_secret(vec![3; 32]);
        let bytes = ring.to_bytes();
        let back = Keyring::from_bytes(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.active().unwrap().kid, "b");
        let sig = ring.get("a").unwrap().sign(b"x").unwrap();
        assert!(back.get("a").unwrap().verify(b"x", &sig));
        assert_eq!(back.to_bytes(), bytes);
        assert!(back.refresh_secret().is_some());
        assert!(Keyring::from_bytes(b"{}").is_err());
        assert!(Keyring::from_bytes(b"garbage").is_err());
    }
}

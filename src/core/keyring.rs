//! Signing keys. The keyring is node state (not a Redis key): it is saved as RDB aux
//! data and replicated as one deterministic blob, so it serializes itself here.
//! A key is bound to one algorithm; the token header's `alg` must equal it, which is
//! what makes HS/RS confusion impossible.

use super::error::{Error, Result};
use super::random::Random;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
        }
    }

    /// Exact, case-sensitive match, as the `alg` header requires. `none` never matches.
    pub fn from_header(s: &str) -> Option<Alg> {
        match s {
            "HS256" => Some(Alg::HS256),
            "HS384" => Some(Alg::HS384),
            "HS512" => Some(Alg::HS512),
            _ => None,
        }
    }

    /// Case-insensitive, for command arguments.
    pub fn from_arg(s: &str) -> Option<Alg> {
        Self::from_header(&s.to_ascii_uppercase())
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Alg::HS256 => hmac::HMAC_SHA256,
            Alg::HS384 => hmac::HMAC_SHA384,
            Alg::HS512 => hmac::HMAC_SHA512,
        }
    }

    /// HMAC secrets must be at least as long as the hash output (RFC 7518 3.2).
    fn min_secret_len(self) -> usize {
        self.hmac().digest_algorithm().output_len()
    }
}

/// The parsed, ready-to-use form of a key's material.
enum Signer {
    Hmac(hmac::Key),
}

pub struct Key {
    pub kid: String,
    pub alg: Alg,
    pub created_ms: i64,
    /// Set when the key stopped signing; it keeps verifying until `drop_at_ms`.
    pub retired_ms: Option<i64>,
    pub drop_at_ms: Option<i64>,
    material: Vec<u8>,
    signer: Signer,
    /// base64url of `{"alg":..,"typ":"JWT","kid":..}`, the same for every token of this key.
    header_b64: String,
}

impl Key {
    pub fn new(kid: &str, alg: Alg, material: Vec<u8>, created_ms: i64) -> Result<Key> {
        validate_kid(kid)?;
        let signer = match alg {
            Alg::HS256 | Alg::HS384 | Alg::HS512 => {
                if material.len() < alg.min_secret_len() {
                    return Err(Error::syntax(format!(
                        "an {} secret needs at least {} bytes",
                        alg.name(),
                        alg.min_secret_len()
                    )));
                }
                Signer::Hmac(hmac::Key::new(alg.hmac(), &material))
            }
        };
        let header = format!(r#"{{"alg":"{}","typ":"JWT","kid":"{}"}}"#, alg.name(), kid);
        Ok(Key {
            kid: kid.to_string(),
            alg,
            created_ms,
            retired_ms: None,
            drop_at_ms: None,
            material,
            signer,
            header_b64: URL_SAFE_NO_PAD.encode(header),
        })
    }

    /// A fresh key from the CSPRNG: HMAC secrets are as long as the hash output.
    pub fn generate(alg: Alg, kid: &str, created_ms: i64, rng: &dyn Random) -> Result<Key> {
        let mut secret = vec![0u8; alg.min_secret_len()];
        rng.fill(&mut secret)?;
        Key::new(kid, alg, secret, created_ms)
    }

    pub fn header_b64(&self) -> &str {
        &self.header_b64
    }

    pub fn sign(&self, signing_input: &[u8]) -> Vec<u8> {
        match &self.signer {
            Signer::Hmac(k) => hmac::sign(k, signing_input).as_ref().to_vec(),
        }
    }

    /// Constant-time for MACs: ring's verify compares in constant time.
    pub fn verify(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        match &self.signer {
            Signer::Hmac(k) => hmac::verify(k, signing_input, signature).is_ok(),
        }
    }

    pub fn is_active_candidate(&self) -> bool {
        self.retired_ms.is_none()
    }
}

/// kids appear in JSON headers and replies: keep them short and plain.
pub fn validate_kid(kid: &str) -> Result<()> {
    let ok = !kid.is_empty()
        && kid.len() <= 64
        && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::syntax("a kid is 1 to 64 characters of A-Z a-z 0-9 . _ -"))
    }
}

/// A random kid: 72 bits, base64url, 12 characters.
pub fn random_kid(rng: &dyn Random) -> Result<String> {
    let mut b = [0u8; 9];
    rng.fill(&mut b)?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

#[derive(Default)]
pub struct Keyring {
    keys: Vec<Key>,
    active: Option<usize>,
    /// MACs refresh tokens so a forged one is told apart from a rotated-away one. Node
    /// state like the keys; independent of key rotation (refresh tokens outlive keys).
    refresh_secret: Option<hmac::Key>,
    refresh_secret_bytes: Vec<u8>,
}

/// The serialized form (RDB aux payload and replication blob).
#[derive(Serialize, Deserialize)]
struct KeyringDoc {
    v: u32,
    active: Option<String>,
    keys: Vec<KeyDoc>,
    #[serde(default)]
    refresh: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct KeyDoc {
    kid: String,
    alg: String,
    created: i64,
    retired: Option<i64>,
    drop_at: Option<i64>,
    material: String,
}

const FORMAT_VERSION: u32 = 1;

impl Keyring {
    pub const fn empty() -> Keyring {
        Keyring { keys: Vec::new(), active: None, refresh_secret: None, refresh_secret_bytes: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

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

    /// The key whose canonical header is exactly `header_b64`, if any.
    pub fn by_encoded_header(&self, header_b64: &[u8]) -> Option<&Key> {
        self.keys.iter().find(|k| k.header_b64.as_bytes() == header_b64)
    }

    pub fn active(&self) -> Option<&Key> {
        self.active.and_then(|i| self.keys.get(i))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter()
    }

    /// Adds a key; a kid is unique.
    pub fn insert(&mut self, key: Key) -> Result<()> {
        if self.get(&key.kid).is_some() {
            return Err(Error::syntax(format!("a key with kid '{}' already exists", key.kid)));
        }
        self.keys.push(key);
        Ok(())
    }

    pub fn activate(&mut self, kid: &str) -> Result<()> {
        let i = self
            .keys
            .iter()
            .position(|k| k.kid == kid)
            .ok_or_else(|| Error::syntax(format!("no key with kid '{kid}'")))?;
        if !self.keys[i].is_active_candidate() {
            return Err(Error::syntax(format!("key '{kid}' is retired and cannot sign")));
        }
        self.active = Some(i);
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let doc = KeyringDoc {
            v: FORMAT_VERSION,
            active: self.active().map(|k| k.kid.clone()),
            keys: self
                .keys
                .iter()
                .map(|k| KeyDoc {
                    kid: k.kid.clone(),
                    alg: k.alg.name().to_string(),
                    created: k.created_ms,
                    retired: k.retired_ms,
                    drop_at: k.drop_at_ms,
                    material: STANDARD.encode(&k.material),
                })
                .collect(),
            refresh: (!self.refresh_secret_bytes.is_empty()).then(|| STANDARD.encode(&self.refresh_secret_bytes)),
        };
        // Serializing plain structs of strings and integers cannot fail.
        serde_json::to_vec(&doc).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Keyring> {
        let bad = |what: &str| Error::syntax(format!("corrupt keyring data: {what}"));
        let doc: KeyringDoc = serde_json::from_slice(bytes).map_err(|_| bad("not a keyring document"))?;
        if doc.v != FORMAT_VERSION {
            return Err(bad("unknown format version"));
        }
        let mut ring = Keyring::default();
        for kd in doc.keys {
            let alg = Alg::from_header(&kd.alg).ok_or_else(|| bad("unknown algorithm"))?;
            let material = STANDARD.decode(kd.material.as_bytes()).map_err(|_| bad("material"))?;
            let mut key = Key::new(&kd.kid, alg, material, kd.created)?;
            key.retired_ms = kd.retired;
            key.drop_at_ms = kd.drop_at;
            ring.insert(key)?;
        }
        if let Some(kid) = doc.active {
            ring.activate(&kid)?;
        }
        if let Some(r) = doc.refresh {
            ring.set_refresh_secret(STANDARD.decode(r.as_bytes()).map_err(|_| bad("refresh secret"))?);
        }
        Ok(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::random::testing::Counter;
    use std::cell::Cell;

    #[test]
    fn generated_hmac_keys_have_full_length_secrets() {
        let rng = Counter(Cell::new(1));
        for alg in [Alg::HS256, Alg::HS384, Alg::HS512] {
            let k = Key::generate(alg, "k1", 5, &rng).unwrap();
            assert_eq!(k.material.len(), alg.min_secret_len());
            let sig = k.sign(b"abc");
            assert!(k.verify(b"abc", &sig));
            assert!(!k.verify(b"abd", &sig));
        }
    }

    #[test]
    fn weak_secret_and_bad_kid_rejected() {
        assert!(Key::new("k", Alg::HS256, vec![1; 31], 0).is_err());
        assert!(Key::new("k", Alg::HS512, vec![1; 63], 0).is_err());
        assert!(Key::new("bad kid", Alg::HS256, vec![1; 32], 0).is_err());
        assert!(Key::new("\"", Alg::HS256, vec![1; 32], 0).is_err());
        assert!(Key::new(&"k".repeat(65), Alg::HS256, vec![1; 32], 0).is_err());
    }

    #[test]
    fn alg_header_match_is_exact() {
        assert_eq!(Alg::from_header("HS256"), Some(Alg::HS256));
        assert_eq!(Alg::from_header("hs256"), None);
        assert_eq!(Alg::from_header("none"), None);
        assert_eq!(Alg::from_arg("hs384"), Some(Alg::HS384));
    }

    #[test]
    fn keyring_round_trips() {
        let rng = Counter(Cell::new(7));
        let mut ring = Keyring::default();
        ring.insert(Key::generate(Alg::HS256, "a", 1, &rng).unwrap()).unwrap();
        ring.insert(Key::generate(Alg::HS512, "b", 2, &rng).unwrap()).unwrap();
        assert!(ring.insert(Key::generate(Alg::HS512, "b", 2, &rng).unwrap()).is_err());
        ring.activate("b").unwrap();
        ring.set_refresh_secret(vec![3; 32]);
        let bytes = ring.to_bytes();
        let back = Keyring::from_bytes(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.active().unwrap().kid, "b");
        let sig = ring.get("a").unwrap().sign(b"x");
        assert!(back.get("a").unwrap().verify(b"x", &sig));
        assert_eq!(back.to_bytes(), bytes);
        assert!(back.refresh_secret().is_some());
        assert!(Keyring::from_bytes(b"{}").is_err());
        assert!(Keyring::from_bytes(b"garbage").is_err());
    }
}

//! Signing keys. The keyring is node state (not a Redis key): it is saved as RDB aux
//! data and replicated as one deterministic blob, so it serializes itself here.
//!
//! A key is bound to one algorithm; the token header's `alg` must equal it, which is
//! what makes HS/RS confusion impossible. Keys are parsed once, when they enter the
//! keyring (jsonwebtoken 9 re-parses EC/Ed25519 keys on every signature; we do not).
//!
//! Life of a key: *ready* (verifies), *active* (the one that signs; at most one),
//! *retired* (verifies until `drop_at_ms`, then is treated as unknown and purged).

use super::error::{Error, Result};
use super::pem;
use super::random::Random;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

pub const ALL_ALGS: [Alg; 12] = [
    Alg::HS256,
    Alg::HS384,
    Alg::HS512,
    Alg::RS256,
    Alg::RS384,
    Alg::RS512,
    Alg::PS256,
    Alg::PS384,
    Alg::PS512,
    Alg::ES256,
    Alg::ES384,
    Alg::EdDSA,
];

impl Alg {
    /// The algorithm of a key generated to follow one of this algorithm (ROTATE without
    /// an algorithm, automatic rotation, REVOKE of the signing key): the same where the
    /// module can generate it, ES256 for RSA (the module generates no RSA keys; ES256
    /// keeps tokens verifiable through JWKS, as RSA was).
    pub fn successor(self) -> Alg {
        match self {
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
                Alg::ES256
            }
            other => other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// Exact, case-sensitive match, as the `alg` header requires. `none` never matches.
    pub fn from_header(s: &str) -> Option<Alg> {
        ALL_ALGS.into_iter().find(|a| a.name() == s)
    }

    /// Case-insensitive, for command arguments.
    pub fn from_arg(s: &str) -> Option<Alg> {
        ALL_ALGS
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
    }

    pub fn is_hmac(self) -> bool {
        matches!(self, Alg::HS256 | Alg::HS384 | Alg::HS512)
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Alg::HS384 => hmac::HMAC_SHA384,
            Alg::HS512 => hmac::HMAC_SHA512,
            _ => hmac::HMAC_SHA256,
        }
    }

    /// The RSA signing padding and verification algorithm of an RS*/PS* key (RS256's
    /// for the others, which never reach RSA code).
    fn rsa(
        self,
    ) -> (
        &'static dyn signature::RsaEncoding,
        &'static dyn signature::VerificationAlgorithm,
    ) {
        match self {
            Alg::RS384 => (
                &signature::RSA_PKCS1_SHA384,
                &signature::RSA_PKCS1_2048_8192_SHA384,
            ),
            Alg::RS512 => (
                &signature::RSA_PKCS1_SHA512,
                &signature::RSA_PKCS1_2048_8192_SHA512,
            ),
            Alg::PS256 => (
                &signature::RSA_PSS_SHA256,
                &signature::RSA_PSS_2048_8192_SHA256,
            ),
            Alg::PS384 => (
                &signature::RSA_PSS_SHA384,
                &signature::RSA_PSS_2048_8192_SHA384,
            ),
            Alg::PS512 => (
                &signature::RSA_PSS_SHA512,
                &signature::RSA_PSS_2048_8192_SHA512,
            ),
            _ => (
                &signature::RSA_PKCS1_SHA256,
                &signature::RSA_PKCS1_2048_8192_SHA256,
            ),
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
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

pub struct Key {
    pub kid: String,
    pub alg: Alg,
    pub created_ms: i64,
    /// When the key last became the active one (drives automatic rotation).
    pub activated_ms: Option<i64>,
    /// Set when the key stopped signing; it keeps verifying until `drop_at_ms`.
    pub retired_ms: Option<i64>,
    pub drop_at_ms: Option<i64>,
    /// The latest moment a token this key signed can still be valid, as far as this node
    /// knows: its `exp`, or for a token without one, its session's end (which TOUCH and
    /// REFRESH push). Retiring the key keeps it at least this long. Updated on every
    /// signature without replication (it travels with the next keyring change).
    valid_until_ms: std::sync::atomic::AtomicI64,
    /// The secret (HMAC) or the private key DER (PKCS#8, or PKCS#1 for RSA).
    material: Vec<u8>,
    signer: Signer,
    /// base64url of `{"alg":..,"typ":"JWT","kid":..}`, the same for every token of this key.
    header_b64: String,
}

fn rejected(alg: Alg, why: impl std::fmt::Display) -> Error {
    Error::syntax(format!("not a usable {} key: {why}", alg.name()))
}

/// RSA private keys ring can sign with: 2048 to 4096 bits (it verifies up to 8192).
pub const RSA_SIGNING_BITS: (usize, usize) = (2048, 4096);

/// An HMAC secret that is really key text (a PEM block or a JWK) is the setup of the
/// algorithm-confusion attack: a verifier that takes an RSA/EC *public* key as an HS256
/// secret accepts tokens anyone who knows the public key can make. Refused, whatever
/// the key; a real secret is random bytes.
fn refuse_key_text_as_secret(secret: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(secret);
    let trimmed = text.trim_start();
    let pem = text.contains("-----BEGIN");
    let jwk = trimmed.starts_with('{')
        && serde_json::from_str::<serde_json::Value>(trimmed)
            .ok()
            .and_then(|v| v.get("kty").cloned())
            .is_some();
    if pem || jwk {
        return Err(Error::syntax(
            "an HMAC secret may not be PEM or JWK key text: using a (public) key as an HS* secret is the algorithm-confusion attack; import the key with its own algorithm, or use random bytes",
        ));
    }
    Ok(())
}

impl Key {
    /// Builds a key from its stored material (secret bytes or private key DER).
    pub fn new(kid: &str, alg: Alg, material: Vec<u8>, created_ms: i64) -> Result<Key> {
        validate_kid(kid)?;
        let rng = SystemRandom::new();
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
            Alg::ES256 | Alg::ES384 => {
                let a = if alg == Alg::ES256 {
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING
                };
                Signer::Ecdsa(
                    EcdsaKeyPair::from_pkcs8(a, &material, &rng).map_err(|e| rejected(alg, e))?,
                )
            }
            Alg::EdDSA => Signer::Ed25519(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(&material)
                    .map_err(|e| rejected(alg, e))?,
            ),
            _ => {
                // ring signs with 2048 to 4096-bit moduli: others are refused here.
                let size_error = |e: &ring::error::KeyRejected| {
                    matches!(e.to_string().as_str(), "TooSmall" | "TooLarge")
                };
                let pair = RsaKeyPair::from_pkcs8(&material).or_else(|pkcs8| {
                    RsaKeyPair::from_der(&material).map_err(|der| {
                        if size_error(&pkcs8) || size_error(&der) {
                            Error::syntax(format!(
                                "not a usable {} key: RSA signing keys must have {} to {} bits",
                                alg.name(),
                                RSA_SIGNING_BITS.0,
                                RSA_SIGNING_BITS.1
                            ))
                        } else {
                            rejected(alg, pkcs8)
                        }
                    })
                })?;
                Signer::Rsa(pair)
            }
        };
        let header = format!(r#"{{"alg":"{}","typ":"JWT","kid":"{}"}}"#, alg.name(), kid);
        Ok(Key {
            kid: kid.to_string(),
            alg,
            created_ms,
            activated_ms: None,
            retired_ms: None,
            drop_at_ms: None,
            valid_until_ms: std::sync::atomic::AtomicI64::new(0),
            material,
            signer,
            header_b64: URL_SAFE_NO_PAD.encode(header),
        })
    }

    /// A fresh key: HMAC secrets as long as the hash output from `rng`; EC and Ed25519
    /// pairs from the OS CSPRNG (ring generates them only from its own SystemRandom).
    pub fn generate(alg: Alg, kid: &str, created_ms: i64, rng: &dyn Random) -> Result<Key> {
        let sys = SystemRandom::new();
        let failed = |_| Error::syntax("key generation failed");
        let material = match alg {
            Alg::HS256 | Alg::HS384 | Alg::HS512 => {
                let mut secret = vec![0u8; alg.min_secret_len()];
                rng.fill(&mut secret)?;
                secret
            }
            Alg::ES256 => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &sys)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Alg::ES384 => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &sys)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Alg::EdDSA => Ed25519KeyPair::generate_pkcs8(&sys).map_err(failed)?.as_ref().to_vec(),
            _ => {
                return Err(Error::syntax(
                    "GENERATE makes HS256/384/512, ES256/384 and EdDSA keys; bring RSA keys with JWT.KEY IMPORT",
                ))
            }
        };
        Key::new(kid, alg, material, created_ms)
    }

    /// A key from what a user passes to IMPORT: the secret itself for HS*, a PEM private
    /// key (PKCS#8 `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY` for RSA) otherwise.
    pub fn import(kid: &str, alg: Alg, secret_or_pem: &[u8], created_ms: i64) -> Result<Key> {
        if alg.is_hmac() {
            refuse_key_text_as_secret(secret_or_pem)?;
            return Key::new(kid, alg, secret_or_pem.to_vec(), created_ms);
        }
        let (label, der) = pem::decode(secret_or_pem)?;
        match label.as_str() {
            "PRIVATE KEY" => {}
            "RSA PRIVATE KEY" if !matches!(alg, Alg::ES256 | Alg::ES384 | Alg::EdDSA) => {}
            "EC PRIVATE KEY" => return Err(Error::syntax(
                "convert SEC1 EC keys to PKCS#8 first: openssl pkcs8 -topk8 -nocrypt -in key.pem",
            )),
            "PUBLIC KEY" => {
                return Err(Error::syntax(
                    "IMPORT takes a private key (the keyring signs)",
                ))
            }
            other => return Err(Error::syntax(format!("unsupported PEM block '{other}'"))),
        }
        Key::new(kid, alg, der, created_ms)
    }

    /// EXPORT's form of the material: the secret for HS*, PEM for the others.
    pub fn export(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Hmac(_) => self.material.clone(),
            Signer::Ed25519(_) => {
                pem::encode("PRIVATE KEY", &ed25519_pkcs8_v1(&self.material)).into_bytes()
            }
            Signer::Rsa(_) if RsaKeyPair::from_pkcs8(&self.material).is_err() => {
                pem::encode("RSA PRIVATE KEY", &self.material).into_bytes()
            }
            _ => pem::encode("PRIVATE KEY", &self.material).into_bytes(),
        }
    }

    pub fn header_b64(&self) -> &str {
        &self.header_b64
    }

    pub fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>> {
        let failed = |_| Error::syntax("signing failed");
        Ok(match &self.signer {
            Signer::Hmac(k) => hmac::sign(k, signing_input).as_ref().to_vec(),
            Signer::Ecdsa(k) => k
                .sign(&SystemRandom::new(), signing_input)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Signer::Ed25519(k) => k.sign(signing_input).as_ref().to_vec(),
            Signer::Rsa(k) => {
                let (padding, _) = self.alg.rsa();
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(padding, &SystemRandom::new(), signing_input, &mut sig)
                    .map_err(failed)?;
                sig
            }
        })
    }

    /// Constant-time for MACs (ring's verify); ring's verifiers reject malformed and
    /// all-zero ECDSA signatures.
    pub fn verify(&self, signing_input: &[u8], sig: &[u8]) -> bool {
        let public = |alg: &'static dyn signature::VerificationAlgorithm, key: &[u8]| {
            signature::UnparsedPublicKey::new(alg, key)
                .verify(signing_input, sig)
                .is_ok()
        };
        match &self.signer {
            Signer::Hmac(k) => hmac::verify(k, signing_input, sig).is_ok(),
            Signer::Ecdsa(k) => {
                let alg = if self.alg == Alg::ES256 {
                    &signature::ECDSA_P256_SHA256_FIXED
                } else {
                    &signature::ECDSA_P384_SHA384_FIXED
                };
                public(alg, k.public_key().as_ref())
            }
            Signer::Ed25519(k) => public(&signature::ED25519, k.public_key().as_ref()),
            Signer::Rsa(k) => public(self.alg.rsa().1, k.public().as_ref()),
        }
    }

    /// The public JWK (RFC 7517/7518/8037), or None for symmetric keys, which have
    /// nothing public. Never `d`, `p`, `q`, `dp`, `dq`, `qi` or `k`.
    pub fn public_jwk(&self) -> Option<serde_json::Value> {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let mut jwk = match &self.signer {
            Signer::Hmac(_) => return None,
            Signer::Ecdsa(k) => {
                let point = k.public_key().as_ref();
                let n = (point.len() - 1) / 2;
                let crv = if self.alg == Alg::ES256 {
                    "P-256"
                } else {
                    "P-384"
                };
                serde_json::json!({"kty": "EC", "crv": crv, "x": b64(&point[1..1 + n]), "y": b64(&point[1 + n..])})
            }
            Signer::Ed25519(k) => {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
            }
            Signer::Rsa(k) => {
                let c: signature::RsaPublicKeyComponents<Vec<u8>> = k.public().into();
                serde_json::json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
            }
        };
        if let serde_json::Value::Object(m) = &mut jwk {
            m.insert("kid".into(), self.kid.clone().into());
            m.insert("alg".into(), self.alg.name().into());
            m.insert("use".into(), "sig".into());
        }
        Some(jwk)
    }

    /// Records that a token of this key may be valid until `until_ms`.
    pub fn note_valid_until(&self, until_ms: i64) {
        self.valid_until_ms
            .fetch_max(until_ms, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn valid_until_ms(&self) -> i64 {
        self.valid_until_ms
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a retired key's drop time must move later for a token valid until
    /// `until_ms` (a TOUCH or REFRESH of a session whose token this key signed).
    pub fn needs_later_drop(&self, until_ms: i64) -> bool {
        self.drop_at_ms.is_some_and(|d| until_ms > d)
    }

    /// Whether the key may still verify at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.drop_at_ms.is_none_or(|d| now_ms < d)
    }
}

/// ring writes Ed25519 keys as PKCS#8 v2 (RFC 5958, with the public key), which some
/// libraries (Python's cryptography among them) refuse; v1 (RFC 8410) is what
/// `openssl genpkey -algorithm ed25519` writes and every library reads. Same seed.
fn ed25519_pkcs8_v1(der: &[u8]) -> Vec<u8> {
    // SEQUENCE { INTEGER version, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } ...
    const ALG_AND_SEED: [u8; 11] = [
        0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ];
    let is_v2 = der.len() > 48
        && der[0] == 0x30
        && der[2..5] == [0x02, 0x01, 0x01]
        && der[5..16] == ALG_AND_SEED;
    if !is_v2 {
        return der.to_vec();
    }
    let mut v1 = vec![0x30, 0x2e, 0x02, 0x01, 0x00];
    v1.extend_from_slice(&ALG_AND_SEED);
    v1.extend_from_slice(&der[16..48]);
    v1
}

/// kids appear in JSON headers and replies: keep them short and plain. A kid is only
/// ever looked up in the keyring, never used to build a key name or a path.
pub fn validate_kid(kid: &str) -> Result<()> {
    let ok = !kid.is_empty()
        && kid.len() <= 64
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::syntax(
            "a kid is 1 to 64 characters of A-Z a-z 0-9 . _ -",
        ))
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
    /// Kids of keys revoked as compromised: their material is gone and the kid can
    /// never come back (a key's state only moves forward).
    revoked: Vec<String>,
    /// Sessions created before this time (ms) have ended: the O(1) "log everyone out".
    sessions_cutoff_ms: i64,
}

/// One row of JWT.KEY LIST.
pub struct KeyInfo {
    pub kid: String,
    pub alg: Alg,
    pub created_ms: i64,
    pub state: &'static str,
    pub drop_at_ms: Option<i64>,
}

/// The serialized form (RDB aux payload and replication blob).
#[derive(Serialize, Deserialize)]
struct KeyringDoc {
    v: u32,
    active: Option<String>,
    keys: Vec<KeyDoc>,
    #[serde(default)]
    refresh: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    revoked: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    cutoff: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Serialize, Deserialize)]
struct KeyDoc {
    kid: String,
    alg: String,
    created: i64,
    #[serde(default)]
    activated: Option<i64>,
    #[serde(default)]
    valid_until: i64,
    retired: Option<i64>,
    drop_at: Option<i64>,
    material: String,
}

const FORMAT_VERSION: u32 = 1;

impl Keyring {
    pub const fn empty() -> Keyring {
        Keyring {
            keys: Vec::new(),
            active: None,
            refresh_secret: None,
            refresh_secret_bytes: Vec::new(),
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

    /// The key whose canonical header is exactly `header_b64`, if any.
    pub fn by_encoded_header(&self, header_b64: &[u8]) -> Option<&Key> {
        self.keys
            .iter()
            .find(|k| k.header_b64.as_bytes() == header_b64)
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
        let successor = self
            .keys
            .iter()
            .filter(|k| k.retired_ms.is_none())
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
                kid: k.kid.clone(),
                alg: k.alg,
                created_ms: k.created_ms,
                state: if self.active == Some(i) {
                    "active"
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
                    activated: k.activated_ms,
                    valid_until: k.valid_until_ms(),
                    retired: k.retired_ms,
                    drop_at: k.drop_at_ms,
                    material: STANDARD.encode(&k.material),
                })
                .collect(),
            refresh: (!self.refresh_secret_bytes.is_empty())
                .then(|| STANDARD.encode(&self.refresh_secret_bytes)),
            revoked: self.revoked.clone(),
            cutoff: self.sessions_cutoff_ms,
        };
        // Serializing plain structs of strings and integers cannot fail.
        serde_json::to_vec(&doc).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Keyring> {
        let bad = |what: &str| Error::syntax(format!("corrupt keyring data: {what}"));
        let doc: KeyringDoc =
            serde_json::from_slice(bytes).map_err(|_| bad("not a keyring document"))?;
        if doc.v != FORMAT_VERSION {
            return Err(bad("unknown format version"));
        }
        let mut ring = Keyring {
            revoked: doc.revoked,
            sessions_cutoff_ms: doc.cutoff,
            ..Keyring::default()
        };
        for kd in doc.keys {
            let alg = Alg::from_header(&kd.alg).ok_or_else(|| bad("unknown algorithm"))?;
            let material = STANDARD
                .decode(kd.material.as_bytes())
                .map_err(|_| bad("material"))?;
            let mut key = Key::new(&kd.kid, alg, material, kd.created)?;
            key.activated_ms = kd.activated;
            key.note_valid_until(kd.valid_until);
            key.retired_ms = kd.retired;
            key.drop_at_ms = kd.drop_at;
            ring.insert(key)?;
        }
        if let Some(kid) = doc.active {
            ring.active = Some(ring.index(&kid)?);
        }
        if let Some(r) = doc.refresh {
            ring.set_refresh_secret(
                STANDARD
                    .decode(r.as_bytes())
                    .map_err(|_| bad("refresh secret"))?,
            );
        }
        Ok(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::testing::Counter;
    use std::cell::Cell;

    fn rng() -> Counter {
        Counter(Cell::new(1))
    }

    #[test]
    fn every_generated_algorithm_signs_and_verifies() {
        for alg in [
            Alg::HS256,
            Alg::HS384,
            Alg::HS512,
            Alg::ES256,
            Alg::ES384,
            Alg::EdDSA,
        ] {
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

//! One signing key: its material parsed once into a ring signer, its header, its
//! public JWK, and the checks on what may become a key.

use crate::alg::Alg;
use crate::error::{Error, Result};
use crate::pem;
use crate::random::Random;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use std::sync::Arc;

/// The parsed, ready-to-use form of a key's material.
enum Signer {
    Hmac(hmac::Key),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl Signer {
    fn sign(&self, alg: Alg, signing_input: &[u8]) -> Result<Vec<u8>> {
        let failed = |_| Error::syntax("signing failed");
        Ok(match self {
            Signer::Hmac(k) => hmac::sign(k, signing_input).as_ref().to_vec(),
            Signer::Ecdsa(k) => k
                .sign(&SystemRandom::new(), signing_input)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Signer::Ed25519(k) => k.sign(signing_input).as_ref().to_vec(),
            Signer::Rsa(k) => {
                let (padding, _) = alg.rsa();
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(padding, &SystemRandom::new(), signing_input, &mut sig)
                    .map_err(failed)?;
                sig
            }
        })
    }

    /// Constant-time for MACs (ring's verify); ring's verifiers reject malformed and
    /// all-zero ECDSA signatures.
    fn verify(&self, alg: Alg, signing_input: &[u8], sig: &[u8]) -> bool {
        let public = |alg: &'static dyn signature::VerificationAlgorithm, key: &[u8]| {
            signature::UnparsedPublicKey::new(alg, key)
                .verify(signing_input, sig)
                .is_ok()
        };
        match self {
            Signer::Hmac(k) => hmac::verify(k, signing_input, sig).is_ok(),
            Signer::Ecdsa(k) => {
                let alg = if alg == Alg::ES256 {
                    &signature::ECDSA_P256_SHA256_FIXED
                } else {
                    &signature::ECDSA_P384_SHA384_FIXED
                };
                public(alg, k.public_key().as_ref())
            }
            Signer::Ed25519(k) => public(&signature::ED25519, k.public_key().as_ref()),
            Signer::Rsa(k) => public(alg.rsa().1, k.public().as_ref()),
        }
    }
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
    pub(crate) valid_until_ms: std::sync::atomic::AtomicI64,
    /// The secret (HMAC) or the private key DER (PKCS#8, or PKCS#1 for RSA).
    pub(crate) material: Vec<u8>,
    signer: Arc<Signer>,
    /// base64url of `{"alg":..,"typ":"JWT","kid":..}`, the same for every token of this key.
    header_b64: String,
    /// A verify-only HMAC key for tokens without `kid` (migration from the npm
    /// libraries): it never signs, and may be shorter than the hash output.
    pub legacy: bool,
}

fn rejected(alg: Alg, why: impl std::fmt::Display) -> Error {
    Error::syntax(format!("not a usable {} key: {why}", alg.name()))
}

/// How EXPORT writes an HMAC secret that is not printable text, and IMPORT reads it.
pub const BASE64_PREFIX: &str = "base64:";

/// An HMAC secret as IMPORT takes it: as given, or `base64:<standard base64>`.
pub fn hmac_secret(given: &[u8]) -> Result<Vec<u8>> {
    match given.strip_prefix(BASE64_PREFIX.as_bytes()) {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| Error::syntax("a 'base64:' secret must be standard base64")),
        None => Ok(given.to_vec()),
    }
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
        Ok(Key::assemble(kid, alg, created_ms, material, signer, false))
    }

    /// A key from its parts; the header every token of it carries is made here.
    fn assemble(
        kid: &str,
        alg: Alg,
        created_ms: i64,
        material: Vec<u8>,
        signer: Signer,
        legacy: bool,
    ) -> Key {
        let header = format!(r#"{{"alg":"{}","typ":"JWT","kid":"{}"}}"#, alg.name(), kid);
        Key {
            kid: kid.to_string(),
            alg,
            created_ms,
            activated_ms: None,
            retired_ms: None,
            drop_at_ms: None,
            valid_until_ms: std::sync::atomic::AtomicI64::new(0),
            material,
            signer: Arc::new(signer),
            header_b64: URL_SAFE_NO_PAD.encode(header),
            legacy,
        }
    }

    /// A LEGACY key: a verify-only HMAC secret that matches tokens without `kid`, as the
    /// npm libraries issue them, of any length (short ones are reported weak). `secret`
    /// as stored: IMPORT decodes a `base64:` form first.
    pub fn legacy(kid: &str, alg: Alg, secret: &[u8], created_ms: i64) -> Result<Key> {
        if !alg.is_hmac() {
            return Err(Error::syntax(
                "LEGACY keys are HMAC secrets (HS256, HS384, HS512)",
            ));
        }
        if secret.is_empty() {
            return Err(Error::syntax("a LEGACY secret may be short, not empty"));
        }
        refuse_key_text_as_secret(secret)?;
        validate_kid(kid)?;
        let signer = Signer::Hmac(hmac::Key::new(alg.hmac(), secret));
        Ok(Key::assemble(
            kid,
            alg,
            created_ms,
            secret.to_vec(),
            signer,
            true,
        ))
    }

    /// A secret shorter than its hash output (only LEGACY keys can be).
    pub fn is_weak(&self) -> bool {
        self.alg.is_hmac() && self.material.len() < self.alg.min_secret_len()
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
            let secret = hmac_secret(secret_or_pem)?;
            refuse_key_text_as_secret(&secret)?;
            return Key::new(kid, alg, secret, created_ms);
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
    /// EXPORT's form, always text (a client decoding replies as UTF-8 can take it): a
    /// printable secret as it is, any other as `base64:` + its standard base64 (IMPORT
    /// takes both back); PEM for the others.
    pub fn export(&self) -> Vec<u8> {
        match &*self.signer {
            Signer::Hmac(_) => match std::str::from_utf8(&self.material) {
                Ok(text)
                    if !text.starts_with(BASE64_PREFIX)
                        && text.chars().all(|c| c == ' ' || c.is_ascii_graphic()) =>
                {
                    self.material.clone()
                }
                _ => format!(
                    "{BASE64_PREFIX}{}",
                    base64::engine::general_purpose::STANDARD.encode(&self.material)
                )
                .into_bytes(),
            },
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
        self.signer.sign(self.alg, signing_input)
    }

    /// Constant-time for MACs (ring's verify); ring's verifiers reject malformed and
    /// all-zero ECDSA signatures.
    pub fn verify(&self, signing_input: &[u8], sig: &[u8]) -> bool {
        self.signer.verify(self.alg, signing_input, sig)
    }

    /// The key's cryptography alone, for another thread (see `Crypto`).
    pub fn crypto(&self) -> Crypto {
        Crypto {
            alg: self.alg,
            signer: Arc::clone(&self.signer),
        }
    }

    /// The public JWK (RFC 7517/7518/8037), or None for symmetric keys, which have
    /// nothing public. Never `d`, `p`, `q`, `dp`, `dq`, `qi` or `k`.
    pub fn public_jwk(&self) -> Option<serde_json::Value> {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let mut jwk = match &*self.signer {
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
    /// An independent copy (the parsed signer is rebuilt from the material).
    pub fn duplicate(&self) -> Result<Key> {
        let mut k = if self.legacy {
            Key::legacy(&self.kid, self.alg, &self.material, self.created_ms)?
        } else {
            Key::new(&self.kid, self.alg, self.material.clone(), self.created_ms)?
        };
        k.activated_ms = self.activated_ms;
        k.retired_ms = self.retired_ms;
        k.drop_at_ms = self.drop_at_ms;
        k.note_valid_until(self.valid_until_ms());
        Ok(k)
    }

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

/// What signing and verifying need of a key and nothing else: cheap to clone and
/// `Send`, so a worker thread can sign or verify while the keyring (kids, states,
/// drop times) stays with the main thread. A key rotated or revoked meanwhile does not
/// pull the material from under a signature in progress.
#[derive(Clone)]
pub struct Crypto {
    alg: Alg,
    signer: Arc<Signer>,
}

impl Crypto {
    pub fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>> {
        self.signer.sign(self.alg, signing_input)
    }

    pub fn verify(&self, signing_input: &[u8], sig: &[u8]) -> bool {
        self.signer.verify(self.alg, signing_input, sig)
    }

    /// The length of every signature this key makes (all our algorithms have a fixed
    /// one), so a token's length is known before it is signed.
    pub fn signature_len(&self) -> usize {
        match &*self.signer {
            Signer::Hmac(k) => k.algorithm().digest_algorithm().output_len(),
            Signer::Ecdsa(_) if self.alg == Alg::ES256 => 64,
            Signer::Ecdsa(_) => 96,
            Signer::Ed25519(_) => 64,
            Signer::Rsa(k) => k.public().modulus_len(),
        }
    }

    /// See `Alg::is_expensive`.
    pub fn is_expensive(&self) -> bool {
        self.alg.is_expensive()
    }
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

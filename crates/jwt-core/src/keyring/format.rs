//! The keyring's serialized form, for RDB aux data and `JWT.KEY SYNC`: a versioned JSON
//! document with base64 material. New fields are optional, so 0.1's documents load.

use super::{Key, Keyring};
use crate::alg::Alg;
use crate::error::{Error, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

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
    /// Refresh secrets that verify besides `refresh` (a converged cluster).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    refresh_more: Vec<String>,
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
    #[serde(default, skip_serializing_if = "is_false")]
    legacy: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

const FORMAT_VERSION: u32 = 1;

impl Keyring {
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
                    legacy: k.legacy,
                })
                .collect(),
            refresh: (!self.refresh_secret_bytes.is_empty())
                .then(|| STANDARD.encode(&self.refresh_secret_bytes)),
            revoked: self.revoked.clone(),
            refresh_more: self
                .older_refresh
                .iter()
                .map(|(b, _)| STANDARD.encode(b))
                .collect(),
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
            let mut key = if kd.legacy {
                Key::legacy(&kd.kid, alg, &material, kd.created)?
            } else {
                Key::new(&kd.kid, alg, material, kd.created)?
            };
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
        for r in doc.refresh_more {
            let b = STANDARD
                .decode(r.as_bytes())
                .map_err(|_| bad("refresh secret"))?;
            let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &b);
            ring.older_refresh.push((b, k));
        }
        Ok(ring)
    }
}

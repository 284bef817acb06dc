//! Access tokens as the module issues them: the registered claims, the session's
//! claims, and the key that signs them.

use crate::claims::{exp_for, NewClaims};
use crate::error::{Error, Result};
use crate::jws;
use crate::keyring::Keyring;

/// The claims a session's access tokens carry besides the registered ones: iss, aud and
/// the public CLAIMS. Stored with refreshable sessions so REFRESH re-issues the same.
pub struct SessionClaims {
    pub iss: Option<String>,
    pub aud: Option<String>,
    pub public: Option<serde_json::Map<String, serde_json::Value>>,
}

impl SessionClaims {
    pub fn new(
        public: Option<serde_json::Map<String, serde_json::Value>>,
        iss: Option<String>,
        aud: Option<String>,
    ) -> Self {
        SessionClaims { iss, aud, public }
    }

    /// `{"iss":..,"aud":..,"public":{..}}`, or None when there is nothing to keep.
    pub fn to_stored(&self) -> Option<Vec<u8>> {
        if self.iss.is_none() && self.aud.is_none() && self.public.is_none() {
            return None;
        }
        let doc = serde_json::json!({ "iss": self.iss, "aud": self.aud, "public": self.public });
        serde_json::to_vec(&doc).ok()
    }

    pub fn from_stored(bytes: Option<&[u8]>) -> Result<Self> {
        let Some(bytes) = bytes else {
            return Ok(SessionClaims::new(None, None, None));
        };
        let bad = || Error::syntax("corrupt session claims");
        let doc: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| bad())?;
        let text = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let public = match doc.get("public") {
            Some(serde_json::Value::Object(m)) => Some(m.clone()),
            _ => None,
        };
        Ok(SessionClaims::new(public, text("iss"), text("aud")))
    }
}

/// An access token to sign: a fresh jti, `iat` now, `exp` after `lifetime_ms` if any,
/// with key `kid`, else the active key.
pub struct AccessToken<'a> {
    pub sub: &'a str,
    pub sid: Option<&'a str>,
    /// The session's incarnation (caller-supplied SIDs).
    pub sinc: Option<i64>,
    /// The session's access-token version (after a SUPERSEDE).
    pub sver: Option<i64>,
    pub now: i64,
    pub lifetime_ms: Option<i64>,
    /// When the token's session ends: how long a token without `exp` can be valid.
    pub session_end_ms: i64,
    pub claims: &'a SessionClaims,
    pub kid: Option<&'a str>,
}

impl AccessToken<'_> {
    /// Signs with `ring`'s key `kid`, else its active key; a token longer than
    /// `max_bytes` is refused (VERIFY would refuse it).
    pub fn issue(&self, jti: &str, ring: &Keyring, max_bytes: usize) -> Result<String> {
        self.prepare(jti, ring, max_bytes)?.0.sign()
    }

    /// Everything of `issue` but the signature (which the caller may make on another
    /// thread): the token to sign, and its payload JSON (REFRESH WITHPAYLOAD, UPDATE).
    pub fn prepare(
        &self,
        jti: &str,
        ring: &Keyring,
        max_bytes: usize,
    ) -> Result<(jws::Unsigned, String)> {
        let exp = self.lifetime_ms.map(|ms| exp_for(self.now, ms));
        let payload = NewClaims {
            sub: self.sub,
            sid: self.sid,
            sinc: self.sinc,
            sver: self.sver,
            jti,
            iat: self.now.div_euclid(1000),
            exp,
            iss: self.claims.iss.as_deref(),
            aud: self.claims.aud.as_deref(),
            public: self.claims.public.as_ref(),
        };
        let key = match self.kid {
            Some(kid) => ring
                .get(kid)
                .ok_or_else(|| Error::syntax(format!("no key with kid '{kid}'")))?,
            None => ring
                .active()
                .ok_or_else(|| Error::syntax("no active signing key"))?,
        };
        // Retiring this key later must keep it until this token can no longer be valid.
        key.note_valid_until(exp.map_or(self.session_end_ms, |e| e.saturating_mul(1000)));
        let json = payload.to_json();
        Ok((jws::prepare(key, &json, max_bytes)?, json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::{Alg, Key};
    use crate::random::testing::Counter;
    use std::cell::Cell;

    #[test]
    fn session_claims_survive_storage_and_issue_into_the_token() {
        let mut public = serde_json::Map::new();
        public.insert("role".into(), "admin".into());
        let claims = SessionClaims::new(Some(public), Some("iss-1".into()), None);
        let stored = claims.to_stored().unwrap();
        let back = SessionClaims::from_stored(Some(&stored)).unwrap();
        assert_eq!(back.iss.as_deref(), Some("iss-1"));
        assert!(SessionClaims::new(None, None, None).to_stored().is_none());
        let rng = Counter(Cell::new(3));
        let mut ring = Keyring::default();
        ring.insert(Key::generate(Alg::HS256, "k1", 0, &rng).unwrap())
            .unwrap();
        ring.activate("k1", 0).unwrap();
        let token = AccessToken {
            sub: "alice",
            sid: Some("s1"),
            sinc: Some(42),
            sver: None,
            now: 1_500,
            lifetime_ms: Some(60_000),
            session_end_ms: 0,
            claims: &back,
            kid: None,
        };
        let t = token.issue("j1", &ring, 8192).unwrap();
        let parts = jws::split(t.as_bytes(), 8192).unwrap();
        let payload = jws::b64_decode(parts.payload_b64).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(json["sinc"], 42);
        assert_eq!(json["role"], "admin");
        assert_eq!(
            (json["iat"].as_i64(), json["exp"].as_i64()),
            (Some(1), Some(61))
        );
        assert!(
            token.issue("j1", &ring, 100).is_err(),
            "over max-token-bytes"
        );
        let other = AccessToken {
            kid: Some("nope"),
            ..token
        };
        assert!(other.issue("j1", &ring, 8192).is_err());
    }
}

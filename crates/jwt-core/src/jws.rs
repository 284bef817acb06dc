//! JWS compact tokens: parse, verify and sign. Pure: the keyring and the clock are
//! passed in. Verification order follows the spec: format and size, header, signature;
//! the claims (`claims`) and the session (the caller) come after.

use crate::alg::Alg;
use crate::error::{Error, Result};
use crate::key::Crypto;
use crate::keyring::{Key, Keyring};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;
/// The three segments of a compact JWS, still encoded.
#[derive(Debug)]
pub struct Parts<'a> {
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a [u8],
    pub header_b64: &'a [u8],
    pub payload_b64: &'a [u8],
    pub signature_b64: &'a [u8],
}

/// Splits a token after the size check. Anything but three base64url segments is INVALID.
pub fn split(token: &[u8], max_bytes: usize) -> Result<Parts<'_>> {
    if token.len() > max_bytes {
        return Err(Error::invalid(format!(
            "token is longer than jwt.max-token-bytes ({max_bytes})"
        )));
    }
    let malformed = || Error::invalid("malformed token: expected header.payload.signature");
    let first = token
        .iter()
        .position(|&b| b == b'.')
        .ok_or_else(malformed)?;
    let second_rel = token[first + 1..]
        .iter()
        .position(|&b| b == b'.')
        .ok_or_else(malformed)?;
    let second = first + 1 + second_rel;
    let parts = Parts {
        signing_input: &token[..second],
        header_b64: &token[..first],
        payload_b64: &token[first + 1..second],
        signature_b64: &token[second + 1..],
    };
    // A third dot lands in the signature segment, which then fails to decode; the
    // base64url decoder rejects every other stray byte, so no per-byte scan here.
    if parts.header_b64.is_empty() || parts.payload_b64.is_empty() {
        return Err(malformed());
    }
    Ok(parts)
}

pub fn b64_decode(segment: &[u8]) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Error::invalid("malformed token: bad base64url"))
}

/// The protected header. Only `alg`, `kid` and `crit` matter: `jwk`, `jku`, `x5u`,
/// `x5c` and the rest are ignored, never followed; the keyring alone supplies keys.
#[derive(Deserialize)]
pub struct Header<'a> {
    #[serde(borrow)]
    pub alg: Cow<'a, str>,
    #[serde(borrow, default)]
    pub kid: Option<Cow<'a, str>>,
    /// Whether the header names `crit` at all (even as `null`: RFC 7515 allows only an
    /// array there, and we understand no extension, so its presence refuses the token).
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// Deepest nesting a token's JSON may have. Real claims are flat or nearly so; the
/// limit keeps hostile documents cheap (serde skips unknown claims at any depth).
pub const MAX_JSON_DEPTH: usize = 16;

/// How deeply arrays and objects nest in `json` (brackets inside strings do not count).
/// One pass, no allocation.
pub fn json_depth(json: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// JSON text that must be an object (serde would map an array onto a struct by position).
pub(crate) fn parse_object<'a, T: Deserialize<'a>>(json: &'a [u8], what: &str) -> Result<T> {
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(Error::invalid(format!(
            "malformed token: {what} is not a JSON object"
        )));
    }
    if json_depth(json) > MAX_JSON_DEPTH {
        return Err(Error::invalid(format!(
            "malformed token: {what} JSON is nested too deeply"
        )));
    }
    serde_json::from_slice(json).map_err(|e| {
        Error::invalid(format!(
            "malformed token: {what} is not valid JSON ({})",
            e.classify_name()
        ))
    })
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        if self.to_string().contains("recursion limit") {
            "nested too deeply"
        } else {
            match self.classify() {
                serde_json::error::Category::Data => "unexpected claim types",
                serde_json::error::Category::Eof => "truncated",
                _ => "syntax",
            }
        }
    }
}

/// Longest signature we accept: RSA-4096.
const MAX_SIGNATURE_BYTES: usize = 512;

/// Checks the header and the signature; returns the key that verified it.
pub fn verify_signature<'k>(
    parts: &Parts<'_>,
    keyring: &'k Keyring,
    now_ms: i64,
) -> Result<&'k Key> {
    match verify_or_defer(parts, keyring, now_ms, false)? {
        Signature::Verified(key) | Signature::Deferred(key) => Ok(key),
    }
}

/// What `verify_or_defer` did with a token's signature.
pub enum Signature<'k> {
    /// Checked: this key made it.
    Verified(&'k Key),
    /// Not checked yet: only this key can have made it (live, not LEGACY, an expensive
    /// algorithm), and `check_signature` with its `Crypto` decides, on any thread.
    Deferred(&'k Key),
}

/// `verify_signature`, except that with `defer` a signature of an expensive algorithm
/// is left for `check_signature` (the header checks are done either way).
pub fn verify_or_defer<'k>(
    parts: &Parts<'_>,
    keyring: &'k Keyring,
    now_ms: i64,
    defer: bool,
) -> Result<Signature<'k>> {
    // Fast path: tokens we issued carry exactly their key's canonical header, which
    // names the key's own alg and no crit, so header JSON need not be parsed.
    let candidates = match keyring.by_encoded_header(parts.header_b64) {
        Some(key) => Candidates::One(key),
        None => key_from_header(parts, keyring)?,
    };
    if let Candidates::One(key) = candidates {
        if !key.is_live(now_ms) {
            // A retired key past its drop time is as unknown as one never seen.
            return Err(Error::invalid("unknown kid"));
        }
        if defer && key.alg.is_expensive() && !key.legacy {
            return Ok(Signature::Deferred(key));
        }
    }
    let mut signature = [0u8; MAX_SIGNATURE_BYTES];
    let n = decode_signature(parts, &mut signature)?;
    let verifies = |key: &Key| key.verify(parts.signing_input, &signature[..n]);
    let key = match candidates {
        Candidates::One(key) => verifies(key).then_some(key),
        // A token without kid: the LEGACY keys of its alg, tried in turn.
        Candidates::Legacy(alg) => keyring
            .keys()
            .filter(|k| k.legacy && k.alg == alg && k.is_live(now_ms))
            .find(|k| verifies(k)),
    };
    let key = key.ok_or_else(|| Error::invalid("bad signature"))?;
    Ok(Signature::Verified(key))
}

/// `parts`' signature checked against `crypto` (what `verify_signature` does once it
/// has found the key).
pub fn check_signature(parts: &Parts<'_>, crypto: &Crypto) -> Result<()> {
    let mut signature = [0u8; MAX_SIGNATURE_BYTES];
    let n = decode_signature(parts, &mut signature)?;
    match crypto.verify(parts.signing_input, &signature[..n]) {
        true => Ok(()),
        false => Err(Error::invalid("bad signature")),
    }
}

fn decode_signature(parts: &Parts<'_>, into: &mut [u8; MAX_SIGNATURE_BYTES]) -> Result<usize> {
    if parts.signature_b64.len() > MAX_SIGNATURE_BYTES * 4 / 3 + 1 {
        return Err(Error::invalid("bad signature"));
    }
    URL_SAFE_NO_PAD
        .decode_slice(parts.signature_b64, into)
        .map_err(|_| Error::invalid("malformed token: bad base64url"))
}

/// The keys that may have signed a token.
enum Candidates<'k> {
    One(&'k Key),
    /// No `kid`: the LEGACY keys of this algorithm.
    Legacy(Alg),
}

/// The slow path for headers we did not write byte for byte.
fn key_from_header<'k>(parts: &Parts<'_>, keyring: &'k Keyring) -> Result<Candidates<'k>> {
    let header_json = b64_decode(parts.header_b64)?;
    let header: Header = parse_object(&header_json, "header")?;
    if header.crit {
        // RFC 7515 4.1.11: we understand no extension, so any `crit` must be refused.
        return Err(Error::invalid(
            "token header has 'crit' extensions this server does not understand",
        ));
    }
    let Some(kid) = header.kid.as_deref() else {
        // Only LEGACY keys take tokens without kid, and only HMAC ones.
        let alg = Alg::from_header(&header.alg).filter(|a| a.is_hmac());
        return match alg {
            Some(alg) if keyring.keys().any(|k| k.legacy && k.alg == alg) => {
                Ok(Candidates::Legacy(alg))
            }
            _ => Err(Error::invalid("token header has no kid")),
        };
    };
    let key = keyring
        .get(kid)
        .ok_or_else(|| Error::invalid("unknown kid"))?;
    if header.alg != key.alg.name() {
        // Covers `none` in any case and every algorithm-confusion attempt.
        return Err(Error::invalid(
            "token alg does not match its key's algorithm",
        ));
    }
    Ok(Candidates::One(key))
}

/// Signs `payload_json`; a token over `max_bytes` (which VERIFY would refuse) is an
/// error instead.
pub fn sign(key: &Key, payload_json: &str, max_bytes: usize) -> Result<String> {
    prepare(key, payload_json, max_bytes)?.sign()
}

/// A token ready to be signed: everything decided, its length known, only the
/// signature missing (which may then be made on another thread).
pub struct Unsigned {
    /// `header.payload`, with room for the signature.
    token: String,
    crypto: Crypto,
    /// The signed token's length.
    len: usize,
}

/// Everything of `sign` but the signature, including the length check (signatures of
/// our algorithms have a fixed length).
pub fn prepare(key: &Key, payload_json: &str, max_bytes: usize) -> Result<Unsigned> {
    let crypto = key.crypto();
    let signature_b64_len = (crypto.signature_len() * 4).div_ceil(3);
    let payload_b64_len = (payload_json.len() * 4).div_ceil(3);
    let len = key.header_b64().len() + 1 + payload_b64_len + 1 + signature_b64_len;
    if len > max_bytes {
        return Err(Error::syntax(format!(
            "the token would be {len} bytes, over jwt.max-token-bytes ({max_bytes}): VERIFY would refuse it"
        )));
    }
    let mut token = String::with_capacity(len);
    token.push_str(key.header_b64());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload_json, &mut token);
    Ok(Unsigned { token, crypto, len })
}

impl Unsigned {
    /// Worth signing on another thread (see `Crypto::is_expensive`).
    pub fn is_expensive(&self) -> bool {
        self.crypto.is_expensive()
    }

    pub fn sign(mut self) -> Result<String> {
        let signature = self.crypto.sign(self.token.as_bytes())?;
        self.token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut self.token);
        debug_assert_eq!(self.token.len(), self.len);
        Ok(self.token)
    }
}

/// JWT.DECODE: header and payload JSON, unverified. Both must at least be base64url.
pub fn decode_unverified(token: &[u8], max_bytes: usize) -> Result<(Vec<u8>, Vec<u8>)> {
    let parts = split(token, max_bytes)?;
    Ok((
        b64_decode(parts.header_b64)?,
        b64_decode(parts.payload_b64)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::*;
    use crate::error::Code;
    use crate::keyring::{Alg, Key};

    fn check_times(c: &Claims<'_>, now_ms: i64, leeway_ms: i64) -> Result<()> {
        ClaimChecks::of(c).check_times(now_ms, leeway_ms)
    }

    fn check_iss_aud(c: &Claims<'_>, iss: Option<&str>, aud: Option<&str>) -> Result<()> {
        ClaimChecks::of(c).check_iss_aud(iss, aud)
    }

    fn ring() -> Keyring {
        let mut r = Keyring::default();
        r.insert(Key::new("k1", Alg::HS256, vec![7; 32], 0).unwrap())
            .unwrap();
        r.insert(Key::new("k2", Alg::HS512, vec![9; 64], 0).unwrap())
            .unwrap();
        r.activate("k1", 0).unwrap();
        r
    }

    fn forge(header: &str, payload: &str, key: &Key) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = key.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn verify(t: &str, r: &Keyring) -> Result<()> {
        verify_signature(&split(t.as_bytes(), 8192)?, r, 0).map(|_| ())
    }

    /// `prepare` knows the token's length before the signature exists (the length check
    /// happens before SIGN writes), and the signature can be made on another thread.
    #[test]
    fn prepared_tokens_have_the_predicted_length_and_sign_anywhere() {
        let rng = crate::random::OsRandom::new();
        for alg in crate::alg::GENERATED_ALGS {
            let mut r = Keyring::default();
            r.insert(Key::generate(alg, "k", 0, &rng).unwrap()).unwrap();
            r.activate("k", 0).unwrap();
            let key = r.active().unwrap();
            for payload in ["{}", r#"{"sub":"a"}"#, r#"{"sub":"ab","x":"0123456789"}"#] {
                let unsigned = prepare(key, payload, 8192).unwrap();
                let predicted = unsigned.len;
                assert_eq!(unsigned.is_expensive(), !alg.is_hmac());
                let token = std::thread::spawn(move || unsigned.sign().unwrap())
                    .join()
                    .unwrap();
                assert_eq!(token.len(), predicted, "{alg:?} {payload}");
                let parts = split(token.as_bytes(), 8192).unwrap();
                assert_eq!(verify_signature(&parts, &r, 0).unwrap().kid, "k");
                let crypto = key.crypto();
                let t = token.clone();
                let ok = std::thread::spawn(move || {
                    check_signature(&split(t.as_bytes(), 8192).unwrap(), &crypto).is_ok()
                });
                assert!(ok.join().unwrap());
                match verify_or_defer(&parts, &r, 0, true).unwrap() {
                    Signature::Deferred(k) => assert!(alg.is_expensive() && k.kid == "k"),
                    Signature::Verified(k) => assert!(!alg.is_expensive() && k.kid == "k"),
                }
                // Exactly at the limit is fine, one byte under is refused before signing.
                assert!(prepare(key, payload, predicted).is_ok());
                assert!(prepare(key, payload, predicted - 1).is_err());
            }
        }
    }

    #[test]
    fn sign_then_verify() {
        let r = ring();
        let claims = NewClaims {
            sub: "alice \"q\"",
            sid: Some("s1"),
            sinc: None,
            sver: None,
            jti: "j",
            iat: 100,
            exp: Some(200),
            iss: Some("me"),
            aud: None,
            public: None,
        };
        let t = sign(r.active().unwrap(), &claims.to_json(), 8192).unwrap();
        let parts = split(t.as_bytes(), 8192).unwrap();
        assert_eq!(verify_signature(&parts, &r, 0).unwrap().kid, "k1");
        let payload = b64_decode(parts.payload_b64).unwrap();
        let c = parse_claims(&payload).unwrap();
        assert_eq!(c.sub.as_deref(), Some("alice \"q\""));
        assert_eq!(c.exp, Some(200.0));
        assert!(check_times(&c, 199_999, 0).is_ok());
        assert_eq!(check_times(&c, 200_000, 0).unwrap_err().code, Code::Expired);
        assert!(check_times(&c, 200_000, 1000).is_ok());
        assert!(check_iss_aud(&c, Some("me"), None).is_ok());
        assert!(check_iss_aud(&c, Some("you"), None).is_err());
        assert!(check_iss_aud(&c, None, Some("x")).is_err());
    }

    #[test]
    fn rejects_bad_shapes() {
        let r = ring();
        for t in [
            "",
            "a",
            "a.b",
            "a..c",
            ".b.c",
            "a.b.c.d",
            "a b.c.d",
            "e30.e30.%%",
        ] {
            assert_eq!(verify(t, &r).unwrap_err().code, Code::Invalid, "{t}");
        }
        let big = "a".repeat(9000);
        assert!(split(big.as_bytes(), 8192)
            .unwrap_err()
            .msg
            .contains("max-token-bytes"));
    }

    #[test]
    fn alg_none_and_confusion_rejected() {
        let r = ring();
        let k1 = r.get("k1").unwrap();
        for alg in ["none", "None", "NONE", "nOnE", "HS512", "RS256", "hs256"] {
            let t = forge(
                &format!(r#"{{"alg":"{alg}","kid":"k1"}}"#),
                r#"{"sub":"a"}"#,
                k1,
            );
            assert_eq!(verify(&t, &r).unwrap_err().code, Code::Invalid, "{alg}");
        }
        // alg none with an empty signature
        let t = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"sub":"a"}"#)
        );
        assert_eq!(verify(&t, &r).unwrap_err().code, Code::Invalid);
    }

    #[test]
    fn header_rules() {
        let r = ring();
        let k1 = r.get("k1").unwrap();
        let ok = forge(
            r#"{"alg":"HS256","kid":"k1","jku":"http://evil","x5u":"u","jwk":{"kty":"oct"}}"#,
            "{}",
            k1,
        );
        assert!(verify(&ok, &r).is_ok());
        let crit = forge(r#"{"alg":"HS256","kid":"k1","crit":["exp"]}"#, "{}", k1);
        assert!(verify(&crit, &r).unwrap_err().msg.contains("crit"));
        let crit_null = forge(r#"{"alg":"HS256","kid":"k1","crit":null}"#, "{}", k1);
        assert!(verify(&crit_null, &r).unwrap_err().msg.contains("crit"));
        let nokid = forge(r#"{"alg":"HS256"}"#, "{}", k1);
        assert!(verify(&nokid, &r).is_err());
        let unknown = forge(r#"{"alg":"HS256","kid":"zz"}"#, "{}", k1);
        assert!(verify(&unknown, &r).unwrap_err().msg.contains("kid"));
        let array = forge(r#"["HS256","k1"]"#, "{}", k1);
        assert!(verify(&array, &r).is_err());
        // Signed with k1's secret but claiming k2: wrong alg for k2.
        let other = forge(r#"{"alg":"HS256","kid":"k2"}"#, "{}", k1);
        assert!(verify(&other, &r).is_err());
    }

    #[test]
    fn tampering_rejected() {
        let r = ring();
        let t = sign(r.active().unwrap(), r#"{"sub":"a"}"#, 8192).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let evil = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(r#"{"sub":"b"}"#),
            parts[2]
        );
        assert!(verify(&evil, &r).unwrap_err().msg.contains("signature"));
        let nosig = format!("{}.{}.", parts[0], parts[1]);
        assert!(verify(&nosig, &r).is_err());
    }

    #[test]
    fn deep_nesting_rejected() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert!(parse_claims(deep.as_bytes())
            .unwrap_err()
            .msg
            .contains("nested"));
        assert!(parse_claims(b"[1]").is_err());
        assert_eq!(
            json_depth(br#"{"a":"[[[[","b":[{"c":"\"[[","d":"\\"}]}"#),
            3
        );
        let ok = format!("{{\"a\":{}1{}}}", "[".repeat(15), "]".repeat(15));
        assert!(parse_claims(ok.as_bytes()).is_ok());
        let too_deep = format!("{{\"a\":{}1{}}}", "[".repeat(16), "]".repeat(16));
        assert!(parse_claims(too_deep.as_bytes()).is_err());
        assert!(parse_claims(br#"{"exp":"soon"}"#).is_err());
        assert!(parse_claims(br#"{"exp":1,"exp":2}"#).is_err());
    }

    #[test]
    fn nbf_and_iat() {
        let c = parse_claims(br#"{"nbf":100,"iat":50}"#).unwrap();
        assert!(c.exp.is_none());
        assert_eq!(
            check_times(&c, 99_000, 0).unwrap_err().code,
            Code::NotBefore
        );
        assert!(check_times(&c, 99_000, 1000).is_ok());
        assert!(check_times(&c, 100_000, 0).is_ok());
        let future = parse_claims(br#"{"iat":500}"#).unwrap();
        assert_eq!(
            check_times(&future, 100_000, 0).unwrap_err().code,
            Code::Invalid
        );
    }

    #[test]
    fn audiences() {
        let c = parse_claims(br#"{"aud":["a","b"]}"#).unwrap();
        assert!(check_iss_aud(&c, None, Some("b")).is_ok());
        assert!(check_iss_aud(&c, None, Some("c")).is_err());
    }

    #[test]
    fn public_claims() {
        assert!(parse_public_claims(br#"{"role":"admin","n":[1,2]}"#).is_ok());
        assert!(parse_public_claims(br#"[1]"#)
            .unwrap_err()
            .msg
            .contains("object"));
        assert!(parse_public_claims(br#"{"sub":"x"}"#)
            .unwrap_err()
            .msg
            .contains("reserved"));
        assert!(parse_public_claims(br#"{"exp":1}"#).is_err());
        assert!(parse_public_claims(br#"{"nbf":"x"}"#).is_err());
        assert!(parse_public_claims(br#"{"nbf":5}"#).is_ok());
        assert!(parse_public_claims(b"nope").is_err());
    }

    #[test]
    fn claims_json_escapes_like_serde() {
        for text in [
            "plain",
            "q\"uote",
            "back\\slash",
            "new\nline",
            "tab\t",
            "ctl\u{1}",
            "ünï😀",
        ] {
            let mut out = String::new();
            push_json_str(&mut out, text);
            let back: String = serde_json::from_str(&out).unwrap();
            assert_eq!(back, text);
        }
    }

    #[test]
    fn exp_rounds_up_to_whole_seconds() {
        assert_eq!(exp_for(1_000_500, 60_000), 1060);
        assert_eq!(exp_for(1_000_000, 500), 1001);
    }
}

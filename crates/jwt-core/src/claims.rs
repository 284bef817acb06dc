//! Claims: what a token says (`sub`, `sid`, times, `iss`/`aud`, public claims), parsed
//! with borrowed strings, checked against the clock, and written for new tokens.

use crate::error::{Code, Error, Result};
use crate::jws::{json_depth, parse_object, MAX_JSON_DEPTH};
use serde::Deserialize;
use std::borrow::Cow;

/// `aud` is a string or an array of strings (RFC 7519 4.1.3).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Audience<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

/// The registered claims we act on; other claims stay in the payload untouched.
#[derive(Debug, Deserialize)]
pub struct Claims<'a> {
    #[serde(borrow, default)]
    pub sub: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub sid: Option<Cow<'a, str>>,
    /// The session's incarnation, for sessions with a caller-supplied SID.
    #[serde(default)]
    pub sinc: Option<i64>,
    /// The session's access-token version (after a SUPERSEDE).
    #[serde(default)]
    pub sver: Option<i64>,
    #[serde(default)]
    pub iat: Option<f64>,
    #[serde(default)]
    pub exp: Option<f64>,
    #[serde(default)]
    pub nbf: Option<f64>,
    #[serde(borrow, default)]
    pub iss: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub aud: Option<Audience<'a>>,
}

pub fn parse_claims(payload_json: &[u8]) -> Result<Claims<'_>> {
    parse_object(payload_json, "payload")
}

/// The claims VERIFY re-checks on every use, owned (so a verified token can be cached).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimChecks {
    /// Not a check of its own: kept with them so a cache hit knows the incarnation.
    pub sinc: Option<i64>,
    pub sver: Option<i64>,
    pub iat: Option<f64>,
    pub exp: Option<f64>,
    pub nbf: Option<f64>,
    pub iss: Option<String>,
    /// None when the token has no `aud`.
    pub aud: Option<Vec<String>>,
}

impl ClaimChecks {
    pub fn of(c: &Claims<'_>) -> ClaimChecks {
        ClaimChecks {
            sinc: c.sinc,
            sver: c.sver,
            iat: c.iat,
            exp: c.exp,
            nbf: c.nbf,
            iss: c.iss.as_deref().map(str::to_string),
            aud: c.aud.as_ref().map(|a| match a {
                Audience::One(one) => vec![one.to_string()],
                Audience::Many(list) => list.iter().map(|s| s.to_string()).collect(),
            }),
        }
    }

    /// `exp`, `nbf` and `iat` against `now`, each with `leeway`.
    pub fn check_times(&self, now_ms: i64, leeway_ms: i64) -> Result<()> {
        let now = now_ms as f64;
        let leeway = leeway_ms as f64;
        if let Some(exp) = self.exp {
            if now >= exp * 1000.0 + leeway {
                return Err(Error::new(Code::Expired, "token has expired"));
            }
        }
        if let Some(nbf) = self.nbf {
            if now + leeway < nbf * 1000.0 {
                return Err(Error::new(Code::NotBefore, "token is not valid yet (nbf)"));
            }
        }
        if let Some(iat) = self.iat {
            if iat * 1000.0 > now + leeway + 999.0 {
                return Err(Error::invalid("token was issued in the future (iat)"));
            }
        }
        Ok(())
    }

    /// When an issuer or audience is expected, the token must carry it.
    pub fn check_iss_aud(&self, iss: Option<&str>, aud: Option<&str>) -> Result<()> {
        if let Some(want) = iss {
            if self.iss.as_deref() != Some(want) {
                return Err(Error::invalid("wrong issuer (iss)"));
            }
        }
        if let Some(want) = aud {
            if !self
                .aud
                .as_ref()
                .is_some_and(|list| list.iter().any(|a| a == want))
            {
                return Err(Error::invalid("wrong audience (aud)"));
            }
        }
        Ok(())
    }
}

/// Claims a caller may not set through CLAIMS: the module owns them.
pub const RESERVED: [&str; 9] = [
    "sub", "sid", "sinc", "sver", "jti", "iat", "exp", "iss", "aud",
];

/// Validates CLAIMS: a JSON object without reserved claims; `nbf`, if given, a number.
pub fn parse_public_claims(json: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>> {
    // The claims become the token's payload object: what VERIFY would refuse as too
    // deep must never be signed.
    if json_depth(json) > MAX_JSON_DEPTH {
        return Err(Error::syntax(format!(
            "CLAIMS is nested more than {MAX_JSON_DEPTH} deep: VERIFY would refuse the token"
        )));
    }
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|_| Error::syntax("CLAIMS is not valid JSON"))?;
    let serde_json::Value::Object(map) = value else {
        return Err(Error::syntax("CLAIMS must be a JSON object"));
    };
    for name in RESERVED {
        if map.contains_key(name) {
            return Err(Error::syntax(format!(
                "CLAIMS may not set the reserved claim '{name}' (use the command's options)"
            )));
        }
    }
    if let Some(nbf) = map.get("nbf") {
        if !nbf.is_number() {
            return Err(Error::syntax(
                "CLAIMS 'nbf' must be a number (seconds since the epoch)",
            ));
        }
    }
    Ok(map)
}

/// What SIGN puts in a token, in this order, then the public claims.
pub struct NewClaims<'a> {
    pub sub: &'a str,
    pub sid: Option<&'a str>,
    pub sinc: Option<i64>,
    pub sver: Option<i64>,
    pub jti: &'a str,
    pub iat: i64,
    pub exp: Option<i64>,
    pub iss: Option<&'a str>,
    pub aud: Option<&'a str>,
    pub public: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// Appends `s` as a JSON string (quotes and escapes) without building a Value.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(s); // the usual case: nothing to escape
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl NewClaims<'_> {
    pub fn to_json(&self) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(192);
        out.push_str("{\"sub\":");
        push_json_str(&mut out, self.sub);
        if let Some(sid) = self.sid {
            out.push_str(",\"sid\":");
            push_json_str(&mut out, sid);
        }
        if let Some(n) = self.sinc {
            let _ = write!(out, ",\"sinc\":{n}");
        }
        if let Some(v) = self.sver {
            let _ = write!(out, ",\"sver\":{v}");
        }
        out.push_str(",\"jti\":");
        push_json_str(&mut out, self.jti);
        let _ = write!(out, ",\"iat\":{}", self.iat);
        if let Some(exp) = self.exp {
            let _ = write!(out, ",\"exp\":{exp}");
        }
        if let Some(iss) = self.iss {
            out.push_str(",\"iss\":");
            push_json_str(&mut out, iss);
        }
        if let Some(aud) = self.aud {
            out.push_str(",\"aud\":");
            push_json_str(&mut out, aud);
        }
        if let Some(public) = self.public {
            for (k, v) in public {
                out.push(',');
                push_json_str(&mut out, k);
                out.push(':');
                out.push_str(&v.to_string());
            }
        }
        out.push('}');
        out
    }
}

/// `exp` for a lifetime: whole seconds, never shorter than asked by more than the
/// sub-second part already elapsed.
pub fn exp_for(now_ms: i64, lifetime_ms: i64) -> i64 {
    now_ms.div_euclid(1000) + (lifetime_ms + 999) / 1000
}

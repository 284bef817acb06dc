//! Signing keys: algorithms, rotation without cut-over, JWKS, interop both ways with an
//! independent JWT library (jsonwebtoken, which the module does not use to sign).
mod common;
use common::*;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};

const RSA_PEM: &str = include_str!("fixtures/rsa2048.pem");
const RSA_PKCS1_PEM: &str = include_str!("fixtures/rsa2048-pkcs1.pem");
const RSA_WEAK_PEM: &str = include_str!("fixtures/rsa1024.pem");
const EC_SEC1_PEM: &str = include_str!("fixtures/ec-sec1.pem");

fn key(c: &mut Connection, args: &[&str]) -> RedisResult<Value> {
    cmd("JWT.KEY").arg(args).query(c)
}

fn generate(c: &mut Connection, alg: &str) -> String {
    cmd("JWT.KEY").arg("GENERATE").arg(alg).query(c).unwrap()
}

fn header(token: &str) -> serde_json::Value {
    use base64::Engine;
    let seg = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(seg)
            .unwrap(),
    )
    .unwrap()
}

fn list(c: &mut Connection) -> Vec<(String, String, String)> {
    let rows: Vec<Vec<Value>> = cmd("JWT.KEY").arg("LIST").query(c).unwrap();
    rows.iter()
        .map(|r| {
            let s = |i: usize| redis::from_redis_value::<String>(&r[i]).unwrap();
            (s(1), s(3), s(7))
        })
        .collect()
}

fn jsonwebtoken_alg(alg: &str) -> Algorithm {
    match alg {
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        "RS256" => Algorithm::RS256,
        "PS256" => Algorithm::PS256,
        "RS512" => Algorithm::RS512,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        _ => Algorithm::HS256,
    }
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.validate_aud = false;
    v
}

#[test]
fn generate_and_sign_with_every_generated_algorithm() {
    let s = Server::start();
    let mut c = s.client();
    for alg in ["HS256", "HS384", "HS512", "ES256", "ES384", "EdDSA"] {
        let kid = generate(&mut c, alg);
        let t = sign(&mut c, &["alice", "KEY", &kid, "EXPIRES", "5m"]);
        let h = header(&t);
        assert_eq!(h["alg"], alg);
        assert_eq!(h["kid"], kid.as_str());
        assert!(verify(&mut c, &t).is_ok(), "{alg}");
    }
    let l = list(&mut c);
    assert_eq!(l.len(), 6);
    assert_eq!(
        l[0].2, "active",
        "the first key of an empty keyring becomes active"
    );
    assert!(l[1..].iter().all(|k| k.2 == "ready"));
    let kid: String = cmd("JWT.KEY")
        .arg("GENERATE")
        .arg("es256")
        .arg("KID")
        .arg("my-key.1")
        .query(&mut c)
        .unwrap();
    assert_eq!(kid, "my-key.1");
    let text = format!("{:?}", key(&mut c, &["LIST"]).unwrap());
    assert!(!text.contains("PRIVATE"), "LIST never shows material");
}

#[test]
fn our_tokens_verify_with_only_the_jwks() {
    let s = Server::start();
    let mut c = s.client();
    let _: () = cmd("JWT.KEY")
        .arg("IMPORT")
        .arg("rsa1")
        .arg("RS256")
        .arg(RSA_PEM)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("JWT.KEY")
        .arg("IMPORT")
        .arg("pss1")
        .arg("PS256")
        .arg(RSA_PKCS1_PEM)
        .query(&mut c)
        .unwrap();
    let mut kids = vec![("rsa1".to_string(), "RS256"), ("pss1".to_string(), "PS256")];
    for alg in ["ES256", "ES384", "EdDSA"] {
        kids.push((generate(&mut c, alg), alg));
    }
    let hs = generate(&mut c, "HS256");
    let jwks_text: String = cmd("JWT.JWKS").query(&mut c).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&jwks_text).unwrap();
    assert_eq!(
        jwks.keys.len(),
        5,
        "HMAC keys have no public part: {jwks_text}"
    );
    let raw = json(&jwks_text);
    for k in raw["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(k.get(private).is_none(), "{private} leaked: {k}");
        }
        assert_eq!(k["use"], "sig");
        assert!(k["alg"].is_string() && k["kid"].is_string());
        assert_ne!(k["kid"], hs.as_str());
    }
    for (kid, alg) in &kids {
        let t = sign(
            &mut c,
            &["bob", "KEY", kid, "EXPIRES", "5m", "CLAIMS", r#"{"n":1}"#],
        );
        let jwk = jwks.find(kid).unwrap_or_else(|| panic!("{kid} in JWKS"));
        let dk = DecodingKey::from_jwk(jwk).unwrap();
        let data =
            jsonwebtoken::decode::<serde_json::Value>(&t, &dk, &validation(jsonwebtoken_alg(alg)))
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(data.claims["sub"], "bob");
        assert_eq!(data.claims["n"], 1);
    }
}

#[test]
fn our_hmac_tokens_verify_elsewhere_with_the_exported_secret() {
    let s = Server::start();
    let mut c = s.client();
    for alg in ["HS256", "HS384", "HS512"] {
        let kid = generate(&mut c, alg);
        let t = sign(&mut c, &["carol", "KEY", &kid, "EXPIRES", "5m"]);
        let (_, _, secret): (String, String, Vec<u8>) = cmd("JWT.KEY")
            .arg("EXPORT")
            .arg(&kid)
            .query(&mut c)
            .unwrap();
        let v = validation(match alg {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            _ => Algorithm::HS512,
        });
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &t,
            &DecodingKey::from_secret(&exported_secret(&secret)),
            &v,
        )
        .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(data.claims["sub"], "carol");
    }
}

#[test]
fn tokens_signed_elsewhere_with_exported_keys_verify_here() {
    let s = Server::start();
    let mut c = s.client();
    let _: () = cmd("JWT.KEY")
        .arg("IMPORT")
        .arg("rsa")
        .arg("RS512")
        .arg(RSA_PEM)
        .query(&mut c)
        .unwrap();
    let mut kids = vec![("rsa".to_string(), "RS512")];
    for alg in ["HS256", "HS384", "HS512", "ES256", "ES384", "EdDSA"] {
        kids.push((generate(&mut c, alg), alg));
    }
    for (kid, alg) in &kids {
        let (k, a, material): (String, String, Vec<u8>) =
            cmd("JWT.KEY").arg("EXPORT").arg(kid).query(&mut c).unwrap();
        assert_eq!((&k, a.as_str()), (kid, *alg));
        let ek = match *alg {
            "HS256" | "HS384" | "HS512" => EncodingKey::from_secret(&exported_secret(&material)),
            "ES256" | "ES384" => EncodingKey::from_ec_pem(&material).unwrap(),
            "EdDSA" => EncodingKey::from_ed_pem(&material).unwrap(),
            _ => EncodingKey::from_rsa_pem(&material).unwrap(),
        };
        let mut h = jsonwebtoken::Header::new(jsonwebtoken_alg(alg));
        h.kid = Some(kid.clone());
        let claims = serde_json::json!({"sub": "svc", "exp": now_s() + 60});
        let t = jsonwebtoken::encode(&h, &claims, &ek).unwrap();
        let p = json(&verify(&mut c, &t).unwrap_or_else(|e| panic!("{alg}: {e}")));
        assert_eq!(p["sub"], "svc");
    }
    // An HMAC secret given as text, as jsonwebtoken users have them.
    let secret = "a-shared-secret-of-at-least-32-bytes!!";
    let _: () = cmd("JWT.KEY")
        .arg("IMPORT")
        .arg("legacy")
        .arg("HS256")
        .arg(secret)
        .query(&mut c)
        .unwrap();
    let mut h = jsonwebtoken::Header::new(Algorithm::HS256);
    h.kid = Some("legacy".into());
    let t = jsonwebtoken::encode(
        &h,
        &serde_json::json!({"sub": "x", "exp": now_s() + 60}),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    assert!(verify(&mut c, &t).is_ok());
}

#[test]
fn hs_rs_confusion_with_the_public_key_is_refused() {
    let s = Server::start();
    let mut c = s.client();
    let _: () = cmd("JWT.KEY")
        .arg("IMPORT")
        .arg("rsa")
        .arg("RS256")
        .arg(RSA_PEM)
        .query(&mut c)
        .unwrap();
    let jwks: String = cmd("JWT.JWKS").query(&mut c).unwrap();
    // The classic attack: HMAC the token with the RSA public key (here its JWKS text).
    let mut h = jsonwebtoken::Header::new(Algorithm::HS256);
    h.kid = Some("rsa".into());
    let t = jsonwebtoken::encode(
        &h,
        &serde_json::json!({"sub": "x", "exp": now_s() + 60}),
        &EncodingKey::from_secret(jwks.as_bytes()),
    )
    .unwrap();
    assert_eq!(code(verify(&mut c, &t)), "INVALID");
}

#[test]
fn rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
    let s = Server::start();
    let mut c = s.client();
    let old = sign(&mut c, &["carol", "EXPIRES", "10m"]);
    let old_kid = header(&old)["kid"].as_str().unwrap().to_string();
    let new_kid: String = cmd("JWT.KEY")
        .arg("ROTATE")
        .arg("ES256")
        .query(&mut c)
        .unwrap();
    assert_ne!(new_kid, old_kid);
    assert!(verify(&mut c, &old).is_ok(), "no cut-over");
    let fresh = sign(&mut c, &["carol"]);
    assert_eq!(header(&fresh)["kid"], new_kid.as_str());
    assert_eq!(header(&fresh)["alg"], "ES256");
    let l = list(&mut c);
    assert!(l.contains(&(old_kid.clone(), "HS256".into(), "retired".into())));
    assert!(l.contains(&(new_kid.clone(), "ES256".into(), "active".into())));
    let rows: Vec<Vec<Value>> = cmd("JWT.KEY").arg("LIST").query(&mut c).unwrap();
    let retired = rows
        .iter()
        .find(|r| redis::from_redis_value::<String>(&r[1]).unwrap() == old_kid)
        .unwrap();
    let retires_at: i64 = redis::from_redis_value(&retired[9]).unwrap();
    assert!(
        retires_at > now_s() * 1000 + 86_000_000,
        "kept for a session-ttl (1 day)"
    );
    assert_eq!(info_field(&mut c, "active_kid"), new_kid);
}

#[test]
fn retired_keys_are_dropped_when_their_tokens_cannot_be_valid() {
    let s = Server::start_with(&[], &["session-ttl", "1", "access-ttl", "1"]);
    let mut c = s.client();
    let old = sign(&mut c, &["dave", "TTL", "10s", "EXPIRES", "1"]);
    let old_kid = header(&old)["kid"].as_str().unwrap().to_string();
    let _: String = cmd("JWT.KEY").arg("ROTATE").query(&mut c).unwrap();
    assert!(verify(&mut c, &old).is_ok());
    sleep_ms(2600);
    assert_eq!(
        code(verify(&mut c, &old)),
        "INVALID",
        "the retired key is gone after its retention"
    );
    let l = list(&mut c);
    assert!(l.iter().all(|k| k.0 != old_kid), "purged: {l:?}");
    assert_eq!(info_field(&mut c, "keys"), "1");
}

#[test]
fn automatic_rotation_reaches_the_replica() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let mut r = replica.client();
    let t = sign(&mut p, &["erin", "EXPIRES", "10m"]);
    let first = info_field(&mut p, "active_kid");
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.key-rotation")
        .arg("1")
        .query(&mut p)
        .unwrap();
    let mut rotated = false;
    for _ in 0..40 {
        sleep_ms(100);
        if info_field(&mut p, "active_kid") != first {
            rotated = true;
            break;
        }
    }
    assert!(rotated, "rotated within a few seconds");
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.key-rotation")
        .arg("0")
        .query(&mut p)
        .unwrap();
    let t2 = sign(&mut p, &["erin"]);
    let _: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert_eq!(
        info_field(&mut r, "active_kid"),
        info_field(&mut p, "active_kid")
    );
    assert!(verify(&mut r, &t).is_ok() && verify(&mut r, &t2).is_ok());
    assert_eq!(list(&mut p), list(&mut r));
}

#[test]
fn keyring_changes_replicate_and_survive_partial_sync() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let mut r = replica.client();
    let kid = generate(&mut p, "EdDSA");
    let _: () = cmd("JWT.KEY")
        .arg("ACTIVATE")
        .arg(&kid)
        .query(&mut p)
        .unwrap();
    let _: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert_eq!(list(&mut p), list(&mut r));
    // Cut the link, change the keyring, let the replica resume from the backlog.
    let _: i64 = cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query(&mut p)
        .unwrap();
    let k2 = generate(&mut p, "ES384");
    let t = sign(&mut p, &["frank", "KEY", &k2]);
    for _ in 0..100 {
        let n: i64 = cmd("WAIT").arg(1).arg(100).query(&mut p).unwrap();
        if n == 1 {
            break;
        }
    }
    let stats: String = cmd("INFO").arg("stats").query(&mut p).unwrap();
    assert!(stats.contains("sync_partial_ok:1"), "{stats}");
    assert_eq!(list(&mut p), list(&mut r));
    assert!(verify(&mut r, &t).is_ok());
}

#[test]
fn key_errors_leave_the_keyring_unchanged() {
    let s = Server::start();
    let mut c = s.client();
    let kid = generate(&mut c, "HS256");
    let before = list(&mut c);
    let cases: Vec<Vec<&str>> = vec![
        vec!["GENERATE", "none"],
        vec!["GENERATE", "RS256"],
        vec!["GENERATE", "HS256", "KID", "bad kid"],
        vec!["GENERATE", "HS256", "KID", &kid],
        vec!["IMPORT", "k2", "HS256", "short"],
        vec![
            "IMPORT",
            "k2",
            "HS512",
            "0123456789012345678901234567890123456789",
        ],
        vec![
            "IMPORT",
            "k2",
            "ES256",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        ],
        vec!["IMPORT", "k2", "ES256", "not a pem"],
        vec!["IMPORT", "k2", "ES256", EC_SEC1_PEM],
        vec!["IMPORT", "k2", "RS256", RSA_WEAK_PEM],
        vec!["IMPORT", "k2", "ES256", RSA_PEM],
        vec!["IMPORT", "k2", "XX999", "x"],
        vec!["ACTIVATE", "nope"],
        vec!["RETIRE", "nope"],
        vec!["RETIRE", &kid],
        vec!["EXPORT", "nope"],
        vec!["ROTATE", "bogus"],
        vec!["LIST", "extra"],
    ];
    for args in &cases {
        let r = key(&mut c, args);
        assert_eq!(code(r), "ERR", "{args:?}");
    }
    assert_eq!(list(&mut c), before);
    assert!(error_text(key(&mut c, &["IMPORT", "k2", "ES256", EC_SEC1_PEM])).contains("pkcs8"));
    assert_eq!(
        code(
            cmd("JWT.SIGN")
                .arg("x")
                .arg("KEY")
                .arg("nope")
                .query::<String>(&mut c)
        ),
        "ERR"
    );
    // A retired key never signs again: not by ACTIVATE, not by SIGN KEY.
    let old = generate(&mut c, "HS256");
    let t = sign(&mut c, &["y", "KEY", &old]);
    assert!(key(&mut c, &["RETIRE", &old]).is_ok());
    let before = list(&mut c);
    assert!(error_text(key(&mut c, &["ACTIVATE", &old])).contains("retired"));
    let refused = cmd("JWT.SIGN")
        .arg(&["y", "KEY", &old][..])
        .query::<String>(&mut c);
    assert_eq!(code(refused), "ERR");
    assert_eq!(list(&mut c), before);
    assert!(
        verify(&mut c, &t).is_ok(),
        "it still verifies what it signed"
    );
}

#[test]
fn stateless_tokens() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(
        &mut c,
        &[
            "billing-service",
            "STATELESS",
            "CLAIMS",
            r#"{"scope":"invoices"}"#,
        ],
    );
    let p = payload(&t);
    assert!(p.get("sid").is_none());
    assert_eq!(
        p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(),
        900,
        "default jwt.access-ttl"
    );
    assert_eq!(json(&verify(&mut c, &t).unwrap())["scope"], "invoices");
    assert_eq!(dbsize(&mut c), 0, "no session written");
    assert!(error_text(cmd("JWT.TOUCH").arg(&t).query::<String>(&mut c)).contains("no session"));
    assert!(error_text(cmd("JWT.DESTROY").arg(&t).query::<i64>(&mut c)).contains("no session"));
    let short = sign(&mut c, &["svc", "STATELESS", "EXPIRES", "1"]);
    sleep_ms(2100);
    assert_eq!(code(verify(&mut c, &short)), "EXPIRED");
    for bad in ["DATA", "TTL", "SID", "MAXAGE"] {
        let v = if bad == "DATA" {
            "{}"
        } else if bad == "SID" {
            "x"
        } else {
            "1h"
        };
        assert_eq!(
            code(
                cmd("JWT.SIGN")
                    .arg("svc")
                    .arg("STATELESS")
                    .arg(bad)
                    .arg(v)
                    .query::<String>(&mut c)
            ),
            "ERR"
        );
    }
    assert_eq!(
        code(
            cmd("JWT.SIGN")
                .arg("svc")
                .arg("STATELESS")
                .arg("REFRESH")
                .query::<String>(&mut c)
        ),
        "ERR"
    );
}

#[test]
fn secrets_are_redacted_from_slowlog_and_monitor() {
    let s = Server::start_with(&["--slowlog-log-slower-than", "0"], &[]);
    let mut c = s.client();
    let mon = Monitor::attach(&s);
    let secret = "super-secret-value-that-must-not-leak-0123456789";
    let _: () = cmd("JWT.KEY")
        .arg("IMPORT")
        .arg("k")
        .arg("HS256")
        .arg(secret)
        .query(&mut c)
        .unwrap();
    let seen = mon.collect(&mut c);
    // JWT.KEY IMPORT is an admin command: MONITOR does not show it at all.
    assert!(!seen.contains(secret), "MONITOR: {seen}");
    let text = slowlog_text(&mut c);
    assert!(!text.contains(secret), "SLOWLOG: {text}");
    // Refused calls too: a user without @admin (NOPERM, which the module answers
    // itself on Redis 7.0) and a malformed one (ERR) are logged all the same.
    let _: () = cmd("ACL")
        .arg(&["SETUSER", "app", "on", "nopass", "~*", "+@all", "-@admin"][..])
        .query(&mut c)
        .unwrap();
    let mut app = s.client();
    let _: () = cmd("AUTH").arg(&["app", "x"][..]).query(&mut app).unwrap();
    for (conn, alg) in [(&mut app, "HS256"), (&mut c, "HS257")] {
        let refused: RedisResult<String> = cmd("JWT.KEY")
            .arg(&["IMPORT", "k2", alg, secret][..])
            .query(conn);
        assert!(refused.is_err());
    }
    let text = slowlog_text(&mut c);
    assert!(
        !text.contains(secret),
        "SLOWLOG after refused imports: {text}"
    );
    let _: String = cmd("DEBUG").arg("RELOAD").query(&mut c).unwrap();
    assert!(!s.log().contains(secret), "log file");
}

#[test]
fn ecdsa_zero_and_malformed_signatures_are_refused() {
    let s = Server::start();
    let mut c = s.client();
    for alg in ["ES256", "ES384", "EdDSA"] {
        let kid = generate(&mut c, alg);
        let t = sign(&mut c, &["alice", "KEY", &kid, "EXPIRES", "5m"]);
        let (input, sig) = t.rsplit_once('.').unwrap();
        let n = {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig)
                .unwrap()
                .len()
        };
        for bad in [vec![0u8; n], vec![0u8; n / 2], vec![0xffu8; n], vec![]] {
            let forged = format!("{input}.{}", b64(&bad));
            assert_eq!(
                code(verify(&mut c, &forged)),
                "INVALID",
                "{alg} {} bytes",
                bad.len()
            );
        }
        assert!(verify(&mut c, &t).is_ok());
    }
}

#[test]
fn generated_secrets_come_from_a_real_csprng() {
    // A proxy for "from the OS CSPRNG": full-length secrets, never repeated, across keys
    // and across servers (a fixed or time-seeded generator would collide here).
    let mut seen = std::collections::HashSet::new();
    for _ in 0..2 {
        let s = Server::start();
        let mut c = s.client();
        for alg in ["HS256", "HS512"] {
            for _ in 0..10 {
                let kid = generate(&mut c, alg);
                let (_, _, secret): (String, String, Vec<u8>) = cmd("JWT.KEY")
                    .arg("EXPORT")
                    .arg(&kid)
                    .query(&mut c)
                    .unwrap();
                assert!(
                    std::str::from_utf8(&secret).is_ok(),
                    "EXPORT answers text (clients decoding UTF-8 can take it)"
                );
                let secret = exported_secret(&secret);
                assert_eq!(secret.len(), if alg == "HS256" { 32 } else { 64 });
                let distinct: std::collections::HashSet<u8> = secret.iter().copied().collect();
                assert!(
                    distinct.len() > secret.len() / 2,
                    "secret bytes look random"
                );
                assert!(seen.insert(secret), "a secret repeated");
            }
        }
    }
}

#[test]
fn keyring_sync_is_redacted_on_replicas_too() {
    let primary = Server::start();
    let replica = Server::start_with(&["--slowlog-log-slower-than", "0"], &[]);
    replica.replicate_from(&primary);
    let mut p = primary.client();
    let mut r = replica.client();
    let secret = "replicated-secret-value-that-must-not-leak-0123";
    let _: () = cmd("JWT.KEY")
        .arg("IMPORT")
        .arg("k")
        .arg("HS256")
        .arg(secret)
        .query(&mut p)
        .unwrap();
    let _: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert_eq!(list(&mut r).len(), 1);
    let text = slowlog_text(&mut r);
    let b64_secret = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(secret)
    };
    assert!(
        !text.contains(secret) && !text.contains(&b64_secret[..20]),
        "replica SLOWLOG: {text}"
    );
}

fn retires_at(c: &mut Connection, kid: &str) -> i64 {
    let rows: Vec<Vec<Value>> = cmd("JWT.KEY").arg("LIST").query(c).unwrap();
    let row = rows
        .iter()
        .find(|r| redis::from_redis_value::<String>(&r[1]).unwrap() == kid)
        .unwrap();
    redis::from_redis_value(&row[9]).unwrap()
}

#[test]
fn a_retired_key_outlives_every_token_it_signed() {
    // Retention by configuration is one second here; the tokens say longer.
    let s = Server::start_with(&[], &["session-ttl", "1", "access-ttl", "1"]);
    let mut c = s.client();
    let long = sign(&mut c, &["amy", "TTL", "1h", "EXPIRES", "3"]);
    let sliding = sign(&mut c, &["ben", "TTL", "2s"]);
    let kid = header(&long)["kid"].as_str().unwrap().to_string();
    let _: String = cmd("JWT.KEY").arg("ROTATE").query(&mut c).unwrap();
    let exp_ms = payload(&long)["exp"].as_i64().unwrap() * 1000;
    assert!(
        retires_at(&mut c, &kid) >= exp_ms,
        "kept until the longest exp"
    );
    sleep_ms(1500);
    assert!(
        verify(&mut c, &long).is_ok(),
        "past the configured retention, within its exp"
    );
    // The sliding session is touched past the key's drop time: the key stays with it.
    let _: String = cmd("JWT.TOUCH")
        .arg(&sliding)
        .arg("TTL")
        .arg("4s")
        .query(&mut c)
        .unwrap();
    assert!(retires_at(&mut c, &kid) > now_s() * 1000 + 3000);
    sleep_ms(1500);
    assert!(
        verify(&mut c, &sliding).is_ok(),
        "the session lives, so does its token"
    );
    assert_eq!(code(verify(&mut c, &long)), "EXPIRED");
}

/// A SIGN that fails changes nothing, the keyring included: on an empty keyring, a
/// token over `jwt.max-token-bytes` is refused before the first key is made (and
/// replicated), and the next SIGN that fits makes it.
#[test]
fn a_refused_first_sign_makes_no_key() {
    let s = Server::start_with(&[], &["max-token-bytes", "1024"]);
    let mut c = s.client();
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(2000));
    for args in [
        vec!["alice", "CLAIMS", &big],
        vec!["svc", "STATELESS", "CLAIMS", &big],
    ] {
        let r: RedisResult<String> = cmd("JWT.SIGN").arg(&args).query(&mut c);
        assert_eq!(code(r), "ERR", "{}", args[1]);
        assert_eq!(info_field(&mut c, "keys"), "0", "{}", args[1]);
    }
    let t = sign(&mut c, &["alice"]);
    assert!(verify(&mut c, &t).is_ok());
    assert_eq!(info_field(&mut c, "keys"), "1");
}

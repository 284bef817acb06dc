//! Breach response and key hygiene: JWT.KEY REVOKE, the all-sessions cutoff, turning
//! stateless tokens off, keyring changes only on the primary, secrets that are key
//! text, the RSA sizes that work, and tokens SIGN must not issue.
mod common;
use common::*;

fn replica_read_only(r: &mut Connection, yes_or_no: &str) {
    let _: () = cmd("CONFIG")
        .arg(&["SET", "replica-read-only", yes_or_no][..])
        .query(r)
        .unwrap();
}

fn wait_replica(c: &mut Connection) {
    let n: i64 = cmd("WAIT").arg(1).arg(5000).query(c).unwrap();
    assert_eq!(n, 1, "replica acknowledged");
}

fn kid_of(token: &str) -> String {
    header(token)["kid"].as_str().unwrap().to_string()
}

#[test]
fn revoking_a_key_kills_its_tokens_at_once_but_not_the_sessions() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let mut r = replica.client();
    let _: String = cmd("JWT.KEY")
        .arg("GENERATE")
        .arg("ES256")
        .query(&mut p)
        .unwrap();
    let (access, refresh): (String, String) = cmd("JWT.SIGN")
        .arg("alice")
        .arg("REFRESH")
        .query(&mut p)
        .unwrap();
    let stateless: String = cmd("JWT.SIGN")
        .arg("svc")
        .arg("STATELESS")
        .query(&mut p)
        .unwrap();
    let leaked = kid_of(&access);
    wait_replica(&mut p);
    // Both nodes have it in their verify cache.
    for c in [&mut p, &mut r] {
        assert!(verify(c, &access).is_ok());
        assert!(verify(c, &access).is_ok());
        assert!(verify(c, &stateless).is_ok());
    }
    let jwks: String = cmd("JWT.JWKS").query(&mut p).unwrap();
    let new_active: String = cmd("JWT.KEY")
        .arg("REVOKE")
        .arg(&leaked)
        .query(&mut p)
        .unwrap();
    assert_ne!(new_active, leaked);
    wait_replica(&mut p);
    for c in [&mut p, &mut r] {
        assert_eq!(code(verify(c, &access)), "INVALID");
        assert_eq!(code(verify(c, &stateless)), "INVALID");
        let list: Vec<Vec<Value>> = cmd("JWT.KEY").arg("LIST").query(c).unwrap();
        assert!(list
            .iter()
            .all(|e| redis::from_redis_value::<String>(&e[1]).unwrap() != leaked));
    }
    let jwks_after: String = cmd("JWT.JWKS").query(&mut p).unwrap();
    assert!(jwks.contains(&leaked) && !jwks_after.contains(&leaked));
    // The session lives: its refresh token mints an access token under the new key.
    let (fresh, _): (String, String) = cmd("JWT.REFRESH").arg(&refresh).query(&mut p).unwrap();
    assert_eq!(kid_of(&fresh), new_active);
    assert!(verify(&mut p, &fresh).is_ok());
    // The kid can never come back.
    let again: RedisResult<String> = cmd("JWT.KEY")
        .arg("GENERATE")
        .arg("HS256")
        .arg("KID")
        .arg(&leaked)
        .query(&mut p);
    assert_eq!(code(again), "ERR");
}

/// The keyring of a migration (docs/migrating.md): the first SIGN's key plus a LEGACY
/// import. Revoking the active key must still end it at once: a LEGACY key never signs,
/// so the successor is a new key, not the LEGACY one (which made REVOKE fail and left
/// the leaked key signing).
#[test]
fn revoking_the_active_key_works_beside_a_legacy_key() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["bob"]);
    let leaked = kid_of(&t);
    let _: String = cmd("JWT.KEY")
        .arg(
            &[
                "IMPORT",
                "old",
                "HS256",
                "a-legacy-secret-of-32-bytes-or-more!",
                "LEGACY",
            ][..],
        )
        .query(&mut c)
        .unwrap();
    let next: String = cmd("JWT.KEY")
        .arg("REVOKE")
        .arg(&leaked)
        .query(&mut c)
        .unwrap();
    assert!(next != leaked && next != "old", "{next}");
    assert_eq!(code(verify(&mut c, &t)), "INVALID");
    assert_eq!(kid_of(&sign(&mut c, &["bob"])), next);
}

#[test]
fn revoking_the_only_key_generates_a_successor() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["bob"]);
    let kid = kid_of(&t);
    let next: String = cmd("JWT.KEY")
        .arg("REVOKE")
        .arg(&kid)
        .query(&mut c)
        .unwrap();
    assert_ne!(next, kid);
    assert_eq!(code(verify(&mut c, &t)), "INVALID");
    let t2 = sign(&mut c, &["bob"]);
    assert_eq!(kid_of(&t2), next);
    assert!(verify(&mut c, &t2).is_ok());
}

#[test]
fn cutoff_ends_every_session_at_once_everywhere() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let mut r = replica.client();
    let tokens: Vec<String> = (0..50).map(|i| sign(&mut p, &[&format!("u{i}")])).collect();
    let (_, refresh): (String, String) = cmd("JWT.SIGN")
        .arg("u0")
        .arg("REFRESH")
        .query(&mut p)
        .unwrap();
    let stateless: String = cmd("JWT.SIGN")
        .arg("svc")
        .arg("STATELESS")
        .query(&mut p)
        .unwrap();
    let keys_before: i64 = cmd("DBSIZE").query(&mut p).unwrap();
    let at: i64 = cmd("JWT.KEY").arg("CUTOFF").query(&mut p).unwrap();
    assert!(at > 0);
    wait_replica(&mut p);
    for c in [&mut p, &mut r] {
        for t in &tokens {
            assert_eq!(code(verify(c, t)), "REVOKED");
        }
        assert_eq!(code(verify(c, &stateless)), "REVOKED");
        let n: i64 = cmd("JWT.COUNT").arg("u1").query(c).unwrap();
        assert_eq!(n, 0);
    }
    assert_eq!(
        code(cmd("JWT.REFRESH").arg(&refresh).query::<Value>(&mut p)),
        "REVOKED"
    );
    // O(1): nothing was scanned or deleted.
    let keys_after: i64 = cmd("DBSIZE").query(&mut p).unwrap();
    assert_eq!(keys_after, keys_before);
    // New logins work, here and after a restart of the replica's view (DEBUG RELOAD).
    let t = sign(&mut p, &["u1"]);
    assert!(verify(&mut p, &t).is_ok());
    let _: String = cmd("DEBUG").arg("RELOAD").query(&mut p).unwrap();
    assert!(verify(&mut p, &t).is_ok());
    assert_eq!(code(verify(&mut p, &tokens[1])), "REVOKED");
}

#[test]
fn stateless_tokens_can_be_turned_off() {
    let s = Server::start();
    let mut c = s.client();
    let stateless: String = cmd("JWT.SIGN")
        .arg("svc")
        .arg("STATELESS")
        .query(&mut c)
        .unwrap();
    let with_session = sign(&mut c, &["alice"]);
    assert!(verify(&mut c, &stateless).is_ok());
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.stateless")
        .arg("deny")
        .query(&mut c)
        .unwrap();
    assert_eq!(code(verify(&mut c, &stateless)), "INVALID");
    assert!(verify(&mut c, &with_session).is_ok());
    assert_eq!(
        code(
            cmd("JWT.SIGN")
                .arg("svc")
                .arg("STATELESS")
                .query::<String>(&mut c)
        ),
        "ERR",
        "SIGN does not issue what VERIFY would refuse"
    );
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.stateless")
        .arg("allow")
        .query(&mut c)
        .unwrap();
    assert!(verify(&mut c, &stateless).is_ok());
    let bad: RedisResult<()> = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.stateless")
        .arg("maybe")
        .query(&mut c);
    assert!(bad.is_err());
}

/// Session writes go to the primary, on any replica: a read-only one refuses them as
/// writes, a writable one too (it would change only its own copy: a DESTROY or REVOKE
/// answering 1 while the session lives on at the primary, a logout that did not happen).
#[test]
fn session_writes_answer_readonly_on_any_replica() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let (access, refresh): (String, String) = cmd("JWT.SIGN")
        .arg(&["alice", "REFRESH"][..])
        .query(&mut p)
        .unwrap();
    wait_replica(&mut p);
    let mut r = replica.client();
    for read_only in ["yes", "no"] {
        replica_read_only(&mut r, read_only);
        for args in [
            vec!["JWT.SIGN", "bob"],
            vec!["JWT.SIGN", "svc", "STATELESS"],
            vec!["JWT.TOUCH", access.as_str()],
            vec!["JWT.DESTROY", access.as_str()],
            vec!["JWT.REFRESH", refresh.as_str()],
            vec!["JWT.UPDATE", access.as_str(), "DATA", "1"],
            vec!["JWT.REVOKE", "alice"],
        ] {
            let res: RedisResult<Value> = cmd(args[0]).arg(&args[1..]).query(&mut r);
            assert_eq!(
                code(res),
                "READONLY",
                "replica-read-only {read_only}: {args:?}"
            );
        }
    }
    // Nothing changed anywhere: the session verifies on both, its refresh token rotates.
    assert!(verify(&mut r, &access).is_ok());
    assert!(verify(&mut p, &access).is_ok());
    let r2: RedisResult<(String, String)> = cmd("JWT.REFRESH").arg(&refresh).query(&mut p);
    assert!(r2.is_ok(), "{r2:?}");
}

/// docs/operations.md: the reads work on replicas (VERIFY, DECODE, SESSIONS, COUNT,
/// JWKS, KEY LIST, KEY EXPORT), read-only replica or writable.
#[test]
fn reads_work_on_replicas() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let t = sign(&mut p, &["alice"]);
    let kid = kid_of(&t);
    wait_replica(&mut p);
    let mut r = replica.client();
    for read_only in ["yes", "no"] {
        replica_read_only(&mut r, read_only);
        for args in [
            vec!["JWT.VERIFY", t.as_str()],
            vec!["JWT.DECODE", t.as_str()],
            vec!["JWT.SESSIONS", "alice"],
            vec!["JWT.COUNT", "alice"],
            vec!["JWT.JWKS"],
            vec!["JWT.KEY", "LIST"],
            vec!["JWT.KEY", "EXPORT", kid.as_str()],
        ] {
            let res: RedisResult<Value> = cmd(args[0]).arg(&args[1..]).query(&mut r);
            assert!(
                res.is_ok(),
                "replica-read-only {read_only}: {args:?}: {res:?}"
            );
        }
        let n: i64 = cmd("JWT.COUNT").arg("alice").query(&mut r).unwrap();
        assert_eq!(n, 1);
    }
}

#[test]
fn the_keyring_changes_only_on_the_primary() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let mut r = replica.client();
    let t = sign(&mut p, &["alice"]);
    wait_replica(&mut p);
    let kid = kid_of(&t);
    for writable in ["yes", "no"] {
        let _: () = cmd("CONFIG")
            .arg("SET")
            .arg("replica-read-only")
            .arg(if writable == "yes" { "no" } else { "yes" })
            .query(&mut r)
            .unwrap();
        for args in [
            vec!["ROTATE"],
            vec!["GENERATE", "HS256"],
            vec!["IMPORT", "k2", "HS256", "0123456789abcdef0123456789abcdef"],
            vec!["ACTIVATE", kid.as_str()],
            vec!["RETIRE", kid.as_str()],
            vec!["REVOKE", kid.as_str()],
            vec!["CUTOFF"],
        ] {
            let res: RedisResult<Value> = cmd("JWT.KEY").arg(&args).query(&mut r);
            assert_eq!(code(res), "READONLY", "writable={writable} {args:?}");
        }
    }
    // A writable replica whose keyring is empty does not make a key of its own.
    let fresh = Server::start();
    let empty_primary = Server::start();
    fresh.replicate_from(&empty_primary);
    let mut f = fresh.client();
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("replica-read-only")
        .arg("no")
        .query(&mut f)
        .unwrap();
    assert_eq!(
        code(cmd("JWT.SIGN").arg("x").query::<String>(&mut f)),
        "READONLY"
    );
    assert_eq!(info_field(&mut f, "keys"), "0");
    assert!(verify(&mut r, &t).is_ok());
}

#[test]
fn hmac_secrets_that_are_key_text_are_refused() {
    let s = Server::start();
    let mut c = s.client();
    let pem = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rsa2048.pem"),
    )
    .unwrap();
    let public_pem = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----\n";
    let jwk = r#"{"kty":"RSA","n":"u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0","e":"AQAB"}"#;
    for secret in [pem.as_str(), public_pem, jwk] {
        for alg in ["HS256", "HS384", "HS512"] {
            let r: RedisResult<String> = cmd("JWT.KEY")
                .arg("IMPORT")
                .arg("k")
                .arg(alg)
                .arg(secret)
                .query(&mut c);
            let text = error_text(r);
            assert!(text.contains("algorithm-confusion"), "{text}");
        }
    }
    assert_eq!(info_field(&mut c, "keys"), "0");
}

#[test]
fn rsa_keys_of_the_documented_sizes_work_and_no_others() {
    let s = Server::start();
    let mut c = s.client();
    let fixture = |name: &str| {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name),
        )
        .unwrap()
    };
    for (file, ok) in [
        ("rsa1024.pem", false),
        ("rsa2048.pem", true),
        ("rsa4096.pem", true),
        ("rsa8192.pem", false),
    ] {
        let kid = file.trim_end_matches(".pem");
        let r: RedisResult<String> = cmd("JWT.KEY")
            .arg("IMPORT")
            .arg(kid)
            .arg("RS256")
            .arg(fixture(file))
            .query(&mut c);
        if ok {
            assert!(r.is_ok(), "{file}: {r:?}");
            let t = sign(&mut c, &["alice", "KEY", kid]);
            assert!(verify(&mut c, &t).is_ok());
        } else {
            let text = error_text(r);
            assert!(text.contains("2048 to 4096 bits"), "{file}: {text}");
        }
    }
}

#[test]
fn sign_refuses_tokens_that_verify_would_refuse() {
    let s = Server::start();
    let mut c = s.client();
    let nested = |depth: usize| {
        format!(
            "{}{}{}",
            r#"{"a":"#.repeat(depth - 1),
            "1",
            "}".repeat(depth - 1)
        )
        .replacen("1", "{\"b\":1}", 1)
    };
    // 16 deep is the limit VERIFY takes; 17 is refused by SIGN, as VERIFY would.
    let ok = sign(&mut c, &["alice", "CLAIMS", &nested(16)]);
    assert!(verify(&mut c, &ok).is_ok());
    let r: RedisResult<String> = cmd("JWT.SIGN")
        .arg("alice")
        .arg("CLAIMS")
        .arg(nested(17))
        .query(&mut c);
    assert_eq!(code(r), "ERR");
    // Larger than jwt.max-token-bytes.
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(9000));
    let r: RedisResult<String> = cmd("JWT.SIGN")
        .arg("alice")
        .arg("CLAIMS")
        .arg(&big)
        .query(&mut c);
    assert!(error_text(r).contains("max-token-bytes"));
    let n: i64 = cmd("JWT.COUNT").arg("alice").query(&mut c).unwrap();
    assert_eq!(n, 1, "the refused SIGNs created no session");
}

/// docs/design.md: ROTATE's and REVOKE's replacement for an RSA key is ES256 (the module
/// generates no RSA keys), so a breach response on an RSA deployment keeps signing.
#[test]
fn an_rsa_key_is_followed_by_es256() {
    let s = Server::start();
    let mut c = s.client();
    import_fixture_key(&mut c, "rsa", "RS256", "rsa2048.pem");
    let t = sign(&mut c, &["alice"]);
    assert_eq!(kid_of(&t), "rsa");
    let next: String = cmd("JWT.KEY")
        .arg(&["REVOKE", "rsa"][..])
        .query(&mut c)
        .unwrap();
    assert_eq!(code(verify(&mut c, &t)), "INVALID");
    let t2 = sign(&mut c, &["alice"]);
    assert_eq!(kid_of(&t2), next);
    assert_eq!(header_alg(&t2), "ES256");
    assert!(verify(&mut c, &t2).is_ok());
    // ROTATE from an RSA key, too.
    import_fixture_key(&mut c, "rsa2", "RS256", "rsa4096.pem");
    let _: String = cmd("JWT.KEY")
        .arg(&["ACTIVATE", "rsa2"][..])
        .query(&mut c)
        .unwrap();
    let rotated: String = cmd("JWT.KEY").arg("ROTATE").query(&mut c).unwrap();
    let t3 = sign(&mut c, &["alice"]);
    assert_eq!(
        (kid_of(&t3), header_alg(&t3)),
        (rotated, "ES256".to_string())
    );
}

/// docs/design.md: a revoked kid is a tombstone; it never comes back, not by GENERATE,
/// not by IMPORT of the leaked material, not after a reload.
#[test]
fn a_revoked_kid_never_comes_back() {
    let s = Server::start();
    let mut c = s.client();
    let secret = "0123456789abcdef0123456789abcdef";
    let _: String = cmd("JWT.KEY")
        .arg(&["IMPORT", "leaked", "HS256", secret][..])
        .query(&mut c)
        .unwrap();
    let t = sign(&mut c, &["alice", "KEY", "leaked"]);
    let _: Value = cmd("JWT.KEY")
        .arg(&["REVOKE", "leaked"][..])
        .query(&mut c)
        .unwrap();
    for round in ["before", "after DEBUG RELOAD"] {
        let again: RedisResult<String> = cmd("JWT.KEY")
            .arg(&["IMPORT", "leaked", "HS256", secret][..])
            .query(&mut c);
        assert_eq!(code(again), "ERR", "{round}");
        let gen: RedisResult<String> = cmd("JWT.KEY")
            .arg(&["GENERATE", "HS256", "KID", "leaked"][..])
            .query(&mut c);
        assert_eq!(code(gen), "ERR", "{round}");
        assert_eq!(code(verify(&mut c, &t)), "INVALID", "{round}");
        let _: String = cmd("DEBUG").arg("RELOAD").query(&mut c).unwrap();
    }
}

fn header_alg(token: &str) -> String {
    header(token)["alg"].as_str().unwrap().to_string()
}

//! Refresh tokens: rotation, reuse detection, the grace window, type separation.
mod common;
use common::*;

fn sign_pair(c: &mut Connection, args: &[&str]) -> (String, String) {
    cmd("JWT.SIGN")
        .arg(args)
        .arg("REFRESH")
        .query(c)
        .expect("JWT.SIGN REFRESH")
}

fn refresh(c: &mut Connection, rt: &str) -> RedisResult<(String, String)> {
    cmd("JWT.REFRESH").arg(rt).query(c)
}

fn set_grace(c: &mut Connection, d: &str) {
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.refresh-grace")
        .arg(d)
        .query(c)
        .unwrap();
}

#[test]
fn full_flow_rotates_and_keeps_claims() {
    let s = Server::start();
    let mut c = s.client();
    let (a, mut r) = sign_pair(
        &mut c,
        &[
            "alice",
            "CLAIMS",
            r#"{"role":"admin"}"#,
            "ISS",
            "auth",
            "AUD",
            "web",
        ],
    );
    assert!(r.starts_with("jwtr_") && r.len() > 60, "{r}");
    let p = payload(&a);
    assert_eq!(
        p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(),
        900,
        "access-ttl default 15 minutes"
    );
    let sid = p["sid"].clone();
    let mut jtis = vec![p["jti"].clone()];
    for _ in 0..5 {
        let (a2, r2) = refresh(&mut c, &r).unwrap();
        assert_ne!(r2, r);
        let p2 = json(&verify(&mut c, &a2).unwrap());
        assert_eq!(p2["sid"], sid);
        assert_eq!(p2["role"], "admin");
        assert_eq!(p2["iss"], "auth");
        assert_eq!(p2["aud"], "web");
        assert!(!jtis.contains(&p2["jti"]));
        jtis.push(p2["jti"].clone());
        r = r2;
    }
    assert!(
        verify(&mut c, &a).is_ok(),
        "old access tokens stay valid until they expire"
    );
    let (a3, _) = cmd("JWT.REFRESH")
        .arg(&r)
        .arg("EXPIRES")
        .arg("1m")
        .query::<(String, String)>(&mut c)
        .unwrap();
    let p3 = payload(&a3);
    assert_eq!(
        p3["exp"].as_i64().unwrap() - p3["iat"].as_i64().unwrap(),
        60
    );
    assert_eq!(info_field(&mut c, "refreshes"), "6");
}

#[test]
fn reuse_after_grace_revokes_the_session() {
    let s = Server::start_with(&["--notify-keyspace-events", "Ed"], &[]);
    let mut c = s.client();
    set_grace(&mut c, "0");
    let (_, r1) = sign_pair(&mut c, &["bob", "SID", "dev"]);
    let (a2, r2) = refresh(&mut c, &r1).unwrap();
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", s.port)).unwrap();
    let mut sub_con = client.get_connection().unwrap();
    let mut pubsub = sub_con.as_pubsub();
    pubsub.subscribe("__keyevent@0__:jwt.reuse").unwrap();
    assert_eq!(code(refresh(&mut c, &r1)), "REUSED");
    let m = pubsub.get_message().unwrap();
    assert_eq!(m.get_payload::<String>().unwrap(), "jwt:{bob}:dev");
    assert_eq!(
        code(verify(&mut c, &a2)),
        "REVOKED",
        "every access token of the session"
    );
    assert_eq!(
        code(refresh(&mut c, &r2)),
        "REVOKED",
        "the thief's newer token is dead too"
    );
    assert_eq!(info_field(&mut c, "reuse_detections"), "1");
    assert_eq!(info_field(&mut c, "failures_reused"), "1");
}

#[test]
fn predecessor_inside_grace_gets_a_working_pair() {
    let s = Server::start();
    let mut c = s.client();
    let (_, r1) = sign_pair(&mut c, &["carol"]);
    let (_, r2) = refresh(&mut c, &r1).unwrap(); // tab A
    let (a_b, r_b) = refresh(&mut c, &r1).unwrap(); // tab B raced with the same token
    assert!(verify(&mut c, &a_b).is_ok());
    assert_ne!(r_b, r2);
    // Both tabs now hold a current token; whichever refreshes next rotates.
    let (_, r3) = refresh(&mut c, &r_b).unwrap();
    assert!(refresh(&mut c, &r3).is_ok());
}

#[test]
fn older_generation_inside_the_window_still_revokes() {
    let s = Server::start();
    let mut c = s.client();
    let (_, r1) = sign_pair(&mut c, &["dave"]);
    let (_, r2) = refresh(&mut c, &r1).unwrap();
    let (a3, _r3) = refresh(&mut c, &r2).unwrap();
    assert_eq!(code(refresh(&mut c, &r1)), "REUSED", "two generations back");
    assert_eq!(code(verify(&mut c, &a3)), "REVOKED");
}

#[test]
fn concurrent_refreshes_commit_exactly_one_rotation() {
    let s = Server::start();
    let mut c = s.client();
    set_grace(&mut c, "0");
    let (_, r) = sign_pair(&mut c, &["erin"]);
    let port = s.port;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let r = r.clone();
            std::thread::spawn(move || {
                let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
                refresh(&mut c, &r).map_err(|e| e.code().unwrap_or("?").to_string())
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e == "REUSED" || e == "REVOKED"),
        "{results:?}"
    );
    assert_eq!(info_field(&mut c, "refreshes"), "1");
}

#[test]
fn type_separation_and_forgery() {
    let s = Server::start();
    let mut c = s.client();
    let (a, r) = sign_pair(&mut c, &["frank"]);
    assert!(error_text(verify(&mut c, &r)).contains("refresh token"));
    assert_eq!(
        code(cmd("JWT.TOUCH").arg(&r).query::<String>(&mut c)),
        "INVALID"
    );
    assert!(error_text(refresh(&mut c, &a)).contains("access token"));
    let before: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    let mut bytes = r.clone().into_bytes();
    let i = bytes.len() - 60;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert_eq!(code(refresh(&mut c, &tampered)), "INVALID");
    assert_eq!(code(refresh(&mut c, "jwtr_AAAA")), "INVALID");
    assert_eq!(code(refresh(&mut c, "garbage")), "INVALID");
    let after: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    assert_eq!(before, after, "a forged refresh token changes nothing");
    assert!(refresh(&mut c, &r).is_ok());
}

#[test]
fn refresh_of_ended_sessions_is_revoked() {
    let s = Server::start();
    let mut c = s.client();
    let (a, r) = sign_pair(&mut c, &["gina"]);
    let _: i64 = cmd("JWT.DESTROY").arg(&a).query(&mut c).unwrap();
    assert_eq!(code(refresh(&mut c, &r)), "REVOKED");
    let (_, r) = sign_pair(&mut c, &["gina", "TTL", "200ms"]);
    sleep_ms(400);
    assert_eq!(code(refresh(&mut c, &r)), "REVOKED");
    // A session signed without REFRESH has no refresh token to rotate.
    let _ = sign(&mut c, &["gina", "SID", "plain"]);
}

#[test]
fn only_hashes_are_stored() {
    let s = Server::start();
    let mut c = s.client();
    let (a, r) = sign_pair(&mut c, &["hal", "SID", "x"]);
    let raw = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&r[5..])
            .unwrap()
    };
    let secret = &raw[raw.len() - 64..raw.len() - 32];
    let dump: Vec<u8> = cmd("DUMP").arg("jwt:{hal}:x").query(&mut c).unwrap();
    assert!(
        !dump.windows(32).any(|w| w == secret),
        "the secret is not in the session"
    );
    let fields: Vec<Vec<u8>> = cmd("HGETALL").arg("jwt:{hal}:x").query(&mut c).unwrap();
    assert!(fields.iter().all(|f| !f.windows(32).any(|w| w == secret)));
    assert!(verify(&mut c, &a).is_ok());
}

#[test]
fn refresh_extends_the_session_but_not_past_maxage() {
    let s = Server::start();
    let mut c = s.client();
    let (_, r) = sign_pair(&mut c, &["ivy", "SID", "s", "TTL", "1h", "MAXAGE", "90m"]);
    let _: i64 = cmd("PEXPIRE")
        .arg("jwt:{ivy}:s")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    let (_, r) = refresh(&mut c, &r).unwrap();
    let ttl: i64 = cmd("PTTL").arg("jwt:{ivy}:s").query(&mut c).unwrap();
    assert!(
        ttl > 3_590_000 && ttl <= 3_600_000,
        "idle life restored: {ttl}"
    );
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.session-ttl")
        .arg("1d")
        .query(&mut c)
        .unwrap();
    let (_, _) = refresh(&mut c, &r).unwrap();
    let ttl: i64 = cmd("PTTL").arg("jwt:{ivy}:s").query(&mut c).unwrap();
    assert!(ttl <= 5_400_000, "never past MAXAGE: {ttl}");
}

#[test]
fn survives_reload_and_replicates() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let mut rc = replica.client();
    let (_, r1) = sign_pair(&mut p, &["judy"]);
    let (_, r2) = refresh(&mut p, &r1).unwrap();
    let _: String = cmd("DEBUG").arg("RELOAD").query(&mut p).unwrap();
    let (a3, r3) = refresh(&mut p, &r2).unwrap();
    let (a4, _) = refresh(&mut p, &r3).unwrap();
    let _: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert!(verify(&mut rc, &a3).is_ok() && verify(&mut rc, &a4).is_ok());
    let d1: String = cmd("DEBUG").arg("DIGEST").query(&mut p).unwrap();
    let d2: String = cmd("DEBUG").arg("DIGEST").query(&mut rc).unwrap();
    assert_eq!(d1, d2, "the replica holds the rotated state");
    assert!(
        cmd("JWT.REFRESH")
            .arg(&r1)
            .query::<(String, String)>(&mut rc)
            .is_err(),
        "writes refused on a replica"
    );
}

#[test]
fn logout_with_a_refresh_token() {
    let s = Server::start();
    let mut c = s.client();
    let (a, r) = sign_pair(&mut c, &["kim", "SID", "k"]);
    let mut bytes = r.clone().into_bytes();
    let i = bytes.len() - 60;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        code(
            cmd("JWT.DESTROY")
                .arg(String::from_utf8(bytes).unwrap())
                .query::<i64>(&mut c)
        ),
        "INVALID"
    );
    assert!(
        verify(&mut c, &a).is_ok(),
        "a forged refresh token logs nobody out"
    );
    let n: i64 = cmd("JWT.DESTROY").arg(&r).query(&mut c).unwrap();
    assert_eq!(n, 1);
    assert_eq!(code(verify(&mut c, &a)), "REVOKED");
    let n: i64 = cmd("JWT.DESTROY").arg(&r).query(&mut c).unwrap();
    assert_eq!(n, 0, "already gone");
    // A refresh token of an earlier session with the same SID ends nothing.
    sleep_ms(5);
    let (a2, _) = sign_pair(&mut c, &["kim", "SID", "k"]);
    let n: i64 = cmd("JWT.DESTROY").arg(&r).query(&mut c).unwrap();
    assert_eq!(n, 0);
    assert!(verify(&mut c, &a2).is_ok());
}

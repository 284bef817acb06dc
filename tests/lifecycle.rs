//! JWT.SIGN / VERIFY / DECODE / TOUCH / DESTROY end to end on a real redis-server.
mod common;
use common::*;

#[test]
fn sign_verify_touch_destroy() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(
        &mut c,
        &["alice", "CLAIMS", r#"{"role":"admin"}"#, "TTL", "10m"],
    );
    let p = json(&verify(&mut c, &t).unwrap());
    assert_eq!(p["sub"], "alice");
    assert_eq!(p["role"], "admin");
    assert!(
        p["exp"].is_null(),
        "no EXPIRES: the token lives as long as its session"
    );
    let sid = p["sid"].as_str().unwrap().to_string();
    assert_eq!(sid.len(), 36);
    let skey = format!("jwt:{{alice}}:{sid}");
    let ttl_before: i64 = cmd("PTTL").arg(&skey).query(&mut c).unwrap();
    assert!(
        ttl_before > 590_000 && ttl_before <= 600_000,
        "{ttl_before}"
    );

    let touched: String = cmd("JWT.TOUCH")
        .arg(&t)
        .arg("TTL")
        .arg("2h")
        .query(&mut c)
        .unwrap();
    assert_eq!(json(&touched), p);
    let ttl_after: i64 = cmd("PTTL").arg(&skey).query(&mut c).unwrap();
    assert!(ttl_after > 7_000_000, "TTL grew: {ttl_after}");
    let idx_ttl: i64 = cmd("PTTL").arg("jwt:{alice}").query(&mut c).unwrap();
    assert!(
        idx_ttl >= ttl_after - 5 && idx_ttl <= ttl_after + 5,
        "index lives as its session: {idx_ttl}"
    );

    let n: i64 = cmd("JWT.DESTROY").arg(&t).query(&mut c).unwrap();
    assert_eq!(n, 1);
    assert_eq!(code(verify(&mut c, &t)), "REVOKED");
    let n: i64 = cmd("JWT.DESTROY").arg(&t).query(&mut c).unwrap();
    assert_eq!(n, 0, "already gone");
    assert_eq!(
        code(cmd("JWT.TOUCH").arg(&t).query::<String>(&mut c)),
        "REVOKED"
    );
    assert_eq!(dbsize(&mut c), 0, "session and index are gone");
}

#[test]
fn token_claims() {
    let s = Server::start();
    let mut c = s.client();
    let before = now_s();
    let t = sign(
        &mut c,
        &[
            "bob",
            "EXPIRES",
            "15 minutes",
            "AUD",
            "web",
            "ISS",
            "auth.example",
            "CLAIMS",
            r#"{"n":[1,{"x":true}]}"#,
        ],
    );
    let p = payload(&t);
    let iat = p["iat"].as_i64().unwrap();
    assert!(iat >= before && iat <= now_s());
    assert_eq!(p["exp"].as_i64().unwrap(), iat + 900);
    assert_eq!(p["aud"], "web");
    assert_eq!(p["iss"], "auth.example");
    assert_eq!(p["n"][1]["x"], true);
    assert_eq!(p["jti"].as_str().unwrap().len(), 36);
    assert_ne!(p["jti"], p["sid"]);
    let t2 = sign(&mut c, &["bob"]);
    assert_ne!(payload(&t2)["jti"], p["jti"], "fresh jti per token");
    // iss/aud checks at verify time
    assert!(cmd("JWT.VERIFY")
        .arg(&t)
        .arg("AUD")
        .arg("web")
        .query::<String>(&mut c)
        .is_ok());
    assert_eq!(
        code(
            cmd("JWT.VERIFY")
                .arg(&t)
                .arg("AUD")
                .arg("api")
                .query::<String>(&mut c)
        ),
        "INVALID"
    );
    assert_eq!(
        code(
            cmd("JWT.VERIFY")
                .arg(&t)
                .arg("ISS")
                .arg("evil")
                .query::<String>(&mut c)
        ),
        "INVALID"
    );
    assert_eq!(
        code(
            cmd("JWT.VERIFY")
                .arg(&t2)
                .arg("AUD")
                .arg("web")
                .query::<String>(&mut c)
        ),
        "INVALID"
    );
    // header
    let (h, pl): (String, String) = cmd("JWT.DECODE").arg(&t).query(&mut c).unwrap();
    let h = json(&h);
    assert_eq!(h["alg"], "HS256");
    assert_eq!(h["typ"], "JWT");
    assert!(!h["kid"].as_str().unwrap().is_empty());
    assert_eq!(json(&pl), p);
}

#[test]
fn private_data_is_never_in_the_token() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(
        &mut c,
        &["carol", "DATA", r#"{"cart":[1,2],"secret":"s3"}"#],
    );
    // The decoded payload, not the token text: base64 of random ids and a signature
    // spells "s3" by chance about once in twenty tokens.
    let claims = payload(&t).to_string();
    assert!(
        !claims.contains("s3") && !claims.contains("secret"),
        "{claims}"
    );
    let (p, d): (String, String) = cmd("JWT.VERIFY")
        .arg(&t)
        .arg("WITHDATA")
        .query(&mut c)
        .unwrap();
    assert_eq!(json(&p)["sub"], "carol");
    assert_eq!(json(&d)["secret"], "s3");
    let t2 = sign(&mut c, &["carol"]);
    let (_, d): (String, Option<String>) = cmd("JWT.VERIFY")
        .arg(&t2)
        .arg("withdata")
        .query(&mut c)
        .unwrap();
    assert_eq!(d, None);
}

#[test]
fn expired_and_not_yet_valid() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["dave", "EXPIRES", "1"]);
    let nbf = now_s() + 100;
    let future = sign(&mut c, &["dave", "CLAIMS", &format!(r#"{{"nbf":{nbf}}}"#)]);
    assert_eq!(code(verify(&mut c, &future)), "NOTBEFORE");
    sleep_ms(2100);
    assert_eq!(code(verify(&mut c, &t)), "EXPIRED");
    assert_eq!(
        code(cmd("JWT.TOUCH").arg(&t).query::<String>(&mut c)),
        "EXPIRED"
    );
    // A session without a refresh token ends with its token: nothing left to log out.
    let n: i64 = cmd("JWT.DESTROY").arg(&t).query(&mut c).unwrap();
    assert_eq!(n, 0);
    // An expired token of a session that lives on (REFRESH) may still log out.
    let (t, _): (String, String) = cmd("JWT.SIGN")
        .arg(&["dave", "REFRESH", "EXPIRES", "1"][..])
        .query(&mut c)
        .unwrap();
    sleep_ms(2100);
    assert_eq!(code(verify(&mut c, &t)), "EXPIRED");
    let n: i64 = cmd("JWT.DESTROY").arg(&t).query(&mut c).unwrap();
    assert_eq!(n, 1);
    // leeway: a session signed under it lives as long as its token may be accepted
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.leeway")
        .arg("5m")
        .query(&mut c)
        .unwrap();
    let t = sign(&mut c, &["dave", "EXPIRES", "1"]);
    sleep_ms(2100);
    assert!(verify(&mut c, &t).is_ok());
    assert!(verify(&mut c, &future).is_ok(), "nbf within leeway");
}

#[test]
fn session_idle_timeout_revokes() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["erin", "TTL", "300ms"]);
    assert!(verify(&mut c, &t).is_ok());
    sleep_ms(500);
    assert_eq!(code(verify(&mut c, &t)), "REVOKED");
}

#[test]
fn touch_uses_the_session_idle_ttl_and_maxage_caps_it() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["frank", "TTL", "1h", "MAXAGE", "90m"]);
    let sid = payload(&t)["sid"].as_str().unwrap().to_string();
    let key = format!("jwt:{{frank}}:{sid}");
    let _: String = cmd("JWT.TOUCH").arg(&t).query(&mut c).unwrap();
    let ttl: i64 = cmd("PTTL").arg(&key).query(&mut c).unwrap();
    assert!(ttl > 3_590_000 && ttl <= 3_600_000, "{ttl}");
    let _: String = cmd("JWT.TOUCH")
        .arg(&t)
        .arg("TTL")
        .arg("10h")
        .query(&mut c)
        .unwrap();
    let ttl: i64 = cmd("PTTL").arg(&key).query(&mut c).unwrap();
    assert!(
        ttl > 5_390_000 && ttl <= 5_400_000,
        "capped by MAXAGE: {ttl}"
    );
}

#[test]
fn caller_supplied_sid_and_reuse_after_logout() {
    let s = Server::start();
    let mut c = s.client();
    let old = sign(&mut c, &["gina", "SID", "laptop"]);
    assert_eq!(payload(&old)["sid"], "laptop");
    assert!(verify(&mut c, &old).is_ok());
    let n: i64 = cmd("EXISTS")
        .arg("jwt:{gina}:laptop")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1);
    sleep_ms(1100);
    // Logging in again on the same device replaces the session; older tokens of the
    // previous incarnation do not come back to life.
    let new = sign(&mut c, &["gina", "SID", "laptop"]);
    assert!(verify(&mut c, &new).is_ok());
    assert_eq!(code(verify(&mut c, &old)), "REVOKED");
    let n: i64 = cmd("JWT.DESTROY").arg(&old).query(&mut c).unwrap();
    assert_eq!(n, 0, "an old token cannot destroy the new session");
    assert!(verify(&mut c, &new).is_ok());
}

#[test]
fn durations_in_ms_grammar() {
    let s = Server::start();
    let mut c = s.client();
    for (d, secs) in [
        ("90", 90),
        ("2.5 hrs", 9000),
        ("1h", 3600),
        ("7d", 604800),
        ("48 hours", 172800),
        ("1 week", 604800),
    ] {
        let t = sign(&mut c, &["hal", "EXPIRES", d]);
        let p = payload(&t);
        assert_eq!(
            p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(),
            secs,
            "{d}"
        );
    }
}

/// docs/operations.md, Metrics: each `jwt_failures_<code>` counts the refusals the
/// module makes with that code, one per refused command (a command Redis itself refuses,
/// by ACL or as a write on a read-only replica, shows in `INFO errorstats` instead).
#[test]
fn every_failure_counter_counts_its_refusals() {
    let (primary, replica) = Server::primary_and_replica();
    let mut c = primary.client();
    let _: () = cmd("CONFIG")
        .arg(&["SET", "jwt.max-sessions-policy", "deny"][..])
        .query(&mut c)
        .unwrap();
    let live = sign(&mut c, &["ann"]);
    let expiring = sign(&mut c, &["bea", "EXPIRES", "1"]);
    let early = sign(
        &mut c,
        &["cy", "CLAIMS", &format!(r#"{{"nbf":{}}}"#, now_s() + 100)],
    );
    let ended = sign(&mut c, &["dee"]);
    let _: i64 = cmd("JWT.DESTROY").arg(&ended).query(&mut c).unwrap();
    let (_, first): (String, String) = cmd("JWT.SIGN")
        .arg(&["eve", "REFRESH"][..])
        .query(&mut c)
        .unwrap();
    let (_, second): (String, String) = cmd("JWT.REFRESH").arg(&first).query(&mut c).unwrap();
    let _: (String, String) = cmd("JWT.REFRESH").arg(&second).query(&mut c).unwrap();
    sign(&mut c, &["fay", "LIMIT", "1"]);
    let _: () = cmd("SET")
        .arg(&["jwt:{gus}", "a string"][..])
        .query(&mut c)
        .unwrap();
    let _: () = cmd("ACL")
        .arg(&["SETUSER", "other", "on", "nopass", "~other:*", "+@all"][..])
        .query(&mut c)
        .unwrap();
    let mut other = primary.client();
    let _: () = cmd("AUTH")
        .arg(&["other", "x"][..])
        .query(&mut other)
        .unwrap();
    let mut r = replica.client();
    let _: () = cmd("CONFIG")
        .arg(&["SET", "replica-read-only", "no"][..])
        .query(&mut r)
        .unwrap();
    sleep_ms(2100); // `expiring` expires
                    // Which connection: 0 the default user, 1 `other`, 2 the writable replica.
    let cases: Vec<(&str, usize, Vec<&str>)> = vec![
        ("invalid", 0, vec!["JWT.VERIFY", "garbage"]),
        ("expired", 0, vec!["JWT.VERIFY", &expiring]),
        ("notbefore", 0, vec!["JWT.VERIFY", &early]),
        ("revoked", 0, vec!["JWT.VERIFY", &ended]),
        ("reused", 0, vec!["JWT.REFRESH", &first]),
        ("limit", 0, vec!["JWT.SIGN", "fay", "LIMIT", "1"]),
        ("wrongtype", 0, vec!["JWT.SIGN", "gus"]),
        ("noperm", 1, vec!["JWT.VERIFY", &live]),
        ("readonly", 2, vec!["JWT.SIGN", "hal"]),
        ("err", 0, vec!["JWT.VERIFY", &live, "BOGUS"]),
    ];
    let mut conns = [c, other, r];
    for (name, which, args) in cases {
        let field = format!("failures_{name}");
        // Counters are per server: the replica's for the replica's refusal.
        let server = if which == 2 { 2 } else { 0 };
        let before: i64 = info_field(&mut conns[server], &field).parse().unwrap();
        let res: RedisResult<Value> = cmd(args[0]).arg(&args[1..]).query(&mut conns[which]);
        assert_eq!(code(res).to_lowercase(), name, "{args:?}");
        let after: i64 = info_field(&mut conns[server], &field).parse().unwrap();
        assert_eq!(after, before + 1, "{field}");
    }
}

#[test]
fn info_counts() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["ivy"]);
    verify(&mut c, &t).unwrap();
    let _ = verify(&mut c, "garbage");
    let _: String = cmd("JWT.TOUCH").arg(&t).query(&mut c).unwrap();
    let _: i64 = cmd("JWT.DESTROY").arg(&t).query(&mut c).unwrap();
    let _ = verify(&mut c, &t);
    assert_eq!(info_field(&mut c, "signs"), "1");
    assert_eq!(info_field(&mut c, "verifies"), "1");
    assert_eq!(info_field(&mut c, "touches"), "1");
    assert_eq!(info_field(&mut c, "destroys"), "1");
    assert_eq!(info_field(&mut c, "failures_invalid"), "1");
    assert_eq!(info_field(&mut c, "failures_revoked"), "1");
    assert_eq!(info_field(&mut c, "keys"), "1");
    assert_eq!(info_field(&mut c, "active_kid").len(), 12);
}

#[test]
fn keyspace_notifications() {
    let s = Server::start_with(&["--notify-keyspace-events", "Ed"], &[]);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", s.port)).unwrap();
    let mut sub_con = client.get_connection().unwrap();
    let mut pubsub = sub_con.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:jwt.*").unwrap();
    pubsub
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut c = s.client();
    let t = sign(&mut c, &["jack", "SID", "s1"]);
    let _: String = cmd("JWT.TOUCH").arg(&t).query(&mut c).unwrap();
    let _: i64 = cmd("JWT.DESTROY").arg(&t).query(&mut c).unwrap();
    sign(&mut c, &["jack", "SID", "s2"]);
    let _: i64 = cmd("JWT.REVOKE").arg("jack").query(&mut c).unwrap();
    // REFRESH, UPDATE, and max-sessions evicting the oldest.
    let (access, refresh): (String, String) = cmd("JWT.SIGN")
        .arg(&["jack", "SID", "s3", "REFRESH"][..])
        .query(&mut c)
        .unwrap();
    let _: (String, String) = cmd("JWT.REFRESH").arg(&refresh).query(&mut c).unwrap();
    let _: Value = cmd("JWT.UPDATE")
        .arg(&[access.as_str(), "DATA", "1"][..])
        .query(&mut c)
        .unwrap();
    sign(&mut c, &["jack", "SID", "s4", "LIMIT", "1"]);
    let mut seen = vec![];
    for _ in 0..10 {
        let m = pubsub.get_message().unwrap();
        let key: String = m.get_payload().unwrap();
        seen.push((m.get_channel_name().to_string(), key));
    }
    let k = "jwt:{jack}:s1".to_string();
    assert_eq!(
        seen[..5].to_vec(),
        vec![
            ("__keyevent@0__:jwt.sign".to_string(), k.clone()),
            ("__keyevent@0__:jwt.touch".to_string(), k.clone()),
            ("__keyevent@0__:jwt.destroy".to_string(), k),
            (
                "__keyevent@0__:jwt.sign".to_string(),
                "jwt:{jack}:s2".to_string()
            ),
            (
                "__keyevent@0__:jwt.revoke".to_string(),
                "jwt:{jack}:s2".to_string()
            ),
        ]
    );
    let s3 = "jwt:{jack}:s3".to_string();
    let ev = |e: &str| format!("__keyevent@0__:jwt.{e}");
    assert_eq!(
        seen[5..].to_vec(),
        vec![
            (ev("sign"), s3.clone()),
            (ev("refresh"), s3.clone()),
            (ev("update"), s3.clone()),
            (ev("evict"), s3),
            (ev("sign"), "jwt:{jack}:s4".to_string()),
        ]
    );
}

fn changes(c: &mut Connection) -> i64 {
    let info: String = cmd("INFO").arg("persistence").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_burst_of_touches_writes_once() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["kim", "TTL", "1h"]);
    let _: String = cmd("JWT.TOUCH").arg(&t).query(&mut c).unwrap();
    let before = changes(&mut c);
    for _ in 0..10 {
        let _: String = cmd("JWT.TOUCH").arg(&t).query(&mut c).unwrap();
    }
    assert_eq!(
        changes(&mut c),
        before,
        "deadline within a second of the current one: no write"
    );
    sleep_ms(1100);
    let _: String = cmd("JWT.TOUCH").arg(&t).query(&mut c).unwrap();
    assert!(
        changes(&mut c) > before,
        "a second later the deadline moves"
    );
    let _: String = cmd("JWT.TOUCH")
        .arg(&t)
        .arg("TTL")
        .arg("10m")
        .query(&mut c)
        .unwrap();
    let ttl: i64 = cmd("PTTL")
        .arg(format!(
            "jwt:{{kim}}:{}",
            payload(&t)["sid"].as_str().unwrap()
        ))
        .query(&mut c)
        .unwrap();
    assert!(ttl <= 600_000, "a shorter TTL is always written: {ttl}");
}

/// docs/operations.md: one keyring per server, not per database. A session lives in its
/// database (elsewhere REVOKED), a STATELESS token verifies in every database, and a
/// CUTOFF ends the sessions of every database.
#[test]
fn databases_share_the_keyring_not_the_sessions() {
    let s = Server::start();
    let mut db0 = s.client();
    let mut db1 = s.client();
    let _: () = cmd("SELECT").arg(1).query(&mut db1).unwrap();
    let t = sign(&mut db0, &["alice"]);
    let stateless = sign(&mut db0, &["svc", "STATELESS"]);
    assert!(verify(&mut db0, &t).is_ok());
    assert_eq!(code(verify(&mut db1, &t)), "REVOKED");
    assert!(verify(&mut db1, &stateless).is_ok());
    let t1 = sign(&mut db1, &["bob"]);
    sleep_ms(5);
    let _: i64 = cmd("JWT.KEY").arg("CUTOFF").query(&mut db1).unwrap();
    assert_eq!(code(verify(&mut db0, &t)), "REVOKED");
    assert_eq!(code(verify(&mut db1, &t1)), "REVOKED");
}

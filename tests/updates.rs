//! Sessions that change: JWT.UPDATE, lifetimes that match their tokens, last_seen and
//! META, REFRESH WITHPAYLOAD, the activity log.
mod common;
use common::*;

fn pair(c: &mut Connection, args: &[&str]) -> (String, String) {
    cmd("JWT.SIGN").arg(args).query(c).unwrap()
}

fn digest(c: &mut Connection) -> String {
    cmd("DEBUG").arg("DIGEST").query(c).unwrap()
}

fn sessions(c: &mut Connection, sub: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let list: Vec<Vec<Value>> = cmd("JWT.SESSIONS").arg(sub).query(c).unwrap();
    list.iter()
        .map(|e| {
            e.chunks(2)
                .map(|kv| {
                    let k: String = redis::from_redis_value(&kv[0]).unwrap();
                    let v = match &kv[1] {
                        Value::Nil => serde_json::Value::Null,
                        Value::Int(n) => (*n).into(),
                        other => redis::from_redis_value::<String>(other).unwrap().into(),
                    };
                    (k, v)
                })
                .collect()
        })
        .collect()
}

#[test]
fn update_changes_data_and_claims_in_place() {
    let s = Server::start();
    let mut c = s.client();
    let (access, refresh) = pair(
        &mut c,
        &[
            "alice",
            "CLAIMS",
            r#"{"role":"user"}"#,
            "DATA",
            r#"{"cart":[1],"theme":"dark"}"#,
            "REFRESH",
        ],
    );
    // DATA replaces, MERGE merges top-level fields (null removes).
    let one: i64 = cmd("JWT.UPDATE")
        .arg(&access)
        .arg("MERGE")
        .arg(r#"{"cart":[1,2],"theme":null}"#)
        .query(&mut c)
        .unwrap();
    assert_eq!(one, 1);
    let (_, data): (String, String) = cmd("JWT.VERIFY")
        .arg(&access)
        .arg("WITHDATA")
        .query(&mut c)
        .unwrap();
    assert_eq!(json(&data), serde_json::json!({"cart":[1,2]}));
    let _: i64 = cmd("JWT.UPDATE")
        .arg(&access)
        .arg("DATA")
        .arg(r#""plain""#)
        .query(&mut c)
        .unwrap();
    let (_, data): (String, String) = cmd("JWT.VERIFY")
        .arg(&access)
        .arg("WITHDATA")
        .query(&mut c)
        .unwrap();
    assert_eq!(data, r#""plain""#);
    assert_eq!(
        code(
            cmd("JWT.UPDATE")
                .arg(&access)
                .arg("MERGE")
                .arg(r#"{"a":1}"#)
                .query::<i64>(&mut c)
        ),
        "ERR",
        "MERGE needs an object to merge into"
    );
    // CLAIMS: a new access token for the same session; the old one still verifies.
    let admin: String = cmd("JWT.UPDATE")
        .arg(&access)
        .arg("CLAIMS")
        .arg(r#"{"role":"admin"}"#)
        .query(&mut c)
        .unwrap();
    let (p_old, p_new) = (payload(&access), payload(&admin));
    assert_eq!(p_new["role"], "admin");
    assert_eq!(p_new["sid"], p_old["sid"]);
    assert_ne!(p_new["jti"], p_old["jti"]);
    assert!(p_new["exp"].is_number(), "REFRESH sessions' tokens expire");
    assert!(verify(&mut c, &access).is_ok());
    // Later REFRESHes carry the new claims.
    let (again, _, body): (String, String, String) = cmd("JWT.REFRESH")
        .arg(&refresh)
        .arg("WITHPAYLOAD")
        .query(&mut c)
        .unwrap();
    assert_eq!(payload(&again)["role"], "admin");
    assert_eq!(
        json(&body),
        payload(&again),
        "WITHPAYLOAD is the new token's payload"
    );
    // Reserved claims and bad JSON are refused, nothing changes.
    let before = digest(&mut c);
    for bad in [r#"{"sub":"mallory"}"#, "[1]", "{"] {
        assert_eq!(
            code(
                cmd("JWT.UPDATE")
                    .arg(&access)
                    .arg("CLAIMS")
                    .arg(bad)
                    .query::<Value>(&mut c)
            ),
            "ERR"
        );
    }
    assert_eq!(
        code(cmd("JWT.UPDATE").arg(&access).query::<Value>(&mut c)),
        "ERR"
    );
    assert_eq!(
        code(
            cmd("JWT.UPDATE")
                .arg(&access)
                .arg("DATA")
                .arg("1")
                .arg("MERGE")
                .arg("{}")
                .query::<Value>(&mut c)
        ),
        "ERR"
    );
    assert_eq!(digest(&mut c), before);
}

#[test]
fn supersede_ends_older_access_tokens_at_once() {
    let (primary, replica) = Server::primary_and_replica();
    let mut c = primary.client();
    let mut r = replica.client();
    let (access, refresh) = pair(&mut c, &["bob", "CLAIMS", r#"{"role":"admin"}"#, "REFRESH"]);
    let second: String = cmd("JWT.UPDATE")
        .arg(&access)
        .arg("CLAIMS")
        .arg(r#"{"role":"admin","x":1}"#)
        .query(&mut c)
        .unwrap();
    assert!(verify(&mut c, &access).is_ok() && verify(&mut c, &second).is_ok());
    // A role downgrade that takes effect now, through the refresh token the client holds.
    let user: String = cmd("JWT.UPDATE")
        .arg(&refresh)
        .arg("CLAIMS")
        .arg(r#"{"role":"user"}"#)
        .arg("SUPERSEDE")
        .query(&mut c)
        .unwrap();
    let n: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut c).unwrap();
    assert_eq!(n, 1);
    for conn in [&mut c, &mut r] {
        assert_eq!(code(verify(conn, &access)), "REVOKED");
        assert_eq!(code(verify(conn, &second)), "REVOKED");
        assert_eq!(json(&verify(conn, &user).unwrap())["role"], "user");
    }
    // The session and its refresh token live on; new tokens carry the new version.
    let (next, _): (String, String) = cmd("JWT.REFRESH").arg(&refresh).query(&mut c).unwrap();
    assert_eq!(payload(&next)["role"], "user");
    assert_eq!(payload(&next)["sver"], payload(&user)["sver"]);
    assert!(verify(&mut c, &next).is_ok());
    let n: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut c).unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        digest(&mut c),
        digest(&mut r),
        "UPDATE replicates as effects"
    );
    // A rotated-away refresh token may not UPDATE (and does not count as reuse).
    assert_eq!(
        code(
            cmd("JWT.UPDATE")
                .arg(&refresh)
                .arg("DATA")
                .arg("1")
                .query::<Value>(&mut c)
        ),
        "INVALID"
    );
    assert!(verify(&mut c, &next).is_ok());
    // Survives a reload.
    let _: String = cmd("DEBUG").arg("RELOAD").query(&mut c).unwrap();
    assert!(verify(&mut c, &next).is_ok());
    assert_eq!(code(verify(&mut c, &access)), "REVOKED");
}

#[test]
fn update_checks_the_token_and_the_acl() {
    let s = Server::start();
    let mut c = s.client();
    let bob = sign(&mut c, &["bob"]);
    let _: () = cmd("ACL")
        .arg(
            &[
                "SETUSER",
                "aliceonly",
                "on",
                ">pw",
                "~jwt:{alice}*",
                "+@all",
            ][..],
        )
        .query(&mut c)
        .unwrap();
    let mut a = redis::Client::open(format!("redis://aliceonly:pw@127.0.0.1:{}/", s.port))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(
        code(
            cmd("JWT.UPDATE")
                .arg(&bob)
                .arg("DATA")
                .arg("1")
                .query::<Value>(&mut a)
        ),
        "NOPERM"
    );
    let forged = format!("{}x", &bob[..bob.len() - 1]);
    assert_eq!(
        code(
            cmd("JWT.UPDATE")
                .arg(&forged)
                .arg("DATA")
                .arg("1")
                .query::<Value>(&mut c)
        ),
        "INVALID"
    );
    let _: i64 = cmd("JWT.DESTROY").arg(&bob).query(&mut c).unwrap();
    assert_eq!(
        code(
            cmd("JWT.UPDATE")
                .arg(&bob)
                .arg("DATA")
                .arg("1")
                .query::<Value>(&mut c)
        ),
        "REVOKED"
    );
}

/// Every row of the lifetimes table in docs/commands.md ("Session lifetimes").
#[test]
fn lifetimes_match_the_documented_table() {
    let s = Server::start();
    let mut c = s.client();
    let pttl = |c: &mut Connection, t: &str| -> i64 {
        let sid = payload(t)["sid"].as_str().unwrap().to_string();
        let sub = payload(t)["sub"].as_str().unwrap().to_string();
        cmd("PTTL")
            .arg(format!("jwt:{{{sub}}}:{sid}"))
            .query(c)
            .unwrap()
    };
    // 1. Neither REFRESH nor EXPIRES: no exp; the session lives TTL, TOUCH slides it.
    let t = sign(&mut c, &["r1", "TTL", "1h"]);
    assert!(payload(&t).get("exp").is_none());
    assert!((3_590_000..=3_600_000).contains(&pttl(&mut c, &t)));
    let _: String = cmd("JWT.TOUCH")
        .arg(&t)
        .arg("TTL")
        .arg("2h")
        .query(&mut c)
        .unwrap();
    assert!(pttl(&mut c, &t) > 7_000_000);
    // 2. EXPIRES without REFRESH: the session ends with the token, TOUCH cannot stretch it.
    let t = sign(&mut c, &["r2", "EXPIRES", "2s", "TTL", "1h"]);
    assert!(pttl(&mut c, &t) <= 2_000);
    let _: String = cmd("JWT.TOUCH")
        .arg(&t)
        .arg("TTL")
        .arg("1h")
        .query(&mut c)
        .unwrap();
    assert!(pttl(&mut c, &t) <= 2_000);
    let n: i64 = cmd("JWT.COUNT").arg("r2").query(&mut c).unwrap();
    assert_eq!(n, 1);
    sleep_ms(2_100);
    let n: i64 = cmd("JWT.COUNT").arg("r2").query(&mut c).unwrap();
    assert_eq!(n, 0, "a dead session no longer counts");
    // ... so max-sessions deny does not refuse logins because of dead sessions.
    let _ = sign(&mut c, &["r2", "LIMIT", "1", "EXPIRES", "1s"]);
    // 3. MAXAGE caps TTL (with or without a token lifetime).
    let t = sign(&mut c, &["r3", "TTL", "1h", "MAXAGE", "3s"]);
    assert!(pttl(&mut c, &t) <= 3_000);
    let _: String = cmd("JWT.TOUCH")
        .arg(&t)
        .arg("TTL")
        .arg("1h")
        .query(&mut c)
        .unwrap();
    assert!(pttl(&mut c, &t) <= 3_000);
    // 4. REFRESH: the access token expires (jwt.access-ttl), the session lives TTL and
    //    REFRESH slides it.
    let (a, r) = pair(&mut c, &["r4", "REFRESH", "TTL", "1h"]);
    let p = payload(&a);
    assert_eq!(p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(), 900);
    assert!(pttl(&mut c, &a) > 3_500_000);
    let (a2, _): (String, String) = cmd("JWT.REFRESH").arg(&r).query(&mut c).unwrap();
    assert!(pttl(&mut c, &a2) > 3_590_000);
    // 5. REFRESH with MAXAGE: nothing passes MAXAGE.
    let (a, r) = pair(&mut c, &["r5", "REFRESH", "TTL", "1h", "MAXAGE", "3s"]);
    assert!(pttl(&mut c, &a) <= 3_000);
    let _: (String, String) = cmd("JWT.REFRESH").arg(&r).query(&mut c).unwrap();
    assert!(pttl(&mut c, &a) <= 3_000);
}

#[test]
fn sessions_show_last_seen_and_meta() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(
        &mut c,
        &[
            "carol",
            "META",
            r#"{"device":"Firefox on Linux"}"#,
            "TTL",
            "1h",
        ],
    );
    let list = sessions(&mut c, "carol");
    assert_eq!(list[0]["meta"], r#"{"device":"Firefox on Linux"}"#);
    let first = list[0]["last_seen"].as_i64().unwrap();
    assert_eq!(first, list[0]["created"].as_i64().unwrap());
    sleep_ms(1_100);
    let _: String = cmd("JWT.TOUCH").arg(&t).query(&mut c).unwrap();
    let later = sessions(&mut c, "carol")[0]["last_seen"].as_i64().unwrap();
    assert!(later >= first + 1_000, "{first} -> {later}");
    assert_eq!(
        code(
            cmd("JWT.SIGN")
                .arg(&["carol", "META", "not json"][..])
                .query::<String>(&mut c)
        ),
        "ERR"
    );
    let big = format!(r#""{}""#, "x".repeat(600));
    assert_eq!(
        code(
            cmd("JWT.SIGN")
                .arg(&["carol", "META", &big][..])
                .query::<String>(&mut c)
        ),
        "ERR"
    );
}

fn log_events(c: &mut Connection, sub: &str) -> Vec<(String, String)> {
    let entries: Vec<(String, Vec<String>)> = cmd("XRANGE")
        .arg(format!("jwt:{{{sub}}}#events"))
        .arg("-")
        .arg("+")
        .query(c)
        .unwrap();
    entries
        .into_iter()
        .map(|(_, kv)| {
            let get = |k: &str| {
                kv.iter()
                    .position(|x| x == k)
                    .map(|i| kv[i + 1].clone())
                    .unwrap_or_default()
            };
            (get("event"), get("sid"))
        })
        .collect()
}

#[test]
fn the_activity_log_records_every_kind_of_event() {
    let (primary, replica) = Server::primary_and_replica();
    let mut c = primary.client();
    let mut r = replica.client();
    let _: () = cmd("CONFIG")
        .arg(&["SET", "jwt.activity-log", "100"][..])
        .query(&mut c)
        .unwrap();
    let _: () = cmd("CONFIG")
        .arg(&["SET", "jwt.refresh-grace", "0"][..])
        .query(&mut c)
        .unwrap();
    let (a, rt) = pair(
        &mut c,
        &[
            "dan",
            "SID",
            "laptop",
            "META",
            r#"{"ip":"10.0.0.1"}"#,
            "REFRESH",
        ],
    );
    let (_, rt2): (String, String) = cmd("JWT.REFRESH").arg(&rt).query(&mut c).unwrap();
    let _: String = cmd("JWT.UPDATE")
        .arg(&rt2)
        .arg("CLAIMS")
        .arg("{}")
        .query(&mut c)
        .unwrap();
    // Reuse of the first refresh token ends the session.
    assert_eq!(
        code(cmd("JWT.REFRESH").arg(&rt).query::<Value>(&mut c)),
        "REUSED"
    );
    let phone = sign(&mut c, &["dan", "SID", "phone"]);
    let _: i64 = cmd("JWT.DESTROY").arg(&phone).query(&mut c).unwrap();
    let _ = sign(&mut c, &["dan", "SID", "desk"]);
    let _: i64 = cmd("JWT.REVOKE").arg("dan").query(&mut c).unwrap();
    let _ = sign(&mut c, &["dan", "SID", "a", "LIMIT", "1"]);
    let _ = sign(&mut c, &["dan", "SID", "b", "LIMIT", "1"]);
    let got = log_events(&mut c, "dan");
    let want: Vec<(String, String)> = [
        ("sign", "laptop"),
        ("refresh", "laptop"),
        ("update", "laptop"),
        ("reuse", "laptop"),
        ("sign", "phone"),
        ("destroy", "phone"),
        ("sign", "desk"),
        ("revoke", "desk"),
        ("sign", "a"),
        ("evict", "a"),
        ("sign", "b"),
    ]
    .iter()
    .map(|(e, s)| (e.to_string(), s.to_string()))
    .collect();
    assert_eq!(got, want);
    let entries: Vec<(String, Vec<String>)> = cmd("XRANGE")
        .arg("jwt:{dan}#events")
        .arg("-")
        .arg("+")
        .query(&mut c)
        .unwrap();
    assert!(
        entries[0].1.contains(&r#"{"ip":"10.0.0.1"}"#.to_string()),
        "META travels with the event"
    );
    let _ = a;
    let n: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut c).unwrap();
    assert_eq!(n, 1);
    assert_eq!(digest(&mut c), digest(&mut r), "replicas hold the same log");
    // Capped.
    let _: () = cmd("CONFIG")
        .arg(&["SET", "jwt.activity-log", "3"][..])
        .query(&mut c)
        .unwrap();
    let _ = sign(&mut c, &["dan"]);
    assert_eq!(log_events(&mut c, "dan").len(), 3);
    let _: String = cmd("DEBUG").arg("RELOAD").query(&mut c).unwrap();
    assert_eq!(log_events(&mut c, "dan").len(), 3);
    // Off by default: no stream.
    let s = Server::start();
    let mut c = s.client();
    let _ = sign(&mut c, &["erin"]);
    let n: i64 = cmd("EXISTS")
        .arg("jwt:{erin}#events")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 0);
}

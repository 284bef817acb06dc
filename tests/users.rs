//! Per-user session management: SESSIONS, COUNT, REVOKE, limits, MAXAGE, the index.
mod common;
use common::*;

fn count(c: &mut Connection, sub: &str) -> i64 {
    cmd("JWT.COUNT").arg(sub).query(c).unwrap()
}

fn sids(c: &mut Connection, sub: &str) -> Vec<String> {
    let list: Vec<Vec<Value>> = cmd("JWT.SESSIONS").arg(sub).query(c).unwrap();
    list.iter()
        .map(|e| redis::from_redis_value::<String>(&e[1]).unwrap())
        .collect()
}

#[test]
fn sessions_lists_live_sessions_oldest_first() {
    let s = Server::start();
    let mut c = s.client();
    sign(
        &mut c,
        &[
            "alice",
            "SID",
            "laptop",
            "DATA",
            r#"{"ua":"firefox"}"#,
            "MAXAGE",
            "30d",
        ],
    );
    sleep_ms(5);
    sign(&mut c, &["alice", "SID", "phone", "TTL", "1h"]);
    sleep_ms(5);
    sign(&mut c, &["alice", "SID", "short", "TTL", "200ms"]);
    sign(&mut c, &["bob", "SID", "x"]);
    assert_eq!(count(&mut c, "alice"), 3);
    sleep_ms(400);
    assert_eq!(count(&mut c, "alice"), 2, "expired sessions never count");
    let list: Vec<Vec<Value>> = cmd("JWT.SESSIONS")
        .arg("alice")
        .arg("WITHDATA")
        .query(&mut c)
        .unwrap();
    assert_eq!(list.len(), 2);
    let field = |e: &Vec<Value>, name: &str| -> Value {
        let i = e
            .iter()
            .position(|v| redis::from_redis_value::<String>(v).ok().as_deref() == Some(name))
            .unwrap();
        e[i + 1].clone()
    };
    let s0: String = redis::from_redis_value(&field(&list[0], "sid")).unwrap();
    assert_eq!(s0, "laptop");
    let created: i64 = redis::from_redis_value(&field(&list[0], "created")).unwrap();
    assert!((created / 1000 - now_s()).abs() <= 2);
    let deadline: i64 = redis::from_redis_value(&field(&list[0], "maxage_deadline")).unwrap();
    assert!((deadline - created - 30 * 86_400_000).abs() < 10);
    let data: String = redis::from_redis_value(&field(&list[0], "data")).unwrap();
    assert_eq!(data, r#"{"ua":"firefox"}"#);
    assert_eq!(field(&list[1], "maxage_deadline"), Value::Nil);
    let ttl: i64 = redis::from_redis_value(&field(&list[1], "ttl")).unwrap();
    assert!(ttl > 3_500_000 && ttl <= 3_600_000);
    assert_eq!(field(&list[1], "data"), Value::Nil);
    assert_eq!(sids(&mut c, "nobody"), Vec::<String>::new());
    assert_eq!(count(&mut c, "nobody"), 0);
}

#[test]
fn revoke_all_some_and_all_but_one() {
    let s = Server::start();
    let mut c = s.client();
    let mut tokens = vec![];
    for sid in ["a", "b", "c", "d", "e"] {
        tokens.push(sign(&mut c, &["carol", "SID", sid]));
    }
    let other = sign(&mut c, &["dave"]);
    let n: i64 = cmd("JWT.REVOKE")
        .arg("carol")
        .arg("SID")
        .arg("a")
        .arg("b")
        .arg("zz")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        code(verify(&mut c, &tokens[0])),
        "REVOKED",
        "revoked at once"
    );
    assert_eq!(code(verify(&mut c, &tokens[1])), "REVOKED");
    assert!(verify(&mut c, &tokens[2]).is_ok());
    let n: i64 = cmd("JWT.REVOKE")
        .arg("carol")
        .arg("EXCEPT")
        .arg("d")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 2, "log out other devices");
    assert_eq!(sids(&mut c, "carol"), vec!["d"]);
    assert!(verify(&mut c, &tokens[3]).is_ok());
    let n: i64 = cmd("JWT.REVOKE").arg("carol").query(&mut c).unwrap();
    assert_eq!(n, 1, "log out everywhere");
    assert_eq!(count(&mut c, "carol"), 0);
    let exists: i64 = cmd("EXISTS").arg("jwt:{carol}").query(&mut c).unwrap();
    assert_eq!(exists, 0, "the index goes with its last session");
    assert!(verify(&mut c, &other).is_ok(), "other users untouched");
    assert_eq!(
        code(
            cmd("JWT.REVOKE")
                .arg("carol")
                .arg("SID")
                .arg("a")
                .arg("EXCEPT")
                .arg("b")
                .query::<i64>(&mut c)
        ),
        "ERR"
    );
    assert_eq!(
        code(
            cmd("JWT.REVOKE")
                .arg("carol")
                .arg("SID")
                .query::<i64>(&mut c)
        ),
        "ERR"
    );
    assert_eq!(
        code(cmd("JWT.REVOKE").arg("a{b").query::<i64>(&mut c)),
        "ERR"
    );
}

#[test]
fn hostile_subjects_touch_only_their_own_sessions() {
    let s = Server::start();
    let mut c = s.client();
    let victims: Vec<String> = ["alice", "bob", "a:b:c", "user1"]
        .iter()
        .map(|u| sign(&mut c, &[u]))
        .collect();
    for evil in ["*", "a:b", "user[1]", "x?", "a*", "\\", "jwt:*", "alice:*"] {
        sign(&mut c, &[evil]);
        assert_eq!(count(&mut c, evil), 1, "{evil}");
        let n: i64 = cmd("JWT.REVOKE").arg(evil).query(&mut c).unwrap();
        assert_eq!(n, 1, "{evil}");
    }
    for t in &victims {
        assert!(verify(&mut c, t).is_ok());
    }
}

#[test]
fn touch_never_passes_maxage() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["erin", "TTL", "1s", "MAXAGE", "1600ms"]);
    for _ in 0..3 {
        sleep_ms(400);
        let _: String = cmd("JWT.TOUCH").arg(&t).query(&mut c).unwrap();
    }
    // ~1.8 s after signing: the idle TTL (1 s from the last touch) would still run,
    // but MAXAGE (1.6 s) has passed.
    sleep_ms(600);
    assert_eq!(code(verify(&mut c, &t)), "REVOKED");
}

#[test]
fn max_sessions_evicts_the_oldest() {
    let s = Server::start_with(&[], &["max-sessions", "2"]);
    let mut c = s.client();
    let t1 = sign(&mut c, &["frank", "SID", "one"]);
    sleep_ms(5);
    let t2 = sign(&mut c, &["frank", "SID", "two"]);
    sleep_ms(5);
    let t3 = sign(&mut c, &["frank", "SID", "three"]);
    assert_eq!(code(verify(&mut c, &t1)), "REVOKED");
    assert!(verify(&mut c, &t2).is_ok() && verify(&mut c, &t3).is_ok());
    assert_eq!(sids(&mut c, "frank"), vec!["two", "three"]);
    // Re-signing an existing SID replaces it rather than evicting another.
    sign(&mut c, &["frank", "SID", "three"]);
    assert_eq!(sids(&mut c, "frank"), vec!["two", "three"]);
    // Per-call override: one session per user (npm redis-jwt's `multiple: false`).
    sign(&mut c, &["frank", "SID", "solo", "LIMIT", "1"]);
    assert_eq!(sids(&mut c, "frank"), vec!["solo"]);
    assert_eq!(info_field(&mut c, "evictions"), "3");
}

#[test]
fn max_sessions_deny() {
    let s = Server::start_with(&[], &["max-sessions", "2", "max-sessions-policy", "deny"]);
    let mut c = s.client();
    sign(&mut c, &["gina"]);
    sign(&mut c, &["gina"]);
    let before: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    assert_eq!(
        code(cmd("JWT.SIGN").arg("gina").query::<String>(&mut c)),
        "LIMIT"
    );
    let after: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    assert_eq!(before, after, "a denied login changes nothing");
    assert!(cmd("JWT.SIGN")
        .arg("gina")
        .arg("LIMIT")
        .arg("0")
        .query::<String>(&mut c)
        .is_ok());
    assert_eq!(count(&mut c, "gina"), 3);
}

fn parallel_logins(policy: &str) {
    let n = 5;
    let s = Server::start_with(
        &[],
        &[
            "max-sessions",
            &n.to_string(),
            "max-sessions-policy",
            policy,
        ],
    );
    let port = s.port;
    let threads: Vec<_> = (0..n + 1)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
                (0..20)
                    .filter(|_| cmd("JWT.SIGN").arg("henry").query::<String>(&mut c).is_ok())
                    .count()
            })
        })
        .collect();
    let ok: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let mut c = s.client();
    assert_eq!(count(&mut c, "henry"), n as i64, "{policy}");
    let card: i64 = cmd("ZCARD").arg("jwt:{henry}").query(&mut c).unwrap();
    assert_eq!(card, n as i64, "{policy}: index matches");
    if policy == "deny" {
        assert_eq!(ok, n);
    } else {
        assert_eq!(ok, 20 * (n + 1));
    }
}

#[test]
fn concurrent_logins_respect_the_limit_evict() {
    parallel_logins("evict-oldest");
}

#[test]
fn concurrent_logins_respect_the_limit_deny() {
    parallel_logins("deny");
}

#[test]
fn index_trims_itself_under_churn() {
    let s = Server::start();
    let mut c = s.client();
    let mut pipe = redis::pipe();
    for _ in 0..5000 {
        pipe.cmd("JWT.SIGN")
            .arg("ivan")
            .arg("TTL")
            .arg("2s")
            .ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let card: i64 = cmd("ZCARD").arg("jwt:{ivan}").query(&mut c).unwrap();
    assert_eq!(card, 5000);
    sleep_ms(2200);
    assert_eq!(count(&mut c, "ivan"), 0);
    sign(&mut c, &["ivan", "TTL", "1h"]);
    let card: i64 = cmd("ZCARD").arg("jwt:{ivan}").query(&mut c).unwrap();
    assert_eq!(card, 1, "stale entries trimmed");
    let mem: i64 = cmd("MEMORY")
        .arg("USAGE")
        .arg("jwt:{ivan}")
        .query(&mut c)
        .unwrap();
    assert!(mem < 1024, "index memory back to small: {mem}");
    // With no sessions left the index itself expires.
    let t = sign(&mut c, &["judy", "TTL", "200ms"]);
    assert!(verify(&mut c, &t).is_ok());
    sleep_ms(400);
    let exists: i64 = cmd("EXISTS").arg("jwt:{judy}").query(&mut c).unwrap();
    assert_eq!(exists, 0);
}

#[test]
fn index_after_debug_reload_and_revoke_replicates() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let mut r = replica.client();
    let t1 = sign(&mut p, &["kate", "SID", "a"]);
    let t2 = sign(&mut p, &["kate", "SID", "b"]);
    let _: String = cmd("DEBUG").arg("RELOAD").query(&mut p).unwrap();
    assert_eq!(sids(&mut p, "kate"), vec!["a", "b"]);
    let n: i64 = cmd("JWT.REVOKE")
        .arg("kate")
        .arg("SID")
        .arg("a")
        .query(&mut p)
        .unwrap();
    assert_eq!(n, 1);
    let _: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert_eq!(code(verify(&mut r, &t1)), "REVOKED");
    assert!(verify(&mut r, &t2).is_ok());
    assert_eq!(
        sids(&mut r, "kate"),
        vec!["b"],
        "readonly SESSIONS works on a replica"
    );
    let d1: String = cmd("DEBUG").arg("DIGEST").query(&mut p).unwrap();
    let d2: String = cmd("DEBUG").arg("DIGEST").query(&mut r).unwrap();
    assert_eq!(d1, d2);
}

#[test]
fn acl_checks_the_real_keys_not_the_bare_subject() {
    let s = Server::start();
    let mut admin = s.client();
    let _: () = cmd("ACL")
        .arg(&["SETUSER", "app", "on", ">pw", "~jwt:{alice}*", "+@all"])
        .query(&mut admin)
        .unwrap();
    let mut c = redis::Client::open(format!("redis://app:pw@127.0.0.1:{}/", s.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let t = sign(&mut c, &["alice"]);
    assert!(verify(&mut c, &t).is_ok());
    assert_eq!(count(&mut c, "alice"), 1);
    assert_eq!(
        code(cmd("JWT.SIGN").arg("bob").query::<String>(&mut c)),
        "NOPERM"
    );
    assert_eq!(
        code(cmd("JWT.COUNT").arg("bob").query::<i64>(&mut c)),
        "NOPERM"
    );
    assert_eq!(
        code(cmd("JWT.REVOKE").arg("bob").query::<i64>(&mut c)),
        "NOPERM"
    );
}

/// Creates ACL user `user` (password "pw", every command) with these key rules, and a
/// connection logged in as that user.
fn acl_user(s: &Server, admin: &mut Connection, user: &str, rules: &[&str]) -> Connection {
    let _: () = cmd("ACL")
        .arg(&["SETUSER", user, "on", ">pw", "+@all"])
        .arg(rules)
        .query(admin)
        .unwrap();
    redis::Client::open(format!("redis://{user}:pw@127.0.0.1:{}/", s.port))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// The session keys count too: a user allowed only the index keys (`jwt:{*}` matches
/// `jwt:{alice}`, not `jwt:{alice}:<sid>`) may not read DATA through SESSIONS, count
/// through COUNT, or end sessions through REVOKE, and such a refusal changes nothing.
#[test]
fn user_commands_check_the_session_keys_as_well() {
    let s = Server::start();
    let mut admin = s.client();
    let t = sign(&mut admin, &["alice", "DATA", r#"{"card":"4111"}"#]);
    let mut reader = acl_user(&s, &mut admin, "reader", &["%R~jwt:{*}"]);
    let r: RedisResult<Value> = cmd("JWT.SESSIONS")
        .arg(&["alice", "WITHDATA"])
        .query(&mut reader);
    assert_eq!(code(r), "NOPERM");
    assert_eq!(
        code(cmd("JWT.COUNT").arg("alice").query::<i64>(&mut reader)),
        "NOPERM"
    );
    let mut writer = acl_user(&s, &mut admin, "writer", &["~jwt:{*}"]);
    assert_eq!(
        code(cmd("JWT.REVOKE").arg("alice").query::<i64>(&mut writer)),
        "NOPERM"
    );
    assert!(verify(&mut admin, &t).is_ok(), "nothing was ended");
    // A subject with no sessions has no session keys to check.
    assert_eq!(count(&mut reader, "nobody"), 0);
}

/// max-sessions eviction ends sessions: SIGN needs write access to the evicted ones'
/// keys too, and a refusal changes nothing.
#[test]
fn sign_may_evict_only_sessions_the_caller_may_end() {
    let s = Server::start();
    let mut admin = s.client();
    let old = sign(&mut admin, &["alice", "SID", "old"]);
    let mut narrow = acl_user(
        &s,
        &mut admin,
        "narrow",
        &["~jwt:{alice}", "~jwt:{alice}:new*"],
    );
    let mut wide = acl_user(&s, &mut admin, "wide", &["~jwt:{alice}*"]);
    let refused = cmd("JWT.SIGN")
        .arg(&["alice", "SID", "new1", "LIMIT", "1"])
        .query::<String>(&mut narrow);
    assert_eq!(code(refused), "NOPERM");
    assert!(verify(&mut admin, &old).is_ok(), "nothing was evicted");
    assert_eq!(count(&mut admin, "alice"), 1);
    sign(&mut wide, &["alice", "SID", "new2", "LIMIT", "1"]);
    assert_eq!(code(verify(&mut admin, &old)), "REVOKED");
}

#[test]
fn subject_commands_declare_their_routing_key() {
    let s = Server::start();
    let mut c = s.client();
    for name in ["jwt.sign", "jwt.sessions", "jwt.count", "jwt.revoke"] {
        let info: Vec<Value> = cmd("COMMAND").arg("INFO").arg(name).query(&mut c).unwrap();
        let Value::Array(entry) = &info[0] else {
            panic!("{info:?}")
        };
        let ints: Vec<i64> = entry[3..6]
            .iter()
            .map(|v| redis::from_redis_value(v).unwrap())
            .collect();
        assert_eq!(ints, vec![1, 1, 1], "{name} first/last/step");
        let text = format!("{entry:?}").to_lowercase();
        assert!(text.contains("not_key"), "{name}: {text}");
    }
}

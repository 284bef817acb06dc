//! The fail-closed rules: revocation holds whatever Redis or a user does to the keys,
//! permissions hold under ACL users, nothing foreign is modified.
mod common;
use common::*;

fn acl_user(c: &mut Connection, name: &str, rules: &[&str]) -> Connection {
    let _: () = cmd("ACL")
        .arg("SETUSER")
        .arg(name)
        .arg("reset")
        .arg("on")
        .arg(format!(">pw-{name}"))
        .arg(rules)
        .query(c)
        .unwrap();
    c.clone_for(name)
}

trait AsUser {
    fn clone_for(&mut self, name: &str) -> Connection;
}

impl AsUser for Connection {
    /// A new connection to the same server, authenticated as `name`.
    fn clone_for(&mut self, name: &str) -> Connection {
        let port: String = cmd("CONFIG")
            .arg("GET")
            .arg("port")
            .query::<Vec<String>>(self)
            .unwrap()
            .remove(1);
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
            .unwrap();
        let _: () = cmd("AUTH")
            .arg(name)
            .arg(format!("pw-{name}"))
            .query(&mut c)
            .unwrap();
        c
    }
}

fn key_cmd(c: &mut Connection, args: &[&str]) -> RedisResult<Value> {
    cmd("JWT.KEY").arg(args).query(c)
}

#[test]
fn admin_subcommands_need_admin_on_every_server() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["alice"]);
    let kid = payload_kid(&mut c, &t);
    let mut app = acl_user(&mut c, "app", &["~*", "&*", "+@all", "-@admin"]);
    for args in [
        vec!["EXPORT", kid.as_str()],
        vec!["ROTATE"],
        vec!["GENERATE", "HS256"],
        vec!["IMPORT", "k2", "HS256", "0123456789abcdef0123456789abcdef"],
        vec!["ACTIVATE", kid.as_str()],
        vec!["RETIRE", kid.as_str()],
        vec!["REVOKE", kid.as_str()],
        vec!["CUTOFF"],
    ] {
        assert_eq!(code(key_cmd(&mut app, &args)), "NOPERM", "{args:?}");
    }
    // SYNC is refused to every client (NOPERM where categories exist, else ERR).
    let sync = key_cmd(&mut app, &["SYNC", r#"{"v":1,"active":null,"keys":[]}"#]);
    assert!(matches!(code(sync).as_str(), "NOPERM" | "ERR"));
    let sync = key_cmd(&mut c, &["SYNC", r#"{"v":1,"active":null,"keys":[]}"#]);
    assert_eq!(code(sync), "ERR", "not even the default user");
    // What the app does still works, and nothing changed.
    let list: Value = key_cmd(&mut app, &["LIST"]).unwrap();
    assert!(matches!(list, Value::Array(ref a) if a.len() == 1));
    assert!(verify(&mut app, &t).is_ok());
    sign(&mut app, &["bob"]);
    // -@dangerous removes them as well.
    let mut careful = acl_user(&mut c, "careful", &["~*", "&*", "+@all", "-@dangerous"]);
    assert_eq!(code(key_cmd(&mut careful, &["EXPORT", &kid])), "NOPERM");
    // A full admin may.
    assert!(key_cmd(&mut c, &["EXPORT", &kid]).is_ok());
}

fn payload_kid(c: &mut Connection, token: &str) -> String {
    let (h, _): (String, String) = cmd("JWT.DECODE").arg(token).query(c).unwrap();
    json(&h)["kid"].as_str().unwrap().to_string()
}

#[test]
fn categories_cover_module_commands_where_the_server_allows() {
    let s = Server::start();
    let mut c = s.client();
    if !server_has_categories(&mut c) {
        eprintln!("Redis 7.0 cannot declare module ACL categories: tested on 7.2+/Valkey");
        return;
    }
    let t = sign(&mut c, &["alice"]);
    let mut reader = acl_user(&mut c, "reader", &["~*", "+@read"]);
    assert!(verify(&mut reader, &t).is_ok(), "+@read can VERIFY");
    let _: i64 = cmd("JWT.COUNT").arg("alice").query(&mut reader).unwrap();
    let _: String = cmd("JWT.JWKS").query(&mut reader).unwrap();
    assert_eq!(
        code(cmd("JWT.SIGN").arg("alice").query::<String>(&mut reader)),
        "NOPERM"
    );
    let mut no_write = acl_user(&mut c, "nowrite", &["~*", "&*", "+@all", "-@write"]);
    for args in [vec!["JWT.SIGN", "alice"], vec!["JWT.REVOKE", "alice"]] {
        let r: RedisResult<Value> = cmd(args[0]).arg(&args[1..]).query(&mut no_write);
        assert_eq!(code(r), "NOPERM", "{args:?}");
    }
    assert_eq!(code(key_cmd(&mut no_write, &["ROTATE"])), "NOPERM");
    assert!(verify(&mut no_write, &t).is_ok());
    // The jwt category, where the server lets modules add one (7.4+, Valkey 8).
    let cats: Vec<String> = cmd("ACL").arg("CAT").query(&mut c).unwrap();
    if cats.iter().any(|x| x == "jwt") {
        let mut jwt_only = acl_user(&mut c, "jwtonly", &["~*", "+@jwt", "-@admin"]);
        assert!(verify(&mut jwt_only, &t).is_ok());
        assert_eq!(
            code(cmd("GET").arg("x").query::<Option<String>>(&mut jwt_only)),
            "NOPERM"
        );
        assert_eq!(code(key_cmd(&mut jwt_only, &["ROTATE"])), "NOPERM");
    }
}

#[test]
fn token_commands_check_the_key_patterns_of_the_user() {
    let s = Server::start();
    let mut c = s.client();
    let (bob_access, bob_refresh): (String, String) = cmd("JWT.SIGN")
        .arg(&["bob", "DATA", r#"{"secret":1}"#, "REFRESH"][..])
        .query(&mut c)
        .unwrap();
    let alice = sign(&mut c, &["alice"]);
    let mut alice_only = acl_user(&mut c, "aliceonly", &["~jwt:{alice}*", "+@all"]);
    assert!(verify(&mut alice_only, &alice).is_ok());
    for args in [
        vec!["JWT.VERIFY", bob_access.as_str()],
        vec!["JWT.VERIFY", bob_access.as_str(), "WITHDATA"],
        vec!["JWT.TOUCH", bob_access.as_str()],
        vec!["JWT.DESTROY", bob_access.as_str()],
        vec!["JWT.REFRESH", bob_refresh.as_str()],
        vec!["JWT.DESTROY", bob_refresh.as_str()],
    ] {
        let r: RedisResult<Value> = cmd(args[0]).arg(&args[1..]).query(&mut alice_only);
        assert_eq!(code(r), "NOPERM", "{}", args[0]);
    }
    // A read-only pattern: VERIFY yes, anything that writes no.
    let mut bob_reader = acl_user(&mut c, "bobreader", &["%R~jwt:{bob}*", "+@all"]);
    assert!(verify(&mut bob_reader, &bob_access).is_ok());
    for args in [
        vec!["JWT.TOUCH", bob_access.as_str()],
        vec!["JWT.DESTROY", bob_access.as_str()],
        vec!["JWT.REFRESH", bob_refresh.as_str()],
    ] {
        let r: RedisResult<Value> = cmd(args[0]).arg(&args[1..]).query(&mut bob_reader);
        assert_eq!(code(r), "NOPERM", "{}", args[0]);
    }
    // Nothing happened to bob's session.
    assert!(verify(&mut c, &bob_access).is_ok());
    let n: i64 = cmd("JWT.COUNT").arg("bob").query(&mut c).unwrap();
    assert_eq!(n, 1);
}

fn count(c: &mut Connection, sub: &str) -> i64 {
    cmd("JWT.COUNT").arg(sub).query(c).unwrap()
}

#[test]
fn what_users_do_to_the_keys_never_leaves_a_session_that_verifies() {
    let s = Server::start();
    let mut c = s.client();
    // The index deleted: every session of the user ends, and TOUCH does not revive it.
    let t = sign(&mut c, &["u1"]);
    let _: () = cmd("DEL").arg("jwt:{u1}").query(&mut c).unwrap();
    assert_eq!(code(verify(&mut c, &t)), "REVOKED");
    assert_eq!(
        code(cmd("JWT.TOUCH").arg(&t).query::<String>(&mut c)),
        "REVOKED"
    );
    let exists: i64 = cmd("EXISTS").arg("jwt:{u1}").query(&mut c).unwrap();
    assert_eq!((exists, count(&mut c, "u1")), (0, 0));

    // A session key made persistent: it verifies, is counted and can be revoked while
    // its index entry lives, and ends with the entry.
    let t = sign(&mut c, &["u2", "TTL", "1"]);
    let sid = payload(&t)["sid"].as_str().unwrap().to_string();
    let _: () = cmd("PERSIST")
        .arg(format!("jwt:{{u2}}:{sid}"))
        .query(&mut c)
        .unwrap();
    assert!(verify(&mut c, &t).is_ok());
    assert_eq!(count(&mut c, "u2"), 1);
    sleep_ms(1100);
    assert_eq!(code(verify(&mut c, &t)), "REVOKED");
    assert_eq!(count(&mut c, "u2"), 0);

    // RESTORE with no TTL after a DEL: the same.
    let t = sign(&mut c, &["u3"]);
    let sid = payload(&t)["sid"].as_str().unwrap().to_string();
    let key = format!("jwt:{{u3}}:{sid}");
    let dump: Vec<u8> = cmd("DUMP").arg(&key).query(&mut c).unwrap();
    let _: () = cmd("DEL").arg(&key).query(&mut c).unwrap();
    assert_eq!(code(verify(&mut c, &t)), "REVOKED");
    let _: () = cmd("RESTORE")
        .arg(&key)
        .arg(0)
        .arg(dump)
        .query(&mut c)
        .unwrap();
    assert!(verify(&mut c, &t).is_ok());
    assert_eq!(count(&mut c, "u3"), 1);
    let ended: i64 = cmd("JWT.REVOKE").arg("u3").query(&mut c).unwrap();
    assert_eq!(ended, 1);
    assert_eq!(code(verify(&mut c, &t)), "REVOKED");

    // RENAME of the session key, EXPIRE of the index.
    let t = sign(&mut c, &["u4"]);
    let sid = payload(&t)["sid"].as_str().unwrap().to_string();
    let _: () = cmd("RENAME")
        .arg(format!("jwt:{{u4}}:{sid}"))
        .arg("elsewhere")
        .query(&mut c)
        .unwrap();
    assert_eq!(code(verify(&mut c, &t)), "REVOKED");
    let t = sign(&mut c, &["u5"]);
    let _: () = cmd("PEXPIRE")
        .arg("jwt:{u5}")
        .arg(50)
        .query(&mut c)
        .unwrap();
    sleep_ms(120);
    assert_eq!(code(verify(&mut c, &t)), "REVOKED");
    assert_eq!(count(&mut c, "u5"), 0);

    // REFRESH of a session whose index is gone: ended (not reuse), nothing written.
    let (_, rt): (String, String) = cmd("JWT.SIGN")
        .arg(&["u6", "REFRESH"][..])
        .query(&mut c)
        .unwrap();
    let _: () = cmd("DEL").arg("jwt:{u6}").query(&mut c).unwrap();
    let before: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    assert_eq!(
        code(cmd("JWT.REFRESH").arg(&rt).query::<Value>(&mut c)),
        "REVOKED"
    );
    let after: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    assert_eq!(before, after);
}

#[test]
fn foreign_types_get_wrongtype_and_stay_as_they_were() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["carol"]);
    let sid = payload(&t)["sid"].as_str().unwrap().to_string();
    // A plain string where the index was.
    let _: () = cmd("SET")
        .arg("jwt:{carol}")
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!(code(verify(&mut c, &t)), "REVOKED");
    assert_eq!(
        code(cmd("JWT.TOUCH").arg(&t).query::<String>(&mut c)),
        "REVOKED"
    );
    for args in [
        vec!["JWT.SIGN", "carol"],
        vec!["JWT.REVOKE", "carol"],
        vec!["JWT.COUNT", "carol"],
        vec!["JWT.SESSIONS", "carol"],
    ] {
        let r: RedisResult<Value> = cmd(args[0]).arg(&args[1..]).query(&mut c);
        assert_eq!(code(r), "WRONGTYPE", "{args:?}");
    }
    // DESTROY of a session that no longer counts: nothing to end, nothing touched.
    let n: i64 = cmd("JWT.DESTROY").arg(&t).query(&mut c).unwrap();
    assert_eq!(n, 0);
    let v: String = cmd("GET").arg("jwt:{carol}").query(&mut c).unwrap();
    let ttl: i64 = cmd("PTTL").arg("jwt:{carol}").query(&mut c).unwrap();
    assert_eq!((v.as_str(), ttl), ("x", -1), "untouched, no expiry set");
    // A list where a session with a chosen SID would go.
    let _: () = cmd("RPUSH")
        .arg("jwt:{dave}:phone")
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        code(
            cmd("JWT.SIGN")
                .arg(&["dave", "SID", "phone"][..])
                .query::<String>(&mut c)
        ),
        "WRONGTYPE"
    );
    let len: i64 = cmd("LLEN").arg("jwt:{dave}:phone").query(&mut c).unwrap();
    assert_eq!(len, 1);
    let _ = sid;
}

#[test]
fn a_reused_sid_never_revives_an_earlier_incarnation() {
    let s = Server::start();
    let mut c = s.client();
    for _ in 0..20 {
        let (old, old_rt): (String, String) = cmd("JWT.SIGN")
            .arg(&["erin", "SID", "laptop", "REFRESH"][..])
            .query(&mut c)
            .unwrap();
        let _: i64 = cmd("JWT.DESTROY").arg(&old).query(&mut c).unwrap();
        // The same SID again, within the same second (and often the same millisecond).
        let (new, new_rt): (String, String) = cmd("JWT.SIGN")
            .arg(&["erin", "SID", "laptop", "REFRESH"][..])
            .query(&mut c)
            .unwrap();
        assert_eq!(code(verify(&mut c, &old)), "REVOKED");
        assert_eq!(
            code(cmd("JWT.REFRESH").arg(&old_rt).query::<Value>(&mut c)),
            "REVOKED",
            "an earlier incarnation's refresh token is not reuse of this one"
        );
        assert!(verify(&mut c, &new).is_ok(), "the new session lives on");
        let (_, _): (String, String) = cmd("JWT.REFRESH").arg(&new_rt).query(&mut c).unwrap();
    }
}

#[test]
fn evict_oldest_goes_by_true_creation_order() {
    let s = Server::start_with(&[], &["max-sessions", "2"]);
    let mut c = s.client();
    for round in 0..100 {
        let sub = format!("f{round}");
        let mut pipe = redis::pipe();
        // Names that sort against creation order; three logins in one pipeline.
        for sid in ["c", "b", "a"] {
            pipe.cmd("JWT.SIGN").arg(&sub).arg("SID").arg(sid);
        }
        let _: Vec<String> = pipe.query(&mut c).unwrap();
        let list: Vec<Vec<Value>> = cmd("JWT.SESSIONS").arg(&sub).query(&mut c).unwrap();
        let sids: Vec<String> = list
            .iter()
            .map(|e| redis::from_redis_value(&e[1]).unwrap())
            .collect();
        assert_eq!(
            sids,
            ["b", "a"],
            "round {round}: the first login was evicted"
        );
    }
}

#[test]
fn eviction_under_maxmemory_never_fails_open() {
    for policy in ["allkeys-lru", "volatile-lru", "allkeys-random"] {
        eviction_run(policy);
    }
}

/// docs/operations.md's recommended setting: with `noeviction` and memory full, SIGN
/// and REFRESH (`deny-oom`) answer OOM and nobody is logged out; VERIFY, TOUCH, DESTROY
/// and REVOKE keep working.
#[test]
fn noeviction_when_memory_is_full_refuses_logins_and_logs_nobody_out() {
    let s = Server::start();
    let mut c = s.client();
    let (access, refresh): (String, String) = cmd("JWT.SIGN")
        .arg(&["ann", "REFRESH"][..])
        .query(&mut c)
        .unwrap();
    let other = sign(&mut c, &["ann"]);
    let bens = sign(&mut c, &["ben"]);
    let full = used_memory(&mut c) / 2;
    for (name, value) in [
        ("maxmemory-policy", "noeviction".to_string()),
        ("maxmemory", full.to_string()),
    ] {
        let _: () = cmd("CONFIG")
            .arg(&["SET", name, &value][..])
            .query(&mut c)
            .unwrap();
    }
    assert_eq!(
        code(cmd("JWT.SIGN").arg("cid").query::<String>(&mut c)),
        "OOM"
    );
    let r: RedisResult<Value> = cmd("JWT.REFRESH").arg(&refresh).query(&mut c);
    assert_eq!(code(r), "OOM");
    assert!(verify(&mut c, &access).is_ok(), "nobody is logged out");
    sleep_ms(1100); // so that TOUCH writes
    assert!(cmd("JWT.TOUCH").arg(&access).query::<Value>(&mut c).is_ok());
    let n: i64 = cmd("JWT.DESTROY").arg(&other).query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("JWT.REVOKE").arg("ben").query(&mut c).unwrap();
    assert_eq!(n, 1);
    assert_eq!(code(verify(&mut c, &bens)), "REVOKED");
    assert!(verify(&mut c, &access).is_ok());
    // The refused REFRESH spent nothing: with memory back, the same token rotates.
    let _: () = cmd("CONFIG")
        .arg(&["SET", "maxmemory", "0"][..])
        .query(&mut c)
        .unwrap();
    let r: RedisResult<(String, String)> = cmd("JWT.REFRESH").arg(&refresh).query(&mut c);
    assert!(r.is_ok(), "{r:?}");
}

/// A pipeline's replies, errors included (as `Value::ServerError`) instead of failing.
fn replies(c: &mut Connection, pipe: &redis::Pipeline, n: usize) -> Vec<Value> {
    use redis::ConnectionLike;
    c.req_packed_commands(&pipe.get_packed_pipeline(), 0, n)
        .unwrap()
}

fn used_memory(c: &mut Connection) -> i64 {
    let info: String = cmd("INFO").arg("memory").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// 3,000 users log in 20 times each (max-sessions 3) on a server 2 MB above its empty
/// size (the 9,000 sessions that may live need about 3),
/// so Redis evicts session keys and index keys alike. Afterwards, for every user, the
/// sessions that verify are at most 3 and at most what COUNT says, and after REVOKE
/// none verifies.
fn eviction_run(policy: &str) {
    const USERS: usize = 3000;
    const LOGINS: usize = 20;
    // The verify cache's memory counts toward maxmemory too: off, so that what gets
    // evicted is sessions and indexes, a few at a time, not all of them.
    let s = Server::start_with(&[], &["max-sessions", "3", "verify-cache", "0"]);
    let mut c = s.client();
    let base = used_memory(&mut c);
    let _: () = cmd("CONFIG")
        .arg(&["SET", "maxmemory-policy", policy][..])
        .query(&mut c)
        .unwrap();
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(base + 2 * 1024 * 1024)
        .query(&mut c)
        .unwrap();
    let mut tokens: Vec<(usize, String)> = Vec::with_capacity(USERS * LOGINS);
    for round in 0..LOGINS {
        let mut pipe = redis::pipe();
        for u in 0..USERS {
            pipe.cmd("JWT.SIGN").arg(format!("user{u}"));
        }
        for (u, r) in replies(&mut c, &pipe, USERS).into_iter().enumerate() {
            if let Ok(t) = redis::from_redis_value::<String>(&r) {
                tokens.push((u, t));
            }
        }
        let _ = round;
    }
    let evicted: i64 = {
        let info: String = cmd("INFO").arg("stats").query(&mut c).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("evicted_keys:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert!(
        evicted > 1000,
        "{policy}: the run must really evict ({evicted})"
    );
    let verifying = |c: &mut Connection| -> Vec<usize> {
        let mut n = vec![0usize; USERS];
        for chunk in tokens.chunks(5000) {
            let mut pipe = redis::pipe();
            for (_, t) in chunk {
                pipe.cmd("JWT.VERIFY").arg(t);
            }
            for ((u, _), r) in chunk.iter().zip(replies(c, &pipe, chunk.len())) {
                if !matches!(r, Value::ServerError(_)) {
                    n[*u] += 1;
                }
            }
        }
        n
    };
    let before = verifying(&mut c);
    let mut pipe = redis::pipe();
    for u in 0..USERS {
        pipe.cmd("JWT.COUNT").arg(format!("user{u}"));
    }
    let counts: Vec<i64> = pipe.query(&mut c).unwrap();
    let over_limit = before.iter().filter(|&&n| n > 3).count();
    let uncounted = before
        .iter()
        .zip(&counts)
        .filter(|(&v, &n)| v as i64 > n)
        .count();
    assert_eq!((over_limit, uncounted), (0, 0), "{policy}");
    let survivors: usize = before.iter().sum();
    assert!(survivors > 0, "{policy}: some sessions survive");
    eprintln!("{policy}: {evicted} keys evicted, {survivors} sessions still verify");
    let mut pipe = redis::pipe();
    for u in 0..USERS {
        pipe.cmd("JWT.REVOKE").arg(format!("user{u}"));
    }
    let _: Vec<i64> = pipe.query(&mut c).unwrap();
    let after = verifying(&mut c);
    assert_eq!(
        after.iter().sum::<usize>(),
        0,
        "{policy}: REVOKE ended them all"
    );
}

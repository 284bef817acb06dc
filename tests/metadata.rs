//! What tools see: COMMAND DOCS with full arguments (redis-cli hints), COMMAND INFO
//! with the routing key of subject-first commands.
mod common;
use common::*;

fn docs_text(c: &mut Connection, name: &str) -> String {
    let v: Value = cmd("COMMAND").arg("DOCS").arg(name).query(c).unwrap();
    format!("{v:?}")
}

#[test]
fn command_docs_carry_arguments_for_every_command() {
    let s = Server::start();
    let mut c = s.client();
    let sign = docs_text(&mut c, "jwt.sign");
    for token in [
        "CLAIMS",
        "DATA",
        "TTL",
        "EXPIRES",
        "MAXAGE",
        "SID",
        "REFRESH",
        "STATELESS",
    ] {
        assert!(sign.contains(token), "JWT.SIGN docs lack {token}: {sign}");
    }
    assert!(sign.contains("0.1.0") && sign.contains("summary"));
    for (name, token) in [
        ("jwt.verify", "WITHDATA"),
        ("jwt.touch", "TTL"),
        ("jwt.refresh", "EXPIRES"),
        ("jwt.revoke", "EXCEPT"),
        ("jwt.sessions", "WITHDATA"),
        ("jwt.key|generate", "KID"),
    ] {
        let d = docs_text(&mut c, name);
        assert!(d.contains("arguments") && d.contains(token), "{name}: {d}");
    }
    let revoke_key = docs_text(&mut c, "jwt.key|revoke");
    assert!(revoke_key.contains("0.2.0"), "{revoke_key}");
    // Subject-first commands route by argument 1 (first/last/step 1,1,1).
    let info: Value = cmd("COMMAND")
        .arg("INFO")
        .arg("jwt.count")
        .query(&mut c)
        .unwrap();
    let text = format!("{info:?}");
    assert!(text.contains("int(1), int(1), int(1)"), "{text}");
}

#[test]
fn records_are_maps_under_resp3_and_flat_arrays_under_resp2() {
    let s = Server::start();
    let mut c = s.client();
    let _ = sign(&mut c, &["alice", "META", r#"{"device":"phone"}"#]);
    let mut r3 = redis::Client::open(format!("redis://127.0.0.1:{}/?protocol=resp3", s.port))
        .unwrap()
        .get_connection()
        .unwrap();
    for (cmd_args, field) in [
        (vec!["JWT.SESSIONS", "alice"], "last_seen"),
        (vec!["JWT.KEY", "LIST"], "state"),
    ] {
        let v: Value = cmd(cmd_args[0]).arg(&cmd_args[1..]).query(&mut r3).unwrap();
        let Value::Array(items) = v else {
            panic!("{v:?}")
        };
        assert!(
            matches!(&items[0], Value::Map(m) if m.iter().any(|(k, _)| format!("{k:?}").contains(field))),
            "{items:?}"
        );
        let v: Value = cmd(cmd_args[0]).arg(&cmd_args[1..]).query(&mut c).unwrap();
        let Value::Array(items) = v else {
            panic!("{v:?}")
        };
        assert!(
            matches!(&items[0], Value::Array(a) if a.len() % 2 == 0),
            "RESP2: flat pairs"
        );
    }
}

#[test]
fn version_and_gauges() {
    let s = Server::start();
    let mut c = s.client();
    let modules: Value = cmd("MODULE").arg("LIST").query(&mut c).unwrap();
    let text = format!("{modules:?}");
    let v = env!("CARGO_PKG_VERSION");
    let mut parts = v.split('.').map(|p| p.parse::<i64>().unwrap());
    let number =
        parts.next().unwrap() * 10000 + parts.next().unwrap() * 100 + parts.next().unwrap();
    assert!(text.contains(&format!("int({number})")), "{text}");
    assert_eq!(info_field(&mut c, "version"), v);
    let t = sign(&mut c, &["alice"]);
    // A token enters the verify cache on its second miss; the third VERIFY hits.
    let _ = verify(&mut c, &t);
    assert_eq!(info_field(&mut c, "verify_cache_entries"), "0");
    let _ = verify(&mut c, &t);
    let _ = verify(&mut c, &t);
    assert_eq!(info_field(&mut c, "verify_cache_entries"), "1");
    assert_eq!(info_field(&mut c, "verify_cache_misses"), "2");
    assert_eq!(info_field(&mut c, "verify_cache_hits"), "1");
    assert_eq!(info_field(&mut c, "keys_active"), "1");
    let _: () = cmd("JWT.KEY")
        .arg(&["IMPORT", "old", "HS256", "shhhhhhh", "LEGACY"][..])
        .query(&mut c)
        .unwrap();
    assert_eq!(info_field(&mut c, "keys_legacy"), "1");
    assert_eq!(info_field(&mut c, "keys_weak"), "1");
}

#[test]
fn repeated_options_are_refused_everywhere() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["alice", "SID", "a"]);
    let _ = sign(&mut c, &["alice", "SID", "b"]);
    for args in [
        vec!["JWT.VERIFY", t.as_str(), "WITHDATA", "WITHDATA"],
        vec!["JWT.SESSIONS", "alice", "WITHDATA", "WITHDATA"],
        vec!["JWT.REVOKE", "alice", "SID", "a", "SID", "b"],
        vec!["JWT.SIGN", "alice", "REFRESH", "REFRESH"],
        vec!["JWT.SIGN", "alice", "TTL", "1h", "TTL", "2h"],
        vec!["JWT.TOUCH", t.as_str(), "TTL", "1h", "TTL", "2h"],
        vec!["JWT.UPDATE", t.as_str(), "SUPERSEDE", "SUPERSEDE"],
    ] {
        let r: RedisResult<Value> = cmd(args[0]).arg(&args[1..]).query(&mut c);
        assert!(error_text(r).contains("more than once"), "{args:?}");
    }
    let n: i64 = cmd("JWT.COUNT").arg("alice").query(&mut c).unwrap();
    assert_eq!(n, 2, "nothing was revoked");
}

/// Tokens without kid, as the npm libraries make them, verify with a LEGACY key and
/// nothing else; they are stateless.
#[test]
fn legacy_keys_take_tokens_without_kid() {
    let s = Server::start();
    let mut c = s.client();
    let legacy = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"id": 7, "sid": "x", "sub": "bob", "exp": now_s() + 60, "iat": now_s()}),
        &jsonwebtoken::EncodingKey::from_secret(b"shhhhh"),
    )
    .unwrap();
    assert_eq!(code(verify(&mut c, &legacy)), "INVALID");
    let _: () = cmd("JWT.KEY")
        .arg(&["IMPORT", "npm", "HS256", "shhhhh", "LEGACY"][..])
        .query(&mut c)
        .unwrap();
    assert_eq!(json(&verify(&mut c, &legacy).unwrap())["id"], 7);
    assert_eq!(
        code(cmd("JWT.TOUCH").arg(&legacy).query::<String>(&mut c)),
        "INVALID",
        "stateless: no session to touch"
    );
    // Never signs: not active, not usable with KEY, not activatable.
    let t = sign(&mut c, &["alice"]);
    assert_ne!(payload_kid(&t), "npm");
    assert_eq!(
        code(
            cmd("JWT.SIGN")
                .arg(&["alice", "KEY", "npm"][..])
                .query::<String>(&mut c)
        ),
        "ERR"
    );
    assert_eq!(
        code(
            cmd("JWT.KEY")
                .arg(&["ACTIVATE", "npm"][..])
                .query::<String>(&mut c)
        ),
        "ERR"
    );
    // A wrong secret, or another algorithm, does not verify.
    let other = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
        &serde_json::json!({"exp": now_s() + 60}),
        &jsonwebtoken::EncodingKey::from_secret(b"shhhhh"),
    )
    .unwrap();
    assert_eq!(code(verify(&mut c, &other)), "INVALID");
    let _: () = cmd("CONFIG")
        .arg(&["SET", "jwt.stateless", "deny"][..])
        .query(&mut c)
        .unwrap();
    assert_eq!(
        code(verify(&mut c, &legacy)),
        "INVALID",
        "treated as stateless"
    );
    // The keyring keeps it across a reload.
    let _: () = cmd("CONFIG")
        .arg(&["SET", "jwt.stateless", "allow"][..])
        .query(&mut c)
        .unwrap();
    let _: String = cmd("DEBUG").arg("RELOAD").query(&mut c).unwrap();
    assert!(verify(&mut c, &legacy).is_ok());
}

fn payload_kid(token: &str) -> String {
    header(token)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The edges of docs/commands.md's arguments tables: the largest value accepted, the
/// next one refused with ERR and nothing written.
#[test]
fn argument_ranges_of_the_reference_hold() {
    let s = Server::start();
    let mut c = s.client();
    let meta = |n: usize| format!("\"{}\"", "x".repeat(n - 2)); // JSON of n bytes
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            vec!["u1".into(), "LIMIT".into(), "1000000".into()],
            vec!["u1".into(), "LIMIT".into(), "1000001".into()],
        ),
        (
            vec!["u2".into(), "META".into(), meta(512)],
            vec!["u2".into(), "META".into(), meta(513)],
        ),
        (
            vec!["u3".into(), "SID".into(), "s".repeat(128)],
            vec!["u3".into(), "SID".into(), "t".repeat(129)],
        ),
        (vec!["v".repeat(512)], vec!["w".repeat(513)]),
        (
            vec!["u4".into(), "TTL".into(), "1000y".into()],
            vec!["u4".into(), "TTL".into(), "0".into()],
        ),
        (
            vec!["u5".into(), "STATELESS".into(), "AUD".into(), "a".into()],
            vec!["u5".into(), "STATELESS".into(), "META".into(), "{}".into()],
        ),
    ];
    for (ok, refused) in cases {
        let r: RedisResult<Value> = cmd("JWT.SIGN").arg(&ok).query(&mut c);
        assert!(r.is_ok(), "JWT.SIGN {ok:?}: {r:?}");
        let before = dbsize(&mut c);
        let r: RedisResult<Value> = cmd("JWT.SIGN").arg(&refused).query(&mut c);
        assert_eq!(code(r), "ERR", "JWT.SIGN {refused:?}");
        assert_eq!(dbsize(&mut c), before, "JWT.SIGN {refused:?} wrote");
    }
    let mut key = |args: &[&str]| -> RedisResult<Value> { cmd("JWT.KEY").arg(args).query(&mut c) };
    assert!(key(&["GENERATE", "es384", "KID", &"k".repeat(64)]).is_ok());
    assert_eq!(
        code(key(&["GENERATE", "hs256", "KID", &"k".repeat(65)])),
        "ERR"
    );
    assert!(key(&["IMPORT", "h32", "HS256", &"s".repeat(32)]).is_ok());
    assert_eq!(
        code(key(&["IMPORT", "h31", "HS256", &"s".repeat(31)])),
        "ERR"
    );
    assert!(key(&["IMPORT", "old", "hs256", "shhhhhh", "LEGACY"]).is_ok());
    assert_eq!(code(key(&["IMPORT", "old2", "hs256", "", "LEGACY"])), "ERR");
}

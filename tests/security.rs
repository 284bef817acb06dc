//! The spec's security bars and the "bad input changes nothing" rule, each a test.
mod common;
use common::*;

fn kid_of(c: &mut Connection, token: &str) -> String {
    let (h, _): (String, String) = cmd("JWT.DECODE").arg(token).query(c).unwrap();
    json(&h)["kid"].as_str().unwrap().to_string()
}

fn forge(header: &str, payload: &str, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.as_bytes()),
        b64(payload.as_bytes()),
        b64(signature)
    )
}

#[test]
fn tampered_foreign_and_none_tokens_are_invalid() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["alice", "CLAIMS", r#"{"role":"user"}"#]);
    let kid = kid_of(&mut c, &t);
    let parts: Vec<&str> = t.split('.').collect();
    let mut p = payload(&t);
    p["role"] = "admin".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(p.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(code(verify(&mut c, &tampered)), "INVALID");

    // Same header and claims, signed with another secret by an independent library.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.clone());
    let foreign = jsonwebtoken::encode(
        &header,
        &payload(&t),
        &jsonwebtoken::EncodingKey::from_secret(&[42u8; 32]),
    )
    .unwrap();
    assert_eq!(code(verify(&mut c, &foreign)), "INVALID");

    let body = payload(&t).to_string();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{kid}"}}"#);
        assert_eq!(
            code(verify(&mut c, &forge(&h, &body, b""))),
            "INVALID",
            "{alg}"
        );
        assert_eq!(
            code(verify(
                &mut c,
                &format!("{}.{}.", b64(h.as_bytes()), b64(body.as_bytes()))
            )),
            "INVALID"
        );
    }
    // HS/RS confusion: the key is HS256, a token claiming RS256 (or ES256) is refused.
    for alg in ["RS256", "ES256", "PS256", "HS512", "EdDSA"] {
        let h = format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#);
        assert_eq!(
            code(verify(&mut c, &forge(&h, &body, &[1u8; 256]))),
            "INVALID",
            "{alg}"
        );
    }
    // ECDSA-style all-zero signature
    let h = format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#);
    assert_eq!(
        code(verify(&mut c, &forge(&h, &body, &[0u8; 32]))),
        "INVALID"
    );
    // Unknown kid, a kid that looks like a key name, no kid
    for h in [
        r#"{"alg":"HS256","kid":"nope"}"#,
        r#"{"alg":"HS256","kid":"jwt:{alice}"}"#,
        r#"{"alg":"HS256"}"#,
    ] {
        assert_eq!(
            code(verify(&mut c, &forge(h, &body, &[0u8; 32]))),
            "INVALID"
        );
    }
    // The session is untouched by all of that.
    assert!(verify(&mut c, &t).is_ok());
}

#[test]
fn forged_tokens_cannot_touch_or_destroy() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["victim", "TTL", "1h"]);
    let kid = kid_of(&mut c, &t);
    let sid = payload(&t)["sid"].as_str().unwrap().to_string();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid);
    let forged = jsonwebtoken::encode(
        &header,
        &payload(&t),
        &jsonwebtoken::EncodingKey::from_secret(&[1u8; 32]),
    )
    .unwrap();
    let key = format!("jwt:{{victim}}:{sid}");
    let ttl: i64 = cmd("PTTL").arg(&key).query(&mut c).unwrap();
    assert_eq!(
        code(
            cmd("JWT.TOUCH")
                .arg(&forged)
                .arg("TTL")
                .arg("30d")
                .query::<String>(&mut c)
        ),
        "INVALID"
    );
    assert_eq!(
        code(cmd("JWT.DESTROY").arg(&forged).query::<i64>(&mut c)),
        "INVALID"
    );
    let ttl2: i64 = cmd("PTTL").arg(&key).query(&mut c).unwrap();
    assert!(ttl2 <= ttl, "not extended");
    assert!(verify(&mut c, &t).is_ok(), "not destroyed");
}

#[test]
fn crit_is_refused_and_key_headers_are_ignored() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["alice"]);
    let kid = kid_of(&mut c, &t);
    // We cannot sign with the real secret from outside, so check the order of checks:
    // an attacker-supplied jwk/jku/x5u/x5c never supplies a key (signature still fails),
    // and crit is refused before the signature is even looked at.
    let body = payload(&t).to_string();
    let jwk = format!(
        r#"{{"alg":"HS256","kid":"{kid}","jwk":{{"kty":"oct","k":"{}"}},"jku":"http://127.0.0.1:1/","x5u":"http://127.0.0.1:1/","x5c":["MII"]}}"#,
        b64(&[1u8; 32])
    );
    let input = format!("{}.{}", b64(jwk.as_bytes()), b64(body.as_bytes()));
    let sig = ring_hmac(&[1u8; 32], input.as_bytes());
    assert_eq!(
        error_text(verify(&mut c, &format!("{input}.{}", b64(&sig)))),
        "INVALID bad signature"
    );
    let crit = format!(r#"{{"alg":"HS256","kid":"{kid}","crit":["exp"]}}"#);
    assert!(error_text(verify(&mut c, &forge(&crit, &body, &[0u8; 32]))).contains("crit"));
}

fn ring_hmac(secret: &[u8], data: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::sign(&key, data).as_ref().to_vec()
}

#[test]
fn oversized_and_deeply_nested_tokens() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["alice"]);
    let kid = kid_of(&mut c, &t);
    let huge = "a".repeat(1 << 20);
    assert!(error_text(verify(&mut c, &huge)).contains("max-token-bytes"));
    let padded = format!("{t}{}", "A".repeat(9000));
    assert_eq!(code(verify(&mut c, &padded)), "INVALID");
    let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(1000), "]".repeat(1000));
    let h = format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#);
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.max-token-bytes")
        .arg("65536")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        code(verify(&mut c, &forge(&h, &deep, &[0u8; 32]))),
        "INVALID"
    );
    let deep_header = format!(
        r#"{{"alg":"HS256","kid":"{kid}","x":{}1{}}}"#,
        "[".repeat(1000),
        "]".repeat(1000)
    );
    assert_eq!(
        code(verify(&mut c, &forge(&deep_header, "{}", &[0u8; 32]))),
        "INVALID"
    );
    assert!(cmd("PING").query::<String>(&mut c).is_ok());
}

#[test]
fn bad_input_gets_an_error_and_changes_nothing() {
    let s = Server::start();
    let mut c = s.client();
    let digest = |c: &mut Connection| -> String { cmd("DEBUG").arg("DIGEST").query(c).unwrap() };
    let before = digest(&mut c);
    let bad: Vec<(Vec<&str>, &str)> = vec![
        (vec!["JWT.SIGN"], "ERR"),
        (vec!["JWT.SIGN", "a{b"], "ERR"),
        (vec!["JWT.SIGN", "a}"], "ERR"),
        (vec!["JWT.SIGN", ""], "ERR"),
        (vec!["JWT.SIGN", "alice", "BOGUS"], "ERR"),
        (vec!["JWT.SIGN", "alice", "TTL"], "ERR"),
        (vec!["JWT.SIGN", "alice", "TTL", "soon"], "ERR"),
        (vec!["JWT.SIGN", "alice", "TTL", "0"], "ERR"),
        (vec!["JWT.SIGN", "alice", "TTL", "-5m"], "ERR"),
        (vec!["JWT.SIGN", "alice", "EXPIRES", "1x"], "ERR"),
        (vec!["JWT.SIGN", "alice", "CLAIMS", "{bad"], "ERR"),
        (vec!["JWT.SIGN", "alice", "CLAIMS", "[1,2]"], "ERR"),
        (
            vec!["JWT.SIGN", "alice", "CLAIMS", r#"{"sub":"root"}"#],
            "ERR",
        ),
        (
            vec!["JWT.SIGN", "alice", "CLAIMS", r#"{"exp":99999999999}"#],
            "ERR",
        ),
        (vec!["JWT.SIGN", "alice", "DATA", "not json"], "ERR"),
        (vec!["JWT.SIGN", "alice", "SID", "a b"], "ERR"),
        (vec!["JWT.SIGN", "alice", "SID", "{x}"], "ERR"),
        (vec!["JWT.SIGN", "alice", "TTL", "1h", "TTL", "2h"], "ERR"),
        (vec!["JWT.VERIFY"], "ERR"),
        (vec!["JWT.VERIFY", "garbage"], "INVALID"),
        (vec!["JWT.VERIFY", "a.b.c"], "INVALID"),
        (vec!["JWT.VERIFY", "x.y.z", "BOGUS"], "ERR"),
        (vec!["JWT.TOUCH", "garbage"], "INVALID"),
        (vec!["JWT.TOUCH", "garbage", "TTL", "nope"], "ERR"),
        (vec!["JWT.DESTROY", "garbage"], "INVALID"),
        (vec!["JWT.DESTROY"], "ERR"),
        (vec!["JWT.DECODE", "garbage"], "INVALID"),
        (vec!["JWT.DECODE", "%%%.%%%.%%%"], "INVALID"),
        (vec!["JWT.KEY"], "ERR"),
        (vec!["JWT.KEY", "SYNC", "not a keyring"], "ERR"),
        (vec!["JWT.KEY", "NOPE"], "ERR"),
    ];
    for (args, want) in &bad {
        let r: RedisResult<Value> = cmd(args[0]).arg(&args[1..]).query(&mut c);
        assert_eq!(&code(r), want, "{args:?}");
    }
    let mb = "x".repeat(1 << 20);
    assert_eq!(code(verify(&mut c, &mb)), "INVALID");
    assert_eq!(digest(&mut c), before, "nothing changed");
    assert_eq!(
        info_field(&mut c, "keys"),
        "0",
        "no key generated by failed SIGNs"
    );
    // A key of the wrong type where a session would go: refused, untouched.
    let _: () = cmd("SET")
        .arg("jwt:{mallory}")
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        code(cmd("JWT.SIGN").arg("mallory").query::<String>(&mut c)),
        "WRONGTYPE"
    );
    let v: String = cmd("GET").arg("jwt:{mallory}").query(&mut c).unwrap();
    assert_eq!(v, "x");
}

#[test]
fn random_garbage_never_crashes_the_server() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["alice"]);
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let words = [
        "TTL",
        "EXPIRES",
        "MAXAGE",
        "CLAIMS",
        "DATA",
        "SID",
        "AUD",
        "ISS",
        "WITHDATA",
        "1h",
        "{}",
        "[]",
        "",
        "\u{0}",
        "{",
        "}",
        "-1",
        "9999999999999999999y",
        "null",
        "SYNC",
    ];
    let cmds = [
        "JWT.SIGN",
        "JWT.VERIFY",
        "JWT.TOUCH",
        "JWT.DESTROY",
        "JWT.DECODE",
        "JWT.KEY",
        "JWT.REFRESH",
        "JWT.SESSIONS",
        "JWT.COUNT",
        "JWT.REVOKE",
        "JWT.JWKS",
    ];
    // Redis itself echoes an unknown subcommand's bytes, which the client cannot parse:
    // JWT.KEY always gets a real one.
    let subs = [
        "GENERATE", "IMPORT", "ACTIVATE", "ROTATE", "RETIRE", "LIST", "EXPORT", "SYNC",
    ];
    for i in 0..3000 {
        let name = cmds[(next() % cmds.len() as u64) as usize];
        let mut args: Vec<Vec<u8>> = vec![];
        if name == "JWT.KEY" {
            args.push(
                subs[(next() % subs.len() as u64) as usize]
                    .as_bytes()
                    .to_vec(),
            );
        }
        for _ in 0..(next() % 6) {
            let a = match next() % 4 {
                0 => words[(next() % words.len() as u64) as usize]
                    .as_bytes()
                    .to_vec(),
                1 => t.as_bytes()[..(next() as usize % t.len())].to_vec(),
                2 => (0..(next() % 40)).map(|_| (next() % 256) as u8).collect(),
                _ => {
                    let mut m = t.clone().into_bytes();
                    let i = next() as usize % m.len();
                    let choices = b"AZaz09-_.=";
                    let mut pick = (next() % 10) as usize;
                    if m[i] == choices[pick] {
                        pick = (pick + 1) % choices.len(); // a real change, never the token itself
                    }
                    m[i] = choices[pick];
                    m
                }
            };
            args.push(a);
        }
        let r: RedisResult<Value> = cmd(name).arg(&args).query(&mut c);
        if let Err(e) = &r {
            assert!(e.code().is_some(), "{name} {args:?}: {e:?}");
        }
        if std::env::var("FUZZ_DEBUG").is_ok() && verify(&mut c, &t).is_err() {
            panic!(
                "session ended at {i}: {name} {:?}",
                args.iter()
                    .map(|a| String::from_utf8_lossy(a).to_string())
                    .collect::<Vec<_>>()
            );
        }
        if i % 500 == 0 {
            assert_eq!(cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
        }
    }
    assert_eq!(cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    let r = verify(&mut c, &t);
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn tokens_are_redacted_from_slowlog_and_monitor() {
    let s = Server::start_with(&["--slowlog-log-slower-than", "0"], &[]);
    let mut c = s.client();
    let t = sign(&mut c, &["alice"]);
    let sig = t.rsplit('.').next().unwrap().to_string();

    let (_, rt): (String, String) = cmd("JWT.SIGN")
        .arg("bob")
        .arg("REFRESH")
        .query(&mut c)
        .unwrap();
    let mon = Monitor::attach(&s);
    let _: RedisResult<()> = cmd("SLOWLOG").arg("RESET").query(&mut c);
    let _: (String, String) = cmd("JWT.REFRESH").arg(&rt).query(&mut c).unwrap();
    verify(&mut c, &t).unwrap();
    let _: String = cmd("JWT.TOUCH").arg(&t).query(&mut c).unwrap();
    let _: (String, String) = cmd("JWT.DECODE").arg(&t).query(&mut c).unwrap();
    let _: i64 = cmd("JWT.DESTROY").arg(&t).query(&mut c).unwrap();
    let monitored = mon.collect(&mut c);
    assert!(
        monitored.to_lowercase().contains("jwt.verify"),
        "{monitored}"
    );
    assert!(
        !monitored.contains(&sig),
        "token leaked to MONITOR:\n{monitored}"
    );
    assert!(
        !monitored.contains(&rt[10..40]),
        "refresh token leaked to MONITOR:\n{monitored}"
    );

    let text = slowlog_text(&mut c);
    assert!(text.to_lowercase().contains("jwt.touch"), "{text}");
    assert!(!text.contains(&sig), "token leaked to SLOWLOG: {text}");
    assert!(
        !text.contains(&rt[10..40]),
        "refresh token leaked to SLOWLOG: {text}"
    );
}

#[test]
fn the_verify_cache_never_skips_a_check_that_can_change() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["alice", "EXPIRES", "2", "AUD", "web"]);
    for _ in 0..3 {
        assert!(verify(&mut c, &t).is_ok(), "cached after the first");
    }
    // iss/aud expectations are re-checked on a hit.
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
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.issuer")
        .arg("auth")
        .query(&mut c)
        .unwrap();
    assert_eq!(code(verify(&mut c, &t)), "INVALID");
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.issuer")
        .arg("")
        .query(&mut c)
        .unwrap();
    assert!(verify(&mut c, &t).is_ok());
    // A prefix change moves sessions out of reach, cached or not.
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.prefix")
        .arg("other:")
        .query(&mut c)
        .unwrap();
    assert_eq!(code(verify(&mut c, &t)), "REVOKED");
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.prefix")
        .arg("jwt:")
        .query(&mut c)
        .unwrap();
    assert!(verify(&mut c, &t).is_ok());
    // Expiry is re-checked on a hit.
    sleep_ms(3100);
    assert_eq!(code(verify(&mut c, &t)), "EXPIRED");
    // Revocation is re-checked on a hit.
    let t2 = sign(&mut c, &["alice"]);
    for _ in 0..3 {
        assert!(verify(&mut c, &t2).is_ok(), "cached from its second VERIFY");
    }
    let _: i64 = cmd("JWT.REVOKE").arg("alice").query(&mut c).unwrap();
    assert_eq!(code(verify(&mut c, &t2)), "REVOKED");
    // A keyring replaced wholesale (as by a full sync) voids cached signatures.
    let t3 = sign(&mut c, &["bob"]);
    for _ in 0..3 {
        assert!(verify(&mut c, &t3).is_ok());
    }
    let other = Server::start();
    let mut o = other.client();
    let _ = sign(&mut o, &["x"]);
    let kid = info_field(&mut o, "active_kid");
    let (_, alg, secret): (String, String, Vec<u8>) = cmd("JWT.KEY")
        .arg("EXPORT")
        .arg(&kid)
        .query(&mut o)
        .unwrap();
    let _: () = cmd("JWT.KEY")
        .arg("IMPORT")
        .arg("imported")
        .arg(&alg)
        .arg(secret)
        .query(&mut c)
        .unwrap();
    assert!(verify(&mut c, &t3).is_ok(), "adding a key keeps the others");
    // The cache can be turned off.
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.verify-cache")
        .arg("0")
        .query(&mut c)
        .unwrap();
    assert!(verify(&mut c, &t3).is_ok());
    assert_eq!(code(verify(&mut c, &t)), "EXPIRED");
}

/// docs/migrating.md: `sub`, `sid`, `sinc`, `sver`, `jti`, `iat`, `exp`, `iss`, `aud`
/// are reserved: CLAIMS may not set them, at SIGN or at UPDATE, and a refusal changes
/// nothing.
#[test]
fn reserved_claims_cannot_be_set() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["alice"]);
    let digest = |c: &mut Connection| -> String { cmd("DEBUG").arg("DIGEST").query(c).unwrap() };
    let before = digest(&mut c);
    for name in [
        "sub", "sid", "sinc", "sver", "jti", "iat", "exp", "iss", "aud",
    ] {
        let claims = format!(r#"{{"{name}":"x"}}"#);
        let at_sign: RedisResult<String> = cmd("JWT.SIGN")
            .arg(&["bob", "CLAIMS", &claims][..])
            .query(&mut c);
        assert_eq!(code(at_sign), "ERR", "SIGN CLAIMS {name}");
        let at_update: RedisResult<Value> = cmd("JWT.UPDATE")
            .arg(&[t.as_str(), "CLAIMS", &claims][..])
            .query(&mut c);
        assert_eq!(code(at_update), "ERR", "UPDATE CLAIMS {name}");
    }
    assert_eq!(digest(&mut c), before);
    // Any other name is the application's.
    let t2 = sign(&mut c, &["bob", "CLAIMS", r#"{"id":42}"#]);
    assert_eq!(payload(&t2)["id"], 42);
}

/// Log lines carry user text (subjects, kids, module arguments): a `%` in it must be
/// printed, not read as a format directive (which made the server read arguments that
/// do not exist). Here the activity log's XADD fails on a foreign key whose name holds
/// the subject, which logs the key.
#[test]
fn user_text_in_log_lines_is_not_a_format_string() {
    let s = Server::start_with(&[], &["activity-log", "10"]);
    let mut c = s.client();
    let sub = "%s%s%s%s%s%s%n";
    let _: () = cmd("SET")
        .arg(format!("jwt:{{{sub}}}#events"))
        .arg("not a stream")
        .query(&mut c)
        .unwrap();
    let _: RedisResult<String> = cmd("JWT.SIGN").arg(sub).query(&mut c);
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    assert!(s.log().contains(sub), "the subject as written: {}", s.log());
}

/// Builds tests/fixtures/caller (a module that runs commands through RM_Call, as
/// another module would) with `cc` against the redis-module crate's redismodule.h.
fn caller_module() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo_home = std::env::var("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(&std::env::var("HOME").unwrap()).join(".cargo"));
    let include = std::fs::read_dir(cargo_home.join("registry/src"))
        .unwrap()
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|krate| krate.path().join("src/include"))
        .find(|p| {
            p.join("redismodule.h").exists() && p.to_string_lossy().contains("redis-module-2")
        })
        .expect("the redis-module crate's redismodule.h");
    let out = root.join("target/caller.so");
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&out)
        .arg("-I")
        .arg(&include)
        .arg(root.join("tests/fixtures/caller/caller.c"))
        .status()
        .expect("cc");
    assert!(status.success());
    out
}

/// Another module may run the JWT commands through RM_Call. Its call has a client with
/// no user (root): the module must not read that user through a null pointer (it
/// crashed the server), and there is no key permission to check, as for Redis's own
/// commands. Scripts, on the other hand, run as their caller: a restricted user gets
/// NOPERM through EVAL and FCALL as directly.
#[test]
fn commands_run_by_another_module_or_a_script() {
    let caller = caller_module();
    let s = Server::start_with(&["--loadmodule", &caller.display().to_string()], &[]);
    let mut c = s.client();
    let t = sign(&mut c, &["bob"]);
    let via: String = cmd("CALLER.CALL")
        .arg(&["JWT.VERIFY", t.as_str()][..])
        .query(&mut c)
        .unwrap();
    assert_eq!(json(&via)["sub"], "bob");
    let n: i64 = cmd("CALLER.CALL")
        .arg(&["JWT.COUNT", "bob"][..])
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1);
    let _: String = cmd("CALLER.CALL")
        .arg(&["JWT.SIGN", "carl"][..])
        .query(&mut c)
        .unwrap();
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");

    let _: () = cmd("ACL")
        .arg(&["SETUSER", "app", "on", ">pw", "~jwt:{alice}*", "+@all"][..])
        .query(&mut c)
        .unwrap();
    let _: String = cmd("FUNCTION")
        .arg(&["LOAD", "#!lua name=t\nredis.register_function('v', function(k, a) return redis.call('JWT.VERIFY', a[1]) end)"][..])
        .query(&mut c)
        .unwrap();
    let mut app = redis::Client::open(format!("redis://app:pw@127.0.0.1:{}/", s.port))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(code(verify(&mut app, &t)), "NOPERM");
    let eval: RedisResult<String> = cmd("EVAL")
        .arg(&["return redis.call('JWT.VERIFY', ARGV[1])", "0", t.as_str()][..])
        .query(&mut app);
    assert_eq!(code(eval), "NOPERM");
    let fcall: RedisResult<String> = cmd("FCALL")
        .arg(&["v", "0", t.as_str()][..])
        .query(&mut app);
    assert_eq!(code(fcall), "NOPERM");
}

//! Migration from the npm libraries (docs/migrating.md): tokens made by the real npm
//! `jsonwebtoken` package, the way jwt-redis, jsonwebtoken-redis, npm redis-jwt, rewt and
//! the tutorial flow make them, verified through LEGACY keys; and every redis-cli session
//! shown in docs/migrating.md, run as written, so the page cannot drift.
//!
//! jsonwebtoken 9 is installed with npm into target/migration-npm (reused when present).
//! Without node/npm, or when the install fails, these tests fail: they never skip.

mod common;
use common::*;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

// ---- the npm side ----------------------------------------------------------------

fn npm_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/migration-npm")
}

/// Installs jsonwebtoken@9 once per test process (or finds it installed); panics when
/// it cannot.
fn jsonwebtoken_installed() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = npm_dir();
        let pkg = dir.join("node_modules/jsonwebtoken/package.json");
        let is_v9 = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .ok()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                .and_then(|v| v["version"].as_str().map(|s| s.starts_with("9.")))
                .unwrap_or(false)
        };
        if !is_v9(&pkg) {
            std::fs::create_dir_all(&dir).expect("create target/migration-npm");
            let out = Command::new("npm")
                .args(["install", "--prefix"])
                .arg(&dir)
                .args(["jsonwebtoken@9", "--no-audit", "--no-fund"])
                .output()
                .unwrap_or_else(|e| {
                    panic!("npm is needed by this test (install node and npm): {e}")
                });
            assert!(
                out.status.success(),
                "npm install jsonwebtoken@9 failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(is_v9(&pkg), "jsonwebtoken 9 is not in {}", dir.display());
        }
        dir
    })
}

const MAKE_TOKENS_JS: &str = r#"// Written and run by tests/migration.rs: signs with the real npm jsonwebtoken.
'use strict';
const jwt = require('jsonwebtoken');
const specs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = {};
for (const [name, s] of Object.entries(specs)) {
  // Payloads arrive as JSON text, so their claims keep the order they are written in.
  const payload = Object.assign(JSON.parse(s.payload), s.extra || {});
  out[name] = jwt.sign(payload, s.secret, s.options || {});
}
process.stdout.write(JSON.stringify(out));
"#;

/// Signs each spec `{name: {payload: <JSON text>, extra, secret, options}}` with npm
/// jsonwebtoken (`extra` claims are added to the payload).
fn npm_sign(specs: &serde_json::Value) -> HashMap<String, String> {
    use std::io::Write;
    let dir = jsonwebtoken_installed();
    let script = dir.join("make-tokens.js");
    std::fs::write(&script, MAKE_TOKENS_JS).expect("write make-tokens.js");
    let mut child = Command::new("node")
        .arg(&script)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("node is needed by this test: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(specs.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("node runs");
    assert!(
        out.status.success(),
        "make-tokens.js failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("tokens JSON")
}

// ---- what each library signs -------------------------------------------------------

struct Library {
    name: &'static str,
    kid: &'static str,
    alg: &'static str,
    secret: String,
    /// JSON text, in the order the library would build it.
    payload: &'static str,
    options: serde_json::Value,
    /// A LEGACY secret shorter than the hash output.
    weak: bool,
}

const REWT_SECRET: &str = "6f1c0f0e-2b1d-4c1e-9a57-3e0e7d2b8c41";
const JSONWEBTOKEN_REDIS_JTI: &str = "a3f1c2d4-5b6e-4f70-8a9b-0c1d2e3f4a5b";

fn libraries() -> Vec<Library> {
    use serde_json::json;
    vec![
        // jwt-redis 7: jti of 10 random characters, expiresIn passed to jsonwebtoken.
        Library {
            name: "jwt-redis",
            kid: "legacy-jwt-redis",
            alg: "HS256",
            secret: "secret".into(),
            payload: r#"{"sub":"42","jti":"Xq3vT9aB2c"}"#,
            options: json!({"expiresIn": "15m"}),
            weak: true,
        },
        // jsonwebtoken-redis with expiresKeyIn '48 hours': no exp, an expk claim, jwtid.
        Library {
            name: "jsonwebtoken-redis",
            kid: "legacy-jsonwebtoken-redis",
            alg: "HS256",
            secret: "shhhhhh".into(),
            payload: r#"{"scope":"user","user":"1","expk":172800}"#,
            options: json!({"jwtid": JSONWEBTOKEN_REDIS_JTI}),
            weak: true,
        },
        // jsonwebtoken-redis with expiresIn.
        Library {
            name: "jsonwebtoken-redis (expiresIn)",
            kid: "legacy-jsonwebtoken-redis-exp",
            alg: "HS256",
            secret: "shhhhhh".into(),
            payload: r#"{"scope":"user","user":"1"}"#,
            options: json!({"jwtid": "0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b", "expiresIn": "1h"}),
            weak: true,
        },
        // npm redis-jwt 1.x: {rjwt: "<id>:<11 chars>"}, the default secret, never an exp.
        Library {
            name: "redis-jwt (npm)",
            kid: "legacy-redis-jwt",
            alg: "HS256",
            secret: "secret_key".into(),
            payload: r#"{"rjwt":"507f191e810c19729de860ea:ZYYlwOGqTmx","data":{"token":{"hello":"world"}}}"#,
            options: json!({}),
            weak: true,
        },
        // rewt: a UUID v4 secret (36 bytes: not weak), sign(payload, secret, {}).
        Library {
            name: "rewt",
            kid: "legacy-rewt",
            alg: "HS256",
            secret: REWT_SECRET.into(),
            payload: r#"{"service":"billing"}"#,
            options: json!({}),
            weak: false,
        },
        // The tutorial flow: access token, short secret, 15 minutes.
        Library {
            name: "tutorial access token",
            kid: "legacy-access",
            alg: "HS256",
            secret: "jwtfanhere".into(),
            payload: r#"{"id":42}"#,
            options: json!({"expiresIn": "15m"}),
            weak: true,
        },
        // The tutorial flow with HS512 and randomBytes(64).toString('hex').
        Library {
            name: "tutorial access token (HS512)",
            kid: "legacy-access-512",
            alg: "HS512",
            secret: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".repeat(2),
            payload: r#"{"id":42,"role":"user"}"#,
            options: json!({"algorithm": "HS512", "expiresIn": 900}),
            weak: false,
        },
        // A short HS384 secret (weak: the hash output is 48 bytes).
        Library {
            name: "HS384 application",
            kid: "legacy-384",
            alg: "HS384",
            secret: "an-hs384-secret".into(),
            payload: r#"{"userId":"u-7"}"#,
            options: json!({"algorithm": "HS384", "expiresIn": "2h"}),
            weak: true,
        },
    ]
}

fn tamper(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut claims = payload(token);
    claims["admin"] = serde_json::Value::Bool(true);
    parts[1] = b64(claims.to_string().as_bytes());
    parts.join(".")
}

/// A string reply, bulk or status.
fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        Value::Int(i) => i.to_string(),
        Value::Nil => "(nil)".into(),
        other => format!("{other:?}"),
    }
}

/// One key of `JWT.KEY LIST` (RESP2: a flat name/value array per key), values as text.
fn key_entry(c: &mut Connection, kid: &str) -> HashMap<String, Value> {
    let list: Vec<Vec<Value>> = cmd("JWT.KEY").arg("LIST").query(c).expect("KEY LIST");
    for entry in list {
        let mut m = HashMap::new();
        for pair in entry.chunks(2) {
            m.insert(text(&pair[0]), pair[1].clone());
        }
        if m.get("kid").map(text).as_deref() == Some(kid) {
            return m;
        }
    }
    panic!("no key {kid} in JWT.KEY LIST");
}

fn legacy_import(c: &mut Connection, lib: &Library) {
    let _: () = cmd("JWT.KEY")
        .arg(&["IMPORT", lib.kid, lib.alg, lib.secret.as_str(), "LEGACY"][..])
        .query(c)
        .unwrap_or_else(|e| panic!("{}: LEGACY import: {e}", lib.name));
}

#[test]
fn npm_tokens_verify_through_legacy_keys_until_revoked() {
    use serde_json::json;
    let libs = libraries();
    let now = now_s();
    let mut specs = serde_json::Map::new();
    for (i, lib) in libs.iter().enumerate() {
        specs.insert(
            format!("{i}/valid"),
            json!({"payload": lib.payload, "secret": lib.secret, "options": lib.options}),
        );
        // Expired: the same library and secret, an exp in the past (jsonwebtoken takes
        // exp from the payload when expiresIn is not given).
        let mut opts = lib.options.clone();
        opts.as_object_mut().unwrap().remove("expiresIn");
        specs.insert(
            format!("{i}/expired"),
            json!({"payload": lib.payload, "extra": {"iat": now - 3600, "exp": now - 120}, "secret": lib.secret, "options": opts}),
        );
        specs.insert(
            format!("{i}/other-secret"),
            json!({"payload": lib.payload, "secret": format!("{}-not-it", lib.secret), "options": lib.options}),
        );
        // Same secret, another HMAC algorithm: the key fixes the algorithm.
        let mut other_alg = lib.options.clone();
        other_alg["algorithm"] = json!(if lib.alg == "HS256" { "HS384" } else { "HS256" });
        specs.insert(
            format!("{i}/other-alg"),
            json!({"payload": lib.payload, "secret": lib.secret, "options": other_alg}),
        );
    }
    let tokens = npm_sign(&serde_json::Value::Object(specs));

    // One server per library: the LEGACY key alone verifies its tokens.
    for (i, lib) in libs.iter().enumerate() {
        let s = Server::start();
        let mut c = s.client();
        let valid = &tokens[&format!("{i}/valid")];
        let header = {
            use base64::Engine;
            let seg = valid.split('.').next().unwrap();
            let h: serde_json::Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(seg)
                    .unwrap(),
            )
            .unwrap();
            h
        };
        assert_eq!(
            header,
            json!({"alg": lib.alg, "typ": "JWT"}),
            "{}: no kid",
            lib.name
        );
        assert_eq!(
            code(verify(&mut c, valid)),
            "INVALID",
            "{}: before import",
            lib.name
        );
        // A module key of its own does not help either.
        let _ = sign(&mut c, &["someone"]);
        assert_eq!(
            code(verify(&mut c, valid)),
            "INVALID",
            "{}: no LEGACY key",
            lib.name
        );

        legacy_import(&mut c, lib);
        let claims = json(
            &verify(&mut c, valid)
                .unwrap_or_else(|e| panic!("{}: VERIFY after the LEGACY import: {e}", lib.name)),
        );
        assert_eq!(
            claims,
            payload(valid),
            "{}: the payload as signed",
            lib.name
        );
        let r: RedisResult<Value> = cmd("JWT.VERIFY").arg(valid).arg("WITHDATA").query(&mut c);
        match r.unwrap() {
            Value::Array(v) => assert_eq!(v[1], Value::Nil, "{}: no DATA", lib.name),
            v => panic!("{}: WITHDATA replied {v:?}", lib.name),
        }

        let expired = &tokens[&format!("{i}/expired")];
        assert_eq!(
            code(verify(&mut c, expired)),
            "EXPIRED",
            "{}: expired",
            lib.name
        );
        assert_eq!(
            code(verify(&mut c, &tamper(valid))),
            "INVALID",
            "{}: tampered",
            lib.name
        );
        let other = &tokens[&format!("{i}/other-secret")];
        assert_eq!(
            code(verify(&mut c, other)),
            "INVALID",
            "{}: other secret",
            lib.name
        );
        let other_alg = &tokens[&format!("{i}/other-alg")];
        assert_eq!(
            code(verify(&mut c, other_alg)),
            "INVALID",
            "{}: other alg",
            lib.name
        );

        // No session: TOUCH, DESTROY, UPDATE refuse; COUNT/SESSIONS know nothing of it.
        for (command, args) in [
            ("JWT.TOUCH", vec![]),
            ("JWT.DESTROY", vec![]),
            ("JWT.UPDATE", vec!["DATA", "1"]),
        ] {
            let r: RedisResult<Value> = cmd(command).arg(valid).arg(&args[..]).query(&mut c);
            assert!(
                error_text(r).starts_with("INVALID"),
                "{}: {command} of a LEGACY token",
                lib.name
            );
        }
        assert!(
            verify(&mut c, valid).is_ok(),
            "{}: still verifies",
            lib.name
        );

        let entry = key_entry(&mut c, lib.kid);
        assert_eq!(text(&entry["state"]), "legacy", "{}", lib.name);
        assert_eq!(text(&entry["alg"]), lib.alg, "{}", lib.name);
        assert_eq!(
            entry["weak"],
            Value::Int(lib.weak as i64),
            "{}: weak",
            lib.name
        );
        assert_eq!(info_field(&mut c, "keys_legacy"), "1", "{}", lib.name);
        assert_eq!(
            info_field(&mut c, "keys_weak"),
            (lib.weak as i64).to_string(),
            "{}",
            lib.name
        );

        // A new login is a module session under the generated key, never the LEGACY one.
        let t = sign(&mut c, &["42", "TTL", "1h"]);
        assert!(json(&verify(&mut c, &t).unwrap())["sid"].is_string());
        let kid = {
            use base64::Engine;
            let seg = t.split('.').next().unwrap();
            let h: serde_json::Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(seg)
                    .unwrap(),
            )
            .unwrap();
            h["kid"].as_str().unwrap().to_string()
        };
        assert_ne!(kid, lib.kid, "{}: LEGACY keys never sign", lib.name);

        // The window is over.
        let _: Value = cmd("JWT.KEY")
            .arg(&["REVOKE", lib.kid][..])
            .query(&mut c)
            .unwrap();
        assert_eq!(
            code(verify(&mut c, valid)),
            "INVALID",
            "{}: after KEY REVOKE",
            lib.name
        );
        assert!(
            verify(&mut c, &t).is_ok(),
            "{}: module sessions survive",
            lib.name
        );
        assert_eq!(info_field(&mut c, "keys_legacy"), "0", "{}", lib.name);
    }

    // All of them at once: LEGACY keys coexist, each token finds the key of its secret
    // and algorithm; revoking one leaves the others.
    let s = Server::start();
    let mut c = s.client();
    for lib in &libs {
        legacy_import(&mut c, lib);
    }
    for (i, lib) in libs.iter().enumerate() {
        assert!(
            verify(&mut c, &tokens[&format!("{i}/valid")]).is_ok(),
            "{}: with every LEGACY key imported",
            lib.name
        );
    }
    let _: Value = cmd("JWT.KEY")
        .arg(&["REVOKE", libs[0].kid][..])
        .query(&mut c)
        .unwrap();
    assert_eq!(code(verify(&mut c, &tokens["0/valid"])), "INVALID");
    for i in 1..libs.len() {
        assert!(
            verify(&mut c, &tokens[&format!("{i}/valid")]).is_ok(),
            "{}",
            libs[i].name
        );
    }
    // RETIRE keeps verifying (until the retention ends); CUTOFF refuses stateless tokens
    // issued before it.
    let _: () = cmd("JWT.KEY")
        .arg(&["RETIRE", libs[1].kid][..])
        .query(&mut c)
        .unwrap();
    assert!(
        verify(&mut c, &tokens["1/valid"]).is_ok(),
        "retired, still verifying"
    );
    match &key_entry(&mut c, libs[1].kid)["retires_at"] {
        Value::Int(ms) => assert!(*ms > now * 1000, "retires_at ahead"),
        v => panic!("retires_at {v:?}"),
    }
    sleep_ms(1100);
    let _: i64 = cmd("JWT.KEY").arg("CUTOFF").query(&mut c).unwrap();
    for i in 1..libs.len() {
        assert_eq!(
            code(verify(&mut c, &tokens[&format!("{i}/valid")])),
            "REVOKED",
            "{}: issued before the cutoff",
            libs[i].name
        );
    }
}

// ---- docs/migrating.md, run as written ---------------------------------------------

/// One `127.0.0.1:6379> ...` line of the doc and the reply lines under it.
struct Step {
    line: usize,
    command: String,
    expected: Vec<String>,
}

/// The redis-cli sessions of the page, grouped by `## ` section (each section runs on a
/// fresh server, its blocks in order).
fn doc_sections(text: &str) -> Vec<(String, Vec<Step>)> {
    let mut sections: Vec<(String, Vec<Step>)> = vec![("(top)".into(), vec![])];
    let mut in_block = false;
    let mut lang = String::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(rest) = line.trim_start().strip_prefix("```") {
            if in_block {
                in_block = false;
            } else {
                in_block = true;
                lang = rest.trim().to_string();
            }
            continue;
        }
        if !in_block {
            if let Some(title) = line.strip_prefix("## ") {
                sections.push((title.to_string(), vec![]));
            }
            continue;
        }
        if !lang.is_empty() {
            continue;
        }
        let steps = &mut sections.last_mut().unwrap().1;
        if let Some(c) = line.strip_prefix("127.0.0.1:6379> ") {
            steps.push(Step {
                line: n + 1,
                command: c.to_string(),
                expected: vec![],
            });
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(line.trim_end().to_string());
        }
    }
    sections.retain(|(_, steps)| !steps.is_empty());
    sections
}

/// Splits a redis-cli line into arguments (quotes as redis-cli takes them) and the
/// `# -> <a>, <b>` names its reply binds.
fn parse_command(line: &str) -> (Vec<String>, Vec<String>) {
    let mut args = vec![];
    let mut cur = String::new();
    let mut has = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let mut comment = String::new();
    while let Some(ch) = chars.next() {
        match quote {
            Some(q) => {
                if ch == q {
                    quote = None;
                } else if ch == '\\' && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else {
                    cur.push(ch);
                }
            }
            None => match ch {
                '\'' | '"' => {
                    quote = Some(ch);
                    has = true;
                }
                '#' if !has => {
                    comment = chars.collect();
                    break;
                }
                c if c.is_whitespace() => {
                    if has {
                        args.push(std::mem::take(&mut cur));
                        has = false;
                    }
                }
                c => {
                    cur.push(c);
                    has = true;
                }
            },
        }
    }
    if has {
        args.push(cur);
    }
    let binds = match comment.split_once("->") {
        Some((_, names)) => names
            .split(',')
            .filter_map(|n| {
                let n = n.trim();
                let start = n.find('<')?;
                let end = n[start..].find('>')? + start;
                Some(n[start..=end].to_string())
            })
            .collect(),
        None => vec![],
    };
    (args, binds)
}

fn repr(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// A reply as interactive redis-cli prints it.
fn render(v: &Value, prefix: &str) -> String {
    match v {
        Value::Nil => "(nil)\n".into(),
        Value::Int(i) => format!("(integer) {i}\n"),
        Value::Okay => "OK\n".into(),
        Value::SimpleString(s) => format!("{s}\n"),
        Value::BulkString(b) => format!("{}\n", repr(b)),
        Value::Array(items) if items.is_empty() => "(empty array)\n".into(),
        Value::Array(items) => {
            let width = items.len().to_string().len();
            let child = format!("{prefix}{}", " ".repeat(width + 2));
            let mut out = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(prefix);
                }
                out.push_str(&format!("{:>width$}) ", i + 1));
                out.push_str(&render(item, &child));
            }
            out
        }
        other => format!("{other:?}\n"),
    }
}

/// `...` in `pattern` stands for any text.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split("...").collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(at) => rest = &rest[at + mid.len()..],
            None => return false,
        }
    }
    true
}

/// What the old libraries left in Redis, as the doc's sessions find it.
fn seed_old_library_state(c: &mut Connection, tokens: &HashMap<String, String>) {
    let seeds: Vec<Vec<String>> = vec![
        // jwt-redis: the label of a live token.
        vec![
            "SET".into(),
            "jwt_label:Xq3vT9aB2c".into(),
            "true".into(),
            "EX".into(),
            "900".into(),
        ],
        // jsonwebtoken-redis: expiresKeyIn '48 hours'.
        vec![
            "SET".into(),
            format!("session:{JSONWEBTOKEN_REDIS_JTI}"),
            "true".into(),
            "EX".into(),
            "172800".into(),
        ],
        // npm redis-jwt: the session key, no prefix.
        vec![
            "SET".into(),
            "507f191e810c19729de860ea:ZYYlwOGqTmx".into(),
            r#"{"_key":"507f191e810c19729de860ea:ZYYlwOGqTmx"}"#.into(),
            "EX".into(),
            "900".into(),
        ],
        // rewt: the shared secret.
        vec![
            "SET".into(),
            "rewt:rewt-secret".into(),
            REWT_SECRET.into(),
            "EX".into(),
            "86400".into(),
        ],
        // The tutorial: the user's refresh token.
        vec![
            "SET".into(),
            "42".into(),
            tokens["<tutorial-refresh-token>"].clone(),
            "EX".into(),
            "604800".into(),
        ],
    ];
    for s in seeds {
        let _: () = cmd(&s[0]).arg(&s[1..]).query(c).expect("seed");
    }
}

#[test]
fn every_redis_cli_session_in_migrating_md_runs_as_shown() {
    use serde_json::json;
    let now = now_s();
    let tokens = npm_sign(&json!({
        "<jwt-redis-token>": {"payload": r#"{"sub":"42","jti":"Xq3vT9aB2c"}"#, "secret": "secret", "options": {"expiresIn": "15m"}},
        "<jwt-redis-token-expired>": {"payload": r#"{"sub":"42","jti":"Pq8rS2tU4v"}"#, "extra": {"iat": now - 3600, "exp": now - 60}, "secret": "secret"},
        "<jsonwebtoken-redis-token>": {"payload": r#"{"scope":"user","user":"1","expk":172800}"#, "secret": "shhhhhh", "options": {"jwtid": JSONWEBTOKEN_REDIS_JTI}},
        "<redis-jwt-token>": {"payload": r#"{"rjwt":"507f191e810c19729de860ea:ZYYlwOGqTmx"}"#, "secret": "secret_key"},
        "<rewt-token>": {"payload": r#"{"service":"billing"}"#, "secret": REWT_SECRET, "options": {}},
        "<tutorial-access-token>": {"payload": r#"{"id":42}"#, "secret": "jwtfanhere", "options": {"expiresIn": "15m"}},
        "<tutorial-refresh-token>": {"payload": r#"{"id":42}"#, "secret": "jwtfanhere-refresh", "options": {"expiresIn": "7d"}},
    }));
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/migrating.md");
    let text = std::fs::read_to_string(&path).expect("docs/migrating.md");
    let sections = doc_sections(&text);
    let steps: usize = sections.iter().map(|(_, s)| s.len()).sum();
    assert!(
        steps >= 40,
        "only {steps} redis-cli commands found in docs/migrating.md"
    );
    let mut failures = vec![];
    for (title, steps) in &sections {
        let s = Server::start();
        let mut c = s.client();
        seed_old_library_state(&mut c, &tokens);
        let mut names: HashMap<String, String> = tokens.clone();
        for step in steps {
            let (mut args, binds) = parse_command(&step.command);
            for a in args.iter_mut() {
                for (name, value) in &names {
                    if a.contains(name.as_str()) {
                        *a = a.replace(name.as_str(), value);
                    }
                }
                assert!(
                    !(a.starts_with('<') && a.ends_with('>')),
                    "docs/migrating.md:{}: unbound {a}",
                    step.line
                );
            }
            let reply: RedisResult<Value> = cmd(&args[0]).arg(&args[1..]).query(&mut c);
            let shown = match &reply {
                Ok(v) => render(v, ""),
                Err(e) => format!(
                    "(error) {} {}\n",
                    e.code().unwrap_or("?"),
                    e.detail().unwrap_or("")
                ),
            };
            let shown = shown
                .lines()
                .map(|l| l.trim_end())
                .collect::<Vec<_>>()
                .join("\n");
            let expected = step.expected.join("\n").trim_end().to_string();
            if !glob(&expected, &shown) {
                failures.push(format!(
                    "docs/migrating.md:{} ({title}): {}\n--- the page shows:\n{expected}\n--- the module replied:\n{shown}\n",
                    step.line, step.command
                ));
            }
            if !binds.is_empty() {
                let values: Vec<String> = match reply {
                    Ok(Value::BulkString(b)) => vec![String::from_utf8(b).unwrap()],
                    Ok(Value::Array(items)) => items
                        .into_iter()
                        .map(|v| match v {
                            Value::BulkString(b) => String::from_utf8(b).unwrap(),
                            v => panic!("docs/migrating.md:{}: cannot bind {v:?}", step.line),
                        })
                        .collect(),
                    other => panic!("docs/migrating.md:{}: cannot bind {other:?}", step.line),
                };
                assert_eq!(values.len(), binds.len(), "docs/migrating.md:{}", step.line);
                for (name, value) in binds.into_iter().zip(values) {
                    names.insert(name, value);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_doc_parser_reads_commands_and_bindings() {
    let (args, binds) = parse_command(
        r#"JWT.SIGN 42 CLAIMS '{"id":42}' TTL 7d   # a login -> <access>, <refresh>"#,
    );
    assert_eq!(
        args,
        ["JWT.SIGN", "42", "CLAIMS", r#"{"id":42}"#, "TTL", "7d"]
    );
    assert_eq!(binds, ["<access>", "<refresh>"]);
    let (args, binds) = parse_command("JWT.KEY IMPORT k HS256 'a b#c' LEGACY");
    assert_eq!(args, ["JWT.KEY", "IMPORT", "k", "HS256", "a b#c", "LEGACY"]);
    assert!(binds.is_empty());
    assert!(glob(
        "\"{\\\"sub\\\":...}\"",
        "\"{\\\"sub\\\":\\\"42\\\"}\""
    ));
    assert!(!glob("(integer) 1", "(integer) 12"));
    let nested = Value::Array(vec![Value::Array((1..=10).map(Value::Int).collect())]);
    assert!(render(&nested, "").starts_with("1)  1) (integer) 1\n    2) (integer) 2\n"));
    assert!(render(&nested, "").ends_with("\n   10) (integer) 10\n"));
}

/// docs/migrating.md "What an old token can and cannot do here": a token verified
/// through a LEGACY key has no session, so it is not counted, listed or ended by the
/// user commands (which see the module's sessions only); `JWT.KEY CUTOFF` refuses it
/// (REVOKED) when it was issued before the cutoff, or carries no `iat` at all.
#[test]
fn legacy_tokens_are_outside_the_user_commands_until_a_cutoff() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    let s = Server::start();
    let mut c = s.client();
    let secret = "the-old-apps-secret";
    let _: String = cmd("JWT.KEY")
        .arg(&["IMPORT", "old", "HS256", secret, "LEGACY"][..])
        .query(&mut c)
        .unwrap();
    let session = sign(&mut c, &["alice"]);
    let old = |claims: serde_json::Value| {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let now = now_s();
    let with_iat = old(serde_json::json!({"sub": "alice", "iat": now - 10, "exp": now + 3600}));
    let without_iat = old(serde_json::json!({"sub": "alice", "exp": now + 3600}));
    for t in [&with_iat, &without_iat] {
        assert!(verify(&mut c, t).is_ok());
    }
    assert_eq!(
        cmd("JWT.COUNT").arg("alice").query::<i64>(&mut c).unwrap(),
        1
    );
    let listed: Vec<Value> = cmd("JWT.SESSIONS").arg("alice").query(&mut c).unwrap();
    assert_eq!(listed.len(), 1, "only the module's session");
    assert_eq!(
        cmd("JWT.REVOKE").arg("alice").query::<i64>(&mut c).unwrap(),
        1
    );
    assert_eq!(code(verify(&mut c, &session)), "REVOKED");
    assert!(
        verify(&mut c, &with_iat).is_ok(),
        "REVOKE <sub> does not end it"
    );
    sleep_ms(1100); // iat has a resolution of one second
    let _: i64 = cmd("JWT.KEY").arg("CUTOFF").query(&mut c).unwrap();
    assert_eq!(code(verify(&mut c, &with_iat)), "REVOKED");
    assert_eq!(code(verify(&mut c, &without_iat)), "REVOKED");
}

//! Module configs: redis.conf / loadmodule arguments, CONFIG GET/SET, validation.
mod common;
use common::*;

fn config_get(c: &mut Connection, name: &str) -> String {
    let v: Vec<String> = cmd("CONFIG").arg("GET").arg(name).query(c).unwrap();
    v.get(1).cloned().unwrap_or_default()
}

#[test]
fn defaults() {
    let s = Server::start();
    let mut c = s.client();
    for (name, want) in [
        ("jwt.prefix", "jwt:"),
        ("jwt.session-ttl", "1 day"),
        ("jwt.access-ttl", "15 minutes"),
        ("jwt.refresh-grace", "10 seconds"),
        ("jwt.leeway", "0"),
        ("jwt.issuer", ""),
        ("jwt.audience", ""),
        ("jwt.max-sessions", "0"),
        ("jwt.max-sessions-policy", "evict-oldest"),
        ("jwt.key-rotation", "0"),
        ("jwt.max-token-bytes", "8192"),
    ] {
        assert_eq!(config_get(&mut c, name), want, "{name}");
    }
    let t = sign(&mut c, &["alice"]);
    let ttl: i64 = cmd("PTTL")
        .arg(format!(
            "jwt:{{alice}}:{}",
            payload(&t)["sid"].as_str().unwrap()
        ))
        .query(&mut c)
        .unwrap();
    assert!(
        ttl > 86_390_000 && ttl <= 86_400_000,
        "default session-ttl is one day: {ttl}"
    );
}

#[test]
fn loadmodule_arguments_with_and_without_prefix() {
    let s = Server::start_with(
        &[],
        &[
            "prefix",
            "app:",
            "jwt.session-ttl",
            "1h",
            "issuer",
            "auth",
            "jwt.audience",
            "web",
        ],
    );
    let mut c = s.client();
    assert_eq!(config_get(&mut c, "jwt.prefix"), "app:");
    assert_eq!(config_get(&mut c, "jwt.session-ttl"), "1h");
    let t = sign(&mut c, &["alice", "SID", "s"]);
    let p = payload(&t);
    assert_eq!(p["iss"], "auth");
    assert_eq!(p["aud"], "web");
    let ttl: i64 = cmd("PTTL").arg("app:{alice}:s").query(&mut c).unwrap();
    assert!(ttl > 3_590_000 && ttl <= 3_600_000, "{ttl}");
    assert!(verify(&mut c, &t).is_ok());
    // Verification expects the configured issuer/audience.
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.audience")
        .arg("mobile")
        .query(&mut c)
        .unwrap();
    assert_eq!(code(verify(&mut c, &t)), "INVALID");
    assert!(cmd("JWT.VERIFY")
        .arg(&t)
        .arg("AUD")
        .arg("web")
        .query::<String>(&mut c)
        .is_ok());
}

#[test]
fn invalid_loadmodule_arguments_refuse_to_load() {
    for args in [
        vec!["session-ttl", "forever"],
        vec!["nope", "1"],
        vec!["prefix"],
        vec!["max-token-bytes", "10"],
    ] {
        let dir = std::env::temp_dir().join(format!("redis-jwt-badargs-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let mut line = vec![module_path().display().to_string()];
        line.extend(args.iter().map(|s| s.to_string()));
        let mut child = std::process::Command::new(server_binary())
            .args([
                "--port",
                "0",
                "--dir",
                dir.to_str().unwrap(),
                "--save",
                "",
                "--loadmodule",
            ])
            .args(&line)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("run redis-server");
        let mut status = None;
        for _ in 0..250 {
            if let Some(s) = child.try_wait().unwrap() {
                status = Some(s);
                break;
            }
            sleep_ms(20);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            matches!(status, Some(s) if !s.success()),
            "{args:?} must refuse to load"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn config_set_validates() {
    let s = Server::start();
    let mut c = s.client();
    for (name, bad) in [
        ("jwt.session-ttl", "soon"),
        ("jwt.session-ttl", "0"),
        ("jwt.access-ttl", "-1m"),
        ("jwt.leeway", "x"),
        ("jwt.refresh-grace", "1 fortnight"),
        ("jwt.key-rotation", "often"),
        ("jwt.prefix", ""),
        ("jwt.prefix", "a{b}"),
        ("jwt.max-sessions-policy", "lru"),
        ("jwt.max-sessions", "-1"),
        ("jwt.max-token-bytes", "1"),
        ("jwt.max-token-bytes", "lots"),
    ] {
        let before = config_get(&mut c, name);
        assert!(
            cmd("CONFIG")
                .arg("SET")
                .arg(name)
                .arg(bad)
                .query::<()>(&mut c)
                .is_err(),
            "{name}={bad}"
        );
        assert_eq!(config_get(&mut c, name), before, "{name} unchanged");
    }
    for (name, good) in [
        ("jwt.session-ttl", "2.5 hrs"),
        ("jwt.leeway", "30s"),
        ("jwt.key-rotation", "7d"),
        ("jwt.max-sessions-policy", "deny"),
        ("jwt.max-sessions", "3"),
        ("jwt.max-token-bytes", "4096"),
        ("jwt.prefix", "sess:"),
    ] {
        let _: () = cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(good)
            .query(&mut c)
            .unwrap();
        assert_eq!(config_get(&mut c, name), good);
    }
}

#[test]
fn max_token_bytes_applies() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(
        &mut c,
        &[
            "alice",
            "CLAIMS",
            &format!(r#"{{"pad":"{}"}}"#, "x".repeat(600)),
        ],
    );
    assert!(verify(&mut c, &t).is_ok());
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("jwt.max-token-bytes")
        .arg("512")
        .query(&mut c)
        .unwrap();
    assert!(error_text(verify(&mut c, &t)).contains("max-token-bytes"));
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

/// A monitoring agent polls `CONFIG GET *` forever: reading (and setting) the module's
/// configs must not leak. 20,000 reads of all of them leaked 5.7 MB before the fix.
#[test]
fn polling_the_configs_does_not_leak() {
    let s = Server::start();
    let mut c = s.client();
    let poll = |c: &mut Connection, n: usize| {
        for chunk in 0..n / 500 {
            let mut pipe = redis::pipe();
            for i in 0..500 {
                pipe.cmd("CONFIG").arg("GET").arg("jwt.*").ignore();
                if i % 5 == 0 {
                    let ttl = format!("{} minutes", 60 + (chunk * 500 + i) % 7);
                    pipe.cmd("CONFIG")
                        .arg("SET")
                        .arg("jwt.session-ttl")
                        .arg(ttl)
                        .ignore();
                }
            }
            let _: () = pipe.query(c).unwrap();
        }
    };
    poll(&mut c, 2000); // warm-up: allocator caches, the kept strings
    let before = used_memory(&mut c);
    poll(&mut c, 20_000);
    let after = used_memory(&mut c);
    assert!(
        after - before < 200_000,
        "used_memory grew by {} bytes over 20,000 CONFIG GET jwt.*",
        after - before
    );
    let got: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("jwt.prefix")
        .query(&mut c)
        .unwrap();
    assert_eq!(got, ["jwt.prefix", "jwt:"]);
}

/// A refused CONFIG SET echoes the value: a NUL byte in it aborted redis-server (the
/// message became a C string inside a callback no panic may leave).
#[test]
fn config_set_with_a_nul_byte_is_refused_not_fatal() {
    let s = Server::start();
    let mut c = s.client();
    for name in ["jwt.session-ttl", "jwt.prefix", "jwt.issuer"] {
        let r: RedisResult<()> = cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(&b"1\0x"[..])
            .query(&mut c);
        assert!(r.is_err(), "{name}");
    }
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

/// docs/commands.md, Configuration: the loadmodule line is applied after redis.conf's
/// `jwt.*` lines (given here on the command line, as redis.conf lines are), so it wins.
#[test]
fn the_loadmodule_line_wins_over_config_lines() {
    let s = Server::start_with(
        &["--jwt.stateless", "deny", "--jwt.leeway", "5"],
        &["stateless", "allow"],
    );
    let mut c = s.client();
    assert_eq!(config_get(&mut c, "jwt.stateless"), "allow");
    assert_eq!(config_get(&mut c, "jwt.leeway"), "5");
}

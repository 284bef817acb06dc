//! Expensive signatures on worker threads (`jwt.crypto-threads`): every command that signs
//! or verifies with RSA, ECDSA or EdDSA gives the same answers with workers, without
//! them, and where its client may not block (MULTI, Lua); the effects replicate; and a
//! client that leaves while it waits harms nothing.
mod common;
use common::*;
use std::io::Write;

const RSA_PEM: &str = include_str!("fixtures/rsa2048.pem");

/// Makes `alg` the active key (RS256 imported from the fixture).
fn activate(c: &mut Connection, alg: &str) {
    let kid: String = if alg == "RS256" {
        let _: Value = cmd("JWT.KEY")
            .arg("IMPORT")
            .arg("rsa")
            .arg("RS256")
            .arg(RSA_PEM)
            .query(c)
            .unwrap();
        "rsa".into()
    } else {
        cmd("JWT.KEY").arg("GENERATE").arg(alg).query(c).unwrap()
    };
    let _: () = cmd("JWT.KEY").arg("ACTIVATE").arg(&kid).query(c).unwrap();
}

fn jobs(c: &mut Connection) -> i64 {
    info_field(c, "crypto_jobs").parse().unwrap()
}

/// Every token command with an expensive key, as a client sees it.
fn exercise(c: &mut Connection, alg: &str, workers: bool) {
    let pair: Vec<String> = cmd("JWT.SIGN")
        .arg("alice")
        .arg("REFRESH")
        .arg("DATA")
        .arg(r#"{"n":1}"#)
        .query(c)
        .unwrap();
    let (access, refresh) = (&pair[0], &pair[1]);
    assert!(payload(access)["sub"] == "alice", "{alg}");
    // Miss, miss (admitted to the cache), hit: the same payload each time.
    for _ in 0..3 {
        assert_eq!(json(&verify(c, access).unwrap())["sub"], "alice", "{alg}");
    }
    let with: (String, String) = cmd("JWT.VERIFY")
        .arg(access)
        .arg("WITHDATA")
        .query(c)
        .unwrap();
    assert_eq!(with.1, r#"{"n":1}"#);
    let wrong_aud = cmd("JWT.VERIFY")
        .arg(access)
        .arg("AUD")
        .arg("x")
        .query::<String>(c);
    assert_eq!(code(wrong_aud), "INVALID", "{alg}");
    let mut tampered = access.clone();
    tampered.insert(
        tampered.len() - 2,
        if tampered.ends_with("AA") { 'B' } else { 'A' },
    );
    assert_eq!(code(verify(c, &tampered)), "INVALID", "{alg}");
    let touched: String = cmd("JWT.TOUCH").arg(access).query(c).unwrap();
    assert_eq!(json(&touched)["sub"], "alice");
    let next: Vec<String> = cmd("JWT.REFRESH")
        .arg(refresh)
        .arg("WITHPAYLOAD")
        .query(c)
        .unwrap();
    assert_eq!(json(&next[2])["sub"], "alice");
    assert_eq!(json(&verify(c, &next[0]).unwrap()), json(&next[2]), "{alg}");
    let stateless: String = cmd("JWT.SIGN")
        .arg("svc")
        .arg("STATELESS")
        .query(c)
        .unwrap();
    assert_eq!(json(&verify(c, &stateless).unwrap())["sub"], "svc");
    let ended: i64 = cmd("JWT.DESTROY").arg(&next[0]).query(c).unwrap();
    assert_eq!(ended, 1, "{alg}");
    assert_eq!(code(verify(c, &next[0])), "REVOKED", "{alg}");
    // A second session's token, verified where its client may not block: inline.
    let t = sign(c, &["bob"]);
    let before = jobs(c);
    let (v, s): (String, String) = redis::pipe()
        .atomic()
        .cmd("JWT.VERIFY")
        .arg(&t)
        .cmd("JWT.SIGN")
        .arg("carol")
        .query(c)
        .unwrap();
    assert_eq!(json(&v)["sub"], "bob", "{alg}");
    assert!(verify(c, &s).is_ok());
    let t = sign(c, &["dave"]);
    let v: String = cmd("EVAL")
        .arg("return redis.call('JWT.VERIFY', ARGV[1])")
        .arg(0)
        .arg(&t)
        .query(c)
        .unwrap();
    assert_eq!(json(&v)["sub"], "dave", "{alg}");
    let signed: String = cmd("EVAL")
        .arg("return redis.call('JWT.SIGN', 'erin')")
        .arg(0)
        .query(c)
        .unwrap();
    // Of those, only the VERIFY of carol's token and the SIGN of dave (outside MULTI
    // and the scripts) left the main thread.
    assert_eq!(jobs(c), before + if workers { 2 } else { 0 }, "{alg}");
    assert!(verify(c, &signed).is_ok());
    // UPDATE signs its new token on a worker too (it authenticates inline).
    let before = jobs(c);
    let updated: String = cmd("JWT.UPDATE")
        .arg(&signed)
        .arg("CLAIMS")
        .arg(r#"{"role":"x"}"#)
        .query(c)
        .unwrap();
    assert_eq!(jobs(c), before + i64::from(workers), "{alg}");
    assert_eq!(payload(&updated)["role"], "x");
    assert!(verify(c, &updated).is_ok());
}

#[test]
fn expensive_algorithms_answer_the_same_with_workers_and_without() {
    for threads in ["2", "0"] {
        for alg in ["ES256", "EdDSA", "RS256"] {
            let s = Server::start_with(&[], &["crypto-threads", threads]);
            let mut c = s.client();
            activate(&mut c, alg);
            let before = jobs(&mut c);
            exercise(&mut c, alg, threads != "0");
            let offloaded = jobs(&mut c) - before;
            let running = info_field(&mut c, "crypto_threads");
            if threads == "0" {
                assert_eq!(offloaded, 0, "{alg}: nothing goes to a worker");
                assert_eq!(running, "0");
            } else {
                // SIGN x2, VERIFY x2 misses, the tampered one, TOUCH (a hit: none),
                // REFRESH, STATELESS sign + verify, DESTROY (a hit: none), bob, dave,
                // and nothing inside MULTI or the scripts.
                assert!(offloaded >= 8, "{alg}: {offloaded} jobs");
                assert_eq!(running, "2");
            }
            assert!(!s.log().contains("panic"), "{}", s.log());
        }
    }
}

/// (thread name, nice value) of every thread of process `pid`.
fn nice_values(pid: &str) -> Vec<(String, i64)> {
    let mut nice = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap();
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        // Fields after the parenthesised name: state is 3rd, nice the 19th.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let n: i64 = after.split(' ').nth(16).unwrap().parse().unwrap();
        nice.push((comm.trim().to_string(), n));
    }
    nice
}

#[test]
fn workers_run_below_the_main_thread() {
    let s = Server::start();
    let mut c = s.client();
    activate(&mut c, "ES256");
    sign(&mut c, &["alice"]);
    let info: String = cmd("INFO").arg("server").query(&mut c).unwrap();
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .unwrap()
        .trim()
        .to_string();
    // A thread names itself as it starts: give both a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let nice = loop {
        let nice = nice_values(&pid);
        let started = nice.iter().filter(|(c, _)| c == "jwt-crypto").count();
        if started == 2 || std::time::Instant::now() > deadline {
            break nice;
        }
        sleep_ms(20);
    };
    let workers: Vec<i64> = nice
        .iter()
        .filter(|(c, _)| c == "jwt-crypto")
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(workers, vec![5, 5], "{nice:?}");
    let main = nice
        .iter()
        .find(|(c, _)| c.starts_with("redis-server") || c.starts_with("valkey"))
        .unwrap();
    assert_eq!(main.1, 0, "{nice:?}");
}

#[test]
fn hmac_keys_never_use_the_workers() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["alice"]);
    verify(&mut c, &t).unwrap();
    assert_eq!(jobs(&mut c), 0);
    assert_eq!(info_field(&mut c, "crypto_threads"), "0");
}

#[test]
fn what_follows_a_workers_check_or_signature_replicates_and_persists() {
    let (primary, mut replica) = Server::primary_and_replica();
    let mut p = primary.client();
    activate(&mut p, "ES256");
    let before = jobs(&mut p);
    let tokens: Vec<String> = (0..20).map(|i| sign(&mut p, &[&format!("u{i}")])).collect();
    assert_eq!(jobs(&mut p) - before, 20);
    // TOUCH and DESTROY write in the callback after a worker checked the token (cache
    // off: every check is a worker's); their writes replicate like any command's.
    let _: () = cmd("CONFIG")
        .arg(&["SET", "jwt.verify-cache", "0"][..])
        .query(&mut p)
        .unwrap();
    sleep_ms(1100); // past TOUCH's one-second granularity: each TOUCH writes
    let before = jobs(&mut p);
    for t in &tokens[..5] {
        let _: Value = cmd("JWT.TOUCH").arg(t).query(&mut p).unwrap();
    }
    for t in &tokens[5..10] {
        let n: i64 = cmd("JWT.DESTROY").arg(t).query(&mut p).unwrap();
        assert_eq!(n, 1);
    }
    assert_eq!(jobs(&mut p) - before, 10);
    let _: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    let mut r = replica.client();
    for t in &tokens[..5] {
        assert!(verify(&mut r, t).is_ok());
    }
    for t in &tokens[5..10] {
        assert_eq!(code(verify(&mut r, t)), "REVOKED");
    }
    let digest = |c: &mut Connection| -> String { cmd("DEBUG").arg("DIGEST").query(c).unwrap() };
    assert_eq!(digest(&mut p), digest(&mut r));
    let tokens: Vec<String> = [&tokens[..5], &tokens[10..]].concat();
    drop(r);
    replica.restart(true);
    let mut r = replica.client();
    let _: () = cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut r).unwrap();
    for t in &tokens {
        assert!(verify(&mut r, t).is_ok(), "after a restart from RDB");
    }
}

#[test]
fn clients_that_leave_while_they_wait_harm_nothing() {
    let s = Server::start();
    let mut c = s.client();
    activate(&mut c, "RS256");
    let token = sign(&mut c, &["alice"]);
    for round in 0..20 {
        let mut raw = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        let mut batch = String::new();
        for i in 0..20 {
            let user = format!("u{round}-{i}");
            batch.push_str(&format!(
                "*2\r\n$8\r\nJWT.SIGN\r\n${}\r\n{user}\r\n*2\r\n$10\r\nJWT.VERIFY\r\n${}\r\n{token}\r\n",
                user.len(),
                token.len()
            ));
        }
        raw.write_all(batch.as_bytes()).unwrap();
        drop(raw); // gone before most replies exist
    }
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    assert!(verify(&mut c, &token).is_ok());
    assert!(!s.log().contains("panic"), "{}", s.log());
}

#[test]
fn the_thread_count_is_a_config() {
    let s = Server::start();
    let mut c = s.client();
    activate(&mut c, "EdDSA");
    let get = |c: &mut Connection| -> Vec<String> {
        cmd("CONFIG")
            .arg("GET")
            .arg("jwt.crypto-threads")
            .query(c)
            .unwrap()
    };
    assert_eq!(get(&mut c)[1], "2");
    for (value, ok) in [
        ("0", true),
        ("4", true),
        ("64", true),
        ("65", false),
        ("-1", false),
    ] {
        let r: RedisResult<()> = cmd("CONFIG")
            .arg("SET")
            .arg("jwt.crypto-threads")
            .arg(value)
            .query(&mut c);
        assert_eq!(r.is_ok(), ok, "{value}: {r:?}");
    }
    for threads in ["4", "1", "0"] {
        let _: () = cmd("CONFIG")
            .arg("SET")
            .arg("jwt.crypto-threads")
            .arg(threads)
            .query(&mut c)
            .unwrap();
        let before = jobs(&mut c);
        let t = sign(&mut c, &["alice"]);
        assert!(verify(&mut c, &t).is_ok());
        let expected = if threads == "0" { 0 } else { 2 };
        assert_eq!(jobs(&mut c) - before, expected, "{threads} threads");
    }
}

/// A key revoked while a worker checks a token's signature wins: the reply is INVALID,
/// not a verification against a key that is gone.
#[test]
fn a_revocation_during_the_check_wins() {
    use std::io::{BufRead, BufReader};
    let s = Server::start_with(&[], &["crypto-threads", "1"]);
    let mut c = s.client();
    activate(&mut c, "RS256");
    activate(&mut c, "ES256");
    let es_kid = info_field(&mut c, "active_kid");
    let token = sign(&mut c, &["alice"]);
    let base = jobs(&mut c);
    let dispatched = |c: &mut Connection, n: i64| {
        for _ in 0..500 {
            if jobs(c) >= base + n {
                return;
            }
            sleep_ms(1);
        }
        panic!("{n} jobs were not dispatched");
    };
    // Keep the one worker busy with RSA signatures (about 0.6 ms each), one per
    // connection so that their jobs are all queued at once.
    let sign_rsa = |i: usize| {
        let user = format!("u{i}");
        format!(
            "*4\r\n$8\r\nJWT.SIGN\r\n${}\r\n{user}\r\n$3\r\nKEY\r\n$3\r\nrsa\r\n",
            user.len()
        )
    };
    let _busy: Vec<_> = (0..40)
        .map(|i| {
            let mut f = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            f.write_all(sign_rsa(i).as_bytes()).unwrap();
            f
        })
        .collect();
    dispatched(&mut c, 40);
    // The VERIFY's job waits behind them; the REVOKE runs on the main thread meanwhile.
    let mut v = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    v.write_all(format!("*2\r\n$10\r\nJWT.VERIFY\r\n${}\r\n{token}\r\n", token.len()).as_bytes())
        .unwrap();
    dispatched(&mut c, 41);
    let _: Value = cmd("JWT.KEY")
        .arg("REVOKE")
        .arg(&es_kid)
        .query(&mut c)
        .unwrap();
    let mut reply = String::new();
    BufReader::new(v).read_line(&mut reply).unwrap();
    assert!(reply.starts_with("-INVALID"), "{reply}");
    assert_eq!(code(verify(&mut c, &token)), "INVALID");
}

//! The seams: DEBUG RELOAD, restart from RDB, AOF replay, replica sync.
mod common;
use common::*;

fn wait_replica(c: &mut Connection) {
    let n: i64 = cmd("WAIT").arg(1).arg(5000).query(c).unwrap();
    assert_eq!(n, 1, "replica acknowledged");
}

/// BGREWRITEAOF, and waits until it is done.
fn rewrite_aof(c: &mut Connection) {
    let _: String = cmd("BGREWRITEAOF").query(c).unwrap();
    for _ in 0..200 {
        let info: String = cmd("INFO").arg("persistence").query(c).unwrap();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            break;
        }
        sleep_ms(25);
    }
}

fn digest(c: &mut Connection) -> String {
    cmd("DEBUG").arg("DIGEST").query(c).unwrap()
}

#[test]
fn sessions_and_key_survive_debug_reload() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["alice", "DATA", r#"{"x":1}"#]);
    let kid = info_field(&mut c, "active_kid");
    let _: String = cmd("DEBUG").arg("RELOAD").query(&mut c).unwrap();
    assert_eq!(info_field(&mut c, "active_kid"), kid);
    let (p, d): (String, String) = cmd("JWT.VERIFY")
        .arg(&t)
        .arg("WITHDATA")
        .query(&mut c)
        .unwrap();
    assert_eq!(json(&p)["sub"], "alice");
    assert_eq!(d, r#"{"x":1}"#);
    // and the same key keeps signing
    let t2 = sign(&mut c, &["alice"]);
    assert!(verify(&mut c, &t2).is_ok());
    assert_eq!(info_field(&mut c, "keys"), "1");
}

#[test]
fn sessions_and_key_survive_restart_from_rdb() {
    let mut s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["bob", "TTL", "1h"]);
    let kid = info_field(&mut c, "active_kid");
    s.restart(true);
    let mut c = s.client();
    assert_eq!(info_field(&mut c, "active_kid"), kid);
    assert_eq!(json(&verify(&mut c, &t).unwrap())["sub"], "bob");
    let n: i64 = cmd("JWT.DESTROY").arg(&t).query(&mut c).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn keyring_is_not_a_regular_key() {
    let s = Server::start();
    let mut c = s.client();
    let t = sign(&mut c, &["carol"]);
    let _: () = cmd("FLUSHALL").query(&mut c).unwrap();
    assert_eq!(
        info_field(&mut c, "keys"),
        "1",
        "FLUSHALL cannot destroy the keyring"
    );
    assert_eq!(
        code(verify(&mut c, &t)),
        "REVOKED",
        "but the session is gone"
    );
    let t2 = sign(&mut c, &["carol"]);
    assert!(verify(&mut c, &t2).is_ok());
    let keys: Vec<String> = cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert_eq!(keys.len(), 2, "only a session and its index: {keys:?}");
}

#[test]
fn aof_holds_only_deterministic_effects_and_replays() {
    let mut s = Server::start_with(
        &["--appendonly", "yes", "--aof-use-rdb-preamble", "yes"],
        &[],
    );
    let mut c = s.client();
    let t = sign(&mut c, &["dave", "TTL", "1h", "DATA", "[1]"]);
    let t2 = sign(&mut c, &["dave"]);
    let _: String = cmd("JWT.TOUCH")
        .arg(&t)
        .arg("TTL")
        .arg("2h")
        .query(&mut c)
        .unwrap();
    let _: i64 = cmd("JWT.DESTROY").arg(&t2).query(&mut c).unwrap();
    let before = digest(&mut c);
    let mut aof = String::new();
    for entry in std::fs::read_dir(s.dir.join("appendonlydir")).unwrap() {
        let p = entry.unwrap().path();
        if p.to_string_lossy().ends_with(".incr.aof") {
            aof.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        }
    }
    let upper = aof.to_uppercase();
    assert!(
        !upper.contains("JWT.SIGN")
            && !upper.contains("JWT.TOUCH")
            && !upper.contains("JWT.DESTROY"),
        "{aof}"
    );
    assert!(
        upper.contains("PEXPIREAT") && upper.contains("HSET") && upper.contains("ZADD"),
        "{aof}"
    );
    assert!(
        upper.contains("JWT.KEY") && upper.contains("SYNC"),
        "the generated key travels as data: {aof}"
    );
    assert!(
        !upper.contains("\r\nEXPIRE\r\n") && !upper.contains("PEXPIRE\r\n"),
        "only absolute expiries"
    );
    // Replay the AOF from scratch: same data, same key.
    s.restart(false);
    let mut c = s.client();
    assert_eq!(digest(&mut c), before);
    assert!(verify(&mut c, &t).is_ok());
    assert_eq!(code(verify(&mut c, &t2)), "REVOKED");
    // Rewrite (RDB preamble carries the keyring), then replay again.
    rewrite_aof(&mut c);
    sleep_ms(100);
    s.restart(false);
    let mut c = s.client();
    assert!(verify(&mut c, &t).is_ok());
    assert_eq!(digest(&mut c), before);
}

#[test]
fn replica_verifies_and_sees_destroy() {
    let primary = Server::start();
    let replica = Server::start();
    let mut p = primary.client();
    // A key and a session exist before the replica attaches (full sync carries both) ...
    let before = sign(&mut p, &["erin"]);
    replica.replicate_from(&primary);
    let mut r = replica.client();
    // ... and after it (the stream carries both).
    let after = sign(&mut p, &["erin", "DATA", r#"{"d":2}"#]);
    wait_replica(&mut p);
    assert!(verify(&mut r, &before).is_ok());
    let (_, d): (String, String) = cmd("JWT.VERIFY")
        .arg(&after)
        .arg("WITHDATA")
        .query(&mut r)
        .unwrap();
    assert_eq!(d, r#"{"d":2}"#);
    assert_eq!(
        digest(&mut p),
        digest(&mut r),
        "byte-identical state, TTLs included"
    );
    assert_eq!(
        info_field(&mut p, "active_kid"),
        info_field(&mut r, "active_kid")
    );
    // Writes are refused on the replica.
    assert!(cmd("JWT.TOUCH")
        .arg(&after)
        .query::<String>(&mut r)
        .is_err());
    let _: String = cmd("JWT.TOUCH")
        .arg(&after)
        .arg("TTL")
        .arg("3h")
        .query(&mut p)
        .unwrap();
    let n: i64 = cmd("JWT.DESTROY").arg(&before).query(&mut p).unwrap();
    assert_eq!(n, 1);
    wait_replica(&mut p);
    assert_eq!(code(verify(&mut r, &before)), "REVOKED");
    assert!(verify(&mut r, &after).is_ok());
    assert_eq!(digest(&mut p), digest(&mut r));
}

#[test]
fn replica_full_sync_replaces_its_keyring() {
    let primary = Server::start();
    let replica = Server::start();
    let mut p = primary.client();
    let mut r = replica.client();
    let own = sign(&mut r, &["frank"]);
    let t = sign(&mut p, &["frank"]);
    assert_ne!(
        info_field(&mut p, "active_kid"),
        info_field(&mut r, "active_kid")
    );
    replica.replicate_from(&primary);
    assert_eq!(
        info_field(&mut p, "active_kid"),
        info_field(&mut r, "active_kid")
    );
    assert!(verify(&mut r, &t).is_ok());
    assert_eq!(
        code(verify(&mut r, &own)),
        "INVALID",
        "the replica's old key is gone"
    );
}

/// docs/operations.md: a server without the module refuses files that hold the keyring
/// (an RDB, an AOF with its RDB preamble, an AOF of commands with `JWT.KEY SYNC`)
/// instead of starting without keys. It must exit, not serve.
#[test]
fn a_server_without_the_module_refuses_its_files() {
    let mut s = Server::start_with(&["--appendonly", "yes"], &[]);
    let mut c = s.client();
    sign(&mut c, &["alice"]);
    let _: String = cmd("SAVE").query(&mut c).unwrap();
    rewrite_aof(&mut c);
    sign(&mut c, &["bob"]); // and an incr file after the preamble
    sleep_ms(100);
    s.crash();
    let commands_aof = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v0.1");
    for (what, dir, aof) in [
        ("RDB", s.dir.clone(), "no"),
        ("AOF with RDB preamble", s.dir.clone(), "yes"),
        ("AOF of commands", commands_aof, "yes"),
    ] {
        let work =
            std::env::temp_dir().join(format!("redis-jwt-nomodule-{}-{aof}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(work.join("appendonlydir")).unwrap();
        for sub in ["", "appendonlydir"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap().flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.ends_with(".rdb") || name.contains(".aof") {
                    std::fs::copy(entry.path(), work.join(sub).join(&*name)).unwrap();
                }
            }
        }
        let mut child = std::process::Command::new(server_binary())
            .args([
                "--port",
                &free_port().to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", aof, "--dir", &work.display().to_string()])
            .stdout(std::fs::File::create(work.join("log")).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut exited = None;
        for _ in 0..200 {
            if let Some(status) = child.try_wait().unwrap() {
                exited = Some(status);
                break;
            }
            sleep_ms(25);
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(work.join("log")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&work);
        let status = exited.unwrap_or_else(|| panic!("{what}: started without the module"));
        assert!(!status.success(), "{what}: {status}");
        // Refused for the module's data, not for anything else.
        let why = log.to_lowercase();
        assert!(
            why.contains("module") || why.contains("unknown command"),
            "{what}: {log}"
        );
    }
}

/// docs/operations.md: every key EXPORTed, then IMPORTed (and the active one ACTIVATEd)
/// into an empty server, verifies the old tokens there: generated HMAC secrets (random
/// bytes, exported as `base64:`), ES256, EdDSA.
#[test]
fn exported_keys_imported_into_an_empty_server_verify_the_old_tokens() {
    let old = Server::start();
    let mut c = old.client();
    let mut tokens = Vec::new();
    for alg in ["HS256", "ES256", "EdDSA", "HS512"] {
        let _: String = cmd("JWT.KEY")
            .arg(&["ROTATE", alg][..])
            .query(&mut c)
            .unwrap();
        tokens.push(sign(&mut c, &["alice", "STATELESS"]));
    }
    let active = info_field(&mut c, "active_kid");
    let list: Vec<Vec<Value>> = cmd("JWT.KEY").arg("LIST").query(&mut c).unwrap();
    let kids: Vec<String> = list
        .iter()
        .map(|r| redis::from_redis_value(&r[1]).unwrap())
        .collect();
    let new = Server::start();
    let mut n = new.client();
    for kid in &kids {
        let (kid, alg, material): (String, String, String) = cmd("JWT.KEY")
            .arg(&["EXPORT", kid][..])
            .query(&mut c)
            .unwrap();
        let _: String = cmd("JWT.KEY")
            .arg(&["IMPORT", &kid, &alg, &material][..])
            .query(&mut n)
            .unwrap();
    }
    let _: String = cmd("JWT.KEY")
        .arg(&["ACTIVATE", &active][..])
        .query(&mut n)
        .unwrap();
    for t in &tokens {
        assert!(verify(&mut n, t).is_ok(), "{t}");
    }
    assert_eq!(info_field(&mut n, "active_kid"), active);
}

/// docs/operations.md, Restore: the backup RDB into `dir`, start once with
/// `appendonly no`, then `CONFIG SET appendonly yes` (a new AOF from the loaded data),
/// then restart with AOF on: the keyring and the sessions come back, with the RDB
/// preamble and without it.
#[test]
fn the_restore_recipe_keeps_the_keyring() {
    for preamble in ["yes", "no"] {
        let mut s = Server::start_with(&["--aof-use-rdb-preamble", preamble], &[]);
        let mut c = s.client();
        let t = sign(&mut c, &["alice"]);
        let _: String = cmd("SAVE").query(&mut c).unwrap();
        drop(c);
        s.restart(false); // appendonly no: loads the RDB
        let mut c = s.client();
        let _: () = cmd("CONFIG")
            .arg(&["SET", "appendonly", "yes"][..])
            .query(&mut c)
            .unwrap();
        for _ in 0..200 {
            let info: String = cmd("INFO").arg("persistence").query(&mut c).unwrap();
            if info.contains("aof_rewrite_in_progress:0")
                && info.contains("aof_rewrite_scheduled:0")
                && info.contains("aof_enabled:1")
            {
                break;
            }
            sleep_ms(25);
        }
        sleep_ms(100);
        drop(c);
        // Restart from that AOF alone (a server whose folder holds nothing else), as
        // with `appendonly yes` back in redis.conf.
        s.crash();
        let mut s2 = Server::start_with(
            &["--appendonly", "yes", "--aof-use-rdb-preamble", preamble],
            &[],
        );
        s2.crash();
        copy_aof(&s.dir, &s2.dir);
        s2.start_again();
        let mut c = s2.client();
        assert!(verify(&mut c, &t).is_ok(), "preamble {preamble}");
        assert_ne!(info_field(&mut c, "keys"), "0", "preamble {preamble}");
    }
}

fn copy_aof(from: &std::path::Path, to: &std::path::Path) {
    let (from, to) = (from.join("appendonlydir"), to.join("appendonlydir"));
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

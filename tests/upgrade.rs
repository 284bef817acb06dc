//! Upgrades keep data (rule 8): what 0.1.0 wrote loads and works in this version.
//!
//! tests/fixtures/v0.1 holds an RDB and an AOF (no RDB preamble: 0.1's replicated
//! effects and keyring SYNC as commands) written by the 0.1.0 module, and the tokens it
//! issued (tests/fixtures/v0.1/make.sh made them). Each file is loaded by a server
//! with the current module; every token must answer what it answered under 0.1: live
//! sessions verify (HS256 and ES256, with their DATA), a destroyed one stays REVOKED,
//! 0.1's version-1 refresh tokens rotate, a rotated-away one is REUSED, and the state
//! survives a save and reload in this version's format.
mod common;
use common::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v0.1")
}

fn tokens() -> HashMap<String, String> {
    let text = std::fs::read_to_string(fixtures().join("tokens.txt")).expect("tokens.txt");
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(name, token)| (name.to_string(), token.to_string()))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A server of this version started on the 0.1 files (`aof`: the AOF, else the RDB).
fn server_on_v01_files(aof: bool) -> Server {
    let args: &[&str] = if aof { &["--appendonly", "yes"] } else { &[] };
    let mut s = Server::start_with(args, &[]);
    s.crash();
    let _ = std::fs::remove_dir_all(s.dir.join("appendonlydir"));
    if aof {
        copy_dir(
            &fixtures().join("appendonlydir"),
            &s.dir.join("appendonlydir"),
        );
    } else {
        std::fs::copy(fixtures().join("dump.rdb"), s.dir.join("dump.rdb")).unwrap();
    }
    s.start_again();
    s
}

fn works_as_under_v01(c: &mut Connection) {
    let t = tokens();
    // The keyring came along: both keys, the HS256 one active.
    let list = format!(
        "{:?}",
        cmd("JWT.KEY").arg("LIST").query::<Value>(c).unwrap()
    );
    assert!(list.contains("\"es\"") && list.contains("\"hs\""), "{list}");
    assert_eq!(info_field(c, "active_kid"), "hs");
    // Live sessions verify, with their DATA and claims.
    let (p, d): (String, Option<String>) = cmd("JWT.VERIFY")
        .arg(&t["alice_access"])
        .arg("WITHDATA")
        .query(c)
        .unwrap();
    assert_eq!(json(&p)["role"], "admin");
    assert_eq!(json(&d.unwrap())["cart"], serde_json::json!([1, 2]));
    assert_eq!(json(&verify(c, &t["bob_access"]).unwrap())["sid"], "laptop");
    assert!(verify(c, &t["erin_stateless"]).is_ok());
    assert!(cmd("JWT.TOUCH")
        .arg(&t["bob_access"])
        .query::<Value>(c)
        .is_ok());
    // Ended stays ended.
    assert_eq!(code(verify(c, &t["carol_destroyed"])), "REVOKED");
    // Per-user state.
    let n: i64 = cmd("JWT.COUNT").arg("alice").query(c).unwrap();
    assert_eq!(n, 1);
    let sessions = format!(
        "{:?}",
        cmd("JWT.SESSIONS").arg("bob").query::<Value>(c).unwrap()
    );
    assert!(sessions.contains("laptop"), "{sessions}");
    // 0.1's refresh tokens rotate, and reuse is still caught.
    let (access, _): (String, String) = cmd("JWT.REFRESH")
        .arg(&t["alice_refresh"])
        .query(c)
        .unwrap();
    assert!(verify(c, &access).is_ok());
    assert!(verify(c, &t["dave_access"]).is_ok());
    let (_, third): (String, String) = cmd("JWT.REFRESH").arg(&t["dave_refresh"]).query(c).unwrap();
    assert!(third.starts_with("jwtr_"));
    let reused: RedisResult<Value> = cmd("JWT.REFRESH").arg(&t["dave_rotated_away"]).query(c);
    assert_eq!(code(reused), "REUSED");
    assert_eq!(code(verify(c, &t["dave_access"])), "REVOKED");
    // Written again in this version's format, it reads back the same.
    let _: String = cmd("DEBUG").arg("RELOAD").query(c).unwrap();
    assert!(verify(c, &t["alice_access"]).is_ok());
    assert!(verify(c, &access).is_ok());
    assert_eq!(code(verify(c, &t["carol_destroyed"])), "REVOKED");
    assert_eq!(info_field(c, "active_kid"), "hs");
}

#[test]
fn an_rdb_written_by_v01_loads_and_works() {
    let s = server_on_v01_files(false);
    works_as_under_v01(&mut s.client());
}

#[test]
fn an_aof_written_by_v01_replays_and_works() {
    let s = server_on_v01_files(true);
    works_as_under_v01(&mut s.client());
}

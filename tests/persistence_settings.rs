//! The keyring survives every persistence setting Redis accepts: RDB, AOF with and
//! without the RDB preamble, both together; after an AOF rewrite and a restart, and in
//! a replica's full sync.
mod common;
use common::*;

fn persistence_info(c: &mut Connection, field: &str) -> String {
    let info: String = cmd("INFO").arg("persistence").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or("")
        .trim()
        .to_string()
}

fn rewrite_aof(c: &mut Connection) {
    let _: Value = cmd("BGREWRITEAOF").query(c).unwrap();
    for _ in 0..500 {
        if persistence_info(c, "aof_rewrite_in_progress") == "0"
            && persistence_info(c, "aof_rewrite_scheduled") == "0"
        {
            return;
        }
        sleep_ms(20);
    }
    panic!("the AOF rewrite did not finish");
}

fn key_list(c: &mut Connection) -> Vec<String> {
    let list: Vec<Vec<Value>> = cmd("JWT.KEY").arg("LIST").query(c).unwrap();
    let mut kids: Vec<String> = list
        .iter()
        .map(|e| redis::from_redis_value(&e[1]).unwrap())
        .collect();
    kids.sort();
    kids
}

const SETTINGS: [(&str, &[&str]); 4] = [
    ("rdb", &["--save", "3600 1", "--appendonly", "no"]),
    (
        "aof with preamble",
        &["--appendonly", "yes", "--aof-use-rdb-preamble", "yes"],
    ),
    (
        "aof without preamble",
        &["--appendonly", "yes", "--aof-use-rdb-preamble", "no"],
    ),
    (
        "rdb and aof without preamble",
        &[
            "--save",
            "3600 1",
            "--appendonly",
            "yes",
            "--aof-use-rdb-preamble",
            "no",
        ],
    ),
];

#[test]
fn keyring_survives_rewrite_and_restart_under_every_setting() {
    for (name, args) in SETTINGS {
        let mut s = Server::start_with(args, &[]);
        let mut c = s.client();
        let (access, refresh): (String, String) = cmd("JWT.SIGN")
            .arg("alice")
            .arg("REFRESH")
            .query(&mut c)
            .unwrap();
        let _: String = cmd("JWT.KEY")
            .arg("ROTATE")
            .arg("ES256")
            .query(&mut c)
            .unwrap();
        let _: String = cmd("JWT.KEY")
            .arg("GENERATE")
            .arg("EdDSA")
            .query(&mut c)
            .unwrap();
        let later = sign(&mut c, &["bob"]);
        if args.contains(&"yes") {
            // The last keyring change is older than the rewrite: the new files alone
            // must carry the keyring.
            rewrite_aof(&mut c);
            sign(&mut c, &["dave"]);
        }
        let kids = key_list(&mut c);
        let jwks: String = cmd("JWT.JWKS").query(&mut c).unwrap();
        s.restart(true);
        let mut c = s.client();
        assert_eq!(key_list(&mut c), kids, "{name}: the same keys");
        let jwks_after: String = cmd("JWT.JWKS").query(&mut c).unwrap();
        assert_eq!(jwks_after, jwks, "{name}");
        assert!(verify(&mut c, &access).is_ok(), "{name}: access token");
        assert!(
            verify(&mut c, &later).is_ok(),
            "{name}: a token of the new key"
        );
        let (_, _): (String, String) = cmd("JWT.REFRESH").arg(&refresh).query(&mut c).unwrap();
        assert!(
            !s.log().contains("JWT.KEY SYNC"),
            "{name}: no replay error in the log"
        );
    }
}

#[test]
fn replica_full_sync_carries_the_keyring_under_every_setting() {
    for (name, args) in SETTINGS {
        let primary = Server::start_with(args, &[]);
        let replica = Server::start_with(args, &[]);
        let mut p = primary.client();
        let t = sign(&mut p, &["carol"]);
        let _: String = cmd("JWT.KEY").arg("ROTATE").query(&mut p).unwrap();
        if args.contains(&"yes") {
            rewrite_aof(&mut p);
        }
        replica.replicate_from(&primary);
        let mut r = replica.client();
        let n: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
        assert_eq!(n, 1);
        assert_eq!(key_list(&mut r), key_list(&mut p), "{name}");
        assert!(verify(&mut r, &t).is_ok(), "{name}");
    }
}

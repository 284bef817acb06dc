//! A real 3-primary Redis Cluster: subject-first commands route by their declared key,
//! token commands answer MOVED from nodes that do not serve the token's session (and
//! write nothing there), redis-cli -c follows them, and the primaries share one keyring
//! over the cluster bus.
mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::Command;

struct Cluster {
    nodes: Vec<Server>,
}

impl Cluster {
    fn start() -> Cluster {
        Cluster::start_with_replicas(0)
    }

    /// 3 primaries, each with `replicas` replicas (the last nodes of `nodes`).
    fn start_with_replicas(replicas: usize) -> Cluster {
        let nodes: Vec<Server> = (0..3 * (1 + replicas))
            .map(|_| {
                Server::start_with(
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "1000",
                    ],
                    &[],
                )
            })
            .collect();
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        args.extend(["--cluster-replicas".into(), replicas.to_string()]);
        args.push("--cluster-yes".into());
        let out = Command::new("redis-cli")
            .args(&args)
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        for n in &nodes {
            let mut c = n.client();
            for _ in 0..200 {
                let info: String = cmd("CLUSTER").arg("INFO").query(&mut c).unwrap();
                if info.contains("cluster_state:ok") {
                    break;
                }
                sleep_ms(50);
            }
        }
        Cluster { nodes }
    }

    /// Every node's KEY LIST and JWKS, as text.
    fn keyrings(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| {
                let mut c = n.client();
                let list: Value = cmd("JWT.KEY").arg("LIST").query(&mut c).unwrap();
                let jwks: String = cmd("JWT.JWKS").query(&mut c).unwrap();
                format!("{list:?} {jwks}")
            })
            .collect()
    }

    /// Waits until every primary that answers has the same keys and JWKS.
    fn wait_same_keyring_of_primaries(&self) -> String {
        for _ in 0..200 {
            let all: Vec<String> = self
                .nodes
                .iter()
                .filter_map(|n| {
                    let mut c = n.client();
                    let role: Vec<Value> = cmd("ROLE").query(&mut c).ok()?;
                    (format!("{:?}", role[0]).contains("master")).then(|| {
                        let list: Value = cmd("JWT.KEY").arg("LIST").query(&mut c).unwrap();
                        let jwks: String = cmd("JWT.JWKS").query(&mut c).unwrap();
                        format!("{list:?} {jwks}")
                    })
                })
                .collect();
            if all.len() == 3 && all.iter().all(|k| *k == all[0]) {
                return all[0].clone();
            }
            sleep_ms(50);
        }
        panic!("the primaries' keyrings did not converge");
    }

    /// Waits (at most 10 s) until every node has the same keys and JWKS.
    fn wait_same_keyring(&self) -> String {
        for _ in 0..200 {
            let all = self.keyrings();
            if all.iter().all(|k| *k == all[0]) && !all[0].contains("[] ") {
                return all[0].clone();
            }
            sleep_ms(50);
        }
        panic!("the keyrings did not converge: {:#?}", self.keyrings());
    }

    /// The node serving `sub`'s slot, and one that does not.
    fn owner_and_other(&self, sub: &str) -> (&Server, &Server) {
        let mut c = self.nodes[0].client();
        let slot: i64 = cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(sub)
            .query(&mut c)
            .unwrap();
        let slots: Vec<Vec<Value>> = cmd("CLUSTER").arg("SLOTS").query(&mut c).unwrap();
        let port = slots
            .iter()
            .find_map(|r| {
                let (start, end): (i64, i64) = (
                    redis::from_redis_value(&r[0]).ok()?,
                    redis::from_redis_value(&r[1]).ok()?,
                );
                let node: Vec<Value> = redis::from_redis_value(&r[2]).ok()?;
                (start..=end)
                    .contains(&slot)
                    .then(|| redis::from_redis_value::<u16>(&node[1]).ok())
                    .flatten()
            })
            .unwrap();
        let owner = self.nodes.iter().find(|n| n.port == port).unwrap();
        let other = self.nodes.iter().find(|n| n.port != port).unwrap();
        (owner, other)
    }
}

#[test]
fn token_commands_redirect_and_never_write_elsewhere() {
    let cluster = Cluster::start();
    let (owner, other) = cluster.owner_and_other("alice");
    let mut o = owner.client();
    let mut x = other.client();
    // Subject-first commands are routed by the server itself.
    let moved = cmd("JWT.SIGN")
        .arg("alice")
        .query::<String>(&mut x)
        .unwrap_err();
    assert_eq!(moved.code(), Some("MOVED"), "{moved:?}");
    let t = sign(&mut o, &["alice", "TTL", "1h"]);
    let (_, rt): (String, String) = cmd("JWT.SIGN")
        .arg("alice")
        .arg("REFRESH")
        .query(&mut o)
        .unwrap();
    assert!(verify(&mut o, &t).is_ok());
    // The first SIGN's key reaches every primary over the cluster bus.
    let kid = info_field(&mut o, "active_kid");
    cluster.wait_same_keyring();
    // Token commands on a node that does not serve the session: MOVED to the owner.
    for command in ["JWT.VERIFY", "JWT.TOUCH", "JWT.DESTROY"] {
        let e = cmd(command).arg(&t).query::<Value>(&mut x).unwrap_err();
        assert_eq!(e.code(), Some("MOVED"), "{command}: {e:?}");
        assert!(
            format!("{e:?}").contains(&format!(":{}", owner.port)),
            "{command}: {e:?}"
        );
    }
    let e = cmd("JWT.REFRESH")
        .arg(&rt)
        .query::<Value>(&mut x)
        .unwrap_err();
    assert_eq!(e.code(), Some("MOVED"), "{e:?}");
    assert_eq!(dbsize(&mut x), 0, "no stray keys on the other node");
    // Even with a keyring the token does not verify against, routing comes first.
    let third = cluster
        .nodes
        .iter()
        .find(|n| n.port != owner.port && n.port != other.port)
        .unwrap();
    let mut y = third.client();
    let _: String = cmd("JWT.KEY").arg("ROTATE").query(&mut y).unwrap();
    let _: () = cmd("JWT.KEY")
        .arg("RETIRE")
        .arg(&kid)
        .query(&mut y)
        .unwrap();
    assert_eq!(
        cmd("JWT.VERIFY")
            .arg(&t)
            .query::<String>(&mut y)
            .unwrap_err()
            .code(),
        Some("MOVED")
    );
    // redis-cli -c follows the redirection.
    let out = Command::new("redis-cli")
        .args(["-c", "-p", &other.port.to_string(), "JWT.VERIFY", &t])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"sub\":\"alice\""), "{text}");
    // On the owner everything works, and STATELESS tokens verify anywhere.
    let _: String = cmd("JWT.TOUCH").arg(&t).query(&mut o).unwrap();
    let (_, _): (String, String) = cmd("JWT.REFRESH").arg(&rt).query(&mut o).unwrap();
    // A service subject served by the owner (whose key x shares): a stateless token
    // names no session, so any node with the key verifies it.
    let svc = (0..100)
        .map(|i| format!("svc{i}"))
        .find(|s| cluster.owner_and_other(s).0.port == owner.port)
        .unwrap();
    let st: String = cmd("JWT.SIGN")
        .arg(&svc)
        .arg("STATELESS")
        .query(&mut o)
        .unwrap();
    assert!(verify(&mut x, &st).is_ok(), "no session, nothing to route");
}

#[test]
fn one_keyring_for_the_whole_cluster() {
    let cluster = Cluster::start();
    // Two first SIGNs on two primaries at once: both keys everywhere, one active.
    let subs: Vec<String> = (0..200).map(|i| format!("u{i}")).collect();
    let by_node = |port: u16| {
        subs.iter()
            .find(|s| cluster.owner_and_other(s).0.port == port)
            .unwrap()
            .clone()
    };
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let (sa, sb) = (by_node(a.port), by_node(b.port));
    let (ta, tb) = std::thread::scope(|scope| {
        let ha = scope.spawn(|| sign(&mut a.client(), &[&sa]));
        let hb = scope.spawn(|| sign(&mut b.client(), &[&sb]));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let first = cluster.wait_same_keyring();
    for (n, t) in [(a, &ta), (b, &tb)] {
        assert!(
            verify(&mut n.client(), t).is_ok(),
            "tokens of either key verify"
        );
    }
    let actives: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| info_field(&mut n.client(), "active_kid"))
        .collect();
    assert!(actives.iter().all(|k| *k == actives[0]), "{actives:?}");
    // A change on any primary reaches all: ROTATE to ES256 on the third; JWKS is
    // byte-identical everywhere.
    let mut c3 = cluster.nodes[2].client();
    let kid: String = cmd("JWT.KEY")
        .arg("ROTATE")
        .arg("ES256")
        .query(&mut c3)
        .unwrap();
    let converged = cluster.wait_same_keyring();
    assert_ne!(converged, first);
    assert!(converged.contains(&kid));
    for n in &cluster.nodes {
        assert_eq!(info_field(&mut n.client(), "active_kid"), kid);
    }
    // Revocation on one primary kills the key's tokens on the others.
    let ka = info_field(&mut a.client(), "active_kid");
    let t = sign(&mut a.client(), &[&sa]);
    // ES256 signatures run on the worker threads in cluster mode too: the owner
    // verifies (misses, both off the main thread), another primary redirects.
    let jobs = |c: &mut Connection| info_field(c, "crypto_jobs").parse::<i64>().unwrap();
    let before = jobs(&mut a.client());
    for _ in 0..2 {
        assert!(verify(&mut a.client(), &t).is_ok());
    }
    assert_eq!(jobs(&mut a.client()), before + 2);
    let e = verify(&mut b.client(), &t).unwrap_err();
    assert_eq!(e.code(), Some("MOVED"), "{e:?}");
    let _: Value = cmd("JWT.KEY")
        .arg("REVOKE")
        .arg(&ka)
        .query(&mut cluster.nodes[1].client())
        .unwrap();
    cluster.wait_same_keyring();
    assert_eq!(code(verify(&mut a.client(), &t)), "INVALID");
    // A node restarted without its data (no RDB) converges by itself: the digests
    // differ, the keyrings are exchanged.
    let mut cluster = cluster;
    cluster.nodes[2].restart(false);
    let mut r = cluster.nodes[2].client();
    for _ in 0..200 {
        let info: String = cmd("CLUSTER").arg("INFO").query(&mut r).unwrap();
        if info.contains("cluster_state:ok") {
            break;
        }
        sleep_ms(50);
    }
    let converged = cluster.wait_same_keyring();
    assert!(converged.contains(&kid) || !converged.contains(&ka));
    assert_ne!(info_field(&mut r, "keys"), "0");
}

/// Moving a user's slot with SETSLOT/MIGRATE (what `redis-cli --cluster reshard`
/// does): token commands keep working on the node that holds the session, user-scoped
/// commands answer TRYAGAIN while the slot moves (never a partial answer), and after
/// the move everything works on the new owner, shared keyring and all.
#[test]
fn resharding_a_users_slot_loses_nothing() {
    let cluster = Cluster::start();
    let (source, _) = cluster.owner_and_other("mover");
    let target = cluster
        .nodes
        .iter()
        .find(|n| n.port != source.port)
        .unwrap();
    let mut s = source.client();
    let mut t = target.client();
    let (access, refresh): (String, String) = cmd("JWT.SIGN")
        .arg(&["mover", "REFRESH", "SID", "laptop"][..])
        .query(&mut s)
        .unwrap();
    let phone = sign(&mut s, &["mover", "SID", "phone"]);
    cluster.wait_same_keyring();
    let slot: i64 = cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("mover")
        .query(&mut s)
        .unwrap();
    let id = |c: &mut Connection| -> String { cmd("CLUSTER").arg("MYID").query(c).unwrap() };
    let (source_id, target_id) = (id(&mut s), id(&mut t));
    let _: () = cmd("CLUSTER")
        .arg(&["SETSLOT", &slot.to_string(), "IMPORTING", &source_id][..])
        .query(&mut t)
        .unwrap();
    let _: () = cmd("CLUSTER")
        .arg(&["SETSLOT", &slot.to_string(), "MIGRATING", &target_id][..])
        .query(&mut s)
        .unwrap();
    // While the slot moves: the session still verifies where it is ...
    assert!(verify(&mut s, &access).is_ok());
    // ... and user-scoped commands never answer from half the keys.
    let _: () = cmd("ASKING").query(&mut t).unwrap();
    let r: RedisResult<i64> = cmd("JWT.COUNT").arg("mover").query(&mut t);
    assert_eq!(code(r), "TRYAGAIN");
    let r: RedisResult<i64> = cmd("JWT.COUNT").arg("mover").query(&mut s);
    assert!(matches!(code(r).as_str(), "TRYAGAIN" | "ASK"));
    // Move the keys, then the slot.
    let keys: Vec<String> = cmd("CLUSTER")
        .arg(&["GETKEYSINSLOT", &slot.to_string(), "100"][..])
        .query(&mut s)
        .unwrap();
    assert!(keys.len() >= 3, "{keys:?}");
    let _: () = cmd("MIGRATE")
        .arg(
            &[
                "127.0.0.1",
                &target.port.to_string(),
                "",
                "0",
                "5000",
                "KEYS",
            ][..],
        )
        .arg(&keys)
        .query(&mut s)
        .unwrap();
    for n in &cluster.nodes {
        let _: () = cmd("CLUSTER")
            .arg(&["SETSLOT", &slot.to_string(), "NODE", &target_id][..])
            .query(&mut n.client())
            .unwrap();
    }
    // After: everything on the new owner, nothing lost, no false INVALID.
    assert!(verify(&mut t, &access).is_ok());
    assert!(verify(&mut t, &phone).is_ok());
    let n: i64 = cmd("JWT.COUNT").arg("mover").query(&mut t).unwrap();
    assert_eq!(n, 2);
    let (fresh, _): (String, String) = cmd("JWT.REFRESH").arg(&refresh).query(&mut t).unwrap();
    assert!(verify(&mut t, &fresh).is_ok());
    let e = cmd("JWT.VERIFY")
        .arg(&access)
        .query::<String>(&mut s)
        .unwrap_err();
    assert_eq!(e.code(), Some("MOVED"));
}

/// A key retired on one primary stays, on every primary, as long as the tokens another
/// primary signed with it: that primary's record of them travels with the merge, so a
/// 30-day session signed on A keeps verifying after B rotates (B alone would have dropped
/// the key a day after the rotation, and A's session would answer a false INVALID).
/// Then a CUTOFF on B ends A's session.
#[test]
fn a_rotation_elsewhere_keeps_the_old_key_for_this_nodes_tokens() {
    let cluster = Cluster::start();
    let (a, b) = cluster.owner_and_other("longlived");
    let old: String = cmd("JWT.KEY")
        .arg(&["ROTATE", "HS256"][..])
        .query(&mut a.client())
        .unwrap();
    cluster.wait_same_keyring();
    let t = sign(&mut a.client(), &["longlived", "TTL", "30d"]);
    let session_end_ms = (now_s() + 30 * 86_400) * 1000;
    let _: String = cmd("JWT.KEY").arg("ROTATE").query(&mut b.client()).unwrap();
    cluster.wait_same_keyring();
    for n in &cluster.nodes {
        let list: Vec<Vec<Value>> = cmd("JWT.KEY").arg("LIST").query(&mut n.client()).unwrap();
        let text = |v: &Value| redis::from_redis_value::<String>(v).unwrap_or_default();
        let record = list
            .iter()
            .find(|r| r.get(1).map(text) == Some(old.clone()))
            .unwrap_or_else(|| panic!("{list:?}"));
        let field = |name: &str| {
            let i = record.iter().position(|v| text(v) == name).unwrap();
            record[i + 1].clone()
        };
        assert_eq!(text(&field("state")), "retired");
        let retires_at: i64 = redis::from_redis_value(&field("retires_at")).unwrap();
        assert!(
            retires_at >= session_end_ms - 60_000,
            "port {}: {retires_at} < {session_end_ms}",
            n.port
        );
    }
    assert!(verify(&mut a.client(), &t).is_ok());
    // A breach response on one primary reaches the sessions of another: CUTOFF on B
    // ends A's session.
    let _: i64 = cmd("JWT.KEY").arg("CUTOFF").query(&mut b.client()).unwrap();
    let mut c = a.client();
    for _ in 0..200 {
        if verify(&mut c, &t).is_err() {
            break;
        }
        sleep_ms(25);
    }
    assert_eq!(code(verify(&mut c, &t)), "REVOKED");
}

/// A primary restarted without its data has an empty keyring until the cluster's
/// reaches it over the bus. A SIGN there meanwhile must not make a first key of its own
/// (it would be the newest activation and take signing over everywhere): it answers
/// TRYAGAIN until the keyring arrives, then signs with the cluster's key.
#[test]
fn a_primary_restarted_empty_signs_with_the_clusters_key() {
    let mut cluster = Cluster::start();
    let kid: String = cmd("JWT.KEY")
        .arg(&["ROTATE", "ES256"][..])
        .query(&mut cluster.nodes[0].client())
        .unwrap();
    let before = cluster.wait_same_keyring();
    let port = cluster.nodes[2].port;
    let sub = (0..)
        .map(|i| format!("restarted{i}"))
        .find(|s| cluster.owner_and_other(s).0.port == port)
        .unwrap();
    cluster.nodes[2].restart(false);
    let mut c = cluster.nodes[2].client();
    let mut answers = Vec::new();
    let token = loop {
        match cmd("JWT.SIGN").arg(&sub).query::<String>(&mut c) {
            Ok(t) => break t,
            Err(e) => {
                let code = e.code().unwrap_or("?").to_string();
                assert!(matches!(code.as_str(), "TRYAGAIN" | "CLUSTERDOWN"), "{e:?}");
                answers.push(code);
                assert!(answers.len() < 300, "{answers:?}");
                sleep_ms(50);
            }
        }
    };
    assert_eq!(header(&token)["kid"], kid.as_str());
    assert_eq!(cluster.wait_same_keyring(), before, "no key of its own");
}

/// docs/cluster.md: while a slot moves, MIGRATE moves a user's keys one by one, so a
/// session and its index can sit on different nodes for a moment. A logout then is
/// never a false `0` (nor a VERIFY a false `REVOKED`): the token commands answer
/// TRYAGAIN (or redirect), and once the slot has moved the logout works.
#[test]
fn a_logout_while_the_slot_moves_is_never_lost() {
    let cluster = Cluster::start();
    let (source, target) = cluster.owner_and_other("leaver");
    let (mut s, mut t) = (source.client(), target.client());
    let token = sign(&mut s, &["leaver", "SID", "desk"]);
    cluster.wait_same_keyring();
    let slot: i64 = cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("leaver")
        .query(&mut s)
        .unwrap();
    let m = SlotMove::begin(slot, source, target);
    // The session moves first; its index stays behind for now.
    m.migrate(&mut s, &["jwt:{leaver}:desk"]);
    let not_lost = |c: &mut Connection, asking: bool, what: &str| {
        if asking {
            let _: () = cmd("ASKING").query(c).unwrap();
        }
        let r: RedisResult<i64> = cmd("JWT.DESTROY").arg(&token).query(c);
        let e = r.expect_err(what);
        assert!(
            matches!(e.code(), Some("TRYAGAIN" | "ASK" | "MOVED")),
            "{what}: {e:?}"
        );
        if asking {
            let _: () = cmd("ASKING").query(c).unwrap();
        }
        let v = verify(c, &token).expect_err(what);
        assert!(
            matches!(v.code(), Some("TRYAGAIN" | "ASK" | "MOVED")),
            "{what}: VERIFY {v:?}"
        );
    };
    not_lost(&mut s, false, "source, session gone");
    not_lost(&mut t, true, "target, index missing");
    m.migrate(&mut s, &["jwt:{leaver}"]);
    m.finish(&cluster);
    let n: i64 = cmd("JWT.DESTROY").arg(&token).query(&mut t).unwrap();
    assert_eq!(n, 1, "the logout after the move");
    assert_eq!(code(verify(&mut t, &token)), "REVOKED");
}

/// A slot on its way from one primary to another (what `redis-cli --cluster reshard`
/// does): IMPORTING on the target and MIGRATING on the source, then `migrate` moves
/// keys, `finish` gives the slot to the target on every node.
struct SlotMove {
    slot: String,
    target_id: String,
    target_port: String,
}

impl SlotMove {
    fn begin(slot: i64, source: &Server, target: &Server) -> SlotMove {
        let (mut s, mut t) = (source.client(), target.client());
        let id = |c: &mut Connection| -> String { cmd("CLUSTER").arg("MYID").query(c).unwrap() };
        let (source_id, target_id) = (id(&mut s), id(&mut t));
        let m = SlotMove {
            slot: slot.to_string(),
            target_id,
            target_port: target.port.to_string(),
        };
        m.setslot(&mut t, "IMPORTING", &source_id);
        m.setslot(&mut s, "MIGRATING", &m.target_id);
        m
    }

    fn setslot(&self, c: &mut Connection, how: &str, node: &str) {
        let _: () = cmd("CLUSTER")
            .arg(&["SETSLOT", &self.slot, how, node][..])
            .query(c)
            .unwrap();
    }

    /// MIGRATEs these keys from `source` (a connection to it).
    fn migrate(&self, source: &mut Connection, keys: &[&str]) {
        if keys.is_empty() {
            return;
        }
        let _: () = cmd("MIGRATE")
            .arg(&["127.0.0.1", &self.target_port, "", "0", "5000", "KEYS"][..])
            .arg(keys)
            .query(source)
            .unwrap();
    }

    fn finish(&self, cluster: &Cluster) {
        for n in &cluster.nodes {
            self.setslot(&mut n.client(), "NODE", &self.target_id);
        }
    }
}

/// Moves `slot` with all its keys from `source` to `target`.
fn move_slot(cluster: &Cluster, slot: i64, source: &Server, target: &Server) {
    let m = SlotMove::begin(slot, source, target);
    let mut s = source.client();
    let keys: Vec<String> = cmd("CLUSTER")
        .arg(&["GETKEYSINSLOT", &m.slot, "1000"][..])
        .query(&mut s)
        .unwrap();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    m.migrate(&mut s, &keys);
    m.finish(cluster);
}

/// A token command whose signature check runs on a worker thread resumes on the main
/// thread: if the session's slot moved away meanwhile, it answers MOVED (the keys are
/// gone from here; reading them would answer a false REVOKED). The check is held in
/// the queue behind RSA-4096 signatures on one worker thread while the slot moves.
#[test]
fn a_slot_that_moves_during_the_check_answers_moved() {
    let cluster = Cluster::start();
    let (owner, other) = cluster.owner_and_other("traveller");
    let mut a = owner.client();
    import_fixture_key(&mut a, "big", "RS256", "rsa4096.pem");
    let _: String = cmd("JWT.KEY")
        .arg(&["GENERATE", "ES256", "KID", "ec"][..])
        .query(&mut a)
        .unwrap();
    cluster.wait_same_keyring();
    let token = sign(&mut a, &["traveller", "KEY", "ec"]);
    for (name, value) in [("jwt.crypto-threads", "1"), ("jwt.verify-cache", "0")] {
        let _: () = cmd("CONFIG")
            .arg(&["SET", name, value][..])
            .query(&mut a)
            .unwrap();
    }
    // Subjects this node serves, each signed on a connection of its own (a blocked
    // client waits for its reply before its next command runs).
    let mut flood = Vec::new();
    for i in 0.. {
        if flood.len() == 100 {
            break;
        }
        let sub = format!("flood{i}");
        if cluster.owner_and_other(&sub).0.port != owner.port {
            continue;
        }
        let mut c = owner.client();
        c.send_packed_command(
            &cmd("JWT.SIGN")
                .arg(&[&sub, "KEY", "big"][..])
                .get_packed_command(),
        )
        .unwrap();
        flood.push(c);
    }
    // The VERIFY on a plain socket, to see whether it was answered before the move.
    let mut v = std::net::TcpStream::connect(("127.0.0.1", owner.port)).unwrap();
    v.write_all(&cmd("JWT.VERIFY").arg(&token).get_packed_command())
        .unwrap();
    sleep_ms(20);
    let slot: i64 = cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("traveller")
        .query(&mut a)
        .unwrap();
    move_slot(&cluster, slot, owner, other);
    v.set_nonblocking(true).unwrap();
    let waiting = v.peek(&mut [0u8; 1]).map_err(|e| e.kind());
    assert_eq!(
        waiting,
        Err(std::io::ErrorKind::WouldBlock),
        "the check was still queued when the slot moved"
    );
    v.set_nonblocking(false).unwrap();
    let mut reply = String::new();
    BufReader::new(&v).read_line(&mut reply).unwrap();
    assert!(reply.starts_with("-MOVED "), "{reply:?}");
    for mut c in flood {
        let signed: Value = c.recv_response().unwrap();
        assert!(matches!(signed, Value::BulkString(_)), "{signed:?}");
    }
    // The new owner verifies it.
    assert!(verify(&mut other.client(), &token).is_ok());
}

/// Failover of a user's primary, by CLUSTER FAILOVER on its replica and by a crash: no
/// acknowledged session lost, no false INVALID/REVOKED/REUSED on the new primary (the
/// keyring came with replication), and the new primary takes part in keyring changes.
#[test]
fn failover_keeps_sessions_and_the_keyring() {
    let mut cluster = Cluster::start_with_replicas(1);
    let owner_port = cluster.owner_and_other("fo").0.port;
    let replica_of = |cluster: &Cluster, primary_port: u16| -> usize {
        let mut p = cluster
            .nodes
            .iter()
            .find(|n| n.port == primary_port)
            .unwrap()
            .client();
        let id: String = cmd("CLUSTER").arg("MYID").query(&mut p).unwrap();
        cluster
            .nodes
            .iter()
            .position(|n| {
                let info: String = cmd("CLUSTER").arg("NODES").query(&mut n.client()).unwrap();
                info.lines()
                    .any(|l| l.contains("myself") && l.contains(&format!("slave {id}")))
            })
            .expect("a replica of the owner")
    };
    // The cluster's own election (node timeout 1 s, then a vote) on a loaded 2-core CI
    // machine can take longer than 10 s: the same 20 s the load test allows.
    let wait_owner_is = |cluster: &Cluster, port: u16| {
        for _ in 0..400 {
            if cluster.owner_and_other("fo").0.port == port {
                return;
            }
            sleep_ms(50);
        }
        panic!("the slot did not move to {port}");
    };
    let mut o = cluster
        .nodes
        .iter()
        .find(|n| n.port == owner_port)
        .unwrap()
        .client();
    let (access, refresh): (String, String) = cmd("JWT.SIGN")
        .arg(&["fo", "REFRESH", "SID", "laptop"][..])
        .query(&mut o)
        .unwrap();
    let n: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut o).unwrap();
    assert_eq!(n, 1, "acknowledged by the replica");
    // 1. A manual failover.
    let r = replica_of(&cluster, owner_port);
    let new_port = cluster.nodes[r].port;
    let _: () = cmd("CLUSTER")
        .arg("FAILOVER")
        .query(&mut cluster.nodes[r].client())
        .unwrap();
    wait_owner_is(&cluster, new_port);
    let mut p = cluster.nodes[r].client();
    assert!(verify(&mut p, &access).is_ok());
    let (access2, refresh2): (String, String) =
        cmd("JWT.REFRESH").arg(&refresh).query(&mut p).unwrap();
    assert!(verify(&mut p, &access2).is_ok());
    // The promoted node takes part in keyring changes.
    let kid: String = cmd("JWT.KEY").arg("ROTATE").query(&mut p).unwrap();
    let converged = cluster.wait_same_keyring_of_primaries();
    assert!(converged.contains(&kid));
    let n: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert_eq!(n, 1);
    // 2. The new primary crashes: its replica (the old primary) takes over.
    let old = cluster
        .nodes
        .iter()
        .position(|n| n.port == owner_port)
        .unwrap();
    cluster.nodes[r].crash();
    wait_owner_is(&cluster, owner_port);
    let mut q = cluster.nodes[old].client();
    assert!(
        verify(&mut q, &access2).is_ok(),
        "no false REVOKED after the crash"
    );
    let (_, _): (String, String) = cmd("JWT.REFRESH").arg(&refresh2).query(&mut q).unwrap();
}

/// A cluster client for the load test: follows MOVED, ASK and TRYAGAIN (and READONLY
/// from a demoted primary) as cluster clients do, and reports anything else.
struct Router {
    conns: std::collections::HashMap<u16, Connection>,
    /// The node that answered the last call.
    last: u16,
    /// Where requests start (any node); the next one is tried after a READONLY.
    starts: Vec<u16>,
    start: usize,
}

impl Router {
    fn conn(&mut self, port: u16) -> Option<&mut Connection> {
        use std::collections::hash_map::Entry;
        match self.conns.entry(port) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(e) => {
                let c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                    .ok()?
                    .get_connection()
                    .ok()?;
                Some(e.insert(c))
            }
        }
    }

    /// Whether the last write reached a replica too (`WAIT 1`): what "acknowledged"
    /// means when a primary may crash.
    fn replicated(&mut self) -> bool {
        let port = self.last;
        self.conn(port)
            .and_then(|c| cmd("WAIT").arg(1).arg(1000).query::<i64>(c).ok())
            .is_some_and(|n| n >= 1)
    }

    /// The reply, or the first error that is not a redirection to follow.
    fn call(&mut self, args: &[&str]) -> Result<Value, String> {
        let mut port = self.starts[self.start];
        let mut asking = false;
        let mut last = String::new();
        // Long enough for a slot to move key by key (TRYAGAIN meanwhile).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let Some(c) = self.conn(port) else {
                // A crashed node: start over from another one.
                self.start = (self.start + 1) % self.starts.len();
                port = self.starts[self.start];
                sleep_ms(20);
                continue;
            };
            if asking {
                let _: RedisResult<()> = cmd("ASKING").query(c);
            }
            let r: RedisResult<Value> = cmd(args[0]).arg(&args[1..]).query(c);
            match r {
                Ok(v) => {
                    self.last = port;
                    return Ok(v);
                }
                Err(e)
                    if e.is_io_error()
                        || e.is_connection_dropped()
                        || e.is_connection_refusal() =>
                {
                    self.conns.remove(&port);
                    self.start = (self.start + 1) % self.starts.len();
                    port = self.starts[self.start];
                    asking = false;
                    sleep_ms(20);
                }
                Err(e) => {
                    let code = e.code().unwrap_or("").to_string();
                    let text = format!("{e:?}");
                    last = format!("{port}: {text}");
                    let target = || {
                        text.split_whitespace().find_map(|w| {
                            w.rsplit_once(':').and_then(|(_, p)| {
                                p.trim_matches(|c: char| !c.is_ascii_digit())
                                    .parse::<u16>()
                                    .ok()
                            })
                        })
                    };
                    match code.as_str() {
                        "MOVED" => {
                            port = target().ok_or(text.clone())?;
                            asking = false;
                            sleep_ms(1);
                        }
                        "ASK" => {
                            port = target().ok_or(text.clone())?;
                            asking = true;
                        }
                        "TRYAGAIN" | "CLUSTERDOWN" | "LOADING" => {
                            asking = false;
                            sleep_ms(10);
                        }
                        // A primary demoted by the failover: Redis answers READONLY to
                        // writes before any module code runs; start over from the
                        // slot map, as cluster clients do after a failover.
                        "READONLY" => {
                            asking = false;
                            self.start = (self.start + 1) % self.starts.len();
                            port = self.starts[self.start];
                            sleep_ms(10);
                        }
                        _ => return Err(text),
                    }
                }
            }
        }
        Err(format!(
            "{args:?}: still redirected after 30 s, last {last}"
        ))
    }
}

/// Logins, verifications and refreshes keep running while the users' slot moves key by
/// key to another primary, that primary fails over to its replica, and the new primary
/// then crashes: the client only ever sees redirections (which it follows) and errors
/// of a node that is gone, never a false INVALID, REVOKED or REUSED, and no
/// acknowledged (replicated) session is lost.
#[test]
fn resharding_and_failover_under_load() {
    let cluster = Cluster::start_with_replicas(1);
    let slot = jwt_core::session::hash_slot(b"hot");
    let subs: Vec<String> = (0..20_000)
        .map(|i| format!("user{i}"))
        .filter(|s| jwt_core::session::hash_slot(s.as_bytes()) == slot)
        .take(4)
        .chain(["hot".to_string()])
        .collect();
    let source_port = cluster.owner_and_other("hot").0.port;
    let primaries: Vec<u16> = cluster
        .nodes
        .iter()
        .filter(|n| {
            let role: Vec<Value> = cmd("ROLE").query(&mut n.client()).unwrap();
            format!("{:?}", role[0]).contains("master")
        })
        .map(|n| n.port)
        .collect();
    let target_port = *primaries.iter().find(|p| **p != source_port).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let starts: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
    std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            let mut r = Router {
                conns: Default::default(),
                last: starts[0],
                starts: starts.clone(),
                start: 0,
            };
            let mut live: Vec<(String, String)> = Vec::new(); // (access, refresh) per session
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || rounds < 20 {
                let sub = &subs[rounds % subs.len()];
                let pair = r.call(&["JWT.SIGN", sub, "REFRESH"])?;
                let (a, rt): (String, String) = redis::from_redis_value(&pair).unwrap();
                r.call(&["JWT.VERIFY", &a])?;
                let pair = r.call(&["JWT.REFRESH", &rt])?;
                let (a2, rt2): (String, String) = redis::from_redis_value(&pair).unwrap();
                // Acknowledged = on the replica too (a crashed primary may lose the rest).
                let acknowledged = r.replicated();
                r.call(&["JWT.VERIFY", &a2])?;
                if acknowledged {
                    live.push((a2, rt2));
                }
                // Earlier sessions keep working too.
                if let Some((old_a, _)) = live.get(rounds / 2) {
                    r.call(&["JWT.VERIFY", old_a])?;
                }
                rounds += 1;
            }
            // Nothing acknowledged was lost.
            for (a, rt) in &live {
                r.call(&["JWT.VERIFY", a])?;
                r.call(&["JWT.REFRESH", rt])?;
            }
            Ok::<usize, String>(rounds)
        });
        sleep_ms(300);
        // Move the slot, one key at a time.
        let mut s = redis::Client::open(format!("redis://127.0.0.1:{source_port}/"))
            .unwrap()
            .get_connection()
            .unwrap();
        let mut t = redis::Client::open(format!("redis://127.0.0.1:{target_port}/"))
            .unwrap()
            .get_connection()
            .unwrap();
        let id = |c: &mut Connection| -> String { cmd("CLUSTER").arg("MYID").query(c).unwrap() };
        let (source_id, target_id) = (id(&mut s), id(&mut t));
        let slot_s = slot.to_string();
        let _: () = cmd("CLUSTER")
            .arg(&["SETSLOT", &slot_s, "IMPORTING", &source_id][..])
            .query(&mut t)
            .unwrap();
        let _: () = cmd("CLUSTER")
            .arg(&["SETSLOT", &slot_s, "MIGRATING", &target_id][..])
            .query(&mut s)
            .unwrap();
        // The users' indexes first, then a pause with load running: a session and its
        // index on different nodes, the moment a token command must not call REVOKED.
        let migrate = |s: &mut Connection, key: &str| {
            let _: () = cmd("MIGRATE")
                .arg(&["127.0.0.1", &target_port.to_string(), key, "0", "5000"][..])
                .query(s)
                .unwrap();
        };
        let all: Vec<String> = cmd("CLUSTER")
            .arg(&["GETKEYSINSLOT", &slot_s, "100000"][..])
            .query(&mut s)
            .unwrap();
        for key in all.iter().filter(|k| k.ends_with('}')) {
            migrate(&mut s, key);
        }
        sleep_ms(400);
        loop {
            let keys: Vec<String> = cmd("CLUSTER")
                .arg(&["GETKEYSINSLOT", &slot_s, "1"][..])
                .query(&mut s)
                .unwrap();
            if keys.is_empty() {
                break;
            }
            migrate(&mut s, &keys[0]);
            sleep_ms(5);
        }
        // As redis-cli --cluster reshard does: the target first, then the source, then
        // the other primaries; then wait until every node agrees.
        let mut order: Vec<u16> = vec![target_port, source_port];
        order.extend(
            primaries
                .iter()
                .filter(|p| **p != target_port && **p != source_port),
        );
        for port in order {
            let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .unwrap()
                .get_connection()
                .unwrap();
            let _: () = cmd("CLUSTER")
                .arg(&["SETSLOT", &slot_s, "NODE", &target_id][..])
                .query(&mut c)
                .unwrap();
        }
        // Waits until every live node (a crashed one is skipped) says `port` owns the slot.
        let owner_everywhere = |port: u16| {
            for _ in 0..400 {
                let agree = cluster.nodes.iter().all(|n| {
                    let Ok(mut c) = redis::Client::open(format!("redis://127.0.0.1:{}/", n.port))
                        .and_then(|c| c.get_connection())
                    else {
                        return true; // the crashed node
                    };
                    let Ok(slots) = cmd("CLUSTER").arg("SLOTS").query::<Vec<Vec<Value>>>(&mut c)
                    else {
                        return true;
                    };
                    slots.iter().any(|r| {
                        let (a, b): (i64, i64) = (
                            redis::from_redis_value(&r[0]).unwrap(),
                            redis::from_redis_value(&r[1]).unwrap(),
                        );
                        let node: Vec<Value> = redis::from_redis_value(&r[2]).unwrap();
                        (a..=b).contains(&(slot as i64))
                            && redis::from_redis_value::<u16>(&node[1]).unwrap() == port
                    })
                });
                if agree {
                    return;
                }
                sleep_ms(50);
            }
            panic!("the live nodes do not agree that {port} owns slot {slot}");
        };
        owner_everywhere(target_port);
        sleep_ms(300);
        // Fail the new owner over to its replica.
        let replica = cluster
            .nodes
            .iter()
            .find(|n| {
                let info: String = cmd("CLUSTER").arg("NODES").query(&mut n.client()).unwrap();
                info.lines()
                    .any(|l| l.contains("myself") && l.contains(&format!("slave {target_id}")))
            })
            .unwrap();
        let _: () = cmd("CLUSTER")
            .arg("FAILOVER")
            .query(&mut replica.client())
            .unwrap();
        owner_everywhere(replica.port);
        sleep_ms(500);
        // Then that primary crashes: its replica (the previous owner) takes over.
        let _: RedisResult<()> = cmd("DEBUG").arg("SEGFAULT").query(&mut replica.client());
        owner_everywhere(target_port);
        sleep_ms(500);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let rounds = load
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("a false answer under load: {e}"));
        assert!(rounds >= 20, "{rounds}");
    });
}

//! A real 3-primary Redis Cluster: subject-first commands route by their declared key,
//! token commands answer MOVED from nodes that do not serve the token's session (and
//! write nothing there), redis-cli -c follows them, and the primaries share one keyring
//! over the cluster bus.
mod common;
use common::*;
use std::process::Command;

struct Cluster {
    nodes: Vec<Server>,
}

impl Cluster {
    fn start() -> Cluster {
        let nodes: Vec<Server> = (0..3)
            .map(|_| {
                Server::start_with(
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                    ],
                    &[],
                )
            })
            .collect();
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
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

//! A real 3-primary Redis Cluster: subject-first commands route by their declared key,
//! token commands answer MOVED from nodes that do not serve the token's session (and
//! write nothing there), redis-cli -c follows them, and EXPORT/IMPORT keeps the
//! primaries' keyrings equal.
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
    // Same keyring everywhere, as EXPORT/IMPORT keeps it.
    let kid = info_field(&mut o, "active_kid");
    let (_, alg, secret): (String, String, Vec<u8>) = cmd("JWT.KEY")
        .arg("EXPORT")
        .arg(&kid)
        .query(&mut o)
        .unwrap();
    for n in &cluster.nodes {
        if n.port != owner.port {
            let _: () = cmd("JWT.KEY")
                .arg("IMPORT")
                .arg(&kid)
                .arg(&alg)
                .arg(&secret)
                .query(&mut n.client())
                .unwrap();
        }
    }
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

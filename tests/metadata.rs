//! What tools see: COMMAND DOCS with full arguments (redis-cli hints), COMMAND INFO
//! with the routing key of subject-first commands.
mod common;
use common::*;

fn docs_text(c: &mut Connection, name: &str) -> String {
    let v: Value = cmd("COMMAND").arg("DOCS").arg(name).query(c).unwrap();
    format!("{v:?}")
}

#[test]
fn command_docs_carry_arguments_for_every_command() {
    let s = Server::start();
    let mut c = s.client();
    let sign = docs_text(&mut c, "jwt.sign");
    for token in [
        "CLAIMS",
        "DATA",
        "TTL",
        "EXPIRES",
        "MAXAGE",
        "SID",
        "REFRESH",
        "STATELESS",
    ] {
        assert!(sign.contains(token), "JWT.SIGN docs lack {token}: {sign}");
    }
    assert!(sign.contains("0.1.0") && sign.contains("summary"));
    for (name, token) in [
        ("jwt.verify", "WITHDATA"),
        ("jwt.touch", "TTL"),
        ("jwt.refresh", "EXPIRES"),
        ("jwt.revoke", "EXCEPT"),
        ("jwt.sessions", "WITHDATA"),
        ("jwt.key|generate", "KID"),
    ] {
        let d = docs_text(&mut c, name);
        assert!(d.contains("arguments") && d.contains(token), "{name}: {d}");
    }
    let revoke_key = docs_text(&mut c, "jwt.key|revoke");
    assert!(revoke_key.contains("0.2.0"), "{revoke_key}");
    // Subject-first commands route by argument 1 (first/last/step 1,1,1).
    let info: Value = cmd("COMMAND")
        .arg("INFO")
        .arg("jwt.count")
        .query(&mut c)
        .unwrap();
    let text = format!("{info:?}");
    assert!(text.contains("int(1), int(1), int(1)"), "{text}");
}

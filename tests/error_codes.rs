//! The error codes docs/commands.md gives each command are codes the command answers.
//!
//! The docs list them per command: the **Errors** part of a section's Reply line, and
//! any "Errors:" sentence of the section. For every (command, code) pair found there,
//! `reproduce` below makes the command answer that code on a real server (a primary
//! with a replica, for READONLY), and the test fails on a listed code that has no
//! reproduction here or whose reproduction answers something else. So a code cannot be
//! documented without being real, and a new command's docs need reproductions here.
//! MOVED and TRYAGAIN need a cluster; tests/cluster.rs drives them.

mod common;
use common::*;
use redis::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Codes only a cluster answers.
const CLUSTER_ONLY: [&str; 2] = ["MOVED", "TRYAGAIN"];

fn commands_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/commands.md");
    std::fs::read_to_string(path).expect("docs/commands.md")
}

/// The codes of the error table at the top of commands.md (rows "| `CODE` | ...").
fn known_codes(doc: &str) -> BTreeSet<String> {
    let mut codes: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split_once("` |").map(|(c, _)| c))
        .filter(|c| c.chars().all(|ch| ch.is_ascii_uppercase()))
        .map(str::to_string)
        .collect();
    codes.extend(CLUSTER_ONLY.map(String::from));
    codes
}

/// Command name -> the codes its section documents.
fn documented(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let known = known_codes(doc);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut section: Option<String> = None;
    for paragraph in doc.split("\n\n") {
        let paragraph = paragraph.trim_start();
        if paragraph.starts_with('#') {
            let title = paragraph.trim_start_matches('#').trim();
            section = title.starts_with("JWT.").then(|| title.to_string());
            continue;
        }
        let Some(name) = &section else { continue };
        for marker in ["**Errors**", "Errors:"] {
            let Some((_, errors)) = paragraph.split_once(marker) else {
                continue;
            };
            let listed = errors
                .split('`')
                .skip(1)
                .step_by(2)
                .flat_map(|quoted| quoted.split('/'))
                .filter(|c| known.contains(*c))
                .map(str::to_string);
            out.entry(name.clone()).or_default().extend(listed);
        }
    }
    out
}

/// The server, its replica and the tokens the reproductions share.
struct Env {
    _primary: Server,
    _replica: Server,
    /// The default user on the primary and on the replica.
    c: Connection,
    r: Connection,
    /// A user who may run every command but the @admin ones, on keys `other:*` only.
    limited: Connection,
    live: String,
    /// A live session's current refresh token.
    refresh: String,
    /// Its `exp` has passed; its session lives on.
    expired: String,
    /// Its `nbf` is 100 s ahead.
    early: String,
    /// Its session was destroyed.
    ended: String,
}

fn run(c: &mut Connection, args: &[&str]) -> redis::RedisResult<Value> {
    cmd(args[0]).arg(&args[1..]).query(c)
}

fn ok(c: &mut Connection, args: &[&str]) -> Value {
    run(c, args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn pair(c: &mut Connection, sub: &str) -> (String, String) {
    let (access, refresh): (String, String) = cmd("JWT.SIGN")
        .arg(sub)
        .arg("REFRESH")
        .query(c)
        .expect("SIGN REFRESH");
    (access, refresh)
}

impl Env {
    fn new() -> Env {
        let (primary, replica) = Server::primary_and_replica();
        let mut c = primary.client();
        let live = sign(&mut c, &["alice"]);
        let refresh = pair(&mut c, "alice").1;
        let expired = sign(&mut c, &["bob", "EXPIRES", "1"]);
        let nbf = now_s() + 100;
        let early = sign(&mut c, &["carol", "CLAIMS", &format!(r#"{{"nbf":{nbf}}}"#)]);
        let ended = sign(&mut c, &["dave"]);
        ok(&mut c, &["JWT.DESTROY", &ended]);
        ok(&mut c, &["SET", "jwt:{foreign}", "a string"]);
        ok(
            &mut c,
            &["CONFIG", "SET", "jwt.max-sessions-policy", "deny"],
        );
        ok(
            &mut c,
            &[
                "ACL", "SETUSER", "limited", "on", "nopass", "~other:*", "+@all", "-@admin",
            ],
        );
        let mut limited = primary.client();
        ok(&mut limited, &["AUTH", "limited", "x"]);
        let _: i64 = cmd("WAIT").arg(1).arg(5000).query(&mut c).expect("WAIT");
        let r = replica.client();
        sleep_ms(2100); // `expired` expires (default leeway 0)
        Env {
            _primary: primary,
            _replica: replica,
            c,
            r,
            limited,
            live,
            refresh,
            expired,
            early,
            ended,
        }
    }

    /// Makes `command` answer `code`; None when this file has no way to.
    fn reproduce(&mut self, command: &str, code: &str) -> Option<redis::RedisResult<Value>> {
        let words: Vec<&str> = command.split(' ').collect();
        let c = &mut self.c;
        let (live, expired, early, ended) = (&self.live, &self.expired, &self.early, &self.ended);
        // The command's own words, then these arguments.
        let with = |args: &[&str]| -> Vec<String> {
            words.iter().chain(args).map(|s| s.to_string()).collect()
        };
        let on = |conn: &mut Connection, args: Vec<String>| {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            run(conn, &refs)
        };
        // Arguments a JWT.KEY subcommand accepts (the kid need not exist).
        let key_args: &[&str] = match words.get(1).copied() {
            Some("GENERATE") => &["HS256"],
            Some("IMPORT") => &["k2", "HS256", "0123456789abcdef0123456789abcdef"],
            Some("ACTIVATE" | "RETIRE" | "REVOKE" | "EXPORT") => &["k1"],
            Some("SYNC") => &["a-keyring"],
            _ => &[],
        };
        // A token in the place of the command's first argument (UPDATE needs a change too).
        let token = |t: &str| -> Vec<String> {
            let update: &[&str] = if command == "JWT.UPDATE" {
                &["DATA", "1"]
            } else {
                &[]
            };
            with(&[&[t], update].concat())
        };
        Some(match (command, code) {
            // Anything that reaches a key the user may not, or an @admin subcommand.
            (_, "NOPERM") if words[0] == "JWT.KEY" => on(&mut self.limited, with(key_args)),
            ("JWT.SIGN" | "JWT.SESSIONS" | "JWT.COUNT" | "JWT.REVOKE", "NOPERM") => {
                on(&mut self.limited, with(&["alice"]))
            }
            ("JWT.REFRESH", "NOPERM") => on(&mut self.limited, token(&self.refresh)),
            (_, "NOPERM") => on(&mut self.limited, token(live)),
            // Writes on a replica.
            ("JWT.SIGN", "READONLY") => on(&mut self.r, with(&["erin"])),
            (_, "READONLY") if words[0] == "JWT.KEY" => on(&mut self.r, with(key_args)),
            // A key of the module's name that holds another type.
            (_, "WRONGTYPE") => on(c, with(&["foreign"])),
            ("JWT.SIGN", "LIMIT") => {
                ok(c, &["JWT.SIGN", "frank", "LIMIT", "1"]);
                on(c, with(&["frank", "LIMIT", "1"]))
            }
            // Token states.
            (_, "INVALID") if command == "JWT.REFRESH" => on(c, with(&[live])),
            (_, "INVALID") => on(c, token("not.a.token")),
            (_, "EXPIRED") => on(c, token(expired)),
            (_, "NOTBEFORE") => on(c, token(early)),
            ("JWT.REFRESH", "REVOKED") => {
                let (access, refresh) = pair(c, "gina");
                ok(c, &["JWT.DESTROY", &access]);
                on(c, with(&[&refresh]))
            }
            (_, "REVOKED") => on(c, token(ended)),
            // Two generations back: the grace for the immediate predecessor does not apply.
            ("JWT.REFRESH", "REUSED") => {
                let (_, first) = pair(c, "hank");
                let (_, second): (String, String) =
                    cmd("JWT.REFRESH").arg(&first).query(c).expect("REFRESH");
                ok(c, &["JWT.REFRESH", &second]);
                on(c, with(&[&first]))
            }
            // Arguments.
            ("JWT.KEY SYNC", "ERR") => on(c, with(&["a-keyring"])),
            ("JWT.KEY GENERATE", "ERR") => on(c, with(&["HS257"])),
            ("JWT.KEY IMPORT", "ERR") => on(c, with(&["k2", "HS256", "short"])),
            ("JWT.KEY ROTATE", "ERR") => on(c, with(&["HS257"])),
            ("JWT.KEY CUTOFF" | "JWT.KEY LIST" | "JWT.JWKS", "ERR") => on(c, with(&["extra"])),
            (_, "ERR") if words[0] == "JWT.KEY" => on(c, with(&["no-such-kid"])),
            ("JWT.SIGN" | "JWT.SESSIONS" | "JWT.COUNT", "ERR") => on(c, with(&["ivy", "BOGUS"])),
            ("JWT.REVOKE", "ERR") => on(c, with(&["ivy", "SID", "a", "EXCEPT", "b"])),
            (_, "ERR") => on(c, with(&[live, "BOGUS"])),
            _ => return None,
        })
    }
}

#[test]
fn every_documented_error_code_is_one_the_command_answers() {
    let docs = documented(&commands_md());
    assert!(
        docs.len() >= 20,
        "found the Errors of {} commands",
        docs.len()
    );
    let mut env = Env::new();
    // Every command of the module has its section with its codes.
    let names: Vec<String> = cmd("COMMAND")
        .arg(&["LIST", "FILTERBY", "PATTERN", "jwt.*"])
        .query(&mut env.c)
        .expect("COMMAND LIST");
    for name in names.iter().map(|n| n.to_uppercase().replace('|', " ")) {
        let covered = docs
            .keys()
            .any(|d| *d == name || d.starts_with(&format!("{name} ")));
        assert!(covered, "{name} has no Errors in docs/commands.md");
    }
    let mut wrong = Vec::new();
    for (command, codes) in &docs {
        for code in codes.iter().filter(|c| !CLUSTER_ONLY.contains(&c.as_str())) {
            match env.reproduce(command, code) {
                None => wrong.push(format!("{command} {code}: no reproduction")),
                Some(Ok(v)) => wrong.push(format!("{command} {code}: answered {v:?}")),
                Some(Err(e)) if e.code() != Some(code.as_str()) => {
                    wrong.push(format!("{command} {code}: answered {e}"))
                }
                Some(Err(_)) => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "documented codes not answered:\n{}",
        wrong.join("\n")
    );
}

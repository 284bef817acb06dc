//! The ACL recipes of docs/operations.md, read from the file itself and executed against
//! a real server with the module: every role must succeed at each command its "Can:" line
//! lists and get NOPERM for each one its "NOPERM:" line lists. Recipes tagged
//! `server=7.0` run on servers without module ACL categories (Redis 7.0/7.1),
//! `server=7.2+` on Redis 7.2+ and Valkey, `server=all` on both (REDIS_SERVER picks the
//! binary).
mod common;
use common::*;

#[derive(Debug)]
struct Recipe {
    role: String,
    server: String,
    commands: Vec<Vec<String>>,
    can: Vec<String>,
    noperm: Vec<String>,
}

fn operations_md() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The backticked items of a paragraph (its lines joined until a blank line).
fn items(paragraph: &str) -> Vec<String> {
    paragraph
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Every ```` ```acl role=... server=... ```` block, with the "Can:" and "NOPERM:"
/// paragraphs that follow it (before the next block or heading).
fn recipes(doc: &str) -> Vec<Recipe> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].strip_prefix("```acl") else {
            i += 1;
            continue;
        };
        let attr = |name: &str| {
            info.split_whitespace()
                .find_map(|a| a.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("acl block without {name}=: {}", lines[i]))
                .to_string()
        };
        let (role, server) = (attr("role"), attr("server"));
        assert!(
            ["7.0", "7.2+", "all"].contains(&server.as_str()),
            "{role}: server={server}"
        );
        i += 1;
        let mut commands = vec![];
        while !lines[i].starts_with("```") {
            if !lines[i].trim().is_empty() {
                commands.push(lines[i].split_whitespace().map(String::from).collect());
            }
            i += 1;
        }
        i += 1;
        let (mut can, mut noperm) = (None, None);
        while i < lines.len() && !lines[i].starts_with("```") && !lines[i].starts_with('#') {
            let mut paragraph = String::new();
            let start = lines[i];
            while i < lines.len() && !lines[i].trim().is_empty() {
                paragraph.push_str(lines[i]);
                paragraph.push(' ');
                i += 1;
            }
            if start.starts_with("Can:") {
                assert!(can.is_none(), "{role}: two Can: lines");
                can = Some(items(&paragraph));
            } else if start.starts_with("NOPERM:") {
                assert!(noperm.is_none(), "{role}: two NOPERM: lines");
                noperm = Some(items(&paragraph));
            }
            i += 1;
        }
        out.push(Recipe {
            can: can.unwrap_or_else(|| panic!("{role} ({server}): no Can: line")),
            noperm: noperm.unwrap_or_else(|| panic!("{role} ({server}): no NOPERM: line")),
            role,
            server,
            commands,
        });
    }
    out
}

fn key(c: &mut Connection, args: &[&str]) -> RedisResult<Value> {
    cmd("JWT.KEY").arg(args).query(c)
}

fn generate(admin: &mut Connection, alg: &str) -> String {
    cmd("JWT.KEY")
        .arg("GENERATE")
        .arg(alg)
        .query(admin)
        .unwrap()
}

/// Runs one listed command as `user`, with fresh fixtures made by `admin` (the default
/// user): alice's session "phone" with a refresh token, keys to activate, retire or
/// revoke. Commands that are not JWT commands run as written.
fn run_as(
    admin: &mut Connection,
    user: &mut Connection,
    command: &str,
    n: usize,
) -> RedisResult<Value> {
    let pair: (String, String) = cmd("JWT.SIGN")
        .arg(&["alice", "SID", "phone", "REFRESH"])
        .query(admin)
        .unwrap();
    let (token, refresh) = pair;
    let q = |c: &mut Connection, args: &[&str]| -> RedisResult<Value> {
        cmd(args[0]).arg(&args[1..]).query(c)
    };
    match command {
        "JWT.SIGN" => q(user, &["JWT.SIGN", "alice"]),
        "JWT.VERIFY" => q(user, &["JWT.VERIFY", &token]),
        "JWT.DECODE" => q(user, &["JWT.DECODE", &token]),
        "JWT.TOUCH" => q(user, &["JWT.TOUCH", &token]),
        "JWT.REFRESH" => q(user, &["JWT.REFRESH", &refresh]),
        "JWT.DESTROY" => {
            let r = q(user, &["JWT.DESTROY", &token]);
            if r.is_ok() {
                assert_eq!(r, Ok(Value::Int(1)), "DESTROY ended the session");
            }
            r
        }
        "JWT.SESSIONS" => q(user, &["JWT.SESSIONS", "alice"]),
        "JWT.COUNT" => q(user, &["JWT.COUNT", "alice"]),
        "JWT.REVOKE" => {
            let r = q(user, &["JWT.REVOKE", "alice", "SID", "phone"]);
            if r.is_ok() {
                assert_eq!(r, Ok(Value::Int(1)), "REVOKE ended the session");
            }
            r
        }
        "JWT.JWKS" => q(user, &["JWT.JWKS"]),
        "JWT.KEY LIST" => key(user, &["LIST"]),
        "JWT.KEY GENERATE" => key(user, &["GENERATE", "ES256"]),
        "JWT.KEY ROTATE" => key(user, &["ROTATE"]),
        "JWT.KEY IMPORT" => key(
            user,
            &[
                "IMPORT",
                &format!("imported-{n}"),
                "HS256",
                &format!("a-secret-of-at-least-32-bytes-{n:08}"),
            ],
        ),
        "JWT.KEY ACTIVATE" => {
            let kid = generate(admin, "HS256");
            key(user, &["ACTIVATE", &kid])
        }
        "JWT.KEY RETIRE" => {
            let kid = generate(admin, "HS256");
            key(user, &["RETIRE", &kid])
        }
        "JWT.KEY REVOKE" => {
            let kid = generate(admin, "HS256");
            key(user, &["REVOKE", &kid])
        }
        "JWT.KEY EXPORT" => {
            let kid = info_field(admin, "active_kid");
            key(user, &["EXPORT", &kid])
        }
        "JWT.KEY CUTOFF" => {
            let r = key(user, &["CUTOFF"]);
            // Fixtures made next must be created after the cutoff.
            sleep_ms(3);
            r
        }
        other if other.starts_with("JWT.") => {
            panic!("docs/operations.md lists `{other}`: tests/operations.rs has no case for it")
        }
        other => {
            let args: Vec<&str> = other.split_whitespace().collect();
            q(user, &args)
        }
    }
}

fn check_recipe(s: &Server, admin: &mut Connection, recipe: &Recipe) {
    for command in &recipe.commands {
        assert!(
            command.len() > 2
                && command[0].eq_ignore_ascii_case("ACL")
                && command[1].eq_ignore_ascii_case("SETUSER"),
            "{}: the block holds ACL SETUSER lines only: {command:?}",
            recipe.role
        );
        let r: RedisResult<()> = cmd(&command[0]).arg(&command[1..]).query(admin);
        r.unwrap_or_else(|e| panic!("{}: {command:?}: {e}", recipe.role));
    }
    let setuser = &recipe.commands[0];
    let name = &setuser[2];
    let password = setuser
        .iter()
        .find_map(|a| a.strip_prefix('>'))
        .unwrap_or_else(|| panic!("{}: no >password", recipe.role));
    let mut user = s.client();
    let _: () = cmd("AUTH")
        .arg(name)
        .arg(password)
        .query(&mut user)
        .unwrap();
    for (n, command) in recipe.can.iter().enumerate() {
        let r = run_as(admin, &mut user, command, n);
        assert!(
            r.is_ok(),
            "{} ({}): may `{command}` says docs/operations.md, got {r:?}",
            recipe.role,
            recipe.server
        );
    }
    for (n, command) in recipe.noperm.iter().enumerate() {
        let r = run_as(admin, &mut user, command, 1000 + n);
        let shown = format!("{r:?}");
        assert_eq!(
            code(r),
            "NOPERM",
            "{} ({}): `{command}` is NOPERM says docs/operations.md, got {shown}",
            recipe.role,
            recipe.server
        );
    }
    eprintln!(
        "{} ({}): {} allowed, {} NOPERM",
        recipe.role,
        recipe.server,
        recipe.can.len(),
        recipe.noperm.len()
    );
}

#[test]
fn acl_recipes_of_the_operations_guide() {
    let all = recipes(&operations_md());
    let roles: Vec<&str> = all.iter().map(|r| r.role.as_str()).collect();
    for role in ["app", "verifier", "key-admin"] {
        assert!(
            roles.contains(&role),
            "docs/operations.md has no {role} recipe"
        );
    }
    let s = Server::start();
    let mut admin = s.client();
    let categories = server_has_categories(&mut admin);
    let _: String = cmd("JWT.KEY")
        .arg("GENERATE")
        .arg("ES256")
        .query(&mut admin)
        .unwrap();
    let mut ran = 0;
    for recipe in &all {
        let applies = match recipe.server.as_str() {
            "all" => true,
            "7.2+" => categories,
            _ => !categories,
        };
        if applies {
            check_recipe(&s, &mut admin, recipe);
            ran += 1;
        }
    }
    // Each of the three roles has a recipe for this server.
    for role in ["app", "verifier", "key-admin"] {
        assert!(
            all.iter().any(
                |r| r.role == role && (r.server == "all" || (r.server == "7.2+") == categories)
            ),
            "no {role} recipe for this server"
        );
    }
    assert!(ran >= 3);
}

#[test]
fn the_recipe_parser_reads_every_block() {
    let doc = operations_md();
    let blocks = doc.lines().filter(|l| l.starts_with("```acl")).count();
    let all = recipes(&doc);
    assert_eq!(all.len(), blocks);
    for r in &all {
        assert!(
            !r.commands.is_empty() && !r.can.is_empty() && !r.noperm.is_empty(),
            "{r:?}"
        );
    }
}

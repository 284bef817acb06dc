//! Every command of the module, once: name, handler, flags, arity, routing key, ACL
//! categories, and what COMMAND DOCS shows (summary, complexity, since, arguments).
//! `init` registers this table; a test checks that docs/commands.md documents every
//! command and option in it.

use super::{key, refresh, sign, token, update, user};
use crate::raw_handler;
use crate::redis::command_info::{Arg, ArgKind, Command};

raw_handler!(sign_cmd, "JWT.SIGN", sign::sign);
raw_handler!(verify_cmd, "JWT.VERIFY", token::verify);
raw_handler!(decode_cmd, "JWT.DECODE", token::decode);
raw_handler!(touch_cmd, "JWT.TOUCH", token::touch);
raw_handler!(destroy_cmd, "JWT.DESTROY", token::destroy);
raw_handler!(refresh_cmd, "JWT.REFRESH", refresh::refresh);
raw_handler!(update_cmd, "JWT.UPDATE", update::update);
raw_handler!(sessions_cmd, "JWT.SESSIONS", user::sessions);
raw_handler!(count_cmd, "JWT.COUNT", user::count);
raw_handler!(revoke_cmd, "JWT.REVOKE", user::revoke);
raw_handler!(jwks_cmd, "JWT.JWKS", key::jwks);
raw_handler!(key_generate, "JWT.KEY GENERATE", key::generate);
raw_handler!(key_import, "JWT.KEY IMPORT", key::import);
raw_handler!(key_activate, "JWT.KEY ACTIVATE", key::activate);
raw_handler!(key_rotate, "JWT.KEY ROTATE", key::rotate);
raw_handler!(key_retire, "JWT.KEY RETIRE", key::retire);
raw_handler!(key_revoke, "JWT.KEY REVOKE", key::revoke);
raw_handler!(key_cutoff, "JWT.KEY CUTOFF", key::cutoff);
raw_handler!(key_list, "JWT.KEY LIST", key::list);
raw_handler!(key_export, "JWT.KEY EXPORT", key::export);
raw_handler!(key_sync, "JWT.KEY SYNC", key::sync);

const fn arg(name: &'static str, kind: ArgKind) -> Arg {
    Arg {
        name,
        kind,
        token: None,
        optional: false,
        multiple: false,
        sub: &[],
    }
}

/// `[TOKEN value]`
const fn option(token: &'static str, name: &'static str, kind: ArgKind) -> Arg {
    Arg {
        name,
        kind,
        token: Some(token),
        optional: true,
        multiple: false,
        sub: &[],
    }
}

/// `[TOKEN]`
const fn flag(token: &'static str) -> Arg {
    Arg {
        name: token,
        kind: ArgKind::PureToken,
        token: Some(token),
        optional: true,
        multiple: false,
        sub: &[],
    }
}

const SUBJECT: Arg = arg("sub", ArgKind::Key);
const TOKEN: Arg = arg("token", ArgKind::String);
const KID: Arg = arg("kid", ArgKind::String);
const ALG: Arg = arg("alg", ArgKind::String);
use ArgKind::{Integer, String as Text};

/// Every JWT.KEY subcommand but LIST: `@admin @dangerous`, and `@write` for those that
/// change the keyring (so `-@write` removes them too).
const ADMIN_WRITE: &str = "admin dangerous slow write";
const ADMIN_READ: &str = "admin dangerous slow read";
const TOKEN_COMPLEXITY: &str = "O(log N) where N is the number of sessions of the subject";
const USER_COMPLEXITY: &str = "O(N) where N is the number of sessions of the subject";
const KEYRING_COMPLEXITY: &str = "O(K) where K is the number of keys";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "jwt.sign",
        handler: sign_cmd,
        flags: "write deny-oom",
        arity: -2,
        subject_first: true,
        acl: "write slow",
        summary: "Creates a session and returns its signed token",
        complexity: TOKEN_COMPLEXITY,
        since: "0.1.0",
        args: &[
            SUBJECT,
            option("CLAIMS", "json-object", Text),
            option("DATA", "json", Text),
            option("META", "json", Text),
            option("TTL", "duration", Text),
            option("EXPIRES", "duration", Text),
            option("MAXAGE", "duration", Text),
            option("SID", "sid", Text),
            option("AUD", "aud", Text),
            option("ISS", "iss", Text),
            option("LIMIT", "n", Integer),
            option("KEY", "kid", Text),
            flag("REFRESH"),
            flag("STATELESS"),
        ],
    },
    Command {
        name: "jwt.verify",
        handler: verify_cmd,
        flags: "readonly fast",
        arity: -2,
        subject_first: false,
        acl: "read fast",
        summary: "Verifies a token and its session; returns the payload",
        complexity: "O(1)",
        since: "0.1.0",
        args: &[
            TOKEN,
            flag("WITHDATA"),
            option("AUD", "aud", Text),
            option("ISS", "iss", Text),
        ],
    },
    Command {
        name: "jwt.decode",
        handler: decode_cmd,
        flags: "readonly fast",
        arity: 2,
        subject_first: false,
        acl: "read fast",
        summary: "Decodes a token without verifying it",
        complexity: "O(1)",
        since: "0.1.0",
        args: &[TOKEN],
    },
    Command {
        name: "jwt.touch",
        handler: touch_cmd,
        flags: "write fast",
        arity: -2,
        subject_first: false,
        acl: "write fast",
        summary: "Verifies a token and extends its session's idle life",
        complexity: TOKEN_COMPLEXITY,
        since: "0.1.0",
        args: &[TOKEN, option("TTL", "duration", Text)],
    },
    Command {
        name: "jwt.destroy",
        handler: destroy_cmd,
        flags: "write",
        arity: 2,
        subject_first: false,
        acl: "write slow",
        summary: "Ends the session of a token, access or refresh (logout)",
        complexity: TOKEN_COMPLEXITY,
        since: "0.1.0",
        args: &[TOKEN],
    },
    Command {
        name: "jwt.refresh",
        handler: refresh_cmd,
        flags: "write deny-oom",
        arity: -2,
        subject_first: false,
        acl: "write slow",
        summary: "Rotates a refresh token: a new access/refresh pair, with reuse detection",
        complexity: TOKEN_COMPLEXITY,
        since: "0.1.0",
        args: &[
            arg("refresh_token", Text),
            option("EXPIRES", "duration", Text),
            flag("WITHPAYLOAD"),
        ],
    },
    Command {
        name: "jwt.update",
        handler: update_cmd,
        flags: "write deny-oom",
        arity: -3,
        subject_first: false,
        acl: "write slow",
        summary: "Changes a live session: DATA, claims (a new access token), older tokens",
        complexity: "O(1)",
        since: "0.2.0",
        args: &[
            TOKEN,
            option("DATA", "json", Text),
            option("MERGE", "json-object", Text),
            option("CLAIMS", "json-object", Text),
            flag("SUPERSEDE"),
        ],
    },
    Command {
        name: "jwt.sessions",
        handler: sessions_cmd,
        flags: "readonly",
        arity: -2,
        subject_first: true,
        acl: "read slow",
        summary: "Lists the live sessions of a subject",
        complexity: USER_COMPLEXITY,
        since: "0.1.0",
        args: &[SUBJECT, flag("WITHDATA")],
    },
    Command {
        name: "jwt.count",
        handler: count_cmd,
        flags: "readonly",
        arity: 2,
        subject_first: true,
        acl: "read slow",
        summary: "Counts the live sessions of a subject",
        complexity: USER_COMPLEXITY,
        since: "0.1.0",
        args: &[SUBJECT],
    },
    Command {
        name: "jwt.revoke",
        handler: revoke_cmd,
        flags: "write",
        arity: -2,
        subject_first: true,
        acl: "write slow",
        summary: "Ends all, some, or all but one of a subject's sessions",
        complexity: USER_COMPLEXITY,
        since: "0.1.0",
        args: &[
            SUBJECT,
            Arg {
                name: "which",
                kind: ArgKind::OneOf,
                token: None,
                optional: true,
                multiple: false,
                sub: &[
                    Arg {
                        name: "sid",
                        kind: Text,
                        token: Some("SID"),
                        optional: false,
                        multiple: true,
                        sub: &[],
                    },
                    Arg {
                        optional: false,
                        ..option("EXCEPT", "sid", Text)
                    },
                ],
            },
        ],
    },
    Command {
        name: "jwt.jwks",
        handler: jwks_cmd,
        flags: "readonly fast",
        arity: 1,
        subject_first: false,
        acl: "read fast",
        summary: "The public signing keys as a JSON Web Key Set",
        complexity: KEYRING_COMPLEXITY,
        since: "0.1.0",
        args: &[],
    },
    Command {
        name: "jwt.key|generate",
        handler: key_generate,
        flags: "write deny-oom admin",
        arity: -3,
        subject_first: false,
        acl: ADMIN_WRITE,
        summary: "Generates a key (HS*, ES256/384, EdDSA)",
        complexity: KEYRING_COMPLEXITY,
        since: "0.1.0",
        args: &[ALG, option("KID", "kid", Text)],
    },
    Command {
        name: "jwt.key|import",
        handler: key_import,
        flags: "write deny-oom admin",
        arity: -5,
        subject_first: false,
        acl: ADMIN_WRITE,
        summary: "Imports an HMAC secret or a PEM private key",
        complexity: KEYRING_COMPLEXITY,
        since: "0.1.0",
        args: &[KID, ALG, arg("secret-or-pem", Text), flag("LEGACY")],
    },
    Command {
        name: "jwt.key|activate",
        handler: key_activate,
        flags: "write admin",
        arity: 3,
        subject_first: false,
        acl: ADMIN_WRITE,
        summary: "Makes a key the signing key",
        complexity: KEYRING_COMPLEXITY,
        since: "0.1.0",
        args: &[KID],
    },
    Command {
        name: "jwt.key|rotate",
        handler: key_rotate,
        flags: "write deny-oom admin",
        arity: -2,
        subject_first: false,
        acl: ADMIN_WRITE,
        summary: "A new signing key; the old one retires",
        complexity: KEYRING_COMPLEXITY,
        since: "0.1.0",
        args: &[Arg {
            optional: true,
            ..ALG
        }],
    },
    Command {
        name: "jwt.key|retire",
        handler: key_retire,
        flags: "write admin",
        arity: 3,
        subject_first: false,
        acl: ADMIN_WRITE,
        summary: "Stops a key from signing; it verifies until its tokens end",
        complexity: KEYRING_COMPLEXITY,
        since: "0.1.0",
        args: &[KID],
    },
    Command {
        name: "jwt.key|revoke",
        handler: key_revoke,
        flags: "write admin",
        arity: 3,
        subject_first: false,
        acl: ADMIN_WRITE,
        summary: "Breach response: a key's tokens stop verifying at once",
        complexity: KEYRING_COMPLEXITY,
        since: "0.2.0",
        args: &[KID],
    },
    Command {
        name: "jwt.key|cutoff",
        handler: key_cutoff,
        flags: "write admin",
        arity: 2,
        subject_first: false,
        acl: ADMIN_WRITE,
        summary: "Ends every session of every user at once",
        complexity: "O(K) where K is the number of keys (the keyring is rewritten)",
        since: "0.2.0",
        args: &[],
    },
    Command {
        name: "jwt.key|list",
        handler: key_list,
        flags: "readonly fast",
        arity: 2,
        subject_first: false,
        acl: "read fast",
        summary: "Lists the keys (never their material)",
        complexity: KEYRING_COMPLEXITY,
        since: "0.1.0",
        args: &[],
    },
    Command {
        name: "jwt.key|export",
        handler: key_export,
        flags: "readonly admin",
        arity: 3,
        subject_first: false,
        acl: ADMIN_READ,
        summary: "Exports a key's material for IMPORT elsewhere",
        complexity: "O(1)",
        since: "0.1.0",
        args: &[KID],
    },
    Command {
        name: "jwt.key|sync",
        handler: key_sync,
        flags: "write admin",
        arity: 3,
        subject_first: false,
        acl: ADMIN_WRITE,
        summary: "Replaces the keyring (replication and AOF only)",
        complexity: KEYRING_COMPLEXITY,
        since: "0.1.0",
        args: &[arg("keyring-blob", Text)],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference documents every command and every option of the table.
    #[test]
    fn docs_describe_every_command_and_option() {
        let doc = include_str!("../../docs/commands.md");
        for cmd in COMMANDS {
            let title = cmd.name.replace('|', " ").to_uppercase();
            let heading = format!("### {title}\n");
            let at = doc
                .find(&heading)
                .unwrap_or_else(|| panic!("docs/commands.md has no '### {title}'"));
            let section = &doc[at + heading.len()..];
            let section = &section[..section.find("\n### ").unwrap_or(section.len())];
            // The facts line under the syntax: flags, ACL categories, complexity, since.
            let acl: Vec<String> = cmd.acl.split(' ').map(|c| format!("@{c}")).collect();
            let facts = format!(
                "**Flags** {} · **ACL** @jwt {} · **Complexity** {} · **Since** {}",
                cmd.flags,
                acl.join(" "),
                cmd.complexity,
                cmd.since
            );
            assert!(
                section.contains(&facts),
                "docs/commands.md, {title}: the facts line should read: {facts}"
            );
            for part in ["**Reply** ", "**Errors** ", "**Arguments**"] {
                assert!(
                    section.contains(part),
                    "docs/commands.md, {title}: no {part}line"
                );
            }
            // The arguments table has a row for every argument: `TOKEN` for an option,
            // `<name>` for a positional one.
            let rows = section.to_lowercase();
            let mut names = Vec::new();
            collect_args(cmd.args, &mut names);
            for name in names {
                let row = format!("\n| `{}` |", name.to_lowercase());
                assert!(
                    rows.contains(&row),
                    "docs/commands.md, {title}: no arguments-table row for {name}"
                );
            }
            if cmd.args.is_empty() {
                assert!(section.contains("**Arguments** none."), "{title}");
            }
        }
    }

    /// Each argument as its table row names it: the token of an option, else `<name>`.
    fn collect_args(args: &'static [Arg], out: &mut Vec<String>) {
        for a in args {
            match (a.token, a.kind) {
                (Some(t), _) => out.push(t.to_string()),
                (None, ArgKind::OneOf) => {}
                (None, _) => out.push(format!("<{}>", a.name)),
            }
            collect_args(a.sub, out);
        }
    }

    #[test]
    fn names_are_unique_and_lower_case() {
        let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        assert!(names.iter().all(|n| *n == n.to_lowercase()));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len());
    }
}

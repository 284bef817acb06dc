//! The redis-cli examples of README.md and docs/commands.md, run against a real server.
//!
//! Each file is read at test time and gets one fresh server (module defaults). Every
//! fenced block that holds a prompt line (`127.0.0.1:6379> CMD` or `> CMD`) is an
//! example: its commands run top to bottom, blocks in file order, state carrying over
//! (a `$ ...` line before the first prompt is ignored). The lines after a command, up
//! to the next prompt, are its reply, compared with the server's reply formatted as
//! redis-cli (RESP2, interactive) prints it: `"strings"` quoted and escaped, status
//! replies bare, `(integer) n`, `(nil)`, `(error) CODE text`, `(empty array)`, arrays
//! numbered `1) ...` with nested arrays indented as redis-cli does.
//!
//! What the server makes up anew on each run is compared by *identity*, not by text:
//!
//! - **Tokens** (`eyJ...` JWTs, `jwtr_...` refresh tokens), **UUIDs** and **kids** (the
//!   kids the keyring has held, learned with `JWT.KEY LIST` after each command) match
//!   any value the server returns at that place, and the doc's spelling is bound to that
//!   value for the rest of the file: the same spelling later must be the same value, a
//!   new spelling a new value. A doc may write a value in full or shortened as its first
//!   characters, `...` and its last characters (`eyJhbGciOi...e0`, `c029c7e8-...`); the
//!   shortened and full spellings of one value agree on those characters, which is how
//!   `eyJhbGciOi...e0` names the token shown in full earlier (a shortened token with no
//!   last characters, `eyJhbGciOi...`, matches any token and names none). For JWTs the first 20
//!   characters written (the `{"alg":..."` part) and for refresh tokens the first 7 must
//!   also be the real ones.
//! - **In commands**, such a spelling is replaced by the value it is bound to (so the
//!   docs pass `eyJhbGciOi...e0` to VERIFY); characters written right after a known
//!   spelling are kept (`eyJhbGciOi...e0x` is that token with an `x` appended).
//! - **Numbers**: 10 digits or more (times in seconds or ms, random `sinc`/`sver`) match
//!   any number of the same length (any length from 14 digits); from 1000 to 10 digits
//!   (TTLs in ms) they match within 1%; smaller ones exactly.
//! - **Elisions**: `...` inside a line matches any text up to the end of that line; a
//!   line that is only `...` matches any number of whole lines.
//!
//! Everything else must be equal, so a reply that drifts from the docs fails the test,
//! with the file, line, command, shown and actual replies.

mod common;

use common::Server;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;

// ---- the docs ---------------------------------------------------------------------

struct Step {
    line: usize,
    command: String,
    reply: Vec<String>,
}

fn prompt(line: &str) -> Option<&str> {
    line.strip_prefix("127.0.0.1:6379> ")
        .or_else(|| line.strip_prefix("> "))
}

/// Every command of every example block, in file order.
fn steps(doc: &str) -> Vec<Step> {
    let mut out = Vec::new();
    let mut block: Option<Vec<(usize, &str)>> = None;
    for (i, line) in doc.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            match block.take() {
                None => block = Some(Vec::new()),
                Some(lines) => {
                    let mut current: Option<Step> = None;
                    for (n, l) in lines {
                        if let Some(c) = prompt(l) {
                            out.extend(current.take());
                            current = Some(Step {
                                line: n,
                                command: c.to_string(),
                                reply: Vec::new(),
                            });
                        } else if let Some(step) = current.as_mut() {
                            step.reply.push(l.to_string());
                        }
                    }
                    out.extend(current);
                }
            }
        } else if let Some(lines) = block.as_mut() {
            lines.push((i + 1, line));
        }
    }
    out
}

/// redis-cli's argument splitting (sdssplitargs): `"..."` with escapes, `'...'`.
fn split_args(line: &str) -> Vec<Vec<u8>> {
    let b = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() {
            return args;
        }
        let mut cur = Vec::new();
        let (mut dq, mut sq) = (false, false);
        loop {
            let c = b.get(i).copied();
            if dq {
                match c {
                    None => panic!("unbalanced quotes in `{line}`"),
                    Some(b'\\') if b.get(i + 1) == Some(&b'x') && i + 3 < b.len() => {
                        let h = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                        cur.push(u8::from_str_radix(h, 16).expect("\\xHH"));
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        i += 1;
                        cur.push(match b[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            o => o,
                        });
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(o) => cur.push(o),
                }
            } else if sq {
                match c {
                    None => panic!("unbalanced quotes in `{line}`"),
                    Some(b'\\') if b.get(i + 1) == Some(&b'\'') => {
                        cur.push(b'\'');
                        i += 1;
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(o) => cur.push(o),
                }
            } else {
                match c {
                    None => break,
                    Some(w) if w.is_ascii_whitespace() => break,
                    Some(b'"') => dq = true,
                    Some(b'\'') => sq = true,
                    Some(o) => cur.push(o),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

// ---- RESP2 and redis-cli's formatting ---------------------------------------------

#[derive(Debug)]
enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
}

struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let w = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        w.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        Conn {
            r: BufReader::new(w.try_clone().unwrap()),
            w,
        }
    }

    fn call(&mut self, args: &[Vec<u8>]) -> Reply {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend(format!("${}\r\n", a.len()).bytes());
            out.extend(a);
            out.extend(b"\r\n");
        }
        self.w.write_all(&out).expect("send");
        self.read()
    }

    fn read(&mut self) -> Reply {
        let mut line = String::new();
        self.r.read_line(&mut line).expect("reply");
        let line = line.trim_end_matches("\r\n");
        let (t, rest) = line.split_at(1);
        match t {
            "+" => Reply::Status(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(rest.parse().unwrap()),
            "$" | "*" if rest == "-1" => Reply::Nil,
            "$" => {
                let mut buf = vec![0; rest.parse::<usize>().unwrap() + 2];
                std::io::Read::read_exact(&mut self.r, &mut buf).expect("bulk");
                buf.truncate(buf.len() - 2);
                Reply::Bulk(buf)
            }
            "*" => Reply::Array(
                (0..rest.parse::<usize>().unwrap())
                    .map(|_| self.read())
                    .collect(),
            ),
            _ => panic!("unexpected reply line {line:?}"),
        }
    }
}

/// As redis-cli prints a reply in interactive mode (cliFormatReplyTTY).
fn format_reply(r: &Reply, prefix: &str) -> String {
    match r {
        Reply::Status(s) => format!("{s}\n"),
        Reply::Error(s) => format!("(error) {s}\n"),
        Reply::Int(n) => format!("(integer) {n}\n"),
        Reply::Nil => "(nil)\n".into(),
        Reply::Bulk(b) => {
            let mut s = String::from("\"");
            for &c in b {
                match c {
                    b'\\' => s.push_str("\\\\"),
                    b'"' => s.push_str("\\\""),
                    b'\n' => s.push_str("\\n"),
                    b'\r' => s.push_str("\\r"),
                    b'\t' => s.push_str("\\t"),
                    7 => s.push_str("\\a"),
                    8 => s.push_str("\\b"),
                    0x20..=0x7e => s.push(c as char),
                    _ => s.push_str(&format!("\\x{c:02x}")),
                }
            }
            s + "\"\n"
        }
        Reply::Array(items) if items.is_empty() => "(empty array)\n".into(),
        Reply::Array(items) => {
            let width = items.len().to_string().len();
            let child = format!("{prefix}{}", " ".repeat(width + 2));
            let mut out = String::new();
            for (i, item) in items.iter().enumerate() {
                let p = if i == 0 { "" } else { prefix };
                out.push_str(&format!("{p}{:>width$}) ", i + 1));
                out.push_str(&format_reply(item, &child));
            }
            out
        }
    }
}

// ---- values made up by the server: spellings and bindings ---------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Jwt,
    Refresh,
    Uuid,
    Kid,
}

/// How a doc writes a value: in full, or `prefix...tail`.
#[derive(Clone, PartialEq, Debug)]
struct Spelling {
    text: String,
    prefix: String,
    tail: String,
}

impl Spelling {
    fn short(&self) -> bool {
        self.text != self.prefix
    }

    /// A shortened token without a tail names no token in particular.
    fn anonymous(&self, kind: Kind) -> bool {
        matches!(kind, Kind::Jwt | Kind::Refresh) && self.short() && self.tail.is_empty()
    }

    fn compatible(&self, o: &Spelling) -> bool {
        (self.prefix.starts_with(&o.prefix) || o.prefix.starts_with(&self.prefix))
            && (self.tail.ends_with(&o.tail) || o.tail.ends_with(&self.tail))
    }
}

#[derive(Clone, Debug)]
struct Entry {
    kind: Kind,
    spellings: Vec<Spelling>,
    actual: String,
}

fn word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn boundary(t: &[u8], i: usize) -> bool {
    i == 0 || !word(t[i - 1])
}

fn run(t: &[u8], i: usize, f: impl Fn(u8) -> bool) -> usize {
    t[i..].iter().take_while(|&&c| f(c)).count()
}

fn is_uuid(t: &[u8]) -> bool {
    t.len() == 36
        && t.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A value the server made up, starting at `i` of a real reply: its kind and length.
fn detect(t: &[u8], i: usize, kids: &[String]) -> Option<(Kind, usize)> {
    if !boundary(t, i) {
        return None;
    }
    let rest = &t[i..];
    if rest.starts_with(b"eyJ") {
        let n = run(t, i, |c| word(c) || c == b'.');
        if rest[..n].iter().filter(|&&c| c == b'.').count() == 2 {
            return Some((Kind::Jwt, n));
        }
    }
    if rest.starts_with(b"jwtr_") {
        return Some((Kind::Refresh, run(t, i, word)));
    }
    if rest.len() >= 36 && is_uuid(&rest[..36]) && rest.get(36).is_none_or(|&c| !word(c)) {
        return Some((Kind::Uuid, 36));
    }
    let n = run(t, i, word);
    kids.iter()
        .any(|k| k.as_bytes() == &rest[..n])
        .then_some((Kind::Kid, n))
}

/// The doc's spelling of a value of `kind` at `i`, and its length.
fn spelling(t: &[u8], i: usize, kind: Kind) -> Option<(Spelling, usize)> {
    if !boundary(t, i) {
        return None;
    }
    let chars: fn(u8) -> bool = match kind {
        Kind::Jwt | Kind::Refresh => |c| word(c) || c == b'.',
        Kind::Uuid => |c| c.is_ascii_hexdigit() || c == b'-' || c == b'.',
        Kind::Kid => word,
    };
    let n = run(t, i, chars);
    let s = std::str::from_utf8(&t[i..i + n]).ok()?;
    let marker = match kind {
        Kind::Jwt => "eyJ",
        Kind::Refresh => "jwtr_",
        _ => "",
    };
    if n == 0 || !s.starts_with(marker) {
        return None;
    }
    if let Some((prefix, tail)) = s.split_once("...") {
        let tail = tail.split('.').next().unwrap();
        let len = prefix.len() + 3 + tail.len();
        return Some((
            Spelling {
                text: s[..len].into(),
                prefix: prefix.into(),
                tail: tail.into(),
            },
            len,
        ));
    }
    let s = s.trim_end_matches('.');
    if kind == Kind::Jwt && s.matches('.').count() != 2 {
        return None;
    }
    Some((
        Spelling {
            text: s.into(),
            prefix: s.into(),
            tail: s.into(),
        },
        s.len(),
    ))
}

/// Binds `sp` to `actual`, or None when that contradicts an earlier binding.
fn bind(entries: &mut Vec<Entry>, kind: Kind, sp: Spelling, actual: &str) -> Option<()> {
    let literal = match kind {
        Kind::Jwt => 20,
        Kind::Refresh => 7,
        _ => 0,
    };
    let checked = &sp.prefix[..sp.prefix.len().min(literal)];
    if !actual.starts_with(checked) {
        return None;
    }
    if sp.anonymous(kind) {
        return Some(()); // `eyJhbGciOi...`: some token, never named again
    }
    if let Some(e) = entries
        .iter_mut()
        .find(|e| e.kind == kind && e.actual == actual)
    {
        if !e.spellings.iter().any(|s| s.compatible(&sp)) {
            return None; // the doc shows a new value, the server repeated one
        }
        if !e.spellings.contains(&sp) {
            e.spellings.push(sp);
        }
        return Some(());
    }
    if entries
        .iter()
        .any(|e| e.kind == kind && e.spellings.iter().any(|s| s.compatible(&sp)))
    {
        return None; // the doc shows an earlier value, the server made a new one
    }
    entries.push(Entry {
        kind,
        spellings: vec![sp],
        actual: actual.into(),
    });
    Some(())
}

fn resolve<'a>(entries: &'a [Entry], kind: Kind, sp: &Spelling) -> Vec<&'a Entry> {
    entries
        .iter()
        .filter(|e| e.kind == kind && e.spellings.iter().any(|s| s.compatible(sp)))
        .collect()
}

/// The command's arguments with every spelling of a known value replaced by the value.
fn substitute(arg: &[u8], entries: &[Entry]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    'scan: while i < arg.len() {
        for kind in [Kind::Jwt, Kind::Refresh, Kind::Uuid, Kind::Kid] {
            let Some((sp, n)) = spelling(arg, i, kind) else {
                continue;
            };
            if kind == Kind::Uuid && !(sp.prefix.len() >= 9 && sp.prefix.as_bytes()[8] == b'-') {
                continue;
            }
            // The longest spelling that names a known value; what follows is kept.
            for cut in (1..=n).rev() {
                let Some((sp, len)) = spelling(&arg[..i + cut], i, kind) else {
                    continue;
                };
                if len != cut || sp.anonymous(kind) || (cut < n && sp.short() && sp.tail.len() < 2)
                {
                    continue;
                }
                match resolve(entries, kind, &sp)[..] {
                    [e] => {
                        out.extend(e.actual.as_bytes());
                        i += cut;
                        continue 'scan;
                    }
                    [] => {}
                    _ => return Err(format!("{} names more than one earlier value", sp.text)),
                }
                if kind == Kind::Kid {
                    break;
                }
            }
            if kind != Kind::Kid {
                return Err(format!(
                    "{} names no value shown in an earlier reply",
                    sp.text
                ));
            }
        }
        let n = run(arg, i, word).max(1);
        out.extend(&arg[i..i + n]);
        i += n;
    }
    Ok(out)
}

// ---- matching a shown reply against a real one -------------------------------------

struct Matcher<'a> {
    exp: &'a [u8],
    act: &'a [u8],
    kids: &'a [String],
}

fn digits(t: &[u8], i: usize) -> usize {
    if i > 0 && (t[i - 1].is_ascii_alphanumeric() || t[i - 1] == b'_') {
        return 0;
    }
    let n = run(t, i, |c| c.is_ascii_digit());
    if t.get(i + n)
        .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
    {
        return 0;
    }
    n
}

fn numbers_match(e: &str, a: &str) -> bool {
    if e == a {
        return true;
    }
    if e.len() >= 10 && a.len() >= 10 {
        return e.len() == a.len() || (e.len() >= 14 && a.len() >= 14);
    }
    let (e, a): (f64, f64) = (e.parse().unwrap(), a.parse().unwrap());
    e >= 1000.0 && (a - e).abs() <= e / 100.0
}

impl Matcher<'_> {
    fn line_end(t: &[u8], i: usize) -> usize {
        i + t[i..].iter().take_while(|&&c| c != b'\n').count()
    }

    fn go(&self, mut e: usize, mut a: usize, mut entries: Vec<Entry>) -> Option<Vec<Entry>> {
        let (exp, act) = (self.exp, self.act);
        loop {
            if e == exp.len() {
                return (a == act.len()).then_some(entries);
            }
            // A line that is only `...`: any number of whole lines.
            if e == 0 || exp[e - 1] == b'\n' {
                let end = Self::line_end(exp, e);
                if std::str::from_utf8(&exp[e..end]).unwrap().trim() == "..." {
                    let next = (end + 1).min(exp.len());
                    let mut starts = vec![a];
                    starts.extend((a..act.len()).filter(|&i| act[i] == b'\n').map(|i| i + 1));
                    starts.push(act.len());
                    return starts
                        .into_iter()
                        .find_map(|s| self.go(next, s, entries.clone()));
                }
            }
            if exp[e..].starts_with(b"...") {
                return (a..=Self::line_end(act, a))
                    .find_map(|s| self.go(e + 3, s, entries.clone()));
            }
            if let Some((kind, n)) = detect(act, a, self.kids) {
                let (sp, m) = spelling(exp, e, kind)?;
                bind(
                    &mut entries,
                    kind,
                    sp,
                    std::str::from_utf8(&act[a..a + n]).unwrap(),
                )?;
                e += m;
                a += n;
                continue;
            }
            let n = digits(act, a);
            if n > 0 {
                let m = digits(exp, e);
                let s =
                    |t: &[u8], i: usize, n: usize| String::from_utf8(t[i..i + n].to_vec()).unwrap();
                if m == 0 || !numbers_match(&s(exp, e, m), &s(act, a, n)) {
                    return None;
                }
                e += m;
                a += n;
                continue;
            }
            if a < act.len() && exp[e] == act[a] {
                e += 1;
                a += 1;
                continue;
            }
            return None;
        }
    }
}

/// The bindings after `shown` matched `actual`, or None.
fn matches(shown: &str, actual: &str, kids: &[String], entries: &[Entry]) -> Option<Vec<Entry>> {
    Matcher {
        exp: shown.as_bytes(),
        act: actual.as_bytes(),
        kids,
    }
    .go(0, 0, entries.to_vec())
}

// ---- running a file ----------------------------------------------------------------

fn known_kids(c: &mut Conn, kids: &mut Vec<String>) {
    let text = |r: &Reply| match r {
        Reply::Status(s) => s.clone(),
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    if let Reply::Array(keys) = c.call(&[b"JWT.KEY".to_vec(), b"LIST".to_vec()]) {
        for key in keys {
            if let Reply::Array(fields) = key {
                for pair in fields.chunks(2) {
                    if text(&pair[0]) == "kid" && !kids.contains(&text(&pair[1])) {
                        kids.push(text(&pair[1]));
                    }
                }
            }
        }
    }
}

fn run_file(rel: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let doc = std::fs::read_to_string(&path).expect("the doc");
    let steps = steps(&doc);
    assert!(!steps.is_empty(), "{rel} has no redis-cli examples");
    let server = Server::start_with(&[], &[]);
    let mut c = Conn::open(server.port);
    let mut side = Conn::open(server.port);
    let mut entries: Vec<Entry> = Vec::new();
    let mut kids: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    for step in &steps {
        let args: Result<Vec<_>, _> = split_args(&step.command)
            .iter()
            .map(|a| substitute(a, &entries))
            .collect();
        let args = match args {
            Ok(a) => a,
            Err(why) => {
                failures.push(format!("{rel}:{}: `{}`: {why}", step.line, step.command));
                continue;
            }
        };
        let reply = c.call(&args);
        known_kids(&mut side, &mut kids);
        let actual = format_reply(&reply, "");
        let actual = actual.trim_end_matches('\n');
        let shown = step.reply.join("\n");
        match matches(&shown, actual, &kids, &entries) {
            Some(e) => entries = e,
            None => failures.push(format!(
                "{rel}:{}: `{}`\n--- shown:\n{shown}\n--- actual:\n{actual}",
                step.line, step.command
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples in {rel} do not match the server:\n\n{}",
        failures.len(),
        steps.len(),
        failures.join("\n\n")
    );
}

#[test]
fn readme_examples() {
    run_file("README.md");
}

#[test]
fn commands_md_examples() {
    run_file("docs/commands.md");
}

// ---- the matcher itself --------------------------------------------------------------

const T1: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhIn0.AAAAe0";
const T2: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiIn0.BBBBk9";

#[test]
fn matcher_binds_tokens_and_catches_drift() {
    let none: &[String] = &[];
    // A token shown in full, then shortened: the same one.
    let e = matches(&format!("\"{T1}\""), &format!("\"{T2}\""), none, &[]).unwrap();
    assert!(matches("\"eyJhbGciOi...e0\"", &format!("\"{T2}\""), none, &e).is_some());
    // A new spelling for the same token, or an old one for a new token, fails.
    assert!(matches("\"eyJhbGciOi...Zz\"", &format!("\"{T2}\""), none, &e).is_none());
    assert!(matches("\"eyJhbGciOi...e0\"", &format!("\"{T1}\""), none, &e).is_none());
    // The alg part of the prefix is checked.
    assert!(matches(
        "\"eyJhbGciOiJFUzI1NiIs...e0\"",
        &format!("\"{T2}\""),
        none,
        &[]
    )
    .is_none());
    // Commands get the real token back, with what follows the spelling kept.
    assert_eq!(
        substitute(b"eyJhbGciOi...e0x", &e).unwrap(),
        format!("{T2}x").into_bytes()
    );
    assert!(substitute(b"eyJhbGciOi...Qq", &e).is_err());
    assert!(substitute(b"eyJhbGciOi...", &e).is_err());
    // A token shown without its last characters matches any token and names none.
    let e = matches("\"eyJhbGciOi...\"", &format!("\"{T1}\""), none, &e).unwrap();
    assert!(matches("\"eyJhbGciOi...\"", &format!("\"{T1}\""), none, &e).is_some());
}

#[test]
fn matcher_numbers_elisions_and_text() {
    let none: &[String] = &[];
    assert!(matches("(integer) 3", "(integer) 3", none, &[]).is_some());
    assert!(matches("(integer) 3", "(integer) 0", none, &[]).is_none());
    assert!(matches("(integer) 7199813", "(integer) 7199990", none, &[]).is_some());
    assert!(matches("(integer) 7199813", "(integer) 899556", none, &[]).is_none());
    assert!(matches(
        "(integer) 1795435599808",
        "(integer) 1795639998187",
        none,
        &[]
    )
    .is_some());
    assert!(matches("(integer) 1795435599808", "(integer) 1795639998", none, &[]).is_none());
    assert!(matches(
        "\"{\\\"a\\\":1,...}\"",
        "\"{\\\"a\\\":1,\\\"b\\\":2}\"",
        none,
        &[]
    )
    .is_some());
    assert!(matches(
        "\"{\\\"a\\\":2,...}\"",
        "\"{\\\"a\\\":1,\\\"b\\\":2}\"",
        none,
        &[]
    )
    .is_none());
    assert!(matches("1) \"x\"\n...", "1) \"x\"\n2) \"y\"\n3) \"z\"", none, &[]).is_some());
    assert!(matches(
        "(error) INVALID bad signature",
        "(error) INVALID bad base64url",
        none,
        &[]
    )
    .is_none());
    let kids = ["V8NClTzqph78".to_string()];
    let e = matches("\"P280VMOUXPn5\"", "\"V8NClTzqph78\"", &kids, &[]).unwrap();
    assert!(matches(
        "\"kid\":\"P280VMOUXPn5\"",
        "\"kid\":\"V8NClTzqph78\"",
        &kids,
        &e
    )
    .is_some());
    assert!(matches(
        "\"kid\":\"Xb80VMOUXPn5\"",
        "\"kid\":\"V8NClTzqph78\"",
        &kids,
        &e
    )
    .is_none());
}

#[test]
fn redis_cli_formatting() {
    let r = Reply::Array(vec![
        Reply::Array(
            (0..10)
                .map(|i| {
                    if i % 2 == 0 {
                        Reply::Status("sid".into())
                    } else {
                        Reply::Int(i)
                    }
                })
                .collect(),
        ),
        Reply::Array(vec![Reply::Bulk(b"a\"b".to_vec()), Reply::Nil]),
        Reply::Error("INVALID bad signature".into()),
    ]);
    let text = format_reply(&r, "");
    assert!(
        text.starts_with("1)  1) sid\n    2) (integer) 1\n    3) sid\n"),
        "{text}"
    );
    assert!(
        text.contains("   10) (integer) 9\n2) 1) \"a\\\"b\"\n   2) (nil)\n3) (error) INVALID"),
        "{text}"
    );
    assert_eq!(
        split_args(r#"JWT.SIGN alice CLAIMS '{"role":"admin"}' "a\"b""#),
        vec![
            b"JWT.SIGN".to_vec(),
            b"alice".to_vec(),
            b"CLAIMS".to_vec(),
            br#"{"role":"admin"}"#.to_vec(),
            b"a\"b".to_vec()
        ]
    );
}

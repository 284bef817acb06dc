//! jwt-loadgen: pipelined requests over many connections, each request with its own
//! argument (a distinct token of a distinct user, or a distinct key), so a benchmark
//! can measure what redis-benchmark cannot: VERIFY and TOUCH on the verify cache's miss
//! path. Standard library only; RESP written and read by hand.
//!
//! Usage: jwt-loadgen <port> <mode> <n> <connections> <pipeline> <seconds>
//!   mode: setup-get | setup-sessions | get | set | verify | touch | verify-repeat
//!   setup-* create n keys / n sessions (one per user) and write the tokens to stdout.
//!   The load modes read the tokens (one per line) from stdin when they need them and
//!   print "<ops per second>".

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one reply; returns whether it was an error. Handles the flat replies these
/// commands give (simple, error, integer, bulk, null) and arrays of them.
fn read_reply(r: &mut BufReader<TcpStream>) -> std::io::Result<bool> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    let head = line.first().copied().unwrap_or(b'-');
    let num = || -> i64 {
        std::str::from_utf8(&line[1..line.len().saturating_sub(2)])
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    };
    match head {
        b'$' => {
            let n = num();
            if n >= 0 {
                let mut body = vec![0u8; n as usize + 2];
                r.read_exact(&mut body)?;
            }
            Ok(false)
        }
        b'*' => {
            let mut err = false;
            for _ in 0..num().max(0) {
                err |= read_reply(r)?;
            }
            Ok(err)
        }
        b'-' => Ok(true),
        _ => Ok(false),
    }
}

fn connect(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).ok();
    let r = BufReader::with_capacity(1 << 16, s.try_clone().expect("clone"));
    (s, r)
}

fn setup(port: u16, mode: &str, n: usize) {
    let (mut s, mut r) = connect(port);
    let out = std::io::stdout();
    let mut out = out.lock();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut batch = Vec::new();
        for i in chunk {
            let name = format!("lg{i}");
            batch.extend(match mode {
                "setup-get" => command(&[b"SET", name.as_bytes(), b"xxx"]),
                _ => command(&[b"JWT.SIGN", name.as_bytes(), b"TTL", b"1h"]),
            });
        }
        s.write_all(&batch).expect("write");
        for _ in chunk {
            let mut line = Vec::new();
            r.read_until(b'\n', &mut line).expect("read");
            if line.first() == Some(&b'$') {
                let mut tok = Vec::new();
                r.read_until(b'\n', &mut tok).expect("read");
                out.write_all(&tok[..tok.len() - 2]).ok();
                out.write_all(b"\n").ok();
            }
        }
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 7 {
        eprintln!("usage: jwt-loadgen <port> <mode> <n> <connections> <pipeline> <seconds>");
        std::process::exit(2);
    }
    let port: u16 = a[1].parse().expect("port");
    let mode = a[2].as_str();
    let n: usize = a[3].parse().expect("n");
    let (conns, pipeline, seconds): (usize, usize, u64) =
        (a[4].parse().expect("connections"), a[5].parse().expect("pipeline"), a[6].parse().expect("seconds"));
    if mode.starts_with("setup") {
        return setup(port, mode, n);
    }
    let tokens: Arc<Vec<String>> = Arc::new(if matches!(mode, "verify" | "touch" | "verify-repeat") {
        std::io::stdin().lock().lines().map_while(Result::ok).filter(|l| !l.is_empty()).collect()
    } else {
        (0..n).map(|i| format!("lg{i}")).collect()
    });
    assert!(!tokens.is_empty(), "no tokens on stdin");
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    // Two threads, each driving half of the connections, every connection with a
    // full pipeline in flight (as redis-benchmark keeps its clients busy).
    let threads = 2.min(conns).max(1);
    let mut handles = Vec::new();
    for t in 0..threads {
        let (tokens, stop, done, errors) = (tokens.clone(), stop.clone(), done.clone(), errors.clone());
        let mode = mode.to_string();
        let mine = conns / threads + usize::from(t < conns % threads);
        handles.push(std::thread::spawn(move || {
            let mut links: Vec<_> = (0..mine).map(|_| connect(port)).collect();
            // Each connection walks the token list from its own offset with a large
            // stride, so consecutive requests name different tokens.
            let mut cursor: Vec<usize> = (0..mine).map(|i| (t * 7919 + i * 104_729) % tokens.len()).collect();
            while !stop.load(Ordering::Relaxed) {
                for (i, (s, _)) in links.iter_mut().enumerate() {
                    let mut batch = Vec::with_capacity(pipeline * 400);
                    for _ in 0..pipeline {
                        let tok = if mode == "verify-repeat" { &tokens[0] } else { &tokens[cursor[i]] };
                        cursor[i] = (cursor[i] + 1) % tokens.len();
                        batch.extend(match mode.as_str() {
                            "get" => command(&[b"GET", tok.as_bytes()]),
                            "set" => command(&[b"SET", tok.as_bytes(), b"xxx"]),
                            "touch" => command(&[b"JWT.TOUCH", tok.as_bytes()]),
                            _ => command(&[b"JWT.VERIFY", tok.as_bytes()]),
                        });
                    }
                    s.write_all(&batch).expect("write");
                }
                for (_, r) in links.iter_mut() {
                    for _ in 0..pipeline {
                        if read_reply(r).expect("read") {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                done.fetch_add((mine * pipeline) as u64, Ordering::Relaxed);
            }
        }));
    }
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for h in handles {
        h.join().ok();
    }
    let ops = done.load(Ordering::Relaxed) as f64 / elapsed;
    let errs = errors.load(Ordering::Relaxed);
    if errs > 0 {
        eprintln!("{errs} error replies");
    }
    println!("{ops:.0}");
}

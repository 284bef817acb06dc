//! jwt-loadgen: pipelined requests over many connections, each request with its own
//! argument (a distinct token of a distinct user, or a distinct key), so a benchmark
//! can measure what redis-benchmark cannot: VERIFY and TOUCH on the verify cache's miss
//! path. Standard library only; RESP written and read by hand.
//!
//! Usage: jwt-loadgen <port> <mode> <n> <connections> <pipeline> <seconds>
//!   mode: setup-get | setup-sessions | setup-refresh | get | set | verify | touch |
//!         verify-repeat | refresh | destroy | sign | latency
//!   setup-* create n keys / n sessions (one per user) and write the tokens to stdout
//!   (setup-refresh: "<access> <refresh>" per line). The load modes read the tokens from
//!   stdin when they need them and print "<ops per second>". refresh and destroy use
//!   each token once (a refresh token rotates, a destroyed session is gone): they stop
//!   when the tokens run out, so give them more tokens than `seconds` can use.
//!   sign: JWT.SIGN of n distinct users. latency: one connection, one GET at a time for
//!   `seconds`; prints "<p50 ms> <p99 ms> <mean ms>" (what another client of the server waits).

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
                "setup-refresh" => command(&[b"JWT.SIGN", name.as_bytes(), b"TTL", b"1h", b"REFRESH"]),
                _ => command(&[b"JWT.SIGN", name.as_bytes(), b"TTL", b"1h"]),
            });
        }
        s.write_all(&batch).expect("write");
        for _ in chunk {
            let mut line = Vec::new();
            r.read_until(b'\n', &mut line).expect("read");
            // A token ($) or a pair of them (*2), each a bulk string.
            let strings = match line.first() {
                Some(b'$') => 1,
                Some(b'*') => {
                    line.clear();
                    r.read_until(b'\n', &mut line).expect("read");
                    2
                }
                _ => 0,
            };
            for i in 0..strings {
                if i > 0 {
                    r.read_until(b'\n', &mut Vec::new()).expect("read");
                }
                let mut tok = Vec::new();
                r.read_until(b'\n', &mut tok).expect("read");
                out.write_all(&tok[..tok.len() - 2]).ok();
                out.write_all(if i + 1 < strings { b" " } else { b"\n" }).ok();
            }
        }
    }
}

/// GETs one at a time on one connection; prints the median, the 99th percentile and
/// the mean in ms (the spec's bar is on the mean; the tail is what users feel).
fn latency(port: u16, seconds: u64) {
    let (mut s, mut r) = connect(port);
    let get = command(&[b"GET", b"lg-latency"]);
    let mut samples = Vec::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let t = Instant::now();
        s.write_all(&get).expect("write");
        read_reply(&mut r).expect("read");
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    println!("{:.3} {:.3} {:.3}", at(0.5), at(0.99), mean);
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
    if mode == "latency" {
        return latency(port, seconds);
    }
    // refresh uses the second token of a line, the others the first.
    let field = usize::from(mode == "refresh");
    let once = matches!(mode, "refresh" | "destroy");
    let tokens: Arc<Vec<String>> = Arc::new(if matches!(mode, "verify" | "touch" | "verify-repeat" | "refresh" | "destroy") {
        let lines = std::io::stdin().lock().lines().map_while(Result::ok);
        lines.filter_map(|l| l.split(' ').nth(field).map(str::to_string)).filter(|t| !t.is_empty()).collect()
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
            // Single-use tokens: connection i of thread t owns a slice of its own.
            let share = tokens.len() / conns.max(1);
            let first = (0..t).map(|u| conns / threads + usize::from(u < conns % threads)).sum::<usize>();
            if once {
                cursor = (0..mine).map(|i| (first + i) * share).collect();
            }
            let mut left = share / pipeline;
            while !stop.load(Ordering::Relaxed) && (!once || left > 0) {
                left = left.saturating_sub(1);
                for (i, (s, _)) in links.iter_mut().enumerate() {
                    let mut batch = Vec::with_capacity(pipeline * 400);
                    for _ in 0..pipeline {
                        let tok = if mode == "verify-repeat" { &tokens[0] } else { &tokens[cursor[i]] };
                        cursor[i] = (cursor[i] + 1) % tokens.len();
                        batch.extend(match mode.as_str() {
                            "get" => command(&[b"GET", tok.as_bytes()]),
                            "set" => command(&[b"SET", tok.as_bytes(), b"xxx"]),
                            "sign" => command(&[b"JWT.SIGN", tok.as_bytes(), b"TTL", b"1h"]),
                            "touch" => command(&[b"JWT.TOUCH", tok.as_bytes()]),
                            "refresh" => command(&[b"JWT.REFRESH", tok.as_bytes()]),
                            "destroy" => command(&[b"JWT.DESTROY", tok.as_bytes()]),
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
    let deadline = start + Duration::from_secs(seconds);
    while Instant::now() < deadline && !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(10));
    }
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

//! One harness for every integration test: a real redis-server (7.0+ or valkey-server)
//! with the built module loaded, on its own port and its own data folder, so tests run
//! in parallel. Dropping a `Server` kills it and removes its folder.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use redis::{cmd, Connection, RedisResult, Value};

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

pub fn module_path() -> PathBuf {
    if let Ok(p) = std::env::var("REDIS_JWT_MODULE") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/libredis_jwt.so");
    assert!(
        p.exists(),
        "{} is missing: run `make test` (or `cargo build --release` first)",
        p.display()
    );
    p
}

pub fn server_binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    args: Vec<String>,
}

impl Server {
    /// A server with the module and no extra arguments.
    pub fn start() -> Server {
        Server::start_with(&[], &[])
    }

    /// `server_args` go to redis-server (`--name value` pairs); `module_args` to the
    /// loadmodule line.
    pub fn start_with(server_args: &[&str], module_args: &[&str]) -> Server {
        let n = NEXT_DIR.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("redis-jwt-test-{}-{}", std::process::id(), n));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test data folder");
        let mut loadmodule = module_path().display().to_string();
        for a in module_args {
            loadmodule.push(' ');
            loadmodule.push_str(a);
        }
        let mut args: Vec<String> = vec![
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--enable-debug-command".into(),
            "yes".into(),
            "--repl-diskless-sync-delay".into(),
            "0".into(),
            "--loadmodule".into(),
        ];
        args.extend(loadmodule.split(' ').map(String::from));
        args.extend(server_args.iter().map(|s| s.to_string()));
        let mut server = Server {
            child: None,
            port: 0,
            dir,
            args,
        };
        server.launch();
        server
    }

    /// Starts the server: on its old port after a restart (`self.port` set), else on
    /// a fresh free port for each attempt (another process may have taken one).
    fn launch(&mut self) {
        let keep_port = self.port != 0;
        for _attempt in 0..5 {
            let port = if keep_port { self.port } else { free_port() };
            let log = std::fs::File::create(self.dir.join("server.log")).expect("log file");
            let child = Command::new(server_binary())
                .arg("--port")
                .arg(port.to_string())
                .args(&self.args)
                .stdout(log)
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts (is it installed?)");
            self.child = Some(child);
            self.port = port;
            if self.wait_ready() {
                return;
            }
            self.kill();
        }
        panic!("redis-server did not start; log:\n{}", self.log());
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            if let Ok(mut c) = self.try_client() {
                if cmd("PING").query::<String>(&mut c).is_ok() {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn try_client(&self) -> RedisResult<Connection> {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?.get_connection()
    }

    pub fn client(&self) -> Connection {
        self.try_client().expect("connect to test server")
    }

    /// SHUTDOWN SAVE (or NOSAVE), then start again on the same port and folder.
    pub fn restart(&mut self, save: bool) {
        let mut c = self.client();
        let _: RedisResult<()> = cmd("SHUTDOWN")
            .arg(if save { "SAVE" } else { "NOSAVE" })
            .query(&mut c);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        self.launch();
    }

    /// Makes this server a replica of `primary` and waits for the sync to finish.
    pub fn replicate_from(&self, primary: &Server) {
        let mut c = self.client();
        let _: () = cmd("REPLICAOF")
            .arg("127.0.0.1")
            .arg(primary.port)
            .query(&mut c)
            .expect("REPLICAOF");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info: String = cmd("INFO").arg("replication").query(&mut c).expect("INFO");
            if info.contains("master_link_status:up") {
                return;
            }
            assert!(Instant::now() < deadline, "replica did not sync:\n{info}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A primary and a replica in sync with it.
    pub fn primary_and_replica() -> (Server, Server) {
        let primary = Server::start();
        let replica = Server::start();
        replica.replicate_from(&primary);
        (primary, replica)
    }

    /// Kills the server process at once (a crashed node), keeping its folder.
    pub fn crash(&mut self) {
        self.kill();
    }

    /// Starts a crashed server again, on its port and folder (whose files a test may
    /// have replaced meanwhile).
    pub fn start_again(&mut self) {
        self.launch();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A raw MONITOR connection: everything the server echoes until a marker command.
pub struct Monitor {
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl Monitor {
    pub fn attach(server: &Server) -> Monitor {
        use std::io::{BufRead, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream.write_all(b"MONITOR\r\n").expect("MONITOR");
        let mut reader = std::io::BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("MONITOR reply");
        assert!(line.starts_with("+OK"), "{line}");
        Monitor { reader }
    }

    /// Sends `PING end-marker` on `c` and returns what MONITOR showed up to it.
    pub fn collect(mut self, c: &mut Connection) -> String {
        use std::io::BufRead;
        let _: String = cmd("PING").arg("end-marker").query(c).expect("PING");
        let mut seen = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("MONITOR line");
            seen.push_str(&line);
            if line.contains("end-marker") {
                return seen;
            }
        }
    }
}

/// The SLOWLOG as text (set --slowlog-log-slower-than 0 on the server).
pub fn slowlog_text(c: &mut Connection) -> String {
    let log: Value = cmd("SLOWLOG")
        .arg("GET")
        .arg(1000)
        .query(c)
        .expect("SLOWLOG");
    format!("{log:?}")
}

// ---- small helpers over a connection --------------------------------------------

pub fn sign(c: &mut Connection, args: &[&str]) -> String {
    cmd("JWT.SIGN").arg(args).query(c).expect("JWT.SIGN")
}

pub fn verify(c: &mut Connection, token: &str) -> RedisResult<String> {
    cmd("JWT.VERIFY").arg(token).query(c)
}

/// The error code of a failed reply ("INVALID", "ERR", ...).
pub fn code<T: std::fmt::Debug>(r: RedisResult<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code().unwrap_or("?").to_string(),
    }
}

pub fn error_text<T: std::fmt::Debug>(r: RedisResult<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).expect("JSON")
}

/// The decoded payload of a token, unverified.
pub fn payload(token: &str) -> serde_json::Value {
    segment(token, 1)
}

/// The decoded header of a token (`alg`, `kid`).
pub fn header(token: &str) -> serde_json::Value {
    segment(token, 0)
}

fn segment(token: &str, n: usize) -> serde_json::Value {
    use base64::Engine;
    let seg = token.split('.').nth(n).expect("token segment");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(seg)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("segment JSON")
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn info_field(c: &mut Connection, name: &str) -> String {
    let info: String = cmd("INFO").arg("jwt").query(c).expect("INFO jwt");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("jwt_{name}:")))
        .unwrap_or_else(|| panic!("no jwt_{name} in INFO:\n{info}"))
        .trim()
        .to_string()
}

pub fn dbsize(c: &mut Connection) -> i64 {
    cmd("DBSIZE").query(c).expect("DBSIZE")
}

pub fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An HMAC secret from JWT.KEY EXPORT's text form: as is, or `base64:<standard base64>`.
pub fn exported_secret(material: &[u8]) -> Vec<u8> {
    use base64::Engine;
    match material.strip_prefix(b"base64:") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64 secret"),
        None => material.to_vec(),
    }
}

/// Redis 7.2+ and Valkey 8 let a module declare ACL categories; 7.0 does not.
pub fn server_has_categories(c: &mut Connection) -> bool {
    let info: String = cmd("INFO").arg("server").query(c).unwrap();
    if info.contains("valkey") {
        return true;
    }
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("7.0.0")
        .trim()
        .to_string();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (7, 2)
}

/// JWT.KEY IMPORT of a key file of tests/fixtures (a PEM), as `kid` for `alg`.
pub fn import_fixture_key(c: &mut Connection, kid: &str, alg: &str, file: &str) {
    let pem = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(file),
    )
    .unwrap_or_else(|e| panic!("tests/fixtures/{file}: {e}"));
    let _: String = cmd("JWT.KEY")
        .arg(&["IMPORT", kid, alg][..])
        .arg(pem)
        .query(c)
        .unwrap_or_else(|e| panic!("IMPORT {kid}: {e}"));
}

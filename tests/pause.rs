//! Writes paused (CLIENT PAUSE WRITE, what a failover does): Redis 7.0 aborts on any
//! replicated write then, so whatever the module writes outside a client's command
//! waits for the pause to end: the maintenance timer's rotation, the keyring appended
//! after an AOF rewrite's fork, and the second half of a TOUCH or DESTROY whose
//! signature a worker checked (it answers TRYAGAIN). Each case here crashed the server
//! before. AOF is on, so every write is replicated (to the AOF).
mod common;
use common::*;

fn pause(c: &mut Connection, ms: u64) {
    let _: () = cmd("CLIENT")
        .arg(&["PAUSE", &ms.to_string(), "WRITE"][..])
        .query(c)
        .unwrap();
}

fn wait_rewrite(c: &mut Connection) {
    for _ in 0..200 {
        let info: String = cmd("INFO").arg("persistence").query(c).unwrap();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            return;
        }
        sleep_ms(25);
    }
}

#[test]
fn a_rotation_due_while_writes_are_paused_waits() {
    let s = Server::start_with(&["--appendonly", "yes"], &[]);
    let mut c = s.client();
    let first: String = cmd("JWT.KEY").arg("ROTATE").query(&mut c).unwrap();
    let _: () = cmd("CONFIG")
        .arg(&["SET", "jwt.key-rotation", "1s"][..])
        .query(&mut c)
        .unwrap();
    pause(&mut c, 2000);
    sleep_ms(1500); // a rotation is due during the pause
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(
        info_field(&mut c, "active_kid"),
        first,
        "no rotation while paused"
    );
    sleep_ms(2000);
    assert_ne!(
        info_field(&mut c, "active_kid"),
        first,
        "rotated after the pause"
    );
}

#[test]
fn an_aof_rewrite_while_writes_are_paused_keeps_the_keyring() {
    let mut s = Server::start_with(
        &["--appendonly", "yes", "--aof-use-rdb-preamble", "no"],
        &[],
    );
    let mut c = s.client();
    let t = sign(&mut c, &["alice"]);
    pause(&mut c, 1000);
    let _: String = cmd("BGREWRITEAOF").query(&mut c).unwrap();
    wait_rewrite(&mut c);
    sleep_ms(2200); // the pause ends; the maintenance timer appends the keyring
    drop(c);
    s.restart(false); // from the AOF alone
    let mut c = s.client();
    assert!(verify(&mut c, &t).is_ok());
}

#[test]
fn a_checked_touch_resumed_while_writes_are_paused_answers_tryagain() {
    let s = Server::start_with(
        &["--appendonly", "yes"],
        &["crypto-threads", "1", "verify-cache", "0"],
    );
    let mut c = s.client();
    import_fixture_key(&mut c, "big", "RS256", "rsa4096.pem");
    let _: String = cmd("JWT.KEY")
        .arg(&["GENERATE", "ES256", "KID", "ec"][..])
        .query(&mut c)
        .unwrap();
    let token = sign(&mut c, &["alice", "KEY", "ec"]);
    sleep_ms(1100); // so that TOUCH writes
                    // The worker is busy with RSA-4096 signatures (one connection each: a blocked
                    // client runs one command at a time); the TOUCH queues behind them.
    let flood: Vec<Connection> = (0..60)
        .map(|i| {
            let mut f = s.client();
            f.send_packed_command(
                &cmd("JWT.SIGN")
                    .arg(&[format!("flood{i}").as_str(), "KEY", "big"][..])
                    .get_packed_command(),
            )
            .unwrap();
            f
        })
        .collect();
    let mut t = s.client();
    t.send_packed_command(&cmd("JWT.TOUCH").arg(&token).get_packed_command())
        .unwrap();
    pause(&mut c, 3000);
    let touched = format!("{:?}", t.recv_response());
    assert!(touched.contains("TRYAGAIN"), "{touched}");
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    for mut f in flood {
        let _: Value = f.recv_response().unwrap();
    }
    let _: () = cmd("CLIENT").arg("UNPAUSE").query(&mut c).unwrap();
    assert!(cmd("JWT.TOUCH").arg(&token).query::<Value>(&mut c).is_ok());
}

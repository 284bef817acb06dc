//! A once-a-second module timer that keeps the keyring in shape on the primary:
//! automatic rotation (`jwt.key-rotation`) and dropping retired keys past their time.
//! Replicas do neither: they receive the result as `JWT.KEY SYNC` (and they already
//! refuse dropped keys by their drop time, so both sides agree in between).

use crate::clock::now_ms;
use crate::config;
use crate::config::retention_ms;
use crate::keyring_state;
use jwt_core::random::OsRandom;
use redis_module::{Context, ContextFlags};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

const PERIOD: Duration = Duration::from_secs(1);

pub fn start(ctx: &Context) {
    ctx.create_timer(PERIOD, tick, 0u64);
}

/// Every how many ticks a primary of a cluster sends its keyring digest.
const DIGEST_EVERY: u64 = 2;

fn tick(ctx: &Context, n: u64) {
    // Never let a panic out of a timer callback: it would abort redis-server.
    let work = || {
        run(ctx);
        if n.is_multiple_of(DIGEST_EVERY) {
            crate::cluster_keyring::tick(ctx);
        }
    };
    if catch_unwind(AssertUnwindSafe(work)).is_err() {
        crate::redis::log::warning(ctx, "jwt: keyring maintenance failed (panic caught)");
    }
    ctx.create_timer(PERIOD, tick, n.wrapping_add(1));
}

fn run(ctx: &Context) {
    let flags = ctx.get_flags();
    // Nothing may be replicated while writes are paused: rotate and purge later.
    if flags.contains(ContextFlags::LOADING) || crate::redis::client::writes_paused() {
        return;
    }
    // A replica (or a primary demoted during the pause) owes its own AOF too.
    keyring_state::pay_aof_debt(ctx);
    if !flags.contains(ContextFlags::MASTER) {
        return;
    }
    let Ok(now) = now_ms() else { return };
    let period = config::KEY_ROTATION.ms();
    let (stale, due) = {
        let ring = keyring_state::read();
        let stale = ring.keys().any(|k| !k.is_live(now));
        let due = period > 0
            && ring
                .active()
                .is_some_and(|k| now - k.activated_ms.unwrap_or(k.created_ms) >= period);
        (stale, due)
    };
    if !stale && !due {
        return;
    }
    let rng = OsRandom::new();
    let result = keyring_state::update(ctx, |ring| {
        ring.purge(now);
        if due {
            let kid = ring.rotate(None, now, retention_ms().max(period), &rng)?;
            Ok(Some(kid))
        } else {
            Ok(None)
        }
    });
    match result {
        Ok(Some(kid)) => {
            crate::redis::log::notice(ctx, &format!("jwt: rotated the signing key, new kid {kid}"))
        }
        Ok(None) => {}
        Err(e) => crate::redis::log::warning(ctx, &format!("jwt: keyring maintenance: {e}")),
    }
}

//! One keyring for the whole cluster. Every keyring change on a primary (JWT.KEY, the
//! first SIGN's key, automatic rotation) is sent to every node over the cluster bus;
//! each primary merges what it receives (`Keyring::merge`: order-independent, a key's
//! state only moves forward) and passes the result to its replicas and AOF as usual.
//! Every few seconds each primary also sends a digest of its keyring; a node whose
//! keyring differs answers with its whole keyring and asks for the sender's, so a node
//! that was down, restarted or newly added converges by itself. Replicas take the
//! keyring from their primary only. Messages carry key material: run `tls-cluster yes`
//! where the network between nodes is not trusted.

use crate::cluster;
use crate::keyring_state;
use crate::redis::cluster_bus;
use redis_module::{Context, ContextFlags};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

const FULL: u8 = 1;
const DIGEST: u8 = 2;
const REQUEST: u8 = 3;

/// Whether the bus carries keyrings, and whether this node has heard the cluster's
/// keyring since it loaded (a digest equal to its own, or a whole keyring).
static BUS: AtomicBool = AtomicBool::new(false);
static HEARD: AtomicBool = AtomicBool::new(false);
static LOADED_MS: AtomicI64 = AtomicI64::new(0);

/// How long a primary that has heard nothing may wait before it makes a first key on
/// its own (peers that never answer: an older version, a bus that drops messages).
/// Digests go out every two seconds.
const QUIET_MS: i64 = 10_000;

/// Listens on the bus (cluster mode only; at load).
pub fn init(ctx: &Context, now_ms: i64) {
    LOADED_MS.store(now_ms, Ordering::Relaxed);
    if cluster::is_cluster() {
        let ok = cluster_bus::register(
            ctx,
            vec![(FULL, on_full), (DIGEST, on_digest), (REQUEST, on_request)],
        );
        if !ok {
            crate::redis::log::warning(
                ctx,
                "jwt: cannot use the cluster bus: each primary keeps its own keyring",
            );
        }
        BUS.store(ok, Ordering::Relaxed);
    }
}

/// Whether this primary may make the first key of an empty keyring (zero
/// configuration). In a cluster, a primary restarted without its data has an empty
/// keyring until its peers' keyring reaches it: a key made in between would be the
/// newest activation and take signing over on every primary. So it waits until it has
/// heard the cluster (which has no key either, if it still agrees), is alone, or has
/// waited QUIET_MS since it loaded.
pub fn may_make_first_key(now_ms: i64) -> bool {
    !cluster::is_cluster()
        || !BUS.load(Ordering::Relaxed)
        || HEARD.load(Ordering::Relaxed)
        || cluster_bus::cluster_size() <= 1
        || now_ms.saturating_sub(LOADED_MS.load(Ordering::Relaxed)) >= QUIET_MS
}

/// Only primaries speak for the keyring (replicas follow their primary).
fn is_primary(ctx: &Context) -> bool {
    let flags = ctx.get_flags();
    cluster::is_cluster()
        && flags.contains(ContextFlags::MASTER)
        && !flags.contains(ContextFlags::LOADING)
}

/// After a keyring change on this primary: every node gets the new keyring.
pub fn announce(ctx: &Context) {
    if is_primary(ctx) {
        let blob = keyring_state::read().to_bytes();
        cluster_bus::send(ctx, None, FULL, &blob);
    }
}

/// The periodic digest (from the maintenance timer).
pub fn tick(ctx: &Context) {
    if is_primary(ctx) {
        let digest = keyring_state::read().digest();
        cluster_bus::send(ctx, None, DIGEST, &digest);
    }
}

fn on_full(ctx: &Context, _sender: &[u8], payload: &[u8]) {
    // While writes are paused (a failover) a merge could not be replicated: the next
    // digest exchange brings this keyring again.
    if !is_primary(ctx) || crate::redis::client::writes_paused() {
        return;
    }
    match keyring_state::merge(ctx, payload) {
        Ok(changed) => {
            HEARD.store(true, Ordering::Relaxed);
            if changed {
                announce(ctx);
            }
        }
        Err(e) => crate::redis::log::warning(
            ctx,
            &format!("jwt: keyring from the cluster bus refused: {e}"),
        ),
    }
}

fn on_digest(ctx: &Context, sender: &[u8], payload: &[u8]) {
    if !is_primary(ctx) {
        return;
    }
    let (mine, digest) = {
        let ring = keyring_state::read();
        (ring.to_bytes(), ring.digest())
    };
    if payload == digest {
        HEARD.store(true, Ordering::Relaxed);
    } else {
        cluster_bus::send(ctx, Some(sender), FULL, &mine);
        cluster_bus::send(ctx, Some(sender), REQUEST, &[]);
    }
}

fn on_request(ctx: &Context, sender: &[u8], _payload: &[u8]) {
    if is_primary(ctx) {
        let blob = keyring_state::read().to_bytes();
        cluster_bus::send(ctx, Some(sender), FULL, &blob);
    }
}

'use strict';
// A failover under clients whose slot maps are stale. After CLUSTER FAILOVER the old
// primary is a replica; a client that still routes the user's slot to it gets READONLY
// for the write token commands (TOUCH, UPDATE, REFRESH, DESTROY: Redis answers before the
// module runs, they name no key), and must reload its slot map and retry on the new
// primary. clients/test.sh gives a primary a replica for this (REDIS_JWT_CLUSTER_REPLICAS,
// the first entry; the Python suite fails over the second). The test fails back at the
// end, and checks the clients again in that direction.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const Redis = require('ioredis');
const { RedisJwt, RevokedSession, keySlot } = require('..');
const { clusterNodes, clusterReplicas, uniq } = require('./helpers');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const addrOf = ({ host, port }) => `${host}:${Number(port)}`;

/** Plain connections to every node of the cluster: CLUSTER FAILOVER, ROLE, CLUSTER NODES. */
class Nodes {
  constructor(addrs) {
    this.addrs = addrs;
    this.conns = new Map(addrs.map((a) => [addrOf(a), new Redis({ host: a.host, port: a.port })]));
  }

  call(a, ...args) {
    return this.conns.get(addrOf(a)).call(...args);
  }

  all(...args) {
    return Promise.all(this.addrs.map((a) => this.call(a, ...args)));
  }

  close() {
    return Promise.all([...this.conns.values()].map((c) => c.quit()));
  }

  /** `primary` is a master, `replica` its replica in sync, and every node sees them so. */
  async settled(primary, replica) {
    const [pid, rid, prole, rrole] = await Promise.all([
      this.call(primary, 'CLUSTER', 'MYID'),
      this.call(replica, 'CLUSTER', 'MYID'),
      this.call(primary, 'ROLE'),
      this.call(replica, 'ROLE'), // ['slave', host, port, state, offset]
    ]);
    if (prole[0] !== 'master') return false;
    if (rrole[0] !== 'slave' || rrole[3] !== 'connected' || addrOf({ host: rrole[1], port: rrole[2] }) !== addrOf(primary)) return false;
    for (const nodes of await this.all('CLUSTER', 'NODES')) {
      const lines = String(nodes).split('\n').map((l) => l.split(' '));
      const p = lines.find((f) => f[0] === pid);
      const r = lines.find((f) => f[0] === rid);
      if (!p || !p[2].split(',').includes('master') || p[2].includes('fail')) return false;
      if (!r || !r[2].split(',').includes('slave') || r[2].includes('fail') || r[3] !== pid) return false;
    }
    return true;
  }

  async waitSettled(primary, replica, what, onPoll = async () => {}) {
    const deadline = Date.now() + 60_000;
    for (let poll = 1; !(await this.settled(primary, replica)); poll++) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await onPoll(poll);
      await sleep(50);
    }
  }

  /** CLUSTER FAILOVER on `replica`; resolves when every node has seen the switch. */
  async promote(replica, primary) {
    await this.waitSettled(primary, replica, `${addrOf(replica)} to be a replica of ${addrOf(primary)} in sync`);
    await this.call(replica, 'CLUSTER', 'FAILOVER');
    await this.waitSettled(replica, primary, `${addrOf(replica)} to take over from ${addrOf(primary)}`, async (poll) => {
      // Redis gives up a manual failover that could not start within 5 s: ask again.
      if (poll % 200 === 0) await this.call(replica, 'CLUSTER', 'FAILOVER').catch(() => {});
    });
  }
}

const ACL_USER = uniq('failover-app');
const ACL_PASSWORD = 'pw';

/**
 * The clients, each with `master(slot)`: the node its slot map names for the slot. ioredis
 * without its periodic slot reload (`slotsRefreshInterval`, 5 s by default), so that its
 * map is still stale when the test runs, as it is whenever the interval is longer.
 */
const CLIENTS = {
  'node-redis v4 cluster': async () => {
    const c = require('redis4').createCluster({ rootNodes: clusterNodes().map((socket) => ({ socket })) });
    await c.connect();
    return { client: c, close: () => c.quit(), master: (slot) => addrOf(c.slots[slot].master) };
  },
  'node-redis v5 cluster': async () => {
    const c = require('redis5').createCluster({ rootNodes: clusterNodes().map((socket) => ({ socket })) });
    await c.connect();
    return { client: c, close: () => c.close(), master: (slot) => addrOf(c.slots[slot].master) };
  },
  // docs/operations.md's application user: jwt.* commands and ~jwt:* only, so EXISTS on
  // the route key is refused and the client falls back to JWT.COUNT to reload its map.
  'node-redis v5 cluster, application ACL user': async () => {
    const c = require('redis5').createCluster({
      rootNodes: clusterNodes().map((socket) => ({ socket })),
      defaults: { username: ACL_USER, password: ACL_PASSWORD },
    });
    await c.connect();
    return { client: c, close: () => c.close(), master: (slot) => addrOf(c.slots[slot].master) };
  },
  'ioredis cluster': async () => {
    const c = new Redis.Cluster(clusterNodes(), { slotsRefreshInterval: 0 });
    await new Promise((resolve, reject) => {
      c.once('ready', resolve);
      c.once('error', reject);
    });
    return { client: c, close: () => c.quit(), master: (slot) => c.slots[slot][0] };
  },
};

/** Every write token command on a session signed before the switch, then the logout. */
async function exercise(jwt, sub, pair) {
  assert.equal((await jwt.touch(pair.accessToken, { ttl: '1h' })).sub, sub);
  assert.equal(await jwt.update(pair.accessToken, { merge: { step: 2 } }), null);
  const r = await jwt.refresh(pair.refreshToken);
  assert.equal(r.claims.sub, sub);
  assert.deepEqual((await jwt.verify(r.accessToken, { withData: true })).data, { step: 2 });
  assert.equal(await jwt.destroy(r.refreshToken), true);
  await assert.rejects(jwt.verify(r.accessToken), RevokedSession);
}

describe('cluster failover: READONLY from the demoted primary is retried on the new one', () => {
  let nodes;
  let primary;
  let replica;
  const conns = {};

  /** A subject whose slot `node` serves, with a session (access and refresh token). */
  async function signOn(node, jwt) {
    const ranges = (await nodes.call(node, 'CLUSTER', 'SLOTS')).filter((r) => addrOf({ host: r[2][0], port: r[2][1] }) === addrOf(node));
    assert.ok(ranges.length > 0, `${addrOf(node)} serves no slot`);
    for (;;) {
      const sub = uniq('fo');
      const slot = keySlot(`{${sub}}`);
      if (!ranges.some(([from, to]) => slot >= from && slot <= to)) continue;
      const pair = await jwt.sign(sub, { refresh: true, data: { step: 1 } });
      assert.equal((await jwt.verify(pair.accessToken)).sub, sub);
      return { sub, slot, pair };
    }
  }

  /** Signs a session per client on `from`, switches to `to`, then exercises each client. */
  async function switchAndExercise(t, from, to) {
    const sessions = {};
    for (const [name, c] of Object.entries(conns)) sessions[name] = await signOn(from, c.jwt);
    await nodes.promote(to, from);
    for (const [name, c] of Object.entries(conns)) {
      await t.test(name, async () => {
        const { sub, slot, pair } = sessions[name];
        assert.equal(c.master(slot), addrOf(from), 'the slot map should still name the demoted primary');
        await exercise(c.jwt, sub, pair);
      });
    }
  }

  before(async () => {
    replica = clusterReplicas()[0];
    nodes = new Nodes([...clusterNodes(), ...clusterReplicas()]);
    const role = await nodes.call(replica, 'ROLE');
    assert.equal(role[0], 'slave', `${addrOf(replica)} should be a replica`);
    primary = { host: role[1], port: Number(role[2]) };
    await nodes.all('ACL', 'SETUSER', ACL_USER, 'reset', 'on', `>${ACL_PASSWORD}`, '~jwt:*',
      '+jwt.sign', '+jwt.verify', '+jwt.touch', '+jwt.refresh', '+jwt.update', '+jwt.destroy', '+jwt.count',
      '+ping', '+cluster|slots');
    for (const [name, connect] of Object.entries(CLIENTS)) {
      const conn = await connect();
      conns[name] = { ...conn, jwt: new RedisJwt(conn.client) };
    }
  });

  after(async () => {
    try {
      // fail back if a test stopped half way
      if (nodes && primary && (await nodes.call(primary, 'ROLE'))[0] !== 'master') await nodes.promote(primary, replica);
    } finally {
      await Promise.all(Object.values(conns).map((c) => c.close()));
      if (nodes) {
        await nodes.all('ACL', 'DELUSER', ACL_USER);
        await nodes.close();
      }
    }
  });

  test('after CLUSTER FAILOVER on the replica', async (t) => {
    await switchAndExercise(t, primary, replica);
  });

  test('after failing back (CLUSTER FAILOVER on the old primary)', async (t) => {
    await switchAndExercise(t, replica, primary);
  });
});

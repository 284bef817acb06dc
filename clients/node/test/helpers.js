'use strict';
// Connections to the servers clients/test.sh started (REDIS_JWT_STANDALONE, REDIS_JWT_CLUSTER).
const crypto = require('crypto');

function addr(s) {
  const [host, port] = s.split(':');
  return { host, port: Number(port) };
}

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through clients/test.sh`);
  return v;
}

const standalone = () => addr(env('REDIS_JWT_STANDALONE'));
const clusterNodes = () => env('REDIS_JWT_CLUSTER').split(',').map(addr);
/** Replicas of some of the cluster's primaries, for the failover test (the first is this suite's). */
const clusterReplicas = () => env('REDIS_JWT_CLUSTER_REPLICAS').split(',').map(addr);

/**
 * The server clients/test.sh started for a keyring that never gets a signing key (nothing
 * may sign there): LEGACY imports and their revocation only.
 */
const noSigningKey = () => addr(env('REDIS_JWT_NO_SIGNING_KEY'));

/**
 * Every kind of client the package supports: [name, connect(auth?, server?) -> {client, close}].
 * The standalone kinds connect to `server` ({host, port}), by default the standalone server.
 */
const FACTORIES = {
  'node-redis v4': async (auth = {}, server = standalone()) => {
    const { host, port } = server;
    const c = require('redis4').createClient({ socket: { host, port }, ...auth });
    await c.connect();
    return { client: c, close: () => c.quit() };
  },
  'node-redis v5': async (auth = {}, server = standalone()) => {
    const { host, port } = server;
    const c = require('redis5').createClient({ socket: { host, port }, ...auth });
    await c.connect();
    return { client: c, close: () => c.close() };
  },
  'node-redis v5 RESP3': async (auth = {}, server = standalone()) => {
    const { host, port } = server;
    const c = require('redis5').createClient({ socket: { host, port }, RESP: 3, ...auth });
    await c.connect();
    return { client: c, close: () => c.close() };
  },
  ioredis: async (auth = {}, server = standalone()) => {
    const { host, port } = server;
    const Redis = require('ioredis');
    const c = new Redis({ host, port, ...auth });
    return { client: c, close: () => c.quit() };
  },
  'node-redis v4 cluster': async () => {
    const c = require('redis4').createCluster({
      rootNodes: clusterNodes().map(({ host, port }) => ({ socket: { host, port } })),
    });
    await c.connect();
    return { client: c, close: () => c.quit(), cluster: true };
  },
  'node-redis v5 cluster': async () => {
    const c = require('redis5').createCluster({
      rootNodes: clusterNodes().map(({ host, port }) => ({ socket: { host, port } })),
    });
    await c.connect();
    return { client: c, close: () => c.close(), cluster: true };
  },
  'ioredis cluster': async () => {
    const Redis = require('ioredis');
    const c = new Redis.Cluster(clusterNodes());
    await new Promise((resolve, reject) => {
      c.once('ready', resolve);
      c.once('error', reject);
    });
    return { client: c, close: () => c.quit(), cluster: true };
  },
};

/** A plain ioredis connection to the standalone server, for set-up (CONFIG, ACL). */
function admin() {
  const Redis = require('ioredis');
  const { host, port } = standalone();
  return new Redis({ host, port });
}

const uniq = (p) => `${p}-${crypto.randomBytes(4).toString('hex')}`;

module.exports = { FACTORIES, admin, uniq, standalone, noSigningKey, clusterNodes, clusterReplicas };

/**
 * How commands reach Redis. The client accepts node-redis v4/v5 clients and clusters and
 * ioredis Redis/Cluster instances (detected by shape, no import of either), or any object
 * implementing {@link Transport}.
 */
import { keySlot } from './token';

export interface Transport {
  /**
   * Sends one command. `routeKey`, when given, is a key whose slot serves the command
   * (`{<sub>}`); undefined means any node will do.
   */
  send(args: string[], routeKey: string | undefined): Promise<unknown>;
  readonly cluster: boolean;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

/** node-redis v4/v5 standalone client: sendCommand(args). */
class NodeRedisClient implements Transport {
  readonly cluster = false;
  constructor(private c: Any) {}
  send(args: string[]): Promise<unknown> {
    return this.c.sendCommand(args);
  }
}

/**
 * Waits before each retry of a cluster command that met a cluster in transition (ms): the
 * first retry at once, then growing; about 3.5 s in all, which covers a failover's
 * election. Cluster mode only: standalone, READONLY is a real error.
 */
const RETRY_DELAYS_MS = [0, 100, 200, 400, 800, 1000, 1000];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The reply error's code word when `e` is a reply error whose message starts with one of `codes`. */
function errorCode(e: unknown, codes: RegExp): string | null {
  if (!(e instanceof Error)) return null;
  const m = /^([A-Z]+)(?: |$)/.exec(e.message ?? '');
  return m && codes.test(m[1]) ? m[1] : null;
}

/**
 * node-redis v4/v5 cluster: sendCommand(firstKey, isReadonly, args) routes by firstKey and
 * follows MOVED and ASK itself.
 *
 * After a failover a slot map that still names the demoted primary sends writes there,
 * and Redis answers READONLY (before the module runs: the token commands name no key).
 * node-redis has no public call to reload its slot map; it reloads it when a keyed command
 * is answered MOVED. So on READONLY we send a keyed read for the route key: it goes to
 * the same (demoted) node, which answers MOVED; node-redis rediscovers the cluster from
 * it and the retry goes to the new primary. CLUSTERDOWN (an election in progress) and
 * TRYAGAIN (a slot moving) are retried the same way, with a growing wait.
 */
class NodeRedisCluster implements Transport {
  readonly cluster = true;
  constructor(private c: Any) {}
  async send(args: string[], routeKey: string | undefined): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        // isReadonly false: a session signed a moment ago may not have reached a replica yet.
        return await this.c.sendCommand(routeKey, false, args);
      } catch (e) {
        const code = errorCode(e, /^(READONLY|CLUSTERDOWN|TRYAGAIN)$/);
        if (code === null || attempt >= RETRY_DELAYS_MS.length) throw e;
        await sleep(RETRY_DELAYS_MS[attempt]);
        // Without a route key (any node) the retry goes to the next node node-redis picks.
        if (code !== 'TRYAGAIN' && routeKey !== undefined) await this.rediscover(routeKey);
      }
    }
  }

  /**
   * Makes node-redis reload its slot map if it is stale for `routeKey`'s slot: a keyed read
   * of that slot sent to its (believed) master, which answers MOVED if it is no longer the
   * master. `EXISTS <routeKey>` first; where an ACL does not allow it (docs/operations.md's
   * recipes name only jwt.* commands and `~jwt:*`), `JWT.COUNT <sub>`: the subject
   * commands are declared keyed by their subject, so Redis routes them too.
   */
  private async rediscover(routeKey: string): Promise<void> {
    const probes: string[][] = [['EXISTS', routeKey]];
    const sub = subjectOfRoute(routeKey);
    if (sub !== null) probes.push(['JWT.COUNT', sub]);
    for (const probe of probes) {
      try {
        await this.c.sendCommand(routeKey, false, probe);
        return;
      } catch {
        // NOPERM: the next probe; CLUSTERDOWN during the election: the next attempt tells
      }
    }
  }
}

/** A subject whose slot is `routeKey`'s (`{sub}` -> sub; a key without braces is its own). */
function subjectOfRoute(routeKey: string): string | null {
  const m = /^\{([^{}]+)\}$/.exec(routeKey);
  if (m) return m[1];
  return /[{}]/.test(routeKey) ? null : routeKey;
}

/** ioredis standalone: call(name, ...args). */
class IoRedisClient implements Transport {
  readonly cluster = false;
  constructor(private c: Any) {}
  send(args: string[]): Promise<unknown> {
    return this.c.call(...args);
  }
}

/**
 * ioredis Cluster. ioredis only routes commands whose keys it knows from its static
 * command table, so module commands go to a random node and follow MOVED. We look up the
 * master serving the slot of `routeKey` ourselves and fall back to `cluster.call` (which
 * follows redirections) when the slot map is not known or is stale. READONLY (a write
 * that reached a primary demoted by a failover: ioredis does not handle it) reloads the
 * slot map (`refreshSlotsCache`) and routes again, a few times with a growing wait.
 */
class IoRedisCluster implements Transport {
  readonly cluster = true;
  constructor(private c: Any) {}
  async send(args: string[], routeKey: string | undefined): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.sendOnce(args, routeKey);
      } catch (e) {
        if (errorCode(e, /^READONLY$/) === null || attempt >= RETRY_DELAYS_MS.length) throw e;
        await sleep(RETRY_DELAYS_MS[attempt]);
        await this.refreshSlots();
      }
    }
  }

  private async sendOnce(args: string[], routeKey: string | undefined): Promise<unknown> {
    if (routeKey !== undefined) {
      const nodeKeys: string[] | undefined = this.c.slots?.[keySlot(routeKey)];
      const want = nodeKeys?.[0];
      if (want) {
        const node = (this.c.nodes('master') as Any[]).find(
          (n) => `${n.options.host}:${n.options.port}` === want,
        );
        if (node) {
          try {
            return await node.call(...args);
          } catch (e) {
            if (errorCode(e, /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN)$/) === null) throw e;
            // stale slot map: let the cluster client follow the redirection
          }
        }
      }
    }
    return this.c.call(...args);
  }

  /** Reloads ioredis' slot map; a failure is left to the next attempt to report. */
  private refreshSlots(): Promise<void> {
    if (typeof this.c.refreshSlotsCache !== 'function') return Promise.resolve();
    return new Promise((resolve) => this.c.refreshSlotsCache(() => resolve()));
  }
}

function isTransport(x: Any): x is Transport {
  return x && typeof x.send === 'function' && typeof x.cluster === 'boolean';
}

/** Wraps a node-redis or ioredis client (standalone or cluster) in a Transport. */
export function transportFor(client: unknown): Transport {
  const c = client as Any;
  if (!c || typeof c !== 'object') throw new TypeError('redis-jwt: expected a Redis client');
  if (isTransport(c)) return c;
  if (c.isCluster === true && typeof c.call === 'function') return new IoRedisCluster(c);
  if (c.isCluster === false && typeof c.call === 'function') return new IoRedisClient(c);
  if (typeof c.sendCommand === 'function') {
    if ('masters' in c || typeof c.getMasters === 'function') return new NodeRedisCluster(c);
    return new NodeRedisClient(c);
  }
  throw new TypeError('redis-jwt: unsupported client (expected node-redis v4/v5 or ioredis)');
}

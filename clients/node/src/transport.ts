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

/** node-redis v4/v5 cluster: sendCommand(firstKey, isReadonly, args) routes by firstKey. */
class NodeRedisCluster implements Transport {
  readonly cluster = true;
  constructor(private c: Any) {}
  send(args: string[], routeKey: string | undefined): Promise<unknown> {
    // isReadonly false: a session signed a moment ago may not have reached a replica yet.
    return this.c.sendCommand(routeKey, false, args);
  }
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
 * follows redirections) when the slot map is not known or is stale.
 */
class IoRedisCluster implements Transport {
  readonly cluster = true;
  constructor(private c: Any) {}
  async send(args: string[], routeKey: string | undefined): Promise<unknown> {
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
            if (!(e instanceof Error) || !/^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /.test(e.message)) throw e;
            // stale slot map: let the cluster client follow the redirection
          }
        }
      }
    }
    return this.c.call(...args);
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

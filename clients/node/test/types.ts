// Compiled with `tsc --noEmit -p test` by clients/test.sh: the declarations as an application sees them.
import { createClient, createCluster } from 'redis5';
import Redis from 'ioredis';
import {
  RedisJwt,
  RevokedSession,
  RefreshReused,
  ReadOnlyError,
  JwtError,
  type Claims,
  type KeyInfo,
  type SessionInfo,
  type TokenPair,
  type UpdateResult,
  type Verified,
} from '..';
import { cookieSessions, type AuthInfo } from '../dist/express';

async function main(): Promise<void> {
  const jwt = new RedisJwt(await createClient().connect());
  new RedisJwt(createCluster({ rootNodes: [] }));
  new RedisJwt(new Redis());
  new RedisJwt(new Redis.Cluster([]));
  const token: string = await jwt.sign('alice', { claims: { role: 'admin' }, data: { cart: [1] }, ttl: '30d' });
  const pair: TokenPair = await jwt.sign('alice', { ttl: '30d', refresh: true });
  const claims: Claims = await jwt.verify(token);
  const v: Verified<{ cart: number[] }> = await jwt.verify<{ cart: number[] }>(token, { withData: true });
  const cart: number[] | undefined = v.data?.cart;
  const r = await jwt.refresh(pair.refreshToken);
  const sub: string = r.claims.sub;
  const sessions: SessionInfo[] = await jwt.sessions('alice', { withData: true });
  const ttl: number = sessions[0].ttl;
  const lastSeen: number | null = sessions[0].lastSeen;
  const meta: unknown = sessions[0].meta;
  await jwt.sign('alice', { meta: { device: 'Laptop' }, refresh: true });
  const u: UpdateResult | null = await jwt.update(token, { claims: { role: 'user' }, supersede: true });
  const newToken: string | undefined = u?.accessToken;
  await jwt.update(pair.refreshToken, { merge: { cart: null } });
  const n: number = await jwt.revoke('alice', { except: 'desk' });
  const kid: string = await jwt.keys.rotate('ES256');
  const imported: string = await jwt.keys.import('old', 'HS256', 'old-secret', { legacy: true });
  await jwt.keys.import('k2', 'HS256', 'a-secret-of-at-least-32-bytes-long!');
  const nextActive: string | null = await jwt.keys.revoke('old');
  const legacyKeys: KeyInfo[] = (await jwt.keys.list()).filter((k) => k.state === 'legacy');
  try {
    await jwt.verify(token);
  } catch (e) {
    if (e instanceof RevokedSession || e instanceof RefreshReused) console.log(e.code);
    if (e instanceof ReadOnlyError) console.log(e.code);
    if (e instanceof JwtError) console.log(e.message);
  }
  const auth = cookieSessions(jwt, { sameSite: 'strict', sign: { expires: '15m' } });
  const mw: (req: any, res: any, next: (e?: unknown) => void) => void = auth.required();
  const info: AuthInfo | undefined = undefined;
  console.log(claims, cart, sub, ttl, lastSeen, meta, newToken, n, kid, imported, nextActive, legacyKeys, mw, info);
}
void main;

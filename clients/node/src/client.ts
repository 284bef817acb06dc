import { ClusterRedirect, toJwtError } from './errors';
import { keyForSlot, tokenSubject, unverifiedPayload } from './token';
import { Transport, transportFor } from './transport';

/** A duration: integer seconds, or the module's `ms`-style string ('15m', '30d', '2.5 hrs'). */
export type Duration = number | string;

/** The verified payload of an access token. */
export interface Claims {
  sub: string;
  /** Absent on STATELESS tokens. */
  sid?: string;
  jti: string;
  iat: number;
  exp?: number;
  nbf?: number;
  iss?: string;
  aud?: string;
  [claim: string]: unknown;
}

export interface SignOptions {
  /** Public claims merged into the token (no reserved names). */
  claims?: Record<string, unknown>;
  /** Private JSON stored in the session, never in the token. */
  data?: unknown;
  /**
   * What the application says about this session (a device label, an IP, a user agent):
   * JSON of at most 512 bytes, listed by JWT.SESSIONS (`meta`), never in the token.
   */
  meta?: unknown;
  /** Idle lifetime of the session (TOUCH and REFRESH restart it). */
  ttl?: Duration;
  /** Lifetime of the access token. */
  expires?: Duration;
  /** Absolute cap on the session's life. */
  maxAge?: Duration;
  /** Caller-chosen session id (e.g. a device id). */
  sid?: string;
  aud?: string;
  iss?: string;
  /** Max live sessions of the subject for this call (0 = unlimited). */
  limit?: number;
  /** Sign with this kid instead of the active key. */
  key?: string;
  /** Also issue a refresh token. */
  refresh?: boolean;
}

export interface StatelessSignOptions {
  claims?: Record<string, unknown>;
  expires?: Duration;
  key?: string;
  aud?: string;
  iss?: string;
}

export interface VerifyOptions {
  aud?: string;
  iss?: string;
  withData?: boolean;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

/** REFRESH's reply: the new pair and the new access token's claims. */
export interface RefreshResult extends TokenPair {
  /** Claims of the new access token (the payload the server returned with it). */
  claims: Claims;
}

/** JWT.UPDATE options: at least one. `data` and `merge` do not combine. */
export interface UpdateOptions {
  /** Replaces the session's private DATA. */
  data?: unknown;
  /** Merges top-level fields into DATA (a JSON object or absent); a field set to null is removed. */
  merge?: Record<string, unknown>;
  /** Replaces the session's public claims; a new access token is issued. */
  claims?: Record<string, unknown>;
  /** The session's older access tokens stop verifying at once; a new access token is issued. */
  supersede?: boolean;
}

/** JWT.UPDATE's new access token (with `claims` or `supersede`) and its claims. */
export interface UpdateResult {
  accessToken: string;
  /** Claims of the new access token (read from the token the server just issued). */
  claims: Claims;
}

export interface Verified<D = unknown> {
  claims: Claims;
  /** The session's DATA (null when none). */
  data: D | null;
}

export interface DecodedToken {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

export interface SessionInfo {
  sid: string;
  /** Creation time, ms since the epoch. */
  created: number;
  /** Remaining life in ms. */
  ttl: number;
  /** When the session ends if not touched, ms since the epoch (now + ttl, computed locally). */
  expiresAt: number;
  /**
   * The session's absolute deadline in ms since the epoch (MAXAGE's, or for a session
   * without a refresh token the end of its access token), null when none.
   */
  maxAgeDeadline: number | null;
  /** Last SIGN, TOUCH (when it wrote) or REFRESH, ms since the epoch; null when unknown. */
  lastSeen: number | null;
  /** SIGN's META, parsed; null when none. */
  meta: unknown;
  /** DATA (only with `withData`). */
  data?: unknown;
  /** Any field the module adds later, as sent. */
  [field: string]: unknown;
}

/** `legacy`: a verify-only key imported with `{ legacy: true }` (JWT.KEY IMPORT ... LEGACY). */
export type KeyState = 'active' | 'ready' | 'retired' | 'legacy';

export interface KeyInfo {
  kid: string;
  alg: string;
  created: number;
  state: KeyState;
  retiresAt: number | null;
  [field: string]: unknown;
}

export interface KeyImportOptions {
  /**
   * JWT.KEY IMPORT ... LEGACY (HS256/384/512 only): a verify-only key for migrating from
   * the npm JWT libraries. It verifies tokens without a `kid` (and tokens whose `kid`
   * names it) as stateless tokens, may be shorter than the hash output (`weak` in
   * `keys.list()`), and never signs or becomes the active key.
   */
  legacy?: boolean;
}

export interface ExportedKey {
  kid: string;
  alg: string;
  material: string;
}

export interface Jwks {
  keys: Array<Record<string, unknown> & { kid: string; kty: string; alg: string }>;
}

export interface RevokeOptions {
  /** Only these sessions. */
  sids?: string[];
  /** All but this session ("log out other devices"). */
  except?: string;
}

// ---------------------------------------------------------------------------- parsing

function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v === null || v === undefined) throw new TypeError('redis-jwt: unexpected nil reply');
  return String(v);
}

function optStr(v: unknown): string | null {
  return v === null || v === undefined ? null : str(v);
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(str(v));
}

function optNum(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

function json(v: unknown): unknown {
  const s = optStr(v);
  return s === null ? null : JSON.parse(s);
}

function pair(v: unknown): [unknown, unknown] {
  if (!Array.isArray(v) || v.length < 2) throw new TypeError('redis-jwt: expected a two-element reply');
  return [v[0], v[1]];
}

/** A record reply: a RESP2 flat array [name, value, ...], a RESP3 map (Map or object). */
export function record(v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (Array.isArray(v)) {
    for (let i = 0; i + 1 < v.length; i += 2) out[str(v[i])] = v[i + 1];
  } else if (v instanceof Map) {
    for (const [k, val] of v) out[str(k)] = val;
  } else if (v && typeof v === 'object') {
    Object.assign(out, v);
  } else {
    throw new TypeError('redis-jwt: expected a record reply');
  }
  return out;
}

function list(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (v instanceof Set) return [...v];
  throw new TypeError('redis-jwt: expected an array reply');
}

function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function parseSession(v: unknown, now = Date.now()): SessionInfo {
  const r = record(v);
  const out: SessionInfo = {
    sid: str(r.sid),
    created: num(r.created),
    ttl: num(r.ttl),
    expiresAt: 0,
    maxAgeDeadline: optNum(r.maxage_deadline),
    lastSeen: optNum(r.last_seen),
    meta: json(r.meta),
  };
  out.expiresAt = now + out.ttl;
  if ('data' in r) out.data = json(r.data);
  for (const [k, val] of Object.entries(r)) {
    if (!['sid', 'created', 'ttl', 'maxage_deadline', 'last_seen', 'meta', 'data'].includes(k)) {
      out[camel(k)] = Buffer.isBuffer(val) ? val.toString('utf8') : val;
    }
  }
  return out;
}

export function parseKey(v: unknown): KeyInfo {
  const r = record(v);
  const out: KeyInfo = {
    kid: str(r.kid),
    alg: str(r.alg),
    created: num(r.created),
    state: str(r.state) as KeyState,
    retiresAt: optNum(r.retires_at),
  };
  for (const [k, val] of Object.entries(r)) {
    if (!['kid', 'alg', 'created', 'state', 'retires_at'].includes(k)) {
      out[camel(k)] = Buffer.isBuffer(val) ? val.toString('utf8') : val;
    }
  }
  return out;
}

function dur(d: Duration): string {
  return typeof d === 'number' ? String(Math.ceil(d)) : d;
}

function tokenPair(v: unknown): TokenPair {
  const [a, r] = pair(v);
  return { accessToken: str(a), refreshToken: str(r) };
}

// ---------------------------------------------------------------------------- client

/**
 * The redis-jwt commands as methods. Construct with a connected node-redis v4/v5 client
 * or cluster, an ioredis Redis or Cluster, or a custom {@link Transport}.
 *
 * Every method sends one command. Errors are {@link JwtError} subclasses.
 */
export class RedisJwt {
  readonly transport: Transport;
  /** JWT.KEY subcommands. */
  readonly keys: KeyCommands;

  constructor(client: unknown) {
    this.transport = transportFor(client);
    this.keys = new KeyCommands(this);
  }

  /**
   * Sends one command and parses its reply; reply errors become JwtError subclasses.
   * `route`: a key whose slot serves the command (`{sub}`), or undefined for any node.
   * Adding a command is one method calling this.
   */
  async command<T>(args: string[], route: string | undefined, parse: (reply: unknown) => T): Promise<T> {
    let reply: unknown;
    try {
      reply = await this.transport.send(args, route);
    } catch (e) {
      const err = toJwtError(e);
      // A token we could not read the subject of (a layout this client does not know)
      // went to any node: follow the module's MOVED once, by slot.
      const moved = err instanceof ClusterRedirect && route === undefined && this.transport.cluster
        ? /^MOVED (\d+) /.exec((err.cause as Error | undefined)?.message ?? '')
        : null;
      if (!moved) throw err;
      try {
        reply = await this.transport.send(args, keyForSlot(Number(moved[1])));
      } catch (e2) {
        throw toJwtError(e2);
      }
    }
    return parse(reply);
  }

  /** The routing key of a subject: its session keys live in the slot of `{sub}`. */
  static routeForSubject(sub: string): string {
    return `{${sub}}`;
  }

  /** The routing key of a token, read without verification (undefined: any node). */
  static routeForToken(token: string): string | undefined {
    const sub = tokenSubject(token);
    return sub === null ? undefined : `{${sub}}`;
  }

  /** JWT.SIGN: creates a session; the access token, or the pair with `refresh: true`. */
  sign(sub: string, options: SignOptions & { refresh: true }): Promise<TokenPair>;
  sign(sub: string, options?: SignOptions & { refresh?: false | undefined }): Promise<string>;
  sign(sub: string, options?: SignOptions): Promise<string | TokenPair>;
  sign(sub: string, o: SignOptions = {}): Promise<string | TokenPair> {
    const args = ['JWT.SIGN', sub];
    if (o.claims !== undefined) args.push('CLAIMS', JSON.stringify(o.claims));
    if (o.data !== undefined) args.push('DATA', JSON.stringify(o.data));
    if (o.meta !== undefined) args.push('META', JSON.stringify(o.meta));
    if (o.ttl !== undefined) args.push('TTL', dur(o.ttl));
    if (o.expires !== undefined) args.push('EXPIRES', dur(o.expires));
    if (o.maxAge !== undefined) args.push('MAXAGE', dur(o.maxAge));
    if (o.sid !== undefined) args.push('SID', o.sid);
    if (o.aud !== undefined) args.push('AUD', o.aud);
    if (o.iss !== undefined) args.push('ISS', o.iss);
    if (o.limit !== undefined) args.push('LIMIT', String(o.limit));
    if (o.key !== undefined) args.push('KEY', o.key);
    if (o.refresh) args.push('REFRESH');
    return this.command(args, RedisJwt.routeForSubject(sub), (r) => (o.refresh ? tokenPair(r) : str(r)));
  }

  /** JWT.SIGN ... STATELESS: a token with no session (service-to-service). */
  signStateless(sub: string, o: StatelessSignOptions = {}): Promise<string> {
    const args = ['JWT.SIGN', sub, 'STATELESS'];
    if (o.expires !== undefined) args.push('EXPIRES', dur(o.expires));
    if (o.claims !== undefined) args.push('CLAIMS', JSON.stringify(o.claims));
    if (o.key !== undefined) args.push('KEY', o.key);
    if (o.aud !== undefined) args.push('AUD', o.aud);
    if (o.iss !== undefined) args.push('ISS', o.iss);
    return this.command(args, RedisJwt.routeForSubject(sub), str);
  }

  /** JWT.VERIFY: the claims; with `withData: true`, `{ claims, data }`. */
  verify<D = unknown>(token: string, options: VerifyOptions & { withData: true }): Promise<Verified<D>>;
  verify(token: string, options?: VerifyOptions & { withData?: false | undefined }): Promise<Claims>;
  verify(token: string, o: VerifyOptions = {}): Promise<Claims | Verified> {
    const args = ['JWT.VERIFY', token];
    if (o.withData) args.push('WITHDATA');
    if (o.aud !== undefined) args.push('AUD', o.aud);
    if (o.iss !== undefined) args.push('ISS', o.iss);
    return this.command(args, RedisJwt.routeForToken(token), (r) => {
      if (!o.withData) return json(r) as Claims;
      const [p, d] = pair(r);
      return { claims: json(p) as Claims, data: json(d) };
    });
  }

  /** JWT.DECODE: header and payload, NOT verified (debugging). */
  decode(token: string): Promise<DecodedToken> {
    return this.command(['JWT.DECODE', token], undefined, (r) => {
      const [h, p] = pair(r);
      return { header: json(h) as Record<string, unknown>, payload: json(p) as Record<string, unknown> };
    });
  }

  /** JWT.TOUCH: verifies and slides the session's idle expiry; the claims. */
  touch(token: string, o: { ttl?: Duration } = {}): Promise<Claims> {
    const args = ['JWT.TOUCH', token];
    if (o.ttl !== undefined) args.push('TTL', dur(o.ttl));
    return this.command(args, RedisJwt.routeForToken(token), (r) => json(r) as Claims);
  }

  /** JWT.DESTROY (access or refresh token): true when a session was ended. */
  destroy(token: string): Promise<boolean> {
    return this.command(['JWT.DESTROY', token], RedisJwt.routeForToken(token), (r) => num(r) === 1);
  }

  /** JWT.REFRESH ... WITHPAYLOAD: rotation; the new pair and the new access token's claims. */
  refresh(refreshToken: string, o: { expires?: Duration } = {}): Promise<RefreshResult> {
    const args = ['JWT.REFRESH', refreshToken];
    if (o.expires !== undefined) args.push('EXPIRES', dur(o.expires));
    args.push('WITHPAYLOAD');
    return this.command(args, RedisJwt.routeForToken(refreshToken), (r) => {
      const p = tokenPair(r);
      // The server sends the new access token's payload along: no VERIFY, no local decoding.
      const payload = Array.isArray(r) && r.length > 2 ? json(r[2]) : null;
      return { ...p, claims: (payload ?? unverifiedPayload(p.accessToken)) as Claims };
    });
  }

  /**
   * JWT.UPDATE: changes a live session in place, proven by its access token or its
   * current refresh token. With `claims` or `supersede` the reply carries a new access
   * token for the same session (`{ accessToken, claims }`); otherwise null.
   */
  update(token: string, o: UpdateOptions): Promise<UpdateResult | null> {
    const args = ['JWT.UPDATE', token];
    if (o.data !== undefined) args.push('DATA', JSON.stringify(o.data));
    if (o.merge !== undefined) args.push('MERGE', JSON.stringify(o.merge));
    if (o.claims !== undefined) args.push('CLAIMS', JSON.stringify(o.claims));
    if (o.supersede) args.push('SUPERSEDE');
    return this.command(args, RedisJwt.routeForToken(token), (r) => {
      if (typeof r === 'number' || typeof r === 'bigint') return null;
      const accessToken = str(r);
      // Issued by the server in reply to this call: its payload needs no second VERIFY.
      return { accessToken, claims: unverifiedPayload(accessToken) as Claims };
    });
  }

  /** JWT.SESSIONS: the subject's live sessions, oldest first. */
  sessions(sub: string, o: { withData?: boolean } = {}): Promise<SessionInfo[]> {
    const args = ['JWT.SESSIONS', sub];
    if (o.withData) args.push('WITHDATA');
    return this.command(args, RedisJwt.routeForSubject(sub), (r) => {
      const now = Date.now();
      return list(r).map((s) => parseSession(s, now));
    });
  }

  /** One session of the subject (from JWT.SESSIONS), or null when it is gone. */
  async session(sub: string, sid: string, o: { withData?: boolean } = {}): Promise<SessionInfo | null> {
    return (await this.sessions(sub, o)).find((s) => s.sid === sid) ?? null;
  }

  /** JWT.COUNT: the number of live sessions. */
  count(sub: string): Promise<number> {
    return this.command(['JWT.COUNT', sub], RedisJwt.routeForSubject(sub), num);
  }

  /** JWT.REVOKE: ends all (or `sids`, or all but `except`) sessions; how many ended. */
  revoke(sub: string, o: RevokeOptions = {}): Promise<number> {
    const args = ['JWT.REVOKE', sub];
    if (o.sids !== undefined) {
      if (o.sids.length === 0) return Promise.resolve(0);
      args.push('SID', ...o.sids);
    }
    if (o.except !== undefined) args.push('EXCEPT', o.except);
    return this.command(args, RedisJwt.routeForSubject(sub), num);
  }

  /** JWT.JWKS: the public keys as a JSON Web Key Set. */
  jwks(): Promise<Jwks> {
    return this.command(['JWT.JWKS'], undefined, (r) => json(r) as Jwks);
  }
}

/** JWT.KEY subcommands (keyring administration; any node). */
export class KeyCommands {
  constructor(private jwt: RedisJwt) {}

  private run<T>(args: string[], parse: (r: unknown) => T): Promise<T> {
    return this.jwt.command(['JWT.KEY', ...args], undefined, parse);
  }

  list(): Promise<KeyInfo[]> {
    return this.run(['LIST'], (r) => list(r).map(parseKey));
  }
  /** A new key (HS256/384/512, ES256, ES384, EdDSA); its kid. */
  generate(alg: string, o: { kid?: string } = {}): Promise<string> {
    return this.run(o.kid === undefined ? ['GENERATE', alg] : ['GENERATE', alg, 'KID', o.kid], str);
  }
  /** Imports a secret (HS*) or PEM private key (with `legacy: true`, a verify-only HS* secret); its kid. */
  import(kid: string, alg: string, material: string, o: KeyImportOptions = {}): Promise<string> {
    const args = ['IMPORT', kid, alg, material];
    if (o.legacy) args.push('LEGACY');
    // The reply is OK (docs/commands.md): the kid is the one given.
    return this.run(args, (r) => {
      const s = optStr(r);
      return s === null || s === 'OK' ? kid : s;
    });
  }
  activate(kid: string): Promise<void> {
    return this.run(['ACTIVATE', kid], () => undefined);
  }
  /** Generates, activates and retires the previous active key; the new kid. */
  rotate(alg?: string): Promise<string> {
    return this.run(alg === undefined ? ['ROTATE'] : ['ROTATE', alg], str);
  }
  retire(kid: string): Promise<void> {
    return this.run(['RETIRE', kid], () => undefined);
  }
  /**
   * Breach response: the key is gone at once (its tokens answer INVALID); the active kid
   * after the revocation, or null when the keyring has no active key (e.g. a LEGACY key
   * revoked on a keyring that has never had a signing key).
   */
  revoke(kid: string): Promise<string | null> {
    return this.run(['REVOKE', kid], optStr);
  }
  /** Ends every session of every user created before now; the cutoff (ms). */
  cutoff(): Promise<number> {
    return this.run(['CUTOFF'], num);
  }
  export(kid: string): Promise<ExportedKey> {
    return this.run(['EXPORT', kid], (r) => {
      const a = list(r);
      return { kid: str(a[0]), alg: str(a[1]), material: str(a[2]) };
    });
  }
}

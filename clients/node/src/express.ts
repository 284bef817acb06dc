/**
 * Express middleware for the cookie flow: an access token and a refresh token in httpOnly
 * cookies, transparent refresh when the access token has expired, cookie lifetimes taken
 * from the module, and CSRF protection by a session-bound double-submit token.
 *
 * CSRF: at login a random token is put in the session's claims (claim `csrf`, carried by
 * every access token REFRESH issues) and in a cookie JavaScript can read. Unsafe requests
 * (not GET/HEAD/OPTIONS) must echo it in the `x-csrf-token` header (or a `_csrf` form
 * field); it is compared with the *verified* claim, so a cookie planted by a sibling
 * domain does not help an attacker.
 */
import { randomBytes, timingSafeEqual } from 'crypto';
import { Claims, RedisJwt, SessionInfo, SignOptions } from './client';
import { ExpiredToken, JwtError } from './errors';
import { unverifiedPayload } from './token';

/* eslint-disable @typescript-eslint/no-explicit-any */

/** What `required()` / `optional()` put on `req.auth`. */
export interface AuthInfo<D = unknown> {
  sub: string;
  sid: string;
  claims: Claims;
  /** The session's DATA (only with `withData: true`). */
  data?: D | null;
  accessToken: string;
  /** True when this request refreshed the tokens (new cookies were set). */
  refreshed: boolean;
  /** The CSRF token to echo in `x-csrf-token` (also in the readable CSRF cookie). */
  csrfToken: string | null;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      auth?: AuthInfo;
    }
  }
}

/** The parts of an Express request and response the middleware uses. */
export interface RequestLike {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  cookies?: Record<string, string>;
  body?: any;
  auth?: AuthInfo;
}
export interface ResponseLike {
  cookie(name: string, value: string, options: Record<string, unknown>): unknown;
  clearCookie(name: string, options: Record<string, unknown>): unknown;
  status(code: number): ResponseLike;
  json(body: unknown): unknown;
  headersSent?: boolean;
}
export type NextLike = (err?: unknown) => void;
export type Middleware = (req: any, res: any, next: NextLike) => void;

export interface CookieSessionOptions {
  /** Cookie names. */
  cookies?: { access?: string; refresh?: string; csrf?: string };
  /** `Secure` cookies (default true; browsers accept Secure cookies on http://localhost). */
  secure?: boolean;
  sameSite?: 'lax' | 'strict' | 'none';
  domain?: string;
  path?: string;
  /** CSRF protection (default on). */
  csrf?: false | { header?: string; field?: string; claim?: string };
  /** Fetch the session's DATA into `req.auth.data`. */
  withData?: boolean;
  /** Defaults for `login()` (ttl, expires, maxAge, aud, iss, limit...). */
  sign?: Omit<SignOptions, 'refresh' | 'sid'>;
  /** VERIFY expectations. */
  aud?: string;
  iss?: string;
  /**
   * How a refused request is answered. Default: 401 (403 for CSRF) with
   * `{ error: <code>, message }`.
   */
  onUnauthorized?: (req: any, res: any, error: AuthError) => void;
}

/** Why a request was refused: `code` is NOSESSION, CSRF or a module code (EXPIRED, REVOKED, REUSED...). */
export class AuthError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

export interface LoginResult {
  accessToken: string;
  refreshToken: string;
  claims: Claims;
  csrfToken: string | null;
  session: SessionInfo | null;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function parseCookieHeader(h: string | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const s = Array.isArray(h) ? h.join('; ') : h;
  if (!s) return out;
  for (const part of s.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    let v = part.slice(i + 1).trim();
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    if (!(k in out)) {
      try {
        out[k] = decodeURIComponent(v);
      } catch {
        out[k] = v;
      }
    }
  }
  return out;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class CookieSessions {
  readonly names: { access: string; refresh: string; csrf: string };
  private readonly csrf: { header: string; field: string; claim: string } | null;

  constructor(
    readonly jwt: RedisJwt,
    private readonly o: CookieSessionOptions = {},
  ) {
    this.names = {
      access: o.cookies?.access ?? 'access_token',
      refresh: o.cookies?.refresh ?? 'refresh_token',
      csrf: o.cookies?.csrf ?? 'csrf_token',
    };
    this.csrf =
      o.csrf === false
        ? null
        : {
            header: (o.csrf?.header ?? 'x-csrf-token').toLowerCase(),
            field: o.csrf?.field ?? '_csrf',
            claim: o.csrf?.claim ?? 'csrf',
          };
  }

  private base(): Record<string, unknown> {
    const b: Record<string, unknown> = {
      secure: this.o.secure ?? true,
      sameSite: this.o.sameSite ?? 'lax',
      path: this.o.path ?? '/',
    };
    if (this.o.domain) b.domain = this.o.domain;
    return b;
  }

  /** Sets the three cookies; lifetimes from the access token's exp and the session's remaining ttl. */
  private async setCookies(res: ResponseLike, accessToken: string, refreshToken: string, claims: Claims, session: SessionInfo | null): Promise<void> {
    const now = Date.now();
    const sessionMs = session ? Math.max(session.ttl, 0) : undefined;
    let accessMs = typeof claims.exp === 'number' ? claims.exp * 1000 - now : sessionMs;
    if (accessMs !== undefined && sessionMs !== undefined) accessMs = Math.min(accessMs, sessionMs);
    const base = this.base();
    // Whole seconds, rounded up: a cookie never dies before its token (Max-Age=0 would delete it).
    const opt = (ms: number | undefined) =>
      ms === undefined ? base : { ...base, maxAge: Math.max(Math.ceil(ms / 1000), 0) * 1000 };
    res.cookie(this.names.access, accessToken, { ...opt(accessMs), httpOnly: true });
    res.cookie(this.names.refresh, refreshToken, { ...opt(sessionMs), httpOnly: true });
    const csrf = this.csrf && claims[this.csrf.claim];
    if (typeof csrf === 'string') res.cookie(this.names.csrf, csrf, { ...opt(sessionMs), httpOnly: false });
  }

  /** Clears the three cookies. */
  clearCookies(res: ResponseLike): void {
    const base = this.base();
    for (const n of [this.names.access, this.names.refresh, this.names.csrf]) res.clearCookie(n, base);
  }

  cookiesOf(req: RequestLike): Record<string, string> {
    return req.cookies && Object.keys(req.cookies).length ? req.cookies : parseCookieHeader(req.headers.cookie);
  }

  /** Creates a session with a refresh token and sets the cookies. */
  async login(res: ResponseLike, sub: string, options: Omit<SignOptions, 'refresh'> = {}): Promise<LoginResult> {
    const claims = { ...(this.o.sign as any)?.claims, ...options.claims };
    const csrfToken = this.csrf ? randomBytes(24).toString('base64url') : null;
    if (this.csrf) claims[this.csrf.claim] = csrfToken;
    const pair = await this.jwt.sign(sub, { ...this.o.sign, ...options, claims, refresh: true });
    const payload = unverifiedPayload(pair.accessToken) as Claims;
    const session = await this.jwt.session(sub, payload.sid as string);
    await this.setCookies(res, pair.accessToken, pair.refreshToken, payload, session);
    return { ...pair, claims: payload, csrfToken, session };
  }

  /**
   * The request's session, refreshing when the access token has expired (new cookies
   * are set on `res`). Null when the request carries no session cookie. Throws
   * AuthError when it carries one that is not valid, or fails the CSRF check.
   */
  async authenticate(req: RequestLike, res: ResponseLike): Promise<AuthInfo | null> {
    const cookies = this.cookiesOf(req);
    const access = cookies[this.names.access];
    const refresh = cookies[this.names.refresh];
    if (!access && !refresh) return null;
    const wrap = (e: unknown): never => {
      if (e instanceof JwtError) throw new AuthError(e.code, e.message, 401, e);
      throw e;
    };
    let info: AuthInfo | null = null;
    if (access) {
      try {
        const vo = { aud: this.o.aud, iss: this.o.iss };
        if (this.o.withData) {
          const v = await this.jwt.verify(access, { ...vo, withData: true });
          info = this.info(v.claims, access, false, v.data);
        } else {
          info = this.info(await this.jwt.verify(access, vo), access, false);
        }
      } catch (e) {
        if (!(e instanceof ExpiredToken) || !refresh) wrap(e);
      }
    }
    if (!info) {
      // No access cookie (its cookie expired with the token) or an expired token: rotate.
      try {
        const r = await this.jwt.refresh(refresh);
        const session = await this.jwt.session(r.claims.sub, r.claims.sid as string, { withData: this.o.withData });
        await this.setCookies(res, r.accessToken, r.refreshToken, r.claims, session);
        info = this.info(r.claims, r.accessToken, true, this.o.withData ? (session?.data ?? null) : undefined);
      } catch (e) {
        wrap(e);
      }
    }
    this.checkCsrf(req, info!);
    return info;
  }

  private info(claims: Claims, accessToken: string, refreshed: boolean, data?: unknown): AuthInfo {
    const csrf = this.csrf ? claims[this.csrf.claim] : undefined;
    const info: AuthInfo = {
      sub: claims.sub,
      sid: claims.sid as string,
      claims,
      accessToken,
      refreshed,
      csrfToken: typeof csrf === 'string' ? csrf : null,
    };
    if (data !== undefined) info.data = data;
    return info;
  }

  private checkCsrf(req: RequestLike, info: AuthInfo): void {
    if (!this.csrf || SAFE_METHODS.has(req.method.toUpperCase())) return;
    const h = req.headers[this.csrf.header];
    const given = (Array.isArray(h) ? h[0] : h) ?? (req.body && typeof req.body === 'object' ? req.body[this.csrf.field] : undefined);
    if (!info.csrfToken || typeof given !== 'string' || !safeEqual(given, info.csrfToken)) {
      throw new AuthError('CSRF', 'missing or wrong CSRF token', 403);
    }
  }

  private refuse(req: any, res: any, err: AuthError): void {
    // A dead session's cookies are useless: clear them (not on a CSRF refusal).
    if (err.status === 401) this.clearCookies(res);
    if (this.o.onUnauthorized) return this.o.onUnauthorized(req, res, err);
    res.status(err.status).json({ error: err.code, message: err.message });
  }

  /** Middleware: a valid session is required (401 otherwise); sets `req.auth`. */
  required(): Middleware {
    return (req, res, next) => {
      this.authenticate(req, res).then(
        (info) => {
          if (!info) return this.refuse(req, res, new AuthError('NOSESSION', 'login required', 401));
          req.auth = info;
          next();
        },
        (e) => (e instanceof AuthError ? this.refuse(req, res, e) : next(e)),
      );
    };
  }

  /** Middleware: `req.auth` when a valid session comes with the request; never refuses except on CSRF. */
  optional(): Middleware {
    return (req, res, next) => {
      this.authenticate(req, res).then(
        (info) => {
          if (info) req.auth = info;
          next();
        },
        (e) => {
          if (!(e instanceof AuthError)) return next(e);
          if (e.status === 403) return this.refuse(req, res, e);
          this.clearCookies(res);
          next();
        },
      );
    };
  }

  /** Logout: ends this session (with the refresh token, else the access token) and clears the cookies. */
  async logout(req: RequestLike, res: ResponseLike): Promise<boolean> {
    const c = this.cookiesOf(req);
    const token = c[this.names.refresh] || c[this.names.access] || req.auth?.accessToken;
    this.clearCookies(res);
    if (!token) return false;
    try {
      return await this.jwt.destroy(token);
    } catch (e) {
      if (e instanceof JwtError) return false;
      throw e;
    }
  }

  /** Logout everywhere: ends every session of the request's subject (needs `required()` first). */
  async logoutEverywhere(req: RequestLike, res: ResponseLike): Promise<number> {
    if (!req.auth) throw new AuthError('NOSESSION', 'login required', 401);
    this.clearCookies(res);
    return this.jwt.revoke(req.auth.sub);
  }

  /** Ends the subject's other sessions, keeping the request's. */
  async logoutOthers(req: RequestLike): Promise<number> {
    if (!req.auth) throw new AuthError('NOSESSION', 'login required', 401);
    return this.jwt.revoke(req.auth.sub, { except: req.auth.sid });
  }
}

/** `cookieSessions(jwt, options)`: the Express cookie flow on a RedisJwt. */
export function cookieSessions(jwt: RedisJwt, options?: CookieSessionOptions): CookieSessions {
  return new CookieSessions(jwt, options);
}


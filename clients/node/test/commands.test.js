'use strict';
// Every command through every supported client, standalone and cluster; and the Express
// middleware's options (src/express.ts) on each of them.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const Redis = require('ioredis');
const { RedisJwt, InvalidToken, ExpiredToken, RevokedSession, RefreshReused, SessionLimit, NoPermission, ReadOnlyError, CommandError, JwtError } = require('..');
const { cookieSessions } = require('../dist/express');
const { FACTORIES, admin, uniq, noSigningKey, clusterNodes, clusterReplicas } = require('./helpers');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An HS256 token signed here, as jsonwebtoken would (no kid unless given): not by the module. */
function hs256(secret, payload, kid) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64(kid === undefined ? { alg: 'HS256', typ: 'JWT' } : { alg: 'HS256', typ: 'JWT', kid })}.${b64(payload)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** Claims of a token that an old deployment signed: valid for five minutes. */
function legacyClaims(sub) {
  const now = Math.floor(Date.now() / 1000);
  return { sub, role: 'legacy', iat: now, exp: now + 300 };
}

/** The parts of an Express response the middleware uses; records the cookies set and cleared. */
function fakeRes() {
  return {
    cookies: {},
    cleared: [],
    statusCode: 200,
    body: undefined,
    cookie(name, value, options) {
      this.cookies[name] = { value, ...options };
    },
    clearCookie(name) {
      this.cleared.push(name);
    },
    status(code) {
      this.statusCode = code;
      return this;
    },
    json(body) {
      this.body = body;
      return this;
    },
  };
}

/**
 * Runs a middleware on a request carrying `cookies` (and `headers`): resolves with
 * { req, res, passed } once it calls next() (passed) or answers (refused).
 */
function through(mw, method, cookies, headers = {}) {
  const req = { method, headers, cookies, body: {} };
  const res = fakeRes();
  return new Promise((resolve, reject) => {
    const json = res.json;
    res.json = function (body) {
      json.call(this, body);
      resolve({ req, res, passed: false });
      return this;
    };
    mw(req, res, (err) => (err ? reject(err) : resolve({ req, res, passed: true })));
  });
}

/** The cookie values a login (or a refresh) set, as the browser sends them back. */
const cookieJar = (res) => Object.fromEntries(Object.entries(res.cookies).map(([n, c]) => [n, c.value]));

for (const [name, connect] of Object.entries(FACTORIES)) {
  describe(name, () => {
    let conn;
    let jwt;
    before(async () => {
      conn = await connect();
      jwt = new RedisJwt(conn.client);
      assert.equal(jwt.transport.cluster, !!conn.cluster);
    });
    after(() => conn && conn.close());

    test('sign and verify with claims and private data', async () => {
      const sub = uniq('alice');
      const token = await jwt.sign(sub, { claims: { role: 'admin' }, data: { cart: [42] }, ttl: '30m', expires: '15m' });
      assert.equal(typeof token, 'string');
      const claims = await jwt.verify(token);
      assert.equal(claims.sub, sub);
      assert.equal(claims.role, 'admin');
      assert.equal(typeof claims.sid, 'string');
      assert.ok(claims.exp - claims.iat === 900);
      const v = await jwt.verify(token, { withData: true });
      assert.deepEqual(v.data, { cart: [42] });
      assert.equal(v.claims.sub, sub);
      const d = await jwt.decode(token);
      assert.equal(d.header.typ, 'JWT');
      assert.equal(d.payload.sub, sub);
      const t = await jwt.touch(token, { ttl: '2h' });
      assert.equal(t.jti, claims.jti);
      const [s] = await jwt.sessions(sub, { withData: true });
      // Without a refresh token the session ends with its access token (exp): TOUCH
      // cannot stretch it past, and that is its absolute deadline.
      assert.ok(s.ttl > 800 * 1000 && s.ttl <= 900 * 1000, `ttl ${s.ttl}`);
      assert.ok(s.expiresAt > Date.now());
      assert.equal(s.sid, claims.sid);
      assert.equal(s.maxAgeDeadline, claims.exp * 1000);
      assert.deepEqual(s.data, { cart: [42] });
      assert.equal(await jwt.destroy(token), true);
      assert.equal(await jwt.destroy(token), false);
      await assert.rejects(jwt.verify(token), RevokedSession);
      const v2 = await jwt.verify(await jwt.sign(sub), { withData: true });
      assert.equal(v2.data, null);
    });

    test('refresh rotation, parsed claims, reuse detection', async () => {
      const sub = uniq('bob');
      const p0 = await jwt.sign(sub, { sid: 'phone', claims: { plan: 'pro' }, refresh: true, maxAge: '7d' });
      assert.match(p0.refreshToken, /^jwtr_/);
      const p1 = await jwt.refresh(p0.refreshToken, { expires: 60 });
      assert.equal(p1.claims.sub, sub);
      assert.equal(p1.claims.sid, 'phone');
      assert.equal(p1.claims.plan, 'pro');
      assert.equal(p1.claims.exp - p1.claims.iat, 60);
      const p2 = await jwt.refresh(p1.refreshToken);
      await jwt.verify(p2.accessToken);
      // p0 is two generations old: reuse even inside the grace window; the session is revoked.
      await assert.rejects(jwt.refresh(p0.refreshToken), (e) => e instanceof RefreshReused && e.code === 'REUSED');
      await assert.rejects(jwt.verify(p2.accessToken), RevokedSession);
      await assert.rejects(jwt.refresh(p2.refreshToken), RevokedSession);
      // logout with the refresh token
      const p3 = await jwt.sign(sub, { refresh: true });
      assert.equal(await jwt.destroy(p3.refreshToken), true);
      await assert.rejects(jwt.verify(p3.accessToken), RevokedSession);
    });

    test('update: data, merge, claims and supersede, by access or refresh token', async () => {
      const sub = uniq('upd');
      const p = await jwt.sign(sub, { claims: { role: 'admin' }, data: { cart: [1] }, refresh: true });
      const c0 = await jwt.verify(p.accessToken);
      const dataOf = async (t) => (await jwt.verify(t, { withData: true })).data;
      assert.equal(await jwt.update(p.accessToken, { merge: { cart: [1, 2], seen: true } }), null);
      assert.deepEqual(await dataOf(p.accessToken), { cart: [1, 2], seen: true });
      assert.equal(await jwt.update(p.accessToken, { merge: { seen: null } }), null);
      assert.deepEqual(await dataOf(p.accessToken), { cart: [1, 2] });
      assert.equal(await jwt.update(p.refreshToken, { data: ['replaced'] }), null);
      assert.deepEqual(await dataOf(p.accessToken), ['replaced']);
      // new claims: a new access token for the same session; older ones verify until exp
      const u = await jwt.update(p.accessToken, { claims: { role: 'user' } });
      assert.equal(typeof u.accessToken, 'string');
      assert.equal(u.claims.sub, sub);
      assert.equal(u.claims.sid, c0.sid);
      assert.equal(u.claims.role, 'user');
      assert.notEqual(u.claims.jti, c0.jti);
      assert.equal(u.claims.exp - u.claims.iat, c0.exp - c0.iat);
      assert.equal((await jwt.verify(u.accessToken)).role, 'user');
      assert.equal((await jwt.verify(p.accessToken)).role, 'admin');
      // supersede, proven by the refresh token: every older access token is refused at once
      const s = await jwt.update(p.refreshToken, { supersede: true });
      assert.equal(s.claims.role, 'user');
      assert.equal(s.claims.sid, c0.sid);
      assert.equal(typeof s.claims.sver, 'number');
      await assert.rejects(jwt.verify(p.accessToken), RevokedSession);
      await assert.rejects(jwt.verify(u.accessToken), RevokedSession);
      assert.equal((await jwt.verify(s.accessToken)).role, 'user');
      // claims and supersede together
      // MERGE needs DATA to be an object (it is an array now): refused, nothing changed
      await assert.rejects(jwt.update(s.accessToken, { merge: { n: 1 }, supersede: true }), CommandError);
      await jwt.verify(s.accessToken);
      const both = await jwt.update(s.accessToken, { claims: { role: 'guest' }, supersede: true, data: { n: 1 } });
      assert.equal(both.claims.role, 'guest');
      await assert.rejects(jwt.verify(s.accessToken), RevokedSession);
      assert.deepEqual(await dataOf(both.accessToken), { n: 1 });
      // UPDATE never rotates: the refresh token lives on, and REFRESH carries the new claims
      const r = await jwt.refresh(p.refreshToken);
      assert.equal(r.claims.role, 'guest');
      assert.equal(r.claims.sid, c0.sid);
      // a rotated-away refresh token is INVALID here (not reuse: the session lives on)
      await assert.rejects(jwt.update(p.refreshToken, { merge: { x: 1 } }), InvalidToken);
      await jwt.verify(r.accessToken);
      await assert.rejects(jwt.update(r.accessToken, { data: 1, merge: { a: 1 } }), CommandError);
      await assert.rejects(jwt.update(r.accessToken, {}), CommandError);
      assert.equal(await jwt.destroy(r.refreshToken), true);
      await assert.rejects(jwt.update(r.accessToken, { merge: { a: 1 } }), RevokedSession);
    });

    test('meta and last_seen in sessions; refresh returns the server payload', async () => {
      const sub = uniq('meta');
      const p = await jwt.sign(sub, { sid: 'phone', meta: { device: 'Phone Safari', ip: '10.0.0.7' }, refresh: true });
      await jwt.sign(sub, { sid: 'desk' });
      const byId = async () => Object.fromEntries((await jwt.sessions(sub)).map((x) => [x.sid, x]));
      let ss = await byId();
      assert.deepEqual(ss.phone.meta, { device: 'Phone Safari', ip: '10.0.0.7' });
      assert.equal(ss.desk.meta, null);
      assert.equal(typeof ss.phone.lastSeen, 'number');
      assert.ok(Math.abs(ss.phone.lastSeen - ss.phone.created) < 1000);
      assert.equal(ss.phone.maxAgeDeadline, null, 'a refreshable session has no absolute deadline without MAXAGE');
      assert.ok(!('last_seen' in ss.phone), 'no raw snake_case duplicate');
      const seen = ss.phone.lastSeen;
      await sleep(30);
      const r = await jwt.refresh(p.refreshToken);
      assert.deepEqual(Object.keys(r).sort(), ['accessToken', 'claims', 'refreshToken']);
      assert.equal(r.claims.sub, sub);
      assert.equal(r.claims.sid, 'phone');
      assert.deepEqual(r.claims, (await jwt.decode(r.accessToken)).payload);
      ss = await byId();
      assert.ok(ss.phone.lastSeen > seen, `last_seen moved: ${ss.phone.lastSeen} > ${seen}`);
      assert.deepEqual(ss.phone.meta, { device: 'Phone Safari', ip: '10.0.0.7' }, 'META survives a refresh');
      await assert.rejects(jwt.sign(sub, { meta: { note: 'x'.repeat(600) } }), CommandError);
      assert.equal(await jwt.count(sub), 2);
    });

    test('sessions, count and revoke', async () => {
      const sub = uniq('carol');
      for (const sid of ['laptop', 'phone', 'desk']) await jwt.sign(sub, { sid, data: { device: sid } });
      const ss = await jwt.sessions(sub);
      assert.deepEqual(ss.map((s) => s.sid).sort(), ['desk', 'laptop', 'phone']);
      assert.ok(ss.every((s) => typeof s.created === 'number' && s.created > 1.6e12 && !('data' in s)));
      assert.equal(await jwt.count(sub), 3);
      assert.equal((await jwt.session(sub, 'phone', { withData: true })).data.device, 'phone');
      assert.equal(await jwt.session(sub, 'nope'), null);
      assert.equal(await jwt.revoke(sub, { sids: ['laptop'] }), 1);
      assert.equal(await jwt.revoke(sub, { except: 'desk' }), 1);
      assert.deepEqual((await jwt.sessions(sub)).map((s) => s.sid), ['desk']);
      assert.equal(await jwt.revoke(sub), 1);
      assert.equal(await jwt.count(sub), 0);
      assert.deepEqual(await jwt.sessions(sub), []);
    });

    test('express middleware, withData: true puts the session\'s DATA on req.auth.data', async () => {
      // clients/node/README.md: "`withData: true` puts the session's DATA on `req.auth.data`"
      const sub = uniq('wd');
      const auth = cookieSessions(jwt, { withData: true });
      const login = fakeRes();
      await auth.login(login, sub, { data: { cart: [42] } });
      const jar = cookieJar(login);
      // with the access token: VERIFY ... WITHDATA
      let r = await through(auth.required(), 'GET', jar);
      assert.ok(r.passed, JSON.stringify(r.res.body));
      assert.equal(r.req.auth.refreshed, false);
      assert.deepEqual(r.req.auth.data, { cart: [42] });
      // DATA as it is now, not as it was at login
      assert.equal(await jwt.update(jar.access_token, { merge: { seen: true } }), null);
      r = await through(auth.required(), 'GET', jar);
      assert.deepEqual(r.req.auth.data, { cart: [42], seen: true });
      // without the access cookie: REFRESH, then the session's DATA from JWT.SESSIONS
      r = await through(auth.required(), 'GET', { refresh_token: jar.refresh_token });
      assert.ok(r.passed, JSON.stringify(r.res.body));
      assert.equal(r.req.auth.refreshed, true);
      assert.deepEqual(r.req.auth.data, { cart: [42], seen: true });
      const refreshed = cookieJar(r.res);
      r = await through(auth.optional(), 'GET', refreshed);
      assert.deepEqual(r.req.auth.data, { cart: [42], seen: true }, 'optional() too');
      // a session without DATA: null
      const bare = fakeRes();
      await auth.login(bare, uniq('wd'));
      r = await through(auth.required(), 'GET', cookieJar(bare));
      assert.equal(r.req.auth.data, null);
      r = await through(auth.required(), 'GET', { refresh_token: cookieJar(bare).refresh_token });
      assert.equal(r.req.auth.refreshed, true);
      assert.equal(r.req.auth.data, null);
      // without the option, no data on req.auth (either way)
      const plain = cookieSessions(jwt);
      r = await through(plain.required(), 'GET', refreshed);
      assert.equal(r.req.auth.refreshed, false);
      assert.ok(!('data' in r.req.auth));
      r = await through(plain.required(), 'GET', { refresh_token: refreshed.refresh_token });
      assert.equal(r.req.auth.refreshed, true);
      assert.ok(!('data' in r.req.auth));
      await jwt.revoke(sub);
    });

    test('express middleware, csrf: false turns the CSRF check off', async () => {
      // clients/node/README.md: "Refusal: 403 { error: 'CSRF' }. `csrf: false` turns it off."
      const sub = uniq('nocsrf');
      const on = cookieSessions(jwt);
      const withCsrf = fakeRes();
      const l1 = await on.login(withCsrf, sub);
      assert.equal(typeof l1.csrfToken, 'string');
      let r = await through(on.required(), 'POST', cookieJar(withCsrf));
      assert.equal(r.passed, false, 'the check is on by default');
      assert.equal(r.res.statusCode, 403);
      assert.equal(r.res.body.error, 'CSRF');

      const off = cookieSessions(jwt, { csrf: false });
      const login = fakeRes();
      const l2 = await off.login(login, sub);
      assert.equal(l2.csrfToken, null);
      assert.equal(l2.claims.csrf, undefined, 'no csrf claim in the session');
      assert.deepEqual(Object.keys(login.cookies).sort(), ['access_token', 'refresh_token'], 'no CSRF cookie');
      const jar = cookieJar(login);
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        r = await through(off.required(), method, jar);
        assert.ok(r.passed, `${method}: ${JSON.stringify(r.res.body)}`);
        assert.equal(r.req.auth.sid, l2.claims.sid);
        assert.equal(r.req.auth.csrfToken, null);
      }
      // a wrong token is not checked either, nor after a refresh, nor by optional()
      r = await through(off.required(), 'POST', jar, { 'x-csrf-token': 'guess' });
      assert.ok(r.passed);
      r = await through(off.required(), 'POST', { refresh_token: jar.refresh_token });
      assert.ok(r.passed, JSON.stringify(r.res.body));
      assert.equal(r.req.auth.refreshed, true);
      assert.ok(!('csrf_token' in r.res.cookies));
      r = await through(off.optional(), 'POST', cookieJar(r.res));
      assert.ok(r.passed);
      assert.equal(r.req.auth.sub, sub);
      await jwt.revoke(sub);
    });

    test('error classes', async () => {
      await assert.rejects(jwt.verify('not-a-token'), (e) => e instanceof InvalidToken && e.code === 'INVALID' && e instanceof JwtError);
      await assert.rejects(jwt.refresh('jwtr_AAAA'), InvalidToken);
      await assert.rejects(jwt.sign('a{b'), (e) => e instanceof CommandError && e.code === 'ERR');
      await assert.rejects(jwt.sign(uniq('d'), { ttl: 'forever' }), CommandError);
      const p = await jwt.sign(uniq('d'), { refresh: true });
      await assert.rejects(jwt.verify(p.refreshToken), InvalidToken);
      await assert.rejects(jwt.refresh(p.accessToken), InvalidToken);
    });

    test('stateless tokens, keys and JWKS', async () => {
      const t = await jwt.signStateless('svc', { expires: '5m', claims: { scope: 'read' } });
      const c = await jwt.verify(t);
      assert.equal(c.scope, 'read');
      assert.equal(c.sid, undefined);
      const keys = await jwt.keys.list();
      assert.ok(keys.length >= 1);
      assert.ok(keys.some((k) => k.state === 'active'));
      assert.ok(keys.every((k) => typeof k.kid === 'string' && typeof k.created === 'number'));
      const jwks = await jwt.jwks();
      assert.ok(Array.isArray(jwks.keys));
    });

    if (!name.includes('cluster')) {
      test('expired tokens', async () => {
        const t = await jwt.sign(uniq('e'), { expires: 1 });
        await sleep(2100);
        await assert.rejects(jwt.verify(t), (e) => e instanceof ExpiredToken && e.code === 'EXPIRED');
      });

      test('key administration', async () => {
        const kid = await jwt.keys.generate('ES256', { kid: uniq('es') });
        const ks = await jwt.keys.list();
        assert.equal(ks.find((k) => k.kid === kid).alg, 'ES256');
        assert.ok((await jwt.jwks()).keys.some((k) => k.kid === kid && k.kty === 'EC'));
        const ex = await jwt.keys.export(kid);
        assert.equal(ex.alg, 'ES256');
        assert.match(ex.material, /BEGIN PRIVATE KEY/);
        const t = await jwt.sign(uniq('k'), { key: kid });
        assert.equal((await jwt.decode(t)).header.kid, kid);
        await jwt.verify(t);
        const active = (await jwt.keys.list()).find((k) => k.state === 'active').kid;
        assert.equal(await jwt.keys.revoke(kid), active);
        await assert.rejects(jwt.verify(t), InvalidToken);
      });

      test('LEGACY key import: verify-only, for tokens signed elsewhere', async () => {
        // docs/commands.md, JWT.KEY IMPORT ... LEGACY: verifies tokens without a kid (and
        // those whose kid names it) as stateless tokens; a secret shorter than the hash is
        // allowed and reported weak; it never signs nor becomes the active key.
        const kid = uniq('legacy');
        const secret = uniq('old-app-secret'); // 23 bytes: shorter than SHA-256's 32
        const active = (await jwt.keys.list()).find((k) => k.state === 'active').kid;
        assert.equal(await jwt.keys.import(kid, 'HS256', secret, { legacy: true }), kid);
        try {
          const k = (await jwt.keys.list()).find((x) => x.kid === kid);
          assert.equal(k.state, 'legacy');
          assert.equal(k.alg, 'HS256');
          assert.equal(Number(k.weak), 1);
          assert.equal((await jwt.keys.list()).find((x) => x.state === 'active').kid, active, 'never the active key');
          const sub = uniq('old-user');
          for (const token of [hs256(secret, legacyClaims(sub)), hs256(secret, legacyClaims(sub), kid)]) {
            const c = await jwt.verify(token);
            assert.equal(c.sub, sub);
            assert.equal(c.role, 'legacy');
            assert.equal(c.sid, undefined, 'stateless: no session');
            assert.equal((await jwt.verify(token, { withData: true })).data, null);
          }
          await assert.rejects(jwt.verify(hs256(`${secret}-not-it`, legacyClaims(sub))), InvalidToken);
          await assert.rejects(jwt.sign(uniq('k'), { key: kid }), CommandError, 'a LEGACY key never signs');
          await assert.rejects(jwt.keys.activate(kid), CommandError);
        } finally {
          assert.equal(await jwt.keys.revoke(kid), active);
        }
        await assert.rejects(jwt.verify(hs256(secret, legacyClaims('x'), kid)), InvalidToken);
        // without the option, IMPORT imports a key that signs (no LEGACY sent)
        const kid2 = uniq('hs');
        assert.equal(await jwt.keys.import(kid2, 'HS256', crypto.randomBytes(24).toString('hex')), kid2);
        assert.equal((await jwt.keys.list()).find((x) => x.kid === kid2).state, 'ready');
        assert.equal(await jwt.keys.revoke(kid2), active);
      });
    }

    if (name.includes('cluster')) {
      test('a token whose subject cannot be read follows MOVED', async () => {
        // Simulate a refresh-token layout this client does not know: route to "any node".
        const orig = RedisJwt.routeForToken;
        const subs = Array.from({ length: 6 }, (_, i) => uniq(`mv${i}`));
        const pairs = await Promise.all(subs.map((s) => jwt.sign(s, { refresh: true })));
        RedisJwt.routeForToken = () => undefined;
        try {
          for (let i = 0; i < subs.length; i++) {
            assert.equal((await jwt.verify(pairs[i].accessToken)).sub, subs[i]);
            assert.equal((await jwt.update(pairs[i].refreshToken, { claims: { i } })).claims.sub, subs[i]);
            assert.equal((await jwt.refresh(pairs[i].refreshToken)).claims.i, i);
          }
        } finally {
          RedisJwt.routeForToken = orig;
        }
      });

      test('token commands are routed by subject across all primaries', async () => {
        const subs = Array.from({ length: 24 }, (_, i) => uniq(`u${i}`));
        const pairs = await Promise.all(subs.map((s) => jwt.sign(s, { refresh: true, data: { s } })));
        for (let i = 0; i < subs.length; i++) {
          const v = await jwt.verify(pairs[i].accessToken, { withData: true });
          assert.equal(v.data.s, subs[i]);
          await jwt.touch(pairs[i].accessToken);
          assert.equal(await jwt.update(pairs[i].accessToken, { merge: { i } }), null);
          const u = await jwt.update(pairs[i].refreshToken, { claims: { i }, supersede: true });
          assert.equal(u.claims.sub, subs[i]);
          await assert.rejects(jwt.verify(pairs[i].accessToken), RevokedSession);
          assert.deepEqual((await jwt.verify(u.accessToken, { withData: true })).data, { s: subs[i], i });
          const r = await jwt.refresh(pairs[i].refreshToken);
          assert.equal(r.claims.sub, subs[i]);
          assert.equal(r.claims.i, i);
          assert.equal(await jwt.count(subs[i]), 1);
          assert.equal(await jwt.destroy(r.refreshToken), true);
          await assert.rejects(jwt.verify(r.accessToken), RevokedSession);
        }
      });
    }
  });
}

const standaloneFactories = () => Object.entries(FACTORIES).filter(([n]) => !n.includes('cluster'));

describe('JWT.KEY REVOKE on a keyring without a signing key answers nil', () => {
  // REDIS_JWT_NO_SIGNING_KEY: a server nothing signs on. A LEGACY key never becomes the
  // active key, so after revoking it the keyring has no active key: nil, returned as null.
  for (const [name, connect] of standaloneFactories()) {
    test(name, async () => {
      const conn = await connect({}, noSigningKey());
      try {
        const jwt = new RedisJwt(conn.client);
        const before = await jwt.keys.list();
        assert.ok(before.every((k) => k.state === 'legacy'), `the keyring has a signing key: ${JSON.stringify(before)}`);
        const kid = uniq('legacy');
        const secret = crypto.randomBytes(32).toString('hex');
        await jwt.keys.import(kid, 'HS256', secret, { legacy: true });
        const sub = uniq('old-user');
        assert.equal((await jwt.verify(hs256(secret, legacyClaims(sub)))).sub, sub);
        assert.equal(await jwt.keys.revoke(kid), null);
        await assert.rejects(jwt.verify(hs256(secret, legacyClaims(sub))), InvalidToken);
        assert.ok(!(await jwt.keys.list()).some((k) => k.kid === kid));
      } finally {
        await conn.close();
      }
    });
  }
});

describe('READONLY: a keyring change sent to a replica', () => {
  // One of the cluster's replicas (clients/test.sh), reached with standalone clients:
  // JWT.KEY writes are refused there (by Redis, or by the module on a writable replica),
  // and nothing retries them outside a cluster client.
  let replica;
  before(async () => {
    for (const a of [...clusterReplicas(), ...clusterNodes()]) {
      const c = new Redis({ host: a.host, port: a.port });
      try {
        if ((await c.call('ROLE'))[0] === 'slave') replica = replica ?? a;
      } finally {
        await c.quit();
      }
    }
    assert.ok(replica, 'no replica among the cluster nodes');
  });

  for (const [name, connect] of standaloneFactories()) {
    test(name, async () => {
      const conn = await connect({}, replica);
      try {
        const jwt = new RedisJwt(conn.client);
        const isReadOnly = (e) => e instanceof ReadOnlyError && e instanceof JwtError && e.code === 'READONLY' && e.name === 'ReadOnlyError';
        await assert.rejects(jwt.keys.generate('ES256', { kid: uniq('ro') }), isReadOnly);
        await assert.rejects(jwt.keys.import(uniq('ro'), 'HS256', 'a-legacy-secret', { legacy: true }), isReadOnly);
        await assert.rejects(jwt.keys.rotate(), isReadOnly);
        await assert.rejects(jwt.keys.cutoff(), isReadOnly);
        // reads work on a replica
        assert.ok(Array.isArray(await jwt.keys.list()));
      } finally {
        await conn.close();
      }
    });
  }
});

describe('standalone server policies', () => {
  let a;
  before(() => {
    a = admin();
  });
  after(() => a.quit());

  test('LIMIT with policy deny', async () => {
    await a.call('CONFIG', 'SET', 'jwt.max-sessions-policy', 'deny');
    try {
      for (const [name, connect] of Object.entries(FACTORIES).filter(([n]) => !n.includes('cluster'))) {
        const conn = await connect();
        try {
          const jwt = new RedisJwt(conn.client);
          const sub = uniq('lim');
          await jwt.sign(sub, { limit: 1 });
          await assert.rejects(jwt.sign(sub, { limit: 1 }), (e) => e instanceof SessionLimit && e.code === 'LIMIT', name);
        } finally {
          await conn.close();
        }
      }
    } finally {
      await a.call('CONFIG', 'SET', 'jwt.max-sessions-policy', 'evict-oldest');
    }
  });

  test('NOPERM under an ACL user limited to one subject', async () => {
    const user = uniq('acl');
    await a.call('ACL', 'SETUSER', user, 'on', '>pw', '~jwt:{alice}*', '+@all');
    try {
      for (const [name, connect] of Object.entries(FACTORIES).filter(([n]) => !n.includes('cluster'))) {
        const conn = await connect({ username: user, password: 'pw' });
        try {
          const jwt = new RedisJwt(conn.client);
          await jwt.sessions('alice');
          await assert.rejects(jwt.sessions('bob'), (e) => e instanceof NoPermission && e.code === 'NOPERM', name);
          await assert.rejects(jwt.revoke('bob'), NoPermission, name);
        } finally {
          await conn.close();
        }
      }
    } finally {
      await a.call('ACL', 'DELUSER', user);
    }
  });
});

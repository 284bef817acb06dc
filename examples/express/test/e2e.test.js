'use strict';
// The tutorial's flow end to end over real HTTP against a real redis-server.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { createClient } = require('redis');
const { createApp } = require('../app');
const { Browser } = require('./browser');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let redis;
let server;
let base;

before(async () => {
  // A server started with jwt.refresh-grace 1 (see clients/test.sh), so a replay is
  // told from a racing tab after one second instead of ten.
  const addr = process.env.REDIS_JWT_EXAMPLES || process.env.REDIS_JWT_STANDALONE;
  if (!addr) throw new Error('REDIS_JWT_EXAMPLES is not set: run through clients/test.sh');
  const [host, port] = addr.split(':');
  redis = createClient({ socket: { host, port: Number(port) } });
  await redis.connect();
  const app = createApp(redis, { accessTtl: '1s', sessionTtl: '30d' });
  await new Promise((resolve) => {
    server = app.listen(0, '127.0.0.1', resolve);
  });
  base = `http://127.0.0.1:${server.address().port}`;
});

after(async () => {
  await new Promise((r) => server.close(r));
  await redis.close();
});

async function login(browser, username = 'alice', password = 'wonderland') {
  const r = await browser.post('/login', { json: { username, password } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r;
}

test('login sets httpOnly/Secure/SameSite cookies with lifetimes from the module', async () => {
  const b = new Browser(base);
  assert.equal((await b.post('/login', { json: { username: 'alice', password: 'nope' } })).status, 401);
  const r = await login(b);
  const byName = Object.fromEntries(r.cookies.map((c) => [c.name, c]));
  for (const n of ['access_token', 'refresh_token', 'csrf_token']) {
    assert.ok(byName[n], `${n} set`);
    assert.equal(byName[n].attrs.secure, true);
    assert.equal(byName[n].attrs.samesite.toLowerCase(), 'lax');
    assert.equal(byName[n].attrs.path, '/');
  }
  assert.equal(byName.access_token.attrs.httponly, true);
  assert.equal(byName.refresh_token.attrs.httponly, true);
  assert.equal(byName.csrf_token.attrs.httponly, undefined, 'the CSRF cookie is readable by the page');
  assert.equal(byName.csrf_token.value, r.body.csrfToken);
  // access cookie: until the token's exp (1 s); refresh cookie: the session's ttl (30 days).
  assert.ok(Number(byName.access_token.attrs['max-age']) <= 1);
  const refreshAge = Number(byName.refresh_token.attrs['max-age']);
  assert.ok(refreshAge > 30 * 86400 - 60 && refreshAge <= 30 * 86400, `refresh Max-Age ${refreshAge}`);
  const me = await b.get('/me');
  assert.equal(me.status, 200);
  assert.equal(me.body.sub, 'alice');
});

test('protected route without a session is refused', async () => {
  const b = new Browser(base);
  const r = await b.get('/me');
  assert.equal(r.status, 401);
  assert.equal(r.body.error, 'NOSESSION');
});

// The 1 s access tokens carry whole-second iat/exp, so one issued late in a second may
// expire a few ms later: before checking that the next request does NOT refresh, wait
// for the next second when this one is nearly over.
async function earlyInSecond() {
  const frac = Date.now() % 1000;
  if (frac > 700) await sleep(1020 - frac);
}

test('transparent refresh when the access token has expired', async () => {
  const b = new Browser(base);
  await earlyInSecond();
  await login(b);
  const first = (await b.get('/me')).body;
  assert.equal(first.refreshed, false);
  const oldRefresh = b.jar.get('refresh_token');
  await sleep(2100); // the 1 s access token expires (the test keeps sending its cookie)
  const r = await b.get('/me');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.refreshed, true);
  assert.equal(r.body.sid, first.sid);
  assert.notEqual(b.jar.get('refresh_token'), oldRefresh, 'rotated refresh cookie');
  assert.equal(r.body.csrfToken, first.csrfToken, 'the CSRF token survives the refresh');
  // the browser dropped the access cookie (its Max-Age ran out): refresh from the refresh cookie alone
  await earlyInSecond();
  const r2 = await b.get('/me', { without: ['access_token'] });
  assert.equal(r2.status, 200);
  assert.equal(r2.body.refreshed, true);
  assert.equal((await b.get('/me')).body.refreshed, false);
});

test('a stolen refresh token replayed after the victim refreshed logs the victim out (REUSED)', async () => {
  const victim = new Browser(base, 'victim-laptop');
  await login(victim);
  const thief = new Browser(base, 'thief');
  thief.jar.set('refresh_token', victim.jar.get('refresh_token')); // stolen
  // The victim's access token expires; the app refreshes transparently (rotation).
  const r = await victim.get('/me', { without: ['access_token'] });
  assert.equal(r.body.refreshed, true);
  await sleep(1200); // past jwt.refresh-grace: no longer a racing tab
  const replay = await thief.get('/me');
  assert.equal(replay.status, 401);
  assert.equal(replay.body.error, 'REUSED');
  assert.equal(thief.jar.size, 0, 'the thief cookies are cleared');
  const after = await victim.get('/me');
  assert.equal(after.status, 401, 'the victim is logged out too');
  assert.equal(after.body.error, 'REVOKED');
  assert.equal(victim.jar.has('access_token'), false);
});

test('a cross-site POST without the CSRF token is refused', async () => {
  const b = new Browser(base);
  await login(b);
  // The browser attaches the cookies; the attacker's page cannot read the CSRF cookie.
  const forged = await b.post('/notes', { form: { text: 'pwned' }, csrf: false, headers: { origin: 'https://evil.example' } });
  assert.equal(forged.status, 403);
  assert.equal(forged.body.error, 'CSRF');
  const wrong = await b.post('/notes', { json: { text: 'x' }, csrf: false, headers: { 'x-csrf-token': 'guess' } });
  assert.equal(wrong.status, 403);
  // A cookie planted by a sibling domain does not help: the token is checked against the session's claim.
  const planted = await b.post('/notes', {
    json: { text: 'x' },
    csrf: false,
    headers: {
      'x-csrf-token': 'planted',
      cookie: `access_token=${b.jar.get('access_token')}; refresh_token=${b.jar.get('refresh_token')}; csrf_token=planted`,
    },
  });
  assert.equal(planted.status, 403);
  await sleep(1100); // the access token expires: a refused request that refreshed still hands over the new cookies
  const refused = await b.post('/notes', { json: { text: 'x' }, csrf: false });
  assert.equal(refused.status, 403);
  assert.ok(refused.cookies.some((c) => c.name === 'refresh_token'), 'the rotated cookies are sent');
  const ok = await b.post('/notes', { json: { text: 'hello' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.note, 'hello');
  const okForm = await b.post('/notes', { form: { text: 'form', _csrf: b.jar.get('csrf_token') }, csrf: false });
  assert.equal(okForm.status, 200);
  const logout = await b.post('/logout', { csrf: false });
  assert.equal(logout.status, 403, 'logout is CSRF-protected too');
  assert.equal((await b.get('/me')).status, 200);
});

test('your devices, logout, logout everywhere', async () => {
  const laptop = new Browser(base, 'Laptop Firefox');
  const phone = new Browser(base, 'Phone Safari');
  const tablet = new Browser(base, 'Tablet');
  for (const b of [laptop, phone, tablet]) await login(b, 'bob', 'builder');
  const names = ['Laptop Firefox', 'Phone Safari', 'Tablet'];
  const d = await laptop.get('/devices');
  assert.equal(d.status, 200);
  const mine = d.body.devices.filter((x) => names.includes(x.device));
  assert.equal(mine.length, 3);
  assert.equal(mine.filter((x) => x.current).length, 1);
  assert.equal(mine.find((x) => x.current).device, 'Laptop Firefox');
  for (const x of mine) {
    assert.ok(Date.parse(x.lastSeen) >= Date.parse(x.created), `lastSeen ${x.lastSeen} created ${x.created}`);
    assert.ok(Date.parse(x.lastSeen) <= Date.now() + 1000);
  }
  const html = await laptop.get('/devices', { headers: { accept: 'text/html' } });
  assert.match(html.body, /Your devices[\s\S]*Phone Safari, since [^<]*, last seen \d{4}-/);

  // last seen moves when the phone comes back and refreshes (its 1 s access token expired)
  const phoneBefore = mine.find((x) => x.device === 'Phone Safari');
  await sleep(1100);
  const back = await phone.get('/me');
  assert.equal(back.body.refreshed, true);
  const phoneAfter = (await laptop.get('/devices')).body.devices.find((x) => x.sid === phoneBefore.sid);
  assert.equal(phoneAfter.device, 'Phone Safari', 'META survives the refresh');
  assert.ok(Date.parse(phoneAfter.lastSeen) > Date.parse(phoneBefore.lastSeen), `${phoneAfter.lastSeen} > ${phoneBefore.lastSeen}`);

  // logout: this device only, cookies cleared
  const out = await tablet.post('/logout');
  assert.equal(out.status, 200);
  assert.equal(out.body.ended, true);
  assert.equal(tablet.jar.size, 0);
  assert.equal((await tablet.get('/me')).status, 401);
  assert.equal((await laptop.get('/devices')).body.devices.filter((x) => names.includes(x.device)).length, 2);

  // logout everywhere: the phone is logged out as well
  const all = await laptop.post('/logout-everywhere');
  assert.equal(all.status, 200);
  assert.ok(all.body.ended >= 2);
  assert.equal(laptop.jar.size, 0);
  const p = await phone.get('/me');
  assert.equal(p.status, 401);
  assert.equal(p.body.error, 'REVOKED');
});

test('logout others: ends the user\'s other sessions and keeps this one', async () => {
  const laptop = new Browser(base, 'Laptop Firefox');
  const phone = new Browser(base, 'Phone Safari');
  const tablet = new Browser(base, 'Tablet');
  for (const b of [laptop, phone, tablet]) await login(b);
  const me = (await laptop.get('/me')).body;
  // every other live session of alice (earlier tests' ones too) is ended
  const before = (await laptop.get('/devices')).body.devices;
  const others = before.filter((x) => !x.current);
  assert.ok(others.length >= 2, JSON.stringify(before));
  const r = await laptop.post('/logout-others');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.ended, others.length);
  const cleared = (c) => c.attrs['max-age'] === '0' || (c.attrs.expires && Date.parse(c.attrs.expires) <= Date.now());
  assert.deepEqual(r.cookies.filter(cleared), [], 'no cookie cleared');
  assert.ok(laptop.jar.has('access_token') && laptop.jar.has('refresh_token'));
  for (const b of [phone, tablet]) {
    const p = await b.get('/me');
    assert.equal(p.status, 401);
    assert.equal(p.body.error, 'REVOKED');
  }
  // this session lives on: its access token verifies and its refresh token still rotates
  const still = await laptop.get('/me');
  assert.equal(still.status, 200);
  assert.equal(still.body.sid, me.sid);
  const refreshed = await laptop.get('/me', { without: ['access_token'] });
  assert.equal(refreshed.status, 200);
  assert.equal(refreshed.body.refreshed, true);
  assert.equal(refreshed.body.sid, me.sid);
  const after = (await laptop.get('/devices')).body.devices;
  assert.deepEqual(after.map((x) => [x.sid, x.current]), [[me.sid, true]]);
  assert.equal((await laptop.post('/logout-others')).body.ended, 0);
});

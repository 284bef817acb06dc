'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const jwt = require('..');

class ErrorReply extends Error {}
class ReplyError extends Error {}

test('reply errors map to one class per code', () => {
  const cases = [
    ['INVALID bad signature', jwt.InvalidToken, 'INVALID', 'bad signature'],
    ['EXPIRED token expired', jwt.ExpiredToken, 'EXPIRED'],
    ['NOTBEFORE not yet', jwt.TokenNotYetValid, 'NOTBEFORE'],
    ['REVOKED the session has ended', jwt.RevokedSession, 'REVOKED', 'the session has ended'],
    ['REUSED refresh token was already used', jwt.RefreshReused, 'REUSED'],
    ['LIMIT too many sessions', jwt.SessionLimit, 'LIMIT'],
    ["NOPERM this user has no permissions to access one of the keys", jwt.NoPermission, 'NOPERM'],
    ['WRONGTYPE Operation against a key holding the wrong kind of value', jwt.WrongType, 'WRONGTYPE'],
    ['MOVED 3999 127.0.0.1:6381', jwt.ClusterRedirect, 'MOVED'],
    ['ERR bad duration', jwt.CommandError, 'ERR', 'bad duration'],
    ['SOMETHINGNEW went wrong', jwt.CommandError, 'SOMETHINGNEW'],
  ];
  for (const [msg, cls, code, text] of cases) {
    for (const E of [ErrorReply, ReplyError]) {
      const e = jwt.toJwtError(new E(msg));
      assert.ok(e instanceof cls, `${msg} -> ${e && e.constructor.name}`);
      assert.ok(e instanceof jwt.JwtError);
      assert.equal(e.code, code);
      assert.equal(e.name, cls.name);
      if (text) assert.equal(e.message, text);
    }
  }
  const conn = new Error('connect ECONNREFUSED');
  assert.equal(jwt.toJwtError(conn), conn, 'non-reply errors pass through');
});

test('records: RESP2 flat arrays, RESP3 maps and objects, extra pairs kept', () => {
  const flat = ['sid', 'a', 'created', 1, 'ttl', 1000, 'maxage_deadline', null, 'data', '{"x":1}', 'new_field', 'v'];
  const map = new Map([['sid', 'a'], ['created', 1], ['ttl', 1000], ['maxage_deadline', null], ['data', '{"x":1}'], ['new_field', 'v']]);
  const obj = Object.fromEntries(map);
  for (const r of [flat, map, obj]) {
    const s = jwt.parseSession(r, 5000);
    assert.deepEqual(s, { sid: 'a', created: 1, ttl: 1000, expiresAt: 6000, maxAgeDeadline: null, lastSeen: null, meta: null, data: { x: 1 }, newField: 'v' });
  }
  const full = jwt.parseSession(['sid', 'b', 'created', '1', 'ttl', '10', 'maxage_deadline', '99', 'last_seen', '7', 'meta', Buffer.from('{"device":"Phone"}')], 0);
  assert.deepEqual(full, { sid: 'b', created: 1, ttl: 10, expiresAt: 10, maxAgeDeadline: 99, lastSeen: 7, meta: { device: 'Phone' } });
  const k = jwt.parseKey(['kid', 'k1', 'alg', 'HS256', 'created', '5', 'state', 'active', 'retires_at', null]);
  assert.deepEqual(k, { kid: 'k1', alg: 'HS256', created: 5, state: 'active', retiresAt: null });
});

test('token inspection and key slots', () => {
  // Refresh tokens as the module lays them out: version | created | generation | [incarnation (v2)] | sub | sid | secret | tag.
  for (const [version, header] of [[1, 16], [2, 24]]) {
    const body = Buffer.concat([
      Buffer.from([version]), Buffer.alloc(header),
      Buffer.from([0, 5]), Buffer.from('alice'), Buffer.from([5]), Buffer.from('phone'), Buffer.alloc(64),
    ]);
    const rt = 'jwtr_' + body.toString('base64url');
    assert.deepEqual(jwt.refreshTokenSession(rt), { sub: 'alice', sid: 'phone' });
    assert.equal(jwt.tokenSubject(rt), 'alice');
  }
  const v9 = 'jwtr_' + Buffer.concat([Buffer.from([9]), Buffer.alloc(120)]).toString('base64url');
  assert.equal(jwt.refreshTokenSession(v9), null, 'unknown layout: no route');
  const at = ['{"alg":"HS256"}', '{"sub":"bob","sid":"s1"}', ''].map((s) => Buffer.from(s).toString('base64url')).join('.');
  assert.equal(jwt.tokenSubject(at), 'bob');
  assert.equal(jwt.tokenSubject('garbage'), null);
  assert.equal(jwt.tokenSubject('jwtr_AAAA'), null);
  assert.equal(jwt.keySlot('foo'), 12182);
  assert.equal(jwt.keySlot('{foo}bar'), 12182);
  assert.equal(jwt.keySlot('somekey'), 11058);
  assert.equal(jwt.RedisJwt.routeForToken(at), '{bob}');
  for (const slot of [0, 1, 5000, 16383]) assert.equal(jwt.keySlot(jwt.keyForSlot(slot)), slot);
});

test('unsupported clients are refused', () => {
  assert.throws(() => new jwt.RedisJwt({}), TypeError);
  assert.throws(() => new jwt.RedisJwt(null), TypeError);
});

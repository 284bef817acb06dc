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
    ["READONLY You can't write against a read only replica.", jwt.ReadOnlyError, 'READONLY', "You can't write against a read only replica."],
    ['READONLY the keyring can only change on the primary; this node is a replica', jwt.ReadOnlyError, 'READONLY'],
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

/** A Transport that answers each command with the next of `replies` and records the commands. */
function fakeTransport(replies) {
  const sent = [];
  return {
    sent,
    transport: {
      cluster: false,
      send: async (args) => {
        sent.push(args);
        const r = replies.shift();
        if (r instanceof Error) throw r;
        return r;
      },
    },
  };
}

test('keys.import: the LEGACY flag only with { legacy: true }', async () => {
  const { sent, transport } = fakeTransport(['OK', 'OK', 'OK', 'OK']);
  const j = new jwt.RedisJwt(transport);
  assert.equal(await j.keys.import('old', 'HS256', 'secret', { legacy: true }), 'old');
  assert.equal(await j.keys.import('k1', 'HS256', 'x'.repeat(32)), 'k1');
  assert.equal(await j.keys.import('k2', 'HS256', 'x'.repeat(32), {}), 'k2');
  assert.equal(await j.keys.import('k3', 'HS256', 'x'.repeat(32), { legacy: false }), 'k3');
  assert.deepEqual(sent, [
    ['JWT.KEY', 'IMPORT', 'old', 'HS256', 'secret', 'LEGACY'],
    ['JWT.KEY', 'IMPORT', 'k1', 'HS256', 'x'.repeat(32)],
    ['JWT.KEY', 'IMPORT', 'k2', 'HS256', 'x'.repeat(32)],
    ['JWT.KEY', 'IMPORT', 'k3', 'HS256', 'x'.repeat(32)],
  ]);
});

test('keys.revoke: the active kid, or null for a nil reply', async () => {
  const { sent, transport } = fakeTransport(['next', Buffer.from('next'), null, undefined]);
  const j = new jwt.RedisJwt(transport);
  assert.equal(await j.keys.revoke('a'), 'next');
  assert.equal(await j.keys.revoke('b'), 'next');
  assert.equal(await j.keys.revoke('c'), null, 'RESP2/RESP3 nil (null)');
  assert.equal(await j.keys.revoke('d'), null, 'nil as undefined');
  assert.deepEqual(sent[2], ['JWT.KEY', 'REVOKE', 'c']);
});

test('cluster transports still retry READONLY (a failover); what is left is a ReadOnlyError', async () => {
  const readonly = () => new ErrorReply("READONLY You can't write against a read only replica.");
  // node-redis cluster: sendCommand(firstKey, isReadonly, args); ioredis Cluster: call(...args)
  const nodeRedis = (failures) => {
    let n = 0;
    return { masters: [], sendCommand: async () => { if (n++ < failures) throw readonly(); return 'kid1'; }, calls: () => n };
  };
  const ioredis = (failures) => {
    let n = 0;
    return { isCluster: true, call: async () => { if (n++ < failures) throw new ReplyError(readonly().message); return 'kid1'; }, calls: () => n };
  };
  for (const make of [nodeRedis, ioredis]) {
    const once = make(1);
    const j = new jwt.RedisJwt(once);
    assert.equal(j.transport.cluster, true);
    assert.equal(await j.keys.generate('ES256'), 'kid1');
    assert.equal(once.calls(), 2, 'retried once');
  }
  // always READONLY: retried 7 times (about 3.5 s), then raised as a ReadOnlyError
  await Promise.all([nodeRedis, ioredis].map(async (make) => {
    const always = make(Infinity);
    await assert.rejects(new jwt.RedisJwt(always).keys.generate('ES256'), (e) => e instanceof jwt.ReadOnlyError && e.code === 'READONLY');
    assert.equal(always.calls(), 8);
  }));
  // standalone: no retry
  const { sent, transport } = fakeTransport([readonly()]);
  await assert.rejects(new jwt.RedisJwt(transport).keys.rotate(), jwt.ReadOnlyError);
  assert.equal(sent.length, 1);
});

test('unsupported clients are refused', () => {
  assert.throws(() => new jwt.RedisJwt({}), TypeError);
  assert.throws(() => new jwt.RedisJwt(null), TypeError);
});

// redis-jwt against jwt-redis (npm), driven from one Node process at equal concurrency.
// Both talk to the same redis-server through the same client (node-redis 4). Prints
// ops/s and client CPU per operation, and the ratios the spec asks for:
// at least 2x the library's ops/s with at most 1/3 of its client CPU per op.
'use strict';
const { createClient } = require('redis');
const JWTR = require('jwt-redis').default;

const PORT = Number(process.env.BENCH_PORT || 6390);
const CONCURRENCY = Number(process.env.CONCURRENCY || 50);
const SECONDS = Number(process.env.SECONDS || 4);
const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';

// Runs `op` with CONCURRENCY operations in flight for SECONDS; returns ops/s and
// client CPU microseconds per op.
async function measure(op) {
  let done = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + SECONDS * 1000;
  async function worker(w) {
    let i = 0;
    while (Date.now() < deadline) {
      await op(w, i++);
      done++;
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { ops: done / secs, cpuPerOp: (cpu.user + cpu.system) / done };
}

function row(name, lib, ours) {
  const speed = ours.ops / lib.ops;
  const cpu = ours.cpuPerOp / lib.cpuPerOp;
  console.log(
    `${name.padEnd(18)} jwt-redis ${lib.ops.toFixed(0).padStart(7)} ops/s ${lib.cpuPerOp.toFixed(1).padStart(6)} us CPU/op | ` +
      `redis-jwt ${ours.ops.toFixed(0).padStart(7)} ops/s ${ours.cpuPerOp.toFixed(1).padStart(6)} us CPU/op | ` +
      `speed x${speed.toFixed(2)} (bar >= 2)  CPU x${cpu.toFixed(2)} (bar <= 0.33)`
  );
}

async function main() {
  const client = createClient({ socket: { port: PORT } });
  await client.connect();
  const jwtr = new JWTR(client);

  // The same flow both ways: sign a 15-minute token for a user, then verify tokens.
  const libTokens = [];
  const libSign = await measure(async (w, i) => {
    const t = await jwtr.sign({ sub: `user${w}:${i}` }, SECRET, { expiresIn: '15m' });
    if (libTokens.length < 1000) libTokens.push(t);
  });
  const ourTokens = [];
  const ourSign = await measure(async (w, i) => {
    const t = await client.sendCommand(['JWT.SIGN', `user${w}:${i}`, 'EXPIRES', '15m']);
    if (ourTokens.length < 1000) ourTokens.push(t);
  });
  const libVerify = await measure(async (w, i) => {
    await jwtr.verify(libTokens[(w * 7919 + i) % libTokens.length], SECRET);
  });
  const ourVerify = await measure(async (w, i) => {
    await client.sendCommand(['JWT.VERIFY', ourTokens[(w * 7919 + i) % ourTokens.length]]);
  });
  // jwt-redis checks every signature; so does redis-jwt with its verify cache off (what
  // a server with many users mostly sees: a token's first verifications miss the cache).
  await client.sendCommand(['CONFIG', 'SET', 'jwt.verify-cache', '0']);
  const ourVerifyMiss = await measure(async (w, i) => {
    await client.sendCommand(['JWT.VERIFY', ourTokens[(w * 7919 + i) % ourTokens.length]]);
  });
  await client.sendCommand(['CONFIG', 'SET', 'jwt.verify-cache', '4096']);
  console.log(`redis-jwt vs jwt-redis (npm), ${CONCURRENCY} in flight, ${SECONDS}s each, one Node process`);
  row('sign', libSign, ourSign);
  row('verify', libVerify, ourVerify);
  row('verify (cache off)', libVerify, ourVerifyMiss);
  await client.quit();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

'use strict';
// node server.js  (REDIS_URL=redis://127.0.0.1:6379 PORT=3000; COOKIE_SECURE=0 for plain http on a non-localhost name)
const { createClient } = require('redis');
const { createApp } = require('./app');

async function main() {
  const redis = createClient({ url: process.env.REDIS_URL || 'redis://127.0.0.1:6379' });
  await redis.connect();
  const app = createApp(redis, { secure: process.env.COOKIE_SECURE !== '0' });
  const port = Number(process.env.PORT || 3000);
  app.listen(port, () => console.log(`listening on http://localhost:${port}`));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

'use strict';
// The tutorial's flow on redis-jwt-client: login sets the cookies, a protected route,
// transparent refresh, logout, logout everywhere, logout of the other sessions, and a
// "your devices" page from SESSIONS.
const express = require('express');
const { RedisJwt } = require('redis-jwt-client');
const { cookieSessions } = require('redis-jwt-client/express');

// Demo users (a real app checks a password hash).
const USERS = { alice: 'wonderland', bob: 'builder' };

/**
 * createApp(redisClient, { accessTtl, sessionTtl, secure }) -> express app.
 * redisClient: a connected node-redis (v4/v5) or ioredis client or cluster.
 */
function createApp(redis, { accessTtl = '15m', sessionTtl = '30d', secure = true } = {}) {
  const jwt = new RedisJwt(redis);
  const auth = cookieSessions(jwt, { secure, sameSite: 'lax', sign: { ttl: sessionTtl, expires: accessTtl } });
  const app = express();
  app.use(express.json());
  app.use(express.urlencoded({ extended: false }));

  app.post('/login', async (req, res, next) => {
    try {
      const { username, password } = req.body || {};
      if (!USERS[username] || USERS[username] !== password) {
        return res.status(401).json({ error: 'BADLOGIN', message: 'wrong username or password' });
      }
      // The device label goes in the session's META (at most 512 bytes of JSON): listed by
      // JWT.SESSIONS for the devices page, never in the token.
      const device = String(req.get('user-agent') || 'unknown device').slice(0, 200);
      const { csrfToken, session } = await auth.login(res, username, { meta: { device } });
      res.json({ sub: username, sid: session && session.sid, csrfToken });
    } catch (e) {
      next(e);
    }
  });

  // Protected: the access token is verified, or refreshed when it has expired.
  app.get('/me', auth.required(), (req, res) => {
    res.json({ sub: req.auth.sub, sid: req.auth.sid, refreshed: req.auth.refreshed, csrfToken: req.auth.csrfToken });
  });

  // A state-changing route: the CSRF token must come in x-csrf-token (or a _csrf field).
  app.post('/notes', auth.required(), (req, res) => {
    res.json({ ok: true, by: req.auth.sub, note: req.body && req.body.text });
  });

  // "Your devices": the subject's live sessions (label from META, last activity from
  // last_seen: login, refresh), the current one marked.
  app.get('/devices', auth.required(), async (req, res, next) => {
    try {
      const sessions = await jwt.sessions(req.auth.sub);
      const iso = (ms) => (ms === null ? null : new Date(ms).toISOString());
      const devices = sessions.map((s) => ({
        sid: s.sid,
        device: (s.meta && s.meta.device) || 'unknown device',
        created: iso(s.created),
        lastSeen: iso(s.lastSeen),
        expires: iso(s.expiresAt),
        current: s.sid === req.auth.sid,
      }));
      if (req.accepts(['json', 'html']) === 'html') {
        const esc = (x) => String(x).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
        return res.send(
          `<!doctype html><title>Your devices</title><h1>Your devices</h1><ul>${devices
            .map(
              (d) =>
                `<li>${esc(d.device)}, since ${esc(d.created)}, last seen ${esc(d.lastSeen || 'never')}${d.current ? ' (this device)' : ''}</li>`,
            )
            .join('')}</ul>`,
        );
      }
      res.json({ devices });
    } catch (e) {
      next(e);
    }
  });

  app.post('/logout', auth.required(), async (req, res, next) => {
    try {
      res.json({ ended: await auth.logout(req, res) });
    } catch (e) {
      next(e);
    }
  });

  app.post('/logout-everywhere', auth.required(), async (req, res, next) => {
    try {
      res.json({ ended: await auth.logoutEverywhere(req, res) });
    } catch (e) {
      next(e);
    }
  });

  app.post('/logout-others', auth.required(), async (req, res, next) => {
    try {
      res.json({ ended: await auth.logoutOthers(req) });
    } catch (e) {
      next(e);
    }
  });

  return app;
}

module.exports = { createApp, USERS };

'use strict';
// A minimal browser over real HTTP: a cookie jar fed by Set-Cookie, sent back as Cookie.

function parseSetCookie(line) {
  const [pair, ...attrs] = line.split(';').map((s) => s.trim());
  const i = pair.indexOf('=');
  const c = { name: pair.slice(0, i), value: decodeURIComponent(pair.slice(i + 1)), attrs: {} };
  for (const a of attrs) {
    const j = a.indexOf('=');
    const k = (j < 0 ? a : a.slice(0, j)).toLowerCase();
    c.attrs[k] = j < 0 ? true : a.slice(j + 1);
  }
  return c;
}

class Browser {
  constructor(base, userAgent = 'test-browser') {
    this.base = base;
    this.userAgent = userAgent;
    this.jar = new Map();
    this.lastSetCookies = [];
  }

  async request(method, path, { json, form, headers = {}, csrf = true, without = [] } = {}) {
    const h = { 'user-agent': this.userAgent, ...headers };
    const cookies = [...this.jar].filter(([n]) => !without.includes(n));
    if (cookies.length) h.cookie = cookies.map(([n, v]) => `${n}=${encodeURIComponent(v)}`).join('; ');
    // The app's JavaScript reads the CSRF cookie and echoes it (a cross-site form cannot).
    if (csrf && method !== 'GET' && this.jar.has('csrf_token')) h['x-csrf-token'] = this.jar.get('csrf_token');
    let body;
    if (json !== undefined) {
      h['content-type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      h['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(this.base + path, { method, headers: h, body, redirect: 'manual' });
    this.lastSetCookies = res.headers.getSetCookie().map(parseSetCookie);
    for (const c of this.lastSetCookies) {
      const expired = c.attrs['max-age'] === '0' || (c.attrs.expires && Date.parse(c.attrs.expires) <= Date.now());
      if (expired) this.jar.delete(c.name);
      else this.jar.set(c.name, c.value);
    }
    const text = await res.text();
    let data = text;
    try {
      data = JSON.parse(text);
    } catch {}
    return { status: res.status, body: data, cookies: this.lastSetCookies };
  }

  get(path, o) {
    return this.request('GET', path, o);
  }
  post(path, o) {
    return this.request('POST', path, o);
  }
}

module.exports = { Browser, parseSetCookie };

/** Local, unverified inspection of tokens: for routing and cookie lifetimes only. */

export const REFRESH_PREFIX = 'jwtr_';

function b64urlDecode(s: string): Buffer {
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** The payload of an access token, NOT verified. Null when it is not a JWT. */
export function unverifiedPayload(token: string): Record<string, unknown> | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const v = JSON.parse(b64urlDecode(parts[1]).toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * Bytes before the subject's u16 length, by layout version: version | created_ms |
 * generation (v1), plus | incarnation (v2). Null for a version we do not know.
 */
function refreshHeaderLen(version: number): number | null {
  return version === 1 ? 17 : version === 2 ? 25 : null;
}

/**
 * The (sub, sid) a refresh token names, NOT verified (for routing only). Null when it
 * cannot be read (then the command goes to any node and the cluster redirects it).
 */
export function refreshTokenSession(token: string): { sub: string; sid: string } | null {
  if (!token.startsWith(REFRESH_PREFIX)) return null;
  const raw = b64urlDecode(token.slice(REFRESH_PREFIX.length));
  const at = raw.length ? refreshHeaderLen(raw[0]) : null;
  if (at === null || raw.length < at + 3 + 64) return null;
  const subLen = raw.readUInt16BE(at);
  if (at + 2 + subLen + 1 > raw.length) return null;
  const sub = raw.subarray(at + 2, at + 2 + subLen).toString('utf8');
  const sidLen = raw[at + 2 + subLen];
  if (at + 3 + subLen + sidLen > raw.length) return null;
  const sid = raw.subarray(at + 3 + subLen, at + 3 + subLen + sidLen).toString('utf8');
  return { sub, sid };
}

/** The subject a token (access or refresh) names, unverified; null if none can be read. */
export function tokenSubject(token: string): string | null {
  if (token.startsWith(REFRESH_PREFIX)) return refreshTokenSession(token)?.sub ?? null;
  const p = unverifiedPayload(token);
  // Stateless tokens (no sid) go to the same node too: it signed them.
  return p && typeof p.sub === 'string' ? p.sub : null;
}

/** CRC16/XMODEM of the cluster key-slot algorithm. */
function crc16(buf: Buffer): number {
  let crc = 0;
  for (const byte of buf) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The cluster slot of a key (honouring hash tags). */
export function keySlot(key: string): number {
  const s = key.indexOf('{');
  if (s >= 0) {
    const e = key.indexOf('}', s + 1);
    if (e > s + 1) key = key.slice(s + 1, e);
  }
  return crc16(Buffer.from(key, 'utf8')) % 16384;
}

const SLOT_KEYS = new Map<number, string>();

/** A key that hashes to `slot` (to route by slot through clients that route by key). */
export function keyForSlot(slot: number): string {
  let k = SLOT_KEYS.get(slot);
  if (k === undefined) {
    for (let i = 0; ; i++) {
      if (keySlot(String(i)) === slot) {
        k = String(i);
        break;
      }
    }
    SLOT_KEYS.set(slot, k);
  }
  return k;
}

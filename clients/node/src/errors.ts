/**
 * One error class per reply code of the module. Every reply error of a JWT.* command is
 * converted to one of these; `code` is the code word and `message` the module's sentence.
 */
export class JwtError extends Error {
  /** The code word the module answered with (`INVALID`, `EXPIRED`, ...). */
  readonly code: string;
  /** The underlying client error (node-redis ErrorReply, ioredis ReplyError, ...). */
  override readonly cause?: unknown;
  constructor(code: string, message: string, cause?: unknown) {
    super(message);
    this.code = code;
    this.cause = cause;
    this.name = new.target.name;
  }
}

/** INVALID: malformed token, bad signature, unknown kid, wrong iss/aud, wrong token type. */
export class InvalidToken extends JwtError {}
/** EXPIRED: the token's `exp` has passed. */
export class ExpiredToken extends JwtError {}
/** NOTBEFORE: the token's `nbf` is in the future. */
export class TokenNotYetValid extends JwtError {}
/** REVOKED: the session is gone (destroyed, revoked, evicted or expired). */
export class RevokedSession extends JwtError {}
/** REUSED: a rotated-away refresh token was presented; the session has been revoked. */
export class RefreshReused extends JwtError {}
/** LIMIT: jwt.max-sessions reached with policy `deny`. */
export class SessionLimit extends JwtError {}
/** NOPERM: the ACL user may not access the subject's keys (or run the command). */
export class NoPermission extends JwtError {}
/** WRONGTYPE: a foreign-typed key sits where the module keeps a session. */
export class WrongType extends JwtError {}
/**
 * READONLY: a write reached a replica, e.g. a keyring change (JWT.KEY GENERATE, IMPORT,
 * REVOKE, ...) sent to a replica, which never changes the keyring (writable or not). In a
 * cluster the transports retry READONLY (a failover) first; this is what is left when the
 * retries run out.
 */
export class ReadOnlyError extends JwtError {}
/** MOVED / ASK / TRYAGAIN / CLUSTERDOWN: a cluster redirection the client could not follow. */
export class ClusterRedirect extends JwtError {}
/** ERR (or any other code): syntax or argument error. */
export class CommandError extends JwtError {}

const BY_CODE: Record<string, new (code: string, message: string, cause?: unknown) => JwtError> = {
  INVALID: InvalidToken,
  EXPIRED: ExpiredToken,
  NOTBEFORE: TokenNotYetValid,
  REVOKED: RevokedSession,
  REUSED: RefreshReused,
  LIMIT: SessionLimit,
  NOPERM: NoPermission,
  WRONGTYPE: WrongType,
  READONLY: ReadOnlyError,
  MOVED: ClusterRedirect,
  ASK: ClusterRedirect,
  TRYAGAIN: ClusterRedirect,
  CLUSTERDOWN: ClusterRedirect,
  ERR: CommandError,
};

/** The error class for a code word (CommandError for unknown codes). */
export function errorClassFor(code: string): new (code: string, message: string, cause?: unknown) => JwtError {
  return BY_CODE[code] ?? CommandError;
}

function isReplyError(e: unknown): e is Error {
  if (!(e instanceof Error)) return false;
  // node-redis: ErrorReply / SimpleError / BlobError; ioredis: ReplyError (redis-errors).
  const n = e.constructor?.name ?? e.name;
  return /Reply|SimpleError|BlobError/.test(n) || /Reply/.test(e.name);
}

/**
 * Converts a server reply error into a JwtError; anything else (connection errors, ...)
 * is returned unchanged.
 */
export function toJwtError(e: unknown): unknown {
  if (e instanceof JwtError || !isReplyError(e)) return e;
  const msg = e.message ?? '';
  const m = /^([A-Z][A-Z_-]*)(?:\s+|$)(.*)$/s.exec(msg);
  if (!m) return new CommandError('ERR', msg, e);
  const [, code, rest] = m;
  if (!(code in BY_CODE)) return new CommandError(code, msg, e);
  return new BY_CODE[code](code, rest || msg, e);
}

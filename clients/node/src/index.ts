export * from './client';
export * from './errors';
export { Transport, transportFor } from './transport';
export { tokenSubject, unverifiedPayload, refreshTokenSession, keySlot, keyForSlot } from './token';
export { CookieSessions, cookieSessions, AuthError } from './express';
export type { AuthInfo, CookieSessionOptions, LoginResult } from './express';

"""FastAPI dependency for the cookie flow (``pip install redis-jwt-client[fastapi]``).

An access token and a refresh token in httpOnly cookies; transparent refresh when the
access token has expired; cookie lifetimes taken from the module (the access cookie lives
until the token's ``exp``, the refresh and CSRF cookies for the session's remaining ttl
read from JWT.SESSIONS); CSRF protection by a session-bound double-submit token: at login
a random token is put in the session's claims (claim ``csrf``, re-issued by every
REFRESH) and in a cookie JavaScript can read; unsafe requests must echo it in the
``x-csrf-token`` header (or a ``_csrf`` form field), compared with the *verified* claim.

::

    auth = CookieSessions(AsyncRedisJwt(redis.asyncio.Redis()))
    auth.install(app)                      # 401 answers also clear the cookies

    @app.get("/me")
    async def me(session: Auth = Depends(auth.required)): ...

Cookies set by the dependency (after a refresh) reach the client when the route returns
data: FastAPI merges the dependency's ``Response`` into it. A route that returns its own
``Response`` object does not get them merged; return data from protected routes.
"""
from __future__ import annotations

import hmac
import inspect
import secrets
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from ._core import Claims, Session, unverified_payload
from .aio import AsyncRedisJwt
from .client import RedisJwt
from .errors import ExpiredToken, JwtError

__all__ = ["Auth", "AuthError", "CookieSessions", "LoginResult"]

_SAFE = {"GET", "HEAD", "OPTIONS"}


@dataclass
class Auth:
    """The request's session."""

    sub: str
    sid: str
    claims: Claims
    access_token: str
    #: True when this request refreshed the tokens (new cookies were set)
    refreshed: bool
    #: the CSRF token to echo in x-csrf-token
    csrf_token: Optional[str]
    #: the session's DATA (with with_data=True)
    data: Any = None


@dataclass
class LoginResult:
    access_token: str
    refresh_token: str
    claims: Claims
    csrf_token: Optional[str]
    session: Optional[Session]


class AuthError(HTTPException):
    """A refused request: ``code`` is NOSESSION, CSRF or a module code (EXPIRED, REVOKED, REUSED...)."""

    def __init__(self, code: str, message: str, status_code: int = 401) -> None:
        super().__init__(status_code=status_code, detail={"error": code, "message": message})
        self.code = code
        self.message = message
        #: Set-Cookie values to send with the refusal (a refresh made before a CSRF failure)
        self.set_cookies: List[str] = []


async def _maybe(x: Any) -> Any:
    return await x if inspect.isawaitable(x) else x


class CookieSessions:
    """The cookie flow on a RedisJwt or AsyncRedisJwt."""

    def __init__(
        self,
        jwt: Union[AsyncRedisJwt, RedisJwt],
        *,
        access_cookie: str = "access_token",
        refresh_cookie: str = "refresh_token",
        csrf_cookie: str = "csrf_token",
        csrf: bool = True,
        csrf_header: str = "x-csrf-token",
        csrf_field: str = "_csrf",
        csrf_claim: str = "csrf",
        secure: bool = True,
        samesite: str = "lax",
        domain: Optional[str] = None,
        path: str = "/",
        with_data: bool = False,
        sign_defaults: Optional[Dict[str, Any]] = None,
        aud: Optional[str] = None,
        iss: Optional[str] = None,
    ) -> None:
        self.jwt = jwt
        self.access_cookie, self.refresh_cookie, self.csrf_cookie = access_cookie, refresh_cookie, csrf_cookie
        self.csrf, self.csrf_header, self.csrf_field, self.csrf_claim = csrf, csrf_header.lower(), csrf_field, csrf_claim
        self.secure, self.samesite, self.domain, self.path = secure, samesite, domain, path
        self.with_data = with_data
        self.sign_defaults = dict(sign_defaults or {})
        self.aud, self.iss = aud, iss

    # ------------------------------------------------------------------ cookies

    def _set(self, response: Response, name: str, value: str, max_age_ms: Optional[int], httponly: bool) -> None:
        response.set_cookie(
            name,
            value,
            max_age=None if max_age_ms is None else max(0, -(-max_age_ms // 1000)),  # rounded up: never before the token
            path=self.path,
            domain=self.domain,
            secure=self.secure,
            httponly=httponly,
            samesite=self.samesite,  # type: ignore[arg-type]
        )

    def _set_cookies(self, response: Response, access: str, refresh: str, claims: Claims, session: Optional[Session]) -> None:
        import time

        now_ms = int(time.time() * 1000)
        session_ms = max(session.ttl, 0) if session else None
        exp = claims.get("exp")
        access_ms = exp * 1000 - now_ms if isinstance(exp, (int, float)) else session_ms
        if access_ms is not None and session_ms is not None:
            access_ms = min(access_ms, session_ms)
        self._set(response, self.access_cookie, access, access_ms, True)
        self._set(response, self.refresh_cookie, refresh, session_ms, True)
        csrf = claims.get(self.csrf_claim) if self.csrf else None
        if isinstance(csrf, str):
            self._set(response, self.csrf_cookie, csrf, session_ms, False)

    def clear_cookies(self, response: Response) -> None:
        for n in (self.access_cookie, self.refresh_cookie, self.csrf_cookie):
            response.delete_cookie(n, path=self.path, domain=self.domain, secure=self.secure, samesite=self.samesite)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ flow

    async def login(self, response: Response, sub: str, **sign_options: Any) -> LoginResult:
        """Creates a session with a refresh token and sets the cookies."""
        opts = {**self.sign_defaults, **sign_options}
        claims = dict(self.sign_defaults.get("claims") or {})
        claims.update(sign_options.get("claims") or {})
        csrf_token = secrets.token_urlsafe(24) if self.csrf else None
        if csrf_token:
            claims[self.csrf_claim] = csrf_token
        opts["claims"] = claims
        opts["refresh"] = True
        pair = await _maybe(self.jwt.sign(sub, **opts))
        payload = unverified_payload(pair.access_token) or {}
        session = await _maybe(self.jwt.session(sub, payload["sid"]))
        self._set_cookies(response, pair.access_token, pair.refresh_token, payload, session)
        return LoginResult(pair.access_token, pair.refresh_token, payload, csrf_token, session)

    async def authenticate(self, request: Request, response: Response) -> Optional[Auth]:
        """The request's session (refreshing when the access token expired), None without
        session cookies; raises AuthError for a dead session or a failed CSRF check."""
        access = request.cookies.get(self.access_cookie)
        refresh = request.cookies.get(self.refresh_cookie)
        if not access and not refresh:
            return None
        auth: Optional[Auth] = None
        if access:
            try:
                if self.with_data:
                    v = await _maybe(self.jwt.verify(access, with_data=True, aud=self.aud, iss=self.iss))
                    auth = self._auth(v.claims, access, False, v.data)
                else:
                    c = await _maybe(self.jwt.verify(access, aud=self.aud, iss=self.iss))
                    auth = self._auth(c, access, False)
            except ExpiredToken as e:
                if not refresh:
                    raise AuthError(e.code, e.message) from e
            except JwtError as e:
                raise AuthError(e.code, e.message) from e
        if auth is None:
            try:
                r = await _maybe(self.jwt.refresh(refresh or ""))
                session = await _maybe(self.jwt.session(r.claims["sub"], r.claims["sid"], with_data=self.with_data))
            except JwtError as e:
                raise AuthError(e.code, e.message) from e
            self._set_cookies(response, r.access_token, r.refresh_token, r.claims, session)
            auth = self._auth(r.claims, r.access_token, True, session.data if session else None)
        try:
            await self._check_csrf(request, auth)
        except AuthError as e:
            # keep the cookies of a refresh this request made: the old refresh token is spent
            e.set_cookies = response.headers.getlist("set-cookie")
            raise
        return auth

    def _auth(self, claims: Claims, token: str, refreshed: bool, data: Any = None) -> Auth:
        csrf = claims.get(self.csrf_claim) if self.csrf else None
        return Auth(
            sub=claims["sub"],
            sid=claims.get("sid", ""),
            claims=claims,
            access_token=token,
            refreshed=refreshed,
            csrf_token=csrf if isinstance(csrf, str) else None,
            data=data,
        )

    async def _check_csrf(self, request: Request, auth: Auth) -> None:
        if not self.csrf or request.method.upper() in _SAFE:
            return
        given = request.headers.get(self.csrf_header)
        if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            v = (await request.form()).get(self.csrf_field)
            given = v if isinstance(v, str) else None
        if not auth.csrf_token or given is None or not hmac.compare_digest(given.encode(), auth.csrf_token.encode()):
            raise AuthError("CSRF", "missing or wrong CSRF token", 403)

    # ------------------------------------------------------------------ dependencies

    async def required(self, request: Request, response: Response) -> Auth:
        """Dependency: a valid session is required (401 otherwise)."""
        auth = await self.authenticate(request, response)
        if auth is None:
            raise AuthError("NOSESSION", "login required")
        return auth

    async def optional(self, request: Request, response: Response) -> Optional[Auth]:
        """Dependency: the session when a valid one comes with the request (403 only on CSRF)."""
        try:
            return await self.authenticate(request, response)
        except AuthError as e:
            if e.status_code == 403:
                raise
            self.clear_cookies(response)
            return None

    async def logout(self, request: Request, response: Response) -> bool:
        """Ends this session (refresh token, else access token) and clears the cookies."""
        token = request.cookies.get(self.refresh_cookie) or request.cookies.get(self.access_cookie)
        self.clear_cookies(response)
        if not token:
            return False
        try:
            return bool(await _maybe(self.jwt.destroy(token)))
        except JwtError:
            return False

    async def logout_everywhere(self, auth: Auth, response: Response) -> int:
        """Ends every session of the subject and clears the cookies."""
        self.clear_cookies(response)
        return int(await _maybe(self.jwt.revoke(auth.sub)))

    async def logout_others(self, auth: Auth) -> int:
        """Ends the subject's other sessions."""
        return int(await _maybe(self.jwt.revoke(auth.sub, except_sid=auth.sid)))

    def install(self, app: FastAPI) -> None:
        """Answers AuthError with ``{"error", "message"}`` and clears the cookies on 401."""

        async def handler(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, AuthError)
            resp = JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status_code)
            if exc.status_code == 401:
                self.clear_cookies(resp)
            for v in exc.set_cookies:
                resp.headers.append("set-cookie", v)
            return resp

        app.add_exception_handler(AuthError, handler)

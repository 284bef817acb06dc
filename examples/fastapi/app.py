"""The tutorial's flow on redis-jwt-client with FastAPI: login sets the cookies, a
protected route, transparent refresh, logout, logout everywhere, logout of the other
sessions, "your devices".

    pip install "./clients/python[fastapi]" uvicorn
    REDIS_URL=redis://127.0.0.1:6379 uvicorn app:app --app-dir examples/fastapi
"""
from __future__ import annotations

import html
import os
from datetime import datetime, timezone
from typing import Any, Dict, Optional

import redis.asyncio
from fastapi import Body, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from redis_jwt_client import AsyncRedisJwt
from redis_jwt_client.fastapi import Auth, CookieSessions

# Demo users (a real app checks a password hash).
USERS = {"alice": "wonderland", "bob": "builder"}


def _iso(ms: Optional[int]) -> Optional[str]:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()


def create_app(
    redis_client: Any,
    *,
    access_ttl: str = "15m",
    session_ttl: str = "30d",
    secure: bool = True,
) -> FastAPI:
    jwt = AsyncRedisJwt(redis_client)
    auth = CookieSessions(jwt, secure=secure, samesite="lax", sign_defaults={"ttl": session_ttl, "expires": access_ttl})
    app = FastAPI(title="redis-jwt cookie sessions")
    auth.install(app)

    @app.post("/login")
    async def login(request: Request, response: Response, creds: Dict[str, str] = Body(...)) -> Any:
        username, password = creds.get("username", ""), creds.get("password", "")
        if USERS.get(username) != password or not username:
            return JSONResponse({"error": "BADLOGIN", "message": "wrong username or password"}, status_code=401)
        # The device label goes in the session's META (at most 512 bytes of JSON): listed
        # by JWT.SESSIONS for the devices page, never in the token.
        device = request.headers.get("user-agent", "unknown device")[:200]
        r = await auth.login(response, username, meta={"device": device})
        return {"sub": username, "sid": r.session.sid if r.session else None, "csrfToken": r.csrf_token}

    @app.get("/me")
    async def me(session: Auth = Depends(auth.required)) -> Dict[str, Any]:
        return {"sub": session.sub, "sid": session.sid, "refreshed": session.refreshed, "csrfToken": session.csrf_token}

    @app.post("/notes")
    async def notes(request: Request, session: Auth = Depends(auth.required)) -> Dict[str, Any]:
        text: Optional[str] = None
        if request.headers.get("content-type", "").startswith("application/json"):
            text = (await request.json()).get("text")
        else:
            text = (await request.form()).get("text")  # type: ignore[assignment]
        return {"ok": True, "by": session.sub, "note": text}

    @app.get("/devices")
    async def devices(request: Request, response: Response, session: Auth = Depends(auth.required)) -> Any:
        # label from META, last activity from last_seen (login, refresh), the current one marked
        rows = [
            {
                "sid": s.sid,
                "device": (s.meta or {}).get("device") or "unknown device",
                "created": _iso(s.created),
                "last_seen": _iso(s.last_seen),
                "expires": _iso(s.expires_at),
                "current": s.sid == session.sid,
            }
            for s in await jwt.sessions(session.sub)
        ]
        if "text/html" in request.headers.get("accept", ""):
            items = "".join(
                f"<li>{html.escape(str(d['device']))}, since {d['created']}, last seen {d['last_seen'] or 'never'}"
                f"{' (this device)' if d['current'] else ''}</li>"
                for d in rows
            )
            resp = HTMLResponse(f"<!doctype html><title>Your devices</title><h1>Your devices</h1><ul>{items}</ul>")
            # A Response returned directly does not get the dependency's cookies: copy them.
            for v in response.headers.getlist("set-cookie"):
                resp.headers.append("set-cookie", v)
            return resp
        return {"devices": rows}

    @app.post("/logout")
    async def logout(request: Request, response: Response, session: Auth = Depends(auth.required)) -> Dict[str, Any]:
        return {"ended": await auth.logout(request, response)}

    @app.post("/logout-everywhere")
    async def logout_everywhere(response: Response, session: Auth = Depends(auth.required)) -> Dict[str, Any]:
        return {"ended": await auth.logout_everywhere(session, response)}

    @app.post("/logout-others")
    async def logout_others(session: Auth = Depends(auth.required)) -> Dict[str, Any]:
        return {"ended": await auth.logout_others(session)}

    return app


# `uvicorn app:app`: the client connects lazily, on the first request.
app = create_app(
    redis.asyncio.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")),
    secure=os.environ.get("COOKIE_SECURE", "1") != "0",
)

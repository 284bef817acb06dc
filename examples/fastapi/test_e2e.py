"""The tutorial's flow end to end over real HTTP (uvicorn) against a real redis-server."""
from __future__ import annotations

import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Dict, List, Optional

import httpx
import pytest
import redis.asyncio
import uvicorn

sys.path.insert(0, os.path.dirname(__file__))
from app import create_app  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def base():
    addr = os.environ.get("REDIS_JWT_EXAMPLES") or os.environ.get("REDIS_JWT_STANDALONE")
    if not addr:
        pytest.fail("REDIS_JWT_EXAMPLES is not set: run through clients/test.sh")
    host, port = addr.rsplit(":", 1)
    # jwt.refresh-grace is 1 s on that server (clients/test.sh), 10 s by default.
    app = create_app(redis.asyncio.Redis(host=host, port=int(port)), access_ttl="1s", session_ttl="30d")
    http_port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=http_port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{http_port}"
    server.should_exit = True
    t.join(5)


def parse_set_cookie(line: str) -> Dict[str, Any]:
    pair, *attrs = [p.strip() for p in line.split(";")]
    name, _, value = pair.partition("=")
    c: Dict[str, Any] = {"name": name, "value": urllib.parse.unquote(value.strip('"')), "attrs": {}}
    for a in attrs:
        k, eq, v = a.partition("=")
        c["attrs"][k.lower()] = v if eq else True
    return c


class Browser:
    """Cookie jar fed by Set-Cookie and sent back as Cookie (httpx's jar would not send
    Secure cookies over http)."""

    def __init__(self, base: str, user_agent: str = "test-browser") -> None:
        self.base, self.ua = base, user_agent
        self.jar: Dict[str, str] = {}

    def request(self, method: str, path: str, *, json: Any = None, data: Any = None, headers: Optional[Dict[str, str]] = None, csrf: bool = True, without: List[str] = []) -> httpx.Response:
        h = {"user-agent": self.ua, **(headers or {})}
        cookies = [(k, v) for k, v in self.jar.items() if k not in without]
        if cookies and "cookie" not in h:
            h["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies)
        if csrf and method != "GET" and "csrf_token" in self.jar:
            h["x-csrf-token"] = self.jar["csrf_token"]
        r = httpx.request(method, self.base + path, json=json, data=data, headers=h)
        r.set_cookies = [parse_set_cookie(l) for l in r.headers.get_list("set-cookie")]  # type: ignore[attr-defined]
        for c in r.set_cookies:  # type: ignore[attr-defined]
            a = c["attrs"]
            expired = a.get("max-age") == "0" or ("expires" in a and parsedate_to_datetime(a["expires"]).timestamp() <= time.time())
            if expired:
                self.jar.pop(c["name"], None)
            else:
                self.jar[c["name"]] = c["value"]
        return r

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)


def login(b: Browser, user: str = "alice", password: str = "wonderland") -> httpx.Response:
    r = b.post("/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return r


def test_login_sets_cookies_with_module_lifetimes(base):
    b = Browser(base)
    assert b.post("/login", json={"username": "alice", "password": "no"}).status_code == 401
    r = login(b)
    by = {c["name"]: c for c in r.set_cookies}
    for n in ("access_token", "refresh_token", "csrf_token"):
        a = by[n]["attrs"]
        assert a.get("secure") is True and a["samesite"].lower() == "lax" and a["path"] == "/"
    assert by["access_token"]["attrs"].get("httponly") is True
    assert by["refresh_token"]["attrs"].get("httponly") is True
    assert "httponly" not in by["csrf_token"]["attrs"]
    assert by["csrf_token"]["value"] == r.json()["csrfToken"]
    assert int(by["access_token"]["attrs"]["max-age"]) <= 1
    age = int(by["refresh_token"]["attrs"]["max-age"])
    assert 30 * 86400 - 60 < age <= 30 * 86400
    me = b.get("/me")
    assert me.status_code == 200 and me.json()["sub"] == "alice"


def test_protected_route_without_session(base):
    r = Browser(base).get("/me")
    assert r.status_code == 401 and r.json()["error"] == "NOSESSION"


def early_in_second() -> None:
    """The 1 s access tokens carry whole-second iat/exp, so one issued late in a second
    may expire a few ms later: before checking that the next request does NOT refresh,
    wait for the next second when this one is nearly over."""
    frac = time.time() % 1
    if frac > 0.7:
        time.sleep(1.02 - frac)


def test_transparent_refresh(base):
    b = Browser(base)
    early_in_second()
    login(b)
    first = b.get("/me").json()
    assert first["refreshed"] is False
    old = b.jar["refresh_token"]
    time.sleep(2.1)
    r = b.get("/me")
    assert r.status_code == 200, r.text
    assert r.json()["refreshed"] is True and r.json()["sid"] == first["sid"]
    assert b.jar["refresh_token"] != old
    assert r.json()["csrfToken"] == first["csrfToken"]
    early_in_second()
    r2 = b.get("/me", without=["access_token"])
    assert r2.json()["refreshed"] is True
    assert b.get("/me").json()["refreshed"] is False


def test_stolen_refresh_token_replayed_logs_victim_out(base):
    victim = Browser(base, "victim-laptop")
    login(victim)
    thief = Browser(base, "thief")
    thief.jar["refresh_token"] = victim.jar["refresh_token"]
    assert victim.get("/me", without=["access_token"]).json()["refreshed"] is True
    time.sleep(1.2)  # past jwt.refresh-grace
    replay = thief.get("/me")
    assert replay.status_code == 401 and replay.json()["error"] == "REUSED"
    assert thief.jar == {}
    after = victim.get("/me")
    assert after.status_code == 401 and after.json()["error"] == "REVOKED"
    assert "access_token" not in victim.jar


def test_cross_site_post_without_csrf_token_is_refused(base):
    b = Browser(base)
    login(b)
    forged = b.post("/notes", data={"text": "pwned"}, csrf=False, headers={"origin": "https://evil.example"})
    assert forged.status_code == 403 and forged.json()["error"] == "CSRF"
    assert b.post("/notes", json={"text": "x"}, csrf=False, headers={"x-csrf-token": "guess"}).status_code == 403
    planted = b.post(
        "/notes",
        json={"text": "x"},
        csrf=False,
        headers={"x-csrf-token": "planted", "cookie": f"access_token={b.jar['access_token']}; refresh_token={b.jar['refresh_token']}; csrf_token=planted"},
    )
    assert planted.status_code == 403
    time.sleep(1.1)  # the access token expires: a refused request that refreshed still hands over the new cookies
    refused = b.post("/notes", json={"text": "x"}, csrf=False)
    assert refused.status_code == 403
    assert "refresh_token" in {c["name"] for c in refused.set_cookies}
    ok = b.post("/notes", json={"text": "hello"})
    assert ok.status_code == 200 and ok.json()["note"] == "hello"
    assert b.post("/notes", data={"text": "form", "_csrf": b.jar["csrf_token"]}, csrf=False).status_code == 200
    assert b.post("/logout", csrf=False).status_code == 403
    assert b.get("/me").status_code == 200


def test_devices_logout_logout_everywhere(base):
    laptop, phone, tablet = Browser(base, "Laptop Firefox"), Browser(base, "Phone Safari"), Browser(base, "Tablet")
    for b in (laptop, phone, tablet):
        login(b, "bob", "builder")
    names = ("Laptop Firefox", "Phone Safari", "Tablet")
    mine = lambda: [d for d in laptop.get("/devices").json()["devices"] if d["device"] in names]  # noqa: E731
    devs = mine()
    assert len(devs) == 3
    assert [d["device"] for d in devs if d["current"]] == ["Laptop Firefox"]
    iso = lambda x: datetime.fromisoformat(x).timestamp()  # noqa: E731
    for d in devs:
        assert iso(d["created"]) <= iso(d["last_seen"]) <= time.time() + 1
    page = laptop.get("/devices", headers={"accept": "text/html"})
    assert "Your devices" in page.text
    assert re.search(r"Phone Safari, since [^<]*, last seen \d{4}-", page.text), page.text
    # last seen moves when the phone comes back and refreshes (its 1 s access token expired)
    before = next(d for d in devs if d["device"] == "Phone Safari")
    time.sleep(1.1)
    assert phone.get("/me").json()["refreshed"] is True
    after = next(d for d in laptop.get("/devices").json()["devices"] if d["sid"] == before["sid"])
    assert after["device"] == "Phone Safari"  # META survives the refresh
    assert iso(after["last_seen"]) > iso(before["last_seen"])
    out = tablet.post("/logout")
    assert out.status_code == 200 and out.json()["ended"] is True and tablet.jar == {}
    assert tablet.get("/me").status_code == 401
    assert len(mine()) == 2
    everywhere = laptop.post("/logout-everywhere")
    assert everywhere.status_code == 200 and everywhere.json()["ended"] >= 2 and laptop.jar == {}
    p = phone.get("/me")
    assert p.status_code == 401 and p.json()["error"] == "REVOKED"


def test_logout_others_keeps_this_session(base):
    """POST /logout-others (auth.logout_others): the user's other sessions end, this one lives on."""
    laptop, phone, tablet = Browser(base, "Laptop Firefox"), Browser(base, "Phone Safari"), Browser(base, "Tablet")
    for b in (laptop, phone, tablet):
        login(b)
    me = laptop.get("/me").json()
    # every other live session of alice (earlier tests' ones too) is ended
    before = laptop.get("/devices").json()["devices"]
    others = [d for d in before if not d["current"]]
    assert len(others) >= 2, before
    r = laptop.post("/logout-others")
    assert r.status_code == 200, r.text
    assert r.json()["ended"] == len(others)
    cleared = [c for c in r.set_cookies if c["attrs"].get("max-age") == "0"]
    assert cleared == [], "no cookie cleared"
    assert "access_token" in laptop.jar and "refresh_token" in laptop.jar
    for b in (phone, tablet):
        p = b.get("/me")
        assert p.status_code == 401 and p.json()["error"] == "REVOKED"
    # this session lives on: its access token verifies and its refresh token still rotates
    still = laptop.get("/me")
    assert still.status_code == 200 and still.json()["sid"] == me["sid"]
    refreshed = laptop.get("/me", without=["access_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refreshed"] is True and refreshed.json()["sid"] == me["sid"]
    after = laptop.get("/devices").json()["devices"]
    assert [(d["sid"], d["current"]) for d in after] == [(me["sid"], True)]
    assert laptop.post("/logout-others").json()["ended"] == 0

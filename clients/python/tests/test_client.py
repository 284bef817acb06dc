"""Every command through redis-py sync and asyncio, standalone and cluster."""
import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time

import pytest
import redis

import redis_jwt_client as rj
from conftest import A, cluster_nodes, cluster_replicas, no_signing_key, run, standalone, uniq


def hs256(secret: str, payload: dict, kid=None) -> str:
    """An HS256 token signed here, as PyJWT/jsonwebtoken would (no kid unless given): not by the module."""

    def seg(o):
        return base64.urlsafe_b64encode(json.dumps(o, separators=(",", ":")).encode()).decode().rstrip("=")

    header = {"alg": "HS256", "typ": "JWT"} if kid is None else {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = seg(header) + "." + seg(payload)
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(sig).decode().rstrip("=")


def legacy_claims(sub: str) -> dict:
    """Claims of a token that an old deployment signed: valid for five minutes."""
    now = int(time.time())
    return {"sub": sub, "role": "legacy", "iat": now, "exp": now + 300}


def test_sign_verify_touch_destroy(kind):
    async def body(jwt):
        sub = uniq("alice")
        token = await A(jwt.sign(sub, claims={"role": "admin"}, data={"cart": [42]}, ttl="30m", expires="15m"))
        assert isinstance(token, str)
        claims = await A(jwt.verify(token))
        assert claims["sub"] == sub and claims["role"] == "admin"
        assert claims["exp"] - claims["iat"] == 900
        v = await A(jwt.verify(token, with_data=True))
        assert isinstance(v, rj.Verified) and v.data == {"cart": [42]} and v.claims["sid"] == claims["sid"]
        d = await A(jwt.decode(token))
        assert d.header["typ"] == "JWT" and d.payload["sub"] == sub
        assert (await A(jwt.touch(token, ttl="2h")))["jti"] == claims["jti"]
        [s] = await A(jwt.sessions(sub, with_data=True))
        # Without a refresh token the session ends with its access token: TOUCH cannot
        # stretch it past exp, which is its absolute deadline.
        assert s.sid == claims["sid"] and 800_000 < s.ttl <= 900_000
        assert s.maxage_deadline == claims["exp"] * 1000
        assert s.data == {"cart": [42]}
        assert await A(jwt.destroy(token)) is True
        assert await A(jwt.destroy(token)) is False
        with pytest.raises(rj.RevokedSession) as ei:
            await A(jwt.verify(token))
        assert ei.value.code == "REVOKED"
        assert (await A(jwt.verify(await A(jwt.sign(sub)), with_data=True))).data is None

    run(kind, body)


def test_refresh_rotation_and_reuse(kind):
    async def body(jwt):
        sub = uniq("bob")
        p0 = await A(jwt.sign(sub, sid="phone", claims={"plan": "pro"}, refresh=True, max_age="7d"))
        assert isinstance(p0, rj.TokenPair) and p0.refresh_token.startswith("jwtr_")
        p1 = await A(jwt.refresh(p0.refresh_token, expires=60))
        assert p1.claims["sub"] == sub and p1.claims["sid"] == "phone" and p1.claims["plan"] == "pro"
        assert p1.claims["exp"] - p1.claims["iat"] == 60
        p2 = await A(jwt.refresh(p1.refresh_token))
        await A(jwt.verify(p2.access_token))
        with pytest.raises(rj.RefreshReused):
            await A(jwt.refresh(p0.refresh_token))
        with pytest.raises(rj.RevokedSession):
            await A(jwt.verify(p2.access_token))
        p3 = await A(jwt.sign(sub, refresh=True))
        assert await A(jwt.destroy(p3.refresh_token)) is True

    run(kind, body)


def test_update_data_merge_claims_supersede(kind):
    async def body(jwt):
        sub = uniq("upd")
        p = await A(jwt.sign(sub, claims={"role": "admin"}, data={"cart": [1]}, refresh=True))
        c0 = await A(jwt.verify(p.access_token))

        async def data_of(t):
            return (await A(jwt.verify(t, with_data=True))).data

        assert await A(jwt.update(p.access_token, merge={"cart": [1, 2], "seen": True})) is None
        assert await data_of(p.access_token) == {"cart": [1, 2], "seen": True}
        assert await A(jwt.update(p.access_token, merge={"seen": None})) is None
        assert await data_of(p.access_token) == {"cart": [1, 2]}
        assert await A(jwt.update(p.refresh_token, data=["replaced"])) is None
        assert await data_of(p.access_token) == ["replaced"]
        # new claims: a new access token for the same session; older ones verify until exp
        u = await A(jwt.update(p.access_token, claims={"role": "user"}))
        assert isinstance(u, rj.UpdateResult) and isinstance(u.access_token, str)
        assert u.claims["sub"] == sub and u.claims["sid"] == c0["sid"] and u.claims["role"] == "user"
        assert u.claims["jti"] != c0["jti"] and u.claims["exp"] - u.claims["iat"] == c0["exp"] - c0["iat"]
        assert (await A(jwt.verify(u.access_token)))["role"] == "user"
        assert (await A(jwt.verify(p.access_token)))["role"] == "admin"
        # supersede, proven by the refresh token: every older access token is refused at once
        s = await A(jwt.update(p.refresh_token, supersede=True))
        assert s.claims["role"] == "user" and s.claims["sid"] == c0["sid"] and isinstance(s.claims["sver"], int)
        for old in (p.access_token, u.access_token):
            with pytest.raises(rj.RevokedSession):
                await A(jwt.verify(old))
        # MERGE needs DATA to be an object (it is a list now): refused, nothing changed
        with pytest.raises(rj.CommandError):
            await A(jwt.update(s.access_token, merge={"n": 1}, supersede=True))
        await A(jwt.verify(s.access_token))
        both = await A(jwt.update(s.access_token, claims={"role": "guest"}, supersede=True, data={"n": 1}))
        assert both.claims["role"] == "guest"
        with pytest.raises(rj.RevokedSession):
            await A(jwt.verify(s.access_token))
        assert await data_of(both.access_token) == {"n": 1}
        # UPDATE never rotates: the refresh token lives on and REFRESH carries the new claims
        r = await A(jwt.refresh(p.refresh_token))
        assert r.claims["role"] == "guest" and r.claims["sid"] == c0["sid"]
        # a rotated-away refresh token is INVALID here (not reuse: the session lives on)
        with pytest.raises(rj.InvalidToken):
            await A(jwt.update(p.refresh_token, merge={"x": 1}))
        await A(jwt.verify(r.access_token))
        with pytest.raises(rj.CommandError):
            await A(jwt.update(r.access_token, data=1, merge={"a": 1}))
        with pytest.raises(rj.CommandError):
            await A(jwt.update(r.access_token))
        assert await A(jwt.destroy(r.refresh_token)) is True
        with pytest.raises(rj.RevokedSession):
            await A(jwt.update(r.access_token, merge={"a": 1}))

    run(kind, body)


def test_meta_last_seen_and_refresh_payload(kind):
    async def body(jwt):
        sub = uniq("meta")
        p = await A(jwt.sign(sub, sid="phone", meta={"device": "Phone Safari", "ip": "10.0.0.7"}, refresh=True))
        await A(jwt.sign(sub, sid="desk"))

        async def by_id():
            return {x.sid: x for x in await A(jwt.sessions(sub))}

        ss = await by_id()
        assert ss["phone"].meta == {"device": "Phone Safari", "ip": "10.0.0.7"} and ss["desk"].meta is None
        assert isinstance(ss["phone"].last_seen, int) and abs(ss["phone"].last_seen - ss["phone"].created) < 1000
        assert ss["phone"].maxage_deadline is None  # refreshable, no MAXAGE: no absolute deadline
        assert ss["phone"].extra == {}
        seen = ss["phone"].last_seen
        await asyncio.sleep(0.03)
        r = await A(jwt.refresh(p.refresh_token))
        assert r.claims["sub"] == sub and r.claims["sid"] == "phone"
        assert r.claims == (await A(jwt.decode(r.access_token))).payload
        ss = await by_id()
        assert ss["phone"].last_seen > seen
        assert ss["phone"].meta == {"device": "Phone Safari", "ip": "10.0.0.7"}
        with pytest.raises(rj.CommandError):
            await A(jwt.sign(sub, meta={"note": "x" * 600}))
        assert await A(jwt.count(sub)) == 2

    run(kind, body)


def test_sessions_count_revoke(kind):
    async def body(jwt):
        sub = uniq("carol")
        for sid in ("laptop", "phone", "desk"):
            await A(jwt.sign(sub, sid=sid, data={"device": sid}))
        ss = await A(jwt.sessions(sub))
        assert sorted(s.sid for s in ss) == ["desk", "laptop", "phone"]
        assert all(isinstance(s, rj.Session) and s.created > 1.6e12 and s.data is None for s in ss)
        assert await A(jwt.count(sub)) == 3
        assert (await A(jwt.session(sub, "phone", with_data=True))).data == {"device": "phone"}
        assert await A(jwt.session(sub, "nope")) is None
        assert await A(jwt.revoke(sub, sids=["laptop"])) == 1
        assert await A(jwt.revoke(sub, except_sid="desk")) == 1
        assert [s.sid for s in await A(jwt.sessions(sub))] == ["desk"]
        assert await A(jwt.revoke(sub)) == 1
        assert await A(jwt.count(sub)) == 0

    run(kind, body)


def test_errors(kind):
    async def body(jwt):
        with pytest.raises(rj.InvalidToken):
            await A(jwt.verify("not-a-token"))
        with pytest.raises(rj.InvalidToken):
            await A(jwt.refresh("jwtr_AAAA"))
        with pytest.raises(rj.CommandError) as ei:
            await A(jwt.sign("a{b"))
        assert ei.value.code == "ERR"
        with pytest.raises(rj.CommandError):
            await A(jwt.sign(uniq("d"), ttl="forever"))
        p = await A(jwt.sign(uniq("d"), refresh=True))
        with pytest.raises(rj.InvalidToken):
            await A(jwt.verify(p.refresh_token))
        with pytest.raises(redis.exceptions.ResponseError):  # still a redis-py ResponseError
            await A(jwt.refresh(p.access_token))

    run(kind, body)


def test_stateless_keys_jwks(kind):
    async def body(jwt):
        t = await A(jwt.sign_stateless("svc", expires="5m", claims={"scope": "read"}))
        c = await A(jwt.verify(t))
        assert c["scope"] == "read" and "sid" not in c
        keys = await A(jwt.key_list())
        assert any(k.state == "active" for k in keys)
        assert isinstance((await A(jwt.jwks()))["keys"], list)

    run(kind, body)


@pytest.mark.parametrize("kind", ["sync", "asyncio"])
def test_key_administration_and_expiry(kind):
    async def body(jwt):
        kid = await A(jwt.key_generate("ES256", kid=uniq("es")))
        assert next(k for k in await A(jwt.key_list()) if k.kid == kid).alg == "ES256"
        assert any(k["kid"] == kid for k in (await A(jwt.jwks()))["keys"])
        ex = await A(jwt.key_export(kid))
        assert ex.alg == "ES256" and "BEGIN PRIVATE KEY" in ex.material
        t = await A(jwt.sign(uniq("k"), key=kid, expires=1))
        assert (await A(jwt.decode(t))).header["kid"] == kid
        await asyncio.sleep(2.1)
        with pytest.raises(rj.ExpiredToken):
            await A(jwt.verify(t))
        t2 = await A(jwt.sign(uniq("k"), key=kid))
        active = next(k.kid for k in await A(jwt.key_list()) if k.state == "active")
        assert await A(jwt.key_revoke(kid)) == active
        with pytest.raises(rj.InvalidToken):
            await A(jwt.verify(t2))

    run(kind, body)


@pytest.mark.parametrize("kind", ["sync", "asyncio"])
def test_key_import_legacy(kind):
    """docs/commands.md, JWT.KEY IMPORT ... LEGACY: verifies tokens without a kid (and those
    whose kid names it) as stateless tokens; a secret shorter than the hash is allowed and
    reported weak; it never signs nor becomes the active key."""

    async def body(jwt):
        kid = uniq("legacy")
        secret = uniq("old-app-secret")  # 23 bytes: shorter than SHA-256's 32
        active = next(k.kid for k in await A(jwt.key_list()) if k.state == "active")
        assert await A(jwt.key_import(kid, "HS256", secret, legacy=True)) == kid
        try:
            k = next(x for x in await A(jwt.key_list()) if x.kid == kid)
            assert k.state == "legacy" and k.alg == "HS256" and int(k.extra["weak"]) == 1
            assert next(x.kid for x in await A(jwt.key_list()) if x.state == "active") == active
            sub = uniq("old-user")
            for token in (hs256(secret, legacy_claims(sub)), hs256(secret, legacy_claims(sub), kid)):
                c = await A(jwt.verify(token))
                assert c["sub"] == sub and c["role"] == "legacy" and "sid" not in c  # stateless
                assert (await A(jwt.verify(token, with_data=True))).data is None
            with pytest.raises(rj.InvalidToken):
                await A(jwt.verify(hs256(secret + "-not-it", legacy_claims(sub))))
            with pytest.raises(rj.CommandError):  # a LEGACY key never signs
                await A(jwt.sign(uniq("k"), key=kid))
            with pytest.raises(rj.CommandError):
                await A(jwt.key_activate(kid))
        finally:
            assert await A(jwt.key_revoke(kid)) == active
        with pytest.raises(rj.InvalidToken):
            await A(jwt.verify(hs256(secret, legacy_claims("x"), kid)))
        # without legacy=, IMPORT imports a key that signs (no LEGACY sent)
        kid2 = uniq("hs")
        assert await A(jwt.key_import(kid2, "HS256", secrets.token_hex(24))) == kid2
        assert next(x for x in await A(jwt.key_list()) if x.kid == kid2).state == "ready"
        assert await A(jwt.key_revoke(kid2)) == active

    run(kind, body)


@pytest.mark.parametrize("kind", ["sync", "asyncio"])
def test_key_revoke_nil_without_signing_key(kind):
    """REDIS_JWT_NO_SIGNING_KEY: a server nothing signs on. A LEGACY key never becomes the
    active key, so after revoking it the keyring has no active key: nil, returned as None."""

    async def body(jwt):
        before = await A(jwt.key_list())
        assert all(k.state == "legacy" for k in before), f"the keyring has a signing key: {before}"
        kid = uniq("legacy")
        secret = secrets.token_hex(32)
        await A(jwt.key_import(kid, "HS256", secret, legacy=True))
        sub = uniq("old-user")
        assert (await A(jwt.verify(hs256(secret, legacy_claims(sub)))))["sub"] == sub
        assert await A(jwt.key_revoke(kid)) is None
        with pytest.raises(rj.InvalidToken):
            await A(jwt.verify(hs256(secret, legacy_claims(sub))))
        assert not any(k.kid == kid for k in await A(jwt.key_list()))

    run(kind, body, no_signing_key())


def _a_replica():
    """One of the cluster's replicas (clients/test.sh); the failover tests may have swapped roles."""
    for host, port in cluster_replicas() + cluster_nodes():
        r = redis.Redis(host=host, port=port, decode_responses=True)
        try:
            if r.execute_command("ROLE")[0] == "slave":
                return host, port
        finally:
            r.close()
    pytest.fail("no replica among the cluster nodes")


@pytest.mark.parametrize("kind", ["sync", "asyncio"])
def test_readonly_on_a_replica(kind):
    """JWT.KEY writes on a replica, reached with a standalone client, are refused (by Redis,
    or by the module on a writable replica) and nothing retries them: ReadOnlyError, which
    is also redis-py's ReadOnlyError."""

    async def body(jwt):
        for call in (
            lambda: jwt.key_generate("ES256", kid=uniq("ro")),
            lambda: jwt.key_import(uniq("ro"), "HS256", "a-legacy-secret", legacy=True),
            lambda: jwt.key_rotate(),
            lambda: jwt.key_cutoff(),
        ):
            with pytest.raises(rj.ReadOnlyError) as ei:
                await A(call())
            e = ei.value
            assert e.code == "READONLY" and isinstance(e, rj.JwtError)
            assert isinstance(e, redis.exceptions.ReadOnlyError) and isinstance(e, redis.exceptions.ResponseError)
        assert isinstance(await A(jwt.key_list()), list)  # reads work on a replica

    run(kind, body, _a_replica())


@pytest.mark.parametrize("kind", ["sync-cluster", "asyncio-cluster"])
def test_cluster_routing_across_primaries(kind):
    async def body(jwt):
        subs = [uniq(f"u{i}") for i in range(24)]
        for i, s in enumerate(subs):
            pair = await A(jwt.sign(s, refresh=True, data={"s": s}))
            assert (await A(jwt.verify(pair.access_token, with_data=True))).data == {"s": s}
            await A(jwt.touch(pair.access_token))
            assert await A(jwt.update(pair.access_token, merge={"i": i})) is None
            u = await A(jwt.update(pair.refresh_token, claims={"i": i}, supersede=True))
            assert u.claims["sub"] == s
            with pytest.raises(rj.RevokedSession):
                await A(jwt.verify(pair.access_token))
            assert (await A(jwt.verify(u.access_token, with_data=True))).data == {"s": s, "i": i}
            r = await A(jwt.refresh(pair.refresh_token))
            assert r.claims["sub"] == s and r.claims["i"] == i
            assert await A(jwt.count(s)) == 1
            assert await A(jwt.destroy(r.refresh_token)) is True
            with pytest.raises(rj.RevokedSession):
                await A(jwt.verify(r.access_token))

    run(kind, body)


def test_cluster_stale_slot_map_is_recovered():
    """A token command sent to the wrong primary answers MOVED: the client reloads and retries."""

    async def body(jwt):
        sub = uniq("moved")
        token = await A(jwt.sign(sub))
        rc = jwt.redis
        right = rc.get_node_from_key("{" + sub + "}")
        wrong = next(n for n in rc.get_primaries() if n.name != right.name)
        slot = rc.keyslot("{" + sub + "}")
        rc.nodes_manager.slots_cache[slot] = [wrong]  # corrupt the cached map
        assert (await A(jwt.verify(token)))["sub"] == sub

    run("sync-cluster", body)


def test_policies_limit_and_noperm():
    host, port = standalone()
    admin = redis.Redis(host=host, port=port)
    user = uniq("acl")
    admin.execute_command("CONFIG", "SET", "jwt.max-sessions-policy", "deny")
    admin.execute_command("ACL", "SETUSER", user, "on", ">pw", "~jwt:{alice}*", "+@all")
    try:
        for kind in ("sync", "asyncio"):

            async def body(jwt):
                sub = uniq("lim")
                await A(jwt.sign(sub, limit=1))
                with pytest.raises(rj.SessionLimit):
                    await A(jwt.sign(sub, limit=1))

            run(kind, body)

            async def acl(jwt):
                await A(jwt.sessions("alice"))
                with pytest.raises(rj.NoPermission) as ei:
                    await A(jwt.sessions("bob"))
                assert ei.value.code == "NOPERM"
                with pytest.raises(rj.NoPermission):
                    await A(jwt.revoke("bob"))

            run(kind, acl, username=user, password="pw")
    finally:
        admin.execute_command("CONFIG", "SET", "jwt.max-sessions-policy", "evict-oldest")
        admin.execute_command("ACL", "DELUSER", user)
        admin.close()


def test_fastapi_cookie_sessions_on_sync_and_async_clients(kind):
    """clients/python/README.md, FastAPI: the dependency "works with RedisJwt too (sync
    calls)" as well as with AsyncRedisJwt. The whole flow on each kind of client, over
    HTTP into the app (httpx's ASGI transport, in this event loop): login, required
    (VERIFY, and REFRESH without the access cookie), CSRF, with_data, optional,
    logout_others, logout and logout_everywhere."""
    from typing import Optional

    import httpx
    from fastapi import Depends, FastAPI, Request, Response

    from redis_jwt_client.fastapi import Auth, CookieSessions

    async def body(jwt):
        assert type(jwt) is (rj.RedisJwt if kind.startswith("sync") else rj.AsyncRedisJwt)
        sub = uniq("fastapi")
        auth = CookieSessions(jwt, with_data=True, sign_defaults={"ttl": "1h", "expires": "5m"})
        app = FastAPI()
        auth.install(app)

        @app.post("/login")
        async def login(response: Response):
            r = await auth.login(response, sub, data={"cart": [1]}, meta={"device": "test"})
            return {"sid": r.session.sid, "csrf": r.csrf_token}

        @app.get("/me")
        async def me(s: Auth = Depends(auth.required)):
            return {"sid": s.sid, "refreshed": s.refreshed, "data": s.data, "csrf": s.csrf_token}

        @app.get("/maybe")
        async def maybe(s: Optional[Auth] = Depends(auth.optional)):
            return {"sid": s.sid if s else None}

        @app.post("/notes")
        async def notes(s: Auth = Depends(auth.required)):
            return {"by": s.sub}

        @app.post("/logout")
        async def logout(request: Request, response: Response, s: Auth = Depends(auth.required)):
            return {"ended": await auth.logout(request, response)}

        @app.post("/logout-everywhere")
        async def everywhere(response: Response, s: Auth = Depends(auth.required)):
            return {"ended": await auth.logout_everywhere(s, response)}

        @app.post("/logout-others")
        async def others(s: Auth = Depends(auth.required)):
            return {"ended": await auth.logout_others(s)}

        def browser() -> httpx.AsyncClient:
            # https: the cookies are Secure
            return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")

        def csrf(b: httpx.AsyncClient):
            return {"x-csrf-token": b.cookies["csrf_token"]}

        async with browser() as laptop, browser() as phone, browser() as tablet:
            sids = {}
            for name, b in (("laptop", laptop), ("phone", phone), ("tablet", tablet)):
                r = await b.post("/login")
                assert r.status_code == 200, r.text
                assert {"access_token", "refresh_token", "csrf_token"} <= set(b.cookies.keys())
                assert b.cookies["csrf_token"] == r.json()["csrf"]
                sids[name] = r.json()["sid"]
            assert await A(jwt.count(sub)) == 3
            me = (await laptop.get("/me")).json()
            assert me == {"sid": sids["laptop"], "refreshed": False, "data": {"cart": [1]}, "csrf": laptop.cookies["csrf_token"]}
            old_refresh = laptop.cookies["refresh_token"]
            laptop.cookies.delete("access_token")
            r = await laptop.get("/me")
            assert r.status_code == 200, r.text
            assert r.json()["refreshed"] is True and r.json()["sid"] == sids["laptop"] and r.json()["data"] == {"cart": [1]}
            assert laptop.cookies["refresh_token"] != old_refresh and "access_token" in laptop.cookies
            assert (await laptop.get("/me")).json()["refreshed"] is False
            # CSRF
            r = await laptop.post("/notes")
            assert r.status_code == 403 and r.json()["error"] == "CSRF"
            assert (await laptop.post("/notes", headers=csrf(laptop))).json() == {"by": sub}
            # optional
            assert (await laptop.get("/maybe")).json() == {"sid": sids["laptop"]}
            async with browser() as anonymous:
                assert (await anonymous.get("/maybe")).json() == {"sid": None}
                r = await anonymous.get("/me")
                assert r.status_code == 401 and r.json()["error"] == "NOSESSION"
            # logout_others: the phone and the tablet end, the laptop lives on
            r = await laptop.post("/logout-others", headers=csrf(laptop))
            assert r.status_code == 200 and r.json() == {"ended": 2}
            assert [s.sid for s in await A(jwt.sessions(sub))] == [sids["laptop"]]
            assert (await laptop.get("/me")).json()["sid"] == sids["laptop"]
            r = await phone.get("/me")
            assert r.status_code == 401 and r.json()["error"] == "REVOKED"
            assert "refresh_token" not in phone.cookies, "the dead session's cookies are cleared"
            assert (await tablet.get("/maybe")).json() == {"sid": None}
            # logout: this session only
            assert (await phone.post("/login")).status_code == 200
            r = await phone.post("/logout", headers=csrf(phone))
            assert r.status_code == 200 and r.json() == {"ended": True}
            assert "refresh_token" not in phone.cookies
            assert await A(jwt.count(sub)) == 1
            # logout_everywhere
            assert (await tablet.post("/login")).status_code == 200
            r = await laptop.post("/logout-everywhere", headers=csrf(laptop))
            assert r.status_code == 200 and r.json() == {"ended": 2}
            assert await A(jwt.count(sub)) == 0
            assert "refresh_token" not in laptop.cookies
            assert (await tablet.get("/me")).json()["error"] == "REVOKED"

    run(kind, body)

import asyncio
import base64

import pytest
from redis import exceptions as rex

import redis_jwt_client as rj
from redis_jwt_client import _core


@pytest.mark.parametrize(
    "exc, cls, code, text",
    [
        (rex.ResponseError("INVALID bad signature"), rj.InvalidToken, "INVALID", "bad signature"),
        (rex.ResponseError("EXPIRED token expired"), rj.ExpiredToken, "EXPIRED", "token expired"),
        (rex.ResponseError("NOTBEFORE not yet"), rj.TokenNotYetValid, "NOTBEFORE", "not yet"),
        (rex.ResponseError("REVOKED the session has ended"), rj.RevokedSession, "REVOKED", "the session has ended"),
        (rex.ResponseError("REUSED refresh token was already used"), rj.RefreshReused, "REUSED", None),
        (rex.ResponseError("LIMIT too many"), rj.SessionLimit, "LIMIT", None),
        (rex.NoPermissionError("this user has no permissions to access one of the keys"), rj.NoPermission, "NOPERM", None),
        (rex.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), rj.WrongType, "WRONGTYPE", None),
        # redis-py raises its ReadOnlyError for READONLY, the code word stripped
        (rex.ReadOnlyError("You can't write against a read only replica."), rj.ReadOnlyError, "READONLY", "You can't write against a read only replica."),
        (rex.ResponseError("READONLY the keyring can only change on the primary"), rj.ReadOnlyError, "READONLY", "the keyring can only change on the primary"),
        (rex.ResponseError("bad duration"), rj.CommandError, "ERR", "bad duration"),  # redis-py stripped "ERR "
    ],
)
def test_error_mapping(exc, cls, code, text):
    e = rj.to_jwt_error(exc)
    assert isinstance(e, cls) and isinstance(e, rj.JwtError) and isinstance(e, rex.ResponseError)
    assert e.code == code
    if text:
        assert str(e) == text


def test_non_reply_errors_pass_through():
    e = rex.ConnectionError("refused")
    assert rj.to_jwt_error(e) is e


def test_records_resp2_and_resp3():
    flat = [b"sid", b"a", b"created", 1, b"ttl", 1000, b"maxage_deadline", None, b"data", b'{"x":1}', b"new_field", b"v"]
    resp3 = {"sid": "a", "created": 1, "ttl": 1000, "maxage_deadline": None, "data": '{"x":1}', "new_field": "v"}
    for r in (flat, resp3):
        s = rj.parse_session(r, now_ms=5000)
        assert s == rj.Session("a", 1, 1000, 6000, None, {"x": 1}, extra={"new_field": "v"})
        assert s.last_seen is None and s.meta is None
    full = rj.parse_session(["sid", "b", "created", "1", "ttl", "10", "maxage_deadline", "99", "last_seen", b"7", "meta", b'{"device":"Phone"}'], now_ms=0)
    assert full == rj.Session("b", 1, 10, 10, 99, None, last_seen=7, meta={"device": "Phone"})
    k = rj.parse_key(["kid", "k1", "alg", "HS256", "created", "5", "state", "active", "retires_at", None])
    assert k == rj.KeyInfo("k1", "HS256", 5, "active", None)


def test_token_inspection():
    for version, header in ((1, 16), (2, 24)):
        body = bytes([version]) + bytes(header) + b"\x00\x05alice" + b"\x05phone" + bytes(64)
        rt = "jwtr_" + base64.urlsafe_b64encode(body).decode().rstrip("=")
        assert rj.refresh_token_session(rt) == ("alice", "phone")
        assert rj.route_for_token(rt) == "{alice}"
    v9 = "jwtr_" + base64.urlsafe_b64encode(b"\x09" + bytes(120)).decode().rstrip("=")
    assert rj.refresh_token_session(v9) is None
    seg = lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")
    at = ".".join([seg('{"alg":"HS256"}'), seg('{"sub":"bob","sid":"s1"}'), ""])
    assert rj.token_subject(at) == "bob"
    assert rj.token_subject("garbage") is None
    assert rj.token_subject("jwtr_AAAA") is None


def test_command_arguments():
    from datetime import timedelta

    cmd = _core.sign("alice", claims={"role": "admin"}, data=[1], ttl="30d", expires=timedelta(minutes=15), max_age=90.5, sid="phone", limit=3, refresh=True)
    assert cmd.args == ["JWT.SIGN", "alice", "CLAIMS", '{"role":"admin"}', "DATA", "[1]", "TTL", "30d", "EXPIRES", "900", "MAXAGE", "91", "SID", "phone", "LIMIT", "3", "REFRESH"]
    assert cmd.route == "{alice}"
    assert _core.revoke("bob", except_sid="desk").args == ["JWT.REVOKE", "bob", "EXCEPT", "desk"]
    assert _core.sign("alice", meta={"device": "Phone"}).args == ["JWT.SIGN", "alice", "META", '{"device":"Phone"}']
    assert _core.refresh("jwtr_x", expires=60).args == ["JWT.REFRESH", "jwtr_x", "EXPIRES", "60", "WITHPAYLOAD"]
    u = _core.update("tok", merge={"a": None}, claims={"role": "user"}, supersede=True)
    assert u.args == ["JWT.UPDATE", "tok", "MERGE", '{"a":null}', "CLAIMS", '{"role":"user"}', "SUPERSEDE"]
    assert _core.update("tok", data=None).args == ["JWT.UPDATE", "tok", "DATA", "null"]
    assert u.parse(1) is None


def test_readonly_error_is_also_redis_pys():
    e = rj.to_jwt_error(rex.ReadOnlyError("You can't write against a read only replica."))
    assert isinstance(e, rj.ReadOnlyError) and isinstance(e, rex.ReadOnlyError) and isinstance(e, rj.JwtError)
    assert rj.to_jwt_error(e) is e


def test_key_import_legacy_flag_and_reply():
    assert _core.key_import("old", "HS256", "secret", legacy=True).args == ["JWT.KEY", "IMPORT", "old", "HS256", "secret", "LEGACY"]
    cmd = _core.key_import("k1", "HS256", "x" * 32)
    assert cmd.args == ["JWT.KEY", "IMPORT", "k1", "HS256", "x" * 32]
    assert _core.key_import("k1", "HS256", "x" * 32, legacy=False).args == cmd.args
    # the reply is OK: the kid is the one given
    assert cmd.parse(b"OK") == "k1" and cmd.parse("OK") == "k1" and cmd.parse(None) == "k1"


def test_key_revoke_reply_may_be_nil():
    cmd = _core.key_revoke("k")
    assert cmd.args == ["JWT.KEY", "REVOKE", "k"]
    assert cmd.parse(b"next") == "next" and cmd.parse("next") == "next"
    assert cmd.parse(None) is None


class _FakeCluster:
    """execute_command answers READONLY `failures` times, then a kid (sync or asyncio)."""

    def __init__(self, failures, is_async):
        self.failures, self.calls, self.reloads, self.is_async = failures, 0, 0, is_async
        outer = self

        class NodesManager:
            def initialize(self):
                outer.reloads += 1
                if outer.is_async:
                    return asyncio.sleep(0)

        self.nodes_manager = NodesManager()

    def get_default_node(self):
        return None

    def _answer(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise rex.ReadOnlyError("You can't write against a read only replica.")
        return b"kid1"

    def execute_command(self, *args, **kw):
        if not self.is_async:
            return self._answer()

        async def go():
            return self._answer()

        return go()


@pytest.mark.parametrize("is_async", [False, True])
def test_cluster_retries_readonly_then_raises_read_only_error(monkeypatch, is_async):
    """A failover: READONLY is still retried in a cluster (slot map reloaded); when it never
    ends, the error is our ReadOnlyError. Standalone, READONLY is raised at once."""
    from redis_jwt_client import aio, client

    monkeypatch.setattr(client, "_RETRY_DELAYS", (0.0,) * 7)
    monkeypatch.setattr(aio, "_RETRY_DELAYS", (0.0,) * 7)

    def make(fake, cluster=True):
        jwt = rj.AsyncRedisJwt(fake) if is_async else rj.RedisJwt(fake)
        jwt.cluster = cluster
        return jwt

    def call(x):
        return asyncio.run(x) if is_async else x

    once = _FakeCluster(1, is_async)
    assert call(make(once).key_generate("ES256")) == "kid1"
    assert (once.calls, once.reloads) == (2, 1)
    always = _FakeCluster(100, is_async)
    with pytest.raises(rj.ReadOnlyError) as ei:
        call(make(always).key_generate("ES256"))
    assert ei.value.code == "READONLY" and always.calls == 8
    standalone = _FakeCluster(100, is_async)
    with pytest.raises(rj.ReadOnlyError):
        call(make(standalone, cluster=False).key_rotate())
    assert standalone.calls == 1

"""What the sync and asyncio clients share: one Command per JWT.* call (arguments,
routing key, reply parser), the reply types, and local (unverified) token inspection.

Adding a command is one function here returning a Command, plus a one-line method on
each client.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Dict, Generic, List, Optional, Sequence, Tuple, TypeVar, Union

T = TypeVar("T")

#: A duration: seconds (int/float), a timedelta, or the module's string grammar ("15m", "30d").
Duration = Union[int, float, str, timedelta]
Claims = Dict[str, Any]

REFRESH_PREFIX = "jwtr_"


@dataclass(frozen=True)
class Command(Generic[T]):
    args: List[str]
    #: a key whose slot serves the command ("{sub}"), None for any node
    route: Optional[str]
    parse: Callable[[Any], T]


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str


@dataclass(frozen=True)
class RefreshResult:
    access_token: str
    refresh_token: str
    #: claims of the new access token (the payload the server returned with it)
    claims: Claims


@dataclass(frozen=True)
class UpdateResult:
    """JWT.UPDATE's new access token (with ``claims`` or ``supersede``)."""

    access_token: str
    #: claims of the new access token (issued by the server in reply to this call)
    claims: Claims


@dataclass(frozen=True)
class Verified:
    claims: Claims
    #: the session's DATA, None when it has none
    data: Any


@dataclass(frozen=True)
class Decoded:
    header: Dict[str, Any]
    payload: Dict[str, Any]


@dataclass(frozen=True)
class Session:
    sid: str
    #: creation time, ms since the epoch
    created: int
    #: remaining life, ms
    ttl: int
    #: now + ttl, ms since the epoch (computed locally)
    expires_at: int
    #: the session's absolute deadline, ms since the epoch: MAXAGE's or, for a session
    #: without a refresh token, the end of its access token; None when none
    maxage_deadline: Optional[int]
    #: DATA (only with with_data=True; None otherwise or when the session has none)
    data: Any = None
    #: last SIGN, TOUCH (when it wrote) or REFRESH, ms since the epoch; None when unknown
    last_seen: Optional[int] = None
    #: SIGN's META, parsed; None when none
    meta: Any = None
    #: fields the module may add later, as sent
    extra: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    alg: str
    created: int
    state: str  # "active" | "ready" | "retired" | "legacy" (verify-only, key_import(legacy=True))
    retires_at: Optional[int]
    extra: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportedKey:
    kid: str
    alg: str
    material: str


# --------------------------------------------------------------------------- replies


def _s(v: Any) -> str:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8")
    if v is None:
        raise TypeError("redis-jwt: unexpected nil reply")
    return str(v)


def _opt_s(v: Any) -> Optional[str]:
    return None if v is None else _s(v)


def _int(v: Any) -> int:
    return v if isinstance(v, int) else int(_s(v))


def _opt_int(v: Any) -> Optional[int]:
    return None if v is None else _int(v)


def _json(v: Any) -> Any:
    s = _opt_s(v)
    return None if s is None else json.loads(s)


def _pair(v: Any) -> Sequence[Any]:
    if not isinstance(v, (list, tuple)) or len(v) < 2:
        raise TypeError("redis-jwt: expected a two-element reply")
    return v


def record(v: Any) -> Dict[str, Any]:
    """A record reply: RESP2 flat [name, value, ...] or a RESP3 map (dict)."""
    if isinstance(v, dict):
        return {_s(k): x for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return {_s(v[i]): v[i + 1] for i in range(0, len(v) - 1, 2)}
    raise TypeError("redis-jwt: expected a record reply")


def _plain(v: Any) -> Any:
    return bytes(v).decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else v


def parse_session(v: Any, now_ms: Optional[int] = None) -> Session:
    r = record(v)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    ttl = _int(r.pop("ttl"))
    return Session(
        sid=_s(r.pop("sid")),
        created=_int(r.pop("created")),
        ttl=ttl,
        expires_at=now_ms + ttl,
        maxage_deadline=_opt_int(r.pop("maxage_deadline", None)),
        data=_json(r.pop("data", None)),
        last_seen=_opt_int(r.pop("last_seen", None)),
        meta=_json(r.pop("meta", None)),
        extra={k: _plain(x) for k, x in r.items()},
    )


def parse_key(v: Any) -> KeyInfo:
    r = record(v)
    return KeyInfo(
        kid=_s(r.pop("kid")),
        alg=_s(r.pop("alg")),
        created=_int(r.pop("created")),
        state=_s(r.pop("state")),
        retires_at=_opt_int(r.pop("retires_at", None)),
        extra={k: _plain(x) for k, x in r.items()},
    )


def _list(v: Any) -> List[Any]:
    if isinstance(v, (list, tuple, set)):
        return list(v)
    raise TypeError("redis-jwt: expected an array reply")


def _pair_of_tokens(v: Any) -> TokenPair:
    a, r = _pair(v)[:2]
    return TokenPair(_s(a), _s(r))


# --------------------------------------------------------------------------- tokens


def _b64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def unverified_payload(token: str) -> Optional[Dict[str, Any]]:
    """The payload of an access token, NOT verified; None when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        p = json.loads(_b64url(parts[1]))
    except (ValueError, binascii.Error):
        return None
    return p if isinstance(p, dict) else None


#: bytes before the subject's u16 length, by layout version: version | created_ms |
#: generation (v1), plus | incarnation (v2)
_REFRESH_HEADER = {1: 17, 2: 25}


def refresh_token_session(token: str) -> Optional[Tuple[str, str]]:
    """(sub, sid) named by a refresh token, NOT verified (for routing only); None when it
    cannot be read."""
    if not token.startswith(REFRESH_PREFIX):
        return None
    try:
        raw = _b64url(token[len(REFRESH_PREFIX):])
        at = _REFRESH_HEADER.get(raw[0]) if raw else None
        if at is None or len(raw) < at + 3 + 64:
            return None
        n = int.from_bytes(raw[at : at + 2], "big")
        sub = raw[at + 2 : at + 2 + n].decode("utf-8")
        m = raw[at + 2 + n]
        sid = raw[at + 3 + n : at + 3 + n + m].decode("utf-8")
        if len(sid) != m:
            return None
        return sub, sid
    except (ValueError, IndexError, binascii.Error):
        return None


def token_subject(token: str) -> Optional[str]:
    """The subject an access or refresh token names, unverified (for routing only)."""
    if token.startswith(REFRESH_PREFIX):
        s = refresh_token_session(token)
        return s[0] if s else None
    p = unverified_payload(token)
    sub = p.get("sub") if p else None
    return sub if isinstance(sub, str) else None


def route_for_subject(sub: str) -> str:
    return "{" + sub + "}"


def route_for_token(token: str) -> Optional[str]:
    sub = token_subject(token)
    return None if sub is None else route_for_subject(sub)


def _dur(d: Duration) -> str:
    if isinstance(d, timedelta):
        return str(math.ceil(d.total_seconds()))
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        return str(math.ceil(d))
    return str(d)


# --------------------------------------------------------------------------- commands


def sign(
    sub: str,
    *,
    claims: Optional[Dict[str, Any]] = None,
    data: Any = None,
    meta: Any = None,
    ttl: Optional[Duration] = None,
    expires: Optional[Duration] = None,
    max_age: Optional[Duration] = None,
    sid: Optional[str] = None,
    aud: Optional[str] = None,
    iss: Optional[str] = None,
    limit: Optional[int] = None,
    key: Optional[str] = None,
    refresh: bool = False,
) -> Command[Any]:
    a = ["JWT.SIGN", sub]
    if claims is not None:
        a += ["CLAIMS", json.dumps(claims, separators=(",", ":"))]
    if data is not None:
        a += ["DATA", json.dumps(data, separators=(",", ":"))]
    if meta is not None:
        a += ["META", json.dumps(meta, separators=(",", ":"))]
    if ttl is not None:
        a += ["TTL", _dur(ttl)]
    if expires is not None:
        a += ["EXPIRES", _dur(expires)]
    if max_age is not None:
        a += ["MAXAGE", _dur(max_age)]
    if sid is not None:
        a += ["SID", sid]
    if aud is not None:
        a += ["AUD", aud]
    if iss is not None:
        a += ["ISS", iss]
    if limit is not None:
        a += ["LIMIT", str(int(limit))]
    if key is not None:
        a += ["KEY", key]
    if refresh:
        a.append("REFRESH")
    return Command(a, route_for_subject(sub), _pair_of_tokens if refresh else _s)


def sign_stateless(
    sub: str,
    *,
    expires: Optional[Duration] = None,
    claims: Optional[Dict[str, Any]] = None,
    key: Optional[str] = None,
    aud: Optional[str] = None,
    iss: Optional[str] = None,
) -> Command[str]:
    a = ["JWT.SIGN", sub, "STATELESS"]
    if expires is not None:
        a += ["EXPIRES", _dur(expires)]
    if claims is not None:
        a += ["CLAIMS", json.dumps(claims, separators=(",", ":"))]
    if key is not None:
        a += ["KEY", key]
    if aud is not None:
        a += ["AUD", aud]
    if iss is not None:
        a += ["ISS", iss]
    return Command(a, route_for_subject(sub), _s)


def verify(token: str, *, with_data: bool = False, aud: Optional[str] = None, iss: Optional[str] = None) -> Command[Any]:
    a = ["JWT.VERIFY", token]
    if with_data:
        a.append("WITHDATA")
    if aud is not None:
        a += ["AUD", aud]
    if iss is not None:
        a += ["ISS", iss]

    def parse(r: Any) -> Any:
        if not with_data:
            return _json(r)
        p = _pair(r)
        return Verified(_json(p[0]), _json(p[1]))

    return Command(a, route_for_token(token), parse)


def decode(token: str) -> Command[Decoded]:
    def parse(r: Any) -> Decoded:
        p = _pair(r)
        return Decoded(_json(p[0]), _json(p[1]))

    return Command(["JWT.DECODE", token], None, parse)


def touch(token: str, *, ttl: Optional[Duration] = None) -> Command[Claims]:
    a = ["JWT.TOUCH", token]
    if ttl is not None:
        a += ["TTL", _dur(ttl)]
    return Command(a, route_for_token(token), _json)


def destroy(token: str) -> Command[bool]:
    return Command(["JWT.DESTROY", token], route_for_token(token), lambda r: _int(r) == 1)


def refresh(refresh_token: str, *, expires: Optional[Duration] = None) -> Command[RefreshResult]:
    a = ["JWT.REFRESH", refresh_token]
    if expires is not None:
        a += ["EXPIRES", _dur(expires)]
    a.append("WITHPAYLOAD")

    def parse(r: Any) -> RefreshResult:
        p = _pair_of_tokens(r)
        # the server sends the new access token's payload along: no VERIFY, no local decoding
        payload = _json(r[2]) if len(r) > 2 else None
        return RefreshResult(p.access_token, p.refresh_token, payload or unverified_payload(p.access_token) or {})

    return Command(a, route_for_token(refresh_token), parse)


_UNSET: Any = object()


def update(
    token: str,
    *,
    data: Any = _UNSET,
    merge: Optional[Dict[str, Any]] = None,
    claims: Optional[Dict[str, Any]] = None,
    supersede: bool = False,
) -> Command[Optional[UpdateResult]]:
    """JWT.UPDATE: ``data`` replaces DATA (``None`` sets JSON null), ``merge`` merges
    top-level fields into it (a field set to None is removed), ``claims`` replaces the
    public claims, ``supersede`` refuses the session's older access tokens at once."""
    a = ["JWT.UPDATE", token]
    if data is not _UNSET:
        a += ["DATA", json.dumps(data, separators=(",", ":"))]
    if merge is not None:
        a += ["MERGE", json.dumps(merge, separators=(",", ":"))]
    if claims is not None:
        a += ["CLAIMS", json.dumps(claims, separators=(",", ":"))]
    if supersede:
        a.append("SUPERSEDE")

    def parse(r: Any) -> Optional[UpdateResult]:
        if isinstance(r, int):
            return None
        t = _s(r)
        # issued by the server in reply to this call: no second VERIFY needed
        return UpdateResult(t, unverified_payload(t) or {})

    return Command(a, route_for_token(token), parse)


def sessions(sub: str, *, with_data: bool = False) -> Command[List[Session]]:
    a = ["JWT.SESSIONS", sub] + (["WITHDATA"] if with_data else [])

    def parse(r: Any) -> List[Session]:
        now = int(time.time() * 1000)
        return [parse_session(s, now) for s in _list(r)]

    return Command(a, route_for_subject(sub), parse)


def count(sub: str) -> Command[int]:
    return Command(["JWT.COUNT", sub], route_for_subject(sub), _int)


def revoke(sub: str, *, sids: Optional[Sequence[str]] = None, except_sid: Optional[str] = None) -> Command[int]:
    a = ["JWT.REVOKE", sub]
    if sids is not None:
        a += ["SID", *sids]
    if except_sid is not None:
        a += ["EXCEPT", except_sid]
    return Command(a, route_for_subject(sub), _int)


def jwks() -> Command[Dict[str, Any]]:
    return Command(["JWT.JWKS"], None, _json)


def key_list() -> Command[List[KeyInfo]]:
    return Command(["JWT.KEY", "LIST"], None, lambda r: [parse_key(k) for k in _list(r)])


def key_generate(alg: str, kid: Optional[str] = None) -> Command[str]:
    return Command(["JWT.KEY", "GENERATE", alg] + (["KID", kid] if kid else []), None, _s)


def key_import(kid: str, alg: str, material: str, *, legacy: bool = False) -> Command[str]:
    """JWT.KEY IMPORT; ``legacy=True`` adds LEGACY (HS* only): a verify-only key that
    verifies tokens without a ``kid`` (and those whose kid names it) as stateless tokens,
    may be shorter than the hash output, and never signs."""
    a = ["JWT.KEY", "IMPORT", kid, alg, material] + (["LEGACY"] if legacy else [])

    def parse(r: Any) -> str:
        # the reply is OK (docs/commands.md): the kid is the one given
        s = _opt_s(r)
        return kid if s is None or s == "OK" else s

    return Command(a, None, parse)


def key_activate(kid: str) -> Command[None]:
    return Command(["JWT.KEY", "ACTIVATE", kid], None, lambda r: None)


def key_rotate(alg: Optional[str] = None) -> Command[str]:
    return Command(["JWT.KEY", "ROTATE"] + ([alg] if alg else []), None, _s)


def key_retire(kid: str) -> Command[None]:
    return Command(["JWT.KEY", "RETIRE", kid], None, lambda r: None)


def key_export(kid: str) -> Command[ExportedKey]:
    def parse(r: Any) -> ExportedKey:
        a = _list(r)
        return ExportedKey(_s(a[0]), _s(a[1]), _s(a[2]))

    return Command(["JWT.KEY", "EXPORT", kid], None, parse)


def key_revoke(kid: str) -> Command[Optional[str]]:
    """JWT.KEY REVOKE: the active kid after the revocation, None when the keyring has no
    active key (e.g. a LEGACY key revoked on a keyring that never had a signing key)."""
    return Command(["JWT.KEY", "REVOKE", kid], None, _opt_s)


def key_cutoff() -> Command[int]:
    return Command(["JWT.KEY", "CUTOFF"], None, _int)

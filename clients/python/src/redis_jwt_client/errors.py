"""One exception class per reply code of the module.

Every error reply of a JWT.* command is raised as a :class:`JwtError` subclass. They
derive from ``redis.exceptions.ResponseError``, so existing ``except ResponseError``
blocks keep working. redis-py strips a leading ``ERR `` and raises its own
``NoPermissionError`` for NOPERM, ``ReadOnlyError`` for READONLY and
``MovedError``/``TryAgainError`` in clusters: all of them are mapped here.
"""
from __future__ import annotations

import re
from typing import Dict, Optional, Type

from redis import exceptions as rex

__all__ = [
    "JwtError",
    "InvalidToken",
    "ExpiredToken",
    "TokenNotYetValid",
    "RevokedSession",
    "RefreshReused",
    "SessionLimit",
    "NoPermission",
    "WrongType",
    "ReadOnlyError",
    "ClusterRedirect",
    "CommandError",
    "to_jwt_error",
]


class JwtError(rex.ResponseError):
    """A JWT.* command failed; ``code`` is the module's code word."""

    code: str = "ERR"

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message


class InvalidToken(JwtError):
    """INVALID: malformed token, bad signature, unknown kid, wrong iss/aud or token type."""

    code = "INVALID"


class ExpiredToken(JwtError):
    """EXPIRED: the token's ``exp`` has passed."""

    code = "EXPIRED"


class TokenNotYetValid(JwtError):
    """NOTBEFORE: the token's ``nbf`` is in the future."""

    code = "NOTBEFORE"


class RevokedSession(JwtError):
    """REVOKED: the session is gone (destroyed, revoked, evicted or expired)."""

    code = "REVOKED"


class RefreshReused(JwtError):
    """REUSED: a rotated-away refresh token was presented; the session was revoked."""

    code = "REUSED"


class SessionLimit(JwtError):
    """LIMIT: jwt.max-sessions reached with policy ``deny``."""

    code = "LIMIT"


class NoPermission(JwtError):
    """NOPERM: the ACL user may not access the subject's keys or run the command."""

    code = "NOPERM"


class WrongType(JwtError):
    """WRONGTYPE: a foreign-typed key sits where the module keeps a session."""

    code = "WRONGTYPE"


class ReadOnlyError(JwtError, rex.ReadOnlyError):
    """READONLY: a write reached a replica, e.g. a keyring change (``key_generate``,
    ``key_import``, ``key_revoke``, ...) sent to a replica, which never changes the keyring.

    Also a ``redis.exceptions.ReadOnlyError`` (the class redis-py raises for READONLY), so
    ``except redis.exceptions.ReadOnlyError`` catches it too. In a cluster the client
    retries READONLY (a failover) first; this is what is left when the retries run out."""

    code = "READONLY"


class ClusterRedirect(JwtError):
    """MOVED / ASK / TRYAGAIN / CLUSTERDOWN that could not be followed."""

    code = "MOVED"


class CommandError(JwtError):
    """ERR (or an unknown code): syntax or argument error."""

    code = "ERR"


_BY_CODE: Dict[str, Type[JwtError]] = {
    "INVALID": InvalidToken,
    "EXPIRED": ExpiredToken,
    "NOTBEFORE": TokenNotYetValid,
    "REVOKED": RevokedSession,
    "REUSED": RefreshReused,
    "LIMIT": SessionLimit,
    "NOPERM": NoPermission,
    "WRONGTYPE": WrongType,
    "READONLY": ReadOnlyError,
    "MOVED": ClusterRedirect,
    "ASK": ClusterRedirect,
    "TRYAGAIN": ClusterRedirect,
    "CLUSTERDOWN": ClusterRedirect,
    "ERR": CommandError,
}

_CODE = re.compile(r"^([A-Z][A-Z_-]*)(?:\s+|$)(.*)$", re.S)

_REDIS_PY_CLASSES = [
    ("NoPermissionError", "NOPERM"),
    ("ReadOnlyError", "READONLY"),
    ("MovedError", "MOVED"),
    ("AskError", "ASK"),
    ("TryAgainError", "TRYAGAIN"),
    ("ClusterDownError", "CLUSTERDOWN"),
]


def to_jwt_error(e: BaseException) -> BaseException:
    """The JwtError for a redis-py reply error; other exceptions are returned unchanged."""
    if isinstance(e, JwtError) or not isinstance(e, rex.ResponseError):
        return e
    msg = str(e.args[0]) if e.args else str(e)
    for cls_name, code in _REDIS_PY_CLASSES:
        cls = getattr(rex, cls_name, None)
        if cls is not None and isinstance(e, cls):
            m = _CODE.match(msg)
            text = m.group(2) if m and m.group(1) == code and m.group(2) else msg
            return _BY_CODE[code](text, code)
    m = _CODE.match(msg)
    if m and m.group(1) in _BY_CODE:
        code = m.group(1)
        return _BY_CODE[code](m.group(2) or msg, code)
    # redis-py strips "ERR "; anything without a known code word is an ERR.
    return CommandError(msg, "ERR")

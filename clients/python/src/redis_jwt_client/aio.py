"""The asyncio client, for ``redis.asyncio.Redis`` and ``redis.asyncio.cluster.RedisCluster``.

Generated from client.py by the same method list; keep the two in step."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Literal, Optional, Sequence, TypeVar, overload

from redis import exceptions as rex

from . import _core as c
from ._core import Claims, Decoded, Duration, ExportedKey, KeyInfo, RefreshResult, Session, TokenPair, UpdateResult, Verified
from .client import _RETRY_DELAYS, _is_redirect
from .errors import to_jwt_error

T = TypeVar("T")


class AsyncRedisJwt:
    """The redis-jwt commands as methods over a redis-py client.

    ``AsyncRedisJwt(redis.asyncio.Redis(...))`` or ``AsyncRedisJwt(redis.asyncio.cluster.RedisCluster(...))``: in a
    cluster, subject commands go to the node serving ``{sub}`` and token commands to the
    node serving the token's (unverified) subject; JWKS and JWT.KEY to any primary.
    Errors are :class:`~redis_jwt_client.errors.JwtError` subclasses.
    """

    def __init__(self, redis: Any) -> None:
        from redis.asyncio.cluster import RedisCluster

        self.redis = redis
        self.cluster = isinstance(redis, RedisCluster)

    # ------------------------------------------------------------------ transport

    async def execute(self, cmd: "c.Command[T]") -> T:
        """Runs one Command (see ``_core``): send, map errors, parse."""
        try:
            reply = await self._send(cmd)
        except rex.ResponseError as e:
            raise to_jwt_error(e) from e
        return cmd.parse(reply)

    async def _send(self, cmd: "c.Command[Any]") -> Any:
        r = self.redis
        if not self.cluster:
            return await r.execute_command(*cmd.args)
        for delay in (*_RETRY_DELAYS, None):
            node = r.get_node_from_key(cmd.route) if cmd.route else r.get_default_node()
            try:
                return await r.execute_command(*cmd.args, target_nodes=node)
            except (rex.ResponseError, rex.RedisClusterException) as e:
                if delay is None or not _is_redirect(e):
                    raise
                # stale slot map or a failover under way: wait a little, reload, route again
                if delay:
                    await asyncio.sleep(delay)
                await r.nodes_manager.initialize()
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ session lifecycle

    @overload
    async def sign(self, sub: str, *, refresh: Literal[True], claims: Optional[Dict[str, Any]] = ..., data: Any = ..., ttl: Optional[Duration] = ..., expires: Optional[Duration] = ..., meta: Any = ..., max_age: Optional[Duration] = ..., sid: Optional[str] = ..., aud: Optional[str] = ..., iss: Optional[str] = ..., limit: Optional[int] = ..., key: Optional[str] = ...) -> TokenPair: ...
    @overload
    async def sign(self, sub: str, *, refresh: Literal[False] = ..., claims: Optional[Dict[str, Any]] = ..., data: Any = ..., ttl: Optional[Duration] = ..., expires: Optional[Duration] = ..., meta: Any = ..., max_age: Optional[Duration] = ..., sid: Optional[str] = ..., aud: Optional[str] = ..., iss: Optional[str] = ..., limit: Optional[int] = ..., key: Optional[str] = ...) -> str: ...
    async def sign(self, sub: str, **options: Any) -> Any:
        """JWT.SIGN: the access token, or a TokenPair with ``refresh=True``."""
        return await self.execute(c.sign(sub, **options))

    async def sign_stateless(self, sub: str, *, expires: Optional[Duration] = None, claims: Optional[Dict[str, Any]] = None, key: Optional[str] = None, aud: Optional[str] = None, iss: Optional[str] = None) -> str:
        """JWT.SIGN ... STATELESS: a token with no session."""
        return await self.execute(c.sign_stateless(sub, expires=expires, claims=claims, key=key, aud=aud, iss=iss))

    @overload
    async def verify(self, token: str, *, with_data: Literal[True], aud: Optional[str] = ..., iss: Optional[str] = ...) -> Verified: ...
    @overload
    async def verify(self, token: str, *, with_data: Literal[False] = ..., aud: Optional[str] = ..., iss: Optional[str] = ...) -> Claims: ...
    async def verify(self, token: str, *, with_data: bool = False, aud: Optional[str] = None, iss: Optional[str] = None) -> Any:
        """JWT.VERIFY: the claims; with ``with_data=True`` a Verified(claims, data)."""
        return await self.execute(c.verify(token, with_data=with_data, aud=aud, iss=iss))

    async def decode(self, token: str) -> Decoded:
        """JWT.DECODE: header and payload, NOT verified."""
        return await self.execute(c.decode(token))

    async def touch(self, token: str, *, ttl: Optional[Duration] = None) -> Claims:
        """JWT.TOUCH: verify and slide the session's idle expiry."""
        return await self.execute(c.touch(token, ttl=ttl))

    async def destroy(self, token: str) -> bool:
        """JWT.DESTROY (access or refresh token): True when a session ended."""
        return await self.execute(c.destroy(token))

    async def refresh(self, refresh_token: str, *, expires: Optional[Duration] = None) -> RefreshResult:
        """JWT.REFRESH: rotation; the new pair and the new access token's claims."""
        return await self.execute(c.refresh(refresh_token, expires=expires))

    async def update(self, token: str, *, data: Any = c._UNSET, merge: Optional[Dict[str, Any]] = None, claims: Optional[Dict[str, Any]] = None, supersede: bool = False) -> Optional[UpdateResult]:
        """JWT.UPDATE (access or current refresh token): changes the session in place; with
        ``claims`` or ``supersede`` an UpdateResult(access_token, claims), else None."""
        return await self.execute(c.update(token, data=data, merge=merge, claims=claims, supersede=supersede))

    # ------------------------------------------------------------------ per-user

    async def sessions(self, sub: str, *, with_data: bool = False) -> List[Session]:
        """JWT.SESSIONS: the live sessions, oldest first."""
        return await self.execute(c.sessions(sub, with_data=with_data))

    async def session(self, sub: str, sid: str, *, with_data: bool = False) -> Optional[Session]:
        """One session of the subject, None when gone."""
        return next((s for s in await self.sessions(sub, with_data=with_data) if s.sid == sid), None)

    async def count(self, sub: str) -> int:
        """JWT.COUNT."""
        return await self.execute(c.count(sub))

    async def revoke(self, sub: str, *, sids: Optional[Sequence[str]] = None, except_sid: Optional[str] = None) -> int:
        """JWT.REVOKE: all sessions, the listed ``sids``, or all but ``except_sid``."""
        if sids is not None and not sids:
            return 0
        return await self.execute(c.revoke(sub, sids=sids, except_sid=except_sid))

    # ------------------------------------------------------------------ keys

    async def jwks(self) -> Dict[str, Any]:
        """JWT.JWKS: the public keys as a JSON Web Key Set."""
        return await self.execute(c.jwks())

    async def key_list(self) -> List[KeyInfo]:
        return await self.execute(c.key_list())

    async def key_generate(self, alg: str, *, kid: Optional[str] = None) -> str:
        return await self.execute(c.key_generate(alg, kid))

    async def key_import(self, kid: str, alg: str, material: str, *, legacy: bool = False) -> str:
        """JWT.KEY IMPORT: a secret (HS*) or PEM private key; ``legacy=True``: a verify-only
        HS* key for tokens without a kid (JWT.KEY IMPORT ... LEGACY). The kid."""
        return await self.execute(c.key_import(kid, alg, material, legacy=legacy))

    async def key_activate(self, kid: str) -> None:
        return await self.execute(c.key_activate(kid))

    async def key_rotate(self, alg: Optional[str] = None) -> str:
        return await self.execute(c.key_rotate(alg))

    async def key_retire(self, kid: str) -> None:
        return await self.execute(c.key_retire(kid))

    async def key_revoke(self, kid: str) -> Optional[str]:
        """Breach response: the key is gone at once (its tokens answer INVALID); the active kid
        after the revocation, None when the keyring has no active key."""
        return await self.execute(c.key_revoke(kid))

    async def key_cutoff(self) -> int:
        """Ends every session of every user created before now; the cutoff (ms)."""
        return await self.execute(c.key_cutoff())

    async def key_export(self, kid: str) -> ExportedKey:
        return await self.execute(c.key_export(kid))

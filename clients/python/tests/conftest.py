"""Connections to the servers clients/test.sh started (REDIS_JWT_STANDALONE, REDIS_JWT_CLUSTER)."""
from __future__ import annotations

import asyncio
import inspect
import os
import secrets
from typing import Any, Awaitable, Callable, Optional, Tuple

import pytest


def _addr(s: str) -> Tuple[str, int]:
    host, port = s.rsplit(":", 1)
    return host, int(port)


def _env(name: str) -> str:
    v = os.environ.get(name)
    if not v:
        pytest.fail(f"{name} is not set: run the tests through clients/test.sh")
    return v


def standalone() -> Tuple[str, int]:
    return _addr(_env("REDIS_JWT_STANDALONE"))


def no_signing_key() -> Tuple[str, int]:
    """The server clients/test.sh started for a keyring that never gets a signing key
    (nothing may sign there): LEGACY imports and their revocation only."""
    return _addr(_env("REDIS_JWT_NO_SIGNING_KEY"))


def cluster_nodes():
    return [_addr(a) for a in _env("REDIS_JWT_CLUSTER").split(",")]


def cluster_replicas():
    """Replicas of some of the cluster's primaries, for the failover test (the second is
    this suite's; the node suite fails over the first)."""
    return [_addr(a) for a in _env("REDIS_JWT_CLUSTER_REPLICAS").split(",")]


KINDS = ["sync", "sync-cluster", "asyncio", "asyncio-cluster"]


async def connect(kind: str, server: Optional[Tuple[str, int]] = None, **auth: Any):
    """(RedisJwt or AsyncRedisJwt, close) for one kind of redis-py client; the standalone
    kinds connect to ``server`` (host, port), by default the standalone server."""
    import redis
    import redis.asyncio
    from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
    from redis.cluster import ClusterNode, RedisCluster

    from redis_jwt_client import AsyncRedisJwt, RedisJwt

    if kind == "sync":
        host, port = server or standalone()
        r = redis.Redis(host=host, port=port, **auth)
        return RedisJwt(r), r.close
    if kind == "sync-cluster":
        r = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in cluster_nodes()])
        return RedisJwt(r), r.close
    if kind == "asyncio":
        host, port = server or standalone()
        r = redis.asyncio.Redis(host=host, port=port, decode_responses=True, **auth)
        return AsyncRedisJwt(r), r.aclose
    if kind == "asyncio-cluster":
        r = AsyncRedisCluster(startup_nodes=[AsyncClusterNode(h, p) for h, p in cluster_nodes()], decode_responses=True)
        await r.initialize()
        return AsyncRedisJwt(r), r.aclose
    raise ValueError(kind)


async def A(x: Any) -> Any:
    """Awaits x when the async client returned an awaitable: one test body for both clients."""
    return await x if inspect.isawaitable(x) else x


def run(kind: str, body: Callable[[Any], Awaitable[None]], server: Optional[Tuple[str, int]] = None, **auth: Any) -> None:
    async def main() -> None:
        jwt, close = await connect(kind, server, **auth)
        try:
            await body(jwt)
        finally:
            await A(close())

    asyncio.run(main())


def uniq(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@pytest.fixture(params=KINDS)
def kind(request: Any) -> str:
    return request.param

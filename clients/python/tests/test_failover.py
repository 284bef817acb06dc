"""A failover under clients whose slot maps are stale.

After CLUSTER FAILOVER the old primary is a replica; a client that still routes the user's
slot to it gets READONLY for the write token commands (TOUCH, UPDATE, REFRESH, DESTROY:
Redis answers before the module runs, they name no key), and must reload its slot map and
retry on the new primary. clients/test.sh gives a primary a replica for this
(REDIS_JWT_CLUSTER_REPLICAS, the second entry; the node suite fails over the first). The
test fails back at the end, and checks the clients again in that direction.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
import redis
from redis.crc import key_slot

import redis_jwt_client as rj
from conftest import A, cluster_nodes, cluster_replicas, connect, uniq

Addr = Tuple[str, int]
KINDS = ["sync-cluster", "asyncio-cluster"]


def name(a: Addr) -> str:
    return f"{a[0]}:{int(a[1])}"


class Nodes:
    """Plain connections to every node of the cluster: CLUSTER FAILOVER, ROLE, CLUSTER NODES."""

    def __init__(self, addrs: List[Addr]) -> None:
        self.addrs = addrs
        self.conns = {name(a): redis.Redis(host=a[0], port=a[1], decode_responses=True) for a in addrs}

    def call(self, a: Addr, *args: Any) -> Any:
        return self.conns[name(a)].execute_command(*args)

    def close(self) -> None:
        for c in self.conns.values():
            c.close()

    def settled(self, primary: Addr, replica: Addr) -> bool:
        """`primary` is a master, `replica` its replica in sync, and every node sees them so."""
        pid = self.call(primary, "CLUSTER", "MYID")
        rid = self.call(replica, "CLUSTER", "MYID")
        if self.call(primary, "ROLE")[0] != "master":
            return False
        role = self.call(replica, "ROLE")  # ['slave', host, port, state, offset]
        if role[0] != "slave" or role[3] != "connected" or name((role[1], role[2])) != name(primary):
            return False
        for a in self.addrs:
            lines = {f[0]: f for f in (l.split(" ") for l in self.call(a, "CLUSTER", "NODES").splitlines())}
            p, r = lines.get(pid), lines.get(rid)
            if not p or "master" not in p[2].split(",") or "fail" in p[2]:
                return False
            if not r or "slave" not in r[2].split(",") or "fail" in r[2] or r[3] != pid:
                return False
        return True

    def wait_settled(self, primary: Addr, replica: Addr, what: str, on_poll: Optional[Callable[[int], None]] = None) -> None:
        deadline = time.monotonic() + 60
        poll = 0
        while not self.settled(primary, replica):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            poll += 1
            if on_poll:
                on_poll(poll)
            time.sleep(0.05)

    def promote(self, replica: Addr, primary: Addr) -> None:
        """CLUSTER FAILOVER on `replica`; returns when every node has seen the switch."""
        self.wait_settled(primary, replica, f"{name(replica)} to be a replica of {name(primary)} in sync")
        self.call(replica, "CLUSTER", "FAILOVER")

        def again(poll: int) -> None:
            # Redis gives up a manual failover that could not start within 5 s: ask again.
            if poll % 200 == 0:
                try:
                    self.call(replica, "CLUSTER", "FAILOVER")
                except redis.ResponseError:
                    pass

        self.wait_settled(replica, primary, f"{name(replica)} to take over from {name(primary)}", again)

    def ranges(self, node: Addr) -> List[Tuple[int, int]]:
        return [(r[0], r[1]) for r in self.call(node, "CLUSTER", "SLOTS") if name((r[2][0], r[2][1])) == name(node)]


async def sign_on(nodes: Nodes, node: Addr, jwt: Any) -> Tuple[str, rj.TokenPair]:
    """A subject whose slot `node` serves, with a session (access and refresh token)."""
    ranges = nodes.ranges(node)
    assert ranges, f"{name(node)} serves no slot"
    while True:
        sub = uniq("fo")
        slot = key_slot(("{" + sub + "}").encode())
        if any(lo <= slot <= hi for lo, hi in ranges):
            break
    pair = await A(jwt.sign(sub, refresh=True, data={"step": 1}))
    assert (await A(jwt.verify(pair.access_token)))["sub"] == sub
    return sub, pair


async def exercise(jwt: Any, sub: str, pair: rj.TokenPair) -> None:
    """Every write token command on a session signed before the switch, then the logout."""
    assert (await A(jwt.touch(pair.access_token, ttl="1h")))["sub"] == sub
    assert await A(jwt.update(pair.access_token, merge={"step": 2})) is None
    r = await A(jwt.refresh(pair.refresh_token))
    assert r.claims["sub"] == sub
    assert (await A(jwt.verify(r.access_token, with_data=True))).data == {"step": 2}
    assert await A(jwt.destroy(r.refresh_token)) is True
    with pytest.raises(rj.RevokedSession):
        await A(jwt.verify(r.access_token))


def test_cluster_failover_readonly_is_retried():
    replica = cluster_replicas()[1]
    nodes = Nodes(cluster_nodes() + cluster_replicas())
    role = nodes.call(replica, "ROLE")
    assert role[0] == "slave", f"{name(replica)} should be a replica"
    primary: Addr = (role[1], int(role[2]))

    async def switch_and_exercise(jwts: Dict[str, Any], old: Addr, new: Addr) -> None:
        sessions = {kind: await sign_on(nodes, old, jwt) for kind, jwt in jwts.items()}
        nodes.promote(new, old)
        for kind, jwt in jwts.items():
            sub, pair = sessions[kind]
            stale = jwt.redis.get_node_from_key("{" + sub + "}").name
            assert stale == name(old), f"{kind}: the slot map should still name the demoted primary"
            try:
                await exercise(jwt, sub, pair)
            except Exception as e:
                raise AssertionError(f"{kind}: {type(e).__name__}: {e}") from e

    async def main() -> None:
        jwts: Dict[str, Any] = {}
        closers = []
        try:
            for kind in KINDS:
                jwt, close = await connect(kind)
                jwts[kind] = jwt
                closers.append(close)
            await switch_and_exercise(jwts, primary, replica)  # CLUSTER FAILOVER on the replica
            await switch_and_exercise(jwts, replica, primary)  # and back
        finally:
            for close in closers:
                await A(close())

    try:
        asyncio.run(main())
    finally:
        try:
            # fail back if the test stopped half way
            if nodes.call(primary, "ROLE")[0] != "master":
                nodes.promote(primary, replica)
        finally:
            nodes.close()

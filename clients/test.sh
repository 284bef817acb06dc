#!/usr/bin/env bash
# Tests of the client packages and the examples against real servers:
# one standalone redis-server and a 3-primary Redis Cluster (two of its primaries with a
# replica, for the failover tests), all loading the module; plus a standalone server on
# which nothing ever signs, whose keyring never gets a signing key (JWT.KEY REVOKE's nil).
#
#   bash clients/test.sh            (from the repository root, after the module is built)
#
# Env: REDIS_SERVER (server binary, default redis-server), REDIS_CLI (default: the
# valkey-cli/redis-cli next to the server, else redis-cli), REDIS_JWT_MODULE (the .so).
# Node deps go to clients/node/node_modules and examples/express/node_modules, Python deps
# to the venv target/clients-venv (CLIENTS_VENV overrides). Exits non-zero on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SERVER=${REDIS_SERVER:-redis-server}
SERVER_PATH=$(command -v "$SERVER" || true)
[ -n "$SERVER_PATH" ] || { echo "clients/test.sh: server binary '$SERVER' not found" >&2; exit 1; }
if [ -z "${REDIS_CLI:-}" ]; then
  for c in "$(dirname "$SERVER_PATH")/valkey-cli" "$(dirname "$SERVER_PATH")/redis-cli" "$(command -v redis-cli || true)" "$(command -v valkey-cli || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then REDIS_CLI=$c; break; fi
  done
fi
[ -n "${REDIS_CLI:-}" ] || { echo "clients/test.sh: no redis-cli/valkey-cli found" >&2; exit 1; }
MODULE=${REDIS_JWT_MODULE:-$ROOT/target/release/libredis_jwt.so}
[ -f "$MODULE" ] || { echo "clients/test.sh: module $MODULE not built (make build)" >&2; exit 1; }
VENV=${CLIENTS_VENV:-$ROOT/target/clients-venv}
command -v node >/dev/null && command -v npm >/dev/null || { echo "clients/test.sh: node and npm are required" >&2; exit 1; }
command -v python3 >/dev/null || { echo "clients/test.sh: python3 is required" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/redis-jwt-clients.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Eight free ports below 55535 whose cluster-bus port (+10000) is free too.
read -r P0 P1 P2 P3 P4 P5 P6 P7 < <(python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
ports = []
while len(ports) < 8:
    p = random.randint(20000, 45000)
    if p not in ports and free(p) and free(p + 10000):
        ports.append(p)
print(*ports)
PY
)

start_server() { # port, module args ("" for none), extra server args...
  local port=$1 margs=$2; shift 2
  mkdir -p "$TMP/$port"
  # shellcheck disable=SC2086
  "$SERVER_PATH" --port "$port" --bind 127.0.0.1 --dir "$TMP/$port" --loadmodule "$MODULE" $margs \
    --save '' --appendonly no --logfile "$TMP/$port/log" "$@" &
  PIDS+=($!)
}
wait_ping() {
  local port=$1 i
  for i in $(seq 100); do
    [ "$("$REDIS_CLI" -p "$port" PING 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  echo "server on port $port did not start:" >&2; cat "$TMP/$port/log" >&2; return 1
}

start_server "$P0" ""
# the examples' server: a refresh-token replay is told from a racing tab after 1 s, not 10
start_server "$P4" "refresh-grace 1"
# a keyring without a signing key: the tests only import LEGACY keys there and revoke them
start_server "$P7" ""
for p in "$P1" "$P2" "$P3" "$P5" "$P6"; do
  start_server "$p" "" --cluster-enabled yes --cluster-config-file "$TMP/$p/nodes.conf"
done
for p in "$P0" "$P1" "$P2" "$P3" "$P4" "$P5" "$P6" "$P7"; do wait_ping "$p"; done
"$REDIS_CLI" --cluster create "127.0.0.1:$P1" "127.0.0.1:$P2" "127.0.0.1:$P3" \
  --cluster-replicas 0 --cluster-yes >"$TMP/cluster-create.log" 2>&1 \
  || { cat "$TMP/cluster-create.log" >&2; exit 1; }
for i in $(seq 200); do
  ok=1
  for p in "$P1" "$P2" "$P3"; do
    "$REDIS_CLI" -p "$p" CLUSTER INFO | grep -q 'cluster_state:ok' || ok=0
  done
  [ "$ok" = 1 ] && break
  sleep 0.1
done
[ "$ok" = 1 ] || { echo "cluster did not reach cluster_state:ok" >&2; exit 1; }
# A replica for P1 (P5) and one for P2 (P6). The node suite's failover test promotes P5 and
# fails back, the Python suite's P6: two different pairs, because within a few
# cluster-node-timeouts (15 s by default) Redis lets neither a node run a second election
# nor the other primaries vote twice about one primary.
for pair in "$P5 $P1" "$P6 $P2"; do
  read -r r p <<<"$pair"
  primary_id=$("$REDIS_CLI" -p "$p" CLUSTER MYID)
  "$REDIS_CLI" -p "$r" CLUSTER MEET 127.0.0.1 "$p" >/dev/null
  for i in $(seq 200); do
    "$REDIS_CLI" -p "$r" CLUSTER NODES | grep -q "^$primary_id " && break
    sleep 0.1
  done
  "$REDIS_CLI" -p "$r" CLUSTER REPLICATE "$primary_id" | grep -q OK \
    || { echo "node $r could not become a replica of $p" >&2; exit 1; }
done
# until the replicas are in sync and every node knows them as such
for i in $(seq 600); do
  ok=1
  for r in "$P5" "$P6"; do
    "$REDIS_CLI" -p "$r" INFO replication | grep -q 'master_link_status:up' || ok=0
  done
  for n in "$P1" "$P2" "$P3" "$P5" "$P6"; do
    nodes=$("$REDIS_CLI" -p "$n" CLUSTER NODES)
    [ "$(awk '$3 ~ /slave/' <<<"$nodes" | wc -l)" = 2 ] || ok=0
    [ "$(awk '$3 ~ /master/' <<<"$nodes" | wc -l)" = 3 ] || ok=0
    grep -q 'cluster_state:ok' <<<"$("$REDIS_CLI" -p "$n" CLUSTER INFO)" || ok=0
  done
  [ "$ok" = 1 ] && break
  sleep 0.1
done
[ "$ok" = 1 ] || { echo "the cluster's replicas did not come up" >&2; "$REDIS_CLI" -p "$P1" CLUSTER NODES >&2; exit 1; }
export REDIS_JWT_STANDALONE="127.0.0.1:$P0"
export REDIS_JWT_CLUSTER="127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3"
# the failover tests' replicas: the node suite's first, the Python suite's second
export REDIS_JWT_CLUSTER_REPLICAS="127.0.0.1:$P5,127.0.0.1:$P6"
export REDIS_JWT_EXAMPLES="127.0.0.1:$P4"
# nothing may sign there (JWT.SIGN would create the keyring's first, active key)
export REDIS_JWT_NO_SIGNING_KEY="127.0.0.1:$P7"
echo "servers: standalone $REDIS_JWT_STANDALONE, no signing key $REDIS_JWT_NO_SIGNING_KEY, cluster $REDIS_JWT_CLUSTER, replicas $REDIS_JWT_CLUSTER_REPLICAS ($("$SERVER_PATH" --version | head -c 60))"

SUMMARY=()
FAILED=0
suite() { # name, command...
  local name=$1; shift
  local t0=$SECONDS
  echo "=== $name"
  if "$@"; then
    SUMMARY+=("PASS  $name ($((SECONDS - t0))s)")
  else
    SUMMARY+=("FAIL  $name ($((SECONDS - t0))s)")
    FAILED=1
  fi
}

npm_install() { # dir
  (cd "$1" && npm install --no-audit --no-fund --loglevel=error)
}

# --- installs (a failure here is a failure of the run, never a skip)
t0=$SECONDS
npm_install clients/node
npm_install examples/express
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || { echo "clients/test.sh: cannot create a venv at $VENV (install python3-venv)" >&2; exit 1; }
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "./clients/python[fastapi,test]"
# the package itself is always reinstalled from the working tree
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./clients/python
echo "installs: $((SECONDS - t0))s"

# one test file at a time: failover.test.js switches a primary, which the cluster tests of
# commands.test.js should not run into
suite "node client (node-redis v4, v5, ioredis; standalone, cluster, failover)" \
  bash -c 'cd clients/node && npx tsc -p test && echo "type declarations: ok" && node --test --test-concurrency=1 --test-reporter=spec test/*.test.js'
suite "python client (redis-py sync and asyncio; standalone, cluster, failover)" \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider clients/python/tests
suite "example: express (end to end over HTTP)" \
  bash -c 'cd examples/express && node --test --test-reporter=spec test/*.test.js'
suite "example: fastapi (end to end over HTTP)" \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider examples/fastapi

echo
echo "=== summary (clients/test.sh, $SECONDS s)"
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"

#!/usr/bin/env bash
# redis-jwt against the npm library it replaces, on one redis-server with the module.
# Usage: bash bench/npm/run.sh   (make bench-npm builds the module first)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
PORT=${BENCH_PORT:-6392}
DIR=$(mktemp -d)
trap 'redis-cli -p $PORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
[ -d node_modules ] || npm install --no-audit --no-fund --silent
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save "" --appendonly no \
    --loadmodule "$ROOT/target/release/libredis_jwt.so" >"$DIR/log" 2>&1 &
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
BENCH_PORT=$PORT node compare.js

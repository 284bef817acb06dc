#!/usr/bin/env bash
# Instructions per operation under callgrind, the whole server counted, for the JWT
# commands and the GET/SET baseline. Unlike ops/s on a shared 2-core machine (+-20% from
# run to run) these numbers repeat, so they show what a change did. Needs valgrind.
# Usage: bash bench/instructions.sh [requests]   (slow: about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
MODULE="$PWD/target/release/libredis_jwt.so"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind"; exit 1; }

per_op() { # per_op <port> <label> <redis-benchmark args...>
    local port=$1 label=$2; shift 2
    local out="$DIR/cg.$port"
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        redis-server --port "$port" --bind 127.0.0.1 --dir "$DIR" --save "" --appendonly no \
        --loadmodule "$MODULE" >/dev/null 2>&1 &
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
    local token; token=$(redis-cli -p "$port" JWT.SIGN bench TTL 1d)
    redis-cli -p "$port" JWT.VERIFY "$token" >/dev/null
    local args=("$@"); args=("${args[@]//TOKEN/$token}")
    redis-benchmark -p "$port" -c 10 -n "$N" -P 16 -r 100000 -q "${args[@]}" >/dev/null
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait
    local total; total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    echo $(( total / N ))
}

GET=$(per_op 6401 GET GET key:__rand_int__)
SET=$(per_op 6402 SET SET key:__rand_int__ xxx)
VERIFY=$(per_op 6403 VERIFY JWT.VERIFY TOKEN)
TOUCH=$(per_op 6404 TOUCH JWT.TOUCH TOKEN)
SIGN=$(per_op 6405 SIGN JWT.SIGN user:__rand_int__ TTL 1h)
row() { printf "%-12s %7d instructions/op  %-4s %6d  cost x%s\n" "$1" "$2" "$3" "$4" "$(awk -v a="$2" -v b="$4" 'BEGIN { printf "%.2f", a / b }')"; }
echo "instructions per operation (callgrind, $N requests, -P 16, whole server)"
row JWT.VERIFY "$VERIFY" GET "$GET"
row JWT.TOUCH "$TOUCH" GET "$GET"
row JWT.SIGN "$SIGN" SET "$SET"

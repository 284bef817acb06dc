#!/usr/bin/env bash
# Bytes of used_memory per session, with the method of bench/run.sh's memory section:
# FLUSHALL, used_memory before and after creating the sessions from one Lua script,
# divided by the number of sessions; a plain SET of the same key names for comparison.
# Four cases: 1 and 10 sessions per user, without and with DATA.
# Usage: bash scripts/session-memory.sh [sessions [redis-server args...]]   (needs target/release/libredis_jwt.so)
set -euo pipefail
cd "$(dirname "$0")/.."
M=${1:-20000}
PORT=${MEMORY_PORT:-6391}
SERVER=${REDIS_SERVER:-redis-server}
DIR=$(mktemp -d)
cp target/release/libredis_jwt.so "$DIR/module.so"
trap 'redis-cli -p $PORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
"$SERVER" --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save "" --appendonly no \
    --loadmodule "$DIR/module.so" "${@:2}" >"$DIR/log" 2>&1 &
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
# 96 bytes of JSON by default, as an application might keep a tenant, roles and a cart
# (DATA=... to try another; extra redis-server arguments after the count).
DATA=${DATA:-'{"tenant":"acme-corp","roles":["user","billing"],"cart":[1042,2210,3301],"locale":"en-GB","v":1}'}
mem() { redis-cli -p "$PORT" INFO memory | awk -F: '/^used_memory:/ { print $2 + 0 }'; }
mem_run() { # mem_run <users> <sessions per user> <SIGN|SIGNDATA|SET>
    redis-cli -p "$PORT" FLUSHALL >/dev/null
    sleep 0.2
    local before; before=$(mem)
    redis-cli -p "$PORT" EVAL "
        for u = 1, tonumber(ARGV[1]) do
            for s = 1, tonumber(ARGV[2]) do
                local sid = string.format('%036d', s)
                if ARGV[3] == 'SIGN' then
                    redis.call('JWT.SIGN', 'user' .. u, 'SID', sid, 'TTL', '1h')
                elseif ARGV[3] == 'SIGNDATA' then
                    redis.call('JWT.SIGN', 'user' .. u, 'SID', sid, 'TTL', '1h', 'DATA', ARGV[4])
                else
                    redis.call('SET', 'jwt:{user' .. u .. '}:' .. sid, '1')
                end
            end
        end" 0 "$1" "$2" "$3" "$DATA" >/dev/null
    echo $(( $(mem) - before ))
}
row() { # row <users> <sessions per user>
    local n=$(( $1 * $2 )) plain data set
    plain=$(mem_run "$1" "$2" SIGN)
    data=$(mem_run "$1" "$2" SIGNDATA)
    set=$(mem_run "$1" "$2" SET)
    printf "%2d session(s) per user: %5.0f bytes/session, %5.0f with DATA (%d bytes); plain SET of the key names %4.0f\n" \
        "$2" "$(awk -v a="$plain" -v n="$n" 'BEGIN{print a/n}')" "$(awk -v a="$data" -v n="$n" 'BEGIN{print a/n}')" \
        "${#DATA}" "$(awk -v a="$set" -v n="$n" 'BEGIN{print a/n}')"
}
echo "$("$SERVER" --version | cut -d' ' -f1-3), $M sessions per case, $(nproc) cores, $(uname -m)"
row "$M" 1
row $(( M / 10 )) 10

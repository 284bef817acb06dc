#!/usr/bin/env bash
# Throughput of the JWT commands against a GET/SET baseline measured in the same run,
# on one redis-server with the module loaded, printed as ratios against the spec's bars.
# Usage: bash bench/run.sh [requests]   (make bench builds the module first)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
PORT=${BENCH_PORT:-6390}
MODULE="$PWD/target/release/libredis_jwt.so"
DIR=$(mktemp -d)
trap 'redis-cli -p $PORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT

redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save "" --appendonly no \
    --loadmodule "$MODULE" >"$DIR/log" 2>&1 &
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

TOKEN=$(redis-cli -p "$PORT" JWT.SIGN bench-user TTL 1d)
redis-cli -p "$PORT" SET key:__rand_int__ xxx >/dev/null

rps() { # rps <pipeline> <args...>: requests per second of one redis-benchmark run
    local p=$1; shift
    redis-benchmark -p "$PORT" -c 50 -n "$N" -P "$p" -r 100000 --csv "$@" 2>/dev/null |
        tail -1 | cut -d, -f2 | tr -d '"'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { # row <name> <rps> <baseline-name> <baseline-rps> <bar>
    printf "%-26s %10.0f ops/s  %-12s %10.0f ops/s  ratio %s  (bar %s)\n" "$1" "$2" "$3" "$4" "$(ratio "$2" "$4")" "$5"
}

GET16=$(rps 16 GET key:__rand_int__)
SET16=$(rps 16 SET key:__rand_int__ xxx)
GET1=$(rps 1 GET key:__rand_int__)
VERIFY16=$(rps 16 JWT.VERIFY "$TOKEN")
VERIFY1=$(rps 1 JWT.VERIFY "$TOKEN")
TOUCH16=$(rps 16 JWT.TOUCH "$TOKEN")
SIGN16=$(rps 16 JWT.SIGN user:__rand_int__ TTL 1h)
SIGNR16=$(rps 16 JWT.SIGN user:__rand_int__ TTL 1h REFRESH)
SET1=$(rps 1 SET key:__rand_int__ xxx)
SIGN1=$(rps 1 JWT.SIGN user:__rand_int__ TTL 1h)

# Memory per session (no DATA) against a plain SET of the same key names, with one
# session per user (each also pays for its index key) and ten per user.
M=${BENCH_MEMORY_SESSIONS:-20000}
mem() { redis-cli -p "$PORT" INFO memory | awk -F: '/^used_memory:/ { print $2 + 0 }'; }
mem_run() { # mem_run <users> <sessions per user> <command: SIGN|SET>
    redis-cli -p "$PORT" FLUSHALL >/dev/null
    local before; before=$(mem)
    redis-cli -p "$PORT" EVAL "
        for u = 1, tonumber(ARGV[1]) do
            for s = 1, tonumber(ARGV[2]) do
                local sid = string.format('%036d', s)
                local key, index = 'jwt:{user' .. u .. '}:' .. sid, 'jwt:{user' .. u .. '}'
                if ARGV[3] == 'SIGN' then
                    redis.call('JWT.SIGN', 'user' .. u, 'SID', sid, 'TTL', '1h')
                elseif ARGV[3] == 'FLOOR' then
                    redis.call('HSET', key, 'c', '1')
                    redis.call('PEXPIRE', key, 3600000)
                    redis.call('ZADD', index, 1, sid)
                    redis.call('PEXPIRE', index, 3600000)
                else
                    redis.call('SET', key, '1')
                end
            end
        end" 0 "$1" "$2" "$3" >/dev/null
    echo $(( $(mem) - before ))
}
per_session() { # per_session <users> <sessions per user>
    local n=$(( $1 * $2 )) jwt set
    jwt=$(mem_run "$1" "$2" SIGN)
    set=$(mem_run "$1" "$2" SET)
    printf "memory, %-22s %6.0f bytes/session  SET %4.0f  above SET %4.0f  (bar <= 250)\n" \
        "$2 session(s) per user:" "$(awk -v a="$jwt" -v n="$n" 'BEGIN{print a/n}')" \
        "$(awk -v a="$set" -v n="$n" 'BEGIN{print a/n}')" "$(awk -v a="$jwt" -v b="$set" -v n="$n" 'BEGIN{print (a-b)/n}')"
}
per_session "$M" 1
per_session $(( M / 10 )) 10
# The floor of the spec's data model at one session per user, in plain Redis commands:
# a session hash of one field and an index zset of one member, both with a TTL. No
# encoding of the session record can go below it (compare it with the 250-byte bar).
floor=$(mem_run "$M" 1 FLOOR); set=$(mem_run "$M" 1 SET)
printf "memory, layout floor (1 field + index): above SET %4.0f  (plain HSET+ZADD+PEXPIRE)\n" \
    "$(awk -v a="$floor" -v b="$set" -v n="$M" 'BEGIN{print (a-b)/n}')"

echo "redis-jwt benchmark: $N requests, 50 clients, HS256, redis-benchmark (VERIFY and TOUCH of one repeated token) ($(redis-server --version | cut -d' ' -f3))"
row "JWT.VERIFY hit -P 16" "$VERIFY16" "GET -P 16" "$GET16" ">= 0.60"
row "JWT.VERIFY hit -P 1" "$VERIFY1" "GET -P 1" "$GET1" ">= 0.85"
row "JWT.TOUCH hit -P 16" "$TOUCH16" "GET -P 16" "$GET16" "-"
row "JWT.SIGN -P 16" "$SIGN16" "SET -P 16" "$SET16" ">= 0.30"
row "JWT.SIGN REFRESH -P 16" "$SIGNR16" "SET -P 16" "$SET16" "-"
row "JWT.SIGN -P 1" "$SIGN1" "SET -P 1" "$SET1" "-"

# The verify cache's miss path: 100,000 distinct live tokens of distinct users, every
# request a different one (what a server with many users mostly sees). redis-benchmark
# repeats one argument, so a small pipelined load generator of ours (std only) sends
# them, with the same 50 connections and pipeline depth, against a GET baseline over
# 100,000 distinct keys from the same generator in the same run.
LG_N=${BENCH_DISTINCT:-100000}
LG_SECONDS=${BENCH_SECONDS:-5}
cargo build --release --quiet --manifest-path bench/loadgen/Cargo.toml
LG=bench/loadgen/target/release/jwt-loadgen
TOKENS="$DIR/tokens"
redis-cli -p "$PORT" FLUSHALL >/dev/null
"$LG" "$PORT" setup-sessions "$LG_N" 1 1 1 >"$TOKENS"
"$LG" "$PORT" setup-get "$LG_N" 1 1 1
jwt_info() { redis-cli -p "$PORT" INFO jwt | awk -F: -v f="jwt_$1" '$1 == f { print $2 + 0 }'; }
hit_rate() { # hit_rate <hits before> <misses before>
    local h m; h=$(( $(jwt_info verify_cache_hits) - $1 )); m=$(( $(jwt_info verify_cache_misses) - $2 ))
    awk -v h="$h" -v m="$m" 'BEGIN { if (h + m == 0) print "-"; else printf "%.0f%%", 100 * h / (h + m) }'
}
lg_run() { # lg_run <mode> <pipeline>: ops/s, and the verify cache hit rate of the run
    local h m ops; h=$(jwt_info verify_cache_hits); m=$(jwt_info verify_cache_misses)
    ops=$("$LG" "$PORT" "$1" "$LG_N" 50 "$2" "$LG_SECONDS" <"$TOKENS")
    echo "$ops $(hit_rate "$h" "$m")"
}
lg_row() { # lg_row <name> <ops> <hit rate> <baseline ops> <bar>
    printf "%-30s %10.0f ops/s  GET %10.0f ops/s  ratio %s  cache hits %4s  (bar %s)\n" \
        "$1" "$2" "$4" "$(ratio "$2" "$4")" "$3" "$5"
}
read -r LGET16 _ <<<"$(lg_run get 16)"
read -r LVM16 LVM16_HITS <<<"$(lg_run verify 16)"
read -r LVH16 LVH16_HITS <<<"$(lg_run verify-repeat 16)"
read -r LTM16 LTM16_HITS <<<"$(lg_run touch 16)"
read -r LGET1 _ <<<"$(lg_run get 1)"
read -r LVM1 LVM1_HITS <<<"$(lg_run verify 1)"
# Single-use tokens: each REFRESH rotates its token, each DESTROY ends its session.
redis-cli -p "$PORT" FLUSHALL >/dev/null
"$LG" "$PORT" setup-refresh "$LG_N" 1 1 1 >"$TOKENS"
read -r LRF16 _ <<<"$(lg_run refresh 16)"
read -r LDS16 _ <<<"$(lg_run destroy 16)"
echo "distinct tokens: $LG_N sessions of distinct users, 50 connections, $LG_SECONDS s per run (bench/loadgen)"
lg_row "JWT.VERIFY miss -P 16" "$LVM16" "$LVM16_HITS" "$LGET16" ">= 0.45"
lg_row "JWT.VERIFY hit -P 16" "$LVH16" "$LVH16_HITS" "$LGET16" ">= 0.60"
lg_row "JWT.TOUCH miss -P 16" "$LTM16" "$LTM16_HITS" "$LGET16" ">= 0.40"
lg_row "JWT.VERIFY miss -P 1" "$LVM1" "$LVM1_HITS" "$LGET1" ">= 0.85"
lg_row "JWT.REFRESH -P 16" "$LRF16" "-" "$LGET16" "-"
lg_row "JWT.DESTROY -P 16" "$LDS16" "-" "$LGET16" "-"

# The expensive algorithms, with the default worker threads and with none (everything
# on the main thread): SIGN of distinct users and VERIFY of distinct tokens with the
# verify cache off (every VERIFY checks its signature), 50 connections, -P 16.
ALGS=${BENCH_ALGS:-ES256 EdDSA RS256}
ALG_N=${BENCH_ALG_TOKENS:-20000}
THREADS=$(redis-cli -p "$PORT" CONFIG GET jwt.crypto-threads | tail -1)
activate() { # activate <alg>: a fresh key of <alg> signs from now on
    local kid
    if [ "$1" = RS256 ]; then
        kid=rsa-$RANDOM
        redis-cli -p "$PORT" JWT.KEY IMPORT "$kid" RS256 "$(cat tests/fixtures/rsa2048.pem)" >/dev/null
    else
        kid=$(redis-cli -p "$PORT" JWT.KEY GENERATE "$1")
    fi
    redis-cli -p "$PORT" JWT.KEY ACTIVATE "$kid" >/dev/null
}
threads() { redis-cli -p "$PORT" CONFIG SET jwt.crypto-threads "$1" >/dev/null; }
SERVER_PID=$(redis-cli -p "$PORT" INFO server | awk -F: '/^process_id:/ { print $2 + 0 }')
cpu_ticks() { # cpu_ticks: "<main thread> <worker threads>" CPU ticks of the server so far
    local main=0 workers=0 t
    for t in /proc/"$SERVER_PID"/task/*; do
        local ticks; ticks=$(awk '{ print $14 + $15 }' "$t/stat")
        if [ "$(basename "$t")" = "$SERVER_PID" ]; then main=$ticks
        elif [ "$(cat "$t/comm")" = jwt-crypto ]; then workers=$(( workers + ticks )); fi
    done
    echo "$main $workers"
}
per_op_us() { # per_op_us <ticks> <ops/s>: CPU microseconds per operation of a run
    awk -v t="$1" -v o="$2" -v s="$LG_SECONDS" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", t / hz * 1e6 / (o * s) }'
}
redis-cli -p "$PORT" CONFIG SET jwt.verify-cache 0 >/dev/null
echo "expensive algorithms: ops/s with jwt.crypto-threads $THREADS and 0 (inline), verify cache off, $(nproc) cores"
for alg in $ALGS; do
    redis-cli -p "$PORT" FLUSHALL >/dev/null
    activate "$alg"
    "$LG" "$PORT" setup-refresh "$ALG_N" 1 1 1 >"$TOKENS"
    threads "$THREADS"
    read -r SW _ <<<"$(lg_run sign 16)"
    read -r M0 W0 <<<"$(cpu_ticks)"
    read -r VW _ <<<"$(lg_run verify 16)"
    read -r M1 W1 <<<"$(cpu_ticks)"
    read -r RW _ <<<"$(lg_run refresh 16)"
    read -r SW1 _ <<<"$(lg_run sign 1)"
    read -r VW1 _ <<<"$(lg_run verify 1)"
    threads 0
    read -r S0 _ <<<"$(lg_run sign 16)"
    read -r V0 _ <<<"$(lg_run verify 16)"
    threads "$THREADS"
    read -r DW _ <<<"$(lg_run destroy 16)"
    printf "%-6s SIGN %8.0f ops/s (inline %8.0f, x%s)   VERIFY miss %8.0f ops/s (inline %8.0f, x%s; bar x1.6 for ES256)\n" \
        "$alg" "$SW" "$S0" "$(ratio "$SW" "$S0")" "$VW" "$V0" "$(ratio "$VW" "$V0")"
    # Where a VERIFY's CPU goes with the workers: the cores are the limit when these add
    # up to the machine (the load generator shares it).
    printf "       VERIFY with workers, CPU per op: main thread %s us, workers %s us; REFRESH with workers %.0f ops/s\n" \
        "$(per_op_us $(( M1 - M0 )) "$VW")" "$(per_op_us $(( W1 - W0 )) "$VW")" "$RW"
    printf "       with workers: SIGN/SET %s (-P 1: %.0f ops/s, %s), VERIFY miss/GET %s (-P 1: %.0f ops/s, %s), DESTROY %.0f ops/s\n" \
        "$(ratio "$SW" "$SET16")" "$SW1" "$(ratio "$SW1" "$SET1")" "$(ratio "$VW" "$LGET16")" \
        "$VW1" "$(ratio "$VW1" "$LGET1")" "$DW"
done
redis-cli -p "$PORT" CONFIG SET jwt.verify-cache 4096 >/dev/null

# What another client waits while 50 clients sign with RS256 at full rate: its GET
# latency idle, then under that load with the workers and without.
if [[ " $ALGS " == *" RS256 "* ]]; then
    redis-cli -p "$PORT" FLUSHALL >/dev/null
    activate RS256
    read -r IDLE50 IDLE99 IDLEAVG <<<"$("$LG" "$PORT" latency 1 1 1 3)"
    loaded_latency() { # loaded_latency <threads>: GET p50 p99 mean while RS256 SIGN runs
        threads "$1"
        "$LG" "$PORT" sign 1000000 50 1 6 >/dev/null &
        local bg=$!
        sleep 1
        "$LG" "$PORT" latency 1 1 1 3
        wait "$bg"
    }
    read -r W50 W99 WAVG <<<"$(loaded_latency "$THREADS")"
    read -r I50 I99 IAVG <<<"$(loaded_latency 0)"
    threads "$THREADS"
    echo "GET latency (ms, p50/p99/mean) while 50 clients RS256-SIGN: idle $IDLE50/$IDLE99/$IDLEAVG," \
        "with $THREADS workers $W50/$W99/$WAVG (mean x$(ratio "$WAVG" "$IDLEAVG") of idle, bar <= x2;" \
        "p99 x$(ratio "$W99" "$IDLE99")), inline $I50/$I99/$IAVG"
fi

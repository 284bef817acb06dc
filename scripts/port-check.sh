#!/usr/bin/env bash
# `make run` checks its port before starting redis-server: when something already
# listens on 127.0.0.1:<port>, it says which process holds it and how to pick another
# port, instead of redis-server's bare "Address already in use".
# Usage: bash scripts/port-check.sh <port>   (exit 1 when taken)
set -uo pipefail
port=${1:?usage: port-check.sh <port>}
# Something accepts connections on 127.0.0.1:<port> (a listener on 127.0.0.1 or on every
# address, both of which keep redis-server from binding there).
if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    exit 0
fi
holders=""
if command -v ss >/dev/null 2>&1; then
    holders=$(ss -ltnpH "( sport = :$port )" 2>/dev/null |
        grep -o 'users:(.*' | grep -o '"[^"]*",pid=[0-9]*' | sed 's/"\([^"]*\)",pid=\([0-9]*\)/\2/' | sort -u)
fi
if [ -z "$holders" ] && command -v fuser >/dev/null 2>&1; then
    holders=$(fuser -n tcp "$port" 2>/dev/null | tr -s ' ' '\n' | grep -E '^[0-9]+$' | sort -u)
fi
if [ -z "$holders" ] && command -v lsof >/dev/null 2>&1; then
    holders=$(lsof -nP -t -iTCP:"$port" -sTCP:LISTEN 2>/dev/null | sort -u)
fi
echo "make run: port $port on 127.0.0.1 is already in use" >&2
stock=""
if [ -n "$holders" ]; then
    echo "  held by:" >&2
    for pid in $holders; do
        line=$(ps -o pid=,user=,args= -p "$pid" 2>/dev/null | sed 's/^ *//')
        echo "    ${line:-pid $pid}" >&2
        case "$line" in *redis-server*|*valkey-server*) stock=yes ;; esac
    done
else
    how="run as root to see other users' processes"
    command -v ss >/dev/null 2>&1 || command -v fuser >/dev/null 2>&1 || command -v lsof >/dev/null 2>&1 ||
        how="install iproute2 (ss) or psmisc (fuser) to see which process"
    echo "  (the process holding it could not be listed: $how)" >&2
fi
if [ -n "$stock" ] && command -v systemctl >/dev/null 2>&1 &&
    systemctl is-active --quiet redis-server 2>/dev/null; then
    echo "  That is the redis-server service of Debian's package, which has no JWT commands." >&2
    echo "  Stop it for good with: systemctl disable --now redis-server" >&2
elif [ -n "$stock" ]; then
    echo "  That is another redis-server (a previous make run? redis-cli -p $port MODULE LIST tells)." >&2
fi
next=$((port + 1))
echo "  Or serve on another port: make run PORT=$next   (then redis-cli -p $next)" >&2
exit 1

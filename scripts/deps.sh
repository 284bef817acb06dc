#!/usr/bin/env bash
# `make deps` (run before every build): the Debian packages and the Rust toolchain that
# `make run` and `make test` need. As root, missing packages are installed with apt-get;
# otherwise the exact install line is printed. Exits non-zero when something required
# is missing, with what to do about it.
set -uo pipefail
cd "$(dirname "$0")/.."

# --- Debian packages ---------------------------------------------------------------
# Required to build and run: redis-server, libclang (bindgen). For `make test` only:
# python3-venv (tests/interop_python.rs and clients/test.sh make their own venvs).
missing=""
redis-server --version >/dev/null 2>&1 || missing="$missing redis-server"
{ ls /usr/lib/llvm-*/lib/libclang.so* || ls /usr/lib/*/libclang-[0-9]*.so*; } >/dev/null 2>&1 ||
    missing="$missing libclang-dev"
for_tests=""
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || for_tests="python3-venv"

# Debian's redis-server package starts (and enables) its own service on 127.0.0.1:6379,
# the address `make run` serves, and that stock server has no JWT commands. When this
# script installs the package it stops and disables that service again, and says so.
# (A policy-rc.d that forbids the start was the alternative; it was not chosen because
# the unit would stay enabled and take the port at the next boot, and because a
# policy-rc.d may already be in place, e.g. Docker's, and must not be replaced.)
# A redis-server that was installed before is the machine owner's and is left alone:
# `make run` then names the process holding the port and how to pick another one.
quiet_stock_service() {
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
        echo "make deps: the redis-server package started its own service (redis-server.service) on"
        echo "  127.0.0.1:6379, the port make run uses; it has no JWT commands. Stopping and disabling it:"
        echo "  systemctl disable --now redis-server   (undo: systemctl enable --now redis-server)"
        systemctl disable --now redis-server ||
            echo "make deps: could not stop it; make run PORT=6380 serves another port"
    elif [ -d /run/systemd/system ] && systemctl is-enabled --quiet redis-server 2>/dev/null; then
        echo "make deps: disabling the redis-server package's own service so that it does not take"
        echo "  127.0.0.1:6379 at the next boot (undo: systemctl enable redis-server)"
        systemctl disable redis-server || true
    elif [ -x /etc/init.d/redis-server ] && /etc/init.d/redis-server status >/dev/null 2>&1; then
        # No systemd (a container, sysvinit): invoke-rc.d may have run the init script.
        echo "make deps: stopping the redis-server package's own server on 127.0.0.1:6379 (init script)"
        /etc/init.d/redis-server stop || true
        command -v update-rc.d >/dev/null 2>&1 && update-rc.d redis-server disable >/dev/null 2>&1 || true
    fi
}

if [ -n "$missing$for_tests" ]; then
    pkgs=$(echo $missing $for_tests)
    if [ "$(id -u)" = 0 ]; then
        echo "make deps: installing: $pkgs"
        DEBIAN_FRONTEND=noninteractive apt-get update &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y $pkgs || exit 1
        case " $missing " in *" redis-server "*) quiet_stock_service ;; esac
    elif [ -n "$missing" ]; then
        echo "make deps: missing:$missing -- install with: sudo apt-get install -y $pkgs"
        echo "  (the redis-server package starts its own server on 127.0.0.1:6379, the port make run"
        echo "  uses; afterwards: sudo systemctl disable --now redis-server, or use make run PORT=6380)"
        exit 1
    else
        echo "make deps: note: make test needs $for_tests (sudo apt-get install -y $for_tests)"
    fi
fi

# --- Rust ----------------------------------------------------------------------------
# The minimum is Cargo.toml's rust-version (1.87: usize::is_multiple_of; Cargo.lock v4
# needs cargo 1.78+). Debian 12's packaged rustc 1.63 / cargo 0.66 are far too old.
min=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -1)
min=${min:-1.87}
how_to_get_rust() {
    echo "  Get a current Rust with rustup (https://rustup.rs), as the user who builds:"
    echo "    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"
    echo "    . \"\$HOME/.cargo/env\"      (or open a new shell)"
    echo "  With rustup already installed, update the toolchain: rustup update"
    if dpkg -s cargo >/dev/null 2>&1 || dpkg -s rustc >/dev/null 2>&1; then
        echo "  Debian's cargo/rustc packages are installed: rustup's ~/.cargo/bin must come first in"
        echo "  PATH (its env script does that), or remove them: apt-get remove cargo rustc"
    fi
}
if ! command -v cargo >/dev/null 2>&1; then
    echo "make deps: missing: cargo (Rust $min or newer is needed)"
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        echo "  rustup's cargo is in ~/.cargo/bin but not on PATH: run . \"\$HOME/.cargo/env\" (or open a new shell)"
    else
        how_to_get_rust
    fi
    exit 1
fi
older() { # older <version> <min>: true when version < min (numeric, field by field)
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, "."); m = split(b, y, ".")
        for (i = 1; i <= (n > m ? n : m); i++) {
            if (x[i] + 0 < y[i] + 0) exit 0
            if (x[i] + 0 > y[i] + 0) exit 1
        }
        exit 1 }'
}
cargo_v=$(cargo --version 2>/dev/null | awk '{ print $2 }' | sed 's/-.*//')
rustc_v=$(rustc --version 2>/dev/null | awk '{ print $2 }' | sed 's/-.*//')
if [ -z "$cargo_v" ] || [ -z "$rustc_v" ] || older "$cargo_v" "$min" || older "$rustc_v" "$min"; then
    echo "make deps: Rust $min or newer is needed; found cargo ${cargo_v:-?} ($(command -v cargo)) and rustc ${rustc_v:-none} ($(command -v rustc || echo 'not on PATH'))."
    echo "  Older toolchains fail later with confusing errors (Cargo.lock version 4, usize::is_multiple_of)."
    how_to_get_rust
    exit 1
fi
exit 0

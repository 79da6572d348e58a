#!/usr/bin/env bash
# Runs everything that must pass before a change lands: formatting, lints, unit tests and the
# end-to-end tests (which start the real binary on loopback). Installs what the tests need
# when it is missing (cargo-nextest, PostgreSQL, Redis, nginx, promtool, aiosmtpd), starts throwaway PostgreSQL and
# Redis servers on loopback for the store and shared-limit tests, and stops them afterwards,
# so it works on a fresh Debian machine with the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing $* and not root: install it with apt-get first" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! cargo nextest --version >/dev/null 2>&1; then
    step "installing cargo-nextest"
    cargo install cargo-nextest --locked
fi

# nginx for the forward-auth tests (Rampart as nginx's auth_request server).
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    step "installing nginx from Debian's packages"
    apt_install nginx-light
fi
export PATH="$PATH:/usr/sbin"

# promtool checks the exported Prometheus rules file. Taken out of Debian's prometheus
# package into a cache directory rather than installed, so no Prometheus service appears.
PROMTOOL="$(command -v promtool || true)"
if [ -z "$PROMTOOL" ]; then
    TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/rampart-test-tools"
    PROMTOOL="$TOOLS/prometheus/usr/bin/promtool"
    if [ ! -x "$PROMTOOL" ]; then
        step "fetching promtool from Debian's prometheus package"
        mkdir -p "$TOOLS"
        [ "$(id -u)" -eq 0 ] && apt-get update -qq
        (cd "$TOOLS" && rm -f prometheus_*.deb && apt-get download -qq prometheus \
            && dpkg-deb -x prometheus_*.deb prometheus && rm -f prometheus_*.deb)
    fi
fi
export RAMPART_TEST_PROMTOOL="$PROMTOOL"

# aiosmtpd (from PyPI, in a virtualenv in the same cache) is the SMTP server alert e-mails
# are sent to.
SMTP_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/rampart-test-tools/smtp-venv"
if ! "$SMTP_VENV/bin/python" -c "import aiosmtpd" >/dev/null 2>&1; then
    step "installing aiosmtpd from PyPI"
    python3 -m venv "$SMTP_VENV"
    "$SMTP_VENV/bin/pip" install --quiet aiosmtpd
fi
export RAMPART_TEST_SMTP_PYTHON="$SMTP_VENV/bin/python"

# --- a throwaway PostgreSQL on loopback --------------------------------------------------
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(pg_bin)" ]; then
    step "installing PostgreSQL from Debian's packages"
    apt_install postgresql
fi
PG_BIN="$(pg_bin)"
PG_DIR="$(mktemp -d /tmp/rampart-test-pg.XXXXXX)"
PG_PORT=$(( 20000 + RANDOM % 20000 ))
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    # PostgreSQL refuses to run as root; Debian's package created this user.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$PG_DIR"
    as_pg=(runuser -u postgres --)
fi
REDIS_DIR="$(mktemp -d /tmp/rampart-test-redis.XXXXXX)"
stop_services() {
    "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    if [ -f "$REDIS_DIR/redis.pid" ]; then
        kill "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null || true
    fi
    rm -rf "$PG_DIR" "$REDIS_DIR"
}
trap stop_services EXIT
step "starting PostgreSQL on 127.0.0.1:$PG_PORT"
"${as_pg[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U rampart -A trust --no-sync >/dev/null
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
export RAMPART_TEST_POSTGRES_URL="postgres://rampart@127.0.0.1:$PG_PORT/postgres"

# --- a throwaway Redis on loopback, for the limits shared between instances ---------------
if ! command -v redis-server >/dev/null 2>&1; then
    step "installing Redis from Debian's packages"
    apt_install redis-server
fi
REDIS_PORT=$(( PG_PORT + 1 ))
step "starting Redis on 127.0.0.1:$REDIS_PORT"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --dir "$REDIS_DIR" --logfile "$REDIS_DIR/log"
for _ in $(seq 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
done
export RAMPART_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "tests (unit + end-to-end, SQLite and PostgreSQL)"
cargo nextest run --workspace --locked --no-fail-fast

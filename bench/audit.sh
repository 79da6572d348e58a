#!/usr/bin/env bash
# Audit log throughput: events acknowledged durable per second with 1, 64 and 1024
# concurrent writers (group commit), and verification speed, on SQLite and on a throwaway
# PostgreSQL (fsync on, as in production) on loopback.
#
#   bench/audit.sh [seconds-per-run]
#
# Needs PostgreSQL from Debian's packages (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
SECONDS_PER_RUN="${1:-5}"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
[ -n "$(pg_bin)" ] || install_package postgresql
PG_BIN="$(pg_bin)"
PG_DIR="$(mktemp -d /tmp/rampart-bench-pg.XXXXXX)"
PG_PORT=$(( 20000 + RANDOM % 20000 ))
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$PG_DIR"
    as_pg=(runuser -u postgres --)
fi
stop_postgres() {
    "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}
trap stop_postgres EXIT
"${as_pg[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U rampart -A trust >/dev/null
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null

cargo build --release --quiet --example audit_throughput
EXAMPLE="${CARGO_TARGET_DIR:-target}/release/examples/audit_throughput"
echo "Rampart $(git rev-parse --short HEAD), ${SECONDS_PER_RUN}s per run, $(nproc) cores"
"$EXAMPLE" "" "$SECONDS_PER_RUN"
"$EXAMPLE" "postgres://rampart@127.0.0.1:$PG_PORT/postgres" "$SECONDS_PER_RUN"

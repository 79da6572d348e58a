#!/usr/bin/env bash
# The cost of auditing every request: Rampart as a plain proxy with and without the request
# trail (`[audit] requests = true`), side by side in one run on loopback, same upstream.
#
#   bench/request_trail.sh [seconds-per-run] [rounds]
#
# GET with a query string at -c64 and -c1; the order rotates each round. Prints medians and
# the ratio with/without. Needs nginx (the upstream) and wrk, installed from Debian's packages
# when missing, and builds Rampart in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

DURATION="${1:-10}"
ROUNDS="${2:-3}"
UPSTREAM_PORT=18280
OFF_PORT=18281
ON_PORT=18283

prepare
ports_free "$UPSTREAM_PORT" "$OFF_PORT" $((OFF_PORT + 1)) "$ON_PORT" $((ON_PORT + 1))
upstream_conf "$WORK" "$UPSTREAM_PORT" > "$WORK/upstream.conf"
rampart_conf "$WORK" "$OFF_PORT" $((OFF_PORT + 1)) "$UPSTREAM_PORT" 'attack_filter = "off"' \
    > "$WORK/off.toml"
rampart_conf "$WORK" "$ON_PORT" $((ON_PORT + 1)) "$UPSTREAM_PORT" 'attack_filter = "off"
[audit]
requests = true' > "$WORK/on.toml"

nginx -c "$WORK/upstream.conf" & PIDS+=($!)
"$RAMPART" serve --config "$WORK/off.toml" > "$WORK/off.log" 2>&1 & PIDS+=($!)
"$RAMPART" serve --config "$WORK/on.toml" > "$WORK/on.log" 2>&1 & PIDS+=($!)
for port in $UPSTREAM_PORT $OFF_PORT $ON_PORT; do wait_for "$port"; done

echo "Rampart $("$RAMPART" --version | awk '{print $2}'), request trail off vs on, ${DURATION}s per run, $ROUNDS rounds, $(nproc) cores"
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    for conns in 64 1; do
        if [ $((round % 2)) -eq 1 ]; then order="off on"; else order="on off"; fi
        for name in $order; do
            port=$OFF_PORT; [ "$name" = on ] && port=$ON_PORT
            wrk_run "trail-$name" "$conns" "http://127.0.0.1:$port/api/items?id=42&sort=asc&q=cotton"
        done
    done
done

records=$(cat "$WORK"/rampart-data-$ON_PORT/audit-requests/*.jsonl | grep -vc '^{"checkpoint"' || true)
echo
echo "Medians over $ROUNDS rounds ($records requests in the trail)"
printf '%-5s %12s %12s %7s %10s %10s\n' conn "off rps" "on rps" ratio "off p50" "on p50"
for conns in 64 1; do
    off=$(stat trail-off "$conns" 3); on=$(stat trail-on "$conns" 3)
    printf 'c%-4s %12.0f %12.0f %6.2fx %10.3f %10.3f\n' "$conns" "$off" "$on" \
        "$(awk -v a="$on" -v b="$off" 'BEGIN {print a / b}')" \
        "$(stat trail-off "$conns" 4)" "$(stat trail-on "$conns" 4)"
done

#!/usr/bin/env bash
# Rampart vs nginx as plain reverse proxies, side by side in one run on loopback.
#
#   bench/run.sh [seconds-per-run] [rounds]
#
# Starts a tiny upstream (nginx `return 200`), nginx as a reverse proxy and Rampart as a
# reverse proxy in front of it, then drives both with wrk in alternating rounds: GET with a
# query string and POST with a 1 KB JSON body, at -c64 and -c1, with a Host name. Prints the
# median rps, p50 and p99 of each and the ratio Rampart/nginx. Needs nginx and wrk (installed
# from Debian's packages when missing) and builds Rampart in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

DURATION="${1:-10}"
ROUNDS="${2:-3}"
UPSTREAM_PORT=18080
NGINX_PORT=18081
RAMPART_PORT=18082
RAMPART_ADMIN_PORT=18083
HOST_HEADER="api.bench.local"

prepare
ports_free "$UPSTREAM_PORT" "$NGINX_PORT" "$RAMPART_PORT" "$RAMPART_ADMIN_PORT"

upstream_conf "$WORK" "$UPSTREAM_PORT" > "$WORK/upstream.conf"

nginx_proxy_conf "$WORK" nginx "$NGINX_PORT" "$UPSTREAM_PORT" > "$WORK/nginx-proxy.conf"
# Rampart as a plain reverse proxy (access log off, as nginx's).
rampart_conf "$WORK" "$RAMPART_PORT" "$RAMPART_ADMIN_PORT" "$UPSTREAM_PORT" 'attack_filter = "off"' \
    > "$WORK/rampart.toml"

post_script > "$WORK/post.lua"

nginx -c "$WORK/upstream.conf" & PIDS+=($!)
nginx -c "$WORK/nginx-proxy.conf" & PIDS+=($!)
"$RAMPART" serve --config "$WORK/rampart.toml" > "$WORK/rampart.log" 2>&1 & PIDS+=($!)
for port in $UPSTREAM_PORT $NGINX_PORT $RAMPART_PORT; do wait_for "$port"; done

echo "Rampart $("$RAMPART" --version | awk '{print $2}') vs $(nginx -v 2>&1 | sed 's/.*: //'), ${DURATION}s per run, $ROUNDS rounds, $(nproc) cores"
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    for kind in get post; do
        script=()
        [ "$kind" = post ] && script=(-s "$WORK/post.lua")
        for conns in 64 1; do
            # Alternate who goes first so that neither always gets the warmer machine.
            if [ $((round % 2)) -eq 1 ]; then order="nginx rampart"; else order="rampart nginx"; fi
            for name in $order; do
                port=$NGINX_PORT; [ "$name" = rampart ] && port=$RAMPART_PORT
                wrk_run "$name-$kind" "$conns" "http://127.0.0.1:$port/api/items?id=42&sort=asc&q=cotton" \
                    -H "Host: $HOST_HEADER" "${script[@]}"
            done
        done
    done
done

echo
echo "Medians over $ROUNDS rounds"
printf '%-5s %-4s %12s %12s %7s %10s %10s %10s %10s %9s\n' kind conn "nginx rps" "rampart rps" ratio "nginx p50" "ramp. p50" "nginx p99" "ramp. p99" "Δp99 ms"
for kind in get post; do
    for conns in 64 1; do
        awk -v k="$kind" -v c="$conns" \
            -v nr="$(stat "nginx-$kind" "$conns" 3)" -v rr="$(stat "rampart-$kind" "$conns" 3)" \
            -v n5="$(stat "nginx-$kind" "$conns" 4)" -v r5="$(stat "rampart-$kind" "$conns" 4)" \
            -v n9="$(stat "nginx-$kind" "$conns" 5)" -v r9="$(stat "rampart-$kind" "$conns" 5)" \
            'BEGIN { printf "%-5s c%-3s %12.0f %12.0f %6.2fx %10.3f %10.3f %10.3f %10.3f %+9.3f\n", k, c, nr, rr, rr / nr, n5, r5, n9, r9, r9 - n9 }'
    done
done

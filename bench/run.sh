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

DURATION="${1:-10}"
ROUNDS="${2:-3}"
UPSTREAM_PORT=18080
NGINX_PORT=18081
RAMPART_PORT=18082
RAMPART_ADMIN_PORT=18083
HOST_HEADER="api.bench.local"

need() {
    command -v "$1" >/dev/null 2>&1 && return
    echo "installing $2 from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need nginx nginx-light
need wrk wrk

cargo build --release --quiet
RAMPART="${CARGO_TARGET_DIR:-target}/release/rampart"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- the upstream: answers every request with a short 200 ---------------------------------
cat > "$WORK/upstream.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/upstream.pid;
error_log $WORK/upstream-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location / { return 200 '{"ok":true}'; }
    }
}
CONF

# --- nginx as a plain reverse proxy with an upstream keep-alive pool -----------------------
cat > "$WORK/nginx-proxy.conf" <<CONF
worker_processes auto;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream app {
        server 127.0.0.1:$UPSTREAM_PORT;
        keepalive 256;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        client_max_body_size 10m;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
CONF

# --- Rampart as a plain reverse proxy (access log off, as nginx's) ------------------------
cat > "$WORK/rampart.toml" <<CONF
mode = "development"
data_dir = "$WORK/rampart-data"
[listen]
address = "127.0.0.1:$RAMPART_PORT"
plaintext = true
[admin]
address = "127.0.0.1:$RAMPART_ADMIN_PORT"
[log]
level = "warn"
access_log = false
[[upstream]]
name = "app"
targets = ["http://127.0.0.1:$UPSTREAM_PORT"]
[[route]]
path = "/"
upstream = "app"
CONF

# A 1 KB JSON body for the POST runs.
PAD="$(head -c 980 /dev/zero | tr '\0' 'x')"
cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"message": "$PAD"}'
wrk.headers["Content-Type"] = "application/json"
LUA

nginx -c "$WORK/upstream.conf" & PIDS+=($!)
nginx -c "$WORK/nginx-proxy.conf" & PIDS+=($!)
"$RAMPART" serve --config "$WORK/rampart.toml" > "$WORK/rampart.log" 2>&1 & PIDS+=($!)

for port in $UPSTREAM_PORT $NGINX_PORT $RAMPART_PORT; do
    for _ in $(seq 100); do
        curl -fsS -o /dev/null -H "Host: $HOST_HEADER" "http://127.0.0.1:$port/" 2>/dev/null && break
        sleep 0.1
    done
done

# to_ms VALUE: wrk prints latencies as 812.00us, 1.23ms or 2.01s.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    }'
}

# run NAME PORT KIND CONNECTIONS → appends "name kind conns rps p50 p99" to results
RESULTS="$WORK/results.txt"
run() {
    local name="$1" port="$2" kind="$3" conns="$4" threads=2 script=()
    [ "$conns" -eq 1 ] && threads=1
    [ "$kind" = post ] && script=(-s "$WORK/post.lua")
    local out
    out="$(wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -H "Host: $HOST_HEADER" \
        "${script[@]}" "http://127.0.0.1:$port/api/items?id=42&sort=asc&q=cotton")"
    if echo "$out" | grep -q "Non-2xx"; then
        echo "$name $kind c$conns: non-2xx answers:" >&2; echo "$out" >&2; exit 1
    fi
    local rps p50 p99
    rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
    p50="$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")"
    p99="$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")"
    echo "$name $kind $conns $rps $p50 $p99" >> "$RESULTS"
    printf '  %-8s %-4s c%-3s %10.0f rps  p50 %7.3f ms  p99 %7.3f ms\n' "$name" "$kind" "$conns" "$rps" "$p50" "$p99"
}

echo "Rampart $("$RAMPART" --version | awk '{print $2}') vs $(nginx -v 2>&1 | sed 's/.*: //'), ${DURATION}s per run, $ROUNDS rounds, $(nproc) cores"
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    for kind in get post; do
        for conns in 64 1; do
            # Alternate who goes first so that neither always gets the warmer machine.
            if [ $((round % 2)) -eq 1 ]; then order="nginx rampart"; else order="rampart nginx"; fi
            for name in $order; do
                port=$NGINX_PORT; [ "$name" = rampart ] && port=$RAMPART_PORT
                run "$name" "$port" "$kind" "$conns"
            done
        done
    done
done

echo
echo "Medians over $ROUNDS rounds"
printf '%-5s %-4s %12s %12s %7s %10s %10s %10s %10s %9s\n' kind conn "nginx rps" "rampart rps" ratio "nginx p50" "ramp. p50" "nginx p99" "ramp. p99" "Δp99 ms"
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for kind in get post; do
    for conns in 64 1; do
        stat() { awk -v n="$1" -v k="$kind" -v c="$conns" -v f="$2" '$1==n && $2==k && $3==c {print $f}' "$RESULTS" | median; }
        n_rps=$(stat nginx 4); r_rps=$(stat rampart 4)
        n_p50=$(stat nginx 5); r_p50=$(stat rampart 5)
        n_p99=$(stat nginx 6); r_p99=$(stat rampart 6)
        awk -v k="$kind" -v c="$conns" -v nr="$n_rps" -v rr="$r_rps" -v n5="$n_p50" -v r5="$r_p50" -v n9="$n_p99" -v r9="$r_p99" \
            'BEGIN { printf "%-5s c%-3s %12.0f %12.0f %6.2fx %10.3f %10.3f %10.3f %10.3f %+9.3f\n", k, c, nr, rr, rr / nr, n5, r5, n9, r9, r9 - n9 }'
    done
done

#!/usr/bin/env bash
# The cost of identity: Rampart as a plain proxy vs the same requests on a route that needs a
# permission, authenticated by (a) a session cookie and (b) a JWT bearer token.
#
#   bench/identity.sh [seconds-per-run] [rounds]
#
# Same upstream and wrk settings as bench/run.sh (GET with a query string, -c64 and -c1,
# Host name), alternating the order of the three cases in each round; prints medians and the
# ratio of each authenticated case to the plain one.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

DURATION="${1:-10}"
ROUNDS="${2:-3}"
UPSTREAM_PORT=18090
RAMPART_PORT=18092
ADMIN_PORT=18093
PASSWORD="tulip-harbor-$(date +%s)"

prepare
ports_free "$UPSTREAM_PORT" "$RAMPART_PORT" "$ADMIN_PORT"

upstream_conf "$WORK" "$UPSTREAM_PORT" > "$WORK/upstream.conf"
cat > "$WORK/rampart.toml" <<CONF
mode = "production"
data_dir = "$WORK/rampart-data"
[listen]
address = "127.0.0.1:$RAMPART_PORT"
plaintext = true
[admin]
address = "127.0.0.1:$ADMIN_PORT"
[log]
level = "warn"
access_log = false
[[role]]
name = "viewer"
permissions = ["reports:read"]
[[upstream]]
name = "app"
targets = ["http://127.0.0.1:$UPSTREAM_PORT"]
[[route]]
path = "/secure"
upstream = "app"
auth = "reports:read"
[[route]]
path = "/"
upstream = "app"
auth = "public"
CONF

nginx -c "$WORK/upstream.conf" & PIDS+=($!)
echo "$PASSWORD" | "$RAMPART" user add bench --role viewer --config "$WORK/rampart.toml" >/dev/null
"$RAMPART" serve --config "$WORK/rampart.toml" > "$WORK/rampart.log" 2>&1 & PIDS+=($!)
wait_for "$UPSTREAM_PORT"
wait_for "$RAMPART_PORT"

LOGIN="$(curl -s -D "$WORK/login-headers" -H 'content-type: application/json' \
    -d "{\"username\": \"bench\", \"password\": \"$PASSWORD\"}" "http://127.0.0.1:$RAMPART_PORT/_rampart/api/login")"
TOKEN="$(echo "$LOGIN" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
COOKIE="$(grep -i '^set-cookie: __Host-rampart_session=' "$WORK/login-headers" | sed 's/^[^:]*: //; s/;.*//')"
[ -n "$TOKEN" ] && [ -n "$COOKIE" ] || { echo "login failed: $LOGIN" >&2; exit 1; }

BASE="http://127.0.0.1:$RAMPART_PORT"
QUERY="items?id=42&sort=asc&q=cotton"
case_run() {
    case "$1" in
        plain) wrk_run plain "$2" "$BASE/api/$QUERY" -H "Host: api.bench.local" ;;
        session) wrk_run session "$2" "$BASE/secure/$QUERY" -H "Host: api.bench.local" -H "Cookie: $COOKIE" ;;
        jwt) wrk_run jwt "$2" "$BASE/secure/$QUERY" -H "Host: api.bench.local" -H "Authorization: Bearer $TOKEN" ;;
    esac
}

echo "Rampart $("$RAMPART" --version | awk '{print $2}'): plain vs session cookie vs JWT, ${DURATION}s per run, $ROUNDS rounds, $(nproc) cores"
orders=("plain session jwt" "jwt plain session" "session jwt plain")
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    for conns in 64 1; do
        for name in ${orders[$(( (round - 1) % 3 ))]}; do
            case_run "$name" "$conns"
        done
    done
done

echo
echo "Medians over $ROUNDS rounds"
printf '%-8s %-4s %12s %10s %10s %10s\n' case conn rps "vs plain" "p50 ms" "p99 ms"
for conns in 64 1; do
    plain=$(stat plain "$conns" 3)
    for name in plain session jwt; do
        awk -v n="$name" -v c="$conns" -v r="$(stat "$name" "$conns" 3)" -v p="$plain" \
            -v p50="$(stat "$name" "$conns" 4)" -v p99="$(stat "$name" "$conns" 5)" \
            'BEGIN { printf "%-8s c%-3s %12.0f %9.3fx %10.3f %10.3f\n", n, c, r, r / p, p50, p99 }'
    done
done

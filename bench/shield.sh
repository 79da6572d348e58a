#!/usr/bin/env bash
# The cost of the shield: nginx, nginx + ModSecurity + OWASP CRS (PL1, SecRuleEngine On),
# Rampart as a plain proxy and Rampart with the whole shield on (rate limit, input validation,
# attack filter, bans), side by side in one run on loopback, same upstream.
#
#   bench/shield.sh [seconds-per-run] [rounds]
#
# GET with a query string and three kinds of JSON POST, at -c64 and -c1; the order of the four
# rotates each round. `post` is the next turn of a chat: the conversation so far, which the
# client resends every time, and a new message, one of six questions (bench/common.sh,
# chat_turn_script). `fresh` has no text the proxy has seen before (fresh_chat_script): the
# attack filter reads all of it. `varied` is a chat turn whose new message is the next of the
# 1,617 prompts of the test corpus, of every kind and length (varied_chat_script).
# Prints medians, Rampart-with-shield against its own plain proxy and against nginx +
# ModSecurity, and the latency the shield adds at -c1. Needs nginx, wrk,
# libnginx-mod-http-modsecurity and modsecurity-crs (installed from Debian's packages when
# missing) and builds Rampart in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

DURATION="${1:-10}"
ROUNDS="${2:-3}"
UPSTREAM_PORT=18180
NGINX_PORT=18181
MODSEC_PORT=18182
PLAIN_PORT=18183
SHIELD_PORT=18185
HOST_HEADER="api.bench.local"
MODSEC_MODULE=/usr/lib/nginx/modules/ngx_http_modsecurity_module.so

need_file "$MODSEC_MODULE" libnginx-mod-http-modsecurity
need_file /usr/share/modsecurity-crs/owasp-crs.load modsecurity-crs
prepare
ports_free "$UPSTREAM_PORT" "$NGINX_PORT" "$MODSEC_PORT" "$PLAIN_PORT" $((PLAIN_PORT + 1)) "$SHIELD_PORT" $((SHIELD_PORT + 1))

upstream_conf "$WORK" "$UPSTREAM_PORT" > "$WORK/upstream.conf"
nginx_proxy_conf "$WORK" nginx "$NGINX_PORT" "$UPSTREAM_PORT" > "$WORK/nginx.conf"

# Debian's recommended ModSecurity settings, blocking, without the audit log (it would only
# add disk writes), and the CRS at its default paranoia level 1 (libmodsecurity has no
# IncludeOptional, so the files of Debian's owasp-crs.load are listed here).
cat > "$WORK/modsecurity.conf" <<CONF
Include /etc/nginx/modsecurity.conf
SecRuleEngine On
SecAuditEngine Off
SecDebugLogLevel 0
Include /etc/modsecurity/crs/crs-setup.conf
Include /etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf
Include /usr/share/modsecurity-crs/rules/*.conf
Include /etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf
CONF
nginx_proxy_conf "$WORK" modsec "$MODSEC_PORT" "$UPSTREAM_PORT" \
    "modsecurity on; modsecurity_rules_file $WORK/modsecurity.conf;" \
    "load_module $MODSEC_MODULE;" > "$WORK/modsec.conf"

rampart_conf "$WORK" "$PLAIN_PORT" $((PLAIN_PORT + 1)) "$UPSTREAM_PORT" 'attack_filter = "off"' \
    > "$WORK/plain.toml"
rampart_conf "$WORK" "$SHIELD_PORT" $((SHIELD_PORT + 1)) "$UPSTREAM_PORT" \
    "$(shield_route block)" > "$WORK/shield.toml"

chat_turn_script > "$WORK/post.lua"
fresh_chat_script > "$WORK/fresh.lua"

nginx -c "$WORK/upstream.conf" & PIDS+=($!)
nginx -c "$WORK/nginx.conf" & PIDS+=($!)
nginx -c "$WORK/modsec.conf" & PIDS+=($!)
"$RAMPART" serve --config "$WORK/plain.toml" > "$WORK/plain.log" 2>&1 & PIDS+=($!)
"$RAMPART" serve --config "$WORK/shield.toml" > "$WORK/shield.log" 2>&1 & PIDS+=($!)
for port in $UPSTREAM_PORT $NGINX_PORT $MODSEC_PORT $PLAIN_PORT $SHIELD_PORT; do wait_for "$port"; done

# Both shields must actually block: a classic injection in the query string.
for port in $MODSEC_PORT $SHIELD_PORT; do
    status="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST_HEADER" \
        "http://127.0.0.1:$port/api/items?id=1%27%20OR%20%271%27%3D%271")"
    [ "$status" = 403 ] || { echo "the shield on port $port did not block an attack ($status)" >&2; exit 1; }
done

varied_messages "$HOST_HEADER" "$SHIELD_PORT" "$MODSEC_PORT"
varied_chat_script > "$WORK/varied.lua"

NAMES=(nginx modsec plain shield)
PORTS=($NGINX_PORT $MODSEC_PORT $PLAIN_PORT $SHIELD_PORT)
echo "Rampart $("$RAMPART" --version | awk '{print $2}') vs $(nginx -v 2>&1 | sed 's/.*: //') (+ ModSecurity, CRS $(dpkg-query -W -f='${Version}' modsecurity-crs 2>/dev/null || echo '?')), ${DURATION}s per run, $ROUNDS rounds, $(nproc) cores"
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    for kind in get post fresh varied; do
        script=()
        [ "$kind" != get ] && script=(-s "$WORK/$kind.lua")
        for conns in 64 1; do
            for i in 0 1 2 3; do
                # Rotate who goes first so that nobody always gets the warmer machine.
                j=$(( (i + round) % 4 ))
                wrk_run "${NAMES[$j]}-$kind" "$conns" \
                    "http://127.0.0.1:${PORTS[$j]}/api/items?id=42&sort=asc&q=cotton" \
                    -H "Host: $HOST_HEADER" "${script[@]}"
            done
        done
    done
done

echo
echo "Medians over $ROUNDS rounds (rps; p50 in ms)"
printf '%-5s %-4s %10s %10s %10s %10s %10s %10s %9s %9s %10s\n' kind conn nginx "+modsec" "ramp.plain" "ramp.shld" "shld/plain" "shld/mods" "plain p50" "shld p50" "added p50"
for kind in get post fresh varied; do
    for conns in 64 1; do
        awk -v k="$kind" -v c="$conns" \
            -v n="$(stat "nginx-$kind" "$conns" 3)" -v m="$(stat "modsec-$kind" "$conns" 3)" \
            -v p="$(stat "plain-$kind" "$conns" 3)" -v s="$(stat "shield-$kind" "$conns" 3)" \
            -v p5="$(stat "plain-$kind" "$conns" 4)" -v s5="$(stat "shield-$kind" "$conns" 4)" \
            'BEGIN { printf "%-5s c%-3s %10.0f %10.0f %10.0f %10.0f %9.2fx %9.1fx %9.3f %9.3f %+10.3f\n", k, c, n, m, p, s, s / p, s / m, p5, s5, s5 - p5 }'
    done
done

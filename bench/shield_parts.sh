#!/usr/bin/env bash
# What each part of the shield costs in throughput, side by side: four Rampart processes of the
# current build, run at once and measured in rotating order each round, under the POSTs of
# bench/shield.sh at -c64: the plain proxy, rate limits only, rate limits and input rules
# (the attack filter off), and the whole shield. Prints each against the plain proxy, per
# round and the median; the steps between them are what the limits, the input rules and the
# filter cost. bench/shield_cpu.sh measures the same configurations one after the other, in
# CPU time per request; on a machine whose throughput drifts from run to run, ratios within
# a round are the fairer comparison.
#
#   bench/shield_parts.sh [seconds-per-run] [rounds] [kinds...]    # kinds: post fresh
#
# Needs nginx and wrk (installed from Debian's packages when missing) and builds Rampart in
# release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

DURATION="${1:-4}"
ROUNDS="${2:-5}"
shift 2 || true
KINDS=("${@:-post}")
UPSTREAM_PORT=18180
HOST_HEADER="api.bench.local"
prepare
ports_free "$UPSTREAM_PORT" $(seq 18191 18198)

upstream_conf "$WORK" "$UPSTREAM_PORT" > "$WORK/upstream.conf"
rampart_conf "$WORK" 18191 18192 "$UPSTREAM_PORT" 'attack_filter = "off"' > "$WORK/plain.toml"
rampart_conf "$WORK" 18193 18194 "$UPSTREAM_PORT" "$(shield_limits)
attack_filter = \"off\"" > "$WORK/limits.toml"
rampart_conf "$WORK" 18195 18196 "$UPSTREAM_PORT" "$(shield_route off)" > "$WORK/checks.toml"
rampart_conf "$WORK" 18197 18198 "$UPSTREAM_PORT" "$(shield_route block)" > "$WORK/shield.toml"
chat_turn_script > "$WORK/post.lua"
fresh_chat_script > "$WORK/fresh.lua"

NAMES=(plain limits checks shield)
PORTS=(18191 18193 18195 18197)
nginx -c "$WORK/upstream.conf" & PIDS+=($!)
for name in "${NAMES[@]}"; do
    "$RAMPART" serve --config "$WORK/$name.toml" > "$WORK/$name.log" 2>&1 & PIDS+=($!)
done
for port in "$UPSTREAM_PORT" "${PORTS[@]}"; do wait_for "$port"; done

post_rounds "$ROUNDS" "${KINDS[@]}"

echo
echo "Per round against the plain proxy (median last)"
for kind in "${KINDS[@]}"; do
    for name in limits checks shield; do
        ratios="$(round_ratios "$name-$kind" "plain-$kind")"
        printf '%-6s %-7s %s   median %s\n' "$kind" "$name" "$(echo $ratios)" "$(echo "$ratios" | median)"
    done
done

#!/usr/bin/env bash
# Where the shield's cost goes: Rampart's own CPU time per request (user and kernel, from
# /proc/PID/stat) under the chat-turn POST of bench/shield.sh, for three configurations run
# one at a time: the plain proxy, rate limits and input rules with the attack filter off, and
# the whole shield. The differences are what the limits and validation, and the filter, cost.
#
#   bench/shield_cpu.sh [seconds-per-run] [rounds]
#
# Ratios of rps between runs are what bench/shield.sh measures side by side; this script is for
# finding the cost, not for the headline numbers. Needs nginx and wrk (installed from Debian's
# packages when missing) and builds Rampart in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

DURATION="${1:-5}"
ROUNDS="${2:-2}"
UPSTREAM_PORT=18180
RAMPART_PORT=18185
prepare

start_cost_configs "$RAMPART_PORT" "$UPSTREAM_PORT"

# clock ticks (user, kernel) of a process
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }

echo "Rampart $("$RAMPART" --version | awk '{print $2}'), chat-turn POST, wrk -c64, ${DURATION}s per run, $(nproc) cores"
printf '%-8s %10s %14s %14s %14s\n' config rps "user us/req" "kernel us/req" "total us/req"
hz="$(getconf CLK_TCK)"
for round in $(seq "$ROUNDS"); do
    for config in plain checks shield; do
        "$RAMPART" serve --config "$WORK/$config.toml" > "$WORK/$config.log" 2>&1 &
        pid=$!
        wait_for "$RAMPART_PORT"
        read -r user0 kernel0 < <(ticks "$pid")
        wrk_run "$config" 64 "http://127.0.0.1:$RAMPART_PORT/api/items?id=42&sort=asc&q=cotton" \
            -H "Host: api.bench.local" -s "$WORK/post.lua" > /dev/null
        read -r user1 kernel1 < <(ticks "$pid")
        kill "$pid"; wait "$pid" 2>/dev/null || true
        while curl -s -o /dev/null "http://127.0.0.1:$RAMPART_PORT/"; do sleep 0.1; done
        rps="$(awk -v c="$config" '$1 == c {v = $3} END {print v}' "$RESULTS")"
        awk -v c="$config" -v r="$rps" -v u=$((user1 - user0)) -v k=$((kernel1 - kernel0)) \
            -v hz="$hz" -v d="$DURATION" 'BEGIN {
                n = r * d; us = 1e6 / hz
                printf "%-8s %10.0f %14.2f %14.2f %14.2f\n", c, r, u * us / n, k * us / n, (u + k) * us / n
            }'
    done
done

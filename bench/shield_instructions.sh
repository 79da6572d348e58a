#!/usr/bin/env bash
# What the shield costs in instructions: Rampart runs under valgrind's callgrind, which counts
# the instructions it executes whatever else the machine is doing, so two builds or two
# configurations compare exactly on a noisy shared machine, where rps ratios drift by 10-20%
# from run to run. Counts user-space work only: not the kernel, not cache misses.
#
#   bench/shield_instructions.sh [seconds] [rampart-binary or ''] [kinds...]   # post fresh varied
#   ROUNDS=3 bench/shield_instructions.sh ...   # each count the median of 3 runs
#
# For each configuration (the plain proxy, rate limits and input rules with the filter off, the
# whole shield) and each POST of bench/shield.sh (`post`, a chat turn; `fresh`, all-new text;
# `varied`, the corpus prompts as new messages; the first two unless kinds are named): a
# warm-up of 5 s (30 s for `varied`, whose lazy DFA states take that long to build under
# valgrind), then counters reset, then `seconds` (default 10) of wrk -c4 load, and the
# instructions counted divided by the requests answered. One run in about twenty reads ~5%
# high (a server's count is not as exact as a single program's), so ROUNDS=3 runs each three
# times and prints the median, with every run's count beside it. A second binary (an older
# build, say) can be given to compare. Needs nginx, wrk and valgrind (installed from Debian's
# packages when missing) and builds Rampart in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

DURATION="${1:-10}"
ROUNDS="${ROUNDS:-1}"
need valgrind valgrind
prepare
BINARY="${2:-$RAMPART}"
shift 2 || shift $#
KINDS=("$@")
[ $# -gt 0 ] || KINDS=(post fresh)
UPSTREAM_PORT=18180
RAMPART_PORT=18185
HOST_HEADER="api.bench.local"

start_cost_configs "$RAMPART_PORT" "$UPSTREAM_PORT"
if [[ " ${KINDS[*]} " == *" varied "* ]]; then
    # The prompts the shield lets through, found with the binary measured.
    "$BINARY" serve --config "$WORK/shield.toml" > "$WORK/varied-setup.log" 2>&1 &
    setup=$!
    wait_for "$RAMPART_PORT"
    varied_messages "$HOST_HEADER" "$RAMPART_PORT"
    varied_chat_script > "$WORK/varied.lua"
    kill "$setup"; wait "$setup" 2>/dev/null || true
fi

load() {
    wrk -t1 -c4 -d"$1" -H "Host: $HOST_HEADER" -s "$WORK/$2.lua" \
        "http://127.0.0.1:$RAMPART_PORT/api/items?id=42"
}

# instructions CONFIG POST: one run under callgrind; prints "requests instructions-per-request".
instructions() {
    local config="$1" post="$2" out="$WORK/callgrind.$1.$2" pid requests total
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$BINARY" serve --config "$WORK/$config.toml" > "$WORK/$config.log" 2>&1 &
    pid=$!
    wait_for_process "$RAMPART_PORT" "$pid"
    load "$warm_up" "$post" > /dev/null
    callgrind_control --zero "$pid" > /dev/null 2>&1
    requests="$(load "${DURATION}s" "$post" | awk '/requests in/ {print $1}')"
    callgrind_control --dump "$pid" > /dev/null 2>&1
    kill "$pid"; wait "$pid" 2>/dev/null || true
    total="$(callgrind_annotate "$out.1" 2>/dev/null \
        | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
    rm -f "$out" "$out".*
    echo "$requests $((total / requests))"
}

echo "$("$BINARY" --version), wrk -c4, ${DURATION}s per run, instructions per request" \
    "(median of $ROUNDS)"
printf '%-8s %-6s %10s %16s  %s\n' config post requests instructions runs
for post in "${KINDS[@]}"; do
    warm_up=5s
    [ "$post" = varied ] && warm_up=30s
    for config in plain checks shield; do
        runs=()
        requests=0
        for _ in $(seq "$ROUNDS"); do
            read -r answered counted < <(instructions "$config" "$post")
            requests=$((requests + answered))
            runs+=("$counted")
        done
        printf '%-8s %-6s %10d %16s  %s\n' "$config" "$post" "$requests" \
            "$(printf '%s\n' "${runs[@]}" | median)" "${runs[*]}"
    done
done

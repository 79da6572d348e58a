#!/usr/bin/env bash
# Two builds of Rampart's shield side by side: an older binary and the current build, both with
# the whole shield on, and the current build as a plain proxy, in rotating order each round,
# under the three POSTs of bench/shield.sh at -c64. On a machine whose throughput drifts from run
# to run, the ratio within a round is the fair comparison; it prints those and their medians.
#
#   bench/shield_compare.sh OLD-BINARY [seconds-per-run] [rounds]
#
# Build the old binary from an earlier commit first, e.g.
#   git worktree add /tmp/old COMMIT && (cd /tmp/old && cargo build --release)
# Needs nginx and wrk (installed from Debian's packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

OLD="$(realpath "${1:?usage: bench/shield_compare.sh OLD-BINARY [seconds] [rounds]}")"
DURATION="${2:-5}"
ROUNDS="${3:-5}"
UPSTREAM_PORT=18180
HOST_HEADER="api.bench.local"
prepare
ports_free "$UPSTREAM_PORT" 18191 18192 18193 18194 18195 18196

upstream_conf "$WORK" "$UPSTREAM_PORT" > "$WORK/upstream.conf"
rampart_conf "$WORK" 18191 18192 "$UPSTREAM_PORT" "$(shield_route block)" > "$WORK/old.toml"
rampart_conf "$WORK" 18193 18194 "$UPSTREAM_PORT" "$(shield_route block)" > "$WORK/new.toml"
rampart_conf "$WORK" 18195 18196 "$UPSTREAM_PORT" 'attack_filter = "off"' > "$WORK/plain.toml"
chat_turn_script > "$WORK/post.lua"
fresh_chat_script > "$WORK/fresh.lua"
nginx -c "$WORK/upstream.conf" & PIDS+=($!)
"$OLD" serve --config "$WORK/old.toml" > "$WORK/old.log" 2>&1 & PIDS+=($!)
"$RAMPART" serve --config "$WORK/new.toml" > "$WORK/new.log" 2>&1 & PIDS+=($!)
"$RAMPART" serve --config "$WORK/plain.toml" > "$WORK/plain.log" 2>&1 & PIDS+=($!)
for port in "$UPSTREAM_PORT" 18191 18193 18195; do wait_for "$port"; done
varied_messages "$HOST_HEADER" 18193
varied_chat_script > "$WORK/varied.lua"

NAMES=(old new plain)
PORTS=(18191 18193 18195)
post_rounds "$ROUNDS" post fresh varied

echo
echo "Per round: old / plain, new / plain, new / old (median last)"
for kind in post fresh varied; do
    for pair in "old plain" "new plain" "new old"; do
        set -- $pair
        ratios="$(round_ratios "$1-$kind" "$2-$kind")"
        printf '%-6s %-10s %s   median %s\n' "$kind" "$1/$2" "$(echo $ratios)" "$(echo "$ratios" | median)"
    done
done

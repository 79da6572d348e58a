# Helpers shared by the benchmark scripts: sourced, not run.

need() {
    command -v "$1" >/dev/null 2>&1 && return
    install_package "$2"
}

# need_file FILE PACKAGE: installs PACKAGE when FILE is missing.
need_file() {
    [ -e "$1" ] || install_package "$2"
}

install_package() {
    echo "installing $1 from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

# prepare: installs nginx and wrk when missing, builds Rampart, and sets RAMPART, WORK (a temp
# dir removed at exit), RESULTS and PIDS (processes killed at exit).
prepare() {
    need nginx nginx-light
    need wrk wrk
    cargo build --release --quiet
    RAMPART="${CARGO_TARGET_DIR:-target}/release/rampart"
    WORK="$(mktemp -d)"
    RESULTS="$WORK/results.txt"
    PIDS=()
    trap cleanup EXIT
}

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}

# to_ms VALUE: wrk prints latencies as 812.00us, 1.23ms or 2.01s.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    }'
}

# wrk_run LABEL CONNS URL [wrk args...]: prints and appends "LABEL CONNS rps p50 p99" to $RESULTS.
wrk_run() {
    local label="$1" conns="$2" url="$3" threads=2
    shift 3
    [ "$conns" -eq 1 ] && threads=1
    local out
    out="$(wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency "$@" "$url")"
    if echo "$out" | grep -q "Non-2xx"; then
        echo "$label c$conns: non-2xx answers:" >&2; echo "$out" >&2; exit 1
    fi
    local rps p50 p99
    rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
    p50="$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")"
    p99="$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")"
    echo "$label $conns $rps $p50 $p99" >> "$RESULTS"
    printf '  %-16s c%-3s %10.0f rps  p50 %7.3f ms  p99 %7.3f ms\n' "$label" "$conns" "$rps" "$p50" "$p99"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# stat LABEL CONNS FIELD: the median of FIELD (3 rps, 4 p50, 5 p99) over the rounds.
stat() { awk -v l="$1" -v c="$2" -v f="$3" '$1==l && $2==c {print $f}' "$RESULTS" | median; }

# post_rounds ROUNDS KIND...: ROUNDS rounds of wrk -c64 with each KIND's script
# ($WORK/KIND.lua) against every server of the arrays NAMES and PORTS, in an order that rotates
# each round so that nobody always gets the warmer machine.
post_rounds() {
    local rounds="$1" round kind i j n="${#NAMES[@]}"
    shift
    for round in $(seq "$rounds"); do
        echo "round $round"
        for kind in "$@"; do
            for i in $(seq 0 $((n - 1))); do
                j=$(( (i + round) % n ))
                wrk_run "${NAMES[$j]}-$kind" 64 "http://127.0.0.1:${PORTS[$j]}/api/items?id=42" \
                    -H "Host: $HOST_HEADER" -s "$WORK/$kind.lua"
            done
        done
    done
}

# round_ratios LABEL-A LABEL-B: A's rps over B's in each round of $RESULTS, one per line.
round_ratios() {
    paste <(awk -v l="$1" '$1 == l {print $3}' "$RESULTS") \
        <(awk -v l="$2" '$1 == l {print $3}' "$RESULTS") | awk '{printf "%.3f\n", $1 / $2}'
}

# wait_for PORT: until something answers HTTP on 127.0.0.1:PORT.
wait_for() {
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return
        sleep 0.1
    done
    echo "nothing answers on port $1" >&2; exit 1
}

# wait_for_process PORT PID: until the server PID (slow to start: under valgrind, say) answers
# HTTP on 127.0.0.1:PORT; stops the run if it exits first, or is not up within a minute.
wait_for_process() {
    for _ in $(seq 300); do
        kill -0 "$2" 2>/dev/null || { echo "the server on port $1 exited" >&2; exit 1; }
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return
        sleep 0.2
    done
    echo "nothing answers on port $1" >&2; exit 1
}

# ports_free PORT...: stops the run when something already listens on one of the ports (a
# benchmark still running, a server left over): it, not the server this run starts, would
# answer the load, and the run would measure the wrong server.
ports_free() {
    local port
    for port in "$@"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "port $port is in use: stop what listens there (another benchmark?) first" >&2
            exit 1
        fi
    done
}

# shield_limits: the shield's two rate limits, which every request is counted against (set high
# enough that the benchmark itself is not refused).
shield_limits() {
    echo 'rate_limit = ["1000000/s burst 1000000", "100000000/min per route"]'
}

# shield_route MODE: the route settings of the whole shield, with the attack filter in MODE
# (block, detect or off): the limits of shield_limits and input rules. Bans are on by default.
shield_route() {
    cat <<TOML
$(shield_limits)
attack_filter = "$1"
[route.input]
content_types = ["application/json", "application/x-www-form-urlencoded"]
json_max_depth = 20
json_max_keys = 50
json_max_string_length = 4000
max_query_params = 50
max_header_length = 8192
TOML
}

# start_cost_configs PORT UPSTREAM_PORT: for the scripts that find what the shield costs, writes
# $WORK/plain.toml, checks.toml (limits and input rules, filter off) and shield.toml for a
# Rampart on PORT, the wrk scripts post.lua (a chat turn) and fresh.lua (all-new text), and
# starts the upstream on UPSTREAM_PORT.
start_cost_configs() {
    local port="$1" upstream="$2"
    ports_free "$port" $((port + 1)) "$upstream"
    upstream_conf "$WORK" "$upstream" > "$WORK/upstream.conf"
    rampart_conf "$WORK" "$port" $((port + 1)) "$upstream" 'attack_filter = "off"' \
        > "$WORK/plain.toml"
    rampart_conf "$WORK" "$port" $((port + 1)) "$upstream" "$(shield_route off)" \
        > "$WORK/checks.toml"
    rampart_conf "$WORK" "$port" $((port + 1)) "$upstream" "$(shield_route block)" \
        > "$WORK/shield.toml"
    chat_turn_script > "$WORK/post.lua"
    fresh_chat_script > "$WORK/fresh.lua"
    nginx -c "$WORK/upstream.conf" & PIDS+=($!)
    wait_for "$upstream"
}

# upstream_conf DIR PORT: a one-worker nginx answering every request with a short 200.
upstream_conf() {
    cat <<CONF
worker_processes 1;
daemon off;
pid $1/upstream.pid;
error_log $1/upstream-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$2;
        location / { return 200 '{"ok":true}'; }
    }
}
CONF
}

# nginx_proxy_conf DIR NAME PORT UPSTREAM_PORT [HTTP_DIRECTIVES] [MAIN_DIRECTIVES]: nginx as a
# reverse proxy with an upstream keep-alive pool; extra directives go into the http block and
# the main context (e.g. ModSecurity's rules and load_module).
nginx_proxy_conf() {
    cat <<CONF
worker_processes auto;
daemon off;
pid $1/$2.pid;
error_log $1/$2-error.log warn;
${6:-}
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    ${5:-}
    upstream app {
        server 127.0.0.1:$4;
        keepalive 256;
    }
    server {
        listen 127.0.0.1:$3;
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
}

# rampart_conf DIR PORT ADMIN_PORT UPSTREAM_PORT [ROUTE_KEYS]: Rampart as a reverse proxy on one
# public route (access log off, as nginx's); extra keys go into the route.
rampart_conf() {
    cat <<CONF
mode = "development"
data_dir = "$1/rampart-data-$2"
[listen]
address = "127.0.0.1:$2"
plaintext = true
[admin]
address = "127.0.0.1:$3"
[log]
level = "warn"
access_log = false
[[upstream]]
name = "app"
targets = ["http://127.0.0.1:$4"]
[[route]]
path = "/"
upstream = "app"
auth = "public"
${5:-}
CONF
}

# post_script: a wrk script sending a 1 KB JSON body shaped like a chat request: a few fields and
# two messages of ordinary English prose (apostrophes, numbers, punctuation), the kind of body
# the attack filter reads on an LLM route.
post_script() {
    cat <<'LUA'
wrk.method = "POST"
wrk.body = '{"model": "assistant-large", "temperature": 0.7, "max_tokens": 512, "stream": false, "user": "customer-4821", "messages": [{"role": "system", "content": "You are a helpful support assistant for an online shop. Answer briefly and politely, and never promise refunds that the policy does not allow."}, {"role": "user", "content": "Hi! I ordered two pairs of running shoes last Tuesday (order 55-1032) and only one arrived. The box looked fine, but the second pair wasn\'t inside. I\'ve already checked with my neighbours and the post office. Could you tell me whether the rest of the order was shipped separately, and if not, what my options are? I\'d prefer a replacement in size 42 rather than a refund, since the price has gone up by about 15% since then. Also, is it possible to change the delivery address to my office for the replacement? I\'m there from 9 to 5 on weekdays. Thanks a lot for your help, and sorry for the long message!"}]}'
wrk.headers["Content-Type"] = "application/json"
LUA
}

# counting_post_lua: the start of a wrk script POSTing JSON with a `counter` that is new in every
# request of every thread and run; the script that follows builds its bodies with it.
counting_post_lua() {
    cat <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- Each thread of each run counts from its own start (a million apart per second of the clock):
-- no body repeats an earlier one, in this run or in the runs before.
local threads = 0
setup = function(thread)
    threads = threads + 1
    thread:set("first", threads * 1e11 + (os.time() % 100000) * 1e6)
end
local counter = 0
init = function(args)
    counter = first
end
LUA
}

# chat_history_lua: a Lua line defining `history`, the start of a chat request's JSON up to the
# new user message's content: the fields, the system prompt and the conversation so far, which a
# chat client resends with every turn (chat_turn_script, varied_chat_script).
chat_history_lua() {
    cat <<'LUA'
local history = [[{"model": "assistant-large", "temperature": 0.7, "max_tokens": 512, "stream": false, "user": "customer-4821", "messages": [{"role": "system", "content": "You are a helpful support assistant for an online shop. Answer briefly and politely, and never promise refunds that the policy does not allow."}, {"role": "user", "content": "Hi! I ordered two pairs of running shoes last Tuesday and only one arrived. The box looked fine, but the second pair wasn't inside. Could you tell me whether the rest of the order was shipped separately?"}, {"role": "assistant", "content": "I'm sorry about that! I've checked your order: the second pair was sent in a separate parcel on Thursday, and it should arrive within 2-3 working days. You'll get a tracking link by e-mail (about 10 minutes from now)."}, {"role": "user", "content": ]]
LUA
}

# chat_turn_script: a wrk script sending the next turn of a chat, as chat clients do: the
# system prompt and the conversation so far (the same every time) and a new user message,
# different in every request (one of six questions with a fresh order number). About 1 KB.
chat_turn_script() {
    counting_post_lua
    chat_history_lua
    cat <<'LUA'
local head = history .. '"'
local questions = {
    "Thanks! Can I change the delivery address for order %d to my office? I'm there from 9 to 5 on weekdays.",
    "Great. If it doesn't fit, can I swap it for size 42 (order %d) or do I have to return it first?",
    "One more thing: I was charged twice for order %d, about 15%% more than the price shown. Could you check?",
    "OK, and what if the parcel for order %d doesn't show up by Monday? I'd rather not wait another week.",
    "Could you send the invoice for order %d to my colleague as well? She handles our team's expenses.",
    "Is it possible to add a second pair of socks to order %d before it ships, or is it too late now?",
}
local tail = [["}]}]]
request = function()
    counter = counter + 1
    local question = questions[counter % #questions + 1]:format(counter)
    return wrk.format(nil, nil, nil, head .. question .. tail)
end
LUA
}

# varied_messages HOST PORT...: the 1,617 prompts of the test corpus (ordinary questions and
# jailbreak attempts, 3 MB, a few words to 18 KB each) as JSON string literals, one per line,
# written to $WORK/messages.txt: the new messages of varied_chat_script. Only those that every
# shield on the PORTs lets through, with the ticket number added, are kept, so that every server
# reads the same messages and the benchmark (which stops at any answer but 200) runs: the route
# refuses a message over 4,000 characters, and ModSecurity refuses many ordinary prompts. Prints
# how many each shield refused.
varied_messages() {
    local host="$1" message port status
    shift
    local -A refused=()
    : > "$WORK/messages.txt"
    while IFS= read -r message; do
        local passed=1
        for port in "$@"; do
            status="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" \
                -H 'Content-Type: application/json' \
                --data-binary "{\"messages\": [{\"role\": \"user\", \"content\": ${message%\"} (ticket 100000000000)\"}]}" \
                "http://127.0.0.1:$port/api/items")"
            [ "$status" = 200 ] || { passed=0; refused[$port]=$(( ${refused[$port]:-0} + 1 )); }
        done
        [ "$passed" = 1 ] && echo "$message" >> "$WORK/messages.txt"
    done < <(cat tests/corpus/prompts/ordinary.jsonl tests/corpus/prompts/jailbreaks.jsonl |
        sed -n 's/^{"text": \(".*"\), "label".*$/\1/p')
    for port in "$@"; do
        echo "varied: the shield on port $port refused ${refused[$port]:-0} of the corpus prompts" >&2
    done
    echo "varied: $(wc -l < "$WORK/messages.txt") prompts pass every shield" >&2
    [ -s "$WORK/messages.txt" ] || { echo "no prompt passed every shield" >&2; exit 1; }
}

# varied_chat_script: the chat turn of chat_turn_script, whose new message is the next of
# $WORK/messages.txt (varied_messages) with a fresh ticket number. Where chat_turn_script's six
# questions repeat, these are 1,617 prompts of every kind and length, as a chat server reads
# them: the lazy DFA of the filter's rules meets states it has not built yet.
varied_chat_script() {
    counting_post_lua
    echo "local messages = {}"
    echo "for line in io.lines(\"$WORK/messages.txt\") do messages[#messages + 1] = line end"
    chat_history_lua
    cat <<'LUA'
local tail = [[}]}]]
request = function()
    counter = counter + 1
    local message = messages[counter % #messages + 1]
    local numbered = message:sub(1, -2) .. " (ticket " .. counter .. ")\""
    return wrk.format(nil, nil, nil, history .. numbered .. tail)
end
LUA
}

# fresh_chat_script: the worst case for the attack filter's cache of clean values: the body of
# post_script with a fresh number in both messages, so no text was ever seen before.
fresh_chat_script() {
    counting_post_lua
    cat <<'LUA'
local parts = {
    [[{"model": "assistant-large", "temperature": 0.7, "max_tokens": 512, "stream": false, "user": "customer-4821", "messages": [{"role": "system", "content": "Session ]],
    [[: you are a helpful support assistant for an online shop. Answer briefly and politely, and never promise refunds that the policy does not allow."}, {"role": "user", "content": "Hi! I ordered two pairs of running shoes last Tuesday (order ]],
    [[) and only one arrived. The box looked fine, but the second pair wasn't inside. I've already checked with my neighbours and the post office. Could you tell me whether the rest of the order was shipped separately, and if not, what my options are? I'd prefer a replacement in size 42 rather than a refund, since the price has gone up by about 15% since then. Also, is it possible to change the delivery address to my office for the replacement? I'm there from 9 to 5 on weekdays. Thanks a lot for your help, and sorry for the long message!"}]}]],
}
request = function()
    counter = counter + 1
    return wrk.format(nil, nil, nil, parts[1] .. counter .. parts[2] .. counter .. parts[3])
end
LUA
}

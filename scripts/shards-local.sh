#!/usr/bin/env bash
# scripts/shards-local.sh [N] [OUT_DIR]: the Kubernetes path of a sharded run, on one
# machine. One bench-server in a network namespace of its own; N generator shards, each
# in its own namespace with its own address (a veth pair to the server's namespace),
# each started through the Job's entrypoint (deploy/shard-entrypoint.sh) with
# JOB_COMPLETION_INDEX=I and one shared --start-at; then `bench-client merge`.
#
# Needs root and `ip` for the namespaces; without them (or when a namespace cannot be
# made) it says why and runs the same processes on loopback instead. Every namespace and
# process it made is removed on exit, failure and Ctrl-C included.
#
# Environment:
#   BENCH_CLIENT, BENCH_SERVER  the binaries (default: target/release/..., built if missing)
#   WIREBENCH_ARGS    the whole run's load (default: 20k req/s open loop, 16 connections,
#                     1s warm-up, 3s recorded)
#   WIREBENCH_LOOPBACK=1  skip the namespaces
#   START_DELAY_S     seconds from now to the common start (default 2)
# Prints the merged table; exits with the merge's code (0 complete, 1 partial), or 1 when
# a shard failed.
set -euo pipefail

n="${1:-4}"
out="${2:-$(mktemp -d /tmp/wirebench-shards.XXXXXX)}"
root="$(cd "$(dirname "$0")/.." && pwd)"
entry="$root/deploy/shard-entrypoint.sh"
case "$n" in '' | *[!0-9]*) echo "shards-local: N must be a number, not $n" >&2; exit 2 ;; esac
[ "$n" -ge 1 ] && [ "$n" -le 50 ] || { echo "shards-local: N must be 1..50" >&2; exit 2; }
mkdir -p "$out"

if [ -z "${BENCH_CLIENT:-}" ] || [ -z "${BENCH_SERVER:-}" ]; then
    (cd "$root" && cargo build --release --quiet -p bench-client -p bench-server)
fi
client="${BENCH_CLIENT:-$root/target/release/bench-client}"
server="${BENCH_SERVER:-$root/target/release/bench-server}"
args="${WIREBENCH_ARGS:-tcp-echo --rate 20000 --connections 16 --duration 3s --warmup 1s --threads 1}"

tag="wb$$"
made_ns=()
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    for ns in "${made_ns[@]}"; do ip netns delete "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# Runs "$@" in namespace $1 (or directly, on loopback: $1 empty), in place of the
# calling (background) subshell, so the pid the script keeps is the program's own and
# the cleanup's kill reaches it.
in_ns() {
    local ns="$1"
    shift
    if [ -n "$ns" ]; then exec ip netns exec "$ns" "$@"; else exec "$@"; fi
}

add_ns() {
    ip netns add "$1" && made_ns+=("$1") && ip -n "$1" link set lo up
}

# The server's namespace (its address on lo), one namespace per shard with a veth pair.
setup_namespaces() {
    add_ns "${tag}s" || return 1
    ip -n "${tag}s" addr add 10.250.0.1/32 dev lo || return 1
    for ((i = 0; i < n; i++)); do
        local g="${tag}g$i" net="10.250.$((i + 1))"
        add_ns "$g" || return 1
        ip link add "${tag}a$i" netns "${tag}s" type veth peer name "${tag}b$i" netns "$g" \
            || return 1
        ip -n "${tag}s" addr add "$net.1/24" dev "${tag}a$i"
        ip -n "$g" addr add "$net.2/24" dev "${tag}b$i"
        ip -n "${tag}s" link set "${tag}a$i" up
        ip -n "$g" link set "${tag}b$i" up
        ip -n "$g" route add default via "$net.1"
    done
}

mode=namespaces
why=""
if [ "${WIREBENCH_LOOPBACK:-0}" = 1 ]; then
    why="WIREBENCH_LOOPBACK=1"
elif [ "$(id -u)" -ne 0 ]; then
    why="not root"
elif ! command -v ip >/dev/null 2>&1; then
    why="no ip command"
elif ! setup_namespaces 2>"$out/netns.err"; then
    why="cannot create network namespaces: $(head -1 "$out/netns.err")"
fi
if [ -n "$why" ]; then
    mode=loopback
    for ns in "${made_ns[@]}"; do ip netns delete "$ns" 2>/dev/null || true; done
    made_ns=()
    echo "shards-local: $why; falling back to $n loopback processes (no namespaces)"
fi

server_ns=""
bind=127.0.0.1:0
if [ "$mode" = namespaces ]; then
    server_ns="${tag}s"
    bind=0.0.0.0:8081
fi
: >"$out/server.log"
in_ns "$server_ns" "$server" tcp-echo --bind "$bind" --threads 1 >"$out/server.log" 2>&1 &
pids+=("$!")
listening=""
for _ in $(seq 1 200); do
    listening="$(sed -n 's/^listening on tcp-echo //p' "$out/server.log" 2>/dev/null || true)"
    [ -n "$listening" ] && break
    kill -0 "${pids[0]}" 2>/dev/null || break
    sleep 0.05
done
[ -n "$listening" ] || { echo "shards-local: bench-server did not start:" >&2; cat "$out/server.log" >&2; exit 1; }
if [ "$mode" = namespaces ]; then target="10.250.0.1:${listening##*:}"; else target="$listening"; fi

start_at="$(date -u -d "+${START_DELAY_S:-2} seconds" +%Y-%m-%dT%H:%M:%S.%3NZ)"
run_id="local-$(date -u +%Y%m%dT%H%M%S)-$$"
echo "shards-local: $n shards ($mode) -> $target, run $run_id, start at $start_at"
echo "shards-local: load: $args; reports in $out"

shard_pids=()
for ((i = 0; i < n; i++)); do
    ns=""
    [ "$mode" = namespaces ] && ns="${tag}g$i"
    in_ns "$ns" env JOB_COMPLETION_INDEX="$i" WIREBENCH_SHARDS="$n" WIREBENCH_RUN_ID="$run_id" \
        WIREBENCH_START_AT="$start_at" WIREBENCH_TARGET="$target" WIREBENCH_ARGS="$args" \
        WIREBENCH_OUT="$out" BENCH_CLIENT="$client" sh "$entry" >"$out/shard-$i.log" 2>&1 &
    shard_pids+=("$!")
    pids+=("$!")
done
failed=0
for ((i = 0; i < n; i++)); do
    if ! wait "${shard_pids[$i]}"; then
        echo "shards-local: shard $i failed:" >&2
        tail -3 "$out/shard-$i.log" >&2
        failed=1
    fi
done

code=0
"$client" merge "$out"/shard-*.json --out "$out/merged.json" || code=$?
echo "shards-local: mode $mode; merged report $out/merged.json"
if [ "$failed" -ne 0 ] && [ "$code" -eq 0 ]; then code=1; fi
exit "$code"

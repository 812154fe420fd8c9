#!/usr/bin/env bash
# Measures the servers and the relay side by side, for docs/performance.md (issue 14's
# tables). Not part of CI: it takes ~15 minutes and wants a quiet machine.
#
#   scripts/engine-bench.sh servers   # req/s: per-core, async, threads (+ $TOKIO_ECHO), pinned
#   scripts/engine-bench.sh syscalls  # perf stat syscalls per request (server) / per chunk (relay)
#   scripts/engine-bench.sh relay     # relay vs haproxy and nginx (bench-client overhead)
#   scripts/engine-bench.sh scale     # 1k and 10k connections: req/s and server peak RSS (VmHWM)
#
# TOKIO_ECHO: path to a build of tokio's examples/echo.rs (built outside this repository;
# it is a peer to compare against, not part of wirebench). ROUNDS (default 5) alternating
# rounds per table; medians are printed. Needs perf (linux-perf), haproxy and nginx
# (libnginx-mod-stream) for their sections. Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
OUT=${OUT:-target/engine-bench}
mkdir -p "$OUT"
cargo build --release -q -p bench-server -p bench-client
SERVER=target/release/bench-server
CLIENT=target/release/bench-client
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME CMD...: starts a server in the background, waits until its port accepts.
# Sets STARTED_PID. The port is the last word of the command's address argument ($PORT).
start() {
  local log="$OUT/$1.log"; shift
  "$@" >"$log" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  for _ in $(seq 1 200); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$PORT),0.2)" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "server $* did not start; see $log" >&2; exit 1
}
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# json FIELD-EXPR < report: prints a value from a bench-client JSON report.
json() { python3 -c "import json,sys; r=json.load(sys.stdin); print($1)"; }
median() { python3 -c "import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(f'{statistics.median(v):.0f}')" "$@"; }

servers() {
  local kinds=(per-core async threads)
  [[ -n "${TOKIO_ECHO:-}" ]] && kinds+=(tokio)
  declare -A results
  for round in $(seq 1 "$ROUNDS"); do
    for kind in "${kinds[@]}"; do
      PORT=$(free_port)
      if [[ $kind == tokio ]]; then
        TOKIO_WORKER_THREADS=1 start "srv-$kind" taskset -c 0 "$TOKIO_ECHO" "127.0.0.1:$PORT"
      else
        start "srv-$kind" taskset -c 0 "$SERVER" tcp-echo --bind "127.0.0.1:$PORT" --model "$kind" --threads 1
      fi
      local pid=$STARTED_PID
      local rps
      rps=$(taskset -c 1 "$CLIENT" run tcp-echo --target "127.0.0.1:$PORT" --threads 1 \
        --connections 50 --size 512B --warmup 1s --duration 5s --json 2>/dev/null | json 'r["totals"]["requests_per_s"]')
      stop "$pid"
      results[$kind]+="$rps "
      echo "round $round $kind $rps req/s" >&2
    done
  done
  echo "| server (taskset -c 0, 1 thread) | req/s (median of $ROUNDS) | runs |"
  echo "|---|---|---|"
  for kind in "${kinds[@]}"; do
    # shellcheck disable=SC2086
    echo "| $kind | $(median ${results[$kind]}) | ${results[$kind]}|"
  done
}

PERF_EVENTS='syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_sendto,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendmsg,syscalls:sys_enter_splice,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_pwait2,syscalls:sys_enter_timerfd_settime,syscalls:sys_enter_futex'

# perf_during PID OUTFILE CMD...: counts PID's syscalls while CMD runs.
perf_during() {
  local pid=$1 out=$2; shift 2
  perf stat -x, -e "$PERF_EVENTS" -p "$pid" -o "$out" &
  local perf_pid=$!
  sleep 0.5
  "$@"
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
}

# per_unit PERFFILE COUNT: prints each syscall per unit.
per_unit() {
  python3 - "$1" "$2" <<'PY'
import sys
path, n = sys.argv[1], float(sys.argv[2])
for line in open(path):
    parts = line.strip().split(',')
    if len(parts) < 3 or not parts[2].startswith('syscalls:'):
        continue
    try:
        count = float(parts[0])
    except ValueError:
        continue
    name = parts[2].replace('syscalls:sys_enter_', '')
    if count:
        print(f"  {name:20} {count/n:8.3f} per unit ({count:.0f})")
PY
}

syscalls() {
  for model in per-core async; do
    PORT=$(free_port)
    start "sys-$model" "$SERVER" tcp-echo --bind "127.0.0.1:$PORT" --model "$model" --threads 1 --stats-json "$OUT/sys-$model.json"
    local pid=$STARTED_PID
    perf_during "$pid" "$OUT/sys-$model.perf" \
      "$CLIENT" run tcp-echo --target "127.0.0.1:$PORT" --connections 16 --size 64B --warmup 0s --duration 3s --json >/dev/null 2>&1
    stop "$pid"
    local n
    n=$(json 'r["endpoints"][0]["requests"]' <"$OUT/sys-$model.json")
    echo "server --model $model: $n requests"
    per_unit "$OUT/sys-$model.perf" "$n"
  done
  for model in per-core async; do
    local up px
    up=$(free_port); PORT=$up
    start "sys-up" "$SERVER" tcp-echo --bind "127.0.0.1:$up" --threads 1 --stats-json "$OUT/sys-up-$model.json"
    local up_pid=$STARTED_PID
    px=$(free_port); PORT=$px
    start "sys-relay-$model" "$SERVER" proxy --bind "127.0.0.1:$px" --upstream "127.0.0.1:$up" --model "$model" --stats-json "$OUT/sys-relay-$model.json"
    local pid=$STARTED_PID
    perf_during "$pid" "$OUT/sys-relay-$model.perf" \
      "$CLIENT" run tcp-echo --target "127.0.0.1:$px" --connections 16 --size 64B --warmup 0s --duration 3s --json >/dev/null 2>&1
    stop "$pid"; stop "$up_pid"
    # 64 B closed loop: each echoed request is one chunk each way through the relay.
    local chunks
    chunks=$(json '2 * r["endpoints"][0]["requests"]' <"$OUT/sys-up-$model.json")
    echo "relay --model $model: $chunks chunks (2 per request)"
    per_unit "$OUT/sys-relay-$model.perf" "$chunks"
  done
}

relay() {
  local up=7001 hp=8091 np=8092 rp
  PORT=$up; start relay-up "$SERVER" all --bind 127.0.0.1:$up
  PORT=$hp; start haproxy haproxy -f proxies/haproxy.cfg -db
  PORT=$np; start nginx nginx -c "$PWD/proxies/nginx.conf" -g 'daemon off;' -p "$OUT"
  rp=$(free_port); PORT=$rp
  start relay "$SERVER" proxy --bind "127.0.0.1:$rp" --upstream 127.0.0.1:$up
  for peer in "haproxy 127.0.0.1:$hp" "nginx 127.0.0.1:$np"; do
    set -- $peer
    echo "== relay vs $1, closed loop, 16 connections (ratio = relay / $1)"
    "$CLIENT" overhead --direct "$2" --proxied "127.0.0.1:$rp" --connections 16 --rounds "$ROUNDS" --out-dir "$OUT"
  done
  for proxy in "haproxy 127.0.0.1:$hp" "nginx 127.0.0.1:$np" "relay 127.0.0.1:$rp"; do
    set -- $proxy
    echo "== added latency of $1 at 20k req/s (16 connections)"
    "$CLIENT" overhead --direct 127.0.0.1:$up --proxied "$2" --connections 16 --rate 20000 --rounds "$ROUNDS" --out-dir "$OUT"
  done
}

scale() {
  for model in per-core async; do
    for conns in 1000 10000; do
      PORT=$(free_port)
      start "scale-$model" "$SERVER" tcp-echo --bind "127.0.0.1:$PORT" --model "$model"
      local pid=$STARTED_PID
      local rps
      rps=$("$CLIENT" run tcp-echo --target "127.0.0.1:$PORT" --connections "$conns" --size 64B --warmup 2s --duration 5s --json 2>/dev/null | json 'r["totals"]["requests_per_s"]')
      local rss
      rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")  # peak RSS: all connections open
      stop "$pid"
      echo "| $model | $conns | $rps | $rss KiB | $(python3 -c "print(round($rss*1024/$conns))") B/conn |"
    done
  done
}

for what in "${@:-servers syscalls relay scale}"; do
  for w in $what; do "$w"; done
done

#!/usr/bin/env bash
# Soak (issue 19): open-loop load through the relay, impairments on and off, for
# DURATION (default 1h), sampling the resident memory (VmRSS) and open descriptors of
# the server, both relays and the client every 10 s. Not part of CI.
#
#   scripts/soak.sh 30m            # prints the table; files in target/soak/
#   RATE=2000 PHASE=60 scripts/soak.sh 1h
#
# One `bench-server all` (tcp-echo and udp-echo), one plain TCP relay, one UDP relay
# with `--impair up:loss=1% --impair down:dup=1%`, and one TCP relay that shapes
# (`up:latency=2ms`, `down:jitter=1ms`, `down:rate=50Mbit`, `up:slice=16B`: its queues
# and timers are what could leak). The client takes PHASE-second open-loop runs in
# turn: tcp-echo through the plain relay ("off"), udp-echo through the impairing one
# ("udp"), tcp-echo through the shaping one ("tcp"). A leak shows as a column that
# keeps growing across phases.
# Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-1h}
RATE=${RATE:-2000}
PHASE=${PHASE:-60}
OUT=${OUT:-target/soak}
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.json
cargo build --release -q -p bench-server -p bench-client
SERVER=target/release/bench-server
CLIENT=target/release/bench-client

# DURATION in seconds: 90, 90s, 30m, 1h.
seconds() {
  case "$1" in
    *h) echo $(( ${1%h} * 3600 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
TOTAL=$(seconds "$DURATION")

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do kill -INT "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# start NAME CMD...: runs CMD in the background, logging to $OUT/NAME.log, and waits
# (at most 10 s) for its `listening on` lines. Sets STARTED_PID.
start() {
  local log="$OUT/$1.log"; shift
  "$@" >"$log" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  for _ in $(seq 1 200); do
    grep -q "listening on" "$log" && return 0
    sleep 0.05
  done
  echo "soak: $* did not start; see $log" >&2
  exit 1
}

# The address on the `listening on PROTO ADDR` line of log NAME for PROTO.
addr_of() { grep "listening on $2 " "$OUT/$1.log" | head -1 | awk '{print $NF}'; }

start server "$SERVER" all --bind 127.0.0.1:0 --threads 1
SERVER_PID=$STARTED_PID
TCP_UP=$(addr_of server tcp-echo)
UDP_UP=$(addr_of server udp-echo)
start relay-off "$SERVER" proxy --proto tcp --upstream "$TCP_UP" --bind 127.0.0.1:0 \
  --threads 1 --stats-json "$OUT/relay-off.json"
OFF_PID=$STARTED_PID
start relay-on "$SERVER" proxy --proto udp --upstream "$UDP_UP" --bind 127.0.0.1:0 \
  --threads 1 --seed 1 --impair up:loss=1% --impair down:dup=1% \
  --stats-json "$OUT/relay-on.json"
ON_PID=$STARTED_PID
start relay-shaped "$SERVER" proxy --proto tcp --upstream "$TCP_UP" --bind 127.0.0.1:0 \
  --threads 1 --seed 1 --impair up:latency=2ms --impair down:jitter=1ms \
  --impair down:rate=50Mbit --impair up:slice=16B --stats-json "$OUT/relay-shaped.json"
SHAPED_PID=$STARTED_PID
OFF_ADDR=$(addr_of relay-off proxy-tcp)
ON_ADDR=$(addr_of relay-on proxy-udp)
SHAPED_ADDR=$(addr_of relay-shaped proxy-tcp)

# "RSS_KiB/fds" of a process, "-" once it is gone.
sample() {
  local pid=$1
  if [ -d "/proc/$pid" ]; then
    local rss fds
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "?")
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    echo "$rss/$fds"
  else
    echo "-"
  fi
}

START=$(date +%s)
PHASE_N=0
CLIENT_PID=""
printf '%6s %-5s %-14s %-14s %-14s %-14s %-14s\n' "t_s" "imp" "server" "relay_off" "relay_on" \
  "relay_shaped" "client" | tee "$OUT/table.txt"
printf '%6s %-5s %-14s %-14s %-14s %-14s %-14s\n' "" "" "KiB/fds" "KiB/fds" "KiB/fds" "KiB/fds" \
  "KiB/fds" | tee -a "$OUT/table.txt"
while :; do
  now=$(date +%s)
  elapsed=$(( now - START ))
  [ "$elapsed" -ge "$TOTAL" ] && break
  if [ -z "$CLIENT_PID" ] || ! kill -0 "$CLIENT_PID" 2>/dev/null; then
    left=$(( TOTAL - elapsed ))
    len=$(( left < PHASE ? left : PHASE ))
    [ "$len" -lt 2 ] && break
    PHASE_N=$(( PHASE_N + 1 ))
    case $(( PHASE_N % 3 )) in
    1)
      MODE=off
      "$CLIENT" run tcp-echo --target "$OFF_ADDR" --connections 8 --rate "$RATE" \
        --duration "${len}s" --out "$OUT/run-$PHASE_N-off.json" >"$OUT/run-$PHASE_N.log" 2>&1 &
      ;;
    2)
      MODE=udp
      "$CLIENT" run udp-echo --target "$ON_ADDR" --connections 8 --rate "$RATE" \
        --duration "${len}s" --out "$OUT/run-$PHASE_N-udp.json" >"$OUT/run-$PHASE_N.log" 2>&1 &
      ;;
    *)
      MODE=tcp
      "$CLIENT" run tcp-echo --target "$SHAPED_ADDR" --connections 8 --rate "$RATE" \
        --duration "${len}s" --out "$OUT/run-$PHASE_N-tcp.json" >"$OUT/run-$PHASE_N.log" 2>&1 &
      ;;
    esac
    CLIENT_PID=$!
    sleep 1
  fi
  printf '%6s %-5s %-14s %-14s %-14s %-14s %-14s\n' "$elapsed" "$MODE" "$(sample "$SERVER_PID")" \
    "$(sample "$OFF_PID")" "$(sample "$ON_PID")" "$(sample "$SHAPED_PID")" "$(sample "$CLIENT_PID")" \
    | tee -a "$OUT/table.txt"
  sleep 10
done
[ -n "$CLIENT_PID" ] && wait "$CLIENT_PID" 2>/dev/null || true
cleanup
PIDS=()

echo
echo "phases: $PHASE_N of up to ${PHASE}s at $RATE req/s; reports in $OUT/run-*.json"
for f in "$OUT"/relay-off.json "$OUT"/relay-on.json "$OUT"/relay-shaped.json; do
  [ -f "$f" ] && python3 - "$f" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
errs = {k: v for k, v in s["errors"].items() if v}
print(f'{sys.argv[1]}: {s["proto"]} connections={s["connections"]} '
      f'datagrams up/down={s["datagrams_to_upstream"]}/{s["datagrams_to_client"]} '
      f'impaired={s.get("impaired")} errors={errs}')
PY
done
python3 - "$OUT" <<'PY'
import glob, json, sys
ok = req = err = lost = dup = 0
for f in sorted(glob.glob(sys.argv[1] + "/run-*.json")):
    r = json.load(open(f))
    t = r["totals"]
    req += t["requests"]; ok += t["ok"]; err += t["error_count"]
    u = r.get("udp") or {}
    lost += u.get("lost", 0); dup += u.get("duplicated", 0)
print(f"client: {req} requests, {ok} ok, {err} errors; udp lost {lost}, duplicated {dup}")
PY

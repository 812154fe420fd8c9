#!/bin/sh
# The one entrypoint of a wirebench generator shard: the Kubernetes Indexed Job runs it in
# every pod (as /usr/local/bin/wirebench-shard), and scripts/shards-local.sh runs the same
# file in every network namespace, so the local proof exercises the Job's exact path.
#
# Kubernetes sets JOB_COMPLETION_INDEX; everything else comes from the Job's env values:
#   WIREBENCH_SHARDS    N, the Job's completions (= parallelism)
#   WIREBENCH_RUN_ID    the run id, the same for every shard (set when the Job is created)
#   WIREBENCH_START_AT  the common start, RFC 3339 UTC (set when the Job is created)
#   WIREBENCH_TARGET    host:port of the server under test
#   WIREBENCH_ARGS      the workload and the whole run's load, e.g.
#                       "tcp-echo --rate 20000 --connections 16 --duration 30s"
#   WIREBENCH_OUT       a folder for shard-I.json (a shared volume), or - for the report
#                       as JSON on stdout (--json; collect it with kubectl logs)
#   WIREBENCH_START_TOLERANCE  optional, default 1s
#   BENCH_CLIENT        optional, the binary (default: bench-client on PATH)
set -eu

: "${JOB_COMPLETION_INDEX:?is not set (an Indexed Job sets it)}"
: "${WIREBENCH_SHARDS:?is not set}"
: "${WIREBENCH_RUN_ID:?is not set}"
: "${WIREBENCH_START_AT:?is not set}"
: "${WIREBENCH_TARGET:?is not set}"
: "${WIREBENCH_ARGS:?is not set}"
out="${WIREBENCH_OUT:-/reports}"

if [ "$out" = "-" ]; then
    set -- --json
else
    set -- --out "$out/shard-$JOB_COMPLETION_INDEX.json"
fi

# WIREBENCH_ARGS is a list of flags: split on purpose.
# shellcheck disable=SC2086
exec "${BENCH_CLIENT:-bench-client}" run $WIREBENCH_ARGS \
    --target "$WIREBENCH_TARGET" \
    --shard "auto/$WIREBENCH_SHARDS" \
    --run-id "$WIREBENCH_RUN_ID" \
    --start-at "$WIREBENCH_START_AT" \
    --start-tolerance "${WIREBENCH_START_TOLERANCE:-1s}" \
    "$@"

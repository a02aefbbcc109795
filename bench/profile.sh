#!/usr/bin/env bash
# CPU profiles of the broker (and of lb bench, the client) under each
# workload: cmd/broker serves /debug/pprof on --metrics-addr; each profile
# covers PROFILE_SECS of the workload's steady state. Prints `go tool pprof
# -top` of each and keeps the profiles under $BENCH_DIR/profiles.
#   bench/profile.sh [produce] [consume-batches] [consume-entries] [latency]
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
. "$HERE/lib.sh"

PORT="${LB_PORT:-19192}"; MPORT="${LB_METRICS_PORT:-19193}"
FSYNC="${FSYNC:-never}"
SECS="${PROFILE_SECS:-5}"
OUT="$BENCH_DIR/profiles"; mkdir -p "$OUT"
LB="$TOOLS/bin/lb"; BROKER="$TOOLS/bin/logbroker"
WORKLOADS=("$@"); [ ${#WORKLOADS[@]} -gt 0 ] || WORKLOADS=(produce consume-batches consume-entries latency)
(cd "$ROOT" && go build -o "$LB" ./cmd/lb && go build -o "$BROKER" ./cmd/broker) || exit 1

dir="$BENCH_DIR/data/profile"; rm -rf "$dir"; mkdir -p "$dir"
start_bg logbroker-profile "$BROKER" --addr "127.0.0.1:$PORT" --kafka-addr "" --metrics-addr "127.0.0.1:$MPORT" \
  --data-dir "$dir" --fsync "$FSYNC" --log-level warn
BPID=$LAST_PID
wait_port "$PORT" 30 || exit 1
lb() { run_bounded 600 "$LB" --addr "127.0.0.1:$PORT" --timeout 60s bench --quiet --broker-pid "$BPID" "$@"; }

# profile NAME ARGS... : run lb bench ARGS, profiling the broker from 1 s in.
profile() {
  local name="$1"; shift
  lb "$@" --cpuprofile "$OUT/$name-client.prof" >"$OUT/$name.txt" 2>&1 &
  local pid=$!
  sleep 1
  curl -s -o "$OUT/$name-broker.prof" "http://127.0.0.1:$MPORT/debug/pprof/profile?seconds=$SECS"
  wait "$pid"
  cat "$OUT/$name.txt"
  echo "== broker: $name (fsync $FSYNC)"
  go tool pprof -top -nodecount=25 "$BROKER" "$OUT/$name-broker.prof" 2>/dev/null | sed -n '4,32p'
  echo "== broker, cumulative: $name"
  go tool pprof -top -cum -nodecount=40 "$BROKER" "$OUT/$name-broker.prof" 2>/dev/null | sed -n '6,47p'
  echo "== client (lb bench): $name"
  go tool pprof -top -nodecount=12 "$LB" "$OUT/$name-client.prof" 2>/dev/null | sed -n '4,19p'
}

for w in "${WORKLOADS[@]}"; do
  case "$w" in
    produce) profile produce produce --topic prof --record-size 100 --batch 1000 --producers 2 --duration $((SECS + 3))s ;;
    consume-batches) profile consume-batches consume --topic prof --consume-api batches --records 2000000 ;;
    consume-entries) profile consume-entries consume --topic prof --consume-api entries --records 2000000 ;;
    latency) profile latency latency --topic proflat --rate "${RATE:-5000}" --duration $((SECS + 3))s --warmup 1s ;;
    *) log "unknown workload $w"; exit 2 ;;
  esac
done
stop_pid "$BPID"
rm -rf "$dir"

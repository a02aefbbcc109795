#!/usr/bin/env bash
# LogBroker: cmd/broker on 127.0.0.1, measured with `lb bench`.
#   bench/logbroker.sh setup   build cmd/broker and cmd/lb
#   bench/logbroker.sh run     one run of every workload (RUN, RESULTS from peers.sh)
# Workloads (the same as the peers'): produce 100 B and 1 KiB in requests of
# 1,000 records to one partition, acks leader, with --fsync never and always;
# catch-up consume of the 100 B topic through ConsumeBatches and Consume;
# open-loop live-tail latency at LAT_RATES records/s, one record per request
# (unary Produce calls, and at 10,000/s also ProduceStream messages);
# with SCALE=1, produce over 1, 8, 64 and 1,024 partitions; with INFLIGHT=1,
# produce 100 B with 1, 2, 4 and 8 requests in flight (producers), under
# --fsync never and always, for the cost of a sync per request against depth.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
. "$HERE/lib.sh"

PORT="${LB_PORT:-19192}"
LB="$TOOLS/bin/lb"; BROKER="$TOOLS/bin/logbroker"
PRODUCERS="${LB_PRODUCERS:-2}"
if [ "${QUICK:-0}" = 1 ]; then
  N_100=500000; N_1K=100000; N_SCALE=200000; LAT_SECS=5s; WARM=1s
else
  N_100="${N_100:-3000000}"; N_1K="${N_1K:-500000}"; N_SCALE="${N_SCALE:-2000000}"; LAT_SECS="${LAT_SECS:-15s}"; WARM=3s
fi
LAT_RATES="${LAT_RATES:-10000 1000}"
DEPTHS="${DEPTHS:-1 2 4 8}"
OUT="$BENCH_DIR/results/logbroker"; mkdir -p "$OUT"

setup() {
  command -v jq >/dev/null || apt-get install -y -qq jq >/dev/null || return 1
  (cd "$ROOT" && go build -o "$LB" ./cmd/lb && go build -o "$BROKER" ./cmd/broker) || return 1
  "$BROKER" --version | head -1
}

# start_broker FSYNC : a fresh data directory; sets BPID.
start_broker() {
  local dir="$BENCH_DIR/data/logbroker-$1"
  rm -rf "$dir"; mkdir -p "$dir"
  start_bg "logbroker-$1" "$BROKER" --addr "127.0.0.1:$PORT" --data-dir "$dir" --fsync "$1" --log-level warn --kafka-addr ""
  BPID=$LAST_PID
  wait_port "$PORT" 30
}

# bench TAG ARGS... : one bounded lb bench --json run, saved as $OUT/TAG-runN.json
bench() {
  local tag="$1"; shift
  local f="$OUT/$tag-run${RUN:-1}.json"
  run_bounded 900 "$LB" --addr "127.0.0.1:$PORT" --timeout 60s bench --json --quiet --broker-pid "$BPID" "$@" >"$f" 2>"$OUT/$tag.err" ||
    { log "lb bench $tag failed: $(tail -2 "$OUT/$tag.err")"; return 1; }
  log "$tag: $(jq -r '.results[] | "\(.name) \(.records_per_sec|floor)/s p50=\(.latency.p50_us // "-") p99=\(.latency.p99_us // "-")"' "$f" | tr '\n' ';')"
}

# emit_result WORKLOAD FILE NAME : records/s, MB/s, latency and broker usage of one result
emit_result() {
  local w="$1" f="$2" name="$3"
  local q=".results[] | select(.name == \"$name\")"
  emit logbroker "$w" records_per_sec "$(jq -r "$q | .records_per_sec" "$f")"
  emit logbroker "$w" mb_per_sec "$(jq -r "$q | .mb_per_sec" "$f")"
  emit logbroker "$w" broker_cpu_s_per_m "$(jq -r "$q | .broker.cpu_seconds_per_million_records // empty" "$f")"
  emit logbroker "$w" client_cpu_s "$(jq -r "$q | .client_cpu_seconds" "$f")"
  emit logbroker "$w" rss_mib "$(jq -r "$q | .broker.rss_max_mib // empty" "$f")"
  emit logbroker "$w" errors "$(jq -r "$q | .errors" "$f")"
  if [ "$(jq -r "$q | .latency.count // 0" "$f")" != 0 ]; then
    for p in p50 p99 p99_9 max; do
      emit logbroker "$w" "${p}_us" "$(jq -r "$q | .latency.${p}_us" "$f")"
    done
  fi
  if [ "$(jq -r "$q | .from_send.count // 0" "$f")" != 0 ]; then
    for p in p50 p99 p99_9; do
      emit logbroker "$w" "from_send_${p}_us" "$(jq -r "$q | .from_send.${p}_us" "$f")"
      emit logbroker "$w" "send_lag_${p}_us" "$(jq -r "$q | .send_lag.${p}_us" "$f")"
    done
  fi
}

# latency_stream SUFFIX : the latency run at 10,000/s with each record a
# message of a ProduceStream, as workload latency-stream-10000SUFFIX.
latency_stream() {
  local tag="latency-stream-10000$1"
  bench "$tag" latency --topic lat --rate 10000 --produce-rpc stream --duration "$LAT_SECS" --warmup "$WARM" &&
    emit_result "$tag" "$OUT/$tag-run$RUN.json" "$(jq -r '.results[0].name' "$OUT/$tag-run$RUN.json")"
}

# inflight TAG : with INFLIGHT=1, produce 100 B with each of DEPTHS requests
# in flight, as workloads produce-100B-TAG<depth>.
inflight() {
  local n
  for n in $DEPTHS; do
    bench "inflight-$1$n" produce --topic "inflight$n" --record-size 100 --batch 1000 --producers "$n" --records "$N_100" --duration 60s &&
      emit_result "produce-100B-$1$n" "$OUT/inflight-$1$n-run$RUN.json" produce
  done
}

run() {
  # --fsync never
  start_broker never || return 1
  bench produce-100B produce --topic t100 --record-size 100 --batch 1000 --producers "$PRODUCERS" --records "$N_100" --duration 60s &&
    emit_result produce-100B "$OUT/produce-100B-run$RUN.json" produce
  bench consume-100B consume --topic t100 &&
    { emit_result consume-100B-batches "$OUT/consume-100B-run$RUN.json" consume-batches
      emit_result consume-100B-entries "$OUT/consume-100B-run$RUN.json" consume-entries; }
  bench produce-1KiB produce --topic t1k --record-size 1024 --batch 1000 --producers "$PRODUCERS" --records "$N_1K" --duration 60s &&
    emit_result produce-1KiB "$OUT/produce-1KiB-run$RUN.json" produce
  for rate in $LAT_RATES; do
    bench "latency-$rate" latency --topic lat --rate "$rate" --duration "$LAT_SECS" --warmup "$WARM" &&
      emit_result "latency-$rate" "$OUT/latency-$rate-run$RUN.json" "$(jq -r '.results[0].name' "$OUT/latency-$rate-run$RUN.json")"
  done
  latency_stream ""
  if [ "${SCALE:-1}" = 1 ]; then
    for p in 1 8 64 1024; do
      bench "scale-p$p" produce --topic "scale$p" --partitions "$p" --record-size 100 --batch 1000 --producers "$PRODUCERS" --records "$N_SCALE" --duration 60s &&
        emit_result "produce-100B-p$p" "$OUT/scale-p$p-run$RUN.json" produce
    done
  fi
  emit logbroker broker rss_peak_mib "$(awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$BPID/status")"
  stop_pid "$BPID"

  # --fsync always
  start_broker always || return 1
  bench produce-100B-always produce --topic t100 --record-size 100 --batch 1000 --producers "$PRODUCERS" --records "$N_100" --duration 30s &&
    emit_result produce-100B-always "$OUT/produce-100B-always-run$RUN.json" produce
  for rate in $LAT_RATES; do
    bench "latency-$rate-always" latency --topic lat --rate "$rate" --duration "$LAT_SECS" --warmup "$WARM" &&
      emit_result "latency-$rate-always" "$OUT/latency-$rate-always-run$RUN.json" "$(jq -r '.results[0].name' "$OUT/latency-$rate-always-run$RUN.json")"
  done
  latency_stream -always
  stop_pid "$BPID"
  rm -rf "$BENCH_DIR/data/logbroker-never" "$BENCH_DIR/data/logbroker-always"

  # The in-flight curve, each mode on a fresh broker of its own.
  if [ "${INFLIGHT:-1}" = 1 ]; then
    start_broker never || return 1
    inflight f
    stop_pid "$BPID"
    start_broker always || return 1
    inflight always-f
    stop_pid "$BPID"
    rm -rf "$BENCH_DIR/data/logbroker-never" "$BENCH_DIR/data/logbroker-always"
  fi
}

case "${1:-}" in
  setup) setup ;;
  run) run ;;
  *) echo "usage: $0 setup|run" >&2; exit 2 ;;
esac

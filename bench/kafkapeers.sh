#!/usr/bin/env bash
# Kafka's own tools against LogBroker's Kafka listener and against Apache
# Kafka 4.4 (one KRaft node), in one run (issue 14).
#
#   bench/kafkapeers.sh [logbroker] [kafka]
#
# The same jars (kafka-tools 4.4 from Maven Central, fetched by
# bench/kafka.sh setup) and the same command lines against both brokers:
# ProducerPerformance of 100 B and 1 KiB records with acks=1 and acks=all,
# then ConsumerPerformance of what the acks=1 run produced. Producer
# settings for both: batch.size=131072 linger.ms=10, the client's defaults
# otherwise, so acks=all runs are idempotent (enable.idempotence defaults to
# true) and acks=1 runs are not (the Java client turns idempotence off when
# acks is not all, and refuses enable.idempotence=true with acks=1).
#
# Each run starts each broker afresh, in turn (alternating, so slow drift of
# a shared machine spreads over both), warms it up with N_WARM records of
# 100 B (half acks=1, half acks=all, then all of them consumed; Kafka's JVM
# needs about 16M records to reach its best on a 2-core machine), then runs
# the counted workloads. Against LogBroker it also measures the same 100 B
# produce through its own gRPC API (`lb bench produce`, batches of 1,000)
# and, for both, franz-go (bench/franzbench, kgo) producing and consuming as
# fast as it can. Broker CPU comes from /proc/PID/stat around every
# workload. Every broker and every tool runs in a session of its own
# (setsid): this kernel shares CPU between sessions (autogroup), so a tool in
# the script's session would otherwise be weighed against the broker.
#
# Results go to $BENCH_DIR/results/results-STAMP.tsv (the format of
# bench/lib.sh emit; workloads kperf-*, grpc-*, franz-*), and bench/report
# -kafka prints the issue-14 table and writes $CHARTS/kafka-table.md.
#
# Environment:
#   RUNS=3           runs per system (the table shows medians)
#   QUICK=1          small counts: a smoke test of the script
#   N_WARM, N_100, N_1K, N_GRPC, N_FRANZ   record counts (see below)
#   CHARTS=$BENCH_DIR/results   where the report writes kafka-table.md
#   PROFILE="WORKLOAD ..."  a CPU profile of LogBroker during each WORKLOAD
#                    (e.g. kperf-consume-100B), PROFILE_SECS long (10), into
#                    results/kafkapeers/WORKLOAD-runN.pprof
#   FRANZ=0          leave franz-go out
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
. "$HERE/lib.sh"

RUNS="${RUNS:-3}"
CHARTS="${CHARTS:-$BENCH_DIR/results}"
SYSTEMS=("$@")
[ ${#SYSTEMS[@]} -gt 0 ] || SYSTEMS=(logbroker kafka)
if [ "${QUICK:-0}" = 1 ]; then
  N_WARM=1000000; N_100=500000; N_1K=100000; N_GRPC=500000; N_FRANZ=500000
else
  # Counted runs long enough that Kafka's broker is at its best in them:
  # with 5M records of 100 B it was still getting cheaper (0.31 broker CPU s
  # per million against 0.18-0.21 with 20M).
  N_WARM="${N_WARM:-16000000}"; N_100="${N_100:-20000000}"; N_1K="${N_1K:-3000000}"
  N_GRPC="${N_GRPC:-20000000}"; N_FRANZ="${N_FRANZ:-20000000}"
fi
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
JAVA="${JAVA:-java}"
BROKER_HEAP="${BROKER_HEAP:--Xms1g -Xmx1g}"
TOOL_HEAP="${TOOL_HEAP:--Xms512m -Xmx512m}"
KPORT="${KAFKA_PORT:-19092}"; KCPORT="${KAFKA_CONTROLLER_PORT:-19093}"
LBPORT="${LB_KAFKA_PORT:-19094}"; LBGRPC="${LB_PORT:-19192}"; LBMETRICS="${LB_METRICS_PORT:-19195}"
K="$TOOLS/kafka"; LIBS="$K/libs"; OUT="$BENCH_DIR/results/kafkapeers"
LB="$TOOLS/bin/lb"; BROKER="$TOOLS/bin/logbroker"; FRANZ_BIN="$TOOLS/bin/franzbench"
PRODUCER_PROPS=(batch.size=131072 linger.ms=10)
mkdir -p "$OUT"
STAMP="$(date +%Y%m%d-%H%M%S)"
export RESULTS="$BENCH_DIR/results/results-$STAMP.tsv"
: >"$RESULTS"

# ---- brokers -------------------------------------------------------------

# start_logbroker : cmd/broker with the Kafka listener, gRPC beside it, in a
# session of its own; sets BPID and BS (the bootstrap address).
start_logbroker() {
  local dir="$BENCH_DIR/data/kafkapeers-logbroker"
  rm -rf "$dir"; mkdir -p "$dir"
  start_bg kafkapeers-logbroker setsid "$BROKER" --addr "127.0.0.1:$LBGRPC" --kafka-addr "127.0.0.1:$LBPORT" \
    --metrics-addr "127.0.0.1:$LBMETRICS" --data-dir "$dir" --fsync never --log-level warn \
    --group-initial-rebalance-delay 0
  BPID=$LAST_PID; BS="127.0.0.1:$LBPORT"
  wait_port "$LBPORT" 30
}

# start_kafka : one KRaft node, as bench/kafka.sh starts it, in a session of
# its own; sets BPID and BS.
start_kafka() {
  local data="$BENCH_DIR/data/kafkapeers-kafka"
  rm -rf "$data"; mkdir -p "$data"
  kafka_props "$data" "$KPORT" "$KCPORT" >"$K/kafkapeers.properties"
  local cid
  cid=$("$JAVA" $TOOL_HEAP -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  "$JAVA" $TOOL_HEAP -cp "$LIBS/*" kafka.tools.StorageTool format -t "$cid" -c "$K/kafkapeers.properties" >"$OUT/format.txt" 2>&1 ||
    { cat "$OUT/format.txt"; return 1; }
  start_bg kafkapeers-kafka setsid "$JAVA" $BROKER_HEAP -XX:+UseG1GC -cp "$LIBS/*" kafka.Kafka "$K/kafkapeers.properties"
  BPID=$LAST_PID; BS="127.0.0.1:$KPORT"
  wait_port "$KPORT" 120 || return 1
  sleep 3
}

# ---- workloads -----------------------------------------------------------

cpu_ticks() { awk '{print $14+$15}' "/proc/$BPID/stat"; }
per_million() { awk -v d="$1" -v n="$2" 'BEGIN{print d/100/(n/1e6)}'; }   # ticks
per_million_s() { awk -v d="$1" -v n="$2" 'BEGIN{print d/(n/1e6)}'; }       # seconds

# child_cpu : sets CHILD_CPU to the CPU seconds (user + system) of this
# shell's waited-for descendants so far; a tool's own CPU is the difference
# around it. Call it directly: times in a subshell ($(...), a pipeline)
# sees that subshell's children, not these.
child_cpu() {
  times >"$OUT/.times"
  CHILD_CPU=$(tail -1 "$OUT/.times" | awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } print s }')
}

# profile_start WORKLOAD : with WORKLOAD among PROFILE's words, on LogBroker,
# a CPU profile of the broker in the background while the workload runs
# (profile_wait waits for it, so the next workload stays out of it).
profile_start() {
  PROF_PID=""
  [ "$SYS" = logbroker ] && [[ " ${PROFILE:-} " == *" $1 "* ]] || return 0
  curl -s -o "$OUT/$1-run$RUN.pprof" "http://127.0.0.1:$LBMETRICS/debug/pprof/profile?seconds=${PROFILE_SECS:-10}" &
  PROF_PID=$!
}
profile_wait() { [ -z "$PROF_PID" ] || wait "$PROF_PID"; }

topic() { # NAME : one partition, through Kafka's own TopicCommand
  run_bounded 60 setsid "$JAVA" -Xmx256m -cp "$LIBS/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$BS" --create --topic "$1" --partitions 1 --replication-factor 1 >"$OUT/topic-$1.txt" 2>&1 ||
    { log "$SYS: creating topic $1 failed: $(tail -3 "$OUT/topic-$1.txt")"; return 1; }
}

# produce WORKLOAD TOPIC N SIZE ACKS : ProducerPerformance, the same command
# line for both brokers.
produce() {
  local w="$1" f="$OUT/$SYS-$1-run$RUN.txt" c0 c1 t0 t1 line rate
  profile_start "$w"
  child_cpu; t0=$CHILD_CPU; c0=$(cpu_ticks)
  run_bounded 900 setsid "$JAVA" $TOOL_HEAP -cp "$LIBS/*" org.apache.kafka.tools.ProducerPerformance \
    --bootstrap-server "$BS" --topic "$2" --num-records "$3" --record-size "$4" --throughput -1 \
    --producer-props acks="$5" "${PRODUCER_PROPS[@]}" >"$f" 2>&1
  c1=$(cpu_ticks); child_cpu; t1=$CHILD_CPU
  profile_wait
  line=$(grep -E "^$3 records sent" "$f" | tail -1)
  [ -n "$line" ] || { log "$SYS $w: no summary; $(tail -3 "$f")"; return 1; }
  log "$SYS $w: $line"
  rate=$(sed -n 's/.* sent, \([0-9.]*\) records\/sec.*/\1/p' <<<"$line")
  emit "$SYS" "$w" records_per_sec "$rate"
  emit "$SYS" "$w" mb_per_sec "$(awk -v r="$rate" -v n="$4" 'BEGIN{print r*n/1e6}')"
  emit "$SYS" "$w" broker_cpu_s_per_m "$(per_million $((c1 - c0)) "$3")"
  emit "$SYS" "$w" client_cpu_s_per_m "$(per_million_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" "$3")"
  # The tool's latencies are whole milliseconds per record, send to ack.
  emit "$SYS" "$w" p50_us "$(sed -n 's/.*, \([0-9]*\) ms 50th.*/\1/p' <<<"$line" | awk '{print $1*1000}')"
  emit "$SYS" "$w" p99_us "$(sed -n 's/.*, \([0-9]*\) ms 99th.*/\1/p' <<<"$line" | awk '{print $1*1000}')"
}

# consume WORKLOAD TOPIC N SIZE : ConsumerPerformance from the beginning.
consume() {
  local w="$1" f="$OUT/$SYS-$1-run$RUN.txt" c0 c1 t0 t1 line
  profile_start "$w"
  c0=$(cpu_ticks)
  child_cpu; t0=$CHILD_CPU
  run_bounded 900 setsid "$JAVA" $TOOL_HEAP -cp "$LIBS/*" org.apache.kafka.tools.ConsumerPerformance \
    --bootstrap-server "$BS" --topic "$2" --num-records "$3" --timeout 60000 >"$f" 2>&1
  c1=$(cpu_ticks); child_cpu; t1=$CHILD_CPU
  profile_wait
  # CSV: start, end, MB, MB/s, n, n/s, rebalance ms, fetch ms, fetch MB/s,
  # fetch n/s. fetch.nMsg.sec leaves out the group join: the reading itself.
  line=$(grep -E '^[0-9]{4}-' "$f" | tail -1)
  [ -n "$line" ] || { log "$SYS $w: no summary; $(tail -3 "$f")"; return 1; }
  log "$SYS $w: $line"
  [ "$(awk -F', ' '{print $5}' <<<"$line")" -ge "$3" ] || log "$SYS $w: read fewer than $3 records"
  emit "$SYS" "$w" records_per_sec "$(awk -F', ' '{print $10}' <<<"$line")"
  emit "$SYS" "$w" records_per_sec_with_join "$(awk -F', ' '{print $6}' <<<"$line")"
  emit "$SYS" "$w" mb_per_sec "$(awk -F', ' -v n="$4" '{print $10*n/1e6}' <<<"$line")"
  emit "$SYS" "$w" broker_cpu_s_per_m "$(per_million $((c1 - c0)) "$3")"
  emit "$SYS" "$w" client_cpu_s_per_m "$(per_million_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" "$3")"
}

# franz WORKLOAD MODE TOPIC N SIZE : bench/franzbench (kgo), as fast as it can.
franz() {
  local w="$1" f="$OUT/$SYS-$1-run$RUN.txt" c0 c1 t0 t1 rate
  profile_start "$w"
  c0=$(cpu_ticks)
  child_cpu; t0=$CHILD_CPU
  run_bounded 900 setsid "$FRANZ_BIN" -brokers "$BS" -mode "$2" -topic "$3" -records "$4" -record-size "$5" \
    -linger 10ms -batch-bytes 131072 >"$f" 2>&1
  c1=$(cpu_ticks); child_cpu; t1=$CHILD_CPU
  profile_wait
  rate=$(sed -n 's/.*records_per_sec=\([0-9.]*\).*/\1/p' "$f" | tail -1)
  [ -n "$rate" ] || { log "$SYS $w: no summary; $(tail -3 "$f")"; return 1; }
  log "$SYS $w: $(tail -1 "$f")"
  emit "$SYS" "$w" records_per_sec "$rate"
  emit "$SYS" "$w" mb_per_sec "$(awk -v r="$rate" -v n="$5" 'BEGIN{print r*n/1e6}')"
  emit "$SYS" "$w" broker_cpu_s_per_m "$(per_million $((c1 - c0)) "$4")"
  emit "$SYS" "$w" client_cpu_s_per_m "$(per_million_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" "$4")"
}

# grpc : the same 100 B produce through LogBroker's own API, batches of
# 1,000 records, as bench/logbroker.sh measures it.
grpc() {
  local w=grpc-produce-100B f="$OUT/logbroker-grpc-produce-100B-run$RUN.json" q
  profile_start "$w"
  run_bounded 900 setsid "$LB" --addr "127.0.0.1:$LBGRPC" --timeout 60s bench --json --quiet --broker-pid "$BPID" \
    produce --topic g100 --record-size 100 --batch 1000 --producers "${LB_PRODUCERS:-2}" --records "$N_GRPC" --duration 120s \
    >"$f" 2>"$OUT/grpc.err" || { log "lb bench failed: $(tail -2 "$OUT/grpc.err")"; return 1; }
  profile_wait
  q='.results[] | select(.name == "produce")'
  log "logbroker $w: $(jq -r "$q | \"\(.records_per_sec|floor)/s\"" "$f")"
  emit logbroker "$w" records_per_sec "$(jq -r "$q | .records_per_sec" "$f")"
  emit logbroker "$w" mb_per_sec "$(jq -r "$q | .mb_per_sec" "$f")"
  emit logbroker "$w" broker_cpu_s_per_m "$(jq -r "$q | .broker.cpu_seconds_per_million_records // empty" "$f")"
}

# one_run SYSTEM : a fresh broker, warmed up, then every counted workload.
one_run() {
  SYS="$1"
  case "$SYS" in
    logbroker) start_logbroker || return 1 ;;
    kafka) start_kafka || return 1 ;;
  esac
  local t
  for t in warm t100a1 t100aa t1ka1 t1kaa; do topic "$t" || { stop_pid "$BPID"; return 1; }; done
  # Warm-up: both produce paths and the fetch path, counted apart.
  produce kperf-warm-produce-acks1 warm $((N_WARM / 2)) 100 1
  produce kperf-warm-produce-acksall warm $((N_WARM / 2)) 100 all
  consume kperf-warm-consume warm "$N_WARM" 100
  produce kperf-produce-100B-acks1 t100a1 "$N_100" 100 1
  produce kperf-produce-100B-acksall t100aa "$N_100" 100 all
  consume kperf-consume-100B t100a1 "$N_100" 100
  produce kperf-produce-1KiB-acks1 t1ka1 "$N_1K" 1024 1
  produce kperf-produce-1KiB-acksall t1kaa "$N_1K" 1024 all
  consume kperf-consume-1KiB t1ka1 "$N_1K" 1024
  if [ "${FRANZ:-1}" = 1 ]; then
    topic f100 && franz franz-produce-100B produce f100 "$N_FRANZ" 100 && franz franz-consume-100B consume f100 "$N_FRANZ" 100
  fi
  [ "$SYS" = logbroker ] && grpc
  emit "$SYS" broker rss_peak_mib "$(awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$BPID/status")"
  stop_pid "$BPID"
  rm -rf "$BENCH_DIR/data/kafkapeers-$SYS"
}

# machine, with this script's counts.
kmachine() {
  machine
  echo "counts: N_WARM=$N_WARM N_100=$N_100 N_1K=$N_1K N_GRPC=$N_GRPC N_FRANZ=$N_FRANZ RUNS=$RUNS"
}

kmachine | tee "$BENCH_DIR/results/machine-$STAMP.txt"
bash "$HERE/kafka.sh" setup || { log "kafka setup failed"; exit 1; }
bash "$HERE/logbroker.sh" setup || { log "logbroker setup failed"; exit 1; }
(cd "$ROOT" && go build -o "$FRANZ_BIN" ./bench/franzbench) || { log "franzbench build failed"; exit 1; }

for RUN in $(seq 1 "$RUNS"); do
  export RUN
  for s in "${SYSTEMS[@]}"; do
    log "run $RUN/$RUNS: $s (load $(cut -d' ' -f1 /proc/loadavg))"
    emit "$s" run load1 "$(cut -d' ' -f1 /proc/loadavg)"
    one_run "$s" || log "$s run $RUN failed"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$BENCH_DIR/results/machine-$STAMP.txt"

log "results: $RESULTS"
mkdir -p "$CHARTS"
(cd "$ROOT" && go run ./bench/report -kafka -in "$RESULTS" -charts "$CHARTS" -machine "$BENCH_DIR/results/machine-$STAMP.txt")

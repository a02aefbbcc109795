#!/usr/bin/env bash
# Apache Kafka 4.4 peer: one KRaft node (broker and controller) on 127.0.0.1,
# measured with Kafka's own ProducerPerformance, ConsumerPerformance and
# EndToEndLatency.
#   bench/kafka.sh setup   fetch kafka_2.13 and kafka-tools with their
#                          runtime dependencies from Maven Central (mvn)
#   bench/kafka.sh run     one run (RUN, RESULTS from peers.sh)
# Producer: acks=1, batch.size=131072 and linger.ms=10, so a batch holds about
# 1,000 records of 100 B as LogBroker's do. Kafka does not fsync by default
# (flush.messages is unbounded): that is LogBroker's --fsync never.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
JAVA="${JAVA:-java}"
BROKER_HEAP="${BROKER_HEAP:--Xms1g -Xmx1g}"
TOOL_HEAP="${TOOL_HEAP:--Xms512m -Xmx512m}"
PORT="${KAFKA_PORT:-19092}"; CPORT="${KAFKA_CONTROLLER_PORT:-19093}"
if [ "${QUICK:-0}" = 1 ]; then
  N_100=300000; N_1K=100000; N_E2E=2000
else
  N_100="${N_100:-1000000}"; N_1K="${N_1K:-200000}"; N_E2E="${N_E2E:-10000}"
fi
K="$TOOLS/kafka"; LIBS="$K/libs"; OUT="$BENCH_DIR/results/kafka"
mkdir -p "$K" "$OUT"
PRODUCER_PROPS=(acks=1 batch.size=131072 linger.ms=10)

setup() {
  if ! ls "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null 2>&1; then
    mkdir -p "$K/mvn"
    cat >"$K/mvn/pom.xml" <<POM
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.bench</groupId><artifactId>kafka-fetch</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
  </dependencies>
</project>
POM
    (cd "$K/mvn" && run_bounded 900 mvn -B -q \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIBS") || { log "maven fetch failed"; return 1; }
  fi
  "$JAVA" -version 2>&1 | head -1
}

jrun() { "$JAVA" $TOOL_HEAP -cp "$LIBS/*" "$@"; }

start_kafka() {
  local data="$BENCH_DIR/data/kafka"
  rm -rf "$data"; mkdir -p "$data"
  kafka_props "$data" "$PORT" "$CPORT" >"$K/server.properties"
  local cid
  cid=$(jrun kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  jrun kafka.tools.StorageTool format -t "$cid" -c "$K/server.properties" >"$OUT/format.txt" 2>&1 || { cat "$OUT/format.txt"; return 1; }
  start_bg kafka-broker "$JAVA" $BROKER_HEAP -XX:+UseG1GC -cp "$LIBS/*" kafka.Kafka "$K/server.properties"
  KPID=$LAST_PID
  wait_port "$PORT" 120 || return 1
  sleep 3
}

BS() { echo "127.0.0.1:$PORT"; }
topic() { # NAME PARTITIONS
  run_bounded 60 "$JAVA" -Xmx256m -cp "$LIBS/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$(BS)" --create --topic "$1" --partitions "$2" --replication-factor 1 >/dev/null 2>&1
}
cpu_ticks() { awk '{print $14+$15}' "/proc/$KPID/stat"; }

produce() { # WORKLOAD TOPIC N SIZE
  local f="$OUT/$1-run${RUN:-1}.txt" c0 c1 line
  c0=$(cpu_ticks)
  run_bounded 600 "$JAVA" $TOOL_HEAP -cp "$LIBS/*" org.apache.kafka.tools.ProducerPerformance \
    --bootstrap-server "$(BS)" --topic "$2" --num-records "$3" --record-size "$4" --throughput -1 \
    --producer-props "${PRODUCER_PROPS[@]}" >"$f" 2>&1
  c1=$(cpu_ticks)
  line=$(grep -E "^$3 records sent" "$f" | tail -1)
  log "kafka $1: $line"
  emit kafka "$1" records_per_sec "$(sed -n 's/.* sent, \([0-9.]*\) records\/sec.*/\1/p' <<<"$line")"
  emit kafka "$1" mb_per_sec "$(sed -n 's/.* sent, \([0-9.]*\) records\/sec.*/\1/p' <<<"$line" | awk -v n="$4" '{print $1*n/1e6}')"
  emit kafka "$1" broker_cpu_s_per_m "$(awk -v d=$((c1 - c0)) -v n="$3" 'BEGIN{print d/100/(n/1e6)}')"
}

consume() { # WORKLOAD TOPIC N SIZE
  local f="$OUT/$1-run${RUN:-1}.txt" c0 c1 line
  c0=$(cpu_ticks)
  run_bounded 600 "$JAVA" $TOOL_HEAP -cp "$LIBS/*" org.apache.kafka.tools.ConsumerPerformance \
    --bootstrap-server "$(BS)" --topic "$2" --num-records "$3" --timeout 60000 >"$f" 2>&1
  c1=$(cpu_ticks)
  # CSV: start, end, MB, MB/s, n, n/s, rebalance ms, fetch ms, fetch MB/s, fetch n/s.
  # fetch.nMsg.sec leaves out the group join (rebalance): the reading itself.
  line=$(grep -E '^[0-9]{4}-' "$f" | tail -1)
  log "kafka $1: $line"
  emit kafka "$1" records_per_sec "$(awk -F', ' '{print $10}' <<<"$line")"
  emit kafka "$1" records_per_sec_with_join "$(awk -F', ' '{print $6}' <<<"$line")"
  emit kafka "$1" mb_per_sec "$(awk -F', ' -v n="$4" '{print $10*n/1e6}' <<<"$line")"
  emit kafka "$1" broker_cpu_s_per_m "$(awk -v d=$((c1 - c0)) -v n="$3" 'BEGIN{print d/100/(n/1e6)}')"
}

run() {
  start_kafka || return 1
  topic t100 1; topic t1k 1; topic e2e 1
  produce produce-100B t100 "$N_100" 100
  consume consume-100B t100 "$N_100" 100
  produce produce-1KiB t1k "$N_1K" 1024
  # EndToEndLatency: closed loop, one record at a time: send, wait until the
  # consumer has it, send the next (positional: broker topic count acks size).
  local f="$OUT/e2e-run${RUN:-1}.txt"
  run_bounded 600 "$JAVA" $TOOL_HEAP -cp "$LIBS/*" org.apache.kafka.tools.EndToEndLatency \
    "$(BS)" e2e "$N_E2E" 1 100 >"$f" 2>&1
  log "kafka e2e: $(grep -E 'Avg latency|Percentiles' "$f" | tr '\n' ' ')"
  # Kafka prints whole milliseconds here: 50th = 1 means 1 ms.
  emit kafka e2e-closed-loop mean_us "$(sed -n 's/^Avg latency: \([0-9.]*\) ms.*/\1/p' "$f" | awk '{print $1*1000}')"
  emit kafka e2e-closed-loop p50_us "$(sed -n 's/.*50th = \([0-9.]*\),.*/\1/p' "$f" | awk '{print $1*1000}')"
  emit kafka e2e-closed-loop p99_us "$(sed -n 's/.*99th = \([0-9.]*\),.*/\1/p' "$f" | awk '{print $1*1000}')"
  emit kafka e2e-closed-loop p99_9_us "$(sed -n 's/.*99.9th = \([0-9.]*\).*/\1/p' "$f" | awk '{print $1*1000}')"
  emit kafka broker rss_peak_mib "$(awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$KPID/status")"
  stop_pid "$KPID"
  rm -rf "$BENCH_DIR/data/kafka"
}

case "${1:-}" in
  setup) setup ;;
  run) run ;;
  *) echo "usage: $0 setup|run" >&2; exit 2 ;;
esac

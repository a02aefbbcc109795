# Helpers for the bench scripts. Source it; do not run it.
# Everything lands under $BENCH_DIR; every process started is recorded by
# PID and stopped by PID (never by name) when the script exits.

BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/logbroker-bench}"
mkdir -p "$BENCH_DIR/logs" "$BENCH_DIR/results"
BENCH_PIDS=()

# Tools built or fetched for the peers stay under $BENCH_DIR/tools.
TOOLS="$BENCH_DIR/tools"
mkdir -p "$TOOLS/bin"
export PATH="$TOOLS/bin:$PATH"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# start_bg NAME CMD... : start CMD in the background, output to logs/NAME.log;
# sets LAST_PID.
start_bg() {
  local name="$1"; shift
  "$@" >"$BENCH_DIR/logs/$name.log" 2>&1 &
  LAST_PID=$!
  BENCH_PIDS+=("$LAST_PID")
  log "started $name pid=$LAST_PID"
}

# stop_pid PID : TERM, wait up to 20 s, then KILL. Only PIDs we started.
stop_pid() {
  local pid="$1" i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.5
  done
  log "pid $pid ignored TERM; sending KILL"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

cleanup_pids() {
  local p
  for p in "${BENCH_PIDS[@]}"; do stop_pid "$p"; done
  BENCH_PIDS=()
}
trap cleanup_pids EXIT
trap 'cleanup_pids; exit 130' INT TERM

# wait_port PORT [SECONDS] : until 127.0.0.1:PORT accepts connections.
wait_port() {
  local port="$1" secs="${2:-60}" i
  for i in $(seq 1 $((secs * 4))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.25
  done
  log "port $port not open after ${secs}s"; return 1
}

# run_bounded SECONDS CMD... : CMD with a hard wall-clock bound.
run_bounded() {
  local secs="$1"; shift
  timeout --kill-after=10 "$secs" "$@"
}

# emit SYSTEM WORKLOAD METRIC VALUE : one measurement, appended to the run's
# results file ($RESULTS, a TSV: run, system, workload, metric, value).
emit() {
  [ -n "$4" ] || { log "no value for $1 $2 $3"; return 0; }
  printf '%s\t%s\t%s\t%s\t%s\n' "${RUN:-1}" "$1" "$2" "$3" "$4" >>"$RESULTS"
}

# kafka_props DATA PORT CPORT prints the server.properties of a one-node
# KRaft Kafka (broker and controller) on 127.0.0.1, as the peer runs use.
kafka_props() {
  cat <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$3
listeners=PLAINTEXT://127.0.0.1:$2,CONTROLLER://127.0.0.1:$3
advertised.listeners=PLAINTEXT://127.0.0.1:$2
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$1
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
}

# machine prints the facts a result needs beside it: the date, the CPUs,
# memory, kernel, Go and Java versions, and the load before the runs.
machine() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
  echo "memory: $(free -h | awk '/^Mem:/{print $2}')"
  echo "kernel: $(uname -r)"
  echo "go: $(go version | awk '{print $3}')"
  echo "java: $(java -version 2>&1 | head -1)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
}

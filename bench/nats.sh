#!/usr/bin/env bash
# NATS JetStream peer: nats-server with file storage on 127.0.0.1, measured
# with `nats bench` (natscli).
#   bench/nats.sh setup   go install nats-server and natscli into $BENCH_DIR/tools
#   bench/nats.sh run     one run (RUN, RESULTS from peers.sh)
# Server modes: default (JetStream syncs in the background, acks do not wait
# for fsync: LogBroker's --fsync never) and sync_interval=always (fsync before
# each ack: --fsync always).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"

NATS_SERVER_VERSION="${NATS_SERVER_VERSION:-v2.15.2}"
NATSCLI_VERSION="${NATSCLI_VERSION:-v0.5.0}"
PORT="${NATS_PORT:-14222}"
if [ "${QUICK:-0}" = 1 ]; then
  N_100=200000; N_1K=100000; N_SYNC=5000; N_ALWAYS=20000; N_ALWAYS_SYNC=2000
else
  N_100="${N_100:-1000000}"; N_1K="${N_1K:-300000}"; N_SYNC="${N_SYNC:-20000}"
  N_ALWAYS="${N_ALWAYS:-10000}"; N_ALWAYS_SYNC="${N_ALWAYS_SYNC:-2000}"
fi
OUT="$BENCH_DIR/results/nats"; mkdir -p "$OUT"
NATS=("$TOOLS/bin/nats" -s "nats://127.0.0.1:$PORT")

setup() {
  export GOBIN="$TOOLS/bin"
  [ -x "$GOBIN/nats-server" ] || go install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION" || return 1
  [ -x "$GOBIN/nats" ] || go install "github.com/nats-io/natscli/nats@$NATSCLI_VERSION" || return 1
  "$GOBIN/nats-server" --version
}

# nb TAG ARGS... : one bounded `nats bench` run; its stats line to stdout
nb() {
  local tag="$1"; shift
  local f="$OUT/$tag-run${RUN:-1}.txt"
  run_bounded 300 "${NATS[@]}" bench "$@" --no-progress >"$f" 2>&1
  grep -E 'stats:' "$f" | tail -1
}

# num TEXT KEY : the number after "KEY: " (or before " msgs/sec"), commas dropped
rate_of() { sed -n 's/.*stats: \([0-9,.]*\) msgs\/sec.*/\1/p' <<<"$1" | tr -d ,; }
lat_of() { sed -n "s/.*$2: \([0-9,.]*\)us.*/\1/p" <<<"$1" | tr -d ,; }

# record SYSTEM-WORKLOAD STATS SIZE
record() {
  local w="$1" s="$2" size="$3" r
  r=$(rate_of "$s")
  emit nats "$w" records_per_sec "$r"
  [ -n "$r" ] && emit nats "$w" mb_per_sec "$(awk -v r="$r" -v n="$size" 'BEGIN{print r*n/1e6}')"
  if grep -q 'P50:' <<<"$s"; then
    emit nats "$w" p50_us "$(lat_of "$s" P50)"
    emit nats "$w" p99_us "$(lat_of "$s" P99)"
    emit nats "$w" p99_9_us "$(lat_of "$s" P99.9)"
    emit nats "$w" max_us "$(lat_of "$s" max)"
  fi
}

run() {
  local mode dir srv s
  for mode in default always; do
    dir="$BENCH_DIR/data/nats-$mode"; rm -rf "$dir"; mkdir -p "$dir"
    local sync_line=""; [ "$mode" = always ] && sync_line="  sync_interval: always"
    cat >"$dir/server.conf" <<CONF
listen: 127.0.0.1:$PORT
jetstream {
  store_dir: "$dir/js"
  max_file_store: 20GB
  max_memory_store: 1GB
$sync_line
}
CONF
    start_bg "nats-server-$mode" "$TOOLS/bin/nats-server" -c "$dir/server.conf"
    srv=$LAST_PID
    wait_port "$PORT" 30 || return 1
    local S=(--storage=file --maxbytes=16GB --purge)
    if [ "$mode" = default ]; then
      # fast batched publish (waits for the acks of each batch of 1,000), then
      # catch-up reads of the stream it wrote, with an ordered consumer
      s=$(nb pub-fast-100B js pub fast "${S[@]}" --create --batch=1000 --msgs="$N_100" --size=100 benchsub); record produce-100B "$s" 100
      s=$(nb ordered-100B js ordered --msgs="$N_100" --size=100); record consume-100B "$s" 100
      s=$(nb pub-async-100B js pub async "${S[@]}" --batch=1000 --msgs="$N_1K" --size=100 benchsub); record produce-100B-async "$s" 100
      s=$(nb pub-fast-1KiB js pub fast "${S[@]}" --batch=1000 --msgs="$N_1K" --size=1024 benchsub); record produce-1KiB "$s" 1024
      # one message per request, each waiting for its ack: publish latency
      s=$(nb pub-sync-100B js pub sync "${S[@]}" --msgs="$N_SYNC" --size=100 benchsub); record publish-sync "$s" 100
    else
      s=$(nb always-pub-fast-100B js pub fast "${S[@]}" --create --batch=1000 --msgs="$N_ALWAYS" --size=100 benchsub); record produce-100B-always "$s" 100
      s=$(nb always-pub-sync-100B js pub sync "${S[@]}" --msgs="$N_ALWAYS_SYNC" --size=100 benchsub); record publish-sync-always "$s" 100
    fi
    emit nats "server-$mode" rss_peak_mib "$(awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$srv/status")"
    stop_pid "$srv"
    rm -rf "$dir"
  done
}

case "${1:-}" in
  setup) setup ;;
  run) run ;;
  *) echo "usage: $0 setup|run" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The machine's limits: sequential disk writes (page cache, O_DIRECT, and
# fdatasync after every write of 4 KiB / 64 KiB), and loopback TCP (iperf3 on
# 127.0.0.1). Debian packages fio and iperf3.
#   bench/physical.sh setup | run
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"

OUT="$BENCH_DIR/results/physical"; mkdir -p "$OUT"
DISK="$BENCH_DIR/data/disk"
SECS="${FIO_RUNTIME:-10}"
IPORT="${IPERF_PORT:-15201}"

setup() {
  command -v fio >/dev/null && command -v iperf3 >/dev/null && return 0
  apt-get install -y -qq fio iperf3 >/dev/null
}

fio_job() { # NAME fio args...
  local name="$1"; shift
  mkdir -p "$DISK"; rm -f "$DISK"/fio.*
  run_bounded $((SECS + 120)) fio --name="$name" --filename="$DISK/fio.$name" --rw=write \
    --ioengine=psync --fallocate=none --runtime="$SECS" --time_based=0 --group_reporting \
    --output-format=json "$@" >"$OUT/fio-$name.json" 2>"$OUT/fio-$name.err"
  rm -f "$DISK"/fio.*
}

run() {
  sync
  fio_job seq1m-buffered --bs=1M --size=2G --end_fsync=1
  emit machine disk seq_write_page_cache_mb_s "$(jq '.jobs[0].write.bw_bytes/1e6' "$OUT/fio-seq1m-buffered.json")"
  fio_job seq1m-direct --bs=1M --size=2G --direct=1
  emit machine disk seq_write_direct_mb_s "$(jq '.jobs[0].write.bw_bytes/1e6' "$OUT/fio-seq1m-direct.json")"
  for bs in 4k 64k; do
    fio_job "fdatasync-$bs" --bs="$bs" --size=512M --fdatasync=1
    emit machine disk "fdatasync_${bs}_p50_us" "$(jq '.jobs[0].sync.lat_ns.percentile["50.000000"]/1000' "$OUT/fio-fdatasync-$bs.json")"
    emit machine disk "fdatasync_${bs}_p99_us" "$(jq '.jobs[0].sync.lat_ns.percentile["99.000000"]/1000' "$OUT/fio-fdatasync-$bs.json")"
    emit machine disk "fdatasync_${bs}_writes_s" "$(jq '.jobs[0].write.iops' "$OUT/fio-fdatasync-$bs.json")"
  done
  start_bg iperf3 iperf3 -s -B 127.0.0.1 -p "$IPORT"
  local srv=$LAST_PID
  sleep 1
  for args in "-P 1" "-P 2"; do
    local tag; tag=$(tr -d ' -' <<<"$args")
    run_bounded 40 iperf3 -c 127.0.0.1 -p "$IPORT" -t 5 -J $args >"$OUT/iperf3-$tag.json" 2>&1
    emit machine loopback "tcp_${tag}_gbit_s" "$(jq '.end.sum_received.bits_per_second/1e9' "$OUT/iperf3-$tag.json")"
    sleep 1
  done
  stop_pid "$srv"
}

case "${1:-}" in
  setup) setup ;;
  run) run ;;
  *) echo "usage: $0 setup|run" >&2; exit 2 ;;
esac

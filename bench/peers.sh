#!/usr/bin/env bash
# LogBroker against its peers on this machine, on loopback, back to back.
#
#   bench/peers.sh [logbroker] [nats] [kafka] [physical]
#
# Default: logbroker nats kafka. Each run measures every chosen system in
# turn (so slow drift of a noisy machine spreads over all of them), RUNS
# times (default 3); bench/report then prints one table of medians with
# ratios and the goals of issue 5, and writes the charts.
#
# Peers come from their registries: nats-server and natscli as Go modules
# (go install), Kafka 4.4 as jars from Maven Central (mvn), and each is
# measured with its own tools. physical.sh measures the disk and loopback.
# Kafka's own tools against LogBroker's Kafka listener and Kafka, warmed up,
# are bench/kafkapeers.sh (issue 14).
#
# Environment:
#   RUNS=3             runs per system (the table shows medians)
#   BENCH_DIR=/tmp/logbroker-bench   work directory (data, logs, results, tools)
#   CHARTS=docs/bench  where the report writes the SVG charts and table.md
#   SCALE=1            with the partition-scaling curve (1, 8, 64, 1024)
#   QUICK=1            smaller counts and durations (a smoke test of the script)
#
# Bounds: every tool run has a record count or a duration and a wall-clock
# timeout; servers listen on 127.0.0.1 only and are stopped by PID on exit.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
. "$HERE/lib.sh"

RUNS="${RUNS:-3}"
CHARTS="${CHARTS:-$ROOT/docs/bench}"
SYSTEMS=("$@")
[ ${#SYSTEMS[@]} -gt 0 ] || SYSTEMS=(logbroker nats kafka)
STAMP="$(date +%Y%m%d-%H%M%S)"
export RESULTS="$BENCH_DIR/results/results-$STAMP.tsv"
: >"$RESULTS"

machine | tee "$BENCH_DIR/results/machine-$STAMP.txt"

for s in "${SYSTEMS[@]}"; do
  [ -f "$HERE/$s.sh" ] || { log "no such system: $s (want logbroker, nats, kafka, physical)"; exit 2; }
  # setup: build or fetch once, outside the timed runs
  bash "$HERE/$s.sh" setup || { log "$s setup failed; leaving it out"; SYSTEMS=("${SYSTEMS[@]/$s}"); }
done

for RUN in $(seq 1 "$RUNS"); do
  export RUN
  for s in "${SYSTEMS[@]}"; do
    [ -n "$s" ] || continue
    [ "$s" = physical ] && [ "$RUN" -gt 1 ] && continue # the machine's limits: once
    log "run $RUN/$RUNS: $s (load $(cut -d' ' -f1 /proc/loadavg))"
    emit "$s" run load1 "$(cut -d' ' -f1 /proc/loadavg)"
    run_bounded 3600 bash "$HERE/$s.sh" run || log "$s run $RUN exited with $?"
  done
done

log "results: $RESULTS"
mkdir -p "$CHARTS"
(cd "$ROOT" && go run ./bench/report -in "$RESULTS" -charts "$CHARTS" -machine "$BENCH_DIR/results/machine-$STAMP.txt")

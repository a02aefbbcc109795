#!/usr/bin/env bash
# ab.sh: the same `lb bench` against two builds of the broker, alternated.
#
# Usage: bench/ab.sh WORKLOAD [LB BENCH FLAGS...]
#   e.g. BROKER_FLAGS="--fsync never" bench/ab.sh produce --topic t \
#          --records 200000 --record-size 100 --batch 1000
#
# Builds cmd/broker and cmd/lb of two revisions, "prev" and "new", into a
# temporary directory (a revision is built in a temporary git worktree,
# removed afterwards; "worktree" builds this work tree as it is, uncommitted
# changes included). Then RUNS times, alternating which goes first (prev new,
# new prev, ...) so that a drift of the machine weighs on both alike, it
# starts each build's broker on a fresh data directory and a port of its own
# on 127.0.0.1, runs that build's `lb bench --json --quiet --broker-pid PID`
# with the arguments given, and stops the broker (SIGTERM). Broker and lb
# each run in a session of their own (setsid), so a Ctrl-C reaches only this
# script, which then stops them by PID.
#
# Prints one line per run and result (`lb bench consume` gives two), then per
# result the median records/s of each build and the ratio new/prev, and the
# median broker CPU seconds per million records.
#
# Environment:
#   PREV          revision of the previous release (default dbdff0f)
#   NEW           revision of the new one, or "worktree" (default)
#   RUNS          runs of each build (default 3)
#   BROKER_FLAGS  extra flags for both brokers, e.g. "--fsync never"
#   AB_DIR        where builds, logs and JSON go (default: a temporary
#                 directory, removed at the end unless KEEP=1)
# Needs go, git, jq and setsid.
set -euo pipefail

[ $# -ge 1 ] || { sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

PREV="${PREV:-dbdff0f}"
NEW="${NEW:-worktree}"
RUNS="${RUNS:-3}"
read -r -a broker_flags <<<"${BROKER_FLAGS:-}"
repo="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"

if [ -n "${AB_DIR:-}" ]; then
  dir="$AB_DIR"; mkdir -p "$dir"; KEEP=1
else
  dir="$(mktemp -d)"
fi
broker_pid=""
worktrees=()
cleanup() {
  if [ -n "$broker_pid" ]; then
    kill -KILL "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  local w
  for w in "${worktrees[@]}"; do git -C "$repo" worktree remove --force "$w" 2>/dev/null || true; done
  git -C "$repo" worktree prune 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# build SIDE REV: $dir/SIDE/{broker,lb} from REV; prints what was built.
build() {
  local side="$1" rev="$2" src out="$dir/$1"
  mkdir -p "$out"
  if [ "$rev" = worktree ]; then
    src="$repo"
    echo "$side: work tree at $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD || echo ' (with changes)')"
  else
    src="$dir/src-$side"
    git -C "$repo" worktree add --detach --quiet "$src" "$rev"
    worktrees+=("$src")
    echo "$side: $(git -C "$repo" rev-parse --short "$rev^{commit}") ($rev)"
  fi
  (cd "$src" && go build -o "$out/broker" ./cmd/broker && go build -o "$out/lb" ./cmd/lb)
  if [ "$rev" != worktree ]; then
    git -C "$repo" worktree remove --force "$src"
  fi
}

# start_broker SIDE DATA LOG: sets broker_pid and addr (from the "broker
# started" line the broker logs once its storage is open).
start_broker() {
  local i
  addr=""
  setsid "$dir/$1/broker" --addr 127.0.0.1:0 --data-dir "$2" --log-format json \
    "${broker_flags[@]}" >"$3" 2>&1 &
  broker_pid=$!
  for i in $(seq 1 600); do
    addr="$(jq -r 'select(.message == "broker started") | .addr' "$3" 2>/dev/null | head -n1)"
    [ -n "$addr" ] && return 0
    kill -0 "$broker_pid" 2>/dev/null || break
    sleep 0.05
  done
  tail -n 20 "$3" >&2
  echo "$1 broker did not start (log $3)" >&2
  return 1
}

# stop_broker: SIGTERM, then SIGKILL if it is still there after 30 s.
stop_broker() {
  local i
  kill -TERM "$broker_pid" 2>/dev/null || true
  for i in $(seq 1 300); do
    kill -0 "$broker_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$broker_pid" 2>/dev/null || true
  { wait "$broker_pid" || true; } 2>/dev/null
  broker_pid=""
}

# run_one RUN SIDE LB-ARGS...: one broker, one lb bench; appends
# "side name records/s cpu-s/M" lines to $dir/results.tsv.
run_one() {
  local run="$1" side="$2"; shift 2
  local tag="$side-run$run" data="$dir/data-$side-run$run" rc=0
  mkdir -p "$data"
  start_broker "$side" "$data" "$dir/$tag.broker.log"
  setsid -w "$dir/$side/lb" --addr "$addr" bench --json --quiet --broker-pid "$broker_pid" "$@" \
    >"$dir/$tag.json" 2>"$dir/$tag.err" || rc=$?
  stop_broker
  rm -rf "$data"
  if [ "$rc" != 0 ]; then
    cat "$dir/$tag.err" >&2
    echo "$tag: lb bench exited with $rc (output in $dir/$tag.json)" >&2
    KEEP=1
    return 1
  fi
  jq -r --arg side "$side" '.results[] |
      [$side, .name, .records_per_sec, (.broker.cpu_seconds_per_million_records // "-")] | @tsv' \
    "$dir/$tag.json" >>"$dir/results.tsv"
  jq -r --arg run "$run" --arg side "$side" '.results[] |
      "run \($run) \($side)\t\(.name)\t\(.records_per_sec | round) records/s\t\(.mb_per_sec * 10 | floor / 10) MB/s\tbroker \(if .broker then (.broker.cpu_seconds_per_million_records * 1000 | round / 1000 | tostring) else "-" end) cpu-s/M records\terrors \(.errors)"' \
    "$dir/$tag.json"
}

build prev "$PREV"
build new "$NEW"
: >"$dir/results.tsv"
for run in $(seq 1 "$RUNS"); do
  if [ $((run % 2)) = 1 ]; then order="prev new"; else order="new prev"; fi
  for side in $order; do run_one "$run" "$side" "$@"; done
done

# median: of the numbers on standard input, one per line.
median() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
printf '%-18s %14s %14s %9s %12s %12s\n' result "prev rec/s" "new rec/s" new/prev "prev cpu-s/M" "new cpu-s/M"
for name in $(cut -f2 "$dir/results.tsv" | awk '!seen[$0]++'); do
  p="$(awk -F'\t' -v n="$name" '$1 == "prev" && $2 == n { print $3 }' "$dir/results.tsv" | median)"
  n="$(awk -F'\t' -v n="$name" '$1 == "new" && $2 == n { print $3 }' "$dir/results.tsv" | median)"
  pc="$(awk -F'\t' -v n="$name" '$1 == "prev" && $2 == n && $4 != "-" { print $4 }' "$dir/results.tsv" | median)"
  nc="$(awk -F'\t' -v n="$name" '$1 == "new" && $2 == n && $4 != "-" { print $4 }' "$dir/results.tsv" | median)"
  printf '%-18s %14.0f %14.0f %9.3f %12s %12s\n' "$name" "$p" "$n" "$(awk -v a="$n" -v b="$p" 'BEGIN { print a / b }')" \
    "$(printf '%.3f' "$pc" 2>/dev/null || echo -)" "$(printf '%.3f' "$nc" 2>/dev/null || echo -)"
done
echo "(medians of $RUNS runs each; BROKER_FLAGS=${BROKER_FLAGS:-none})"

#!/usr/bin/env bash
# make-v1-datadir.sh: write the data-directory fixtures of an earlier release.
#
# Builds cmd/broker and test/testdata/v1gen at REVISION (default dbdff0f, the
# last release with the magic-1 frames of segment/doc.go at that revision) in
# a temporary git worktree, then twice starts that broker on a fresh data
# directory (loopback, --segment-bytes 4096, --fsync always), fills it with
# v1gen's fixed records and group commit, reads everything back, and stops it:
#
#   v1-datadir-clean/    SIGTERM: clean shutdown, .clean-shutdown present
#   v1-datadir-crashed/  SIGKILL after the last acknowledged produce (and the
#                        read-back): no marker, active segments left as a
#                        crash leaves them (zeros preallocated past the data)
#   v1-datadir.json      what each directory holds, as that broker served it
#
# Usage: test/testdata/make-v1-datadir.sh [REVISION]
# Run from anywhere inside the repository; it rewrites the three outputs
# beside this script. Needs go, git and jq.
set -euo pipefail

rev="${1:-dbdff0f}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(git -C "$here" rev-parse --show-toplevel)"
full_rev="$(git -C "$repo" rev-parse --verify "$rev^{commit}")"

tmp="$(mktemp -d)"
wt="$tmp/src"
broker_pid=""
cleanup() {
  if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
    kill -KILL "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  if [ -d "$wt" ]; then git -C "$repo" worktree remove --force "$wt" 2>/dev/null || true; fi
  git -C "$repo" worktree prune 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "building $full_rev in $wt" >&2
git -C "$repo" worktree add --detach --quiet "$wt" "$full_rev"
# v1gen is copied into the old tree and built against that tree's module.
mkdir -p "$wt/cmd/v1gen"
cp "$here/v1gen/main.go" "$wt/cmd/v1gen/main.go"
(cd "$wt" && go build -o "$tmp/broker" ./cmd/broker && go build -o "$tmp/v1gen" ./cmd/v1gen)

# start_broker DATA LOG: start the built broker on DATA in its own session
# (so that a signal meant for this script does not reach it); sets
# broker_pid, and addr from the "broker started" line, logged once storage
# is open.
start_broker() {
  local data="$1" log="$2" i
  addr=""
  setsid "$tmp/broker" --addr 127.0.0.1:0 --data-dir "$data" --segment-bytes 4096 \
    --fsync always --log-format json --log-level info >"$log" 2>&1 &
  broker_pid=$!
  for i in $(seq 1 200); do
    addr="$(jq -r 'select(.message == "broker started") | .addr' "$log" 2>/dev/null | head -n1)"
    [ -n "$addr" ] && return 0
    kill -0 "$broker_pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$log" >&2
  echo "broker on $data did not start" >&2
  return 1
}

# stop_broker SIGNAL: send SIGNAL to the broker and wait for it to end.
stop_broker() {
  kill "-$1" "$broker_pid"
  { wait "$broker_pid" || true; } 2>/dev/null
  broker_pid=""
}

# make_dir NAME SIGNAL: one fixture directory $here/NAME, stopped with SIGNAL
# right after v1gen's writes and read-back; the read-back goes to
# $tmp/NAME.json. Then the same release reopens a copy and must serve it
# all again, identically.
make_dir() {
  local name="$1" sig="$2" data="$tmp/$1"
  mkdir -p "$data"
  start_broker "$data" "$tmp/$name.log"
  "$tmp/v1gen" --addr "$addr" >"$tmp/$name.json"
  stop_broker "$sig"
  if [ "$sig" = TERM ] && [ ! -e "$data/.clean-shutdown" ]; then
    cat "$tmp/$name.log" >&2
    echo "$name: no clean-shutdown marker after SIGTERM" >&2
    return 1
  fi
  rm -f "$data/.lock"
  rm -rf "${here:?}/$name"
  cp -a "$data" "$here/$name"

  cp -a "$data" "$tmp/$name-reopen"
  start_broker "$tmp/$name-reopen" "$tmp/$name-reopen.log"
  "$tmp/v1gen" --addr "$addr" --read-only >"$tmp/$name-reopen.json"
  stop_broker TERM
  if ! cmp -s "$tmp/$name.json" "$tmp/$name-reopen.json"; then
    diff "$tmp/$name.json" "$tmp/$name-reopen.json" >&2 || true
    echo "$name: reopened by $full_rev, it serves something else" >&2
    return 1
  fi
}

make_dir v1-datadir-clean TERM
make_dir v1-datadir-crashed KILL

jq -n --arg rev "$full_rev" \
  --slurpfile clean "$tmp/v1-datadir-clean.json" \
  --slurpfile crashed "$tmp/v1-datadir-crashed.json" \
  '{revision: $rev,
    made_by: "test/testdata/make-v1-datadir.sh",
    datadirs: {"v1-datadir-clean": $clean[0], "v1-datadir-crashed": $crashed[0]}}' \
  >"$here/v1-datadir.json"
du -sh "$here/v1-datadir-clean" "$here/v1-datadir-crashed" "$here/v1-datadir.json" >&2

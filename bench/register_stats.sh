#!/usr/bin/env bash
# Program time of the state register per connection, builds side by side: for each sockdoctor
# given, ROUNDS alternated 3 s churn runs (fresh network namespace each) with `trace
# --register-only` and kernel.bpf_stats_enabled on; prints run_time_ns / connections per program.
#
# Usage (root, under flock /work/bench.lock on a shared machine):
#   bench/register_stats.sh build/release/src/sockdoctor /path/to/older/sockdoctor
# Knobs: ROUNDS=2, RUN_SECONDS=3, CHURN=build/release/bench/churn
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-2}
RUN_SECONDS=${RUN_SECONDS:-3}
CHURN=${CHURN:-$ROOT/build/release/bench/churn}
die() { echo "register_stats: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (eBPF, network namespaces)"
[ $# -ge 1 ] || die "usage: $0 SOCKDOCTOR [SOCKDOCTOR...]"
[ -x "$CHURN" ] || die "build $CHURN first"

TMP=$(mktemp -d)
TRACER=
STATS_WAS=$(cat /proc/sys/kernel/bpf_stats_enabled)
cleanup() {
  [ -n "$TRACER" ] && kill -KILL "$TRACER" 2>/dev/null || true
  echo "$STATS_WAS" >/proc/sys/kernel/bpf_stats_enabled
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# one SD: prints the churn line and a line per program of this tracer (its fds name the ids).
one() {
  "$1" -v trace --register-only >/dev/null 2>"$TMP/err" &
  TRACER=$!
  for _ in $(seq 200); do grep -q "register loaded" "$TMP/err" && break; sleep 0.05; done
  grep -q "register loaded" "$TMP/err" || die "$1 did not attach: $(cat "$TMP/err")"
  local out ids
  out=$(unshare -n sh -c "ip link set lo up && \
    sysctl -q -w net.ipv4.ip_local_port_range='10000 65000' net.ipv4.tcp_tw_reuse=1 && \
    exec $CHURN --port 9450 --clients 2 --seconds $RUN_SECONDS --connections 2000000")
  ids=$(cat /proc/"$TRACER"/fdinfo/* 2>/dev/null | awk '/^prog_id:/ {print $2}' | sort -u | tr '\n' ,)
  echo "$1: $out"
  bpftool prog show --json | python3 -c '
import json, re, sys
n = int(re.search(r"connections=(\d+)", sys.argv[1]).group(1)); ids = sys.argv[2].split(",")
total = 0
for p in json.load(sys.stdin):
    if str(p["id"]) in ids and p.get("name", "").startswith("on_") and p.get("run_cnt", 0):
        total += p["run_time_ns"]
        name, runs, ns = p["name"], p["run_cnt"], p["run_time_ns"]
        print(f"  {name:16} {runs / n:6.2f} runs/conn {ns / runs:6.1f} ns/run")
print(f"  all programs {total / n / 1000:.2f} us/conn")' "$out" "$ids"
  kill -INT "$TRACER"; wait "$TRACER" || true; TRACER=
}

echo 1 >/proc/sys/kernel/bpf_stats_enabled
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$ROUNDS"); do
  for sd in "$@"; do one "$sd"; done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

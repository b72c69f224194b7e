#!/usr/bin/env bash
# The state register's share of loopback churn's CPU, builds side by side: for each sockdoctor
# given, ROUNDS alternated 3 s churn runs (fresh network namespace each) with `trace
# --register-only`, profiled with `perf record -a -g` for 2 s inside each run; prints the share
# of the churn process's samples under bpf_trace_run* (the programs, their helpers and map code,
# the tracepoint dispatch) and of a few map functions in it. Steadier on a shared machine than
# rate ratios: it does not depend on how much CPU the churn got, only on how it spent it.
#
# Usage (root, under flock /work/bench.lock on a shared machine):
#   bench/register_perf.sh build/release/src/sockdoctor /path/to/older/sockdoctor
# Knobs: ROUNDS=3, FREQ=2000, CHURN=build/release/bench/churn
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
FREQ=${FREQ:-2000}
CHURN=${CHURN:-$ROOT/build/release/bench/churn}
die() { echo "register_perf: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (eBPF, network namespaces, perf)"
[ $# -ge 1 ] || die "usage: $0 SOCKDOCTOR [SOCKDOCTOR...]"
[ -x "$CHURN" ] || die "build $CHURN first"
command -v perf >/dev/null || die "needs perf (linux-perf)"

TMP=$(mktemp -d)
TRACER=
CHURNPID=
cleanup() {
  [ -n "$TRACER" ] && kill -KILL "$TRACER" 2>/dev/null || true
  [ -n "$CHURNPID" ] && kill -KILL "$CHURNPID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# one SD: a churn run with SD's register loaded, profiled; prints the shares.
one() {
  "$1" -v trace --register-only >/dev/null 2>"$TMP/err" &
  TRACER=$!
  for _ in $(seq 200); do grep -q "register loaded" "$TMP/err" && break; sleep 0.05; done
  grep -q "register loaded" "$TMP/err" || die "$1 did not attach: $(cat "$TMP/err")"
  unshare -n sh -c "ip link set lo up && \
    sysctl -q -w net.ipv4.ip_local_port_range='10000 65000' net.ipv4.tcp_tw_reuse=1 && \
    exec $CHURN --port 9450 --clients 2 --seconds 3 --connections 2000000" >"$TMP/churn" &
  CHURNPID=$!
  sleep 0.5
  perf record -q -a -g -F "$FREQ" -o "$TMP/perf.data" -- sleep 2 >/dev/null 2>&1
  wait "$CHURNPID"; CHURNPID=
  kill -INT "$TRACER"; wait "$TRACER" || true; TRACER=
  perf script -i "$TMP/perf.data" -F comm,ip,sym 2>/dev/null | python3 -c '
import sys
# samples of the churn process; a sample counts for each part once if any frame names it
parts = ["bpf_trace_run", "htab_lru_map_update_elem", "bpf_lru_pop_free",
         "htab_lru_map_delete_elem", "bpf_lru_push_free", "htab_map_update_elem",
         "htab_map_delete_elem", "lookup_nulls_elem_raw", "pcpu_freelist"]
total, hits, frames, comm = 0, dict.fromkeys(parts, 0), [], None
def flush():
    global total
    if comm == "churn":
        total += 1
        for p in parts:
            if any(p in f for f in frames):
                hits[p] += 1
for line in sys.stdin:
    if not line.strip():
        flush(); frames, comm = [], None
    elif line[0] not in " \t":
        comm = line.split()[0]
    else:
        frames.append(line.split()[-1])
flush()
print(f"  churn samples {total}; " + ", ".join(
    f"{p} {100 * hits[p] / max(total, 1):.2f}%" for p in parts if hits[p]))'
  echo "  $1: $(cat "$TMP/churn")"
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$ROUNDS"); do
  for sd in "$@"; do one "$sd"; done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

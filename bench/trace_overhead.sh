#!/usr/bin/env bash
# What the eBPF state register costs: loopback connection churn (bench/churn) with no tracer,
# with the register alone (`trace --register-only`, what `serve` will host) and with
# `trace --quiet` (the register plus its ring read in user space), side by side, interleaved,
# ROUNDS times; then start-up time, RSS, and the kernel memory of the register's maps.
#
# Usage (root, one benchmark at a time on a shared machine):
#   bench/trace_overhead.sh
# Knobs (environment):
#   ROUNDS=7 RUN_SECONDS=3 CLIENTS=2   churn runs per variant, seconds each, client threads
#   VARIANTS="none register trace"     also "print": `trace` with its table to /dev/null, and
#                                      "baseline": `trace --register-only` of BASELINE_SD
#   BASELINE_SD=                       another build's sockdoctor (e.g. before a change)
#   STARTS=9                           start-up measurements
#   BUILD_DIR=                         a configured build dir (default: the release preset)
#   SKIP_BUILD=0                       1: use what is built
#   RESULTS=build/bench-results        where the report goes
# Each churn run gets a fresh network namespace (lo only), so TIME_WAIT left by one run does not
# slow the next; the register itself is global and sees every namespace.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-7}
RUN_SECONDS=${RUN_SECONDS:-3}
CLIENTS=${CLIENTS:-2}
VARIANTS=${VARIANTS:-none register trace}
STARTS=${STARTS:-9}
RESULTS=${RESULTS:-$ROOT/build/bench-results}

die() { echo "trace_overhead: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (eBPF, network namespaces)"

if [ -z "${BUILD_DIR:-}" ]; then
  BUILD_DIR=$ROOT/build/release
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd "$ROOT" && cmake --preset release >/dev/null && cmake --build --preset release -j2 >/dev/null)
  fi
fi
SD=$BUILD_DIR/src/sockdoctor
CHURN=$BUILD_DIR/bench/churn
[ -x "$SD" ] && [ -x "$CHURN" ] || die "build $SD and $CHURN first"
mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RESULTS/trace-overhead-raw-$STAMP.tsv
REPORT=$RESULTS/trace-overhead-$STAMP.txt
TMP=$(mktemp -d)
TRACER=
STATS_WAS=$(cat /proc/sys/kernel/bpf_stats_enabled)
cleanup() {
  [ -n "$TRACER" ] && kill -KILL "$TRACER" 2>/dev/null || true
  echo "$STATS_WAS" >/proc/sys/kernel/bpf_stats_enabled
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# start_tracer VARIANT: starts the tracer of the variant (none: nothing), waits until attached.
start_tracer() {
  local args sd=$SD
  case $1 in
    none) TRACER=; return ;;
    register) args=(--register-only) ;;
    trace) args=(--quiet) ;;
    print) args=() ;;
    baseline) args=(--register-only); sd=${BASELINE_SD:?baseline needs BASELINE_SD} ;;
    *) die "unknown variant $1" ;;
  esac
  : >"$TMP/err" # before the start: an old "register loaded" must not count
  "$sd" -v trace "${args[@]}" >"$TMP/out" 2>>"$TMP/err" &
  TRACER=$!
  for _ in $(seq 200); do
    grep -q "register loaded" "$TMP/err" 2>/dev/null && return
    kill -0 "$TRACER" 2>/dev/null || die "trace exited: $(cat "$TMP/err")"
    sleep 0.05
  done
  die "trace did not attach within 10 s"
}

# tracer_cpu: user+system seconds of the tracer so far; tracer_rss: its peak RSS in KiB.
tracer_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%.3f", ($12 + $13) / hz}' \
    "/proc/$TRACER/stat"
}
tracer_rss() { awk '/^VmHWM/ {print $2}' "/proc/$TRACER/status"; }

stop_tracer() {
  [ -z "$TRACER" ] && return
  kill -INT "$TRACER"
  wait "$TRACER" || true
  TRACER=
}

# busy_ticks: CPU time of the whole host so far (all CPUs, every category but idle and iowait),
# in USER_HZ ticks: softirq time is not charged to the churning process itself.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# churn_once PORT: one bounded run in a fresh namespace; prints
# "rate churn_cpu_us_per_conn host_busy_us_per_conn".
churn_once() {
  local b0 b1 out
  b0=$(busy_ticks)
  out=$(unshare -n sh -c "ip link set lo up && \
    sysctl -q -w net.ipv4.ip_local_port_range='10000 65000' net.ipv4.tcp_tw_reuse=1 && \
    exec $CHURN --port $1 --clients $CLIENTS --seconds $RUN_SECONDS --connections 2000000")
  b1=$(busy_ticks)
  awk -v out="$out" -v busy=$((b1 - b0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {
    split(out, f, "[ =]"); n = f[2]; rate = f[6]; per = f[10]
    printf "%s %s %.2f\n", rate, per, (n > 0 ? busy / hz * 1e6 / n : 0) }'
}

# quiesce: waits (at most 30 s) until the TIME_WAIT sockets of the namespaces of earlier runs
# are freed; the kernel purges them from a work queue when the namespace goes, which would
# otherwise take CPU from the next run (whichever variant it is).
tw_objects() { awk '$1 == "tw_sock_TCP" || $1 == "tw_sock_TCPv6" {n += $2} END {print n + 0}' /proc/slabinfo; }
TW_BASE=$(tw_objects)
quiesce() {
  for _ in $(seq 300); do
    [ "$(tw_objects)" -le $((TW_BASE + 2000)) ] && { sleep 0.5; return; }
    sleep 0.1
  done
  echo "trace_overhead: TIME_WAIT sockets of earlier runs still not freed after 30 s" >&2
}

median() { sort -n | awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo -e "round\tvariant\trate_per_s\tchurn_cpu_us_per_conn\ttracer_cpu_s\ttracer_rss_kib\thost_busy_us_per_conn" >"$RAW"
read -r -a variants <<<"$VARIANTS"
n=${#variants[@]}
for round in $(seq "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do # rotate the order every round: no variant always goes first
    v=${variants[$(((i + round) % n))]}
    quiesce
    start_tracer "$v"
    read -r rate percon hostper <<<"$(churn_once $((9400 + i)))"
    cpu=-; rss=-
    if [ -n "$TRACER" ]; then cpu=$(tracer_cpu); rss=$(tracer_rss); fi
    stop_tracer
    echo -e "$round\t$v\t$rate\t$percon\t$cpu\t$rss\t$hostper" >>"$RAW"
    echo "round $round: $v $rate conn/s, churn $percon / host $hostper us CPU per conn (tracer CPU $cpu s, RSS $rss KiB)" >&2
  done
done

# Start-up: the whole process (exec to attached to exit) and the register's own load figure.
starts=$TMP/starts
for _ in $(seq "$STARTS"); do
  t0=$(date +%s%N)
  "$SD" -v trace --register-only --duration 0.001 2>"$TMP/err" >/dev/null
  t1=$(date +%s%N)
  load=$(sed -n 's/.*register loaded in \([0-9.]*\) ms.*/\1/p' "$TMP/err")
  echo "$(( (t1 - t0) / 1000000 )) $load" >>"$starts"
done

cat >"$TMP/maps.py" <<'PY'
import json, sys
before = int(sys.argv[1])
maps = [m for m in json.load(sys.stdin) if m["id"] > before]
total = 0
for m in sorted(maps, key=lambda m: -m.get("bytes_memlock", 0)):
    mem = m.get("bytes_memlock", 0)
    total += mem
    print("    %-16s %-14s max_entries %8d %8.2f MiB"
          % (m.get("name", "?"), m["type"], m["max_entries"], mem / 1048576))
print("    total %.2f MiB" % (total / 1048576))
PY

# Kernel memory of the maps, for the defaults of `trace` (4 MiB ring) and of the register alone.
map_memory() {
  local before after
  before=$(bpftool -j map show | python3 -c 'import json,sys; print(max([m["id"] for m in json.load(sys.stdin)] or [0]))')
  start_tracer "$1"
  bpftool -j map show | python3 "$TMP/maps.py" "$before"
  stop_tracer
}

# Cost per program run (kernel.bpf_stats_enabled, on for one register run only, then restored).
cat >"$TMP/stats.py" <<'PY'
import json, sys
before, conns = int(sys.argv[1]), float(sys.argv[2])
total = 0.0
for p in json.load(sys.stdin):
    if p["id"] <= before or not p.get("run_cnt"):
        continue
    ns = p["run_time_ns"] / p["run_cnt"]
    total += p["run_time_ns"]
    print("    %-16s %9d runs %7.0f ns/run" % (p.get("name", "?"), p["run_cnt"], ns))
if conns > 0:
    print("    all programs: %.2f us of CPU per connection (client + server side)" % (total / conns / 1000))
PY
prog_stats() {
  local before rate
  before=$(bpftool -j prog show | python3 -c 'import json,sys; print(max([p["id"] for p in json.load(sys.stdin)] or [0]))')
  echo 1 >/proc/sys/kernel/bpf_stats_enabled
  start_tracer register
  read -r rate _ _ <<<"$(churn_once 9499)"
  bpftool -j prog show | python3 "$TMP/stats.py" "$before" "$(awk -v r="$rate" -v s="$RUN_SECONDS" 'BEGIN {print r * s}')"
  stop_tracer
  echo "$STATS_WAS" >/proc/sys/kernel/bpf_stats_enabled
}

{
  echo "sockdoctor state register overhead, $(date -u +%FT%TZ), kernel $(uname -r), $(nproc) CPUs"
  echo "churn: $CLIENTS client threads, server closes first, ${RUN_SECONDS} s per run, $ROUNDS rounds, fresh netns per run"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  printf "%-10s %11s %8s %17s %8s %13s %9s\n" variant "median c/s" "vs none" "churn CPU us/conn" \
    "vs none" "tracer CPU s" "RSS KiB"
  base=$(awk -F'\t' '$2 == "none" {print $3}' "$RAW" | median)
  base_cpu=$(awk -F'\t' '$2 == "none" {print $4}' "$RAW" | median)
  for v in "${variants[@]}"; do
    med=$(awk -F'\t' -v v="$v" '$2 == v {print $3}' "$RAW" | median)
    per=$(awk -F'\t' -v v="$v" '$2 == v {print $4}' "$RAW" | median)
    cpu=$(awk -F'\t' -v v="$v" '$2 == v && $5 != "-" {print $5}' "$RAW" | median)
    rss=$(awk -F'\t' -v v="$v" '$2 == v && $6 != "-" {print $6}' "$RAW" | sort -n | tail -1)
    ratio=$(awk -v a="$med" -v b="$base" 'BEGIN {if (b > 0) printf "%.3f", a / b; else print "nan"}')
    cratio=$(awk -v a="$per" -v b="$base_cpu" 'BEGIN {if (b > 0) printf "%.3f", a / b; else print "nan"}')
    printf "%-10s %11s %8s %17s %8s %13s %9s\n" "$v" "$med" "$ratio" "$per" "$cratio" "${cpu:-nan}" \
      "${rss:--}"
  done
  echo
  echo "host busy CPU per connection (all CPUs, incl. softirq and other tenants), median:"
  for v in "${variants[@]}"; do
    echo "  $v: $(awk -F'\t' -v v="$v" '$2 == v {print $7}' "$RAW" | median) us"
  done
  echo
  echo "per-round ratios to the same round's none (median over rounds): rate, churn CPU/conn"
  for v in "${variants[@]}"; do
    [ "$v" = none ] && continue
    r=$(awk -F'\t' -v v="$v" '$2 == "none" {b[$1] = $3} $2 == v {x[$1] = $3}
          END {for (k in x) if (b[k] > 0) print x[k] / b[k]}' "$RAW" | median)
    c=$(awk -F'\t' -v v="$v" '$2 == "none" {b[$1] = $4} $2 == v {x[$1] = $4}
          END {for (k in x) if (b[k] > 0) print x[k] / b[k]}' "$RAW" | median)
    echo "  $v: rate $r, CPU/conn $c"
  done
  echo
  echo "start-up, $STARTS runs (median): whole process $(cut -d' ' -f1 "$starts" | median) ms," \
       "register open+load+attach $(cut -d' ' -f2 "$starts" | median) ms"
  echo
  echo "cost per BPF program run during one register run (bpf_stats):"
  prog_stats
  echo
  echo "kernel memory of the maps (bpftool bytes_memlock):"
  echo "  trace (defaults: --entries 131072, --ring-size 4M):"
  map_memory trace
  echo "  register alone (4 KiB ring):"
  map_memory register
  echo
  if command -v tcpstates-bpfcc >/dev/null; then
    echo "bcc tcpstates-bpfcc, for comparison:"
    timeout 20 tcpstates-bpfcc >/dev/null 2>"$TMP/bcc" && echo "  ran" ||
      echo "  does not run here: $(grep -m1 -iE 'error|unable|fail' "$TMP/bcc" || head -1 "$TMP/bcc")"
  else
    echo "bcc tcpstates-bpfcc: not installed"
  fi
  echo
  echo "raw runs: $RAW"
} >"$REPORT" # not a pipeline: a subshell would hide TRACER from the cleanup trap
cat "$REPORT"

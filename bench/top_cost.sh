#!/usr/bin/env bash
# What `sockdoctor top` costs at 100k sockets: CPU time of `top --json -d 1 --count 60` (60 one-
# second intervals) on a socket farm in a private network namespace, as a share of one core.
#
# Usage (root):  bench/top_cost.sh
# Knobs (environment):
#   SOCKETS="80000 15000 5000 0"  ESTAB, CLOSE-WAIT, FIN-WAIT-2, TIME-WAIT sockets (+1 listener
#                                 per holder); TIME_WAIT entries expire during the run
#   PROCS=100                     holder processes
#   COUNT=60 DELAY=1              intervals and seconds between them
#   VARIANTS="adaptive"           also: "every1" (--detail-every 1: list every socket and scan
#                                 owners every interval; everyN: every Nth interval, which
#                                 with every1 splits the cost of a light sample from a complete
#                                 one), "no-owners" (--no-owners)
#   ROUNDS=1                      runs of each variant (a median needs 3)
#   BASELINE=path/to/sockdoctor   also run each variant with this (older) binary right after,
#                                 reported as baseline-VARIANT (what a change bought)
#   SHARED_EHASH=0                1: use the host's TCP hash table (its other sockets add cost)
#   HOST_PROC=0                   1: scan the host's /proc (every process on the machine)
#   BUILD_DIR=                    a configured build dir (default: the release preset)
#   RESULTS=build/bench-results   where the report goes
#   PERF=0                        1: run top under `perf record -g` (profile in RESULTS/top-VARIANT.perf;
#                                 the CPU figures then include perf's own cost: profile only)
#
# Isolation, and why: every network namespace shares the host's TCP hash table unless it was
# created with net.ipv4.tcp_child_ehash_entries set in its parent, so a dump walks every socket
# of the host. The script sets that sysctl inside a private outer namespace (nothing on the host
# changes) and runs the farm in a namespace inside it, with its own 262144-bucket table (the size
# the kernel picked for this host's own table). It also runs in a private PID namespace with its
# own /proc, so the owner scan sees the farm's processes and not whatever else the machine runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF="$ROOT/bench/top_cost.sh"
read -r EST CW FW2 TW <<<"${SOCKETS:-80000 15000 5000 0}"
PROCS=${PROCS:-100}
COUNT=${COUNT:-60}
DELAY=${DELAY:-1}
VARIANTS=${VARIANTS:-adaptive}

die() { echo "top_cost: $*" >&2; exit 1; }

# ---- inner: in the farm's namespace --------------------------------------------------------------

# run_top VARIANT ARGS...: one timed run; prints "variant cpu_s wall_s rss_kb details".
run_top() {
  local variant=$1
  shift
  local out="$WORK/$variant.ndjson" tfile="$WORK/$variant.time"
  local -a prof=()
  [[ ${PERF:-0} == 1 ]] && prof=(perf record -q -F 499 -g -o "$RESULTS/top-$variant.perf" --)
  /usr/bin/time -f '%U %S %e %M' -o "$tfile" "${prof[@]}" \
    "$SD" top --json -d "$DELAY" --count "$COUNT" "$@" >"$out" 2>"$WORK/$variant.err" ||
    die "$variant: sockdoctor top failed: $(head -c 500 "$WORK/$variant.err") $(tail -c 300 "$out") $(cat "$tfile")"
  local lines details
  lines=$(wc -l <"$out")
  ((lines == COUNT)) || die "$variant: $lines lines, want $COUNT"
  # Samples that listed ESTABLISHED socket by socket are the detail samples.
  details=$(grep -c '"listed_states":\[[^]]*"established"' "$out" || true)
  awk -v v="$variant" -v d="$details" -v c="$COUNT" \
    '{ printf "%s %.2f %.2f %d %d/%d\n", v, $1 + $2, $3, $4, d, c }' "$tfile"
}

inner() {
  ip link set lo up
  WORK=$(mktemp -d)
  local ready="$WORK/ready"
  "$FARM" --established "$EST" --close-wait "$CW" --fin-wait2 "$FW2" --time-wait "$TW" \
    --procs "$PROCS" --hold 3600 --build-timeout 900 --ready-file "$ready" 2>"$WORK/farm.log" &
  FARM_PID=$!
  trap 'kill -TERM $FARM_PID 2>/dev/null; wait $FARM_PID 2>/dev/null; rm -rf "$WORK"' EXIT
  for ((i = 0; i < 9000; i++)); do
    [[ -f $ready ]] && break
    kill -0 "$FARM_PID" 2>/dev/null || die "sockfarm exited: $(cat "$WORK/farm.log")"
    sleep 0.1
  done
  [[ -f $ready ]] || die "farm not ready in 900 s"
  # A negative tcp_ehash_entries means the namespace shares the host's table.
  echo "sockets: $(ss -tanH | wc -l) (ss -tan), ehash buckets $(cat /proc/sys/net/ipv4/tcp_ehash_entries)," \
    "processes in /proc: $(find /proc -maxdepth 1 -name '[0-9]*' | wc -l)"
  local r v new=$SD
  for ((r = 1; r <= ${ROUNDS:-1}; r++)); do
    for v in $VARIANTS; do
      SD=$new run_variant "$v" "$v"
      # The older binary right after, in the same farm: a ratio that the load shifts less.
      if [[ -n ${BASELINE:-} ]]; then SD=$BASELINE run_variant "$v" "baseline-$v"; fi
    done
  done
}

# run_variant VARIANT NAME: run_top with the variant's options, reported as NAME.
run_variant() {
  case $1 in
  adaptive) run_top "$2" ;;
  every[0-9]*) run_top "$2" --detail-every "${1#every}" ;;
  no-owners) run_top "$2" --no-owners ;;
  *) die "unknown variant $1" ;;
  esac
}

case ${1:-} in
--inner)
  SD=$2 FARM=$3
  inner
  exit 0
  ;;
--outer)
  # In a private namespace: size the hash table of the namespaces created from here on.
  shift
  [[ ${SHARED_EHASH:-0} == 1 ]] || sysctl -qw net.ipv4.tcp_child_ehash_entries=262144
  if [[ ${HOST_PROC:-0} == 1 ]]; then
    exec unshare -n -- "$SELF" --inner "$@"
  fi
  # PID 1 of the new PID namespace stays in this namespace (bash does not exec a command that is
  # followed by another): sockfarm checks that its namespace differs from PID 1's.
  exec unshare -p -f --mount-proc -- bash -c 'unshare -n -- "$0" --inner "$1" "$2"; exit $?' \
    "$SELF" "$@"
  ;;
esac

# ---- outer: build, then run in namespaces ---------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces)"
for tool in unshare ss sysctl cmake; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (Debian package 'time')"
RESULTS=${RESULTS:-$ROOT/build/bench-results}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
export RESULTS
if [[ -n ${BUILD_DIR:-} ]]; then
  BIN=$(cd "$BUILD_DIR" && pwd)
  cmake --build "$BIN" -j 2 --target sockdoctor sockfarm >"$RESULTS/top_cost-build.log" 2>&1 ||
    die "build failed (see $RESULTS/top_cost-build.log)"
else
  BIN="$ROOT/build/release"
  (cd "$ROOT" && cmake --preset release && cmake --build --preset release -j 2 \
    --target sockdoctor sockfarm) >"$RESULTS/top_cost-build.log" 2>&1 ||
    die "build failed (see $RESULTS/top_cost-build.log)"
fi
REPORT="$RESULTS/top_cost-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "sockdoctor top cost: $COUNT intervals of $DELAY s; farm ESTAB $EST, CLOSE-WAIT $CW," \
    "FIN-WAIT-2 $FW2, TIME-WAIT $TW over $PROCS processes; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg);" \
    "TCP sockets host-wide: $(awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "alloc") print $(i + 1) }' /proc/net/sockstat)"
  echo "columns: variant cpu_s wall_s max_rss_kb detail_samples/intervals"
  unshare -n -- "$SELF" --outer "$BIN/src/sockdoctor" "$BIN/bench/sockfarm" |
    awk '{ print } $2 ~ /^[0-9.]+$/ && $3 > 0 {
        p = 100 * $2 / $3; printf "  -> %s: %.1f%% of one core\n", $1, p; v[$1] = v[$1] " " p; n[$1]++ }
      END { for (k in n) if (n[k] > 1) {
          m = split(substr(v[k], 2), a, " ")
          for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
          printf "median %s: %.1f%% of one core over %d rounds (%s)\n", k,
            (m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2), m, substr(v[k], 2) } }'
} | tee "$REPORT"
echo "report: $REPORT"

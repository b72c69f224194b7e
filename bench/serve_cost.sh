#!/usr/bin/env bash
# What `sockdoctor serve` costs at 100k sockets, side by side in one run: a fresh scrape versus
# `sockdoctor check` on the same farm (target <= 1.2x), the exporter's idle CPU and RSS at a 15 s
# scrape interval (target < 1% of a core, < 60 MB), and node_exporter's tcpstat collector on the
# same farm. Isolation as bench/top_cost.sh: a private outer namespace sizes the farm's own TCP
# hash table, and a private PID namespace gives the owner scan only the farm's processes.
#
# Usage (root):  flock /work/bench.lock bench/serve_cost.sh
# Knobs (environment):
#   SOCKETS="60000 30000 10000"  ESTAB, CLOSE-WAIT, FIN-WAIT-2 (+1 listener per holder)
#   PROCS=100 REPS=5             holder processes; interleaved runs per tool (median)
#   IDLE=60 INTERVAL=15          idle window (s) and scrape interval (s) for the idle cost
#   BUILD_DIR=                   a configured build dir (default: the release preset)
#   RESULTS=build/bench-results  where the report goes
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF="$ROOT/bench/serve_cost.sh"
read -r EST CW FW2 <<<"${SOCKETS:-60000 30000 10000}"
PROCS=${PROCS:-100}
REPS=${REPS:-5}
IDLE=${IDLE:-60}
INTERVAL=${INTERVAL:-15}
SD_PORT=10188
NE_PORT=9100

die() { echo "serve_cost: $*" >&2; exit 1; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# cpu_ticks PID: user + system clock ticks of a process so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

wait_port() {
  for ((i = 0; i < 100; i++)); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  die "nothing answers on 127.0.0.1:$1"
}

# scrape PORT PATH: wall seconds of one GET (the body is discarded, its size is checked).
scrape() {
  local out
  out=$(curl -s -o "$WORK/body" -w '%{http_code} %{time_total}' "http://127.0.0.1:$1$2")
  [[ ${out%% *} == 200 ]] || die "scrape of :$1$2 answered ${out%% *}"
  echo "${out#* }"
}

# ---- inner: in the farm's namespace --------------------------------------------------------------

inner() {
  ip link set lo up
  WORK=$(mktemp -d)
  local ready="$WORK/ready"
  PIDS=() # global: the EXIT trap runs after this function has returned
  "$FARM" --established "$EST" --close-wait "$CW" --fin-wait2 "$FW2" --procs "$PROCS" \
    --hold 3600 --build-timeout 900 --ready-file "$ready" 2>"$WORK/farm.log" &
  PIDS+=($!)
  trap 'for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
  for ((i = 0; i < 9000; i++)); do
    [[ -f $ready ]] && break
    kill -0 "${PIDS[0]}" 2>/dev/null || die "sockfarm exited: $(cat "$WORK/farm.log")"
    sleep 0.1
  done
  [[ -f $ready ]] || die "farm not ready in 900 s"
  echo "sockets: $(ss -tanH | wc -l) (ss -tan), ehash buckets $(cat /proc/sys/net/ipv4/tcp_ehash_entries)"

  "$SD" --register off serve --listen "127.0.0.1:$SD_PORT" --min-interval 0 --netns "/proc/$$/ns/net" \
    --db "$WORK/history.db" \
    2>"$WORK/serve.err" &
  PIDS+=($!)
  local serve_pid=$!
  prometheus-node-exporter --collector.disable-defaults --collector.tcpstat \
    --web.listen-address="127.0.0.1:$NE_PORT" 2>"$WORK/ne.err" &
  PIDS+=($!)
  local ne_pid=$!
  wait_port "$SD_PORT"
  wait_port "$NE_PORT"
  scrape "$SD_PORT" /metrics >/dev/null # warm: the first sample loads what is found once

  # Interleaved, so a burst of load from elsewhere spreads over all three.
  local r
  for ((r = 1; r <= REPS; r++)); do
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/check.time" "$SD" --register off check >/dev/null 2>&1 || true
    awk '{ printf "check %.4f %.2f %d\n", $1, $2 + $3, $4 }' "$WORK/check.time"
    echo "serve_scrape $(scrape "$SD_PORT" /metrics) - $(rss_kb "$serve_pid")"
    echo "serve_bytes $(stat -c %s "$WORK/body")"
    echo "node_exporter_scrape $(scrape "$NE_PORT" /metrics) - $(rss_kb "$ne_pid")"
  done

  # Idle: one scrape every INTERVAL s for IDLE s; CPU of each exporter over the window.
  local hz t0_sd t0_ne start end
  hz=$(getconf CLK_TCK)
  t0_sd=$(cpu_ticks "$serve_pid")
  t0_ne=$(cpu_ticks "$ne_pid")
  start=$EPOCHREALTIME
  for ((r = 0; r < IDLE / INTERVAL; r++)); do
    scrape "$SD_PORT" /metrics >/dev/null
    scrape "$NE_PORT" /metrics >/dev/null
    sleep "$INTERVAL"
  done
  end=$EPOCHREALTIME
  awk -v a="$t0_sd" -v b="$(cpu_ticks "$serve_pid")" -v hz="$hz" -v s="$start" -v e="$end" \
    -v rss="$(rss_kb "$serve_pid")" \
    'BEGIN { printf "serve_idle %.3f %.2f %d\n", 100 * (b - a) / hz / (e - s), e - s, rss }'
  awk -v a="$t0_ne" -v b="$(cpu_ticks "$ne_pid")" -v hz="$hz" -v s="$start" -v e="$end" \
    -v rss="$(rss_kb "$ne_pid")" \
    'BEGIN { printf "node_exporter_idle %.3f %.2f %d\n", 100 * (b - a) / hz / (e - s), e - s, rss }'
}

case ${1:-} in
--inner)
  SD=$2 FARM=$3
  inner
  exit 0
  ;;
--outer)
  shift
  sysctl -qw net.ipv4.tcp_child_ehash_entries=262144
  exec unshare -p -f --mount-proc -- bash -c 'unshare -n -- "$0" --inner "$1" "$2"; exit $?' \
    "$SELF" "$@"
  ;;
esac

# ---- outer: build, run, summarise ------------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces)"
for tool in unshare ss sysctl cmake curl prometheus-node-exporter; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/setup.sh installs it)"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (Debian package 'time')"
RESULTS=${RESULTS:-$ROOT/build/bench-results}
mkdir -p "$RESULTS"
if [[ -n ${BUILD_DIR:-} ]]; then
  BIN=$(cd "$BUILD_DIR" && pwd)
else
  BIN="$ROOT/build/release"
  (cd "$ROOT" && cmake --preset release && cmake --build --preset release -j 2 \
    --target sockdoctor sockfarm) >"$RESULTS/serve_cost-build.log" 2>&1 ||
    die "build failed (see $RESULTS/serve_cost-build.log)"
fi
REPORT="$RESULTS/serve_cost-$(date -u +%Y%m%dT%H%M%SZ).txt"
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT
{
  echo "sockdoctor serve cost: farm ESTAB $EST, CLOSE-WAIT $CW, FIN-WAIT-2 $FW2 over $PROCS" \
    "processes; $REPS interleaved runs; idle $IDLE s at one scrape per $INTERVAL s; $(nproc) CPUs;" \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
  unshare -n -- "$SELF" --outer "$BIN/src/sockdoctor" "$BIN/bench/sockfarm" | tee "$RAW"
  med() { awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$RAW" | median; }
  check=$(med check 2)
  serve=$(med serve_scrape 2)
  ne=$(med node_exporter_scrape 2)
  echo "--"
  printf 'median wall: sockdoctor check %.3f s (CPU %.2f s, peak RSS %d MB), serve scrape %.3f s,' \
    "$check" "$(med check 3)" "$(($(med check 4 | cut -d. -f1) / 1024))" "$serve"
  printf ' node_exporter tcpstat scrape %.3f s\n' "$ne"
  awk -v s="$serve" -v c="$check" -v n="$ne" 'BEGIN {
    printf "ratio serve scrape / check: %.2fx (target <= 1.2x): %s\n", s / c, s / c <= 1.2 ? "PASS" : "MISS"
    printf "ratio serve scrape / node_exporter tcpstat: %.1fx\n", s / n }'
  printf 'serve /metrics: %d bytes; serve RSS after scrapes: %d MB\n' "$(med serve_bytes 2)" \
    "$(($(med serve_scrape 4 | cut -d. -f1) / 1024))"
  awk '$1 ~ /_idle$/ { printf "%s: %.2f%% of one core over %.0f s, RSS %d MB%s\n", $1, $2, $3, $4 / 1024,
         $1 == "serve_idle" ? sprintf(" (targets: CPU < 1%%: %s, RSS < 60 MB: %s)", $2 < 1 ? "PASS" : "MISS",
                                      $4 < 60 * 1024 ? "PASS" : "MISS") : "" }' "$RAW"
} | tee "$REPORT"
echo "report: $REPORT"

#!/usr/bin/env bash
# The test suite beside bounded busy loops (issue 15: "no test may depend on being alone on the
# machine"). Starts LOOPS shell loops that spin for at most LOOP_SECONDS each, runs
# `ctest --preset PRESET -j1` with any extra arguments, stops the loops by PID and prints the
# load average before and after. Exit status: ctest's.
#
#   bash tests/tools/under_load.sh                         # 2 loops, the whole dev suite
#   LOOPS=3 bash tests/tools/under_load.sh -R integration  # only the integration tests
#   ROUNDS=3 bash tests/tools/under_load.sh -R 'lab_|serve_'   # the same tests three times
#
# Run it with nothing else big on the host: every namespace shares one socket table, and a
# neighbour holding a million sockets makes `ss -tanp` (the tests' oracle) take minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
LOOPS=${LOOPS:-2}
LOOP_SECONDS=${LOOP_SECONDS:-3600}
ROUNDS=${ROUNDS:-1}
PRESET=${PRESET:-dev}

pids=()
stop_loops() {
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop_loops EXIT INT TERM

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 0; i < LOOPS; i++)); do
  timeout "$LOOP_SECONDS" bash -c 'while :; do :; done' &
  pids+=($!)
done
sleep 5 # let the loops take the cores before the first test starts
echo "load with $LOOPS busy loops: $(cut -d' ' -f1-3 /proc/loadavg)"

rc=0
for ((r = 1; r <= ROUNDS; r++)); do
  echo "== round $r of $ROUNDS"
  ctest --preset "$PRESET" -j1 --output-on-failure "$@" || rc=$?
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$rc"

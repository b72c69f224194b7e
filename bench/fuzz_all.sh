#!/usr/bin/env bash
# Runs every libFuzzer target (build/fuzz/fuzz/*_fuzz) for FUZZ_SECONDS each (default 600) on its
# seeds in tests/fuzz_corpus/<target>, and prints per target: executions, coverage, crashes.
# Exit 1 if any target crashed or violated a contract; the input is kept in build/fuzz/artifacts.
# Usage: bench/fuzz_all.sh [-t SECONDS] [TARGET...]   (CI: -t 10; a long run: under
#        `flock /work/bench.lock nice bench/fuzz_all.sh`). Build first: cmake --preset fuzz &&
#        cmake --build --preset fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-600}
if [[ ${1:-} == -t ]]; then
  seconds=$2
  shift 2
fi
bin=build/fuzz/fuzz
work=build/fuzz/corpus       # what the fuzzers add; the seeds in tests/ stay as committed
artifacts=build/fuzz/artifacts
mkdir -p "$work" "$artifacts"
if (($# == 0)); then
  set -- $(cd "$bin" 2>/dev/null && ls -- *_fuzz | sed 's/_fuzz$//')
fi
if (($# == 0)); then
  echo "fuzz_all: no targets in $bin; build them with: cmake --preset fuzz && cmake --build --preset fuzz" >&2
  exit 1
fi
# Report leaks and UB as findings; symbolised stacks come from llvm-symbolizer-19.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [[ -z ${ASAN_SYMBOLIZER_PATH:-} && -x /usr/bin/llvm-symbolizer-19 ]]; then
  export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-19
fi

printf '%-14s %6s %12s %9s %6s %8s %7s  %s\n' target seconds execs exec/s cov features crashes note
failed=0
for t in "$@"; do
  mkdir -p "$work/$t"
  log=build/fuzz/$t.log
  before=$(ls "$artifacts" | grep -c "^$t-" || true)
  rc=0
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb bounds memory on a shared box.
  "$bin/${t}_fuzz" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/$t-" "$work/$t" "tests/fuzz_corpus/$t" >"$log" 2>&1 || rc=$?
  after=$(ls "$artifacts" | grep -c "^$t-" || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  crashes=$((after - before))
  note=""
  if ((rc != 0)); then
    failed=1
    ((crashes > 0)) || crashes=1
    note="exit $rc, see $log"
  fi
  printf '%-14s %6s %12s %9s %6s %8s %7s  %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "$crashes" "$note"
done
exit $failed

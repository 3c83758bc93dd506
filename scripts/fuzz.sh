#!/usr/bin/env bash
# Builds one libFuzzer harness (preset `fuzz`, clang) and runs it for SECONDS on a scratch copy of its seed
# corpus; prints the executions and the crashes. SECONDS=0 runs the seed corpus once and stops.
# Extra arguments go to libFuzzer (e.g. -runs=1000000). Reproducers land in fuzz/crashes/ (not committed).
#   scripts/fuzz.sh image 60
#   scripts/fuzz.sh all 20            # every target in turn (CI's smoke run)
# Exit status: 0 when no target crashed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(image signature request_target multipart handler snapshot_manifest)
if (($# < 2)); then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS [libFuzzer flags...]   (targets: ${targets[*]})" >&2
  exit 2
fi
target=$1 seconds=$2
shift 2
if [[ $target == all ]]; then
  status=0
  for t in "${targets[@]}"; do bash "$0" "$t" "$seconds" "$@" || status=1; done
  exit $status
fi
if [[ ! -d fuzz/corpus/$target ]]; then
  echo "fuzz.sh: unknown target '$target' (targets: ${targets[*]})" >&2
  exit 2
fi

jobs=${NEARDUP_FUZZ_BUILD_JOBS:-2}
if [[ ! -f build/fuzz/CMakeCache.txt ]]; then
  cmake --preset fuzz >/dev/null
fi
cmake --build build/fuzz -j "$jobs" --target "fuzz_$target" >/dev/null

scratch=build/fuzz/scratch/$target
rm -rf "$scratch"
mkdir -p "$scratch" fuzz/crashes
cp -r "fuzz/corpus/$target/." "$scratch/"
# A run over 25 s is reported as a timeout: far above any seed (milliseconds), with room for a machine busy with builds.
flags=(-timeout=25 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="fuzz/crashes/$target-")
[[ -f fuzz/$target.dict ]] && flags+=(-dict="fuzz/$target.dict")
if [[ $seconds == 0 ]]; then flags+=(-runs=0); else flags+=(-max_total_time="$seconds"); fi

log=build/fuzz/scratch/$target.log
before=$(find fuzz/crashes -name "$target-*" 2>/dev/null | wc -l)
start=$(date +%s)
# ASan's and UBSan's reports end the run (libFuzzer saves the input); leaks in the uninstrumented
# libraries' one-time set-up are not the harness's (see fuzz/README.md).
set +e
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
  nice -n 15 "build/fuzz/fuzz/fuzz_$target" "${flags[@]}" "$@" "$scratch" >"$log" 2>&1
rc=$?
set -e
elapsed=$(($(date +%s) - start))
after=$(find fuzz/crashes -name "$target-*" 2>/dev/null | wc -l)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
crashes=$((after - before))
echo "fuzz $target: ${execs:-?} executions in ${elapsed} s, $crashes crashes, exit $rc (log: $log)"
if ((rc != 0 || crashes > 0)); then
  grep -E "^==[0-9]+==ERROR|runtime error|property violated|uncaught exception|Test unit written" "$log" | head -20 >&2 || true
  exit 1
fi

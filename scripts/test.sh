#!/usr/bin/env bash
# Installs what is missing, then CI's checks, each a part that can also be run alone:
#   dev   the dev build with -Werror, the whole test suite
#   asan  an ASan + UBSan build (build/asan), the whole test suite under it
#   tsan  a TSan build (build/tsan), the store and server suites under it
#   fuzz  every libFuzzer harness (build/fuzz, clang) for a short smoke run on its seed corpus
# scripts/test.sh runs them all (what .ci/run does); scripts/test.sh dev runs the first only.
# Prints the time of each part at the end. Exits non-zero when any part fails.
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("$@")
((${#parts[@]})) || parts=(dev asan tsan fuzz)
for p in "${parts[@]}"; do
  case $p in dev | asan | tsan | fuzz) ;; *) echo "test.sh: unknown part '$p' (dev asan tsan fuzz)" >&2; exit 2 ;; esac
done

bash scripts/install-deps.sh
jobs=$(nproc)
if [[ -z ${CMAKE_CXX_COMPILER_LAUNCHER:-} ]] && command -v ccache >/dev/null; then export CMAKE_CXX_COMPILER_LAUNCHER=ccache; fi
# Seconds each fuzz target runs in the smoke run (on top of its seed corpus).
fuzz_seconds=${NEARDUP_FUZZ_SMOKE_SECONDS:-20}
suppressions=$PWD/tests/sanitizers

# Sanitizer reports fail the test that triggers them: ASan and TSan exit non-zero, UBSan halts.
# intercept_tls_get_addr=0: GCC 12's LeakSanitizer misreads glibc 2.36's dynamic TLS vector and its tracer
# dies at exit ("Tracer caught signal 11", a bogus "DTLS 20" range) in some test programs; leak checking
# then skips dynamic TLS blocks, nothing else.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:intercept_tls_get_addr=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$suppressions/lsan.supp:print_suppressions=0
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$suppressions/tsan.supp:print_suppressions=0

timings=()
run_part() {
  local part=$1 start
  local rc
  start=$(date +%s)
  echo "== test.sh: $part" >&2
  "part_$part"
  rc=$?
  timings+=("$part $(($(date +%s) - start)) s$( ((rc == 0)) || echo ", FAILED")")
  return $rc
}
step() {  # a timed step inside a part; returns the command's status
  local what=$1 start rc
  shift
  start=$(date +%s)
  "$@"
  rc=$?
  timings+=("  $what $(($(date +%s) - start)) s$( ((rc == 0)) || echo ", FAILED")")
  return $rc
}

# Fails when a test program registered no tests: a program that crashes when CTest lists it (a sanitizer
# runtime that cannot start, say) would otherwise drop out of the suite without a word.
require_tests() {
  local dir=$1 prefix listed
  shift
  listed=$(ctest --test-dir "$dir" -N)
  for prefix in "$@"; do
    if ! grep -q "Test *#[0-9]*: $prefix:" <<<"$listed"; then
      echo "test.sh: $dir lists no '$prefix:' tests (its test program failed to list them; run it with --list-tests)" >&2
      return 1
    fi
  done
}

# Parts run as `run_part ... || ...`, where errexit does not apply: each chains its steps with &&.
part_dev() {
  step "dev build (-Werror)" bash scripts/build.sh -DNEARDUP_WERROR=ON &&
    require_tests build/dev engine store server indexer ui package deploy &&
    step "dev suite" ctest --no-tests=error --test-dir build/dev --output-on-failure -j "$jobs"
}
part_asan() {
  step "asan configure" cmake --preset asan >/dev/null &&
    step "asan build" cmake --build build/asan -j "$jobs" &&
    require_tests build/asan engine store server indexer &&
    step "asan suite" ctest --no-tests=error --test-dir build/asan --output-on-failure -j "$jobs"
}
# OMP_NUM_THREADS=1: FAISS's OpenMP regions run on the calling thread, since TSan cannot see libgomp's barriers
# (tests/sanitizers/tsan.supp says more). Our own threads (oneTBB, the server's) are all still there.
part_tsan() {
  step "tsan configure" cmake --preset tsan >/dev/null &&
    step "tsan build" cmake --build build/tsan -j "$jobs" --target test_store test_server &&
    require_tests build/tsan store server &&
    step "tsan suite" env OMP_NUM_THREADS=1 ctest --no-tests=error --test-dir build/tsan --output-on-failure -j "$jobs" -R '^(store|server)'
}
part_fuzz() {
  step "fuzz configure" cmake --preset fuzz >/dev/null &&
    step "fuzz build" cmake --build build/fuzz -j "$jobs" &&
    step "fuzz smoke (${fuzz_seconds} s each)" env NEARDUP_FUZZ_BUILD_JOBS="$jobs" bash scripts/fuzz.sh all "$fuzz_seconds"
}

status=0
for p in "${parts[@]}"; do run_part "$p" || status=1; done
echo "== test.sh timings" >&2
printf '%s\n' "${timings[@]}" >&2
exit $status

#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run every test with ctest
# (unit, integration against the simulated cluster, and end to end with a real Prometheus).
# Then the hardening runs (docs/architecture.md, "Testing"), both in one clang tree, build-asan:
# the whole suite again under AddressSanitizer (LeakSanitizer included) and
# UndefinedBehaviorSanitizer, and each libFuzzer target for KMB_FUZZ_SECONDS (default 20),
# replaying the inputs that once crashed. KMB_HARDENING=0 skips both (a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
# The suite tree needs no debug info (a third less compile time; scripts/build.sh alone keeps it).
scripts/build.sh -DKMB_DEBUG_INFO=OFF
# The benchmark programs are compiled, not run (that is `--target bench`), so none is left broken.
cmake --build build -j"$jobs" --target bench_programs
(cd build && ctest --output-on-failure --timeout 600 -j"$jobs")

if [ "${KMB_HARDENING:-1}" = "0" ]; then exit 0; fi

echo "test.sh: the suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan, clang)"
# build-asan was a gcc tree before the fuzzers moved into it: such a tree is made anew.
if [ -f build-asan/CMakeCache.txt ] && ! grep -q '^CMAKE_CXX_COMPILER:.*clang++' build-asan/CMakeCache.txt; then
  rm -rf build-asan
fi
generator=()
if [ ! -f build-asan/CMakeCache.txt ] && command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
cmake -S . -B build-asan "${generator[@]}" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=Debug -DKMB_SANITIZE=ON -DKMB_FUZZ=ON -DKMB_BUILD_BENCH=OFF \
  -DKMB_FUZZ_SECONDS="${KMB_FUZZ_SECONDS:-20}" >/dev/null
cmake --build build-asan -j"$jobs"
(
  cd build-asan
  export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:abort_on_error=0
  export LSAN_OPTIONS=suppressions=$PWD/../test/sanitizer/lsan.supp:print_suppressions=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest --output-on-failure --timeout 900 -j"$jobs" ${KMB_ASAN_CTEST_ARGS:-}
)

echo "test.sh: libFuzzer targets, ${KMB_FUZZ_SECONDS:-20} s each, $jobs at a time (build-asan)"
cmake --build build-asan -j"$jobs" --target fuzz

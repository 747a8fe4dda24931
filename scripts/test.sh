#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run every test with ctest
# (unit, integration against the simulated cluster, and end to end with a real Prometheus).
# Then the hardening runs (docs/architecture.md, "Testing"): the whole suite again under
# AddressSanitizer (LeakSanitizer included) and UndefinedBehaviorSanitizer in build-asan, and
# each libFuzzer target for KMB_FUZZ_SECONDS (default 20) in build-fuzz, replaying the inputs
# that once crashed. KMB_HARDENING=0 skips both (a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
(cd build && ctest --output-on-failure --timeout 600 -j"$(nproc)")

if [ "${KMB_HARDENING:-1}" = "0" ]; then exit 0; fi

echo "test.sh: the suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKMB_SANITIZE=ON -DKMB_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$(nproc)"
(
  cd build-asan
  export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:abort_on_error=0
  export LSAN_OPTIONS=suppressions=$PWD/../test/sanitizer/lsan.supp:print_suppressions=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest --output-on-failure --timeout 900 -j"$(nproc)" ${KMB_ASAN_CTEST_ARGS:-}
)

echo "test.sh: libFuzzer targets, ${KMB_FUZZ_SECONDS:-20} s each (build-fuzz)"
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DKMB_FUZZ=ON \
  -DKMB_BUILD_TESTS=OFF -DKMB_BUILD_BENCH=OFF -DKMB_FUZZ_SECONDS="${KMB_FUZZ_SECONDS:-20}" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz

#!/usr/bin/env bash
# Runs one libFuzzer target: replays every input of REGRESSIONS (inputs that once crashed), then
# fuzzes for SECONDS from the corpus (CORPUS is written to, SEEDS only read). Exits non-zero on
# any crash, sanitizer report, leak, out-of-memory or input slower than 30 s; the input that
# failed is saved as artifacts/<target>-crash-* in the working folder: copy it into
# test/fuzz/regressions/<target>/ once fixed.
# Usage: run_fuzzer.sh BINARY REGRESSIONS CORPUS SEEDS SECONDS
set -euo pipefail
binary=$1 regressions=$2 corpus=$3 seeds=$4 seconds=$5
name=$(basename "$binary" _fuzz)
mkdir -p artifacts "$corpus"
opts=(-timeout=30 -rss_limit_mb=2560 -max_len=1048576 -print_final_stats=1
      "-artifact_prefix=artifacts/$name-")
if compgen -G "$regressions/*" >/dev/null; then
  echo "fuzz $name: replaying $(ls "$regressions" | wc -l) regression inputs"
  "$binary" "${opts[@]}" "$regressions"/* >"artifacts/$name-regressions.log" 2>&1 ||
    { tail -n 60 "artifacts/$name-regressions.log"; exit 1; }
fi
echo "fuzz $name: ${seconds}s from $(ls "$seeds" | wc -l) seeds"
if ! "$binary" "${opts[@]}" -max_total_time="$seconds" "$corpus" "$seeds" \
    >"artifacts/$name.log" 2>&1; then
  tail -n 60 "artifacts/$name.log"
  exit 1
fi
grep -E '^stat::number_of_executed_units|^Done' "artifacts/$name.log" | tr '\n' ' '; echo

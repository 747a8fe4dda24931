#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run every test with ctest
# (unit, integration against the simulated cluster, and end to end with a real Prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure --timeout 600 -j"$(nproc)"

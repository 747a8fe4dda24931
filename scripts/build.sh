#!/usr/bin/env bash
# Configures and builds into ./build (Release with debug info). Extra arguments go to the cmake
# configure step (scripts/test.sh passes -DKMB_DEBUG_INFO=OFF). A new build folder uses Ninja;
# an existing one keeps the generator it was made with.
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
if [ ! -f build/CMakeCache.txt ] && command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build build -j"$(nproc)"

#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run the exporter on the
# built-in simulated cluster. Extra arguments go to the exporter (e.g. --web.listen-address).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/kube-metrics-bridge --demo "$@"

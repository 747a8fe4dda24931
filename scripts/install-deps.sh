#!/usr/bin/env bash
# Installs, with apt-get, whatever this project needs that the machine lacks (Debian 12).
# Idempotent: a machine that has everything is left untouched and apt is not called.
set -euo pipefail

packages=(
  # build
  build-essential cmake git pkg-config ca-certificates curl
  # libraries (see docs/architecture.md for why each one)
  prometheus-cpp-dev libcivetweb-dev libcurl4-openssl-dev nlohmann-json3-dev libssl-dev
  libyaml-cpp-dev libcli11-dev libspdlog-dev libsimdjson-dev zlib1g-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev prometheus
)

# access tests: `kubectl proxy` in front of the simulator. Debian's kubernetes-client ships
# /usr/bin/kubectl; a kubectl installed otherwise is kept.
if ! command -v kubectl >/dev/null 2>&1; then packages+=(kubernetes-client); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
# The prometheus package starts its own service where systemd runs; the tests start their own
# server on a free loopback port and never touch that one.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

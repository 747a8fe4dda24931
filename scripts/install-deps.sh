#!/usr/bin/env bash
# Installs, with apt-get, whatever this project needs that the machine lacks (Debian 12).
# Idempotent: a machine that has everything is left untouched and apt is not called.
set -euo pipefail

packages=(
  # build
  build-essential cmake git pkg-config ca-certificates curl
  # libraries (see docs/architecture.md for why each one)
  prometheus-cpp-dev libcivetweb-dev libcurl4-openssl-dev nlohmann-json3-dev libssl-dev
  libyaml-cpp-dev libcli11-dev libspdlog-dev libsimdjson-dev zlib1g-dev libisal-dev libdeflate-dev
  libgoogle-perftools-dev libxxhash-dev
  # tests and benchmarks (nghttp2-proxy: nghttpx, an HTTP/2 server for the --http2 test)
  libgtest-dev libgmock-dev libbenchmark-dev prometheus nghttp2-proxy
  # secured /metrics (bcrypt via libxcrypt) and the landing page test (headless chromium)
  libcrypt-dev chromium
  # hardening runs of scripts/test.sh: libFuzzer and its sanitizer runtimes (clang 14)
  clang libclang-rt-14-dev
  # build speed of scripts/test.sh (docs/architecture.md, "Testing"): Ninja, and ld.lld
  ninja-build lld
)
# deploy/ tests (issue 6): `kubectl kustomize` (Debian's kubernetes-client when no kubectl is on
# the PATH), objdump for the Containerfile check, and node + npm for the offline schema
# validator, whose npm packages test/deploy/install.sh installs from package-lock.json.
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
packages+=(binutils)

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

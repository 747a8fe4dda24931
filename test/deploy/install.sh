#!/usr/bin/env bash
# Installs the offline manifest validator's npm packages (package-lock.json, exact versions)
# into test/deploy/node_modules; does nothing when they were installed after the last change of
# package-lock.json. kmb_deploy_test runs it (ctest may start several of its tests at once: the
# lock makes the others wait for the first install); scripts/install-deps.sh installs node and npm.
set -euo pipefail
cd "$(dirname "$0")"
exec 9>.install.lock
flock 9
if [ node_modules/.package-lock.json -nt package-lock.json ]; then exit 0; fi
npm ci --no-audit --no-fund --loglevel=error

#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (Catch2 through CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir build/dev --output-on-failure -j "$(nproc)"

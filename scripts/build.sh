#!/usr/bin/env bash
# Configures and builds neardup into build/dev (RelWithDebInfo) with every core. Arguments are passed to the
# configure step (scripts/test.sh adds -DNEARDUP_WERROR=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/dev -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build build/dev -j "$(nproc)"

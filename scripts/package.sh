#!/usr/bin/env bash
# Builds the Debian package: a Release tree (build/release, tests off), then cpack. The .deb lands in dist/.
#   sudo apt install ./dist/neardup_*_amd64.deb
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [[ -z ${CMAKE_CXX_COMPILER_LAUNCHER:-} ]] && command -v ccache >/dev/null; then export CMAKE_CXX_COMPILER_LAUNCHER=ccache; fi
cmake --preset release >/dev/null
cmake --build build/release -j "$(nproc)" --target neardup neardup-server
(cd build/release && cpack -G DEB -B "$PWD/../../dist")
rm -rf dist/_CPack_Packages
ls -l dist/*.deb

#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and fingerprints the bundled sample photos.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
samples=(/usr/share/doc/libjs-jquery-backstretch/examples /usr/share/doc/libjs-jquery-slides/examples/Product/img)
echo "== neardup fingerprint ${samples[*]}" >&2
./build/dev/indexer/neardup fingerprint --dihedral "${samples[@]}"

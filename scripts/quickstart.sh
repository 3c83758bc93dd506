#!/usr/bin/env bash
# Quick start: installs what is missing, builds, indexes the bundled sample photos into a default index,
# and looks up edited copies of them (crops, overlays, mirrors, collages, screenshots...) and unrelated photos.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
neardup=build/dev/indexer/neardup
# The small benchmark: 7 sample photos as references, 60 edited or unrelated queries, made in about a second.
NEARDUP_DATASETS_BUILD_DIR=build/dev bash datasets/build-offline-benchmark.sh --small >/dev/null
db=bench-out/demo-db
echo "== $neardup index --db $db bench-out/small/references" >&2
"$neardup" index --db "$db" bench-out/small/references
queries=(bench-out/small/queries/q0000{1,2,3,4,5,6,7,8}.jpg)
echo "== $neardup query --db $db --top 2 ${queries[*]}" >&2
"$neardup" query --db "$db" --top 2 "${queries[@]}"
echo "(what each query is: bench-out/small/queries.csv; JSON output: add --json)" >&2

#!/usr/bin/env bash
# The catalog backends side by side in one run: bench_scale builds the same index (the sample photos plus
# synthetic references up to --size, uniformly random features: the catalog stores what any reference
# costs) once on catalog.sqlite and once on a PostgreSQL server of its own (bench/postgres-temp.sh, fsync on),
# then times the same queries on each. Reports build rate, catalog bytes per reference and query times.
#
#   bash bench/bench-catalog.sh [--size N] [--max-queries Q]
#
# Results: bench-out/catalog/report.md and each run's bench_scale report beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
args="$*"
size=20000
max_queries=40
while (($#)); do
  case $1 in
    --size) size=$2; shift 2 ;;
    --max-queries) max_queries=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
scale=build/dev/bench/bench_scale
[[ -x $scale ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
queries=/usr/share/doc/libjs-jquery-backstretch/examples
[[ -d $queries ]] || { echo "no sample photos: bash scripts/install-deps.sh" >&2; exit 1; }
out=bench-out/catalog
mkdir -p "$out"
work=$(mktemp -d /tmp/neardup-catalog-XXXXXX)
source bench/postgres-temp.sh
trap 'postgres_stop; rm -rf "$work"' EXIT
postgres_start "$work"

run() {  # run NAME [bench_scale options...]
  local name=$1
  shift
  "$scale" --size "$size" --distractors random --queries "$queries" --references "$queries" --max-queries "$max_queries" \
    --db "$work/$name" "$@" >"$out/$name.md" 2>"$out/$name.log"
}
run sqlite
run postgresql --catalog "$POSTGRES_URL"
sqlite_bytes=$(stat -c %s "$work/sqlite/catalog.sqlite")
pg_bytes=$("$POSTGRES_BIN/psql" -X -tA "$POSTGRES_URL" -c \
  "SELECT pg_total_relation_size('neardup_images') + pg_total_relation_size('neardup_thumbnails')")
row() {  # the value column of a bench_scale report line
  grep -F "| $2" "$out/$1.md" | head -1 | awk -F'|' '{gsub(/^ +| +$/, "", $3); print $3}'
}
{
  echo "# Catalog backends side by side ($(date -u +%Y-%m-%d), $(nproc) cores)"
  echo
  echo "Command: \`bash bench/bench-catalog.sh $args\` ($size references: $(ls "$queries" | wc -l) sample photos, the rest synthetic)"
  echo
  echo "| catalog | build | catalog bytes per reference | whole query p50 / p95 / p99 |"
  echo "|---|---:|---:|---:|"
  for name in sqlite postgresql; do
    bytes=$([[ $name == sqlite ]] && echo "$sqlite_bytes" || echo "$pg_bytes")
    echo "| $name | $(row $name "build") | $((bytes / size)) | $(row $name "whole query") |"
  done
} | tee "$out/report.md"

#!/usr/bin/env bash
# Load benchmark of neardup-server with wrk, on loopback only: searches alone, then searches mixed with adds
# (one PUT per 10 requests), at each index size given. Reports requests/s, latency p50/p95/p99 and the
# server's resident memory; a soak run samples memory over a longer mixed load.
#
#   bash bench/bench-server.sh [--db DIR]... [--requests N] [--connections C] [--timeout S] [--soak S] [--query-cache-mib M]
#
# The requests cycle through the query files, so with the server's query cache on (its default) every
# request after the first round reuses its signatures; --query-cache-mib 0 makes each one compute them.
#
# Each --db is copied first (the adds must not change it). Default: bench-out/scale-real-10000 and
# bench-out/scale-real-100000, the indexes `bench_scale` builds (real references plus synthetic ones:
# build/dev/bench/bench_scale --size 10000 --queries bench-out/small/queries --references bench-out/small/references).
# Queries: the JPEGs of bench-out/small/queries of 0.5 MP or more. Results: bench-out/server/.
set -euo pipefail
cd "$(dirname "$0")/.."
args="$*"
dbs=()
requests=400
connections=4
timeout=300
soak=0
query_cache_mib=64
while (($#)); do
  case $1 in
    --db) dbs+=("$2"); shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --soak) soak=$2; shift 2 ;;
    --query-cache-mib) query_cache_mib=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
((${#dbs[@]})) || dbs=(bench-out/scale-real-10000 bench-out/scale-real-100000)
server=build/dev/server/neardup-server
[[ -x $server ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: bash scripts/install-deps.sh" >&2; exit 1; }
out=bench-out/server
mkdir -p "$out"
queries=$out/queries.txt
: > "$queries"
for f in bench-out/small/queries/*.jpg; do
  px=$(file -b "$f" | grep -oE '[0-9]+x[0-9]+' | tail -1 | awk -Fx '{ print $1 * $2 }')
  ((px >= 500000)) && realpath "$f" >> "$queries"
done
nq=$(wc -l < "$queries")
((nq > 0)) || { echo "no queries: bash datasets/build-offline-benchmark.sh --small" >&2; exit 1; }
mpx=$(while read -r f; do file -b "$f" | grep -oE '[0-9]+x[0-9]+' | tail -1; done < "$queries" |
      awk -Fx '{ s += $1 * $2; n++ } END { printf "%.2f", s / n / 1e6 }')
token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
echo "$token" > "$out/token"
threads=$((connections < 2 ? 1 : 2))
per_thread=$(((requests + threads - 1) / threads))
port=18480
rss() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

start_server() {  # db
  "$server" --db "$1" --listen 127.0.0.1:$port --token-file "$out/token" --workers 2 --queue 256 --query-cache-mib "$query_cache_mib" --log-level warn &
  pid=$!
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    kill -0 $pid 2>/dev/null || { echo "neardup-server failed to start" >&2; exit 1; }
    sleep 0.5
  done
  echo "neardup-server not ready after 300 s" >&2
  exit 1
}

load() {  # name add_every requests duration
  local done_dir=$out/done
  rm -rf "$done_dir"
  mkdir -p "$done_dir"
  NEARDUP_QUERIES=$queries NEARDUP_REQUESTS=$(((${3} + threads - 1) / threads)) NEARDUP_ADD_EVERY=$2 NEARDUP_TOKEN=$token \
  NEARDUP_RUN="$1-$(date +%s)" NEARDUP_DONE_DIR=$done_dir wrk -t$threads -c$connections -d"${4}s" --timeout 30s \
    -s bench/server/load.lua "http://127.0.0.1:$port" > "$out/wrk.out" &
  local wrk_pid=$!
  # wrk sleeps out its whole duration; once every thread has its answers, interrupt it (it then reports).
  while kill -0 $wrk_pid 2>/dev/null; do
    if (($(ls "$done_dir" | wc -l) >= threads)); then kill -INT $wrk_pid 2>/dev/null || true; break; fi
    sleep 0.2
  done
  wait $wrk_pid || true
  tail -1 "$out/wrk.out"
}

report=$out/report.md
rm -f "$out/soak.md"
{
  echo "Measured $(date -u +%Y-%m-%d) with \`bash bench/bench-server.sh $args\`: wrk, $connections connections, loopback,"
  echo "$nq query JPEGs of $mpx MP on average, server --workers 2 --query-cache-mib $query_cache_mib on this $(nproc)-core machine."
  echo
  echo "| references | load | requests | req/s | p50 ms | p95 ms | p99 ms | failed | server RSS MiB (start → end) |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---|"
} > "$report"
for db in "${dbs[@]}"; do
  [[ -f $db/catalog.sqlite ]] || { echo "skipping $db: no index there (see the header of this script)" >&2; continue; }
  copy=$out/db
  rm -rf "$copy"
  cp -r "$db" "$copy"
  start_server "$copy"
  refs=$(curl -s "http://127.0.0.1:$port/v1/stats" | grep -oE '"active":[0-9]+' | cut -d: -f2)
  load warmup 0 8 60 >/dev/null
  for mode in search mixed; do
    every=0
    [[ $mode == mixed ]] && every=10
    before=$(rss $pid)
    echo "== $refs references, $mode: $requests requests" >&2
    result=$(load "$mode" $every "$requests" "$timeout")
    after=$(rss $pid)
    echo "$result" | tee -a "$out/results.jsonl" >&2
    python3 - "$refs" "$mode" "$before" "$after" "$result" >> "$report" <<'PY'
import json, sys
refs, mode, before, after, r = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
label = "search" if mode == "search" else f"search + add (1 in 10; {r['adds']} adds)"
print(f"| {int(refs):,} | {label} | {r['requests']} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
      f"{r['failed'] + r['socket_errors']} | {before} → {after} |")
PY
  done
  if ((soak > 0)); then
    echo "== soak: $soak s of search + add at $refs references" >&2
    samples=$out/soak-rss.txt
    : > "$samples"
    (while kill -0 $pid 2>/dev/null; do rss $pid >> "$samples"; echo >> "$samples"; sleep 5; done) &
    sampler=$!
    result=$(load soak 10 100000000 "$soak")
    kill $sampler 2>/dev/null || true
    echo "$result" >&2
    python3 - "$refs" "$soak" "$samples" "$result" > "$out/soak.md" <<'PY'
import json, sys
refs, soak, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[4])
rss = [int(x) for x in open(sys.argv[3]).read().split()]
q = max(1, len(rss) // 4)
print(f"\nSoak at {int(refs):,} references: {soak} s of search + add, {r['requests']} requests ({r['adds']} adds), "
      f"{r['rps']:.1f} req/s, p50 {r['p50_ms']:.1f} / p99 {r['p99_ms']:.1f} ms, {r['failed'] + r['socket_errors']} failed. "
      f"Server RSS sampled every 5 s: first minute {min(rss[:12])}–{max(rss[:12])} MiB, last quarter {min(rss[-q:])}–{max(rss[-q:])} MiB, "
      f"max {max(rss)} MiB.")
PY
    soak=0  # once, at the first size
  fi
  kill -TERM $pid
  wait $pid || true
  rm -rf "$copy"
done
[[ -f $out/soak.md ]] && cat "$out/soak.md" >> "$report" && rm "$out/soak.md"
cat "$report"

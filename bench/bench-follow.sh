#!/usr/bin/env bash
# How soon an add on one neardup-server is found by a search on another that shares its PostgreSQL catalog,
# on loopback: a PostgreSQL server of its own in a temporary directory (Debian's initdb, unix socket only),
# two neardup-server processes on it (each with its own --db directory), then N adds of sample photos
# under new keys through server A, each followed by searches of the same photo on server B until B lists
# the new key. Reports the time from A's 201 to B's first search that finds it (p50 / p90 / p99 / max), and
# the search time on B, which bounds the measurement's resolution.
#
#   bash bench/bench-follow.sh [--adds N] [--ports A,B]
#
# Results: bench-out/follow/report.md (and the raw times beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
args="$*"
adds=40
ports=18481,18482
while (($#)); do
  case $1 in
    --adds) adds=$2; shift 2 ;;
    --ports) ports=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
server=build/dev/server/neardup-server
[[ -x $server ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
mapfile -t photos < <(ls /usr/share/doc/libjs-jquery-backstretch/examples/*.jpg /usr/share/doc/libjs-jquery-slides/examples/*/img/*.jpg 2>/dev/null)
((${#photos[@]})) || { echo "no sample photos: bash scripts/install-deps.sh" >&2; exit 1; }
port_a=${ports%,*}
port_b=${ports#*,}
out=bench-out/follow
mkdir -p "$out"

work=$(mktemp -d /tmp/neardup-follow-XXXXXX)
source bench/postgres-temp.sh
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  postgres_stop
  rm -rf "$work"
}
trap cleanup EXIT
postgres_start "$work"
catalog=$POSTGRES_URL
echo "bench-follow: a-long-enough-token-for-writes" >"$work/token"
for side in a:$port_a b:$port_b; do
  name=${side%%:*}
  "$server" --db "$work/$name" --catalog "$catalog" --listen "127.0.0.1:${side#*:}" --token-file "$work/token" \
    --log-level warn 2>"$out/server-$name.log" &
  pids+=($!)
done
for port in "$port_a" "$port_b"; do
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "server on $port did not start" >&2; cat "$out"/server-*.log >&2; exit 1; }
done

now_ms() { date +%s%3N; }
: >"$out/follow-ms.txt"
: >"$out/search-ms.txt"
missed=0
for i in $(seq "$adds"); do
  photo=${photos[$(((i - 1) % ${#photos[@]}))]}
  key="follow-$i"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $(cat "$work/token")" \
    -H 'Content-Type: image/jpeg' --data-binary "@$photo" "http://127.0.0.1:$port_a/v1/images/$key")
  [[ $code == 201 ]] || { echo "add $key on A answered $code" >&2; exit 1; }
  acked=$(now_ms)
  found=""
  while (($(now_ms) - acked < 10000)); do
    t0=$(now_ms)
    body=$(curl -s -H 'Content-Type: image/jpeg' --data-binary "@$photo" "http://127.0.0.1:$port_b/v1/search?top=100")
    t1=$(now_ms)
    echo $((t1 - t0)) >>"$out/search-ms.txt"
    if [[ $body == *"\"key\":\"$key\""* ]]; then found=$((t1 - acked)); break; fi
  done
  if [[ -n $found ]]; then echo "$found" >>"$out/follow-ms.txt"; else missed=$((missed + 1)); fi
done

percentiles() {  # p50 p90 p99 max of the numbers in a file
  sort -n "$1" | awk '{v[NR]=$1} END {if (!NR) {print "-"; exit}
    i50=int(0.5*NR+0.5); i90=int(0.9*NR+0.5); i99=int(0.99*NR+0.5); if (i50<1) i50=1; if (i90<1) i90=1; if (i99<1) i99=1;
    printf "%d / %d / %d / %d", v[i50], v[i90], v[i99], v[NR]}'
}
{
  echo "# Following a shared PostgreSQL catalog ($(date -u +%Y-%m-%d), $(nproc) cores)"
  echo
  echo "Command: \`bash bench/bench-follow.sh $args\`"
  echo
  echo "| adds on A | not found on B within 10 s | A's 201 -> found by a search on B, p50 / p90 / p99 / max | one search on B, p50 / p90 / p99 / max |"
  echo "|---:|---:|---:|---:|"
  echo "| $adds | $missed | $(percentiles "$out/follow-ms.txt") ms | $(percentiles "$out/search-ms.txt") ms |"
} | tee "$out/report.md"
((missed == 0))

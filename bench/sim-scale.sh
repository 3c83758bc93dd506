#!/usr/bin/env bash
# The scale-out simulation, on loopback: a PostgreSQL catalog of its own (Debian's initdb in a temporary
# directory), 2 shards x 2 replicas of neardup-server on it, and a router over them (--route). Then, for
# --seconds: wrk searches through the router while adds go to random replicas (one every --add-every seconds,
# each followed by searches through the router until they find it), and one replica is kill -9'd a third of
# the way in and restarted 5 s later. Before that, the router's own cost: the same searches on one server over
# every key, direct and through a router over it alone.
#
#   bash bench/sim-scale.sh [--seconds S] [--connections C] [--add-every S] [--copies N]
#
# Reports: searches failed (non-200 or socket errors) and partial, acknowledged adds lost (an acknowledged key
# the router cannot GET afterwards), time from an add's 201 to the first search through the router that finds
# it, and the router's overhead. Results: bench-out/sim-scale/report.md, logs beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
args="$*"
seconds=45
connections=2
add_every=0.5
copies=3
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --add-every) add_every=$2; shift 2 ;;
    --copies) copies=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
server=build/dev/server/neardup-server
[[ -x $server ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: bash scripts/install-deps.sh" >&2; exit 1; }
# Distinct photos only (the examples repeat some files): a search lists a photo's exact copies only up to the
# searcher's PDQ neighbours (8), and the adds must stay findable among them.
mapfile -t photos < <(md5sum /usr/share/doc/libjs-jquery-backstretch/examples/*.jpg /usr/share/doc/libjs-jquery-slides/examples/*/img/*.jpg 2>/dev/null |
  sort -k1,1 -u | awk '{ print $2 }' | sort)
((${#photos[@]})) || { echo "no sample photos: bash scripts/install-deps.sh" >&2; exit 1; }
out=bench-out/sim-scale
rm -rf "$out"
mkdir -p "$out"
printf '%s\n' "${photos[@]}" >"$out/queries.txt"

work=$(mktemp -d /tmp/neardup-sim-XXXXXX)
source bench/postgres-temp.sh
declare -A pid_of
cleanup() {
  for p in "${pid_of[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -f $work/restarted.pid ]] && kill "$(cat "$work/restarted.pid")" 2>/dev/null || true  # started by the killer's subshell
  wait 2>/dev/null || true
  postgres_stop
  rm -rf "$work"
}
trap cleanup EXIT
postgres_start "$work"
catalog=$POSTGRES_URL
token=sim-scale-token-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$token" >"$work/token"
auth="Authorization: Bearer $token"

# Replicas: name -> port and shard. The query cache is off: every search computes its signature.
declare -A port_of=([s0a]=18600 [s0b]=18601 [s1a]=18610 [s1b]=18611 [all]=18690)
declare -A shard_of=([s0a]=0/2 [s0b]=0/2 [s1a]=1/2 [s1b]=1/2)
start_replica() {  # name
  local name=$1 shard_args=()
  [[ -n ${shard_of[$name]:-} ]] && shard_args=(--shard "${shard_of[$name]}")
  "$server" --db "$work/$name" --catalog "$catalog" "${shard_args[@]}" --listen "127.0.0.1:${port_of[$name]}" \
    --token-file "$work/token" --query-cache-mib 0 --log-level warn 2>>"$out/$name.log" &
  pid_of[$name]=$!
}
start_router() {  # name port route-file
  "$server" --route "$3" --listen "127.0.0.1:$2" --token-file "$work/token" --log-level info 2>>"$out/$1.log" &
  pid_of[$1]=$!
}
wait_ready() {  # port
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "nothing ready on port $1" >&2
  tail -5 "$out"/*.log >&2
  exit 1
}
for name in s0a s0b s1a s1b all; do start_replica "$name"; done
cat >"$work/route.json" <<JSON
{"shards": [["http://127.0.0.1:18600", "http://127.0.0.1:18601"], ["http://127.0.0.1:18610", "http://127.0.0.1:18611"]],
 "deadline_ms": 5000, "try_timeout_ms": 2500, "health_interval_ms": 250}
JSON
cat >"$work/route-one.json" <<JSON
{"shards": [["http://127.0.0.1:18690"]], "deadline_ms": 5000, "try_timeout_ms": 5000}
JSON
start_router router 18700 "$work/route.json"
start_router router-one 18701 "$work/route-one.json"
for p in 18600 18601 18610 18611 18690 18700 18701; do wait_ready "$p"; done

# The references: every sample photo under --copies keys, added through the router.
n=0
for c in $(seq "$copies"); do
  for photo in "${photos[@]}"; do
    n=$((n + 1))
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$auth" -H 'Content-Type: image/jpeg' --data-binary "@$photo" \
      "http://127.0.0.1:18700/v1/images/base-$c-$n")
    [[ $code == 201 ]] || { echo "preload: PUT answered $code" >&2; exit 1; }
  done
done
# Every server has followed them (each shard holds its share; the all-keys server every one).
for _ in $(seq 300); do
  total=$(curl -s http://127.0.0.1:18700/v1/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["index"]["pdq_entries"])')
  all=$(curl -s http://127.0.0.1:18690/v1/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["index"]["pdq_entries"])')
  ((total >= n / 2 && all >= n / 2)) && break
  sleep 0.1
done

run_wrk() {  # port seconds -> JSON line
  NEARDUP_QUERIES=$out/queries.txt wrk -t1 -c"$connections" -d"${2}s" --timeout 10s -s bench/server/route-load.lua \
    "http://127.0.0.1:$1" | tail -1
}
echo "router overhead: $connections connections, 15 s each" >&2
direct=$(run_wrk 18690 15)
through=$(run_wrk 18701 15)
sharded_quiet=$(run_wrk 18700 15)

# The load: wrk through the router; adds to random replicas; a replica killed and restarted.
names=(s0a s0b s1a s1b)
victim=s1b
: >"$out/found-ms.txt"
: >"$out/acked.txt"
now_ms() { date +%s%3N; }
adder() {
  local i=0 refused=0 notfound=0
  local end=$(($(now_ms) + seconds * 1000))
  while (($(now_ms) < end)); do
    i=$((i + 1))
    local photo=${photos[$((RANDOM % ${#photos[@]}))]} name=${names[$((RANDOM % 4))]} key="sim-$i"
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X PUT -H "$auth" -H 'Content-Type: image/jpeg' \
      --data-binary "@$photo" "http://127.0.0.1:${port_of[$name]}/v1/images/$key" || true)
    if [[ $code != 201 ]]; then
      refused=$((refused + 1))
      echo "add $key to $name: $code" >>"$out/adds-refused.txt"
      continue
    fi
    local acked
    acked=$(now_ms)
    echo "$key" >>"$out/acked.txt"
    local found=""
    while (($(now_ms) - acked < 10000)); do
      body=$(curl -s --max-time 10 -H 'Content-Type: image/jpeg' --data-binary "@$photo" "http://127.0.0.1:18700/v1/search?top=100" || true)
      if [[ $body == *"\"key\":\"$key\""* ]]; then found=$(($(now_ms) - acked)); break; fi
    done
    if [[ -n $found ]]; then echo "$found" >>"$out/found-ms.txt"; else notfound=$((notfound + 1)); echo "$key ($photo, added on $name)" >>"$out/not-found.txt"; fi
    sleep "$add_every"
  done
  echo "$refused $notfound" >"$out/adder.txt"
}
killer() {
  sleep $((seconds / 3))
  kill -9 "${pid_of[$victim]}"
  echo "$(date -u +%T) kill -9 $victim" >>"$out/events.txt"
  sleep 5
  start_replica "$victim"
  echo "${pid_of[$victim]}" >"$work/restarted.pid"
  echo "$(date -u +%T) restarted $victim" >>"$out/events.txt"
  wait_ready "${port_of[$victim]}"
  echo "$(date -u +%T) $victim ready" >>"$out/events.txt"
}
echo "load: $seconds s" >&2
adder &
adder_pid=$!
killer &
killer_pid=$!
loaded=$(run_wrk 18700 "$seconds")
wait "$adder_pid" "$killer_pid"

# Every acknowledged add is still there, seen through the router.
lost=0
while read -r key; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:18700/v1/images/$key")
  [[ $code == 200 ]] || { lost=$((lost + 1)); echo "lost $key ($code)" >>"$out/lost.txt"; }
done <"$out/acked.txt"
read -r refused notfound <"$out/adder.txt"
acked=$(wc -l <"$out/acked.txt")
metric() { curl -s http://127.0.0.1:18700/metrics | awk -v m="$1" '$1 == m { print $2 }'; }
retries=$(metric neardup_router_retries_total)
failures=$(metric neardup_router_upstream_failures_total)
partials=$(metric neardup_router_partial_answers_total)

field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
percentiles() {  # p50 p90 p99 max of the numbers in a file
  sort -n "$1" | awk '{v[NR]=$1} END {if (!NR) {print "-"; exit}
    i50=int(0.5*NR+0.5); i90=int(0.9*NR+0.5); i99=int(0.99*NR+0.5); if (i50<1) i50=1; if (i90<1) i90=1; if (i99<1) i99=1;
    printf "%d / %d / %d / %d", v[i50], v[i90], v[i99], v[NR]}'
}
row() {  # label json
  echo "| $1 | $(field "$2" requests) | $(field "$2" rps) | $(field "$2" p50_ms) | $(field "$2" p99_ms) | $(field "$2" non_200) | $(field "$2" socket_errors) | $(field "$2" partial) |"
}
{
  echo "# Scale-out simulation ($(date -u +%Y-%m-%d), $(nproc) cores, loopback)"
  echo
  echo "Command: \`bash bench/sim-scale.sh $args\`. PostgreSQL catalog, 2 shards x 2 replicas, one router; $n references"
  echo "(${#photos[@]} sample photos x $copies keys); wrk with $connections connections, every search a photo of the set"
  echo "(query cache off). All processes share the machine's cores, so the figures are for comparison within this run."
  echo
  echo "| searches | requests | req/s | p50 ms | p99 ms | non-200 | socket errors | partial |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  row "one server over every key, direct (15 s)" "$direct"
  row "the same server through a router (15 s)" "$through"
  row "router over 2 shards x 2 replicas, quiet (15 s)" "$sharded_quiet"
  row "router over 2 x 2 under adds, $victim kill -9'd at $((seconds / 3)) s and restarted 5 s later ($seconds s)" "$loaded"
  echo
  echo "Router overhead over one server (same backend): p50 $(python3 -c "import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); print('%+.1f ms, p99 %+.1f ms' % (b['p50_ms']-a['p50_ms'], b['p99_ms']-a['p99_ms']))" "$direct" "$through")."
  echo
  echo "| adds to random replicas | acknowledged (201) | not acknowledged (replica down) | acknowledged, then lost | 201 -> found through the router, p50 / p90 / p99 / max | not found within 10 s |"
  echo "|---:|---:|---:|---:|---:|---:|"
  echo "| $((acked + refused)) | $acked | $refused | $lost | $(percentiles "$out/found-ms.txt") ms | $notfound |"
  echo
  echo "Router counters over the run: $retries retries on another replica, $failures failed tries, $partials partial answers."
  echo "Events: $(tr '\n' ';' <"$out/events.txt")"
} | tee "$out/report.md"
((lost == 0))

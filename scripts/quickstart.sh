#!/usr/bin/env bash
# Quick start: installs what is missing, builds, indexes the bundled sample photos into a default index,
# looks up edited copies of them (crops, overlays, mirrors, collages, screenshots...) and unrelated photos,
# then serves the index over HTTP on 127.0.0.1:8080 until Ctrl-C.
#   --no-serve        stop after the command-line queries
#   NEARDUP_LISTEN    address to serve on (default 127.0.0.1:8080)
set -euo pipefail
cd "$(dirname "$0")/.."
serve=1
[[ "${1:-}" == "--no-serve" ]] && serve=0
bash scripts/install-deps.sh
bash scripts/build.sh
neardup=build/dev/indexer/neardup
server=build/dev/server/neardup-server
# The small benchmark: 7 sample photos as references, 60 edited or unrelated queries, made in about a second.
NEARDUP_DATASETS_BUILD_DIR=build/dev bash datasets/build-offline-benchmark.sh --small >/dev/null
db=bench-out/demo-db
echo "== $neardup index --db $db bench-out/small/references" >&2
"$neardup" index --db "$db" bench-out/small/references
queries=(bench-out/small/queries/q0000{1,2,3,4,5,6,7,8}.jpg)
echo "== $neardup query --db $db --top 2 ${queries[*]}" >&2
"$neardup" query --db "$db" --top 2 "${queries[@]}"
echo "(what each query is: bench-out/small/queries.csv; JSON output: add --json)" >&2
[[ $serve == 1 ]] || exit 0

listen=${NEARDUP_LISTEN:-127.0.0.1:8080}
url=http://$listen
token_file=bench-out/demo-token
if [[ ! -s $token_file ]]; then
  (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$token_file")
fi
echo "== $server --db $db --listen $listen --token-file $token_file" >&2
"$server" --db "$db" --listen "$listen" --token-file "$token_file" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM
for _ in $(seq 100); do
  curl -sf "$url/readyz" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { echo "neardup-server did not start (is $listen in use? set NEARDUP_LISTEN)" >&2; exit 1; }
  sleep 0.1
done
# An edited copy of an indexed photo, of a family that hashes alone miss (a collage, a screenshot...).
row=$(awk -F, 'NR > 1 && $3 == 1 && $4 ~ /^(screenshot|collage|new_background|text_overlay|crop)$/ { print; exit }' bench-out/small/queries.csv)
id=${row%%,*}
query=bench-out/small/queries/${id:-q00001}.jpg
what="${row:-q00001}"
cat >&2 <<MSG

neardup-server is serving $db on $url (Ctrl-C stops it).

Reviewer page: open $url/ in a browser (drop photos to search them; the References tab lists, adds and
deletes with the token in $token_file).

Find an edited sample photo ($what):

  curl -s -H 'Content-Type: image/jpeg' --data-binary @$query '$url/v1/search?top=3'

MSG
curl -s -H 'Content-Type: image/jpeg' --data-binary "@$query" "$url/v1/search?top=3"
cat >&2 <<MSG

Add a reference (writes need the token in $token_file), then delete it:

  curl -s -X PUT -H "Authorization: Bearer \$(cat $token_file)" -H 'Content-Type: image/jpeg' \\
       --data-binary @bench-out/small/queries/q00002.jpg '$url/v1/images/my-photo?label=brand:acme'
  curl -s -X DELETE -H "Authorization: Bearer \$(cat $token_file)" '$url/v1/images/my-photo'

API: $url/openapi.json · metrics: $url/metrics
MSG
wait $pid

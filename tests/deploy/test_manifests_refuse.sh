#!/usr/bin/env bash
# The manifest check can fail: each breakage below, made on a copy of deploy/kubernetes, must be refused with
# its own message. Usage: test_manifests_refuse.sh DEPLOY_DIR NEARDUP NEARDUP_SERVER
set -uo pipefail
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
expect() {  # expect DEPLOY_DIR NEARDUP NEARDUP_SERVER FILE SED-SCRIPT MESSAGE
  rm -rf "$tmp/k" && cp -r "$1" "$tmp/k"
  sed -i "$5" "$tmp/k/$4"
  out=$(/usr/bin/python3 "$here/test_manifests.py" "$tmp/k" "$2" "$3" 2>&1)
  if [[ $? -eq 0 || $out != *"$6"* ]]; then
    echo "not refused as expected ($4: $5): wanted '$6', got: $out" >&2
    failures=$((failures + 1))
  fi
}
expect "$1" "$2" "$3" shard-1.yaml 's|"1/2"|"0/2"|' "do not cover 0..1 once each"
expect "$1" "$2" "$3" shard-0.yaml 's|"--token-file"|"--token-fiel"|' "--token-fiel is not an option"
expect "$1" "$2" "$3" backfill-job.yaml 's|job/8|job/4|' "must shard by the completion index: --shard job/8"
expect "$1" "$2" "$3" backfill-job.yaml 's|completionMode: Indexed|completionMode: NonIndexed|' "must be an Indexed Job"
expect "$1" "$2" "$3" shard-0.yaml 's|key: catalog-url|key: catalog-uri|' "no key 'catalog-uri' in a Secret 'neardup-secrets'"
expect "$1" "$2" "$3" shard-1.yaml 's|targetPort: http|targetPort: web|' "targetPort 'web' is no named port"
expect "$1" "$2" "$3" kustomization.yaml '/backfill-job.yaml/d' "are not the files"
expect "$1" "$2" "$3" shard-0.yaml 's|path: /readyz|path: /ready|' "readinessProbe path '/ready'"
expect "$1" "$2" "$3" router-config.yaml 's|\["http://neardup-shard-0:80"\], \["http://neardup-shard-1:80"\]|["http://neardup-shard-1:80"], ["http://neardup-shard-0:80"]|' \
       "route.json shard 0: http://neardup-shard-1:80 is Service neardup-shard-1, which serves shards"
expect "$1" "$2" "$3" router-config.yaml 's|, \["http://neardup-shard-1:80"\]||' "route.json lists 1 shards, the manifests have 2"
expect "$1" "$2" "$3" router-config.yaml 's|neardup-shard-1:80|neardup-shard-1:8080|' "port 8080 is no port of Service neardup-shard-1"
expect "$1" "$2" "$3" router.yaml 's|"/etc/neardup/route.json",|"/etc/neardup/route.json", "--shard", "0/2",|' \
       "the router must not pass --shard"
expect "$1" "$2" "$3" router.yaml 's|mountPath: /etc/neardup,|mountPath: /etc/neardup-route,|' \
       "--route /etc/neardup/route.json: no ConfigMap key is mounted"
expect "$1" "$2" "$3" router.yaml 's|{key: token, path: token}|{key: catalog-url, path: token}|' "not the shards' token"
expect "$1" "$2" "$3" router.yaml 's|path: /healthz|path: /readyz|' "the router needs livenessProbe /healthz"
((failures == 0)) && echo "test_manifests_refuse: every breakage refused"
exit $((failures > 0))

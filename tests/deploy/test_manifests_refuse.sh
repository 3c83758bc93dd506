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
((failures == 0)) && echo "test_manifests_refuse: every breakage refused"
exit $((failures > 0))

#!/usr/bin/env bash
# Downloads the public near-duplicate sets into the layouts neardup::datasets loads. Needs the network:
# never run it in CI. Usage:
#
#   bash datasets/fetch-public-sets.sh [--dest DIR] copydays|holidays|ukbench|disc21|california-nd...
#
# No set publishes official checksums. The first download of each archive records its SHA-256 in
# <dest>/<set>/SHA256SUMS; later runs verify against it, so a changed mirror is noticed.
set -euo pipefail

dest="bench-out/public"
sets=()
while (($#)); do
  case "$1" in
    --dest) dest=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) sets+=("$1"); shift ;;
  esac
done
((${#sets[@]})) || { sed -n '2,9p' "$0" >&2; exit 1; }

# Fetches URL into DIR/archives (resuming), checks or records its SHA-256.
fetch() {
  local set=$1 url=$2 dir="$dest/$1/archives" name
  name=$(basename "$url")
  mkdir -p "$dir"
  echo "fetch-public-sets: $set: $url" >&2
  curl -fL --retry 3 -C - -o "$dir/$name" "$url"
  local sums="$dest/$set/SHA256SUMS" sum
  sum=$(sha256sum "$dir/$name" | cut -d' ' -f1)
  if grep -q " $name\$" "$sums" 2>/dev/null; then
    grep " $name\$" "$sums" | sed "s| $name\$| $dir/$name|" | sha256sum -c --quiet - \
      || { echo "fetch-public-sets: $name differs from the recorded SHA-256" >&2; exit 1; }
  else
    echo "$sum $name" >> "$sums"
  fi
}

for set in "${sets[@]}"; do
  root="$dest/$set"
  case "$set" in
    copydays)
      # INRIA Copydays (Jegou et al.): originals in original/, attacks beside them.
      # Home page: https://lear.inrialpes.fr/people/jegou/data.php (INRIA host; FAIR mirrors original and strong
      # at https://dl.fbaipublicfiles.com/vissl/datasets/).
      for part in original crop jpeg strong; do
        fetch copydays "http://pascal.inrialpes.fr/data/holidays/copydays_$part.tar.gz"
        tar -xzf "$root/archives/copydays_$part.tar.gz" -C "$root"
      done
      ;;
    holidays)
      # INRIA Holidays: 1491 photos, 500 queries; both archives unpack into jpg/.
      for part in jpg1 jpg2; do
        fetch holidays "http://pascal.inrialpes.fr/data/holidays/$part.tar.gz"
        tar -xzf "$root/archives/$part.tar.gz" -C "$root"
      done
      ;;
    ukbench)
      # UKBench (Nister and Stewenius): 10200 photos, 4 per object. Archived copy of the original distribution.
      fetch ukbench "https://archive.org/download/ukbench/ukbench.zip"
      unzip -qo "$root/archives/ukbench.zip" -d "$root"
      [[ -d "$root/full" ]] || { found=$(find "$root" -type d -name full | head -n1); [[ -n "$found" ]] && mv "$found" "$root/full"; }
      ;;
    disc21)
      # DISC21 dev set (Image Similarity Challenge 2021). By downloading you accept the dataset's licence:
      # https://ai.facebook.com/datasets/disc21-dataset/ . 50k dev queries, 1M references (about 200 GB).
      base="https://dl.fbaipublicfiles.com/image_similarity_challenge/public"
      fetch disc21 "$base/dev_queries.zip"
      unzip -qo "$root/archives/dev_queries.zip" -d "$root/dev_queries"
      for i in $(seq 0 19); do
        fetch disc21 "$base/references_$i.zip"
        unzip -qo "$root/archives/references_$i.zip" -d "$root/references"
      done
      fetch disc21 "$base/dev_ground_truth.csv"
      cp "$root/archives/dev_ground_truth.csv" "$root/dev_ground_truth.csv"
      ;;
    california-nd)
      # California-ND (Jinda-Apiraksa, Vonikakis, Winkler 2013): 701 photos, 10 annotators.
      # http://vintage.winklerbros.net/californiaND.html . The zip is password-protected; the authors send the
      # password on request. Put the zip at $root/archives/californiaND.zip and set CALIFORNIA_ND_PASSWORD.
      zip="$root/archives/californiaND.zip"
      if [[ ! -f "$zip" || -z "${CALIFORNIA_ND_PASSWORD:-}" ]]; then
        echo "fetch-public-sets: california-nd: place the zip at $zip and set CALIFORNIA_ND_PASSWORD (see the home page)" >&2
        exit 1
      fi
      unzip -qo -P "$CALIFORNIA_ND_PASSWORD" "$zip" -d "$root"
      [[ -d "$root/Photos" ]] || { found=$(find "$root" -type d -name Photos | head -n1); [[ -n "$found" ]] && mv "$found" "$root/Photos"; }
      echo "fetch-public-sets: california-nd: export the annotators' mean matrix (701 x 701, photos in file-name order)" >&2
      echo "  to $root/similarity.csv; load_california_nd reads that text matrix." >&2
      ;;
    *) echo "fetch-public-sets: unknown set '$set' (copydays, holidays, ukbench, disc21, california-nd)" >&2; exit 1 ;;
  esac
  echo "fetch-public-sets: $set ready in $root" >&2
done

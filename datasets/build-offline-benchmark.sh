#!/usr/bin/env bash
# Builds the offline counterfeit-edit benchmark from real photos shipped in Debian packages.
#
#   bash datasets/build-offline-benchmark.sh [--out DIR] [--cache DIR] [--small] [--review DIR] [-- extra options]
#
# Packages are fetched with `apt-get download` and unpacked with `dpkg -x` into the cache (nothing is installed);
# `apt-get update` runs only when a download fails. A package that cannot be had is skipped with a warning.
# The build is reproducible (fixed seed) and cached: re-running with the same sources does nothing.
# --small uses only the installed jquery example photos (no downloads), for tests and demos: bench-out/small/.
# --review DIR writes contact sheets of the kept and dropped sources instead of building.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=""
cache="$repo/bench-out/packages"
build_dir="${NEARDUP_DATASETS_BUILD_DIR:-$repo/build/datasets}"
small=0
review=""
extra=()
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --small) small=1; shift ;;
    --review) review=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "build-offline-benchmark: unknown option $1" >&2; exit 1 ;;
  esac
done

# The CI-sized build gets its own folder so it never replaces the default one.
if [[ -z "$out" ]]; then
  if ((small)); then out="$repo/bench-out/small"; else out="$repo/bench-out/offline"; fi
fi
tool="$build_dir/datasets/neardup-make-benchmark"
echo "build-offline-benchmark: building neardup-make-benchmark in $build_dir" >&2
cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j"${NEARDUP_BUILD_JOBS:-1}" --target neardup-make-benchmark >/dev/null

if ((small)); then
  exec "$tool" --small --out "$out" "${extra[@]}"
fi

# package  id-prefix  role  folder inside the package  find(1) filters
# Roles: photo (indexed, queried, or a collage tile), cutout (object with alpha, flattened like a product shot),
# distractor (indexed only). endless-sky-high-dpi holds the same land photos at 2x: never use it beside these.
sources_spec() {
  cat <<'EOF'
tuxpaint-stamps-default	tux	cutout	usr/share/tuxpaint/stamps	-name *.png ! -name *_mirror.png ! -path */symbols/* ! -path */cartoon/* ! -path */seasonal/* ! -path */roadsigns/* ! -path */space/planets/* -regextype posix-extended ! -regex .*/(bee|fly|button|feathered_hat|tophat|tooth|eye|checkeredflag|inukshuk-outline|chineseJunk)\.png
endless-sky-data	esky	photo	usr/share/games/endless-sky/images/land	-name *.jpg
krank	krank	photo	usr/share/games/krank/levels/unera-backgrounds	-name *.jpg
opencv-doc	ocv	photo	usr/share/doc/opencv-doc/examples/data	-regextype posix-extended -regex .*/(aero1|aero3|aloeL|apple|baboon|board|box|box_in_scene|building|butterfly|fruits|graf1|graf3|home|leuvenA|leuvenB|lena|messi5|orange|squirrel_cls|starry_night|stuff|ela_original)\.(jpg|png)
stellarium-data	neb	distractor	usr/share/stellarium/nebulae/default	-name *.png
mate-backgrounds	mate	photo	usr/share/backgrounds/mate/nature	-name *.jpg
lomiri-wallpapers-16.04	lomiri	photo	usr/share/backgrounds	-name *.jpg ! -name analogpattern*
EOF
}
# Different photos of one object (opencv-doc): the first of each pair is indexed, the other a hard negative.
# Left out by eye: tuxpaint's space/planets/ (renders) and ten drawings that pass the flatness test (line art
# and gradient fills: bee, fly, button, hats, tooth, eye, flag, an outline, a junk); HappyFish (a drawing), aloeR (the stereo twin of aloeL: a near-exact repeat, not a
# different photo), left*/right* (calibration chessboards), and lomiri's analogpattern (abstract art).
group_of() {
  case "$(basename "$1")" in
    graf1.png|graf3.png) echo graf ;;
    box.png|box_in_scene.png) echo box ;;
    leuvenA.jpg|leuvenB.jpg) echo leuven ;;
    aero1.jpg|aero3.jpg) echo aero ;;
    *) echo "" ;;
  esac
}

mkdir -p "$cache/debs" "$cache/root"
list="$cache/sources.tsv"
tmp_list=$(mktemp)
trap 'rm -f "$tmp_list"' EXIT
updated=0
while IFS=$'\t' read -r pkg prefix role folder filters; do
  deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)
  if [[ -z "$deb" ]]; then
    echo "build-offline-benchmark: downloading $pkg" >&2
    if ! (cd "$cache/debs" && apt-get download "$pkg" >/dev/null 2>&1); then
      if ((!updated)); then
        echo "build-offline-benchmark: apt-get update, then retrying $pkg" >&2
        sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
        "${sudo_cmd[@]}" apt-get update -qq || true
        updated=1
      fi
      (cd "$cache/debs" && apt-get download "$pkg" >/dev/null 2>&1) || { echo "build-offline-benchmark: WARNING: $pkg unavailable, skipped" >&2; continue; }
    fi
    deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)
  fi
  version=$(dpkg-deb -f "$deb" Version)
  dest="$cache/root/$pkg"
  if [[ ! -f "$dest/.unpacked-$version" ]]; then
    rm -rf "$dest" && mkdir -p "$dest"
    dpkg -x "$deb" "$dest"
    touch "$dest/.unpacked-$version"
  fi
  [[ -d "$dest/$folder" ]] || { echo "build-offline-benchmark: WARNING: $pkg has no $folder, skipped" >&2; continue; }
  set -f  # the filters are find(1) words: split them, but expand no glob
  # shellcheck disable=SC2086
  find "$dest/$folder" -type f $filters | LC_ALL=C sort | while read -r f; do
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$pkg" "$version" "$prefix" "$role" "$(group_of "$f")" "$f"
  done >> "$tmp_list"
  set +f
done < <(sources_spec)

# The CI photos (installed by scripts/install-deps.sh): the shoe photos are one object in seven shots.
for d in /usr/share/doc/libjs-jquery-backstretch/examples /usr/share/doc/libjs-jquery-slides/examples; do
  [[ -d "$d" ]] || continue
  pkg=$(basename "$(dirname "$d")")
  version=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo unknown)
  find "$d" -type f -name '*.jpg' | LC_ALL=C sort | while read -r f; do
    group=""; [[ "$(basename "$f")" == 1144953-* ]] && group=shoe
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$pkg" "$version" jq photo "$group" "$f"
  done >> "$tmp_list"
done
cp "$tmp_list" "$list"
echo "build-offline-benchmark: $(wc -l < "$list") source files listed in $list" >&2

if [[ -n "$review" ]]; then
  exec "$tool" --sources "$list" --review "$review"
fi
exec "$tool" --sources "$list" --out "$out" "${extra[@]}"

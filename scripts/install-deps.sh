#!/usr/bin/env bash
# Installs the Debian packages neardup needs, running apt-get only for what is missing.
# Idempotent: a second run installs nothing and prints nothing but its summary.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libopencv-dev libopencv-contrib-dev
  libfaiss-dev libopenblas-dev liblapack-dev libomp-dev
  libtbb-dev
  libboost-dev libboost-system-dev
  catch2
  # the catalog: SQLite (embedded default) and libpq (a shared PostgreSQL catalog); the tests start their own
  # PostgreSQL server in a temporary directory
  libsqlite3-dev libpq-dev postgresql
  nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libssl-dev libcsv-dev
  # the fuzz preset: clang++ and its runtimes (ASan, UBSan, libFuzzer), for scripts/fuzz.sh and CI's smoke run
  clang libclang-rt-14-dev
  # the package test: dpkg-shlibdeps (dpkg-dev) and systemd-analyze for the unit
  dpkg-dev systemd
  # the reviewer page's browser test (tests/ui): headless Chromium driven by Selenium
  chromium chromium-driver python3-selenium
  # the Kubernetes manifests' offline check (tests/deploy)
  python3-yaml
  # the quick start's HTTP calls and the server load benchmark (bench/bench-server.sh)
  curl wrk
  # sample photos for tests and the demo (real JPEGs under /usr/share/doc/<pkg>/examples)
  libjs-jquery-slides libjs-jquery-backstretch
)

missing=()
for p in "${packages[@]}"; do
  [[ "$p" == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present" >&2
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2

#!/usr/bin/env bash
# The Debian package: builds with cpack from this build tree, depends on the runtime libraries, holds the
# programs, the API document, the docs, the config (as a conffile) and a systemd unit that verifies.
# Usage: test_package.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_package: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log" >&2; fail "cpack failed"; }
debs=("$tmp"/out/neardup_*_amd64.deb)
[[ -f ${debs[0]} ]] || fail "no neardup_*_amd64.deb in $(ls "$tmp/out")"
deb=${debs[0]}
echo "built $(basename "$deb"): $(du -h "$deb" | cut -f1)"

# Depends: computed from the programs' libraries.
depends=$(dpkg-deb --field "$deb" Depends)
for lib in libopencv-core libopencv-imgcodecs libtbb libsqlite3 libcsv libspdlog libssl; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
[[ $(dpkg-deb --field "$deb" Package) == neardup ]] || fail "package name"

dpkg-deb -x "$deb" "$tmp/root"
dpkg-deb -e "$deb" "$tmp/control"
for f in usr/bin/neardup usr/bin/neardup-server; do
  [[ -x $tmp/root/$f ]] || fail "$f missing or not executable"
done
for f in usr/share/neardup/openapi.json usr/share/doc/neardup/README.md usr/share/doc/neardup/ARCHITECTURE.md \
         lib/systemd/system/neardup-server.service etc/neardup/neardup.conf; do
  [[ -f $tmp/root/$f || -f $tmp/root/usr/$f ]] || fail "$f missing; the package holds: $(cd "$tmp/root" && find . -type f | sort | tr '\n' ' ')"
done
grep -qx /etc/neardup/neardup.conf "$tmp/control/conffiles" || fail "neardup.conf is not a conffile"
for script in postinst prerm postrm; do
  [[ -x $tmp/control/$script ]] || fail "$script missing"
  sh -n "$tmp/control/$script" || fail "$script: syntax"
done
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["openapi"] == "3.0.3"' "$tmp/root/usr/share/neardup/openapi.json" ||
  fail "openapi.json does not parse"

# The programs run from the package and explain themselves; the server reads the packaged config.
"$tmp/root/usr/bin/neardup" --help | grep -q "export" || fail "neardup --help"
"$tmp/root/usr/bin/neardup-server" --help | grep -q -- "--config" || fail "neardup-server --help"
conf=$tmp/neardup.conf
sed "s|/var/lib/neardup/index|$tmp/db|; s|127.0.0.1:8080|192.0.2.1:8080|" "$tmp/root/etc/neardup/neardup.conf" >"$conf"
set +e
timeout 60 "$tmp/root/usr/bin/neardup-server" --config "$conf" >"$tmp/server.log" 2>&1
status=$?
set -e
# 192.0.2.1 (TEST-NET-1) is no address of this machine: exit 1 (an unusable address), after the config was read.
[[ $status == 1 ]] || { cat "$tmp/server.log" >&2; fail "neardup-server --config: exit $status, expected 1"; }
grep -q "192.0.2.1" "$tmp/server.log" || { cat "$tmp/server.log" >&2; fail "the config's listen address was not used"; }

# The unit: systemd's own checks. The copy checked runs the unpacked program (verify wants ExecStart's program
# to exist on this machine); everything else is the packaged unit as it is.
unit=$(find "$tmp/root" -name neardup-server.service | head -1)
[[ -n $unit ]] || fail "no unit"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (Debian package systemd; scripts/install-deps.sh installs it)"
mkdir -p "$tmp/unit"
sed "s|^ExecStart=/usr/bin/neardup-server|ExecStart=$tmp/root/usr/bin/neardup-server|" "$unit" >"$tmp/unit/neardup-server.service"
grep -q "^ExecStart=$tmp/root/usr/bin/neardup-server " "$tmp/unit/neardup-server.service" || fail "unit's ExecStart is not /usr/bin/neardup-server"
systemd-analyze verify --man=no "$tmp/unit/neardup-server.service" >"$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify"; }
[[ ! -s $tmp/verify.log ]] || { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify printed warnings"; }
for key in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict Restart=on-failure; do
  grep -qx "$key" "$unit" || fail "unit lacks $key"
done
echo "package ok"

#!/usr/bin/env bash
# package_test.sh BUILD_DIR WORK_DIR
# Builds the Debian package with CPack (packaging/CMakeLists.txt) and checks
# it: its contents (`dpkg-deb -c`), that its Depends name the package of every
# shared library its binaries load (and nothing that is not on Debian 12:
# `apt-get install --simulate`), then unpacks it into a scratch root
# (`dpkg -x`) and records and prints a stand-in device from there.
. "$(dirname "$0")/lib.sh"
build=$(cd "$1" && pwd)
work=$2
repro="$0 $*"
rm -rf "$work"
mkdir -p "$work"

(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/cpack") > "$work/cpack.log" 2>&1 ||
  fail "cpack failed: $(tail -20 "$work/cpack.log")"
debs=("$work"/cpack/mmiotrace_*.deb)
((${#debs[@]} == 1)) && [[ -f "${debs[0]}" ]] || fail "cpack made no mmiotrace_*.deb: $(ls "$work/cpack")"
deb=${debs[0]}
echo "package: ${deb##*/}"

# Control fields.
[[ "$(dpkg-deb -f "$deb" Package)" == mmiotrace ]] || fail "Package is not mmiotrace"
version=$("$build/bin/mmiotrace" --version | awk '{print $2}')
[[ "$(dpkg-deb -f "$deb" Version)" == "$version" ]] || fail "Version $(dpkg-deb -f "$deb" Version), want $version"
[[ "$(dpkg-deb -f "$deb" Architecture)" == "$(dpkg --print-architecture)" ]] || fail "wrong Architecture"

# Contents: exactly the installed layout under /usr.
dpkg-deb -c "$deb" | awk '{print $6}' | grep -v '/$' | sort > "$work/contents.txt"
for f in ./usr/bin/mmiotrace ./usr/lib/mmiotrace/libmmiotrace-agent.so ./usr/include/mmiotrace/mark.h \
    ./usr/include/mmiotrace/model.h ./usr/lib/mmiotrace/models/libmmiotrace-model-edu.so \
    ./usr/share/pkgconfig/mmiotrace.pc ./usr/share/man/man1/mmiotrace.1.gz ./usr/share/man/man1/mmiotrace-record.1.gz \
    ./usr/share/man/man1/mmiotrace-print.1.gz ./usr/share/man/man1/mmiotrace-mark.1.gz \
    ./usr/share/bash-completion/completions/mmiotrace ./usr/share/zsh/vendor-completions/_mmiotrace \
    ./usr/share/doc/mmiotrace/README.md ./usr/share/doc/mmiotrace/docs/record.md ./usr/share/mmiotrace/maps/e1000.toml; do
  grep -qx -- "$f" "$work/contents.txt" || fail "the package lacks $f (dpkg-deb -c: $work/contents.txt)"
done
extra=$(grep -v -e '^./usr/bin/mmiotrace$' -e '^./usr/lib/mmiotrace/libmmiotrace-agent.so$' \
  -e '^./usr/include/mmiotrace/mark.h$' -e '^./usr/include/mmiotrace/model.h$' \
  -e '^./usr/lib/mmiotrace/models/libmmiotrace-model-edu.so$' -e '^./usr/share/pkgconfig/mmiotrace.pc$' \
  -e '^./usr/share/man/man1/mmiotrace[-a-z]*\.1\.gz$' -e '^./usr/share/bash-completion/completions/mmiotrace$' \
  -e '^./usr/share/zsh/vendor-completions/_mmiotrace$' -e '^./usr/share/doc/mmiotrace/' \
  -e '^./usr/share/mmiotrace/maps/[-a-z0-9]*\.toml$' "$work/contents.txt" || true)
[[ -z "$extra" ]] || fail "the package holds files that are not part of mmiotrace: $extra"

# Unpacked into a scratch root.
root=$work/root
dpkg -x "$deb" "$root"

# Depends: the package of every shared library the binaries name (their
# DT_NEEDED entries, as this system resolves them: readelf, ldd, dpkg -S), must
# be named, and nothing else. Libraries those load in turn (libdw's libbz2)
# are their own packages' dependencies, as dpkg-shlibdeps has it.
depends=$(dpkg-deb -f "$deb" Depends)
[[ -n "$depends" ]] || fail "the package has no Depends (CPACK_DEBIAN_PACKAGE_SHLIBDEPS)"
names=$(tr ',' '\n' <<< "$depends" | sed 's/^ *//; s/[ (].*//' | awk 'NF' | sort -u)
needed=$(for b in "$root/usr/bin/mmiotrace" "$root/usr/lib/mmiotrace/libmmiotrace-agent.so"; do
  resolved=$(ldd "$b")
  for soname in $(readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    awk -v n="$soname" '$1 == n { print ($3 ~ /^\//) ? $3 : "unresolved:" n }' <<< "$resolved"
  done
done | sort -u | while read -r lib; do
  dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null || echo "unpackaged:$lib"
done | cut -d: -f1 | sort -u)
[[ -n "$needed" ]] || fail "cannot find the packages of the binaries' libraries"
! grep -q '^unpackaged$' <<< "$needed" || fail "a binary loads a library no Debian package holds"
for p in $needed; do
  grep -qx "$p" <<< "$names" || fail "Depends ($depends) lacks $p, which holds a library the binaries load"
done
for p in $names; do
  grep -qx "$p" <<< "$needed" || fail "Depends names $p, whose libraries no binary loads ($depends)"
done
echo "Depends: $depends"

# Installable on this Debian: every dependency resolves (a simulation: nothing is installed).
if command -v apt-get > /dev/null; then
  apt-get install --simulate --no-install-recommends "$deb" > "$work/apt.log" 2>&1 ||
    fail "apt-get cannot install the package: $(tail -5 "$work/apt.log")"
  grep -q '^Inst mmiotrace ' "$work/apt.log" || fail "apt-get's simulation does not install mmiotrace: $(cat "$work/apt.log")"
fi

check_man_pages "$root/usr/share/man/man1" "$root/usr/bin/mmiotrace"
check_traced_run "$root/usr" "$root/usr/share/pkgconfig" "$work/run"
echo "PASS"

#!/usr/bin/env bash
# initramfs.sh BUILD_DIR INSTALL_DIR KERNEL_DIR OUT
# Builds the guest's initramfs (gzip'd newc cpio) from this build's binaries:
#   /init                 tests/vm/guest/init (busybox sh)
#   /bin/busybox          busybox-static, applets installed at boot
#   /mt/bin, /mt/lib      bin/ and lib/ of `cmake --install BUILD_DIR --prefix INSTALL_DIR`
#                         (run.sh does it): mmiotrace as a user installs it, finding
#                         its agent in /mt/lib/mmiotrace/
#   /mt/drivers/*         the test drivers, examples/edu_driver, bench/mode_workload
#                         and the e2e programs threads and step_cases (-O2)
#   /vm/                  guest/lib.sh and scenarios/*.guest.sh
#   /lib/modules/<rel>/   uio, uio_pci_generic, vfio, vfio-pci, e1000 and what
#                         they depend on, with modules.dep from depmod
#   every shared library the binaries need (ldd), at its own path
set -euo pipefail
build=$1
installed=$2
kdir=$3
out=$4
here=$(cd "$(dirname "$0")" && pwd)

stage=$(mktemp -d "${out}.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,mt/bin,mt/lib,mt/drivers,vm,proc,sys,dev,tmp,out,etc}

cp "$here/guest/init" "$stage/init"
chmod +x "$stage/init"
cp "$(command -v busybox)" "$stage/bin/busybox"
cp "$here/guest/lib.sh" "$stage/vm/"
cp "$here"/scenarios/*.guest.sh "$stage/vm/"

cp -a "$installed/bin/." "$stage/mt/bin/"
cp -a "$installed/lib/." "$stage/mt/lib/"
mapfile -t bins < <(find "$stage/mt/bin" "$stage/mt/lib" -type f)
[[ -x "$stage/mt/bin/mmiotrace" && -f "$stage/mt/lib/mmiotrace/libmmiotrace-agent.so" ]] || {
  echo "initramfs.sh: $installed has no bin/mmiotrace or lib/mmiotrace/libmmiotrace-agent.so" >&2
  exit 66
}
for d in "$build"/tests/vm/drivers/* "$build/examples/edu_driver" "$build/bench/mode_workload" \
    "$build/tests/e2e/programs/e2e_threads_O2" "$build/tests/e2e/programs/e2e_step_cases_O2"; do
  [[ -x "$d" && -f "$d" ]] || continue
  cp "$d" "$stage/mt/drivers/"
  bins+=("$d")
done

# Shared libraries, at the paths the loader looks for them.
for b in "${bins[@]}"; do
  ldd "$b" | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}'
done | sort -u | while read -r lib; do
  mkdir -p "$stage$(dirname "$lib")"
  cp -L "$lib" "$stage$lib"
done
# /lib64 -> the loader's real folder is what Debian has; the copies above keep
# the absolute path ldd printed (/lib64/ld-linux-x86-64.so.2).

# Modules and their dependencies (modinfo's depends field), then depmod.
rel=$(ls "$kdir/root/lib/modules")
src="$kdir/root/lib/modules/$rel"
dst="$stage/lib/modules/$rel"
mkdir -p "$dst"
cp "$src"/modules.order "$src"/modules.builtin "$src"/modules.builtin.modinfo "$dst/" 2>/dev/null || true
want=(uio uio_pci_generic vfio vfio_pci vfio_pci_core vfio_iommu_type1 e1000)
declare -A seen=()
while ((${#want[@]})); do
  m=${want[0]}
  want=("${want[@]:1}")
  [[ -n "${seen[$m]:-}" ]] && continue
  seen[$m]=1
  f=$(find "$src/kernel" \( -name "$m.ko" -o -name "${m//_/-}.ko" \) | head -1)
  if [[ -z "$f" ]]; then
    grep -q "/${m}.ko$" "$src/modules.builtin" || echo "initramfs.sh: module $m not found" >&2
    continue
  fi
  mkdir -p "$dst/$(dirname "${f#"$src/"}")"
  cp "$f" "$dst/${f#"$src/"}"
  deps=$(modinfo -F depends "$f" | tr ',' ' ')
  for d in $deps; do want+=("$d"); done
done
depmod -b "$stage" "$rel"

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"

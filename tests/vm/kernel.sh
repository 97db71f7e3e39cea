#!/usr/bin/env bash
# Prints the folder holding the guest kernel: vmlinux (the uncompressed ELF,
# which QEMU boots directly through PVH, twice as fast as vmlinuz), config and
# the module tree lib/modules/<release>. Fetches it on first use:
#   the package `apt-cache depends linux-image-amd64` names, downloaded alone
#   with `apt-get download NAME` (a glob would fetch every flavour, >1.5 GB),
#   unpacked with `dpkg-deb -x` (never installed on this machine) into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/mmiotrace-vm/<package>_<version>.
# MMIOTRACE_VM_KERNEL_DIR names a folder laid out the same way instead.
set -euo pipefail

if [[ -n "${MMIOTRACE_VM_KERNEL_DIR:-}" ]]; then
  echo "$MMIOTRACE_VM_KERNEL_DIR"
  exit 0
fi

pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)
if [[ -z "$pkg" ]]; then
  echo "kernel.sh: apt-cache does not know linux-image-amd64; run 'apt-get update' first" >&2
  exit 69
fi
version=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')
cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/mmiotrace-vm/${pkg}_${version}
if [[ -s "$cache/vmlinux" && -d "$cache/root/lib/modules" ]]; then
  echo "$cache"
  exit 0
fi
# Scenarios start in parallel: one fetches, the others wait for it.
mkdir -p "${cache%/*}"
exec 9>"${cache%/*}/.lock"
flock 9
if [[ -s "$cache/vmlinux" && -d "$cache/root/lib/modules" ]]; then
  echo "$cache"
  exit 0
fi

echo "kernel.sh: fetching $pkg $version into $cache" >&2
tmp=$(mktemp -d "${cache%/*}/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) || {
  echo "kernel.sh: 'apt-get download $pkg' failed" >&2
  exit 69
}
mkdir -p "$tmp/kernel/root"
dpkg-deb -x "$tmp"/*.deb "$tmp/kernel/root"
vmlinuz=$(ls "$tmp"/kernel/root/boot/vmlinuz-*)
cp "$tmp"/kernel/root/boot/config-* "$tmp/kernel/config"
cp "$vmlinuz" "$tmp/kernel/vmlinuz"
# The kernel inside vmlinuz is an xz stream (magic FD 37 7A 58 5A 00) followed
# by other data, so xz stops with an error after the stream: check the ELF.
off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
tail -c +$((off + 1)) "$vmlinuz" | xz -dcq > "$tmp/kernel/vmlinux" 2>/dev/null || true
if [[ "$(head -c 4 "$tmp/kernel/vmlinux" | od -An -tx1 | tr -d ' ')" != 7f454c46 ]]; then
  echo "kernel.sh: no ELF vmlinux inside $vmlinuz" >&2
  exit 70
fi
rm -rf "$cache"
mv "$tmp/kernel" "$cache"
echo "$cache"

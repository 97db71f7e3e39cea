#!/usr/bin/env bash
# The demo: set up, build, and trace examples/edu_driver (a user-space driver
# for QEMU's edu PCI device) against a stand-in device file that
# examples/edu_sim keeps behaving like the device. Prints the trace in the
# kernel's mmiotrace format, then replays the driver against that trace with
# no device at all (docs/replay.md); the trace files stay in build/demo/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MMIOTRACE_BUILD_DIR:-$root/build}

"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)" --target mmiotrace mmiotrace-agent edu_driver edu_sim >/dev/null

demo="$build/demo"
mkdir -p "$demo"
dev="$demo/edu-bar0"
rm -f "$dev"
"$build/examples/edu_sim" "$dev" 60 &
sim=$!
trap 'rm -f "$dev"; wait "$sim" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s "$dev" ]] && break; sleep 0.05; done

# The stand-in plays QEMU's edu device (PCI 1234:11e8) with BAR0 at
# 0xfea00000 in slot 00:04.0, so the trace decodes as the real device's would.
identity="phys=0xfea00000,pci=1234:11e8,bar=0,slot=00:04.0"
echo "== mmiotrace record -o $demo/demo.mmio --device $dev,$identity -- edu_driver $dev"
"$build/bin/mmiotrace" record -o "$demo/demo.mmio" --device "$dev,$identity" -- "$build/examples/edu_driver" "$dev"
echo
echo "== mmiotrace print $demo/demo.mmio"
"$build/bin/mmiotrace" print "$demo/demo.mmio"

# No device from here on: the stand-in goes (edu_sim stops with it).
rm -f "$dev"
wait "$sim" 2>/dev/null || true
echo
echo "== mmiotrace replay -o $demo/replay.mmio $demo/demo.mmio -- edu_driver $dev   ($dev no longer exists)"
"$build/bin/mmiotrace" replay -o "$demo/replay.mmio" "$demo/demo.mmio" -- "$build/examples/edu_driver" "$dev"

#!/usr/bin/env bash
# The demo: set up, build, and trace examples/edu_driver (a user-space driver
# for QEMU's edu PCI device) against a stand-in device file that
# examples/edu_sim keeps behaving like the device. Prints the trace in the
# kernel's mmiotrace format; the trace file stays in build/demo/.
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

echo "== mmiotrace record -o $demo/demo.mmio --device $dev -- edu_driver $dev"
"$build/bin/mmiotrace" record -o "$demo/demo.mmio" --device "$dev" -- "$build/examples/edu_driver" "$dev"
echo
echo "== mmiotrace print $demo/demo.mmio"
"$build/bin/mmiotrace" print "$demo/demo.mmio"

#!/usr/bin/env bash
# Step mode with protection keys, checked in a QEMU guest whose CPU has PKU
# (TCG `-cpu max`): the rig of tests/vm (branch vm) boots the guest; the
# scenarios are tests/vm-step/*.sh:
#   stepkeys  bench/mode_workload with 1, 2 and 4 threads under --mode=step
#             and emulate: every access recorded, no mprotect stepping; with
#             MMIOTRACE_NO_PKEYS=1 for contrast (misses with 4 threads); the
#             e2e programs threads (160000 accesses, all) and step_cases
#   stepedu   examples/edu_driver on QEMU's edu device through sysfs
#             resource0: the same trace in emulate and step mode; then the
#             mode comparison (ROW lines: mode, threads, median ns per access,
#             median and worst accesses missed, accesses made)
#
#   scripts/vm_step_check.sh [BUILD_DIR (default build)] [RIG (default tests/vm)] [SCENARIO...]
#
# The rig is copied, not changed: a staged build folder holds the binaries
# the guest needs (mmiotrace, the agent, mode_workload, e2e_threads_O2,
# e2e_step_cases_O2, edu_driver) where the rig's initramfs.sh looks for
# drivers. Prints each scenario's guest log and PASS/FAIL.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
rig=$(cd "${2:-$root/tests/vm}" && pwd)
shift $(( $# < 2 ? $# : 2 ))
scenarios=("$@")
((${#scenarios[@]})) || scenarios=(stepkeys stepedu)
for f in run.sh initramfs.sh kernel.sh guest/init guest/lib.sh; do
  [[ -e $rig/$f ]] || { echo "vm_step_check.sh: no QEMU rig at $rig (tests/vm of branch vm)" >&2; exit 69; }
done
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/rig/scenarios" "$stage/build"/{bin,lib,tests/vm/drivers}
cp -r "$rig"/{run.sh,initramfs.sh,kernel.sh,guest} "$stage/rig/"
cp "$root"/tests/vm-step/*.sh "$stage/rig/scenarios/"
cp "$build/bin/mmiotrace" "$stage/build/bin/"
cp "$build/lib/libmmiotrace-agent.so" "$stage/build/lib/"
cp "$build/bench/mode_workload" "$build/tests/e2e/programs/e2e_threads_O2" \
   "$build/tests/e2e/programs/e2e_step_cases_O2" "$build/examples/edu_driver" "$stage/build/tests/vm/drivers/"
status=0
for s in "${scenarios[@]}"; do
  MMIOTRACE_VM_ACCEL=${MMIOTRACE_VM_ACCEL:-tcg} MMIOTRACE_VM_TIMEOUT=${MMIOTRACE_VM_TIMEOUT:-1500} \
    "$stage/rig/run.sh" "$stage/build" "$s" || status=1
done
exit $status

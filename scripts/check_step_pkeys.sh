#!/usr/bin/env bash
# Proves (or refutes) that step mode with protection keys misses nothing:
# bench/mode_workload with THREADS threads, each storing i to its own register
# and loading it back ITERATIONS times, under `mmiotrace record --mode=step`.
# PASS when the trace holds every access the workload made, per register in
# the order W 0, R 0, W 1, R 1, ... with those values, and the recording used
# protection keys (no "single-stepped with mprotect" note, header without
# kFeatureStepMayMiss). Meant for a machine or QEMU guest with PKU
# (`-cpu max` under TCG, or a host CPU with pku/ospke in /proc/cpuinfo).
#
#   scripts/check_step_pkeys.sh [DEVICE] [THREADS, default 4] [ITERATIONS, default 20000]
#
# DEVICE: a device file to map (a PCI BAR's sysfs resourceN, /dev/uioN, ...:
# its first THREADS*64 bytes are written!) or, by default, a 16 KiB stand-in
# file. Exit status: 0 PASS, 1 FAIL, 77 no protection keys on this CPU
# (MMIOTRACE_CHECK_ANY_CPU=1 runs it anyway: to see it fail on mprotect stepping).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MMIOTRACE_BUILD_DIR:-$root/build}
threads=${2:-4}
iterations=${3:-20000}
if [[ -z ${MMIOTRACE_CHECK_ANY_CPU:-} ]] && { ! grep -qw pku /proc/cpuinfo || ! grep -qw ospke /proc/cpuinfo; }; then
  echo "SKIP: this CPU has no protection keys (pku/ospke not in /proc/cpuinfo)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
device_args=()
if [[ $# -ge 1 && -n $1 ]]; then
  device=$1
else
  device=$work/dev
  truncate -s 16384 "$device"
  device_args=(--device "$device")
fi
out=$("$build/bin/mmiotrace" record --mode=step -o "$work/t.mmio" "${device_args[@]}" -- \
        "$build/bench/mode_workload" "$device" "$threads" "$iterations" 2>"$work/err") || {
  echo "FAIL: the workload failed: $out"; cat "$work/err"; exit 1; }
echo "workload: $out"
cat "$work/err"
made=$(sed -E 's/.*accesses=([0-9]+).*/\1/' <<<"$out")
"$build/bin/mmiotrace" print "$work/t.mmio" >"$work/t.txt"
status=0
if grep -q 'single-stepped with mprotect' "$work/err" "$work/t.txt"; then
  echo "FAIL: the steps used mprotect, not protection keys (pkey_alloc or pkey_mprotect failed on this mapping?)"
  status=1
fi
# Per register (physical address): W i then R i, i = 0, 1, ..., all there.
awk -v n="$iterations" -v made="$made" '
  $1 == "R" || $1 == "W" {
    reg = $5; k = count[reg]++; want_op = (k % 2 == 0) ? "W" : "R"; want = sprintf("0x%x", int(k / 2));
    if ($1 != want_op || $6 != want) { if (bad++ < 5) printf("FAIL: register %s access %d is \"%s\", expected %s %s\n", reg, k, $0, want_op, want); }
    total++
  }
  END {
    for (r in count) if (count[r] != 2 * n) { printf("FAIL: register %s has %d accesses, expected %d\n", r, count[r], 2 * n); bad++ }
    printf("trace: %d accesses, workload made %d\n", total, made);
    exit (bad != 0 || total != made) ? 1 : 0
  }' "$work/t.txt" || status=1
if [[ $status == 0 ]]; then echo "PASS: protection-key stepping recorded every access of $threads threads, in order"; fi
exit $status

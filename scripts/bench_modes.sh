#!/usr/bin/env bash
# The mode comparison (docs/benchmarks.md, "Emulate or single-step"): the
# same workload (bench/mode_workload.cc: each thread stores to and loads from
# its own register on a stand-in device) untraced, under emulate mode with
# every access faulting (--no-patch), under emulate mode with its two sites
# patched (the default: the fast path), under step mode with protection keys
# and under step mode with mprotect, with 1, 2 and 4 threads. For each: the
# median over REPEATS runs of the wall time per access (all threads'
# accesses), the same times the thread count (what one access costs the
# thread that makes it), and the accesses missing from the trace against the
# count the workload made (median and worst run).
#
#   scripts/bench_modes.sh [ITERATIONS per thread, default 10000] [REPEATS, default 5]
#
# Uses an existing build (MMIOTRACE_BUILD_DIR, default build/) with the
# mmiotrace, mmiotrace-agent and mode_workload targets; scripts/bench.sh
# builds a Release tree (build-bench/) and calls this.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MMIOTRACE_BUILD_DIR:-$root/build}
iterations=${1:-10000}
repeats=${2:-5}
workload=$build/bench/mode_workload
mmiotrace=$build/bin/mmiotrace
for f in "$workload" "$mmiotrace"; do
  [[ -x $f ]] || { echo "bench_modes.sh: $f is missing: build the mode_workload and mmiotrace targets first" >&2; exit 66; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
truncate -s 16384 "$work/dev"
pkeys=no
if grep -qw pku /proc/cpuinfo && grep -qw ospke /proc/cpuinfo; then pkeys=yes; fi

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }
maximum() { sort -n | tail -1; }

# run MODE THREADS: one line "ns accesses recorded note" per repeat.
run_once() {
  local mode=$1 threads=$2 out err recorded note=""
  case $mode in
    untraced)
      out=$("$workload" "$work/dev" "$threads" "$iterations")
      recorded=$(sed -E 's/.*accesses=([0-9]+).*/\1/' <<<"$out") ;;
    *)
      local args=() env=()
      case $mode in
        emulate) args=(--no-patch) ;;
        patched) args=() ;;
        *) args=(--mode=step) ;;
      esac
      [[ $mode == step-mprotect ]] && env=(MMIOTRACE_NO_PKEYS=1)
      out=$(env "${env[@]}" "$mmiotrace" record "${args[@]}" -o "$work/t.mmio" --device "$work/dev" -- \
              "$workload" "$work/dev" "$threads" "$iterations" 2>"$work/err")
      recorded=$(grep -oE 'recorded [0-9]+ accesses' "$work/err" | awk '{ print $2 }')
      grep -q 'single-stepped with mprotect' "$work/err" && note=mprotect ;;
  esac
  local ns made
  ns=$(sed -E 's/.*ns=([0-9]+).*/\1/' <<<"$out")
  made=$(sed -E 's/.*accesses=([0-9]+).*/\1/' <<<"$out")
  echo "$ns $made $recorded $note"
}

echo "| mode | threads | ns per access (wall, all threads) | ns per access per thread | accesses missed (median / worst of $repeats) |"
echo "| --- | --- | --- | --- | --- |"
for mode in untraced emulate patched step-pkey step-mprotect; do
  for threads in 1 2 4; do
    if [[ $mode == step-pkey && $pkeys == no ]]; then
      echo "| $mode | $threads | not available on this CPU (no PKU/OSPKE) | | |"
      continue
    fi
    : >"$work/rows"
    for ((r = 0; r < repeats; ++r)); do run_once "$mode" "$threads" >>"$work/rows"; done
    wall=$(awk '{ printf "%.1f\n", $1 / $2 }' "$work/rows" | median)
    per_thread=$(awk -v t="$threads" '{ printf "%.1f\n", $1 * t / $2 }' "$work/rows" | median)
    missed_med=$(awk '{ print $2 - $3 }' "$work/rows" | median)
    missed_max=$(awk '{ print $2 - $3 }' "$work/rows" | maximum)
    note=""
    [[ $mode == step-pkey ]] && grep -q mprotect "$work/rows" && note=" (fell back to mprotect)"
    echo "| $mode$note | $threads | $wall | $per_thread | $missed_med / $missed_max of $((threads * iterations * 2)) |"
  done
done

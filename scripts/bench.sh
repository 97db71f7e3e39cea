#!/usr/bin/env bash
# Prints, in one run, the cost of a traced access through the fault path
# (record --no-patch) and through a patched site (record, the default), next
# to an untraced access and two floors: a bare SIGSEGV round trip (the floor
# of a tracer that faults) and what a tracer that takes no fault must at
# least do per access (bench/bench_access.cc, FaultFreeFloor); 1, 2 and 4
# threads, 5 repetitions each (median and minimum), in 3 interleaved rounds
# (the best round of each kept); each both as a stream that never stops
# (whose rate the recorder bounds) and in bursts of 512 accesses with pauses
# between them (what an access costs the program while its ring has room).
# Then device-free code
# under `record` with patching on against untraced, the whole `record` wall
# time of the 4-thread 160,000-access workload (untraced, --no-patch,
# patched), the ratios between them computed from this run's own figures
# (so that a machine shared with other work still gives comparable ratios),
# and the mode comparison (scripts/bench_modes.sh). docs/benchmarks.md holds
# the figures.
#
# The Release tree is its own (build-bench, or MMIOTRACE_BUILD_DIR), so the
# developer tree keeps its configuration.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MMIOTRACE_BUILD_DIR:-$root/build-bench}
"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target mmiotrace mmiotrace-agent mmiotrace_bench mode_workload >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
truncate -s 16384 "$work/dev"
bench=$build/bench/mmiotrace_bench
mmiotrace=$build/bin/mmiotrace

flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { [[ " $flags " == *" $1 "* ]] && echo yes || echo no; }
echo "== host: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, Linux $(uname -r);" \
  "PKU: $(has pku), AVX-512: $(has avx512f), AVX2: $(has avx2)"
echo "== commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown);" \
  "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# The traces go to a tmpfs folder (default /dev/shm, or
# MMIOTRACE_BENCH_TRACE_DIR), each deleted after its run: a stream that never
# stops writes 88 bytes per access, ~1 GB/s, and on a disk the figures would
# be the disk's write bandwidth (once the kernel's dirty-page limit is
# reached), not the tracer's.
trace_dir=$(mktemp -d "${MMIOTRACE_BENCH_TRACE_DIR:-/dev/shm}/mmiotrace-bench.XXXXXX")
trap 'rm -rf "$work" "$trace_dir"' EXIT
trace=$trace_dir/bench.mmio

# run TAG FILTER [record ARGS... --]: one Google Benchmark run; the console
# medians to stdout, every aggregate to $work/TAG.csv (TAG_rN_PART: the
# summary reads the parts of a round as one).
run() {
  local tag=$1 filter=$2
  shift 2
  "$@" "$bench" --benchmark_filter="$filter" --benchmark_min_time="${MMIOTRACE_BENCH_MIN_TIME:-0.3}" \
    --benchmark_format=console --benchmark_out="$work/$tag.csv" --benchmark_out_format=csv |
    grep -E 'median|Benchmark|---'
  rm -f "$trace"
}
# The traced benchmarks, one row (benchmark and thread count) per `record`,
# so that each trace stays near or under ~2 GB: on the 2-CPU VM of docs/benchmarks.md
# every traced figure became 2-4x slower once some 3 GB of tmpfs were in use
# (the recorder's trace, or any other file: a 4 GB file of zeros in /dev/shm
# did the same, and a trace written to /dev/null never did), while the
# fault-free floor, which writes no file, stayed as it was.
traced() {
  local tag=$1 t
  shift
  for t in 1 2 4; do
    run "${tag}_read$t" "Traced_Read/.*threads:$t\$" "$@"
    run "${tag}_write$t" "Traced_Write/.*threads:$t\$" "$@"
    run "${tag}_burstread$t" "TracedBurst_Read/.*threads:$t\$" "$@"
    run "${tag}_burstwrite$t" "TracedBurst_Write/.*threads:$t\$" "$@"
  done
  run "${tag}_forms" 'Traced_(OrRmw|LockXadd|Store|Memcpy)' "$@"
}
export MMIOTRACE_BENCH_DEVICE=$work/dev
# Rounds: the four runs one after the other, ROUNDS times (default 3), so that
# a burst of load from other processes hits one round of each, not all of one
# kind; the summary keeps each figure's best round.
rounds=${MMIOTRACE_BENCH_ROUNDS:-3}
for ((r = 1; r <= rounds; ++r)); do
  echo "== round $r of $rounds: untraced, bare signal round trip, floor of a fault-free tracer (no tracer)"
  run "native_r$r" 'Untraced|BareSignal|FaultFreeFloor'
  echo "== round $r of $rounds: traced through the fault path (mmiotrace record --no-patch)"
  traced "fault_r$r" "$mmiotrace" record --no-patch -o "$trace" --device "$work/dev" --
  echo "== round $r of $rounds: traced through patched sites (mmiotrace record: patched after 4 faults)"
  traced "patched_r$r" "$mmiotrace" record -o "$trace" --device "$work/dev" --
  echo "== round $r of $rounds: device-free code under mmiotrace record with patching on (a device mapped, never touched)"
  run "devfree_r$r" Untraced "$mmiotrace" record -o "$trace" --device "$work/dev" --
done

# The 4-thread 160,000-access workload (bench/mode_workload.cc: 4 threads x
# 20,000 iterations x a store and a load): the whole wall time from start to
# exit (for `record`: the trace written and closed), median and minimum of 5.
echo "== 4 threads, 160,000 accesses: whole wall time in ms (median / min of 5)"
wall_ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}
workload=("$build/bench/mode_workload" "$work/dev" 4 20000)
for how in untraced fault-path patched; do
  for _ in 1 2 3 4 5; do
    case $how in
      untraced) wall_ms "${workload[@]}" ;;
      fault-path) wall_ms "$mmiotrace" record --no-patch -o "$trace_dir/w.mmio" --device "$work/dev" -- "${workload[@]}" ;;
      patched) wall_ms "$mmiotrace" record -o "$trace_dir/w.mmio" --device "$work/dev" -- "${workload[@]}" ;;
    esac
  done | sort -n | awk -v how="$how" '{ v[NR] = $1 } END { printf "%s %d %d\n", how, v[int((NR + 1) / 2)], v[1] }'
done | tee "$work/workload.txt"

echo "== load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== summary (markdown; ns per access, wall = 1 / throughput of all threads, CPU = CPU time per access)"
"$root/scripts/bench_summary.awk" "$work"/{native,fault,patched,devfree}_r*.csv "$work/workload.txt"

echo
echo "== modes: untraced, emulate (--no-patch), patched, step with protection keys, step with mprotect"
MMIOTRACE_BUILD_DIR="$build" "$root/scripts/bench_modes.sh"

#!/usr/bin/env bash
# Prints the cost of a traced access next to its floor (a bare SIGSEGV round
# trip) and an untraced access, 1 and 2 threads, medians of 5 repetitions.
# The figures go into docs/benchmarks.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MMIOTRACE_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target mmiotrace mmiotrace-agent mmiotrace_bench mode_workload >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
truncate -s 16384 "$work/dev"
common=(--benchmark_min_time=0.3 --benchmark_format=console)
echo "== untraced and bare signal round trip (no tracer)"
"$build/bench/mmiotrace_bench" --benchmark_filter='Untraced|BareSignal' "${common[@]}" | grep -E 'median|Benchmark|---'
echo "== traced (under mmiotrace record)"
MMIOTRACE_BENCH_DEVICE="$work/dev" "$build/bin/mmiotrace" record -o "$work/bench.mmio" --device "$work/dev" -- \
  "$build/bench/mmiotrace_bench" --benchmark_filter='Traced' "${common[@]}" | grep -E 'median|Benchmark|---'
echo "== modes: untraced, emulate, step with protection keys, step with mprotect (docs/benchmarks.md)"
MMIOTRACE_BUILD_DIR="$build" "$root/scripts/bench_modes.sh"

#!/usr/bin/env bash
# The print and stats benchmark (docs/benchmarks.md): writes a synthetic
# trace of N accesses (bench/make_trace.cc; default 10,000,000) and times
# `mmiotrace print` on it in each format, to /dev/null, with and without
# --regs, then `mmiotrace stats` (accesses per second).
# Prints lines per second by wall time and by CPU time (user + sys): on a
# shared machine the CPU figure is the one that says what print costs.
# Uses an existing build (MMIOTRACE_BUILD_DIR, default build/: the dev preset
# is RelWithDebInfo, -O2); builds only mmiotrace and make_trace there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MMIOTRACE_BUILD_DIR:-$root/build}
n=${1:-10000000}
cmake --build "$build" -j2 --target mmiotrace make_trace >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bench/make_trace" "$work/t.mmio" "$n"
echo "trace: $n accesses, $(stat -c %s "$work/t.mmio") bytes; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %10s %8s %8s %14s %14s %10s\n' format lines wall_s cpu_s lines/s_wall lines/s_cpu max_rss_KiB
run() {
  local name=$1
  shift
  local lines
  lines=$("$build/bin/mmiotrace" print "$@" "$work/t.mmio" | wc -l)
  /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$build/bin/mmiotrace" print "$@" "$work/t.mmio" >/dev/null
  read -r wall user sys rss <"$work/time"
  awk -v name="$name" -v l="$lines" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" \
    'BEGIN { c = u + s; printf "%-28s %10d %8.2f %8.2f %14.0f %14.0f %10d\n", name, l, w, c, l / w, l / c, r }'
}
run kernel --format kernel
run native --format native
run annotated --format annotated
run json --format json
run csv --format csv
run "kernel --regs e1000" --format kernel --regs "$root/maps/e1000.toml"
run "annotated --regs e1000" --format annotated --regs "$root/maps/e1000.toml"

# stats: one pass, every access counted per register, site, thread and process.
stats() {
  local name=$1
  shift
  /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$build/bin/mmiotrace" stats "$@" "$work/t.mmio" >/dev/null
  read -r wall user sys rss <"$work/time"
  awk -v name="$name" -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" \
    'BEGIN { c = u + s; printf "%-28s %10d %8.2f %8.2f %14.0f %14.0f %10d\n", name, n, w, c, n / w, n / c, r }'
}
printf '%-28s %10s %8s %8s %14s %14s %10s\n' command accesses wall_s cpu_s acc/s_wall acc/s_cpu max_rss_KiB
stats "stats"
stats "stats --regs e1000" --regs "$root/maps/e1000.toml"

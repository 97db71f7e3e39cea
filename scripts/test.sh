#!/usr/bin/env bash
# The whole test suite: set up, build everything, run every test with ctest
# (unit, e2e, diff, fuzz, install: the installed tree, the Debian package, man
# pages, completion; vm: the QEMU guest scenarios), clang-tidy on src/
# (scripts/clang-tidy.sh); then the unit tests again under AddressSanitizer+UBSan,
# and those that start threads under ThreadSanitizer, in four shards each (the
# agent and the end-to-end tests cannot run under a sanitizer: see
# CMakeLists.txt and tests/CMakeLists.txt). MMIOTRACE_NO_SANITIZERS=1 skips the sanitizer
# builds, MMIOTRACE_NO_TIDY=1 clang-tidy.
# After each phase, and all together at the end (also after a failure), it
# prints how long the phase took: wall time, the CPU time of its processes
# (which a loaded machine inflates much less) and the load average as it
# ended; docs/ci.md keeps the figures.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

report=()
times_file=$(mktemp)
cpu_now() {  # cpu=user+sys seconds of this shell's finished children so far
  times > "$times_file"  # run by this shell: in $(...), times would report a subshell's
  cpu=$(awk 'END { for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } printf "%.1f", s }' \
    "$times_file")
}
phase() {  # NAME COMMAND...: runs COMMAND, noting its wall and CPU time
  local name=$1 start cpu rc=0
  shift
  start=$(date +%s.%N)
  cpu_now
  local cpu0=$cpu
  "$@" || rc=$?
  cpu_now
  report+=("$(awk -v n="$name" -v w="$(date +%s.%N)" -v s="$start" -v c1="$cpu" -v c0="$cpu0" -v rc="$rc" \
    -v l="$(cut -d' ' -f1-3 /proc/loadavg)" \
    'BEGIN { printf "%-18s %6.0f s wall %6.0f s CPU  load %s%s", n, w - s, c1 - c0, l, rc ? "  (failed)" : "" }')")
  echo "== ${report[-1]}"  # as it ends, for a run that is cut short
  return "$rc"
}
summary() {
  rm -f "$times_file"
  ((${#report[@]})) || return 0
  echo "== time per phase ($jobs cores)"
  printf '%s\n' "${report[@]}"
}
trap summary EXIT

phase setup "$root/scripts/setup.sh"
cd "$root"
phase configure cmake --preset dev >/dev/null
phase build cmake --build --preset dev -j"$jobs"
phase test ctest --preset dev -j"$jobs" --timeout 600
if [[ "${MMIOTRACE_NO_TIDY:-0}" != 1 ]]; then
  phase clang-tidy "$root/scripts/clang-tidy.sh" "$root/build"
fi

if [[ "${MMIOTRACE_NO_SANITIZERS:-0}" != 1 ]]; then
  for san in asan tsan; do
    echo "== unit tests under $san"
    phase "configure $san" cmake --preset "$san" >/dev/null
    phase "build $san" cmake --build --preset "$san" -j"$jobs"
    phase "test $san" ctest --preset "$san" -j"$jobs" --timeout 600 -L unit
  done
fi

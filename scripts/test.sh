#!/usr/bin/env bash
# The whole test suite: set up, build everything, run every test with ctest;
# then the unit tests again under AddressSanitizer+UBSan and ThreadSanitizer
# (the agent and the end-to-end tests cannot run under a sanitizer: see
# CMakeLists.txt). MMIOTRACE_NO_SANITIZERS=1 skips the sanitizer builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

"$root/scripts/setup.sh"
cd "$root"
cmake --preset dev >/dev/null
cmake --build --preset dev -j"$jobs"
ctest --preset dev -j"$jobs" --timeout 600

if [[ "${MMIOTRACE_NO_SANITIZERS:-0}" != 1 ]]; then
  for san in asan tsan; do
    echo "== unit tests under $san"
    cmake --preset "$san" >/dev/null
    cmake --build --preset "$san" -j"$jobs"
    ctest --preset "$san" -j"$jobs" --timeout 600 -L unit
  done
fi

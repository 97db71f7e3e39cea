#!/usr/bin/env bash
# clang-tidy.sh [BUILD_DIR] [REGEX]
# Runs clang-tidy with the repository's .clang-tidy (an allowlist; every
# finding is an error) on the sources of src/ that BUILD_DIR's
# compile_commands.json compiles (default: build, the dev preset's folder), or
# on those matching REGEX. Exits non-zero on any finding. About 5 CPU-minutes
# for all of src/; scripts/test.sh runs it after the dev build's tests
# (docs/ci.md).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
regex=${2:-$root/src/.*\.(cc|cpp)$}
if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "clang-tidy.sh: $build has no compile_commands.json: configure it first (cmake --preset dev)" >&2
  exit 66
fi
for tool in clang-tidy run-clang-tidy; do
  command -v "$tool" > /dev/null || { echo "clang-tidy.sh: $tool is missing: run scripts/setup.sh" >&2; exit 69; }
done
# The agent is compiled with -mgeneral-regs-only (its handler code must not
# touch the program's vector registers); clang rejects the `long double` of
# libstdc++'s headers under that flag, so the checks read the agent's sources
# from a copy of the compilation database without it (it changes only which
# registers the code generator may use, nothing the checks look at). Its
# GCC-only -mmemset-strategy/-mmemcpy-strategy (how fixed-size copies are
# expanded, src/CMakeLists.txt) go for the same reason: clang does not know them.
db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
sed -E 's/ -mgeneral-regs-only//g; s/ -mmem(set|cpy)-strategy=[^ "]*//g' "$build/compile_commands.json" > "$db/compile_commands.json"
# The counts of suppressed warnings (from system headers) are noise.
run-clang-tidy -p "$db" -j "$(nproc)" -quiet "$regex" 2>&1 | grep -v '[0-9]\+ warnings\? generated\.$'
rc=${PIPESTATUS[0]}
((rc == 0)) && echo "clang-tidy: no findings"
exit "$rc"

#!/usr/bin/env bash
# Installs everything mmiotrace needs to build and test, from Debian 12's packages.
# Idempotent: packages already present are not fetched again. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake g++ pkg-config
  libzydis-dev          # x86 decoder/encoder (src/emu is the only user)
  libgtest-dev          # unit tests
  libbenchmark-dev      # micro-benchmarks
  time                  # scripts/bench_print.sh: wall, CPU time and peak memory of print
  libcli11-dev          # command-line parsing
  libfmt-dev            # formatting in the tools (never in the agent)
  libdw-dev             # symbols of instruction addresses: function+offset, file:line (src/analysis)
  libsqlite3-dev        # export --sqlite (src/analysis)
  nlohmann-json3-dev    # tests: parsing the JSON that stats, export and report write
  libtomlplusplus-dev   # register maps in TOML (src/analysis)
  libpugixml-dev        # SVD and rnndb register map import (src/analysis)
  clang libclang-rt-14-dev  # the emulator fuzzer (tests/fuzz): libFuzzer, ASan, UBSan
  qemu-system-x86 busybox-static cpio kmod xz-utils  # the QEMU guest tests (tests/vm, docs/vm-tests.md)
  chromium              # tests: the HTML report opened in a headless browser (tests/e2e/report_test.cc)
  help2man              # man pages from the CLI's --help (packaging/man.sh)
  dpkg-dev file         # the Debian package: dpkg-shlibdeps finds its Depends; CPack finds ELF files with file
  groff-base zsh        # tests/install: render the man pages; parse the zsh completion
  clang-tidy            # scripts/clang-tidy.sh (.clang-tidy)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# tests/vm fetches Debian's kernel package with apt-get download: it needs
# apt's package lists even when every package above is installed.
if ((${#missing[@]} == 0)) && [[ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial)" ]]; then
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q >/dev/null
if ((${#missing[@]} == 0)); then exit 0; fi
echo "setup: installing ${missing[*]}" >&2
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null

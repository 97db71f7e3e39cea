#!/usr/bin/env bash
# install_test.sh BUILD_DIR WORK_DIR
# `cmake --install BUILD_DIR --prefix WORK_DIR/prefix`, then checks the
# installed tree: its layout, that the installed `record` finds the installed
# agent (from its own folder) and records a stand-in device correctly, that
# `print` prints it, that the header and pkg-config file build a program, the
# man pages (one per subcommand), the completion scripts and --version.
. "$(dirname "$0")/lib.sh"
build=$(cd "$1" && pwd)
work=$2
repro="$0 $*"
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" > "$work/install.log" 2>&1 ||
  fail "cmake --install failed: $(tail -5 "$work/install.log")"

# The layout (docs/install.md).
for f in bin/mmiotrace lib/mmiotrace/libmmiotrace-agent.so include/mmiotrace/mark.h include/mmiotrace/model.h \
    lib/mmiotrace/models/libmmiotrace-model-edu.so share/pkgconfig/mmiotrace.pc \
    share/man/man1/mmiotrace.1.gz share/bash-completion/completions/mmiotrace share/zsh/vendor-completions/_mmiotrace \
    share/doc/mmiotrace/README.md share/doc/mmiotrace/ARCHITECTURE.md share/doc/mmiotrace/docs/record.md \
    share/mmiotrace/maps/e1000.toml; do
  [[ -f "$prefix/$f" ]] || fail "cmake --install did not install $f"
done
[[ -x "$prefix/bin/mmiotrace" ]] || fail "bin/mmiotrace is not executable"
# Nothing of the tests, benchmarks or examples; nothing besides these folders.
extra=$(cd "$prefix" && find . -type f | grep -v -e '^./bin/mmiotrace$' -e '^./lib/mmiotrace/libmmiotrace-agent.so$' \
  -e '^./include/mmiotrace/mark.h$' -e '^./include/mmiotrace/model.h$' \
  -e '^./lib/mmiotrace/models/libmmiotrace-model-edu.so$' -e '^./share/pkgconfig/mmiotrace.pc$' -e '^./share/man/man1/mmiotrace[-a-z]*\.1\.gz$' \
  -e '^./share/bash-completion/completions/mmiotrace$' -e '^./share/zsh/vendor-completions/_mmiotrace$' \
  -e '^./share/doc/mmiotrace/' -e '^./share/mmiotrace/maps/[-a-z0-9]*\.toml$' || true)
[[ -z "$extra" ]] || fail "cmake --install installed files that are not part of mmiotrace: $extra"

[[ "$("$prefix/bin/mmiotrace" --version)" == "$("$build/bin/mmiotrace" --version)" ]] ||
  fail "the installed --version differs from the build's"
cmp -s "$prefix/share/bash-completion/completions/mmiotrace" <("$prefix/bin/mmiotrace" completion bash) ||
  fail "the installed bash completion is not what the installed mmiotrace generates"
cmp -s "$prefix/share/zsh/vendor-completions/_mmiotrace" <("$prefix/bin/mmiotrace" completion zsh) ||
  fail "the installed zsh completion is not what the installed mmiotrace generates"

check_man_pages "$prefix/share/man/man1" "$prefix/bin/mmiotrace"
check_traced_run "$prefix" "$prefix/share/pkgconfig" "$work/run"

# The installed tree moved elsewhere still works: record finds the agent
# relative to its own folder, the .pc file's paths are relative to itself.
mv "$prefix" "$work/moved"
check_traced_run "$work/moved" "$work/moved/share/pkgconfig" "$work/run-moved"
echo "PASS"

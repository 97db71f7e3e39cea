#!/usr/bin/env bash
# version_test.sh SOURCE_DIR MMIOTRACE PROJECT_VERSION WORK_DIR
# `mmiotrace --version` names the version and the git revision it was built
# from; packaging/version.cmake, run on a `git archive` tarball of HEAD (unpacked
# inside a checkout and outside), names the archived revision, and on a tree
# with neither git nor an archived revision says the revision is unknown.
# Exits 77 (skipped) when SOURCE_DIR is not a git checkout.
set -euo pipefail
src=$1
exe=$2
version=$3
work=$4
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

line=$("$exe" --version)
head=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null) || {
  echo "$src is not a git checkout: skipped ($line)"
  exit 77
}
[[ "$line" =~ ^mmiotrace\ ${version//./\\.}\ \(git\ ([0-9a-f]{12})(,\ with\ uncommitted\ changes)?\)$ ]] ||
  fail "--version printed '$line'"
[[ "${BASH_REMATCH[1]}" == "$head" ]] ||
  fail "--version names ${BASH_REMATCH[1]}, HEAD is $head (is the build older than the last commit? rebuild)"

rm -rf "$work"
mkdir -p "$work"
outside=$(mktemp -d)
trap 'rm -rf "$outside"' EXIT
generate() {  # SOURCE_DIR: the text version.cmake writes for it
  cmake -DSOURCE_DIR="$1" -DOUTPUT="$1/version.cc" -DVERSION=9.8.7 -P "$src/packaging/version.cmake"
  sed -n 's/^const char kVersionText\[\] = "\(.*\)";$/\1/p' "$1/version.cc"
}
git -C "$src" archive --format=tar --prefix=tree/ HEAD packaging | tar -x -C "$outside"
got=$(generate "$outside/tree")
[[ "$got" == "mmiotrace 9.8.7 (git $head, source archive)" ]] || fail "from a git archive: '$got'"
# Unpacked inside a checkout (the build folder of this one): still the archive's revision.
git -C "$src" archive --format=tar --prefix=tree/ HEAD packaging | tar -x -C "$work"
got=$(generate "$work/tree")
[[ "$got" == "mmiotrace 9.8.7 (git $head, source archive)" ]] || fail "from a git archive inside a checkout: '$got'"
# A copied tree: no git, git-revision not expanded.
mkdir -p "$outside/copy/packaging"
cp "$src/packaging/git-revision" "$outside/copy/packaging/"
got=$(generate "$outside/copy")
[[ "$got" == "mmiotrace 9.8.7 (unknown revision: not built from git)" ]] || fail "from a copied tree: '$got'"
echo "PASS: $line"

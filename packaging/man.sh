#!/usr/bin/env bash
# man.sh MMIOTRACE OUTDIR SOURCE_DIR
#
# Writes the man pages of mmiotrace and of every subcommand `mmiotrace --help`
# lists (OUTDIR/mmiotrace.1.gz, OUTDIR/mmiotrace-SUBCOMMAND.1.gz) with
# help2man, from the built program's own --help, so that they cannot drift
# from it; the build runs this whenever mmiotrace is relinked
# (packaging/CMakeLists.txt). A new subcommand gets its page without a change
# here. Added to the generated sections:
#   every page   SEE ALSO: the other pages, and the subcommand's docs/ page
#   mmiotrace(1) EXIT STATUS, from src/cli/exit_codes.h
#   NAME         packaging/man/NAME.h2m if it exists (help2man's --include format)
set -euo pipefail
if (($# != 3)); then
  echo "usage: $0 MMIOTRACE OUTDIR SOURCE_DIR" >&2
  exit 64
fi
exe=$(realpath "$1")
out=$2
src=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
rm -f "$out"/*.1 "$out"/*.1.gz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

version=$("$exe" --version)
# The pages' date: the last commit's, so that one source gives the same pages.
if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
  SOURCE_DATE_EPOCH=$(git -C "$src" log -1 --format=%ct 2>/dev/null || date +%s)
  export SOURCE_DATE_EPOCH
fi

# "  NAME   description" lines under "Subcommands:" in CLI11's help.
subcommands=$("$exe" --help | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }')
if [[ -z "$subcommands" ]]; then
  echo "man.sh: '$exe --help' lists no subcommands" >&2
  exit 65
fi
describe() {  # SUBCOMMAND: its one-line description from the root --help
  "$exe" --help | awk -v s="$1" '/^Subcommands:/ { on = 1; next } on && $1 == s { $1 = ""; sub(/^ +/, ""); print; exit }'
}

see_also() {  # PAGE (mmiotrace or mmiotrace-SUB) DOC (docs/*.md name or "")
  local page=$1 doc=$2 refs=() s
  [[ $page == mmiotrace ]] || refs+=("\\fBmmiotrace\\fR(1)")
  for s in $subcommands; do
    [[ $page == "mmiotrace-$s" ]] || refs+=("\\fBmmiotrace\\-$s\\fR(1)")
  done
  printf '[SEE ALSO]\n'
  (IFS=,; printf '%s\n' "${refs[*]}" | sed 's/,/, /g')
  printf '.PP\n'
  if [[ -n "$doc" ]]; then
    printf 'The full documentation of this command is \\fI%s\\fR in the source tree, installed as\n' "docs/$doc"
    printf '\\fIshare/doc/mmiotrace/docs/%s\\fR under the installation prefix (\\fI/usr\\fR for the Debian package).\n' "$doc"
  else
    printf 'The documentation is in \\fIdocs/\\fR in the source tree, installed in\n'
    printf '\\fIshare/doc/mmiotrace/\\fR under the installation prefix (\\fI/usr\\fR for the Debian package):\n'
    printf '\\fIREADME.md\\fR, one page per subcommand in \\fIdocs/\\fR, \\fIARCHITECTURE.md\\fR.\n'
  fi
}

exit_status() {  # from `inline constexpr int kExitName = N;  // EX_NAME: meaning`
  printf '[EXIT STATUS]\n'
  printf '\\fBmmiotrace record\\fR exits with the traced program'"'"'s own status (or dies of its fatal\n'
  printf 'signal), and so does \\fBmmiotrace replay\\fR unless the program diverged from the recording.\n'
  printf 'Otherwise, and when a command itself fails, 0 means success and:\n'
  sed -n 's|^inline constexpr int kExit[A-Za-z]* = \([0-9]*\); *// *\(.*\)$|.TP\n\1\n\2|p' "$src/src/cli/exit_codes.h"
}

page() {  # NAME DESCRIPTION DOC ARGS...: the page NAME.1.gz for `mmiotrace ARGS --help`
  local name=$1 desc=$2 doc=$3
  shift 3
  local wrapper=$tmp/$name inc=$tmp/$name.h2m
  printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$exe" "$*" > "$wrapper"
  chmod +x "$wrapper"
  # NAME in the include file, not --name: help2man would take the program's
  # name from the version line ("mmiotrace 0.1.0 ...") for every page.
  {
    printf '[NAME]\n%s \\- %s\n' "$name" "$desc"
    see_also "$name" "$doc"
    [[ $name != mmiotrace ]] || exit_status
  } > "$inc"
  help2man --no-info --section=1 --manual="User Commands" --version-string="$version" \
    --source="mmiotrace $(awk '{print $2}' <<< "$version")" \
    --include="$inc" --opt-include="$here/man/$name.h2m" \
    --output="$out/$name.1" "$wrapper"
  gzip -9nf "$out/$name.1"
}

page mmiotrace "trace the memory-mapped I/O of a program" ""
for s in $subcommands; do
  doc=
  [[ -f "$src/docs/$s.md" ]] && doc=$s.md
  page "mmiotrace-$s" "$(describe "$s")" "$doc" "$s"
done

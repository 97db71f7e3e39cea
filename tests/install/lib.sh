# Sourced by the installed-tree tests (install_test.sh, package_test.sh).
# Every test keeps its files in its work folder and, on failure, says which.
set -euo pipefail
install_tests_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() {
  echo "FAIL: $*" >&2
  echo "files: ${work:-?}; reproduce: ${repro:-?}" >&2
  exit 1
}

# stand_in FILE: a 4096-byte stand-in device, byte i = i & 0xff.
stand_in() {
  local block="" i
  for i in $(seq 0 255); do block+=$(printf '\\x%02x' "$i"); done
  for i in $(seq 16); do printf '%b' "$block"; done > "$1"
}

# check_traced_run ROOT PCDIR DIR: with the tree installed under ROOT (ROOT/bin,
# ROOT/lib/mmiotrace, and the pkg-config file in PCDIR), builds
# stand_in_driver.c against the installed <mmiotrace/mark.h>, records it with
# ROOT/bin/mmiotrace on a stand-in device, prints the trace with it, and
# checks what the device saw, access for access.
check_traced_run() {
  local root=$1 pcdir=$2 dir=$3
  mkdir -p "$dir"
  local cflags
  cflags=$(PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH="" pkg-config --cflags mmiotrace) ||
    fail "pkg-config finds no mmiotrace.pc in $pcdir"
  # shellcheck disable=SC2086  # the flags are words
  cc $cflags -O1 -Wall -Werror -o "$dir/driver" "$install_tests_dir/stand_in_driver.c" 2> "$dir/cc.err" ||
    fail "stand_in_driver.c does not compile against the installed header (pkg-config: '$cflags'): $(cat "$dir/cc.err")"
  stand_in "$dir/dev"
  local rc=0
  (cd "$dir" && env -u MMIOTRACE_AGENT -u LD_PRELOAD "$root/bin/mmiotrace" record -o "$dir/t.mmio" --device "$dir/dev" \
    -- "$dir/driver" "$dir/dev" > "$dir/record.out" 2> "$dir/record.err") || rc=$?
  ((rc == 0)) || fail "the installed record exited with status $rc: $(cat "$dir/record.err")"
  local agent
  agent=$(realpath "$root/lib/mmiotrace/libmmiotrace-agent.so")
  grep -qx "LD_PRELOAD=$agent" "$dir/record.out" ||
    fail "the installed record did not preload the installed agent $agent: $(cat "$dir/record.out")"
  "$root/bin/mmiotrace" print "$dir/t.mmio" > "$dir/t.txt" 2> "$dir/print.err" ||
    fail "the installed print failed: $(cat "$dir/print.err")"
  head -1 "$dir/t.txt" | grep -qx 'VERSION 20070824' || fail "print's first line is not VERSION 20070824"
  # MAP: id 1, physical address = file offset 0, 4096 bytes. Then the
  # accesses (op, width, address, value) and the program's mark, in order.
  awk '$1 == "MAP" { print $1, $3, $4, $6 }
       $1 == "R" || $1 == "W" { print $1, $2, $5, $6 }
       $1 == "MARK" && $3 !~ /^mmiotrace:/ { $2 = ""; print }' "$dir/t.txt" > "$dir/events.txt"
  printf '%s\n' 'MAP 1 0x0 0x1000' 'W 4 0x4 0x12345678' 'R 4 0x8 0xb0a0908' 'MARK  installed mark' \
    'W 4 0xc 0xb0a0909' > "$dir/expected.txt"
  diff -u "$dir/expected.txt" "$dir/events.txt" > "$dir/events.diff" ||
    fail "the installed tree's trace is not what the device saw: $(cat "$dir/events.diff")"
  # And the device really got the writes.
  [[ "$(od -An -tx1 -j4 -N4 "$dir/dev" | tr -d ' ')" == 78563412 && \
     "$(od -An -tx1 -j12 -N4 "$dir/dev" | tr -d ' ')" == 09090a0b ]] || fail "the stand-in device lacks the writes"
  echo "traced run from $root: $(wc -l < "$dir/events.txt") events as the device saw them"
}

# check_man_pages MANDIR MMIOTRACE: one page per subcommand `MMIOTRACE --help`
# lists, plus mmiotrace.1; each renders without a warning and names every
# option of its command's --help.
check_man_pages() {
  local mandir=$1 exe=$2
  local subs want have
  subs=$("$exe" --help | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }')
  [[ -n "$subs" ]] || fail "'$exe --help' lists no subcommands"
  want=$( (echo mmiotrace.1.gz; for s in $subs; do echo "mmiotrace-$s.1.gz"; done) | sort)
  have=$(ls "$mandir" | sort)
  [[ "$want" == "$have" ]] || fail "man pages in $mandir: $(echo $have); want: $(echo $want)"
  local s page text opt
  for s in "" $subs; do
    page=$mandir/mmiotrace${s:+-$s}.1.gz
    text=$(render_man "$page" 2> "$work/groff.err") ||
      fail "groff cannot render $page"
    [[ ! -s "$work/groff.err" ]] || fail "groff warns about $page: $(cat "$work/groff.err")"
    grep -q "^NAME" <<< "$text" && grep -q "^SYNOPSIS" <<< "$text" && grep -q "^SEE ALSO" <<< "$text" ||
      fail "$page lacks NAME, SYNOPSIS or SEE ALSO"
    grep -qE "^ +mmiotrace${s:+-$s} +- " <<< "$text" || fail "$page's NAME does not name mmiotrace${s:+-$s}"
    # shellcheck disable=SC2086
    for opt in $(help_options "$exe" $s); do
      grep -qe "$opt\b" <<< "$text" || fail "$page does not describe $opt (from mmiotrace $s --help)"
    done
  done
  grep -q "^EXIT STATUS" <<< "$(render_man "$mandir/mmiotrace.1.gz")" ||
    fail "mmiotrace.1 has no EXIT STATUS"
  echo "man pages: $(echo $have)"
}

# render_man PAGE.gz: as plain ASCII text (groff warnings, -ww, on stderr).
render_man() {
  zcat "$1" | groff -man -Tascii -ww -P-c | sed 's/.\x08//g'
}

# help_options MMIOTRACE [SUBCOMMAND]: the option names the command's --help lists.
help_options() {
  local exe=$1
  shift
  "$exe" "$@" --help | awk '/^Options:/ { on = 1; next } /^[^ ]/ { on = 0 }
    on && /^  -/ { split($1, names, ","); for (i in names) print names[i] }' | sort -u
}

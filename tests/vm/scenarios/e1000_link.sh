# Two real traces that differ (issue 12, `mmiotrace diff`): the user-space
# e1000 driver of e1000.sh recorded twice in one guest, with the link up, then
# with the NIC's link taken down through QEMU's monitor (set_link nic0 off).
# `mmiotrace diff --regs e1000` must show exactly what the link changes, the
# STATUS read without LU ("LU cleared") and nothing else, as
# e1000_link.diff.expected lists, and exit 1; each trace against itself exits
# 0 with no output.
devices=(-device e1000,id=nic0,mac=52:54:00:12:34:56)
check() {
  local m="$build/bin/mmiotrace" rc=0
  for t in up down; do
    grep -q 'e1000_test: mac 52:54:00:12:34:56' "$out/e1000_$t.out" || { echo "e1000_$t: wrong or no MAC address"; return 1; }
    "$m" diff --regs e1000 "$out/e1000_$t.mmio" "$out/e1000_$t.mmio" > "$run/same.diff" ||
      { echo "diff of e1000_$t.mmio with itself: exit $? ($(cat "$run/same.diff"))"; return 1; }
  done
  "$m" diff --regs e1000 "$out/e1000_up.mmio" "$out/e1000_down.mmio" > "$run/e1000_link.diff" || rc=$?
  ((rc == 1)) || { echo "mmiotrace diff of the up and down traces: exit $rc, not 1 (they differ)"; return 1; }
  # The trace files' names are the run's: compare from the first hunk on.
  sed -n '/^@@/,$p' "$run/e1000_link.diff" > "$run/e1000_link.diff.body"
  diff -u "$here/scenarios/e1000_link.diff.expected" "$run/e1000_link.diff.body" ||
    { echo "mmiotrace diff shows other differences than e1000_link.diff.expected (full output: $run/e1000_link.diff)"; return 1; }
}

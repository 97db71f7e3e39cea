#!/usr/bin/env bash
# compare_selftest.sh VM_COMPARE: vm_compare's own rules, without a guest: a
# golden list equal to a QEMU log matches; one access missing, one doubled, a
# wrong value, and an access of another region in its place each fail; any
# value ('*') matches whatever was read; another region's lines are ignored; a
# value the device model returned wider than the access (pci-testdev's
# sign-extended char) counts only its `size` bytes, as the CPU gets them.
set -euo pipefail
compare=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/qemu.log" <<'LOG'
1@1.000001:memory_region_ops_write cpu 0 mr 0x1 addr 0xfea00020 value 0x0 size 4 name 'edu-mmio'
1@1.000002:memory_region_ops_read cpu 0 mr 0x1 addr 0xfea00020 value 0x0 size 4 name 'edu-mmio'
1@1.000003:memory_region_ops_read cpu 0 mr 0x2 addr 0x3fd value 0x60 size 1 name 'serial'
1@1.000004:memory_region_ops_write cpu 0 mr 0x1 addr 0xfea00020 value 0x80 size 4 name 'edu-mmio'
memory_region_ops_read cpu 0 mr 0x1 addr 0xfea00080 value 0x1234 size 8 name 'edu-mmio'
memory_region_ops_read cpu 0 mr 0x1 addr 0xfea00008 value 0xfffffffffffffffa size 1 name 'edu-mmio'
LOG
expect() {  # WANT-STATUS NAME GOLDEN-LINES...
  local want=$1 name=$2
  shift 2
  printf '%s\n' "$@" > "$dir/golden"
  local rc=0
  "$compare" --qemu-log "$dir/qemu.log" --region edu-mmio --expect "$dir/golden" --base 0xfea00000 > "$dir/out" || rc=$?
  if [[ $rc != "$want" ]]; then
    echo "FAIL: $name: status $rc, want $want"
    cat "$dir/out"
    exit 1
  fi
  echo "ok: $name (status $rc)"
}
expect 0 "equal" "W 20 4 0" "R 20 4 0" "W 20 4 80" "R 80 8 1234" "R 8 1 fa"
expect 1 "sign-extended value taken whole" "W 20 4 0" "R 20 4 0" "W 20 4 80" "R 80 8 1234" "R 8 1 fffffffffffffffa"
expect 0 "any value" "W 20 4 0" "R 20 4 *" "W 20 4 80" "R 80 8 1234" "R 8 1 fa"
expect 1 "one missing" "W 20 4 0" "W 20 4 80" "R 80 8 1234" "R 8 1 fa"
expect 1 "one doubled" "W 20 4 0" "R 20 4 0" "R 20 4 0" "W 20 4 80" "R 80 8 1234" "R 8 1 fa"
expect 1 "wrong value" "W 20 4 0" "R 20 4 1" "W 20 4 80" "R 80 8 1234" "R 8 1 fa"
expect 1 "wrong size" "W 20 4 0" "R 20 4 0" "W 20 4 80" "R 80 4 1234"
expect 1 "one more at the end" "W 20 4 0" "R 20 4 0" "W 20 4 80" "R 80 8 1234" "R 8 1 fa" "R 0 4 10000ed"
grep -q 'DIFFERENT at access 5 (QEMU saw 5, expected has 6)' "$dir/out" || { echo "FAIL: no report of the difference"; exit 1; }
echo "vm_compare self-test: 8 passed, 0 failed"

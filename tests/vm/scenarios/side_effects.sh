# Side effects reach the device exactly once: read-modify-write instructions on
# edu's status and liveness registers (LOCK OR, AND, XCHG) and e1000's
# read-to-clear ICR. QEMU's log must equal, access for access, both our trace
# and the fixed list in side_effects.{edu,e1000}.expected: a doubled or a
# missing access fails either.
devices=(-device edu -device e1000,mac=52:54:00:12:34:56)
check() {
  device_facts edu edu || return 1
  "$compare" --qemu-log "$qlog" --region edu-mmio --split 8 --min-size 4 --trace "$out/edu_side_effects.mmio" \
    --expect "$here/scenarios/side_effects.edu.expected" --base "$bar0_start" --bar "$bar0_start:$bar0_size" || return 1
  device_facts e1000 e1000 || return 1
  "$compare" --qemu-log "$qlog" --region e1000-mmio --split 4 --min-size 4 --trace "$out/e1000_side_effects.mmio" \
    --expect "$here/scenarios/side_effects.e1000.expected" --base "$bar0_start" --bar "$bar0_start:$bar0_size"
}

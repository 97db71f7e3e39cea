# A user-space e1000 driver through sysfs resource0 (no kernel driver bound):
# reset, MAC address through EERD and RAL0/RAH0, receive and transmit rings;
# a 64-bit store and load that the device takes as two 32-bit accesses each.
# Then the trace printed with the shipped e1000 register map (maps/e1000.toml):
# every access named, its value decoded, as e1000.regs.expected lists them.
devices=(-device e1000,mac=52:54:00:12:34:56)
check() {
  device_facts e1000 e1000 || return 1
  grep -q 'e1000_test: mac 52:54:00:12:34:56' "$out/e1000.out" || { echo "wrong or no MAC address"; return 1; }
  "$compare" --qemu-log "$qlog" --region e1000-mmio --split 4 --min-size 4 --trace "$out/e1000.mmio" \
    --bar "$bar0_start:$bar0_size" --pcidev "$bdf:8086:100e" || return 1
  # Bound by the PCIDEV record's 8086:100e, BAR0: "R CTRL => SLU | SPEED=1000M | ...".
  "$build/bin/mmiotrace" print --regs e1000 "$out/e1000.mmio" > "$run/e1000.regs.txt" ||
    { echo "mmiotrace print --regs e1000 failed"; return 1; }
  grep '^[RW] ' "$run/e1000.regs.txt" | sed 's/^\([RW]\) .* # /\1 /' > "$run/e1000.regs"
  diff -u "$here/scenarios/e1000.regs.expected" "$run/e1000.regs" ||
    { echo "the e1000 map names or decodes the driver's accesses otherwise than e1000.regs.expected"; return 1; }
}

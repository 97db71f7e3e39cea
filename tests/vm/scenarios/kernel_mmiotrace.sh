# The guest kernel's own mmiotrace beside QEMU's log: the kernel tracer
# (tracefs, current_tracer = mmiotrace, trace_pipe; boot option
# mmiotrace.trace_pc=1 for instruction addresses) records the kernel's e1000
# driver while it is loaded and unloaded. Its R/W lines inside the BAR must
# equal QEMU's log of the BAR access for access (read with the project's
# kernel-log reader, trace/kernel_log.h), and `mmiotrace print` must read the
# kernel's log. The kernel's log stays in out/kernel.log for comparisons with
# our own traces. The kernel's log printed with the shipped e1000 map: every
# access of the kernel's driver to BAR0 named by a register of the map.
devices=(-device e1000,mac=52:54:00:12:34:56)
append=mmiotrace.trace_pc=1
check() {
  device_facts e1000 e1000 || return 1
  grep -q '^VERSION 20070824' "$out/kernel.log" || { echo "no VERSION line in the kernel's log"; return 1; }
  grep -q "^PCIDEV 0*$(printf '%x' $((0x${bdf:5:2} * 256 + 0x${bdf:8:2} * 8 + ${bdf:11:1})))[[:space:]]*8086100e" \
    "$out/kernel.log" || { echo "no PCIDEV line for $bdf 8086:100e in the kernel's log"; return 1; }
  grep -q "^MAP .* $bar0_start " "$out/kernel.log" || { echo "no MAP of $bar0_start in the kernel's log"; return 1; }
  "$build/bin/mmiotrace" print "$out/kernel.log" > "$run/kernel.print.txt" ||
    { echo "mmiotrace print cannot read the kernel's log"; return 1; }
  [[ $(grep -c '^[RW] ' "$run/kernel.print.txt") == $(grep -c '^[RW] ' "$out/kernel.log") ]] ||
    { echo "mmiotrace print lost R/W lines of the kernel's log"; return 1; }
  "$compare" --qemu-log "$qlog" --region e1000-mmio --split 4 --kernel-log "$out/kernel.log" \
    --bar "$bar0_start:$bar0_size" || return 1
  "$build/bin/mmiotrace" print --regs e1000 "$out/kernel.log" > "$run/kernel.regs.txt" 2>/dev/null ||
    { echo "mmiotrace print --regs e1000 cannot read the kernel's log"; return 1; }
  local lines named
  lines=$(grep -c '^[RW] ' "$run/kernel.regs.txt")
  named=$(grep -c '^[RW] .* # [A-Z]' "$run/kernel.regs.txt")
  [[ $lines == "$named" ]] || { echo "$((lines - named)) of the driver's $lines accesses have no register name:"
    grep '^[RW] ' "$run/kernel.regs.txt" | grep -v ' # [A-Z]' | head -5; return 1; }
  # The driver's EEPROM bit-banging (EECD), its PHY reset (CTRL.PHY_RST) and MDI reads.
  grep -q '# EECD <= .*EE_REQ' "$run/kernel.regs.txt" || { echo "no EECD write with EE_REQ"; return 1; }
  grep -q '# CTRL <= .*PHY_RST' "$run/kernel.regs.txt" || { echo "no CTRL write with PHY_RST"; return 1; }
  grep -q '# MDIC <= .*OP=READ' "$run/kernel.regs.txt" || { echo "no MDIC read command"; return 1; }
  echo "kernel's e1000 driver: $named of $lines accesses named by the e1000 map"
}

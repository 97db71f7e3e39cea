# Memory protection keys on device memory (docs/vm-tests.md, "Protection
# keys"): for each mapping kind (sysfs resource, /dev/mem, UIO, VFIO),
# tests/vm/drivers/pkey_probe tags an edu BAR0 mapping with a key and checks
# that a read with the key denied faults with SEGV_PKUERR without reaching the
# device: QEMU's log must hold exactly the four allowed reads.
devices=(-device intel-iommu -device edu)
append=intel_iommu=on
check() {
  device_facts edu edu || return 1
  cat "$out/cpu.txt" "$out/pkeys.txt"
  grep -qx 'flags: pku ospke' "$out/cpu.txt" || { echo "the guest CPU has no pku/ospke"; return 1; }
  for kind in sysfs devmem uio vfio; do
    grep -qx "pkey $kind: alloc=ok mprotect=ok read=0x010000ed denied=SEGV_PKUERR" "$out/pkeys.txt" ||
      { echo "protection keys do not work as found before on $kind"; return 1; }
  done
  printf 'R 0 4 010000ed\n%.0s' 1 2 3 4 > "$run/pkeys.expected"
  "$compare" --qemu-log "$qlog" --region edu-mmio --expect "$run/pkeys.expected" --base "$bar0_start"
}

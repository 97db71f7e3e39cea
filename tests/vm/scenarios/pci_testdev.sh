# QEMU's pci-testdev takes only 1-byte accesses: each of the driver's 4-byte
# loads reaches the device as four 1-byte reads (36 of them in QEMU's log for
# nine loads, besides two 1-byte writes). vm_compare --split 1 applies the same
# rule to our trace.
devices=(-device pci-testdev)
check() {
  device_facts testdev pci-testdev || return 1
  [[ $(grep -c "memory_region_ops_read .* size 1 name 'pci-testdev-mmio'" "$qlog") == 36 ]] ||
    { echo "QEMU did not see 36 one-byte reads"; return 1; }
  "$compare" --qemu-log "$qlog" --region pci-testdev-mmio --split 1 --trace "$out/pci_testdev.mmio" \
    --bar "$bar0_start:$bar0_size" --pcidev "$bdf:1b36:0005"
}

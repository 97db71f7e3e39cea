# edu bound to uio_pci_generic, BAR0 mapped through /dev/uio0 (map 0); the
# trace's physical addresses come from /sys/class/uio/uio0/maps/map0/addr and
# its PCIDEV line from the PCI device behind uio0.
devices=(-device edu)
check() {
  device_facts edu edu || return 1
  "$compare" --qemu-log "$qlog" --region edu-mmio --split 8 --min-size 4 --trace "$out/edu_uio.mmio" \
    --bar "$bar0_start:$bar0_size" --pcidev "$bdf:1234:11e8"
}

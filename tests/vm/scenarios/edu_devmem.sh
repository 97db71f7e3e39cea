# edu through /dev/mem at the BAR's physical address (the kernel allows it:
# no driver claims the BAR); its PCIDEV line from the PCI device whose BAR
# holds that address.
devices=(-device edu)
check() {
  device_facts edu edu || return 1
  "$compare" --qemu-log "$qlog" --region edu-mmio --split 8 --min-size 4 --trace "$out/edu_devmem.mmio" \
    --bar "$bar0_start:$bar0_size" --pcidev "$bdf:1234:11e8"
}

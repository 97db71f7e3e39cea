# edu through its sysfs resource0 (and resource0_wc, which the kernel offers
# only for a prefetchable BAR: edu's is not, so the guest checks it is absent).
devices=(-device edu)
check() {
  device_facts edu edu || return 1
  "$compare" --qemu-log "$qlog" --region edu-mmio --split 8 --min-size 4 --trace "$out/edu_sysfs.mmio" \
    --bar "$bar0_start:$bar0_size" --pcidev "$bdf:1234:11e8"
}

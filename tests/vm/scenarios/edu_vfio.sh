# edu bound to vfio-pci, BAR0 mapped from the VFIO device fd at the offset VFIO_DEVICE_GET_REGION_INFO
# gives. The agent finds the PCI device behind the anonymous "[vfio-device]"
# inode (src/agent/device_identify.cc), so addresses are the BAR's.
# Debian's kernel is built without CONFIG_VFIO_NOIOMMU (vfio ignores
# enable_unsafe_noiommu_mode and vfio-pci refuses the device, EINVAL), so the
# guest gets QEMU's emulated Intel IOMMU and a real IOMMU group.
devices=(-device intel-iommu -device edu)
append=intel_iommu=on
check() {
  device_facts edu edu || return 1
  "$build/bin/mmiotrace" print --format native "$out/edu_vfio.mmio" |
    grep -q " MAP 1 $bar0_start .* kind=vfio prot=rw- bar=0 pci=$bdf anon_inode:\[vfio-device\]$" ||
    { echo "the native print's MAP line does not say kind=vfio, bar 0, $bdf"; return 1; }
  "$compare" --qemu-log "$qlog" --region edu-mmio --split 8 --min-size 4 --trace "$out/edu_vfio.mmio" \
    --bar "$bar0_start:$bar0_size" --pcidev "$bdf:1234:11e8"
}

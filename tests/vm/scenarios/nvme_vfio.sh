# QEMU's nvme controller bound to vfio-pci: its BAR0 is a 64-bit memory BAR,
# so the agent reads the BAR's address from two config registers (the high
# half from the next one). The driver's 64-bit accesses reach the device whole.
devices=(-device intel-iommu -device nvme,serial=mmiotrace)
append=intel_iommu=on
check() {
  device_facts nvme nvme || return 1
  [[ $(( (bar0_flags >> 20) & 1 )) == 1 ]] || { echo "BAR0 is not a 64-bit BAR (flags $bar0_flags)"; return 1; }
  "$compare" --qemu-log "$qlog" --region nvme --split 8 --trace "$out/nvme_vfio.mmio" \
    --bar "$bar0_start:$bar0_size" --pcidev "$bdf:1b36:0010"
}

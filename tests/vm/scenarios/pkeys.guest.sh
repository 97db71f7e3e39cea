# Guest half of pkeys.sh.
echo "flags:$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -x -e pku -e ospke | tr '\n' ' ' | sed 's/ $//;s/^/ /')" > /out/cpu.txt
cat /out/cpu.txt
dev=$(vm_pci 1234 11e8)
vm_facts edu "$dev"
. /out/edu.facts.sh
probe() { pkey_probe "$@" >> /out/pkeys.txt || true; }
vm_trace_on
probe sysfs sysfs "$dev/resource0"
probe devmem devmem "$bar0_start" "$bar0_size"
vm_trace_off
modprobe uio_pci_generic
vm_bind "$dev" uio_pci_generic
vm_trace_on
probe uio uio /dev/uio0 "$bar0_size"
vm_trace_off
modprobe vfio_iommu_type1
modprobe vfio-pci
vm_bind "$dev" vfio-pci
vm_trace_on
probe vfio vfio "$bdf"
vm_trace_off
cat /out/pkeys.txt

# Guest half of edu_vfio.sh.
dev=$(vm_pci 1234 11e8)
vm_facts edu "$dev"
. /out/edu.facts.sh
# No-IOMMU mode where the kernel has it (CONFIG_VFIO_NOIOMMU); Debian's has
# not, and this guest has an IOMMU anyway.
modprobe vfio enable_unsafe_noiommu_mode=1
modprobe vfio_iommu_type1
modprobe vfio-pci
vm_bind "$dev" vfio-pci
ls -l /dev/vfio
vm_trace_on
vm_record edu_vfio edu_test vfio "$bdf"
vm_trace_off

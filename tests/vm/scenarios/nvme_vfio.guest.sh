# Guest half of nvme_vfio.sh.
dev=$(vm_pci 1b36 0010)
vm_facts nvme "$dev"
. /out/nvme.facts.sh
modprobe vfio_iommu_type1
modprobe vfio-pci
vm_bind "$dev" vfio-pci
vm_trace_on
vm_record nvme_vfio nvme_regs vfio "$bdf"
vm_trace_off

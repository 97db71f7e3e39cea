# Guest half of pci_testdev.sh.
dev=$(vm_pci 1b36 0005)
vm_facts testdev "$dev"
vm_trace_on
vm_record pci_testdev testdev_read sysfs "$dev/resource0"
vm_trace_off

# Guest half of e1000.sh.
dev=$(vm_pci 8086 100e)
vm_facts e1000 "$dev"
vm_trace_on
vm_record e1000 e1000_test sysfs "$dev/resource0"
vm_trace_off

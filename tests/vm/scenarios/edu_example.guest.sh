# Guest half of edu_example.sh.
dev=$(vm_pci 1234 11e8)
vm_facts edu "$dev"
vm_trace_on
vm_record edu_example edu_driver "$dev/resource0"
vm_trace_off

# Guest half of edu_model.sh: the edu drivers against QEMU's own edu device,
# each recorded, for the host to run again against the edu model.
dev=$(vm_pci 1234 11e8)
vm_facts edu "$dev"
vm_trace_on
vm_record edu_test edu_test sysfs "$dev/resource0"
vm_record edu_side_effects edu_test --side-effects sysfs "$dev/resource0"
vm_record edu_example edu_driver "$dev/resource0"
vm_trace_off

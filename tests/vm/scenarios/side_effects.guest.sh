# Guest half of side_effects.sh.
edu=$(vm_pci 1234 11e8)
e1000=$(vm_pci 8086 100e)
vm_facts edu "$edu"
vm_facts e1000 "$e1000"
vm_trace_on
vm_record edu_side_effects edu_test --side-effects sysfs "$edu/resource0"
vm_record e1000_side_effects e1000_test --side-effects sysfs "$e1000/resource0"
vm_trace_off

# Guest half of edu_devmem.sh.
dev=$(vm_pci 1234 11e8)
vm_facts edu "$dev"
. /out/edu.facts.sh
vm_trace_on
vm_record edu_devmem edu_test devmem "$bar0_start" "$bar0_size"
vm_trace_off

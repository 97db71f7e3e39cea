# Guest half of edu_threads.sh.
dev=$(vm_pci 1234 11e8)
vm_facts edu "$dev"
[ "$(nproc)" = 2 ] || { echo "want 2 CPUs, have $(nproc)" >&2; exit 1; }
vm_trace_on
vm_record edu_threads edu_test --threads 4 sysfs "$dev/resource0"
vm_trace_off

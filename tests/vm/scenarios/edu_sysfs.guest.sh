# Guest half of edu_sysfs.sh.
dev=$(vm_pci 1234 11e8)
vm_facts edu "$dev"
if [ -e "$dev/resource0_wc" ]; then echo "resource0_wc offered for a BAR that is not prefetchable" >&2; exit 1; fi
echo "resource0_wc: not offered (BAR0 flags $(vm_bar "$dev" 0 | cut -d' ' -f3), not prefetchable)"
vm_trace_on
vm_record edu_sysfs edu_test sysfs "$dev/resource0"
vm_trace_off

# Guest half of edu_uio.sh.
dev=$(vm_pci 1234 11e8)
vm_facts edu "$dev"
. /out/edu.facts.sh
modprobe uio_pci_generic
vm_bind "$dev" uio_pci_generic
echo "uio0 map0: addr $(cat /sys/class/uio/uio0/maps/map0/addr) size $(cat /sys/class/uio/uio0/maps/map0/size)"
vm_trace_on
vm_record edu_uio edu_test uio /dev/uio0 "$bar0_size"
vm_trace_off

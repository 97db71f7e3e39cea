# Guest half of e1000_link.sh: the e1000 driver with the link up, then down.
dev=$(vm_pci 8086 100e)
vm_record e1000_up e1000_test sysfs "$dev/resource0"
vm_link off
# QEMU's e1000 clears STATUS.LU for 500 ms whenever it restarts
# autonegotiation (set_link on does too): wait past that, so that only a link
# that really is down reads without LU.
sleep 1
vm_record e1000_down e1000_test sysfs "$dev/resource0"

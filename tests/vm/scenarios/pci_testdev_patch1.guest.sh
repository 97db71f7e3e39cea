# Guest half of pci_testdev_patch1.sh: pci_testdev's, recorded with --patch-after=1.
VM_RECORD_ARGS=--patch-after=1
. /vm/pci_testdev.guest.sh

# Guest half of edu_devmem_patch1.sh: edu_devmem's, recorded with --patch-after=1.
VM_RECORD_ARGS=--patch-after=1
. /vm/edu_devmem.guest.sh

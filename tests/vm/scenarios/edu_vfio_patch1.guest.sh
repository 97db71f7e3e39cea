# Guest half of edu_vfio_patch1.sh: edu_vfio's, recorded with --patch-after=1.
VM_RECORD_ARGS=--patch-after=1
. /vm/edu_vfio.guest.sh

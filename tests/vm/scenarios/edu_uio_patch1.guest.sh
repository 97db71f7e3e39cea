# Guest half of edu_uio_patch1.sh: edu_uio's, recorded with --patch-after=1.
VM_RECORD_ARGS=--patch-after=1
. /vm/edu_uio.guest.sh

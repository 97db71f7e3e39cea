# Guest half of e1000_patch1.sh: e1000's, recorded with --patch-after=1.
VM_RECORD_ARGS=--patch-after=1
. /vm/e1000.guest.sh

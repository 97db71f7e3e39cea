# Guest half of edu_example_patch1.sh: edu_example's, recorded with --patch-after=1.
VM_RECORD_ARGS=--patch-after=1
. /vm/edu_example.guest.sh

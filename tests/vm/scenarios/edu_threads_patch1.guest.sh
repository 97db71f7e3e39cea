# Guest half of edu_threads_patch1.sh: edu_threads's, recorded with --patch-after=1.
VM_RECORD_ARGS=--patch-after=1
. /vm/edu_threads.guest.sh

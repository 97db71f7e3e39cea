# Guest half of edu_threads_step.sh: edu_threads's, recorded with --mode=step.
VM_MODE=step
. /vm/edu_threads.guest.sh

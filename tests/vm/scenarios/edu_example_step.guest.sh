# Guest half of edu_example_step.sh: edu_example's, recorded with --mode=step.
VM_MODE=step
. /vm/edu_example.guest.sh

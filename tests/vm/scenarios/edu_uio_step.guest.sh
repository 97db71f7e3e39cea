# Guest half of edu_uio_step.sh: edu_uio's, recorded with --mode=step.
VM_MODE=step
. /vm/edu_uio.guest.sh

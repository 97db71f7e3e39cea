# Guest half of edu_vfio_step.sh: edu_vfio's, recorded with --mode=step.
VM_MODE=step
. /vm/edu_vfio.guest.sh

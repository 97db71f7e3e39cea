# Guest half of edu_devmem_step.sh: edu_devmem's, recorded with --mode=step.
VM_MODE=step
. /vm/edu_devmem.guest.sh

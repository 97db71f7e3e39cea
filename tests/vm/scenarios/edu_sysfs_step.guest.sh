# Guest half of edu_sysfs_step.sh: edu_sysfs's, recorded with --mode=step.
VM_MODE=step
. /vm/edu_sysfs.guest.sh

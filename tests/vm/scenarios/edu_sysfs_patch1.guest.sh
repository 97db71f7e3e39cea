# Guest half of edu_sysfs_patch1.sh: edu_sysfs's, recorded with --patch-after=1.
VM_RECORD_ARGS=--patch-after=1
. /vm/edu_sysfs.guest.sh

# edu_sysfs.sh recorded with --mode=step: the agent arms the BAR's sysfs
# resource0 mapping with a protection key (the guest CPU has PKU), every access
# runs for real on the device, single-stepped with the key opened in the
# faulting thread only. The trace must say so (no mprotect stepping) and still
# equal QEMU's log access for access.
. "$here/scenarios/edu_sysfs.sh"
eval "emulate_$(declare -f check)"  # edu_sysfs's check, as emulate_check
check() { step_race_free edu_sysfs && emulate_check; }

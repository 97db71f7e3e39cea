# edu_vfio.sh recorded with --mode=step: the BAR mapped from the VFIO device
# fd takes a protection key; race-free stepping, and the trace equals QEMU's
# log access for access (and the MAP line still says kind=vfio).
. "$here/scenarios/edu_vfio.sh"
eval "emulate_$(declare -f check)"  # edu_vfio's check, as emulate_check
check() { step_race_free edu_vfio && emulate_check; }

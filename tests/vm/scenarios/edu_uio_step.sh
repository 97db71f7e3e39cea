# edu_uio.sh recorded with --mode=step: the /dev/uio0 mapping takes a
# protection key; race-free stepping, and the trace equals QEMU's log access
# for access.
. "$here/scenarios/edu_uio.sh"
eval "emulate_$(declare -f check)"  # edu_uio's check, as emulate_check
check() { step_race_free edu_uio && emulate_check; }

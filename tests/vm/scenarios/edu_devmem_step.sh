# edu_devmem.sh recorded with --mode=step: /dev/mem at the BAR's physical
# address takes a protection key like the other kinds (the pkeys scenario);
# race-free stepping, and the trace equals QEMU's log access for access.
. "$here/scenarios/edu_devmem.sh"
eval "emulate_$(declare -f check)"  # edu_devmem's check, as emulate_check
check() { step_race_free edu_devmem && emulate_check; }

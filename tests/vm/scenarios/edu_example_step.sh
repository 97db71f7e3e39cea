# edu_example.sh recorded with --mode=step: the project's example driver on the
# real device (two threads: its interrupt thread reads the interrupt status
# while the main one writes the DMA buffer), race-free stepping, and the trace
# equals QEMU's log access for access, in order.
. "$here/scenarios/edu_example.sh"
eval "emulate_$(declare -f check)"  # edu_example's check, as emulate_check
check() { step_race_free edu_example && emulate_check; }

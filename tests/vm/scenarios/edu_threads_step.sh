# edu_threads.sh recorded with --mode=step: four threads on two guest CPUs
# hammer the liveness and identification registers, each access single-stepped
# with the key opened in its own thread only, so the other threads keep
# faulting: every access QEMU's log holds must be in the trace, in the same
# order, with the same values. The order holds because a step keeps the order
# lock from the fault to the trap (src/agent/step.h); without that, about 150
# of the 3,600 accesses were recorded out of the device's order.
. "$here/scenarios/edu_threads.sh"
eval "emulate_$(declare -f check)"  # edu_threads's check, as emulate_check
check() { step_race_free edu_threads && emulate_check; }

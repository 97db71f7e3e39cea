# edu_threads.sh recorded with --mode=step: four threads on two guest CPUs
# hammer the liveness and identification registers, each access single-stepped
# with the key opened in its own thread only, so the other threads keep
# faulting: every access QEMU's log holds must be in the trace, each as often,
# with the same values. Not in the same order: step mode takes an access's seq
# at the trap, after the device saw it, so two threads' accesses made at the
# same moment can swap (docs/record.md, Modes; some 80 of 3600 move in a
# typical run); vm_compare --any-order compares them as a multiset and says
# how many moved.
. "$here/scenarios/edu_threads.sh"
eval "emulate_$(declare -f check)"  # edu_threads's check, as emulate_check
compare_any_order() { "$build/tests/vm/vm_compare" --any-order "$@"; }
check() {
  step_race_free edu_threads || return 1
  local compare=compare_any_order
  emulate_check
}

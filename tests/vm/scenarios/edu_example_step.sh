# edu_example.sh recorded with --mode=step: the project's example driver on the
# real device, race-free stepping, and the trace holds the accesses QEMU's log
# holds, each as often, with the same values. The example has two threads (its
# interrupt thread reads the interrupt status while the main one writes the
# DMA buffer), whose accesses step mode can order differently from the device
# (edu_threads_step.sh says why): compared with vm_compare --any-order.
. "$here/scenarios/edu_example.sh"
eval "emulate_$(declare -f check)"  # edu_example's check, as emulate_check
compare_any_order() { "$build/tests/vm/vm_compare" --any-order "$@"; }
check() {
  step_race_free edu_example || return 1
  local compare=compare_any_order
  emulate_check
}

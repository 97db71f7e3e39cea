# edu_sysfs.sh with every instruction patched into a jump to a trampoline at its
# first fault (record --patch-after=1, docs/record.md "Patching"): the fast
# path must give the same trace, against QEMU's log access for access, and
# at least one site must have been patched.
. "$here/scenarios/edu_sysfs.sh"
eval "faulting_$(declare -f check)"  # edu_sysfs's check, as faulting_check
check() { patched_some && faulting_check; }

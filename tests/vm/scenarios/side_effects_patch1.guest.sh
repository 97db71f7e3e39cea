# Guest half of side_effects_patch1.sh: side_effects's, recorded with --patch-after=1.
VM_RECORD_ARGS=--patch-after=1
. /vm/side_effects.guest.sh

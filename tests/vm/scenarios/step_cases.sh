# tests/e2e/programs/step_cases under --mode=step in a guest whose CPU has
# PKU: the trap flag set by the program, a signal handler that touches the
# device arriving mid-step (its PKRU comes from the signal frame), an access
# straddling two pages, REP string instructions (also with registers full of
# the step's probe pattern), values no register holds,
# atomics, and instructions the emulator refuses; each case passes its own
# checks and is stepped with the key opened in one thread only (no mprotect).
# The e2e tests run the same cases on the host, with mprotect stepping where
# the CPU has no PKU.
devices=()
check() {
  local c
  for c in tf signal pages rep crowded unknown atomic fallback; do
    grep -qx "case_$c rc=0" "$out/cases.txt" ||
      { echo "step case $c: $(grep "^case_$c " "$out/cases.txt"): $(cat "$out/case_$c.w" "$out/case_$c.out")"; return 1; }
    step_race_free "case_$c" || return 1
  done
}

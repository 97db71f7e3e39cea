# Step mode with protection keys, on stand-in files inside a guest whose CPU
# has PKU (this host's has not): bench/mode_workload with 1, 2 and 4 threads
# under --mode=step misses nothing against the workload's own count, and no
# step fell back to mprotect; the e2e program threads records all its 160000
# accesses (step_cases.sh runs the other e2e program). The same
# workload with MMIOTRACE_NO_PKEYS=1 (mprotect stepping) is printed for
# contrast: its header must say accesses may be missing; how many it misses
# varies. MMIOTRACE_VM_BENCH=1 also runs the mode comparison of
# docs/benchmarks.md and prints its ROW lines (a few minutes: raise
# MMIOTRACE_VM_TIMEOUT).
devices=()
smp=2
if [[ -n "${MMIOTRACE_VM_BENCH:-}" ]]; then append=mmiotrace_bench=1; fi
check() {
  cat "$out/cpu.txt"
  grep -qx 'flags: pku ospke' "$out/cpu.txt" || { echo "the guest CPU has no pku/ospke"; return 1; }
  local t line made rec
  for t in 1 2 4; do
    line=$(grep "^keys_$t " "$out/workload.txt") || { echo "no result for $t threads"; return 1; }
    read -r _ made rec <<< "$line"
    made=${made#made=} rec=${rec#recorded=}
    [[ -n "$made" && "$made" == "$rec" ]] ||
      { echo "step with keys, $t threads: the workload made $made accesses, the trace holds ${rec:-none}"; return 1; }
    step_race_free "keys_$t" || return 1
    echo "step with keys, $t threads: $rec of $made accesses recorded"
  done
  echo "contrast, mprotect stepping: $(grep '^mprotect_4 ' "$out/workload.txt")"
  "$build/bin/mmiotrace" print --format native "$out/mprotect_4.mmio" | grep -q '^# single-stepped with mprotect' ||
    { echo "MMIOTRACE_NO_PKEYS=1: the header does not say accesses may be missing"; return 1; }
  grep -qx 'e2e_threads rc=0' "$out/e2e.txt" || { echo "e2e threads failed in step mode: $(cat "$out/e2e_threads.out")"; return 1; }
  [[ "$(cat "$out/e2e_threads.count")" == 160000 ]] ||
    { echo "e2e threads: $(cat "$out/e2e_threads.count") accesses in the trace, want 160000"; return 1; }
  step_race_free e2e_threads || return 1
  if [[ -s "$out/bench.txt" ]]; then cat "$out/bench.txt"; fi
}

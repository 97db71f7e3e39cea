echo "flags:$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -x -e pku -e ospke | tr '\n' ' ')"
nproc
cd /tmp
truncate -s 16384 dev
fail=0
for mode in step emulate; do
  for t in 1 2 4; do
    mmiotrace record --mode=$mode -o t.mmio --device /tmp/dev -- mode_workload /tmp/dev $t 3000 > w.txt 2> e.txt || { echo "workload failed"; cat w.txt e.txt; fail=1; }
    made=$(sed -E 's/.*accesses=([0-9]+).*/\1/' w.txt)
    rec=$(grep -oE 'recorded [0-9]+ accesses' e.txt | awk '{print $2}')
    note=$(grep -c 'single-stepped with mprotect' e.txt || true)
    echo "mode=$mode threads=$t made=$made recorded=$rec mprotect_note=$note $(cat w.txt)"
    [ "$made" = "$rec" ] || fail=1
    [ "$note" = 0 ] || fail=1
    mmiotrace print t.mmio | head -3
  done
done
# The same with mprotect forced: misses expected with 2+ threads.
for t in 1 4; do
  MMIOTRACE_NO_PKEYS=1 mmiotrace record --mode=step -o t.mmio --device /tmp/dev -- mode_workload /tmp/dev $t 3000 > w.txt 2> e.txt
  echo "mprotect threads=$t $(cat w.txt) $(grep -oE 'recorded [0-9]+ accesses' e.txt)"
done
# The e2e programs: FourThreads and step cases, in step mode.
truncate -s 8192 dev2
mmiotrace record --mode=step -o t2.mmio --device /tmp/dev2 -- e2e_threads_O2 /tmp/dev2 > w2.txt 2> e2.txt; echo "threads rc=$?"; tail -2 e2.txt
n=$(mmiotrace print t2.mmio | grep -c '^[RW] ')
echo "e2e threads accesses=$n (want 160000)"
[ "$n" = 160000 ] || fail=1
for c in tf signal pages rep unknown atomic fallback; do
  truncate -s 8192 dev3
  mmiotrace record --mode=step -o t3.mmio --device /tmp/dev3 -- e2e_step_cases_O2 /tmp/dev3 $c > w3.txt 2> e3.txt; rc=$?
  echo "step_cases $c rc=$rc $(grep -E 'TRAPS|TICKS|CALLED|DONE' w3.txt | tr '\n' ' ') $(grep -c mprotect e3.txt)"
  [ $rc = 0 ] || fail=1
done
if [ $fail = 0 ]; then echo "STEPKEYS PASS"; else echo "STEPKEYS FAIL"; fi

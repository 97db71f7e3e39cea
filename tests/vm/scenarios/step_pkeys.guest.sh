# Guest half of step_pkeys.sh: facts only, the host checks them.
echo "flags:$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -x -e pku -e ospke | tr '\n' ' ' | sed 's/ $//;s/^/ /')" > /out/cpu.txt
cat /out/cpu.txt
cd /tmp
truncate -s 16384 dev
# workload NAME THREADS [ENV...]: bench/mode_workload (2 accesses per iteration
# per thread) under --mode=step; /out/NAME.{mmio,out,w} and one line in
# /out/workload.txt: NAME made=<accesses the workload made> recorded=<in the trace>.
workload() {
  name=$1 t=$2
  shift 2
  env "$@" mmiotrace record --mode=step -o "/out/$name.mmio" --device /tmp/dev -- \
    mode_workload /tmp/dev "$t" 2000 > "/out/$name.w" 2> "/out/$name.out"
  made=$(sed -E 's/.*accesses=([0-9]+).*/\1/' "/out/$name.w")
  rec=$(grep -oE 'recorded [0-9]+ accesses' "/out/$name.out" | awk '{print $2}')
  echo "$name made=$made recorded=$rec" >> /out/workload.txt
}
workload keys_1 1
workload keys_2 2
workload keys_4 4
# The contrast: mprotect stepping with 4 threads (misses are expected; the
# count varies from run to run).
workload mprotect_4 4 MMIOTRACE_NO_PKEYS=1
cat /out/workload.txt
# The e2e program threads in step mode (4 threads x 20000 x 2 accesses).
truncate -s 8192 dev2
rc=0
mmiotrace record --mode=step -o /out/e2e_threads.mmio --device /tmp/dev2 -- e2e_threads_O2 /tmp/dev2 \
  > /out/e2e_threads.w 2> /out/e2e_threads.out || rc=$?
echo "e2e_threads rc=$rc" > /out/e2e.txt
mmiotrace print /out/e2e_threads.mmio | grep -c '^[RW] ' > /out/e2e_threads.count || true
cat /out/e2e.txt
# The mode comparison (docs/benchmarks.md), when the host asks for it
# (MMIOTRACE_VM_BENCH=1): median of 3 runs, ns per access (wall, all
# threads), median and worst accesses missed, accesses made.
if grep -qw mmiotrace_bench=1 /proc/cmdline; then
  truncate -s 16384 sdev
  for mode in emulate step-pkey step-mprotect; do
    for t in 1 2 4; do
      rm -f r.txt
      for r in 1 2 3; do
        case $mode in
          emulate) set -- ;;
          step-pkey) set -- --mode=step ;;
          step-mprotect) set -- --mode=step ;;
        esac
        if [ $mode = step-mprotect ]; then nopk=1; else nopk=; fi
        MMIOTRACE_NO_PKEYS=$nopk mmiotrace record "$@" -o b.mmio --device /tmp/sdev -- mode_workload /tmp/sdev $t 2000 > w.txt 2> e.txt
        made=$(sed -E 's/.*accesses=([0-9]+).*/\1/' w.txt)
        ns=$(sed -E 's/.*ns=([0-9]+).*/\1/' w.txt)
        rec=$(grep -oE 'recorded [0-9]+ accesses' e.txt | awk '{print $2}')
        echo "$((ns / made)) $((made - rec)) $made" >> r.txt
      done
      echo "ROW $mode $t $(sort -n r.txt | sed -n 2p | awk '{print $1}') $(awk '{print $2}' r.txt | sort -n | sed -n 2p) $(awk '{print $2}' r.txt | sort -n | tail -1) $(head -1 r.txt | awk '{print $3}')" | tee -a /out/bench.txt
    done
  done
fi

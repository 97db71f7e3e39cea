dev=$(vm_pci 1234 11e8)
echo "device $dev"
cd /tmp
fail=0
for mode in emulate step; do
  mmiotrace record --mode=$mode -o edu_$mode.mmio -- edu_driver "$dev/resource0" > edu_$mode.out 2> edu_$mode.err || { echo "edu_driver failed in $mode"; cat edu_$mode.out edu_$mode.err; fail=1; }
  cat edu_$mode.out edu_$mode.err
  # Per thread (numbered in order of first access; the driver's interrupt
  # thread interleaves with the main one differently on every run): op,
  # width, address, value; without the reads of the two registers the driver
  # polls (status 0x20, interrupt status 0x24): how often it reads them, and
  # what it sees while the device is busy, depends on timing, not on the mode.
  mmiotrace print edu_$mode.mmio |
    awk '$1=="R"||$1=="W" { if (!($8 in t)) t[$8] = n++; print "T" t[$8], $1, $2, $5, $6 }' |
    grep -v -E '^T[0-9]+ R 4 0x[0-9a-f]*0002[04] ' | sort -s -k1,1 > edu_$mode.txt
  mmiotrace print edu_$mode.mmio | grep -c mprotect || true
  wc -l < edu_$mode.txt
done
# The same device through UIO (another kind of mapping for the key).
modprobe uio_pci_generic
vm_bind "$dev" uio_pci_generic
mmiotrace record --mode=step -o edu_uio.mmio -- edu_driver /dev/uio0 > edu_uio.out 2> edu_uio.err || { echo "edu_driver failed on uio"; fail=1; }
cat edu_uio.out edu_uio.err
mmiotrace print edu_uio.mmio |
  awk '$1=="R"||$1=="W" { if (!($8 in t)) t[$8] = n++; print "T" t[$8], $1, $2, $5, $6 }' |
  grep -v -E '^T[0-9]+ R 4 0x[0-9a-f]*0002[04] ' | sort -s -k1,1 > edu_uio.txt
if grep -q 'single-stepped with mprotect' edu_uio.err edu_step.err; then echo "edu: stepped with mprotect, not a key"; fail=1; fi
if cmp -s edu_emulate.txt edu_uio.txt; then echo "edu: step through /dev/uio0 agrees too"; else echo "edu: uio trace differs"; diff edu_emulate.txt edu_uio.txt | head; fail=1; fi
if cmp -s edu_emulate.txt edu_step.txt; then echo "edu: emulate and step traces agree ($(wc -l < edu_step.txt) accesses)"; else echo "edu: traces differ"; diff edu_emulate.txt edu_step.txt | head -20; fail=1; fi
grep -c ' ? ' edu_step.txt || true
# The comparison: median of 3 runs, ns per access (wall, all threads), missed.
truncate -s 16384 sdev
for mode in emulate step-pkey step-mprotect; do
  for t in 1 2 4; do
    rm -f r.txt
    for r in 1 2 3; do
      case $mode in
        emulate) mmiotrace record -o b.mmio --device /tmp/sdev -- mode_workload /tmp/sdev $t 2000 > w.txt 2> e.txt ;;
        step-pkey) mmiotrace record --mode=step -o b.mmio --device /tmp/sdev -- mode_workload /tmp/sdev $t 2000 > w.txt 2> e.txt ;;
        step-mprotect) MMIOTRACE_NO_PKEYS=1 mmiotrace record --mode=step -o b.mmio --device /tmp/sdev -- mode_workload /tmp/sdev $t 2000 > w.txt 2> e.txt ;;
      esac
      made=$(sed -E 's/.*accesses=([0-9]+).*/\1/' w.txt)
      ns=$(sed -E 's/.*ns=([0-9]+).*/\1/' w.txt)
      rec=$(grep -oE 'recorded [0-9]+ accesses' e.txt | awk '{print $2}')
      echo "$((ns / made)) $((made - rec)) $made" >> r.txt
    done
    echo "ROW $mode $t $(sort -n r.txt | sed -n 2p | awk '{print $1}') $(awk '{print $2}' r.txt | sort -n | sed -n 2p) $(awk '{print $2}' r.txt | sort -n | tail -1) $(head -1 r.txt | awk '{print $3}')"
  done
done
if [ $fail = 0 ]; then echo "STEPEDU PASS"; else echo "STEPEDU FAIL"; fi

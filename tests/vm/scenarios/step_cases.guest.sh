# Guest half of step_cases.sh.
cd /tmp
for c in tf signal pages rep crowded unknown atomic fallback; do
  truncate -s 0 dev3
  truncate -s 8192 dev3
  rc=0
  mmiotrace record --mode=step -o "/out/case_$c.mmio" --device /tmp/dev3 -- e2e_step_cases_O2 /tmp/dev3 "$c" \
    > "/out/case_$c.w" 2> "/out/case_$c.out" || rc=$?
  echo "case_$c rc=$rc" >> /out/cases.txt
done
cat /out/cases.txt

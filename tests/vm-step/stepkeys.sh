# Step mode with protection keys (branch step): the guest records a 4-thread
# workload under --mode=step and checks every access is in the trace.
devices=()
smp=2
check() {
  cat "$out/guest.log"
  grep -q '^STEPKEYS PASS' "$out/guest.log"
}

# Four threads on two guest CPUs hammer edu's liveness and identification
# registers at once through resource0: our trace's one order must be the
# order the device saw.
devices=(-device edu)
smp=2
check() {
  device_facts edu edu || return 1
  grep -q 'from 4 threads' "$out/edu_threads.out" || { echo "not 4 threads in the trace"; return 1; }
  "$compare" --qemu-log "$qlog" --region edu-mmio --split 8 --min-size 4 --trace "$out/edu_threads.mmio" \
    --bar "$bar0_start:$bar0_size" --pcidev "$bdf:1234:11e8"
}

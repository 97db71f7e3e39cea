# Step mode on a real device (QEMU's edu) with protection keys: its sysfs
# resource0 and /dev/uio0 give the same trace as emulate mode (apart from
# status polling); then the mode comparison (docs/benchmarks.md).
devices=(-device edu)
smp=2
check() {
  cat "$out/guest.log"
  grep -q '^STEPEDU PASS' "$out/guest.log"
}

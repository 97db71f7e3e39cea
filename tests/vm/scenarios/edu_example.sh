# The project's examples/edu_driver (written for the stand-in of scripts/demo.sh)
# against the real device. edu takes only 4- and 8-byte accesses
# (valid.min_access_size = 4 in QEMU's hw/misc/edu.c): the example's byte and
# halfword stores to its scratch window never reach the device, so the
# comparison leaves them out (--min-size 4) and says how many.
devices=(-device edu)
check() {
  device_facts edu edu || return 1
  grep -q 'edu: 10! = 3628800' "$out/edu_example.out" || { echo "the example did not compute 10!"; return 1; }
  "$compare" --qemu-log "$qlog" --region edu-mmio --split 8 --min-size 4 --trace "$out/edu_example.mmio" \
    --bar "$bar0_start:$bar0_size" --pcidev "$bdf:1234:11e8"
}

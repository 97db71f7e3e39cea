# The edu device model (models/edu, docs/models.md) equals QEMU's edu. The
# guest records tests/vm/drivers/edu_test (the driver sequence and the
# read-modify-write one) and examples/edu_driver against QEMU's device; each
# trace must equal QEMU's log. Then the same programs run here on the host
# under `mmiotrace record --model` with the guest's device path and BAR
# address (the e2e tests Model.Edu*, tests/e2e/model_test.cc, given this
# guest's traces instead of tests/data/model's): the same program output, the
# same accesses per thread, in order, with the same values (polls folded).
devices=(-device edu)
check() {
  device_facts edu edu || return 1
  "$compare" --qemu-log "$qlog" --region edu-mmio --split 8 --min-size 4 --trace "$out/edu_test.mmio" \
    --trace "$out/edu_side_effects.mmio" --trace "$out/edu_example.mmio" \
    --bar "$bar0_start:$bar0_size" --pcidev "$bdf:1234:11e8" || return 1
  local tests=$build/tests/e2e/e2e_tests
  [[ -x "$tests" ]] || { echo "$tests is not built: build everything first (cmake --build)"; return 1; }
  MMIOTRACE_MODEL_GUEST_TRACES=$out "$tests" --gtest_filter='Model.Edu*' --gtest_brief=1
}

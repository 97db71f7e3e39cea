// The encoders (trace/encode.h): padding and reserved bytes zeroed, and what
// does not fit or is out of range refused, for every record type and for
// ACCESS_RUN at its limits.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "trace/encode.h"
#include "trace/format.h"
#include "trace_test_support.h"

namespace mmiotrace::trace {
namespace {

using testing::kInsn;
using testing::kRepMovsq;
using testing::stamp;

TEST(Encode, ZeroesPaddingAndReservedBytes) {
  uint8_t buf[256];
  std::memset(buf, 0xaa, sizeof buf);
  const uint8_t value[3] = {1, 2, 3};
  AccessFields a;
  a.width = 3;
  a.value = value;
  a.insn = kInsn;
  a.insn_len = 2;
  ASSERT_EQ(encode_access(buf, sizeof buf, stamp(1), a), 88u);
  AccessRecord r;
  std::memcpy(&r, buf, sizeof r);
  EXPECT_EQ(r.reserved, 0u);
  EXPECT_EQ(r.byte_mask, 0x7u);  // unmasked: all `width` bits, whatever the caller passed
  for (int i = 2; i < 16; ++i) EXPECT_EQ(r.insn[i], 0) << i;
  EXPECT_EQ(buf[80], 1);
  EXPECT_EQ(buf[82], 3);
  for (int i = 83; i < 88; ++i) EXPECT_EQ(buf[i], 0) << i;
  EXPECT_EQ(buf[88], 0xaa);  // nothing written past the record

  std::memset(buf, 0xaa, sizeof buf);
  ASSERT_EQ(encode_map(buf, sizeof buf, stamp(1), MapFields{.path = "/dev/uio0", .path_len = 9}), 96u);
  MapRecord m;
  std::memcpy(&m, buf, sizeof m);
  EXPECT_EQ(m.reserved, 0u);
  EXPECT_EQ(m.bar, kNoBar);
  for (int i = 89; i < 96; ++i) EXPECT_EQ(buf[i], 0) << i;

  std::memset(buf, 0xaa, sizeof buf);
  ASSERT_EQ(encode_unknown(buf, sizeof buf, stamp(1), UnknownFields{}), 72u);
  UnknownRecord u;
  std::memcpy(&u, buf, sizeof u);
  for (uint8_t b : u.reserved) EXPECT_EQ(b, 0);
  for (uint8_t b : u.insn) EXPECT_EQ(b, 0);
}

TEST(Encode, RefusesWhatDoesNotFitOrIsOutOfRange) {
  uint8_t buf[256];
  uint8_t value[64] = {};
  AccessFields a;
  a.width = 64;
  a.value = value;
  EXPECT_EQ(record_size_for_access(64), 144u);
  EXPECT_EQ(encode_access(buf, 143, stamp(1), a), 0u);
  EXPECT_EQ(encode_access(buf, 144, stamp(1), a), 144u);
  AccessRecord r;
  std::memcpy(&r, buf, sizeof r);
  EXPECT_EQ(r.byte_mask, ~0ull);
  a.width = 0;
  EXPECT_EQ(encode_access(buf, sizeof buf, stamp(1), a), 0u);
  a.width = 65;
  EXPECT_EQ(encode_access(buf, sizeof buf, stamp(1), a), 0u);
  a.width = 8;
  a.insn = kInsn;
  a.insn_len = 16;
  EXPECT_EQ(encode_access(buf, sizeof buf, stamp(1), a), 0u);
  a.insn_len = 0;
  a.flags = kAccessMasked;
  a.byte_mask = 0xff00;  // selects only bytes past the width: nothing
  EXPECT_EQ(encode_access(buf, sizeof buf, stamp(1), a), 0u);
  a.byte_mask = 0xff0f;
  ASSERT_EQ(encode_access(buf, sizeof buf, stamp(1), a), 88u);
  std::memcpy(&r, buf, sizeof r);
  EXPECT_EQ(r.byte_mask, 0x0fu);
  std::vector<char> text(kMaxMarkText + 1, 'x');
  std::vector<uint8_t> big(kMaxRecordSize);
  EXPECT_EQ(encode_mark(big.data(), big.size(), stamp(1), MarkFields{0, text.data(), kMaxMarkText + 1}), 0u);
  EXPECT_EQ(encode_mark(big.data(), big.size(), stamp(1), MarkFields{0, text.data(), kMaxMarkText}),
            32u + kMaxMarkText);
  EXPECT_EQ(encode_lost(buf, 31, stamp(1), LostFields{1}), 0u);
}

TEST(Encode, AccessRunZeroesPaddingAndReservedBytes) {
  uint8_t buf[256];
  std::memset(buf, 0xaa, sizeof buf);
  const uint8_t values[3] = {1, 2, 3};
  AccessRunFields f;
  f.width = 1;
  f.count = 3;
  f.stride = 1;
  f.values = values;
  f.insn = kRepMovsq;
  f.insn_len = 1;
  ASSERT_EQ(encode_access_run(buf, sizeof buf, stamp(1), f), 88u);
  AccessRunRecord r;
  std::memcpy(&r, buf, sizeof r);
  EXPECT_EQ(r.reserved, 0u);
  EXPECT_EQ(r.insn[0], 0xf3);
  for (int i = 1; i < 16; ++i) EXPECT_EQ(r.insn[i], 0) << i;
  EXPECT_EQ(buf[80], 1);
  EXPECT_EQ(buf[82], 3);
  for (int i = 83; i < 88; ++i) EXPECT_EQ(buf[i], 0) << i;
  EXPECT_EQ(buf[88], 0xaa);  // nothing written past the record
}

TEST(Encode, AccessRunRefusesWhatDoesNotFitOrIsOutOfRange) {
  std::vector<uint8_t> big(kMaxRecordSize + 64);
  std::vector<uint8_t> values(kMaxRecordSize + 8);
  uint8_t before[96];
  AccessRunFields good;
  good.op = AccessOp::READ;
  good.width = 4;
  good.phys = 0x2000;
  good.count = 4;
  good.stride = 4;
  good.values = values.data();
  EXPECT_EQ(record_size_for_access_run(4, 4), 96u);
  EXPECT_EQ(record_size_for_access_run(2, 3), 88u);  // 6 value bytes padded to 8
  EXPECT_EQ(encode_access_run(big.data(), 96, stamp(1), good), 96u);
  std::memset(big.data(), 0x55, 96);
  std::memcpy(before, big.data(), 96);
  EXPECT_EQ(encode_access_run(big.data(), 95, stamp(1), good), 0u);  // one byte short
  EXPECT_EQ(std::memcmp(before, big.data(), 96), 0);                 // left untouched
  auto refused = [&](void (*change)(AccessRunFields&)) {
    AccessRunFields f = good;
    change(f);
    return encode_access_run(big.data(), big.size(), stamp(1), f) == 0;
  };
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.width = 3, f.stride = 3; }));
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.width = 16, f.stride = 16; }));
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.width = 0, f.stride = 0; }));
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.count = 0; }));
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.stride = 2; }));
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.stride = 8; }));
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.stride = 0; }));
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.flags = kAccessMasked; }));
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.op = static_cast<AccessOp>(2); }));
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.insn_len = 16, f.insn = kInsn; }));
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.values = nullptr; }));
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.count = max_run_count(4) + 1; }));  // past kMaxRecordSize
  // Downwards from 0x8 with stride -4: accesses at 8, 4, 0 fit, a fourth would wrap.
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.phys = 0x8, f.stride = -4; }));
  EXPECT_FALSE(refused([](AccessRunFields& f) { f.phys = 0xc, f.stride = -4; }));
  // Upwards: the last access at 0xff..fc fits, one further would wrap.
  EXPECT_FALSE(refused([](AccessRunFields& f) { f.phys = ~uint64_t{0} - 15; }));
  EXPECT_TRUE(refused([](AccessRunFields& f) { f.phys = ~uint64_t{0} - 11; }));
  EXPECT_FALSE(refused([](AccessRunFields& f) { f.count = max_run_count(4); }));
  EXPECT_FALSE(refused([](AccessRunFields& f) { f.flags = kAccessSplit | kAccessGeneric; }));
}

}  // namespace
}  // namespace mmiotrace::trace

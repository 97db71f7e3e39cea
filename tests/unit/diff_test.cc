// Diff (src/analysis/diff.h): two traces at register level: only in A, only
// in B, the same register with another value and what changed; polls of
// different lengths are the same; ignored registers and fields.
#include "analysis/diff.h"

#include <gtest/gtest.h>

#include <string>

#include "analysis/walk.h"
#include "analysis_test_support.h"
#include "trace/trace_input.h"

namespace mmiotrace::analysis::test {
namespace {

struct Outcome {
  DiffResult result;
  std::string text;
};

Outcome diff(const std::string& a, const std::string& b, const DiffOptions& options, bool with_map = true) {
  DiffKeys keys(options);
  RegisterBindings regs_a, regs_b;
  if (with_map) {
    regs_a = bind_test_map(a);
    regs_b = bind_test_map(b);
  }
  DeviceCatalog dev_a, dev_b;
  DiffSide side_a(keys, 0, options, &dev_a), side_b(keys, 1, options, &dev_b);
  for (auto [path, regs, dev, side] :
       {std::tuple{a, &regs_a, &dev_a, &side_a}, std::tuple{b, &regs_b, &dev_b, &side_b}}) {
    auto input = trace::open_trace_input(path);
    EXPECT_TRUE(input.ok()) << input.error();
    WalkContext ctx;
    ctx.regs = regs;
    ctx.devices = dev;
    EXPECT_TRUE(walk(source_of(*input), ctx, *side).ok());
  }
  fmt::memory_buffer out;
  Outcome o;
  o.result = diff_sides(keys, side_a, side_b, options, "a.mmio", "b.mmio", out);
  o.text = fmt::to_string(out);
  return o;
}

void link_up(TraceBuilder& t) {
  t.map();
  t.access('W', 0x0, 1u << 26);
  t.access('R', 0x0, 0);
  for (int i = 0; i < 3; ++i) t.access('R', 0x8, 0x3);
  t.access('W', 0x5400, 0x11);
  t.access('W', 0x9000, 0x1, 1);
  t.access('R', 0x8, 0x3);
}

void link_down(TraceBuilder& t) {
  t.map();
  t.access('W', 0x0, 1u << 26);
  t.access('R', 0x0, 0);
  for (int i = 0; i < 5; ++i) t.access('R', 0x8, 0x1);
  t.access('W', 0x5400, 0x22);
  t.access('R', 0x8, 0x1);
  t.access('W', 0x0, 0x40);
}

TEST(Diff, OnlyInAOnlyInBAndAnotherValue) {
  TraceBuilder a("diff_a"), b("diff_b");
  link_up(a);
  link_down(b);
  Outcome o = diff(a.done(), b.done(), DiffOptions{});
  EXPECT_EQ(o.text,
            "--- A a.mmio\n"
            "+++ B b.mmio\n"
            "@@ A #1 B #1 @@\n"
            "  W nic CTRL <= RST  [A #1 B #1]\n"
            "  R nic CTRL => 0  [A #2 B #2]\n"
            "~ R nic STATUS: A => FD | LU | SPEED=10M x 3  B => FD | SPEED=10M x 5  (LU cleared)  [A #3 B #3]\n"
            "~ W nic RAL[0]: A <= 0x11  B <= 0x22  (0x11 -> 0x22)  [A #6 B #8]\n"
            "- W nic +0x9000 <= 0x1  [A #7]\n"
            "~ R nic STATUS: A => FD | LU | SPEED=10M  B => FD | SPEED=10M  (LU cleared)  [A #8 B #9]\n"
            "+ W nic CTRL <= SLU  [B #10]\n"
            "# 6 register accesses in A, 6 in B: 1 only in A, 1 only in B, 3 with another value; registers that "
            "differ: nic STATUS nic RAL[0] nic +0x9000 nic CTRL\n");
  EXPECT_EQ(o.result.only_a, 1u);
  EXPECT_EQ(o.result.only_b, 1u);
  EXPECT_EQ(o.result.changed, 3u);
}

TEST(Diff, IgnoredRegistersAndFields) {
  TraceBuilder a("diff_ia"), b("diff_ib");
  link_up(a);
  link_down(b);
  DiffOptions options;
  options.ignore_registers = {"RAL", "+0x9000"};
  options.ignore_fields = {"STATUS.LU"};
  options.context = 0;
  Outcome o = diff(a.done(), b.done(), options);
  EXPECT_EQ(o.result.registers, (std::vector<std::string>{"nic CTRL"})) << o.text;
  EXPECT_EQ(o.result.only_b, 1u);
  EXPECT_EQ(o.result.changed, 0u);
}

TEST(Diff, SameTraceIsTheSameAndPollLengthsDoNotCount) {
  TraceBuilder a("diff_sa"), b("diff_sb");
  link_up(a);
  b.map();
  b.access('W', 0x0, 1u << 26);
  b.access('R', 0x0, 0);
  for (int i = 0; i < 9; ++i) b.access('R', 0x8, 0x3);  // a longer poll
  b.access('W', 0x5400, 0x11);
  b.access('W', 0x9000, 0x1, 1);
  b.access('R', 0x8, 0x3);
  DiffOptions options;
  Outcome o = diff(a.done(), b.done(), options);
  EXPECT_TRUE(o.result.same()) << o.text;
  EXPECT_EQ(o.text, "--- A a.mmio\n+++ B b.mmio\n# 6 register accesses in A, 6 in B: the same\n");
  options.count_polls = true;
  EXPECT_FALSE(diff(a.path(), b.path(), options).result.same());
}

TEST(Diff, WithoutAMapByDeviceAddress) {
  TraceBuilder a("diff_na"), b("diff_nb");
  link_up(a);
  link_down(b);
  Outcome o = diff(a.done(), b.done(), DiffOptions{}, false);
  EXPECT_NE(o.text.find("~ R map 1+0x8: A => 0x3 x 3  B => 0x1 x 5  (bit 1 cleared)  [A #3 B #3]\n"), std::string::npos)
      << o.text;
}

}  // namespace
}  // namespace mmiotrace::analysis::test

// Stats (src/analysis/stats.h): what `mmiotrace stats` counts in one pass:
// per register (named by a bound map, or by device address), per site, per
// thread; polling loops folded into one line with what ended them.
#include "analysis/stats.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "analysis/walk.h"
#include "analysis_test_support.h"
#include "trace/trace_input.h"

namespace mmiotrace::analysis::test {
namespace {

// Reset, a poll of STATUS until LU is set, a RAL write from another thread,
// a read of no register, and one STATUS poll that gives up unchanged.
void driver(TraceBuilder& t) {
  t.map();
  t.access('W', 0x0, 1u << 26, 4, 100, 0x401000);                         // CTRL <= RST
  t.access('R', 0x0, 0, 4, 100, 0x401010);                                // CTRL => 0
  for (int i = 0; i < 5; ++i) t.access('R', 0x8, 0x1, 4, 100, 0x401020);  // STATUS => FD
  t.access('R', 0x8, 0x3, 4, 100, 0x401020);                              // STATUS => FD | LU
  t.access('W', 0x5418, 0x12345678, 4, 101, 0x402000);                    // RAL[3], another thread
  t.access('R', 0x9000, 0xff, 1, 100, 0x401030);                          // no register
  for (int i = 0; i < 4; ++i) t.access('R', 0x8, 0x3, 4, 100, 0x401040);
  t.access('W', 0x0, 0x40, 4, 100, 0x401050);  // CTRL <= SLU: the second poll ends unchanged
}

struct Result {
  std::map<std::string, const RegisterStats*> regs;
  std::string text;
};

Result run(Stats& stats, const std::string& path, RegisterBindings* regs) {
  auto input = trace::open_trace_input(path);
  EXPECT_TRUE(input.ok()) << input.error();
  DeviceCatalog devices;
  WalkContext ctx;
  ctx.regs = regs;
  ctx.devices = &devices;
  EXPECT_TRUE(walk(source_of(*input), ctx, stats).ok());
  stats.finish();
  Result r;
  for (const RegisterStats& s : stats.registers()) r.regs[stats.register_name(s, devices)] = &s;
  fmt::memory_buffer text;
  format_stats_text(stats, devices, 0, text);
  r.text = fmt::to_string(text);
  return r;
}

TEST(Stats, RegistersByNameWithValuesSitesAndTimes) {
  TraceBuilder t("stats_named");
  driver(t);
  const std::string& path = t.done();
  RegisterBindings regs = bind_test_map(path);
  Stats stats(StatsOptions{}, &regs, nullptr);
  Result r = run(stats, path, &regs);
  ASSERT_EQ(r.regs.size(), 4u) << r.text;
  const RegisterStats& ctrl = *r.regs.at("nic CTRL");
  EXPECT_EQ(ctrl.reads, 1u);
  EXPECT_EQ(ctrl.writes, 2u);
  EXPECT_EQ(ctrl.values, (std::vector<uint64_t>{1u << 26, 0, 0x40}));
  EXPECT_EQ(ctrl.first_ns, t.time_of(1));
  EXPECT_EQ(ctrl.last_ns, t.time_of(15));
  ASSERT_EQ(ctrl.sites.size(), 3u);
  EXPECT_EQ(stats.sites()[ctrl.sites[0].site].pc, 0x401000u);
  const RegisterStats& status = *r.regs.at("nic STATUS");
  EXPECT_EQ(status.reads, 10u);
  EXPECT_EQ(status.writes, 0u);
  EXPECT_EQ(status.values, (std::vector<uint64_t>{0x1, 0x3}));
  ASSERT_EQ(status.sites.size(), 2u);
  EXPECT_EQ(status.sites[0].count, 6u);
  EXPECT_EQ(status.sites[1].count, 4u);
  EXPECT_EQ(r.regs.at("nic RAL[3]")->writes, 1u);
  EXPECT_EQ(r.regs.at("nic +0x9000")->reads, 1u);
  EXPECT_EQ(stats.accesses(), 15u);
  EXPECT_EQ(stats.counts().reads, 12u);
  EXPECT_EQ(stats.counts().writes, 3u);
  const auto threads = stats.threads();
  ASSERT_EQ(threads.size(), 2u);
  EXPECT_EQ(threads[0].id, 100u);
  EXPECT_EQ(threads[0].reads + threads[0].writes, 14u);
  EXPECT_EQ(threads[1].id, 101u);
  EXPECT_EQ(threads[1].writes, 1u);
  EXPECT_EQ(stats.processes().size(), 1u);
}

TEST(Stats, PollingLoopsFoldIntoOneLineSayingWhatEndedThem) {
  TraceBuilder t("stats_polls");
  driver(t);
  const std::string& path = t.done();
  RegisterBindings regs = bind_test_map(path);
  Stats stats(StatsOptions{}, &regs, nullptr);
  Result r = run(stats, path, &regs);
  ASSERT_EQ(stats.polls().size(), 2u) << r.text;
  const PollStats& until_lu = stats.polls()[0];
  EXPECT_EQ(until_lu.until, "LU set");
  EXPECT_EQ(until_lu.reads, 5u);
  EXPECT_EQ(until_lu.loops, 1u);
  EXPECT_EQ(stats.sites()[until_lu.site].pc, 0x401020u);
  EXPECT_EQ(stats.polls()[1].until, "");  // the thread moved on without a change
  EXPECT_EQ(stats.polls()[1].reads, 4u);
  EXPECT_NE(r.text.find("  R nic STATUS x 5 until LU set  (1 loop, the longest 5 reads, at pid 100 0x401020)\n"),
            std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("  R nic STATUS x 4, unchanged  (1 loop"), std::string::npos) << r.text;
}

TEST(Stats, WithoutAMapBitsAndDeviceAddresses) {
  TraceBuilder t("stats_unnamed");
  driver(t);
  const std::string& path = t.done();
  Stats stats(StatsOptions{}, nullptr, nullptr);
  Result r = run(stats, path, nullptr);
  EXPECT_EQ(r.regs.size(), 4u) << r.text;
  EXPECT_EQ(r.regs.at("map 1+0x8")->reads, 10u);
  ASSERT_FALSE(stats.polls().empty());
  EXPECT_EQ(stats.polls()[0].until, "bit 1 set");
}

// A poll shorter than poll_min is no poll; one of exactly poll_min is.
TEST(Stats, PollNeedsPollMinReads) {
  TraceBuilder t("stats_pollmin");
  t.map();
  for (int i = 0; i < 3; ++i) t.access('R', 0x8, 0x0);
  t.access('R', 0x8, 0x2);
  for (int i = 0; i < 4; ++i) t.access('R', 0x8, 0x1);
  t.access('R', 0x8, 0x3);
  const std::string& path = t.done();
  RegisterBindings regs = bind_test_map(path);
  Stats stats(StatsOptions{}, &regs, nullptr);
  run(stats, path, &regs);
  ASSERT_EQ(stats.polls().size(), 1u);
  EXPECT_EQ(stats.polls()[0].reads, 4u);
  EXPECT_EQ(stats.polls()[0].until, "LU set");
}

}  // namespace
}  // namespace mmiotrace::analysis::test

// Fault injection rules as users write them (cli/inject_rules.h,
// docs/inject.md) into the session's binary form the agent applies.
#include "cli/inject_rules.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace mmiotrace::cli {
namespace {

using trace::InjectAction;
using trace::InjectRule;
using trace::InjectWhere;

InjectRule parsed(const std::string& text) {
  auto r = parse_inject_rule(text);
  EXPECT_TRUE(r) << text << ": " << (r ? "" : r.error());
  return r ? *r : InjectRule{};
}

std::string refusal(const std::string& text) {
  auto r = parse_inject_rule(text);
  return r ? "(accepted)" : r.error();
}

TEST(InjectRules, AReadRuleAtAnOffset) {
  const InjectRule r = parsed("read 0x8 width=4 clear=0x2");
  EXPECT_EQ(r.ops, trace::kInjectRead);
  EXPECT_EQ(r.action, static_cast<uint8_t>(InjectAction::CLEAR));
  EXPECT_EQ(r.where, static_cast<uint8_t>(InjectWhere::OFFSET));
  EXPECT_EQ(r.addr, 0x8u);
  EXPECT_EQ(r.width, 4u);
  EXPECT_EQ(r.operand, 0x2u);
  EXPECT_EQ(r.from, 1u);
  EXPECT_EQ(r.count, UINT64_MAX);
  EXPECT_EQ(r.after_ns, 0u);
  EXPECT_EQ(r.until_ns, UINT64_MAX);
  EXPECT_STREQ(r.text, "read 0x8 width=4 clear=0x2");
}

TEST(InjectRules, DirectionDefaultsFromTheAction) {
  EXPECT_EQ(parsed("0x10 value=7").ops, trace::kInjectRead);
  EXPECT_EQ(parsed("0x10 drop").ops, trace::kInjectWrite);
  EXPECT_EQ(parsed("all-ones").ops, trace::kInjectRead | trace::kInjectWrite);
  EXPECT_EQ(parsed("all-ones").where, static_cast<uint8_t>(InjectWhere::ANY));
  const InjectRule slow = parsed("slow=50us");
  EXPECT_EQ(slow.ops, trace::kInjectRead | trace::kInjectWrite);
  EXPECT_EQ(slow.action, static_cast<uint8_t>(InjectAction::DELAY));
  EXPECT_EQ(slow.delay_ns, 50000u);
}

TEST(InjectRules, WhichMatchesAndWhen) {
  const InjectRule nth = parsed("read phys=0xfea00008 flip=0x80000000 nth=3");
  EXPECT_EQ(nth.where, static_cast<uint8_t>(InjectWhere::PHYS));
  EXPECT_EQ(nth.addr, 0xfea00008u);
  EXPECT_EQ(nth.from, 3u);
  EXPECT_EQ(nth.count, 1u);
  const InjectRule window = parsed("read,0x4,random,from=2,count=5,after=10ms,until=2s");
  EXPECT_EQ(window.from, 2u);
  EXPECT_EQ(window.count, 5u);
  EXPECT_EQ(window.after_ns, 10000000u);
  EXPECT_EQ(window.until_ns, 2000000000u);
  EXPECT_STREQ(window.text, "read 0x4 random from=2 count=5 after=10ms until=2s");
}

TEST(InjectRules, MistakesAreNamed) {
  EXPECT_EQ(refusal("read 0x8"),
            "injection rule 'read 0x8': no action: value=, set=, clear=, flip=, random, all-ones, drop or delay= "
            "(docs/inject.md)");
  EXPECT_EQ(refusal("read 0x8 clear=two"),
            "injection rule 'read 0x8 clear=two': 'clear=two' needs a number (decimal or 0x hex)");
  EXPECT_EQ(refusal("write 0x8 value=1"),
            "injection rule 'write 0x8 value=1': 'value' changes what a read returns: it applies to reads only");
  EXPECT_EQ(refusal("read 0x8 drop"),
            "injection rule 'read 0x8 drop': 'drop' applies to writes only (a read cannot be left unanswered)");
  EXPECT_EQ(refusal("0x8 set=1 flip=2"), "injection rule '0x8 set=1 flip=2': 'set' and 'flip': one action per rule");
  EXPECT_EQ(refusal("0x8 set=1 nth=2 count=3"),
            "injection rule '0x8 set=1 nth=2 count=3': nth= means from=N count=1: not both");
  EXPECT_EQ(refusal("0x8 set=1 nth=0"), "injection rule '0x8 set=1 nth=0': accesses are counted from 1");
  EXPECT_EQ(refusal("0x8 set=1 width=3"), "injection rule '0x8 set=1 width=3': width must be 1, 2, 4 or 8");
  EXPECT_EQ(refusal("delay=10"),
            "injection rule 'delay=10': 'delay=10' needs a time with its unit (ns, us, ms or s), e.g. delay=10ms");
  EXPECT_EQ(refusal("0x8 set=1 after=2s until=1s"),
            "injection rule '0x8 set=1 after=2s until=1s': after= must come before until=");
  EXPECT_EQ(refusal("0x8 0x10 set=1"), "injection rule '0x8 0x10 set=1': two addresses");
  EXPECT_EQ(refusal("0x8 sett=1"), "injection rule '0x8 sett=1': 'sett=1' is not a word of a rule (docs/inject.md)");
}

TEST(InjectRules, AFileNamesTheLineThatIsWrong) {
  const std::string path = std::filesystem::temp_directory_path() / "mmiotrace_inject_rules_test";
  std::ofstream(path) << "# comment\n\nread 0x8 clear=0x2   # trailing comment\nwrite 0xc drop\nread 0x4 sett=1\n";
  auto bad = parse_inject_file(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(),
            path + ":5: injection rule 'read 0x4 sett=1': 'sett=1' is not a word of a rule (docs/inject.md)");
  std::ofstream(path) << "read 0x8 clear=0x2   # trailing comment\nwrite 0xc drop\n";
  auto good = parse_inject_file(path);
  ASSERT_TRUE(good) << good.error();
  ASSERT_EQ(good->size(), 2u);
  EXPECT_STREQ((*good)[0].text, "read 0x8 clear=0x2");
  EXPECT_STREQ((*good)[1].text, "write 0xc drop");
  std::filesystem::remove(path);
}

TEST(InjectRules, StepModeTakesNoRule) {
  EXPECT_EQ(step_mode_refusal(parsed("slow=1us")),
            "injection rule 'slow=1us' cannot apply in step mode: there the instruction itself reads and writes the "
            "device, so what it reads cannot be changed, a write cannot be dropped and an access cannot be held "
            "back; use --mode=emulate (the default) (docs/inject.md, \"Step mode\")");
}

}  // namespace
}  // namespace mmiotrace::cli

// Fault injection end to end (docs/inject.md): `record --inject` against a
// stand-in device. An injected fault sends tests/e2e/programs/inject_driver.c
// down its error path, which its own output and exit status show; the trace
// flags every changed access `injected`, after a MARK naming the rule and the
// value before and after; a dropped write never reaches the device.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include "replay_harness.h"

namespace mmiotrace::e2e {
namespace {

// The device's registers with the e2e pattern (e2e.h): ID, STATUS (bit 1 set:
// link up) and DOORBELL as the program starts.
constexpr const char* kId = "0x900d8a07";
constexpr const char* kStatus = "0xa825a21f";
constexpr uint32_t kDoorbellBefore = 0xb431ae2b;

struct InjectedRun {
  TracedRun run;
  // The trace's accesses and MARKs (`print --format native`) without times,
  // ids and instruction addresses: "R 4 0x8 0xa825a21d injected",
  // "MARK <text>"; the recorder's start and exit MARKs left out.
  std::vector<std::string> events;
};

std::vector<std::string> native_events(const std::string& trace) {
  std::string text, err;
  run_command({mmiotrace_path(), "print", "--format", "native", trace}, &text, &err);
  std::vector<std::string> events;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream w(line);
    std::string seq, time, ids, kind;
    if (!(w >> seq >> time >> ids >> kind) || seq[0] != '#') continue;
    if (kind == "MARK") {
      std::string rest;
      std::getline(w, rest);
      rest = rest.substr(1);
      if (rest.rfind("mmiotrace: start ", 0) == 0 || rest.rfind("mmiotrace: exit ", 0) == 0) continue;
      events.push_back("MARK " + rest);
    } else if (kind == "R" || kind == "W") {
      std::string width, map_id, phys, value, pc, word;
      w >> width >> map_id >> phys >> value >> pc;
      std::string e = kind + " " + width + " " + phys + " " + value;
      while (w >> word && word.rfind("insn=", 0) != 0) e += " " + word;
      events.push_back(e);
    }
  }
  return events;
}

InjectedRun run_injected(const std::string& name, const std::vector<std::string>& inject_args) {
  InjectedRun r;
  r.run = run_traced("inject_" + name, program_path("inject_driver", "O2"), {}, 4096, inject_args, false);
  r.events = native_events(r.run.dir + "/trace.mmio");
  return r;
}

uint32_t doorbell(const TracedRun& run) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | run.device_after.at(12 + static_cast<size_t>(i));
  return v;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& l : lines) s += l + "\n";
  return s;
}

// Without a rule, the program takes its good path: the baseline the others change.
TEST(Inject, WithoutRulesTheDriverBringsTheLinkUp) {
  const InjectedRun r = run_injected("none", {});
  EXPECT_EQ(r.run.exit_code, 0) << r.run.err << "\nreproduce: " << r.run.repro;
  EXPECT_EQ(r.run.out, std::string("id ") + kId + "\nlink up at poll 1 (status " + kStatus + ")\ndone\n");
  EXPECT_EQ(joined(r.events),
            std::string("R 4 0x0 ") + kId + "\nW 4 0x4 0x1\nR 4 0x8 " + kStatus + "\nW 4 0xc 0x5a5a5a5a\n");
  EXPECT_EQ(doorbell(r.run), 0x5a5a5a5au);
  EXPECT_EQ(r.run.err.find("changed by injection rules"), std::string::npos) << r.run.err;
}

// A link-status bit that never comes up: every read of STATUS has bit 1
// cleared; the driver polls five times and gives up.
TEST(Inject, ALinkBitThatNeverComesUpTakesTheDriversErrorPath) {
  const InjectedRun r = run_injected("link", {"--inject", "read 0x8 clear=0x2"});
  EXPECT_EQ(r.run.exit_code, 3) << r.run.err << "\nreproduce: " << r.run.repro;
  EXPECT_EQ(r.run.out, std::string("id ") + kId + "\nerror: link down after 5 polls (status 0xa825a21d)\n");
  std::string expected = std::string("R 4 0x0 ") + kId + "\nW 4 0x4 0x1\n";
  for (int i = 0; i < 5; ++i) {
    expected += std::string("MARK mmiotrace: inject 'read 0x8 clear=0x2': R 4 0x8 ") + kStatus +
                " -> 0xa825a21d\nR 4 0x8 0xa825a21d injected\n";
  }
  EXPECT_EQ(joined(r.events), expected) << "reproduce: " << r.run.repro;
  EXPECT_NE(r.run.err.find("; 5 accesses changed by injection rules"), std::string::npos) << r.run.err;
}

// nth=: only the first read of STATUS fails; the second brings the link up.
TEST(Inject, OnlyTheNthMatchingReadIsChanged) {
  const InjectedRun r = run_injected("nth", {"--inject", "read 0x8 width=4 clear=0x2 nth=1"});
  EXPECT_EQ(r.run.exit_code, 0) << r.run.err << "\nreproduce: " << r.run.repro;
  EXPECT_EQ(r.run.out, std::string("id ") + kId + "\nlink up at poll 2 (status " + kStatus + ")\ndone\n");
  EXPECT_EQ(joined(r.events), std::string("R 4 0x0 ") + kId +
                                  "\nW 4 0x4 0x1\n"
                                  "MARK mmiotrace: inject 'read 0x8 width=4 clear=0x2 nth=1': R 4 0x8 " +
                                  kStatus + " -> 0xa825a21d\nR 4 0x8 0xa825a21d injected\nR 4 0x8 " + kStatus +
                                  "\nW 4 0xc 0x5a5a5a5a\n");
}

// A surprise-removed PCI device: every read all-ones. The driver's very
// first read tells it the device is gone.
TEST(Inject, AllOnesReadsLookLikeARemovedDevice) {
  const InjectedRun r = run_injected("all_ones", {"--inject", "all-ones"});
  EXPECT_EQ(r.run.exit_code, 2) << r.run.err << "\nreproduce: " << r.run.repro;
  EXPECT_EQ(r.run.out, "error: device not responding (id reads all-ones)\n");
  EXPECT_EQ(joined(r.events), std::string("MARK mmiotrace: inject 'all-ones': R 4 0x0 ") + kId +
                                  " -> 0xffffffff\nR 4 0x0 0xffffffff injected\n");
}

// A dropped write never reaches the device: the doorbell keeps its value. The
// record shows what the program wrote, flagged, after a MARK that says so.
TEST(Inject, ADroppedWriteNeverReachesTheDevice) {
  const InjectedRun r = run_injected("drop", {"--inject", "write 0xc drop"});
  EXPECT_EQ(r.run.exit_code, 0) << r.run.err << "\nreproduce: " << r.run.repro;
  EXPECT_EQ(doorbell(r.run), kDoorbellBefore);
  EXPECT_EQ(joined(r.events), std::string("R 4 0x0 ") + kId + "\nW 4 0x4 0x1\nR 4 0x8 " + kStatus +
                                  "\nMARK mmiotrace: inject 'write 0xc drop': W 4 0xc 0x5a5a5a5a dropped\n"
                                  "W 4 0xc 0x5a5a5a5a injected\n");
}

// Rules from a file, and a seeded random value: the same seed gives the same
// values, run after run.
TEST(Inject, RulesFileAndSeededRandomValuesAreReproducible) {
  const std::string dir = work_dir() + "/inject_rules_file";
  std::filesystem::create_directories(dir);
  const std::string rules = dir + "/rules";
  std::ofstream(rules) << "# the ID register reads random bytes\n\nread 0x0 random\n";
  const InjectedRun a = run_injected("random_a", {"--inject-file", rules, "--seed", "42"});
  const InjectedRun b = run_injected("random_b", {"--inject-file", rules, "--seed", "42"});
  const InjectedRun c = run_injected("random_c", {"--inject-file", rules, "--seed", "43"});
  // The ID read changed and flagged; the rest as without the rule.
  ASSERT_EQ(a.events.size(), 5u) << joined(a.events) << a.run.err;
  const std::string mark = "MARK mmiotrace: inject 'read 0x0 random': R 4 0x0 " + std::string(kId) + " -> ";
  ASSERT_EQ(a.events[0].rfind(mark, 0), 0u) << a.events[0];
  const std::string seen = a.events[0].substr(mark.size());
  EXPECT_NE(seen, kId);
  EXPECT_EQ(joined(a.events), mark + seen + "\nR 4 0x0 " + seen + " injected\nW 4 0x4 0x1\nR 4 0x8 " + kStatus +
                                  "\nW 4 0xc 0x5a5a5a5a\n");
  EXPECT_EQ(a.run.out.rfind("id 0x", 0), 0u) << a.run.out;
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.run.out, b.run.out);
  EXPECT_NE(c.events[0], a.events[0]) << "another seed, the same value";
}

// A rule that is wrong stops record before the program starts, with one line
// that names the word.
TEST(Inject, ABadRuleIsRefusedInOneLine) {
  const InjectedRun r = run_injected("bad", {"--inject", "read 0x8 clear=two"});
  EXPECT_EQ(r.run.exit_code, 64);
  EXPECT_EQ(r.run.out, "");
  EXPECT_EQ(r.run.err,
            "mmiotrace: injection rule 'read 0x8 clear=two': 'clear=two' needs a number (decimal or 0x hex)\n");
  // Step mode takes no rule (docs/inject.md, "Step mode").
  const InjectedRun step = run_injected("step", {"--mode=step", "--inject", "slow=1us"});
  EXPECT_EQ(step.run.exit_code, 64);
  EXPECT_EQ(step.run.out, "");
  EXPECT_NE(step.run.err.find("mmiotrace: injection rule 'slow=1us' cannot apply in step mode"), std::string::npos)
      << step.run.err;
}

// The same fault on a replayed device: the driver recorded once against its
// stand-in, then replayed with the stand-in gone and the link bit cleared.
// Lenient, since the driver's error path makes accesses the recording does
// not have (its extra polls are answered from the register's last value,
// then cleared by the rule too); replay ends as the program did.
TEST(Inject, OnAReplayedDeviceTheDriverTakesItsErrorPath) {
  const InjectedRun rec = run_injected("replayed", {});
  ASSERT_EQ(rec.run.exit_code, 0) << rec.run.err;
  std::filesystem::remove(rec.run.device);
  const ReplayRun r = run_replay(rec.run.dir, "replay", rec.run.dir + "/trace.mmio",
                                 {"--policy", "lenient", "--inject", "read 0x8 clear=0x2"},
                                 {program_path("inject_driver", "O2"), rec.run.device});
  EXPECT_EQ(r.exit_code, 3) << r.err << "\nreproduce: " << r.repro;
  EXPECT_EQ(r.out, std::string("id ") + kId + "\nerror: link down after 5 polls (status 0xa825a21d)\n");
  EXPECT_NE(r.err.find("; 5 accesses changed by injection rules"), std::string::npos) << r.err;
  const std::vector<std::string> events = native_events(r.trace);
  ASSERT_GE(events.size(), 4u) << joined(events);
  EXPECT_EQ(events[2],
            std::string("MARK mmiotrace: inject 'read 0x8 clear=0x2': R 4 0x8 ") + kStatus + " -> 0xa825a21d");
  EXPECT_EQ(events[3], "R 4 0x8 0xa825a21d injected");
}

// The fast path never patches under injection rules or in a replay (docs/replay.md,
// "Limits"): every access must reach the backend through a fault. The agent
// logs each patch it makes (MMIOTRACE_TESTING_PATCH_LOG); the STATUS poll is
// one site faulting 5 times, hot at the first fault with --patch-after=1 and at
// the 4th with replay's default.
TEST(Inject, NothingIsPatchedUnderRulesOrInAReplay) {
  ScopedEnv log("MMIOTRACE_TESTING_PATCH_LOG", "1");
  const InjectedRun rec = run_injected("unpatched", {"--patch-after=1", "--inject", "read 0x8 clear=0x2"});
  EXPECT_EQ(rec.run.exit_code, 3) << rec.run.err << "\nreproduce: " << rec.run.repro;
  EXPECT_EQ(rec.run.err.find("mmiotrace: patch:"), std::string::npos) << rec.run.err;
  EXPECT_EQ(rec.run.err.find("instruction site"), std::string::npos) << rec.run.err;
  std::string expected = std::string("R 4 0x0 ") + kId + "\nW 4 0x4 0x1\n";
  for (int i = 0; i < 5; ++i) {
    expected += std::string("MARK mmiotrace: inject 'read 0x8 clear=0x2': R 4 0x8 ") + kStatus +
                " -> 0xa825a21d\nR 4 0x8 0xa825a21d injected\n";
  }
  EXPECT_EQ(joined(rec.events), expected) << "reproduce: " << rec.run.repro;
  // The recording of that run, replayed without rules (its 5 polls answered
  // from it), then with the rule again on a replayed device.
  std::filesystem::remove(rec.run.device);
  const std::vector<std::string> command{program_path("inject_driver", "O2"), rec.run.device};
  for (const auto& [name, args] :
       {std::pair{std::string("plain"), std::vector<std::string>{}},
        std::pair{std::string("rules"), std::vector<std::string>{"--inject", "read 0x8 clear=0x2"}}}) {
    const ReplayRun r = run_replay(rec.run.dir, "replay_" + name, rec.run.dir + "/trace.mmio", args, command);
    EXPECT_EQ(r.exit_code, 3) << name << ": " << r.err << "\nreproduce: " << r.repro;
    EXPECT_EQ(r.out, std::string("id ") + kId + "\nerror: link down after 5 polls (status 0xa825a21d)\n") << name;
    EXPECT_EQ(r.err.find("mmiotrace: patch:"), std::string::npos) << name << ": " << r.err;
  }
}

}  // namespace
}  // namespace mmiotrace::e2e

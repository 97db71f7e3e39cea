// The end-to-end fixture shared by the *_test.cc files here: programs by
// optimisation level, runs in the parameter's mode, failures that keep their
// files and say how to reproduce.
#pragma once

#include <gtest/gtest.h>

#include <iostream>
#include <list>
#include <string>
#include <vector>

#include "harness.h"
#include "trace/format.h"

namespace mmiotrace::e2e {

// The parameter is the programs' optimisation level ("O0", "O2"), with
// "_step" for the tests that also run under `record --mode=step` (E2EModes).
class E2E : public ::testing::TestWithParam<std::string> {
 protected:
  std::string program(const std::string& name) const { return program_path(name, GetParam().substr(0, 2)); }
  bool step() const { return GetParam().find("_step") != std::string::npos; }
  // run_traced() in the parameter's mode.
  TracedRun traced(const std::string& name, const std::string& prog, const std::vector<std::string>& args,
                   size_t device_size, std::vector<std::string> extra = {}) const {
    if (step()) extra.insert(extra.begin(), "--mode=step");
    return run_traced(name, prog, args, device_size, extra);
  }
  // Single-stepped with mprotect: other threads' accesses during a step may
  // be missing (the header says so; protection keys would make it exact).
  static bool may_miss(const TracedRun& run) { return (run.features & trace::kFeatureStepMayMiss) != 0; }
  // The header says which mode recorded the trace.
  // `fallback`: emulate mode may single-step an instruction of this run.
  void expect_mode(const TracedRun& run, bool fallback = false) const {
    EXPECT_EQ((run.features & trace::kFeatureStepMode) != 0, step()) << run.features;
    if (!step() && !fallback) {
      EXPECT_FALSE(may_miss(run)) << "emulate mode stepped nothing here";
    }
  }
  std::string test_name() const {
    std::string n = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : n) {
      if (c == '/') c = '_';
    }
    return n;
  }
  // On failure, say where the files are and how to reproduce.
  void TearDown() override {
    if (HasFailure() && last_ != nullptr) {
      std::cerr << "work folder kept: " << last_->dir << "\nreproduce: " << last_->repro << "\nstderr:\n"
                << last_->err << "\n";
    }
  }
  const TracedRun& keep(TracedRun&& run) {
    runs_.push_back(std::move(run));
    last_ = &runs_.back();
    return *last_;
  }
  std::list<TracedRun> runs_;
  const TracedRun* last_ = nullptr;
};

// The first-slice tests, in both modes: the same traces apart from timestamps.
class E2EModes : public E2E {};

inline void expect_exact(const TracedRun& run, int map_id = 0) {
  std::vector<Access> want = expected_accesses(run);
  std::vector<Access> got;
  for (const Access& a : run.accesses) {
    if (map_id == 0 || a.map_id == map_id) got.push_back(a);
  }
  ASSERT_FALSE(want.empty()) << "the program printed no EXPECT lines:\n" << run.out;
  ASSERT_EQ(got.size(), want.size()) << "trace:\n" << run.trace_text << "\nprogram:\n" << run.out;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(describe(got[i]), describe(want[i])) << "access #" << i << ": " << got[i].line;
  }
}

}  // namespace mmiotrace::e2e

// Replay runs for the end-to-end tests: `mmiotrace replay` of a recording,
// and the comparison of two traces a replay must make identical.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "harness.h"

namespace mmiotrace::e2e {

// A test with its own work folder, work_dir()/PREFIX_<test name>, emptied
// before it runs and kept after a failure, with the command that reproduces
// the failing run (`repro_`, set by the test).
class FolderTest : public ::testing::Test {
 protected:
  explicit FolderTest(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string dir() const {
    return work_dir() + "/" + prefix_ + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  void SetUp() override {
    std::filesystem::remove_all(dir());
    std::filesystem::create_directories(dir());
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "work folder kept: " << dir() << "\nreproduce: " << repro_ << "\n";
  }
  std::string repro_;

 private:
  std::string prefix_;
};

struct ReplayRun {
  std::string trace;  // the trace the replay wrote
  std::string repro;  // the command that reproduces it
  int exit_code = -1;
  int term_signal = 0;
  std::string out;  // the program's stdout
  std::string err;  // replay's and the program's stderr
};

// Runs `mmiotrace replay -o DIR/NAME.mmio REPLAY_ARGS... RECORDING -- COMMAND...`,
// under `wrapper` (e.g. a mount namespace) if given.
ReplayRun run_replay(const std::string& dir, const std::string& name, const std::string& recording,
                     const std::vector<std::string>& replay_args, const std::vector<std::string>& command,
                     const std::vector<std::string>& wrapper = {});

// "" if two traces show the same device accesses (op, width, physical
// address, value, byte mask, map id, in the same order, made by
// corresponding threads and processes), the same mappings (physical
// address, length, file offset, kind, BAR, path) and the same PCI devices;
// else the first difference. Times, virtual and instruction addresses and
// thread and process ids (which must correspond one to one) are not
// compared: a replay runs at another time, at other addresses.
std::string trace_difference(const std::string& a, const std::string& b);

// "" if a device model's trace shows what a device's did (docs/models.md,
// "Equal to QEMU's edu"): each thread's device accesses (op, width, physical
// address, byte mask, value, in order; threads paired in the order of their
// first access), with polls folded: a run of consecutive reads by one thread
// of the same register and width counts as its last read (how many polls a
// wait takes, and the values it sees before the last, are a matter of
// timing, on a device as on a model); the same mappings (physical address,
// length, file offset, kind, BAR, PCI device, path) and PCI devices (slot,
// vendor, device, BARs; not the IRQ or driver). Else the first difference.
std::string model_trace_difference(const std::string& device_trace, const std::string& model_trace);

// The wrapper that runs a command in a new mount namespace where /sys is an
// empty tmpfs and /dev/mem is /dev/null: nothing of this machine's PCI devices
// can be opened there. Empty if this machine cannot make one (no unshare, no
// privilege): the caller skips.
std::vector<std::string> no_devices_wrapper();

}  // namespace mmiotrace::e2e

// What `mmiotrace record` was asked to do (docs/record.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/stand_in.h"

namespace mmiotrace::cli {

struct RecordOptions {
  std::string output = "trace.mmio";
  std::vector<std::string> device_args;  // --device as given: GLOB[,KEY=VALUE]...
  std::vector<StandIn> devices;          // the same, parsed (record_command.cc): glob and identity
  std::string sysroot;                   // tests only: a fake /sys and /dev tree
  bool step = false;                     // --mode=step: single-step every traced instruction instead of emulating it
  bool no_follow = false;                // only the program itself is traced, not the processes it starts
  bool drop_when_full = false;           // producers drop access records when their ring is full
  bool allow_untraceable = false;        // run a program the agent cannot enter (static, not x86-64) anyway
  uint32_t patch_after = 4;              // faults at one instruction before it is patched (--patch-after)
  bool no_patch = false;                 // --no-patch: every access takes the fault path
  int consumer_delay_ms = 0;             // tests only: the consumer sleeps this long between drains
  std::vector<std::string> command;
};

}  // namespace mmiotrace::cli

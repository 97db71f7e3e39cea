// Running a program under the agent and recording what it does: what
// `record` and `replay` share (the program, the agent, the channel, the
// consumer loop, the end). `replay` adds a session (cli/session_file.h) and
// its own end.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "cli/record_options.h"
#include "cli/recorder.h"
#include "cli/session_file.h"

namespace mmiotrace::cli {

struct LaunchHooks {
  // What the command is called ("record", "replay"), and its one-line usage
  // error when no program is given.
  std::string command_name = "record";
  std::string usage =
      "record needs a program to run: mmiotrace record [-o FILE] [--device GLOB]... -- PROGRAM [ARGS...]";
  // After each drain while the program runs.
  std::function<void(pid_t program)> poll;
  // The one-line summary (after "mmiotrace: ").
  std::function<std::string(const RecordStats& stats)> summary;
  // After the summary: the exit code to end with, or -1 to end as the program did.
  std::function<int(int program_status)> finish;
};

// Runs options.command with the agent preloaded (and the session, if given),
// records into options.output, prints the summary and ends the process as the
// hooks say (or as the program did). Returns only on an error before or
// after the run (a sysexits code).
int launch(const RecordOptions& options, const SessionFile* session, const LaunchHooks& hooks);

// The summary line of `record`.
std::string record_summary(const RecordStats& s, const std::string& output);

// Ends every process this one is the ancestor of (the program and what it
// left behind, reparented to the recorder), with SIGKILL.
void kill_descendants();

uint64_t clock_ns(clockid_t clock);

}  // namespace mmiotrace::cli

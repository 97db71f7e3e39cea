// What `replay` says about the differences between the program and the
// recording (docs/replay.md, "Divergence"): the agent stores each as a
// trace::ReplayDivergence in the session; these format them for people.
#pragma once

#include <string>

#include "cli/recording.h"
#include "trace/session.h"

namespace mmiotrace::cli {

// One divergence: the program's access (register, width, value, PC,
// instruction) and the recorded one it was compared with.
std::string describe_divergence(const trace::ReplayDivergence& d, const Recording& rec);

// The recorded accesses nobody made: the program ended (or a thread stopped)
// before them. Empty if every recorded access was replayed.
std::string describe_unreplayed(const trace::SessionHeader& s, const Recording& rec, size_t max_listed);

}  // namespace mmiotrace::cli

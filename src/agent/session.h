// The session (trace/session.h): what `mmiotrace replay` and `record
// --model/--inject` give the agent besides the channel: the devices it stands
// in for, the recording to replay, the injection rules, the model. Mapped at
// attach from the path in MMIOTRACE_SESSION; shared by every process of the
// program.
//
// Lookups are async-signal-safe (no allocation, no lock).
#pragma once

#include <cstdint>

#include "trace/session.h"

namespace mmiotrace::agent {

// The session, or null (plain `record`). Set once at attach, before any
// device is mapped.
trace::SessionHeader* session();
inline bool session_has(uint32_t flag) { return session() != nullptr && (session()->flags & flag) != 0; }

// Normal context, at attach: maps the session named by MMIOTRACE_SESSION, if
// any. False (with a message on stderr) if it is named but unusable.
bool session_attach();

const trace::SessionPath& session_path(uint32_t i);
const trace::SessionDevice& session_device(uint32_t i);

// The stand-in path a (normalized) path the program opens is, or -1.
int stand_in_for_path(const char* normalized);
// The stand-in path whose memfd a descriptor's /proc/self/fd link names
// ("/memfd:mmiotrace-standin-K (deleted)"), or -1.
int stand_in_for_fd_link(const char* link);
// The device of stand-in path `path` that a mapping at file offset `offset`
// maps, or -1.
int stand_in_device_at(int path, uint64_t offset);

}  // namespace mmiotrace::agent

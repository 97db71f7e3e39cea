// Replay (`mmiotrace replay`, docs/replay.md): the device is a recording.
// Every access of the program is matched with the next recorded access of the
// recorded thread it plays: the same device, physical address, width,
// direction and byte mask, and for a write the same value. A read is answered
// with the recorded value. What does not match is a divergence: the strict
// policy stops the program there (the process ends with status 3 and the CLI
// prints the report); the lenient one answers from the last value the
// register had (the device's backing memfd keeps every byte's last value) and
// the CLI lists the divergences at the end.
//
// Threads: a thread of the program plays the first recorded thread (of the
// recorded process its own process plays) whose access is due when it first
// accesses a device. Order: an access waits for its turn, until every access
// recorded before it has been replayed, so the replay's order is the
// recording's across threads and processes; and a thread whose recorded
// accesses are all replayed, when it next sleeps (nanosleep, usleep...),
// first waits until the recording's other accesses are (a thread that polls
// and sleeps until another tells it to stop then makes no access the
// recording does not have, however much slower the others are in the
// replay). A wait that sees no progress for the session's stall timeout
// gives up: the access goes out of order (counted as reordered).
//
// Async-signal-safe: runs in the traced program's signal handler. No
// allocation; the only lock is the order lock (access() runs under it);
// waits are futex waits outside it, on the session's shared progress word.
#pragma once

#include "agent/backend/backend.h"

namespace mmiotrace::agent {

class ReplayBackend final : public Backend {
 public:
  constexpr ReplayBackend() = default;
  void enter(const DeviceAccess& first) override;
  emu::MemFault access(DeviceAccess& a, TraceNotes& notes) override;
  void leave(const DeviceAccess& last) override;
};

Backend& replay_backend();

// Normal context, before the program's thread sleeps (agent/interpose_sleep.cc):
// a thread past its last recorded access waits there for the others' (above).
void replay_before_sleep();

// The status with which a process that diverged (strict policy) ends.
inline constexpr int kReplayDivergedStatus = 3;

}  // namespace mmiotrace::agent

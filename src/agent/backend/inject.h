// Fault injection (`record`/`replay` --inject, --inject-file; docs/inject.md):
// rules that change what the program sees of a device or what reaches it. It
// wraps whichever backend a region has (the real device, a recording, a
// model): a read is performed, then the rules that match change its value
// (a constant, bits set, cleared or flipped, random bytes, all-ones); a
// write a rule drops never reaches the backend; a delay holds the access
// back before the order lock is taken. A rule matches by direction, address
// (an offset into the device, or a physical address, anywhere in the access),
// width, which of its matches this is (nth=, from=, count=; counted over
// every thread and process) and when (after=, until=, from the program's
// start). Every access a rule changed is marked: a MARK before its record
// ("mmiotrace: inject '<rule>': ...", the value before and after) and the
// kAccessInjected flag on it.
//
// Async-signal-safe: runs in the traced program's signal handler. No
// allocation, no lock (the rules' counters are atomics in the session);
// delays are nanosleep system calls outside the order lock.
#pragma once

#include "agent/backend/backend.h"

namespace mmiotrace::agent {

class InjectBackend final : public Backend {
 public:
  constexpr InjectBackend() = default;
  void enter(const DeviceAccess& first) override;
  emu::MemFault access(DeviceAccess& a, TraceNotes& notes) override;
  void leave(const DeviceAccess& last) override;
};

Backend& inject_backend();

}  // namespace mmiotrace::agent

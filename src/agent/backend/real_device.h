// The real mapping: today's behaviour, and the backend every region has
// unless replay or a model serves it. One guarded instruction of the access's
// width on the agent's own mapping of the device (agent/safe_access.S); a
// fault there is the fault the program would have had.
//
// Async-signal-safe: no allocation, no lock.
#pragma once

#include "agent/backend/backend.h"

namespace mmiotrace::agent {

class RealDevice final : public Backend {
 public:
  constexpr RealDevice() = default;
  emu::MemFault access(DeviceAccess& a, TraceNotes& notes) override;
};

// The real device backend (one for the process).
Backend& real_device();

}  // namespace mmiotrace::agent

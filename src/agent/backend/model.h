// Device models (`mmiotrace record --model LIB`, docs/models.md): the device
// is a plugin (include/mmiotrace/model.h) the agent loads into the program.
// Its state lives in the session (shared by every process of the program);
// every access is handed to the model's read or write, under the order lock,
// so the model sees accesses one at a time in the trace's order. Accesses
// wider than 8 bytes reach it as 8-byte pieces, masked ones byte by byte
// where their mask is not whole.
//
// Time: before each access the model's advance() runs if the deadline it set
// (host->wake_at) has passed; model_wait_interrupt() sleeps until the
// deadline when a program waits for an interrupt (read() on /dev/uioN).
//
// Async-signal-safe (model.cc): runs in the traced program's signal handler.
// model_attach() (model_load.cc) runs in normal context, at attach.
#pragma once

#include <cstdint>

#include "agent/backend/backend.h"

struct mmiotrace_model;

namespace mmiotrace::agent {

class ModelBackend final : public Backend {
 public:
  constexpr ModelBackend() = default;
  emu::MemFault access(DeviceAccess& a, TraceNotes& notes) override;
};

Backend& model_backend();

// Normal context, at attach (agent_init.cc): loads the session's model.
// False, with a one-line message on stderr, if it cannot be used.
bool model_attach();
// The loaded model (model_load.cc), or null.
const mmiotrace_model* loaded_model();

// The UIO event count: interrupts the model raised so far.
uint32_t model_interrupts();
// Normal context: waits until the model's interrupt count differs from
// `seen` (advancing the model's time as it asked), and returns it.
uint32_t model_wait_interrupt(uint32_t seen);

}  // namespace mmiotrace::agent

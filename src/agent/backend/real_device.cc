// Async-signal-safe: runs in the traced program's signal handler, under the
// order lock; no allocation.
#include "agent/backend/real_device.h"

#include "agent/safe_access.h"
#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {
constinit RealDevice g_real;
}  // namespace

Backend& real_device() { return g_real; }

emu::MemFault RealDevice::access(DeviceAccess& a, TraceNotes&) {
  uint8_t* real = a.region.real_pointer(a.addr);
  int rc;
  if (a.masked) {
    rc = a.write ? mt_store_masked(real, a.value, a.mask) : mt_load_masked(real, a.value, a.mask);
  } else {
    rc = a.write ? safe_store(real, a.value, a.size) : safe_load(real, a.value, a.size);
  }
  if (rc == 0) return {};
  const SafeFault f = last_safe_fault();
  return emu::MemFault{f.signo, f.code, f.addr};
}

}  // namespace mmiotrace::agent

// Which backend performs a region's accesses (backend.h).
// Async-signal-safe: table lookups only (choose_backend: normal context).
#include "agent/backend/inject.h"
#include "agent/backend/model.h"
#include "agent/backend/real_device.h"
#include "agent/backend/replay.h"
#include "agent/device_identify.h"
#include "agent/session.h"
#include "common/check.h"
#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

Backend& base_backend(const RegionInfo& r) {
  switch (static_cast<BackendId>(r.backend)) {
    case BackendId::REAL:
      return real_device();
    case BackendId::REPLAY:
      return replay_backend();
    case BackendId::MODEL:
      return model_backend();
  }
  MT_CHECK_MSG(false, "a region with an unknown backend");
  return real_device();
}

Backend& backend_for(const RegionInfo& r) {
  return session_has(trace::kSessionInject) ? inject_backend() : base_backend(r);
}

void choose_backend(const DeviceInfo& dev, RegionInfo* r) {
  r->backend = static_cast<uint8_t>(BackendId::REAL);
  r->backend_ref = 0;
  if (dev.session_device < 0) return;
  r->backend_ref = static_cast<uint32_t>(dev.session_device);
  if (session_has(trace::kSessionReplay)) r->backend = static_cast<uint8_t>(BackendId::REPLAY);
  if (session_has(trace::kSessionModel)) r->backend = static_cast<uint8_t>(BackendId::MODEL);
}

}  // namespace mmiotrace::agent

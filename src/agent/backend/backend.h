// Backend: how one device access is performed. DeviceMemory
// (agent/device_memory.h) splits an access at mapping boundaries, checks the
// program's rights, takes the order lock, and records; the backend of the
// region (RegionInfo::backend) performs the access itself:
//
//   real    the agent's real mapping of the device (backend/real_device.cc)
//   replay  answers from a recording, checks writes against it (backend/replay.cc)
//   model   a device model plugin (backend/model.cc, include/mmiotrace/model.h)
//
// and fault injection (backend/inject.cc) wraps whichever of them a region
// has, when rules are given. Every path that reaches a device (the
// emulator, the generic path's copies, system calls on device buffers, the
// fast path's trampolines) goes through DeviceMemory, so each backend serves
// all of them, and recording stays in one place whatever the backend did.
//
// Adding a backend: one file under agent/backend/ implementing Backend, a
// value in BackendId, and the place that gives regions that id
// (select_backend in backend/registry.cc).
//
// Async-signal-safe: every method runs in the traced program's signal handler
// (or in normal context with every signal but the agent's blocked). A backend
// allocates nothing and takes no lock the program could hold; access() runs
// under the order lock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "agent/region_table.h"
#include "emu/memory.h"

namespace mmiotrace::agent {

struct FaultContext;
struct DeviceInfo;

// One device access as a backend sees it: within one region, at most 64 bytes.
struct DeviceAccess {
  const RegionInfo& region;
  uint64_t addr;  // program address of the first byte
  unsigned size;  // bytes
  uint64_t mask;  // bit i: byte i is accessed (all `size` bits unless `masked`)
  bool masked;
  bool write;
  uint8_t* value;           // write: the bytes written; read: where the bytes read go (memory order)
  const FaultContext& ctx;  // the instruction (pc, tid, bytes), for reports
  uint8_t flags = 0;        // out: trace::kAccess* bits for the access's record (kAccessInjected)

  uint64_t phys() const { return region.phys_at(addr).value(); }
};

// What a backend may add to the trace besides the access's own record, under
// the order lock: a MARK, placed before the access's record.
class TraceNotes {
 public:
  virtual void mark(const char* text, size_t len) = 0;

 protected:
  ~TraceNotes() = default;
};

class Backend {
 public:
  // Before the order lock is taken for `first` (and, for a run, the accesses
  // of the same instruction after it). May wait: for this thread's turn
  // (replay), for an injected delay. Never called under the order lock.
  virtual void enter(const DeviceAccess& first) { (void)first; }
  // Under the order lock: performs the access. A read fills a.value (only
  // the bytes of a.mask matter). A fault is the one the program would have
  // had (a real mapping that went away).
  virtual emu::MemFault access(DeviceAccess& a, TraceNotes& notes) = 0;
  // After the order lock is released, once per enter().
  virtual void leave(const DeviceAccess& last) { (void)last; }

 protected:
  ~Backend() = default;
};

// RegionInfo::backend values.
enum class BackendId : uint8_t {
  REAL = 0,
  REPLAY = 1,
  MODEL = 2,
};
inline constexpr unsigned kBackendCount = 3;

// The backend that performs accesses to region `r`: the region's own, or
// fault injection wrapping it when rules are active. Handler-safe.
Backend& backend_for(const RegionInfo& r);
// The region's own backend, without injection (what injection wraps).
Backend& base_backend(const RegionInfo& r);

// Normal context, when a device mapping is made: which backend serves it
// (sets r->backend and r->backend_ref).
void choose_backend(const DeviceInfo& dev, RegionInfo* r);

}  // namespace mmiotrace::agent

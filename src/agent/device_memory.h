// DeviceMemory: the emu::Memory the fault handler gives the emulator. Each
// access is split at mapping boundaries; the parts on a traced mapping are
// performed by the region's backend (agent/backend/backend.h: the agent's
// real mapping, one instruction of the same width; or a recording, a device
// model, fault injection) and recorded, under the order lock, so seq order is
// device order; the other parts go to the program's ordinary memory. Any part
// that faults makes the whole access fault, as it would natively.
//
// Async-signal-safe: no allocation, no locks but the order lock.
#pragma once

#include <cstdint>

#include "agent/backend/backend.h"
#include "agent/region_table.h"
#include "emu/memory.h"

namespace mmiotrace::agent {

// The instruction whose accesses are recorded: the address and bytes the
// records carry. Normally the faulting instruction as fetched (up to 15
// bytes, trimmed to the instruction once decoded); for a copy of an
// instruction run in a trampoline (agent/patch), the original's, `exact`.
struct FaultContext {
  uint64_t pc = 0;
  uint32_t tid = 0;
  uint8_t insn_len = 0;
  bool exact = false;  // insn holds exactly the instruction: never trimmed
  uint8_t insn[16] = {};
};

class DeviceMemory final : public emu::Memory, public TraceNotes {
 public:
  // `record_flags` (trace::kAccess* bits) are added to every record made,
  // e.g. kAccessGeneric for the generic path's copies.
  explicit DeviceMemory(FaultContext& ctx, uint8_t record_flags = 0) : ctx_(ctx), record_flags_(record_flags) {}

  // Record only (single-stepping, agent/step.h): the instruction already
  // accessed the device itself. read()/write() then split and record exactly
  // as they would perform, with the value the caller passes for both, and
  // touch neither the device nor ordinary memory; rights are not checked.
  // The caller holds the order lock (a step holds it from fault to trap).
  void set_record_only(bool on) { record_only_ = on; }
  // Added to the records of the next accesses (e.g. trace::kAccessValueUnknown).
  void set_extra_flags(uint8_t flags) { extra_flags_ = flags; }

  emu::MemFault read(uint64_t addr, unsigned size, void* out) override;
  emu::MemFault write(uint64_t addr, unsigned size, const void* in) override;
  emu::MemFault read_masked(uint64_t addr, unsigned size, uint64_t byte_mask, void* out) override;
  emu::MemFault write_masked(uint64_t addr, unsigned size, uint64_t byte_mask, const void* in) override;
  void instruction_decoded(unsigned length) override;
  // A locked read-modify-write on one device mapping: the read, the
  // computation and the write happen under the order lock, so no other traced
  // access (any thread, any process) comes between them. The device's own
  // changes can (a real LOCK would lock the bus): see docs/emulated-instructions.md.
  emu::MemFault atomic_rmw(uint64_t addr, unsigned size, void* old_out, emu::RmwCompute compute, void* ctx) override;
  // REP MOVS/STOS/LODS between one device mapping and ordinary memory (or
  // within one mapping for STOS/LODS): the iterations are performed in chunks
  // under the order lock and each chunk's device accesses become one
  // ACCESS_RUN record. Anything else (device to device, a run crossing
  // mappings, addresses that wrap) goes iteration by iteration.
  emu::MemFault string_run(const emu::StringRun& run, uint64_t* done, uint64_t* last) override;

  // The data of a system call (agent/interpose_syscalls.cc) moved between
  // the program's `len` bytes at `addr` (device mappings and ordinary memory,
  // mixed) and the agent's buffer `buf`: `to_device` writes buf to them, else
  // they are read into buf. Device bytes are accessed in address order as
  // naturally aligned 8-byte accesses, with 1-byte accesses where the address
  // is not 8-byte aligned or fewer than 8 bytes are left; each run of one
  // width (at most 4 KiB of values) is one ACCESS_RUN record. A read needs
  // PROT_READ or PROT_WRITE on the device (what the kernel's copy would need
  // on x86), a write PROT_WRITE. Stops at the first byte that cannot be
  // accessed and returns its fault; *done is the bytes copied before it.
  // Normal context: the caller blocks every signal (the order lock).
  emu::MemFault bulk_copy(uint64_t addr, uint64_t len, uint8_t* buf, bool to_device, uint64_t* done);

  // One access wholly within device mapping `r`, which the caller has just
  // found (the fast path, agent/patch/fast_access.cc): what read()/write()
  // do for such an access, without looking the mapping up again.
  emu::MemFault read_in(const RegionInfo& r, uint64_t addr, unsigned size, void* out);
  emu::MemFault write_in(const RegionInfo& r, uint64_t addr, unsigned size, const void* in);

  unsigned device_accesses() const { return device_accesses_; }

  // TraceNotes, for the backend of an access: a MARK under the order lock.
  void mark(const char* text, size_t len) override;

 private:
  emu::MemFault access(uint64_t addr, unsigned size, uint8_t* buf, uint64_t mask, bool masked, bool write);
  emu::MemFault split_access(uint64_t addr, unsigned size, uint8_t* buf, uint64_t mask, bool masked, bool write);
  emu::MemFault device_access(const RegionInfo& r, uint64_t addr, unsigned size, uint8_t* buf, uint64_t mask,
                              bool masked, bool write, bool split);
  void record(const RegionInfo& r, uint64_t addr, unsigned size, const uint8_t* value, uint64_t mask, bool masked,
              bool write, bool split, uint8_t flags, uint64_t seq, uint64_t time_ns);
  void record_run(const RegionInfo& r, uint64_t addr, bool write, unsigned width, int32_t stride, uint64_t count,
                  const uint8_t* values, uint8_t flags, uint64_t first_seq, uint64_t time_ns);
  struct RunSide;
  bool run_side(const emu::StringRun& run, uint64_t base, uint64_t first, RunSide* side) const;
  emu::MemFault run_chunk(const emu::StringRun& run, const RunSide& dev, const RunSide& other, uint64_t first,
                          uint64_t n, uint64_t* done, uint64_t* last);

  emu::MemFault bulk_device(const RegionInfo& r, uint64_t addr, unsigned width, uint64_t count, uint8_t* buf,
                            bool write, uint64_t* done);

  void push_mark(const char* text, size_t len, uint64_t seq);
  void flush_run_marks();

  FaultContext& ctx_;
  // The seq of the single access in progress, taken before the device; a
  // MARK the backend adds in the meantime takes it instead (mark()).
  uint64_t access_seq_ = 0;
  bool holding_seq_ = false;
  // In a run (string_run, bulk_copy): the first MARK, written after the run.
  bool in_run_ = false;
  uint32_t run_marks_ = 0;
  size_t run_mark_len_ = 0;
  char run_mark_[240] = {};
  uint8_t record_flags_ = 0;
  uint8_t extra_flags_ = 0;
  bool record_only_ = false;
  unsigned device_accesses_ = 0;
};

}  // namespace mmiotrace::agent

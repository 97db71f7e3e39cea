// The emulator's view of the traced program's memory. The emulator calls it
// once per architectural memory access of the instruction, in the order the
// architecture performs them, with the access's own width; the implementation
// decides which bytes are device memory (traced, recorded) and which are the
// program's ordinary memory. It never splits or merges accesses on its own
// behalf except where an access straddles the end of a mapping.
//
// Async-signal-safe interface: implementations used by the agent allocate nothing.
#pragma once

#include <cstdint>

namespace mmiotrace::emu {

// Why an access could not be performed: the instruction would have faulted
// natively, and this is the fault the program must see.
struct MemFault {
  int signo = 0;        // 0: no fault; else SIGSEGV or SIGBUS
  int code = 0;         // si_code (SEGV_MAPERR, SEGV_ACCERR, BUS_ADRERR, ...)
  uint64_t addr = 0;    // faulting address (si_addr)
  bool ok() const { return signo == 0; }
};

class Memory {
 public:
  // Reads `size` bytes (1, 2, 4, 8, 10, 16, 32 or 64) at program address `addr` into `out`.
  virtual MemFault read(uint64_t addr, unsigned size, void* out) = 0;
  // Writes `size` bytes from `in` to program address `addr`.
  virtual MemFault write(uint64_t addr, unsigned size, const void* in) = 0;
  // AVX-512 masked load/store: only the bytes whose bit is set in `byte_mask`
  // (bit i = byte i) are read or written; the others are neither accessed nor
  // able to fault (SDM Vol. 1, 15.6.1). `out` bytes not selected are left unchanged.
  virtual MemFault read_masked(uint64_t addr, unsigned size, uint64_t byte_mask, void* out) = 0;
  virtual MemFault write_masked(uint64_t addr, unsigned size, uint64_t byte_mask, const void* in) = 0;
  // Called once the instruction is decoded, before any access: its length
  // (the agent records exactly the instruction's bytes with each access).
  virtual void instruction_decoded(unsigned length) { (void)length; }

 protected:
  ~Memory() = default;
};

}  // namespace mmiotrace::emu

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

#include "common/check.h"

namespace mmiotrace::emu {

// Why an access could not be performed: the instruction would have faulted
// natively, and this is the fault the program must see.
struct MemFault {
  int signo = 0;      // 0: no fault; else SIGSEGV or SIGBUS
  int code = 0;       // si_code (SEGV_MAPERR, SEGV_ACCERR, BUS_ADRERR, ...)
  uint64_t addr = 0;  // faulting address (si_addr)
  bool ok() const { return signo == 0; }
};

// The computation inside Memory::atomic_rmw: given the `size` bytes read
// (`old_value`), fill the `size` bytes to store (`new_value`) and return true
// to store them, false to store nothing. It runs inside the atomic unit, so it
// must be short and async-signal-safe, must not call the Memory, and must
// depend only on `ctx` and `old_value`. Neither buffer is aligned.
using RmwCompute = bool (*)(void* ctx, const uint8_t* old_value, uint8_t* new_value);

// The iterations of a REP MOVS/STOS/LODS (see Memory::string_run).
enum class StringKind : uint8_t { MOVS, STOS, LODS };

struct StringRun {
  StringKind kind = StringKind::MOVS;
  unsigned width = 1;       // element bytes: 1, 2, 4 or 8
  bool down = false;        // DF=1: addresses decrease by `width` each iteration
  unsigned addr_bits = 64;  // 32 with an address-size prefix: addresses wrap at 4 GiB
  uint64_t src = 0;         // first source address (MOVS, LODS), segment base included
  uint64_t src_base = 0;    // the segment base in `src` (wrapping applies to the offset only)
  uint64_t dst = 0;         // first destination address (MOVS, STOS)
  uint64_t count = 0;       // iterations, >= 1
  uint64_t value = 0;       // STOS: the value stored (low `width` bytes)
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

  // One locked read-modify-write: every LOCK-prefixed instruction, XCHG with
  // a memory operand (always locked) and LOCK CMPXCHG/CMPXCHG8B/CMPXCHG16B/XADD
  // use it instead of read() + write(). `size` is 1, 2, 4, 8 or 16.
  //   1. Read `size` bytes at `addr` into `old_out`. If the read faults, return
  //      its fault: compute is not called and nothing is written.
  //   2. Call compute(ctx, old_out, new_value) exactly once.
  //   3. If it returned true, write the `size` bytes of new_value at `addr`
  //      and return that write's fault, if any (the read has then happened).
  // Steps 1-3 are one atomic unit with respect to every other access the
  // implementation orders: for the agent, no other traced access of any
  // thread is performed or recorded between the read and the write. It counts
  // as one read then (if compute returned true) one write, both of `size`
  // bytes at `addr`, exactly as the two accesses of the locked instruction.
  // The emulator's computes always return true: every locked instruction
  // writes, a failing CMPXCHG included (SDM Vol. 2, CMPXCHG: "the destination
  // operand is written back if the comparison fails").
  // The default is read(), compute, write() with no atomicity: right for a
  // Memory that nothing else accesses concurrently (tests, tools).
  // `run.count` iterations of a REP string instruction, with exactly the
  // accesses of that many single iterations in the same order (MOVS: read
  // source i, then write destination i; STOS: write destination i; LODS: read
  // source i). Sets *done to the iterations completed and, for LODS, *last to
  // the last value read. On a fault, returns it: iteration *done faulted (its
  // read may have happened, as on the CPU). An implementation may perform
  // many iterations at once (the agent records them as one ACCESS_RUN); the
  // default performs them one by one through read() and write().
  virtual MemFault string_run(const StringRun& run, uint64_t* done, uint64_t* last);

  virtual MemFault atomic_rmw(uint64_t addr, unsigned size, void* old_out, RmwCompute compute, void* ctx) {
    MT_CHECK(size <= 16);
    uint8_t new_value[16];
    const MemFault f = read(addr, size, old_out);
    if (!f.ok()) return f;
    if (!compute(ctx, static_cast<const uint8_t*>(old_out), new_value)) return {};
    return write(addr, size, new_value);
  }

 protected:
  ~Memory() = default;
};

// Address of iteration i of a string run: offset from the segment base,
// stepping by width, wrapping at the address size.
inline uint64_t string_address(uint64_t base, uint64_t first, uint64_t i, const StringRun& run) {
  const uint64_t offset = first - base;
  const uint64_t step = i * run.width;
  uint64_t a = run.down ? offset - step : offset + step;
  if (run.addr_bits < 64) a &= (uint64_t{1} << run.addr_bits) - 1;
  return base + a;
}

inline MemFault Memory::string_run(const StringRun& run, uint64_t* done, uint64_t* last) {
  *done = 0;
  for (uint64_t i = 0; i < run.count; ++i) {
    uint64_t value = run.value;
    MemFault f;
    if (run.kind != StringKind::STOS) {
      f = read(string_address(run.src_base, run.src, i, run), run.width, &value);
      if (!f.ok()) return f;
      if (last != nullptr) *last = value;
    }
    if (run.kind != StringKind::LODS) {
      f = write(string_address(0, run.dst, i, run), run.width, &value);
      if (!f.ok()) return f;
    }
    *done = i + 1;
  }
  return {};
}

}  // namespace mmiotrace::emu

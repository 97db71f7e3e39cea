// The code cache: pages of trampolines, mapped PROT_READ | PROT_EXEC within
// +-2 GiB of the code they serve (a jmp rel32 must reach them and return),
// written only through /proc/self/mem (code_writer.h). A punned jump fixes
// some bytes of its displacement, so a trampoline must start inside a window
// of addresses; the cache finds room in a window in its own pages or maps a
// new page there, if nothing else is mapped there (E9Patch maps several such
// windows onto one physical page; this cache spends a page per window).
//
// Bytes handed out are never given back while the process lives: a thread may
// still be inside a trampoline after its site is restored.
//
// Async-signal-safe: runs in the signal handler under the patcher's lock
// (patcher.h); raw system calls and static memory only.
#pragma once

#include <cstdint>

namespace mmiotrace::agent::patch {

class AddressSpace {
 public:
  virtual ~AddressSpace() = default;
  // The lowest address in [lo, hi] (an inclusive window) at which `size`
  // bytes fit, preferring addresses near `near`; 0 if none. Nothing is reserved.
  virtual uint64_t find(uint64_t lo, uint64_t hi, unsigned size, uint64_t near) = 0;
  // Takes `size` bytes at `addr` (found by find()); false if they are gone.
  virtual bool take(uint64_t addr, unsigned size) = 0;
};

// The process's address space as the code cache sees it. snapshot() reads
// /proc/self/maps (call it once per patch, under the patcher's lock); find()
// and take() then work on that picture and the cache's own pages.
class CodeCache final : public AddressSpace {
 public:
  bool snapshot();
  uint64_t find(uint64_t lo, uint64_t hi, unsigned size, uint64_t near) override;
  bool take(uint64_t addr, unsigned size) override;
  // Whether `addr` lies in one of the cache's pages.
  bool contains(uint64_t addr) const;
};

CodeCache& code_cache();

}  // namespace mmiotrace::agent::patch

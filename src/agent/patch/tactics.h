// Where a jump to a trampoline can go, without moving any instruction that
// could be a jump target: E9Patch's tactics (G. J. Duck, X. Gao, A.
// Roychoudhury, "Binary Rewriting without Control Flow Recovery", PLDI
// 2020), implemented here from the paper's description, for one instruction
// found at run time. In the order they are tried:
//
//   B1 jump:        an instruction of 5+ bytes becomes jmp rel32 (+ INT3s).
//   B2 punned jump: a shorter one becomes E9 and as many displacement bytes
//                   as fit; the rest of rel32 is the next instruction's bytes,
//                   left as they are. That fixes the displacement's high bytes:
//                   the trampoline must start inside the window they allow.
//   T1 padded:      redundant prefixes (REX.W, ES, SS, DS: ignored on a near
//                   jmp in 64-bit mode) before the E9 shift which of the next
//                   instruction's bytes make up the displacement: other windows.
//   T2 successor eviction: the next instruction is moved to a trampoline of
//                   its own and replaced by a jump there; its new bytes are
//                   then the site's displacement's high bytes, partly chosen.
//   T3 neighbour eviction: the site becomes a 2-byte jmp rel8 forward into a
//                   later instruction of 6+ bytes, which is moved out (a jump
//                   to its own trampoline in its first 5 bytes) and holds the
//                   site's jmp rel32 in the rest.
//
// Every instruction that starts where bytes change keeps starting there with
// code that does what it did: a jump into the middle of the patched bytes is
// impossible (there is no instruction boundary there in the program), and a
// jump to an evicted instruction lands on a jump to its trampoline.
//
// Async-signal-safe: pure computation, with an AddressSpace for room.
#pragma once

#include <cstdint>

#include "agent/patch/code_cache.h"

namespace mmiotrace::agent::patch {

enum class Tactic : uint8_t { NONE, B1, B2, T1, T2, T3 };
const char* tactic_name(Tactic t);

inline constexpr unsigned kMaxView = 160;  // bytes of code looked at from the site on
inline constexpr unsigned kMaxEvictLen = 15;

// The code from the site on, as it is now.
struct CodeView {
  uint64_t base = 0;  // the site
  const uint8_t* bytes = nullptr;
  unsigned n = 0;  // readable bytes at base (fewer at the end of a mapping)
  // Instruction starts and lengths decoded forward from the site ([0] is the
  // site itself), as far as they decode within the view.
  uint64_t start[48] = {};
  uint8_t len[48] = {};
  unsigned count = 0;
  // May this byte be changed (no other patch owns it) / be left in place as
  // part of a punned jump (it will not change later: not a site another patch
  // may restore)? Null: yes.
  bool (*may_change)(uint64_t addr) = nullptr;
  bool (*may_pun)(uint64_t addr) = nullptr;
  // May the instruction starting at this address be moved to a trampoline?
  bool (*may_evict)(const uint8_t* insn, unsigned len, uint64_t pc) = nullptr;
};

// One range of the code as the tactic leaves it.
struct Rewrite {
  uint64_t addr = 0;
  uint8_t len = 0;
  uint8_t bytes[kMaxEvictLen + 5] = {};
};

struct TacticPlan {
  Tactic tactic = Tactic::NONE;
  uint64_t site_entry = 0;  // the site's trampoline starts here (kEntryBytes reserved)
  // The rewrites: [0] is the site's own bytes (what an undo restores);
  // [1], if any, the evicted instruction's (permanent).
  Rewrite rewrite[2];
  unsigned n_rewrites = 0;
  // Bytes left as they are that the jumps read as part of their displacement
  // (punned): no later patch may change them.
  uint64_t pun_addr[2] = {};
  uint8_t pun_len[2] = {};
  unsigned n_puns = 0;
  // T2/T3: the evicted instruction and where its trampoline starts.
  bool evicts = false;
  uint64_t evictee_pc = 0;
  uint8_t evictee_len = 0;
  uint64_t evictee_entry = 0;
};

// Bytes reserved at a trampoline's entry by the search: enough for a jmp rel32
// to the trampoline's body if it cannot follow on from there.
inline constexpr unsigned kEntryBytes = 5;
// Bytes reserved for an evictee's trampoline (relocated instruction + jmp).
inline constexpr unsigned kEvicteeBytes = 24;

// Finds a tactic for the site (view.start[0], view.len[0]) and reserves its
// trampolines' entries in `space`. Tactic::NONE if none applies.
TacticPlan choose_tactic(const CodeView& view, AddressSpace& space);

}  // namespace mmiotrace::agent::patch

// The ways the fault path can handle a traced fault, and why each may refuse
// an instruction. agent/fault_handler.cc holds the one ordered list of them
// (emulate, the generic path, single-stepping) and the one refusal tail that
// runs when every applicable one has refused.
//
// Async-signal-safe: plain data and static text.
#pragma once

#include <cstdint>

#include "emu/emulator.h"
#include "emu/memory.h"

namespace mmiotrace::agent {

// Why a strategy refused an instruction: one code per reason, each with a
// one-line meaning (describe()), as Zydis's status codes.
enum class Refusal : uint8_t {
  NONE = 0,
  NOT_AN_INSTRUCTION,       // the bytes at RIP are not a valid instruction (final: no strategy can do better)
  CODE_ON_DEVICE,           // the instruction is fetched from device memory (final)
  NOT_IN_TABLE,             // the emulator's table does not cover it (docs/emulated-instructions.md)
  GENERIC_PLAN,             // the generic path cannot re-encode it: Outcome::generic says why
  GENERIC_NO_STUB_PAGE,     // the generic path's per-thread stub page could not be mapped
  GENERIC_WRITES_ORDINARY,  // it writes an operand partly on ordinary memory, which cannot be checked writable
  STEP_TOO_MANY_OPERANDS,   // more memory operands than a step can plan
  STEP_NO_DEVICE_OPERAND,   // the decoder finds no operand of it on device memory (VSIB, MIB...)
  STEP_TOO_MANY_ACCESSES,   // more device accesses than a step can record
  STEP_PAGES_NOT_OPENED,    // its pages could not be opened for a step (no PKRU in the signal frame)
  STEP_NOT_REAL_DEVICE,     // a step would access the mapping itself, past a replay or injection rules
};

// The one-line meaning of `r` (static text).
const char* describe(Refusal r);

// A refusal after which no later strategy is tried: none could do better.
inline bool is_final(Refusal r) { return r == Refusal::NOT_AN_INSTRUCTION || r == Refusal::CODE_ON_DEVICE; }

enum class Handled : uint8_t {
  DONE,     // handled: the frame resumes the program (after the instruction, at a stub, or under a step)
  FAULT,    // the instruction would have faulted natively: deliver `fault` (the frame holds the state at it)
  REFUSED,  // this strategy cannot handle it (`why`); the next one is tried
};

// What one strategy did with a traced fault.
struct Outcome {
  Handled result = Handled::REFUSED;
  emu::MemFault fault;                                      // FAULT
  Refusal why = Refusal::NONE;                              // REFUSED
  emu::GenericRefusal generic = emu::GenericRefusal::NONE;  // REFUSED with GENERIC_PLAN

  static Outcome done() { return {Handled::DONE, {}, Refusal::NONE, emu::GenericRefusal::NONE}; }
  static Outcome faulted(const emu::MemFault& f) {
    return {Handled::FAULT, f, Refusal::NONE, emu::GenericRefusal::NONE};
  }
  static Outcome refused(Refusal why, emu::GenericRefusal generic = emu::GenericRefusal::NONE) {
    return {Handled::REFUSED, {}, why, generic};
  }
};

}  // namespace mmiotrace::agent

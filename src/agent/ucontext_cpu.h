// Moves registers between a signal frame's ucontext and the emulator's CpuState.
// Async-signal-safe.
#pragma once

#include <ucontext.h>

#include <cstddef>
#include <cstdint>

#include "emu/cpu_state.h"

namespace mmiotrace::agent {

// `insn` is the faulting instruction's bytes (to see whether it needs FS/GS bases).
void cpu_from_ucontext(const ucontext_t* uc, const uint8_t* insn, size_t insn_len, emu::CpuState* cpu);
void cpu_to_ucontext(const emu::CpuState& cpu, ucontext_t* uc);

}  // namespace mmiotrace::agent

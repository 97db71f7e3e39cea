// Whether the agent can enter a program: it is loaded with LD_PRELOAD, which
// only the dynamic loader reads, so a statically linked program (no
// PT_INTERP program header) or one of another architecture (a 32-bit
// program: the 64-bit agent cannot be loaded into it) runs untraced.
//
// Async-signal-safe and allocation-free (raw system calls into fixed
// buffers): the agent asks this in its exec interposers, which may run in a
// vfork child.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmiotrace {

enum class ProgramKind : uint8_t {
  DYNAMIC,  // an x86-64 program with a dynamic loader (PT_INTERP), or the dynamic loader itself
  STATIC,   // an x86-64 ELF program without PT_INTERP: statically linked (static-pie included)
  FOREIGN,  // an ELF program of another class or machine (32-bit x86, ...)
  OTHER,    // not an ELF file nor a #! script, or unreadable: exec decides what happens
};

// What the kernel runs for `path`: the program itself, or for a "#!" script
// its interpreter (followed through up to 4 scripts, as the kernel does).
// `runs` receives the path of the file that kind is about (the interpreter's
// for a script).
ProgramKind program_kind(const char* path, char* runs, size_t runs_cap);

// One line for a user: why `kind` is not traced ("is statically linked",
// "is not an x86-64 program"); "" for DYNAMIC and OTHER.
const char* untraceable_reason(ProgramKind kind);

}  // namespace mmiotrace

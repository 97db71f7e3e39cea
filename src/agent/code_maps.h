// CODEMAP records (trace/format.h): the traced program's executable mappings
// of files, as they were, so that instruction addresses can be symbolized
// later (analysis/symbolizer.h). Normal context only: never called from the
// signal handler (the loader's dl_iterate_phdr takes a lock, stat and
// readlink are system calls the handler has no reason to make).
#pragma once

#include <cstdint>

namespace mmiotrace::agent {

// The agent attached in this process (the program's start, or a program a
// traced process exec'd): every executable segment the dynamic loader has
// mapped, the first record flagged kCodeMapFirst.
void record_code_maps_at_start();
// The child side of fork (or of clone without CLONE_VM): the parent's code
// maps again, under the child's pid, from the agent's own copy of them
// (the loader's lock may be held by a parent thread the child does not have).
void record_code_maps_in_child();
// Objects the loader added since the last look (after dlopen; before a new
// device mapping is recorded, for dlopen calls that went straight through).
// Cheap when nothing was added: one step of dl_iterate_phdr.
void record_new_code_maps();
// The program itself mapped `fd` executable at [addr, addr + len) from file
// offset `off` (mmap with PROT_EXEC).
void record_mmapped_code(int fd, uint64_t addr, uint64_t len, uint64_t off);

}  // namespace mmiotrace::agent

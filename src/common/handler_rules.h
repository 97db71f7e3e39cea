// The rules for code that runs in the traced program's signal handler
// (ARCHITECTURE.md, "Rules for code in the signal handler"), made the
// compiler's. Every source file whose code runs there writes
//
//   MT_HANDLER_RULES
//
// after its includes: from there on, a call to a function that allocates,
// takes a lock the program could hold, or uses stdio is a compile error. One
// list for every such file, in src/agent and src/emu alike. Only in .cc
// files: the poison applies to everything that follows in the translation
// unit, headers included.
#pragma once

// clang-format off
#define MT_HANDLER_RULES \
  _Pragma("GCC poison malloc calloc realloc free aligned_alloc posix_memalign memalign valloc strdup strndup") \
  _Pragma("GCC poison printf fprintf sprintf snprintf vprintf vfprintf vsprintf vsnprintf puts fputs putchar") \
  _Pragma("GCC poison pthread_mutex_lock pthread_mutex_trylock pthread_mutex_timedlock pthread_spin_lock") \
  _Pragma("GCC poison pthread_rwlock_rdlock pthread_rwlock_wrlock pthread_cond_wait pthread_cond_timedwait") \
  _Pragma("GCC poison sem_wait sem_timedwait pthread_once")
// clang-format on

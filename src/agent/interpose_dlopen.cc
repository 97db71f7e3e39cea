// dlopen, interposed (its entry is dlopen_entry.S): code a program loads with
// dlopen is recorded (CODEMAP, code_maps.h) as soon as dlopen returns,
// whenever that cannot change what dlopen does.
//
// glibc's dlopen depends on its caller: the calling object's RUNPATH/RPATH
// (and the program's RUNPATH) are searched for a name without '/', the
// caller's namespace receives the object, and "$ORIGIN" in the name is the
// caller's folder. When any of these applies, the call goes straight to the
// real dlopen (a tail jump, the program's return address intact) and the
// objects it added are recorded at the next device mapping instead
// (record_new_code_maps() in interpose_mmap.cc). Otherwise
// mt_dlopen_recording calls it and records at once.
//
// Normal context.
#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include <cstring>

#include "agent/agent.h"
#include "agent/code_maps.h"

namespace mmiotrace::agent {
namespace {

using DlopenFn = void* (*)(const char*, int);
DlopenFn g_real_dlopen = nullptr;

__attribute__((constructor(101))) void resolve_dlopen() {
  g_real_dlopen = reinterpret_cast<DlopenFn>(dlsym(RTLD_NEXT, "dlopen"));
}

bool has_search_path(const ElfW(Dyn) * dyn) {
  for (; dyn != nullptr && dyn->d_tag != DT_NULL; ++dyn) {
    if (dyn->d_tag == DT_RUNPATH || dyn->d_tag == DT_RPATH) return true;
  }
  return false;
}

bool has_runpath(const ElfW(Dyn) * dyn) {
  for (; dyn != nullptr && dyn->d_tag != DT_NULL; ++dyn) {
    if (dyn->d_tag == DT_RUNPATH) return true;
  }
  return false;
}

// Whether dlopen(file) from `caller` could do something else when called from
// the agent.
bool caller_matters(const char* file, const void* caller) {
  if (std::strchr(file, '$') != nullptr) return true;  // $ORIGIN, $LIB, $PLATFORM
  Dl_info info;
  struct link_map* lm = nullptr;
  if (dladdr1(caller, &info, reinterpret_cast<void**>(&lm), RTLD_DL_LINKMAP) == 0 || lm == nullptr) return true;
  Lmid_t ns = LM_ID_BASE;
  if (dlinfo(lm, RTLD_DI_LMID, &ns) != 0 || ns != LM_ID_BASE) return true;  // another namespace (dlmopen)
  if (std::strchr(file, '/') != nullptr) return false;                      // no search
  if (has_search_path(lm->l_ld)) return true;
  // The program's DT_RUNPATH is searched only for objects it loads itself
  // (its DT_RPATH for everyone). The loader lists the program first.
  const struct link_map* main_map = _r_debug.r_map;
  return main_map == nullptr || has_runpath(main_map->l_ld);
}

}  // namespace
}  // namespace mmiotrace::agent

extern "C" {

__attribute__((visibility("hidden"))) void* mt_dlopen_recording(const char* file, int mode) {
  using namespace mmiotrace::agent;
  void* handle = g_real_dlopen(file, mode);
  if (handle != nullptr && attached()) record_new_code_maps();
  return handle;
}

__attribute__((visibility("hidden"))) void* mt_dlopen_route(const char* file, int mode, const void* caller) {
  using namespace mmiotrace::agent;
  (void)mode;
  if (g_real_dlopen == nullptr) resolve_dlopen();  // called before the agent's constructor ran
  if (file == nullptr || !attached() || caller_matters(file, caller)) return reinterpret_cast<void*>(g_real_dlopen);
  return reinterpret_cast<void*>(&mt_dlopen_recording);
}

}  // extern "C"

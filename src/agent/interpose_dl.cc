// dlclose: the dynamic linker unmaps a library's code with its own internal
// munmap, which no interposer sees. After the real dlclose, the fast path
// forgets the patches whose code is gone (agent/patch/patcher.h).
//
// Normal context.
#include <dlfcn.h>

#include "agent/agent.h"
#include "agent/patch/patcher.h"

namespace mmiotrace::agent {
namespace {

using DlcloseFn = int (*)(void*);
DlcloseFn g_real_dlclose = nullptr;

__attribute__((constructor(101))) void resolve_dlclose() {
  g_real_dlclose = reinterpret_cast<DlcloseFn>(dlsym(RTLD_NEXT, "dlclose"));
}

}  // namespace
}  // namespace mmiotrace::agent

extern "C" __attribute__((visibility("default"))) int dlclose(void* handle) {
  using namespace mmiotrace::agent;
  if (g_real_dlclose == nullptr) resolve_dlclose();
  const int rc = g_real_dlclose(handle);
  if (attached()) {
    SignalsBlocked blocked;
    patch::after_dlclose();
  }
  return rc;
}

// Loading a device model into the program (backend/model.h). Normal
// context: runs once per process, at attach, before any device is mapped.
#include <dlfcn.h>
#include <unistd.h>

#include "agent/backend/model.h"
#include "agent/safe_format.h"
#include "agent/session.h"
#include "mmiotrace/model.h"

namespace mmiotrace::agent {

namespace {

const mmiotrace_model* g_model = nullptr;

bool refuse(const char* what, const char* detail) {
  SafeBuf m;
  m.str("mmiotrace: agent not tracing this process: device model ").str(session()->model_path).str(": ");
  m.str(what).str(detail).str("\n");
  m.write_to(STDERR_FILENO);
  return false;
}

}  // namespace

const mmiotrace_model* loaded_model() { return g_model; }

bool model_attach() {
  if (!session_has(trace::kSessionModel)) return true;
  // The CLI loaded the same library and checked it before the program
  // started (cli/model_spec.cc); this can fail only if it changed since.
  void* lib = dlopen(session()->model_path, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return refuse("cannot load it: ", dlerror());
  auto entry = reinterpret_cast<mmiotrace_model_entry_fn>(dlsym(lib, MMIOTRACE_MODEL_ENTRY));
  if (entry == nullptr) return refuse("no entry point ", MMIOTRACE_MODEL_ENTRY);
  const mmiotrace_model* m = entry(MMIOTRACE_MODEL_ABI);
  if (m == nullptr || m->abi != MMIOTRACE_MODEL_ABI || m->size < sizeof(mmiotrace_model) || m->read == nullptr ||
      m->write == nullptr || m->state_size != session()->model_state_size) {
    return refuse("not the model the session was made for", "");
  }
  g_model = m;
  return true;
}

}  // namespace mmiotrace::agent

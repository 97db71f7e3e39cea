// Async-signal-safe: runs in the traced program's signal handler.
#include "agent/safe_access.h"

#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {
__thread SafeFault tls_fault __attribute__((tls_model("initial-exec")));
}  // namespace

SafeFault last_safe_fault() { return tls_fault; }
void set_last_safe_fault(const SafeFault& f) { tls_fault = f; }

int safe_load(const void* src, void* dst, unsigned width) {
  switch (width) {
    case 1:
      return mt_load_1(src, dst);
    case 2:
      return mt_load_2(src, dst);
    case 4:
      return mt_load_4(src, dst);
    case 8:
      return mt_load_8(src, dst);
    case 16:
      return mt_load_16(src, dst);
    case 32:
      return mt_load_32(src, dst);
    case 64:
      return mt_load_64(src, dst);
    default:
      return mt_copy(dst, src, width);
  }
}

int safe_store(void* dst, const void* src, unsigned width) {
  switch (width) {
    case 1:
      return mt_store_1(dst, src);
    case 2:
      return mt_store_2(dst, src);
    case 4:
      return mt_store_4(dst, src);
    case 8:
      return mt_store_8(dst, src);
    case 16:
      return mt_store_16(dst, src);
    case 32:
      return mt_store_32(dst, src);
    case 64:
      return mt_store_64(dst, src);
    default:
      return mt_copy(dst, src, width);
  }
}

}  // namespace mmiotrace::agent

// The emulator's Memory in the differential tester: a copy of the test
// region, every call recorded and checked against the Memory contract (tester.h).
#include <signal.h>

#include <cinttypes>
#include <cstdarg>
#include <cstdio>

#include "diff/tester.h"

namespace mmiotrace::difftest {

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

emu::MemFault DiffMemory::atomic_rmw(uint64_t addr, unsigned size, void* old_out, emu::RmwCompute compute, void* ctx) {
  if (size > 16) {
    if (violation.empty()) violation = format("atomic_rmw of %u bytes", size);
    return {SIGSEGV, SEGV_MAPERR, addr};
  }
  uint8_t new_value[16];
  const emu::MemFault f = access(AccessKind::RMW, addr, size, ~uint64_t{0}, static_cast<uint8_t*>(old_out), nullptr);
  if (!f.ok()) return f;
  if (compute(ctx, static_cast<const uint8_t*>(old_out), new_value)) {
    for (unsigned i = 0; i < size; ++i) bytes_[addr + i - env_.region] = new_value[i];
  }
  return {};
}

emu::MemFault DiffMemory::access(AccessKind kind, uint64_t addr, unsigned size, uint64_t mask, uint8_t* out,
                                 const uint8_t* in) {
  const bool masked = kind == AccessKind::READ_MASKED || kind == AccessKind::WRITE_MASKED;
  Call c{{kind, addr, size, masked ? mask : 0}, false};
  const bool size_ok =
      size == 1 || size == 2 || size == 4 || size == 8 || size == 10 || size == 16 || size == 32 || size == 64;
  if (!size_ok && violation.empty()) violation = format("Memory call with size %u", size);
  if (masked && violation.empty()) {
    if (mask == 0) violation = "masked Memory call with an empty mask";
    if (size < 64 && (mask >> size) != 0) violation = format("mask 0x%" PRIx64 " beyond size %u", mask, size);
  }
  const unsigned n = size_ok ? size : 0;
  // The access is all or nothing: find the first selected byte that cannot be accessed.
  for (unsigned i = 0; i < n; ++i) {
    if (masked && !((mask >> i) & 1)) continue;
    const uint64_t a = addr + i;
    if (a >= env_.lo && a < env_.hi) continue;
    c.faulted = true;
    log.push_back(c);
    if (a >= env_.region && a < env_.region + kRegionBytes) {
      return {SIGSEGV, SEGV_ACCERR, a};  // a guard page: PROT_NONE
    }
    if (violation.empty()) violation = format("access to 0x%" PRIx64 ", outside the test region", a);
    return {SIGSEGV, SEGV_MAPERR, a};
  }
  for (unsigned i = 0; i < n; ++i) {
    if (masked && !((mask >> i) & 1)) continue;
    uint8_t* p = bytes_ + (addr + i - env_.region);
    if (in != nullptr) {
      *p = in[i];
    } else {
      out[i] = *p;
    }
  }
  log.push_back(c);
  return {};
}

}  // namespace mmiotrace::difftest

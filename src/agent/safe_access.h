// Faultable memory accesses (safe_access.S). Each returns 0, or 1 if the
// access faulted; the fault's siginfo is then in last_safe_fault().
// Async-signal-safe.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {
int mt_load_1(const void* src, void* dst);
int mt_load_2(const void* src, void* dst);
int mt_load_4(const void* src, void* dst);
int mt_load_8(const void* src, void* dst);
int mt_load_16(const void* src, void* dst);
int mt_load_32(const void* src, void* dst);
int mt_load_64(const void* src, void* dst);
int mt_store_1(void* dst, const void* src);
int mt_store_2(void* dst, const void* src);
int mt_store_4(void* dst, const void* src);
int mt_store_8(void* dst, const void* src);
int mt_store_16(void* dst, const void* src);
int mt_store_32(void* dst, const void* src);
int mt_store_64(void* dst, const void* src);
int mt_load_masked(const void* src, void* dst, uint64_t byte_mask);
int mt_store_masked(void* dst, const void* src, uint64_t byte_mask);
int mt_copy(void* dst, const void* src, size_t n);
extern const char mt_safe_begin[];
extern const char mt_safe_end[];
void mt_safe_fixup();
}

namespace mmiotrace::agent {

struct SafeFault {
  int signo;
  int code;
  uint64_t addr;
};

// The fault that made the calling thread's last safe access return 1.
SafeFault last_safe_fault();
void set_last_safe_fault(const SafeFault& f);

// One access of exactly `width` bytes (1, 2, 4, 8, 16, 32 or 64). Returns 0 or 1.
int safe_load(const void* src, void* dst, unsigned width);
int safe_store(void* dst, const void* src, unsigned width);

}  // namespace mmiotrace::agent

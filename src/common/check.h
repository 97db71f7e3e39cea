// MT_CHECK: a broken invariant stops the process with file:line and the failed
// expression, in every build type (house style: assertions stay on in release).
// Async-signal-safe: it formats with no allocation and writes with write(2).
#pragma once

namespace mmiotrace::detail {
[[noreturn]] void check_failed(const char* file, int line, const char* expr, const char* msg);
}  // namespace mmiotrace::detail

#define MT_CHECK(cond)                                                                                       \
  do {                                                                                                       \
    if (__builtin_expect(!(cond), 0)) ::mmiotrace::detail::check_failed(__FILE__, __LINE__, #cond, nullptr); \
  } while (0)

#define MT_CHECK_MSG(cond, msg)                                                                            \
  do {                                                                                                     \
    if (__builtin_expect(!(cond), 0)) ::mmiotrace::detail::check_failed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)

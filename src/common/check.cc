// Async-signal-safe: used from the agent's signal handler. No allocation, no stdio.
#include "common/check.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::detail {

namespace {
void put(const char* s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}
}  // namespace

void check_failed(const char* file, int line, const char* expr, const char* msg) {
  char num[16];
  int i = sizeof(num) - 1;
  num[i] = '\0';
  unsigned v = static_cast<unsigned>(line);
  do {
    num[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && i > 0);
  put("mmiotrace: internal check failed at ");
  put(file);
  put(":");
  put(num + i);
  put(": ");
  put(expr);
  if (msg != nullptr) {
    put(" (");
    put(msg);
    put(")");
  }
  put("\n");
  // abort() is async-signal-safe; keep the core for a bug report.
  signal(SIGABRT, SIG_DFL);
  abort();
}

}  // namespace mmiotrace::detail

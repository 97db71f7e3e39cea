// The agent's side of include/mmiotrace/mark.h: a MARK record from the traced
// program itself, in order with its device accesses (docs/mark.md).
// Async-signal-safe: no allocation; every signal is blocked while the order
// lock is held, so a mark from a signal handler cannot deadlock against a
// mark (or an access) of the thread it interrupted.
#include <signal.h>

#include <cstring>

#include "agent/agent.h"
#include "agent/producer.h"
#include "trace/encode.h"
#include "trace/format.h"

namespace mmiotrace::agent {

void emit_mark(const char* text, size_t len) {
  if (!attached() || text == nullptr) return;
  alignas(8) uint8_t buf[trace::record_size_for_mark(trace::kMaxMarkText)];
  trace::MarkFields f;
  f.pid = g_agent.pid;
  f.text = text;
  f.text_len = static_cast<uint16_t>(len < trace::kMaxMarkText ? len : trace::kMaxMarkText);
  size_t n = trace::encode_mark(buf, sizeof(buf), trace::RecordStamp{0, 0, current_tid()}, f);
  if (n == 0) return;
  SignalsBlocked blocked;  // the order lock is taken in normal context
  stamp_and_push(buf, n);
}

}  // namespace mmiotrace::agent

extern "C" __attribute__((visibility("default"))) void mmiotrace_mark_impl(const char* text) {
  using namespace mmiotrace;
  if (text == nullptr) return;
  agent::emit_mark(text, strnlen(text, trace::kMaxMarkText));
}

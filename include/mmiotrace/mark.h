/* mmiotrace/mark.h: marks from inside a traced program.
 *
 *   #include <mmiotrace/mark.h>
 *   mmiotrace_mark("reset done");          -> MARK <sec>.<usec> reset done
 *   mmiotrace_markf("queue %d armed", q);  -> MARK <sec>.<usec> queue 3 armed
 *
 * Header-only: nothing to link. Under `mmiotrace record` the agent defines
 * mmiotrace_mark_impl and the mark goes into the trace in order with the
 * program's device accesses (the same global seq: a mark made after a store
 * returned is printed after that store). Without the tracer the weak
 * reference is null and the calls do nothing, so the same binary runs
 * either way.
 *
 * mmiotrace_mark() is async-signal-safe (the agent blocks signals while it
 * holds the trace's order lock); mmiotrace_markf() formats with vsnprintf and
 * is not. Text past 4000 bytes is cut; the kernel format (`mmiotrace print`)
 * prints the first 1024, as the kernel keeps of one trace_marker write. See
 * docs/mark.md. */
#ifndef MMIOTRACE_MARK_H
#define MMIOTRACE_MARK_H

#include <stdarg.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defined by the mmiotrace agent (libmmiotrace-agent.so); null without it. */
extern void mmiotrace_mark_impl(const char* text) __attribute__((weak));

static inline void mmiotrace_mark(const char* text) {
  if (mmiotrace_mark_impl) mmiotrace_mark_impl(text);
}

static inline void mmiotrace_markf(const char* format, ...) __attribute__((format(printf, 1, 2)));
static inline void mmiotrace_markf(const char* format, ...) {
  if (!mmiotrace_mark_impl) return;
  char text[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(text, sizeof(text), format, ap);
  va_end(ap);
  mmiotrace_mark_impl(text);
}

#ifdef __cplusplus
}
#endif

#endif

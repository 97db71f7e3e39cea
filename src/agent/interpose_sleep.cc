// The program's sleeps, in a replay (agent/backend/replay.h): a thread whose
// recorded accesses have all been replayed waits, before it sleeps, until
// the other threads' have too. The sleep then happens as asked.
//
// Normal context (the program's own calls). libc's usleep and sleep call its
// internal nanosleep, which no interposer sees: each is interposed itself.
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/backend/replay.h"

namespace mmiotrace::agent {

namespace {

using NanosleepFn = int (*)(const struct timespec*, struct timespec*);
using ClockNanosleepFn = int (*)(clockid_t, int, const struct timespec*, struct timespec*);
using UsleepFn = int (*)(useconds_t);
using SleepFn = unsigned (*)(unsigned);

NanosleepFn g_nanosleep = nullptr;
ClockNanosleepFn g_clock_nanosleep = nullptr;
UsleepFn g_usleep = nullptr;
SleepFn g_sleep = nullptr;

__attribute__((constructor(101))) void resolve_sleep_calls() {
  g_nanosleep = reinterpret_cast<NanosleepFn>(dlsym(RTLD_NEXT, "nanosleep"));
  g_clock_nanosleep = reinterpret_cast<ClockNanosleepFn>(dlsym(RTLD_NEXT, "clock_nanosleep"));
  g_usleep = reinterpret_cast<UsleepFn>(dlsym(RTLD_NEXT, "usleep"));
  g_sleep = reinterpret_cast<SleepFn>(dlsym(RTLD_NEXT, "sleep"));
}

}  // namespace

}  // namespace mmiotrace::agent

extern "C" {

__attribute__((visibility("default"))) int nanosleep(const struct timespec* req, struct timespec* rem) {
  mmiotrace::agent::replay_before_sleep();
  if (mmiotrace::agent::g_nanosleep != nullptr) return mmiotrace::agent::g_nanosleep(req, rem);
  return static_cast<int>(syscall(SYS_nanosleep, req, rem));
}

__attribute__((visibility("default"))) int clock_nanosleep(clockid_t clock, int flags, const struct timespec* req,
                                                           struct timespec* rem) {
  mmiotrace::agent::replay_before_sleep();
  if (mmiotrace::agent::g_clock_nanosleep != nullptr)
    return mmiotrace::agent::g_clock_nanosleep(clock, flags, req, rem);
  return ENOSYS;
}

__attribute__((visibility("default"))) int usleep(useconds_t usec) {
  mmiotrace::agent::replay_before_sleep();
  if (mmiotrace::agent::g_usleep != nullptr) return mmiotrace::agent::g_usleep(usec);
  struct timespec ts = {static_cast<time_t>(usec / 1000000), static_cast<long>(usec % 1000000) * 1000};
  return static_cast<int>(syscall(SYS_nanosleep, &ts, nullptr));
}

__attribute__((visibility("default"))) unsigned sleep(unsigned seconds) {
  mmiotrace::agent::replay_before_sleep();
  if (mmiotrace::agent::g_sleep != nullptr) return mmiotrace::agent::g_sleep(seconds);
  struct timespec ts = {static_cast<time_t>(seconds), 0};
  return syscall(SYS_nanosleep, &ts, nullptr) == 0 ? 0 : seconds;
}

}  // extern "C"
